"""Recursive motion interpolation (Section 4.6.2 of the paper).

The paper feeds averages of adjacent output frames back into the generator
to get more frames. The procedure, exactly as this module runs it:

* Level 1 is the generator's T frames of the input (T = 7).
* Level k + 1: for each adjacent pair (f_i, f_{i+1}) of the N_k level-k
  frames, in order, the image (f_i + f_{i+1}) / 2 is a new blurry image;
  it is Eq. 2 with M = 2 frames and a linear camera response (a plain
  pixel average, as GoPro's `blur` images are made). Frames are clipped to
  [0, 1] before averaging, as a saved image would be. Each of these
  N_k - 1 images goes through the generator to T frames, and level k + 1 is
  the concatenation of these T-frame groups in pair order.

Hence N_1 = T and N_{k+1} = T * (N_k - 1), i.e. for T = 7

    N_k = (5 * 7^k + 7) / 6:  7, 42, 287, 2002, ...

(in general N_k = (T^k * (T - 2) + T) / (T - 1)). Level 2 has 6 * 7 = 42
frames, as reading note 10 says; the paper's "4 x 7 = 28 frames" (Figure 9)
does not follow from the procedure it describes. Adjacent groups are not
blended or deduplicated: the last frame of one group and the first of the
next both lie near the shared frame f_{i+1}.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PredictFn = Callable[[np.ndarray], np.ndarray]


def num_frames_at_level(level: int, num_frames: int = 7) -> int:
  """N_level, the number of frames `interpolate` returns.

  Args:
    level: 1 for the plain prediction.
    num_frames: T, the generator's frames per image.

  Returns:
    N_1 = T, N_{k+1} = T * (N_k - 1).
  """
  if level < 1:
    raise ValueError(f"levels must be >= 1, got {level}.")
  count = num_frames
  for _ in range(level - 1):
    count = num_frames * (count - 1)
  return count


def orient(group: np.ndarray, first: np.ndarray,
           second: np.ndarray) -> np.ndarray:
  """Puts a group of frames in the time order of the pair it came from.

  Args:
    group: (T, H, W, 3) frames predicted from (first + second) / 2.
    first: the earlier frame of the pair.
    second: the later one.

  Returns:
    `group`, reversed if its last frame matches `first` (and its first
    frame `second`) better than the other way round.
  """
  mad = lambda a, b: float(np.mean(np.abs(a - b)))
  forward = mad(group[0], first) + mad(group[-1], second)
  backward = mad(group[-1], first) + mad(group[0], second)
  return group[::-1] if backward < forward else group


def interpolate(predict_fn: PredictFn, image: np.ndarray,
                levels: int = 1) -> np.ndarray:
  """Predicts frames, then recursively re-deblurs pair averages.

  Args:
    predict_fn: maps an (H, W, 3) image in [0, 1] to (T, H, W, 3) frames,
      e.g. `functools.partial(predict_tiled, model, options=...)`.
    image: (H, W, 3) blurry image in [0, 1].
    levels: 1 for the plain prediction; see the module docstring.

  Returns:
    (N_levels, H, W, 3) float32 frames in [0, 1], in time order.
  """
  if levels < 1:
    raise ValueError(f"levels must be >= 1, got {levels}.")
  frames = np.clip(np.asarray(predict_fn(image), np.float32), 0.0, 1.0)
  for _ in range(levels - 1):
    groups = []
    for first, second in zip(frames[:-1], frames[1:]):
      # Eq. 2 with M = 2 and g the identity: the pair's pixel average.
      blurry = 0.5 * (first + second)
      group = np.clip(np.asarray(predict_fn(blurry), np.float32), 0.0, 1.0)
      groups.append(orient(group, first, second))
    frames = np.concatenate(groups, axis=0)
  return frames
