"""Shift-blur scenes: one sharp frame moved along a short path, then Eq. 2.

The training pipeline can replace a share of its examples
(``config.data.shift_blur_prob``, see `cbl_jax.data.pipeline`) by a scene
made from the example's own middle sharp frame: the whole frame moves along
one smooth path (`synthetic_motion.smooth_path`: a chord with a bow and an
acceleration, centred on the middle of the exposure) whose length is drawn
log-uniformly from ``shift_blur_motion`` pixels. The frame is sampled at
7 x 5 instants, each rounded to uint8 as a high-speed camera stores it, and
blurred by Eq. 2 (`blur.synthesize_blur`) with a gamma 2.2 response (with
probability ``shift_blur_gamma_prob``; linear otherwise). The 7 targets are
the centre instants of the 7 groups of 5, as in `synthetic_motion`.

Why: every such scene is blurred, by one motion shared by the whole frame.
On scenes of this kind the release U-Net learnt to deblur within minutes,
where `synthetic_motion` alone (a quarter of its scenes nearly static, and
camera roll, zoom and objects on their own paths in the rest) had it gain
a few tenths of a dB in hours; see docs/curves/README.md. The content is the
example's own, so the mixture changes the motion, not the photographs.

Everything is NumPy and a pure function of its arguments: the pipeline draws
the parameters from a Generator seeded by the stream position, so a resumed
run reads the same scenes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cbl_jax.data import blur
from cbl_jax.data import synthetic_motion

SUBFRAMES_PER_GROUP = 5
NUM_INSTANTS = blur.NUM_TARGET_FRAMES * SUBFRAMES_PER_GROUP
# Sub-frame index of each target: the centre instant of each group.
TARGET_INSTANTS = (np.arange(blur.NUM_TARGET_FRAMES) * SUBFRAMES_PER_GROUP
                   + SUBFRAMES_PER_GROUP // 2)


@dataclasses.dataclass(frozen=True)
class ShiftBlur:
  """One scene's motion.

  Attributes:
    offsets: (NUM_INSTANTS, 2) float32 (x, y) offsets of the frame at each
      instant, pixels; the frame at instant i is the source sampled at
      ``p + offsets[i]``.
    response: 'gamma' or 'linear', the camera response of Eq. 2.
  """

  offsets: np.ndarray
  response: str

  @property
  def margin(self) -> int:
    """Pixels of source needed on each side of the output."""
    return int(math.ceil(float(np.abs(self.offsets).max()))) + 1


def draw(rng: np.random.Generator, motion: tuple[float, float],
         gamma_prob: float) -> ShiftBlur:
  """Draws a scene's path and camera response.

  Args:
    rng: the example's generator.
    motion: (low, high) chord length of the path in pixels, drawn
      log-uniformly; 0 < low <= high.
    gamma_prob: probability of the gamma 2.2 response (else linear).

  Returns:
    The scene's `ShiftBlur`.
  """
  low, high = motion
  length = math.exp(rng.uniform(math.log(low), math.log(high)))
  t = (np.arange(NUM_INSTANTS) + 0.5) / NUM_INSTANTS
  offsets = synthetic_motion.smooth_path(rng, t, length).astype(np.float32)
  response = 'gamma' if rng.uniform() < gamma_prob else 'linear'
  return ShiftBlur(offsets=offsets, response=response)


def render(window: np.ndarray, scene: ShiftBlur) -> tuple[np.ndarray,
                                                         np.ndarray]:
  """The blurry image and 7 sharp frames of one scene.

  Args:
    window: (h + 2m, w + 2m, 3) uint8 source, m = ``scene.margin``: the
      output and ``m`` pixels of context on each side.
    scene: the motion.

  Returns:
    (blurry (h, w, 3), sharp (7, h, w, 3)), both uint8.

  Raises:
    ValueError: a window with no room for the output.
  """
  margin = scene.margin
  height, width = window.shape[0] - 2 * margin, window.shape[1] - 2 * margin
  if window.ndim != 3 or height < 1 or width < 1:
    raise ValueError(
        f'A shift-blur window of shape {window.shape} leaves no output for a'
        f' margin of {margin} pixels; pass at least {2 * margin + 1} pixels'
        ' a side.')
  source = window.astype(np.float32)
  instants = np.empty((NUM_INSTANTS, height, width, window.shape[2]),
                      np.float32)
  # One offset per instant for the whole frame: bilinear sampling is a
  # weighted sum of four shifted views of the window, no per-pixel gather.
  for i, (dx, dy) in enumerate(scene.offsets + margin):
    x0, y0 = int(math.floor(dx)), int(math.floor(dy))
    fx, fy = float(dx) - x0, float(dy) - y0
    view = lambda r, c: source[y0 + r:y0 + r + height, x0 + c:x0 + c + width]
    instants[i] = ((1 - fy) * ((1 - fx) * view(0, 0) + fx * view(0, 1))
                   + fy * ((1 - fx) * view(1, 0) + fx * view(1, 1)))
  instants = np.clip(np.floor(instants + 0.5), 0, 255).astype(np.uint8)
  blurry = blur.synthesize_blur(instants, scene.response)
  return blurry, instants[TARGET_INSTANTS]
