"""Content loss, Eq. 4 of Niu et al. (2021), and order-aware variants.

Eq. 4 is the mean squared error of one frame,
``1/(WH) sum_{x,y} (I^sharp_{x,y} - G(I^blur)_{x,y})^2``. With T frames and C
colour channels it is averaged over frames and channels too, so its scale
does not depend on T or on the colour mode.

A blurry image is an average over the exposure and does not say which way
time ran: a sequence and its reverse blur to the same image. Penalising the
forward order alone asks the generator to guess. Two variants remove the
guess:

* ``"best_of_both"``: per example, the smaller of the forward error and the
  error against the time-reversed target.
* ``"pairwise"``: the pairwise order-invariant loss of Jin et al., "Learning
  to Extract a Video Sequence from a Single Motion-Blurred Image" (CVPR
  2018). Frames t and T-1-t are symmetric around the middle; each such pair
  may be matched either way round, independently of the other pairs:

    ``e(a, b) = mean_{x,y,c} (G_a - I^sharp_b)^2``
    ``pair_t = min(e(t, t) + e(T-1-t, T-1-t), e(t, T-1-t) + e(T-1-t, t))``
    ``loss = (sum_{t < T-1-t} pair_t + e(m, m)) / T``, ``m = (T-1)/2`` for
    odd T (the middle frame has no partner; even T has no middle term).

  Jin et al. use L1 errors; squared errors keep Eq. 4's scale, so that
  ``pairwise <= best_of_both <= forward`` always holds and all three are
  equal when the forward order is best everywhere.

All three return the batch mean of per-example losses.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CONTENT_ORDERS = ("forward", "best_of_both", "pairwise")


def _frame_errors(pred: jax.Array, target: jax.Array) -> jax.Array:
  """(B, T) mean squared error of each frame: Eq. 4 per frame."""
  diff = pred.astype(jnp.float32) - target.astype(jnp.float32)
  return jnp.mean(diff * diff, axis=tuple(range(2, diff.ndim)))


def content_loss(
    pred: jax.Array,
    target: jax.Array,
    *,
    order: str = "forward",
) -> jax.Array:
  """Content loss, Eq. 4, with optional invariance to the temporal order.

  Args:
    pred: (B, T, H, W, C) generated frames.
    target: (B, T, H, W, C) sharp frames.
    order: "forward" (Eq. 4 as written), "best_of_both" (per example, the
      better of forward and reversed order) or "pairwise" (Jin et al.'s
      pairwise order-invariant form); see the module docstring.

  Returns:
    Scalar float32 loss.

  Raises:
    ValueError: unknown order, or mismatched shapes.
  """
  if order not in CONTENT_ORDERS:
    raise ValueError(
        f"Unknown content loss order {order!r}; choose from {CONTENT_ORDERS}."
    )
  if pred.ndim != 5 or pred.shape != target.shape:
    raise ValueError(
        "content_loss expects pred and target of the same shape"
        f" (B, T, H, W, C); got {pred.shape} and {target.shape}."
    )
  forward = _frame_errors(pred, target)
  if order == "forward":
    return jnp.mean(forward)
  # reverse[:, t] = e(t, T-1-t): frame t against the mirrored target frame.
  reverse = _frame_errors(pred, target[:, ::-1])
  if order == "best_of_both":
    return jnp.mean(jnp.minimum(forward.mean(1), reverse.mean(1)))

  num_frames = forward.shape[1]
  half = num_frames // 2
  mirror = lambda e: e[:, ::-1][:, :half]  # Frame T-1-t at position t.
  same = forward[:, :half] + mirror(forward)
  swapped = reverse[:, :half] + mirror(reverse)
  per_example = jnp.sum(jnp.minimum(same, swapped), axis=1)
  if num_frames % 2:
    per_example = per_example + forward[:, half]
  return jnp.mean(per_example / num_frames)
