"""Picture strips of examples: the blurry image, a gap, then its sharp frames."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


def example_strip(
    blurry: np.ndarray, sharp: np.ndarray, *, gap: int = 4
) -> np.ndarray:
  """Lays out ``blurry | sharp[0] ... sharp[T-1]`` side by side.

  Args:
    blurry: (H, W, 3) uint8.
    sharp: (T, H, W, 3) uint8, in time order.
    gap: white pixels between the blurry image and the frames (the frames
      themselves touch, so motion reads as a flip-book).

  Returns:
    (H, (T + 1) * W + gap, 3) uint8.
  """
  height = blurry.shape[0]
  white = np.full((height, gap, 3), 255, np.uint8)
  return np.concatenate([blurry, white, *sharp], axis=1)


def save_strips(
    path: str | os.PathLike[str],
    examples: list[tuple[np.ndarray, np.ndarray]],
    *,
    scale: int = 1,
    gap: int = 4,
) -> None:
  """Writes one PNG with an `example_strip` per row.

  Args:
    path: output .png file.
    examples: (blurry, sharp) pairs of equal sizes.
    scale: integer pixel replication, to make small frames visible.
    gap: white pixels between strips and between blurry and frames.
  """
  rows = []
  for blurry, sharp in examples:
    strip = example_strip(blurry, sharp, gap=gap)
    rows += [strip, np.full((gap,) + strip.shape[1:], 255, np.uint8)]
  picture = np.concatenate(rows[:-1], axis=0)
  if scale > 1:
    picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
  Image.fromarray(picture).save(path, optimize=True)
