"""Small fake data in the real datasets' layouts, and data configs, for tests."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
from PIL import Image


def write_png(path: str, image: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path)


def random_frames(rng: np.random.Generator, num: int, height: int = 12,
                  width: int = 16) -> np.ndarray:
  return rng.integers(0, 256, size=(num, height, width, 3), dtype=np.uint8)


def make_gopro_all(root: str, sequences: dict[str, dict[str, int]], *,
                   first_number: int = 47, seed: int = 0, height: int = 12,
                   width: int = 16) -> dict:
  """Writes GOPRO_Large_all/<split>/<seq>/<6-digit>.png; returns the frames.

  Args:
    root: the manual dir.
    sequences: {split: {sequence: number of frames}}.
    first_number: number of each sequence's first file (GoPro's do not start
      at 1).
    seed: pixel seed.
    height: frame height.
    width: frame width.

  Returns:
    {(split, sequence): (num, H, W, 3) uint8 frames in time order}.
  """
  rng = np.random.default_rng(seed)
  frames = {}
  for split, seqs in sequences.items():
    for seq, num in seqs.items():
      stack = random_frames(rng, num, height, width)
      for i, frame in enumerate(stack):
        write_png(os.path.join(root, 'GOPRO_Large_all', split, seq,
                               f'{first_number + i:06d}.png'), frame)
      frames[(split, seq)] = stack
  return frames


def data_config(**overrides) -> ml_collections.ConfigDict:
  """A `config.data` with every field of the pipeline's interface."""
  fields = dict(
      name='synthetic_motion',
      builder_config='tiny',
      data_dir=None,
      manual_dir=None,
      train_split='train',
      eval_split='test',
      crop_size=16,
      random_flip=True,
      random_time_reverse=True,
      eval_crop_size=None,
      num_eval_examples=None,
      worker_count=0,
  )
  fields.update(overrides)
  return ml_collections.ConfigDict(fields)
