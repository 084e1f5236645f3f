"""PSNR and SSIM of predicted sequences, in the better of the two time orders.

A blurry image does not say which way time ran: the sequence and its reverse
blur to the same image. Each example is therefore scored in the order (as
predicted, or reversed) with the higher mean PSNR over its frames, and every
reported number (all frames, middle frame, per frame index) uses that one
order. The middle frame does not depend on the order.

Predictions are scored as the 8-bit images a user would save: clipped to
[0, 1] and rounded to the 256 levels of uint8 (`quantize`), as the usual
deblurring protocol does (e.g. PSNR on [0, 255] images in MAXIM's and
DeblurGAN's evaluations). Targets are 8-bit already. PSNR and SSIM come from
dm-pix, on those images divided by 255.

The middle frame is the number comparable with single-image deblurring (one
sharp image per blurry one, and no choice of order); the all-frame number in
the better order is the video task's.
"""

from typing import Mapping

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np


def _per_frame(fn, pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  batch, frames = pred.shape[:2]
  flat = lambda x: x.reshape((batch * frames,) + x.shape[2:])
  return fn(flat(pred), flat(target)).reshape(batch, frames)


def quantize(frames: jnp.ndarray) -> jnp.ndarray:
  """Frames as saved to an 8-bit file: clipped, rounded, back in [0, 1]."""
  return jnp.round(jnp.clip(frames.astype(jnp.float32), 0.0, 1.0) * 255.0
                   ) / 255.0


@jax.jit
def sequence_metrics(pred: jnp.ndarray,
                     target: jnp.ndarray) -> dict[str, jnp.ndarray]:
  """Scores predicted sequences against the true ones.

  Args:
    pred: (B, T, H, W, C) predicted frames; quantised to 8 bits here.
    target: (B, T, H, W, C) true frames in [0, 1], on the 8-bit levels.

  Returns:
    `psnr` and `ssim`, each (B, T), per frame in the chosen order, and
    `reversed` (B,), True where the reversed order scored better.
  """
  pred = quantize(pred)
  target = target.astype(jnp.float32)
  psnr_fwd = _per_frame(dm_pix.psnr, pred, target)
  psnr_rev = _per_frame(dm_pix.psnr, pred, target[:, ::-1])
  reverse = psnr_rev.mean(axis=1) > psnr_fwd.mean(axis=1)
  ordered_target = jnp.where(reverse[:, None, None, None, None],
                             target[:, ::-1], target)
  return {
      "psnr": jnp.where(reverse[:, None], psnr_rev, psnr_fwd),
      "ssim": _per_frame(dm_pix.ssim, pred, ordered_target),
      "reversed": reverse,
  }


def summarize(per_example: Mapping[str, np.ndarray],
              prefix: str = "") -> dict[str, float]:
  """Averages per-example metrics into the numbers that get reported.

  Args:
    per_example: `psnr` and `ssim` arrays of shape (N, T) stacked over the
      whole evaluation set, as `sequence_metrics` returns them.
    prefix: prepended to every key (e.g. "baseline_").

  Returns:
    `{prefix}psnr`, `{prefix}ssim` (all frames), `{prefix}psnr_middle`,
    `{prefix}ssim_middle` and `{prefix}psnr_frame{t}` / `{prefix}ssim_frame{t}`
    for every frame index t.
  """
  out = {}
  for name in ("psnr", "ssim"):
    values = np.asarray(per_example[name], dtype=np.float64)
    middle = values.shape[1] // 2
    out[f"{prefix}{name}"] = float(values.mean())
    out[f"{prefix}{name}_middle"] = float(values[:, middle].mean())
    for t in range(values.shape[1]):
      out[f"{prefix}{name}_frame{t}"] = float(values[:, t].mean())
  return out
