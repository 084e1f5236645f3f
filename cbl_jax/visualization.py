"""Pictures of sequences for people: strips, GIFs and uint8 conversion.

Used by the training loop (TensorBoard images, sample GIFs), by predict, and
to look at datasets. Nothing here touches JAX.
"""

from __future__ import annotations

import os

from etils import epath
import imageio.v3 as iio
import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Clips float images in [0, 1] and rounds them to uint8 (NaN becomes 0)."""
  images = np.nan_to_num(np.asarray(images, np.float32), nan=0.0)
  return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def error_map(image: np.ndarray, reference: np.ndarray,
              full_scale: float = 0.1) -> np.ndarray:
  """Where two images differ, as a heat map for people.

  Args:
    image: (H, W, 3) float in [0, 1], e.g. the mean of predicted frames.
    reference: (H, W, 3) float in [0, 1], e.g. the blurry input.
    full_scale: the difference (mean over channels) shown at the brightest
      colour; larger ones saturate. A fixed scale, so that maps of
      different photos compare.

  Returns:
    (H, W, 3) uint8, 'inferno' colours: black where equal, yellow-white at
    `full_scale` and above.
  """
  import mediapy  # pylint: disable=g-import-not-at-top
  # Imported here: it loads matplotlib.pyplot (2 s), which nothing else in
  # this module needs.
  difference = np.abs(np.asarray(image, np.float32) -
                      np.asarray(reference, np.float32)).mean(axis=-1)
  return to_uint8(mediapy.to_rgb(difference, vmin=0.0, vmax=full_scale,
                                 cmap="inferno"))


def sequence_strip(blurry: np.ndarray, frames: np.ndarray, *,
                   gap: int = 0) -> np.ndarray:
  """Lays out `blurry | frame 0 | ... | frame T-1` side by side.

  Args:
    blurry: (H, W, 3) image.
    frames: (T, H, W, 3) frames, in time order, same dtype.
    gap: white columns between the blurry image and the frames (the frames
      themselves touch, so motion reads as a flip-book).

  Returns:
    (H, (T + 1) * W + gap, 3) image, same dtype.
  """
  white = np.full((blurry.shape[0], gap, 3),
                  255 if blurry.dtype == np.uint8 else 1, blurry.dtype)
  return np.concatenate([blurry, white, *frames], axis=1)


def save_strips(path: str | os.PathLike[str],
                examples: list[tuple[np.ndarray, np.ndarray]], *,
                scale: int = 1, gap: int = 4) -> None:
  """Writes one PNG with a `sequence_strip` per (blurry, frames) row.

  Args:
    path: output .png file.
    examples: (blurry, sharp) uint8 pairs of equal sizes.
    scale: integer pixel replication, to make small frames visible.
    gap: white pixels between strips and between blurry and frames.
  """
  rows = []
  for blurry, sharp in examples:
    strip = sequence_strip(blurry, sharp, gap=gap)
    rows += [strip, np.full((gap,) + strip.shape[1:], 255, np.uint8)]
  picture = np.concatenate(rows[:-1], axis=0)
  if scale > 1:
    picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
  Image.fromarray(picture).save(path, optimize=True)


def write_gif(path: epath.PathLike, frames: np.ndarray, fps: int = 7) -> None:
  """Writes frames (T, H, W, 3) uint8 as a looping GIF, atomically."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.parent / (path.name + ".tmp")
  iio.imwrite(str(tmp), frames, extension=".gif", duration=1000 / fps, loop=0)
  tmp.replace(path)
