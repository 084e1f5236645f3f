"""Training and evaluation reads on GoPro/DVD-built data: crops are exact.

The builders store decoded frames in the chunked store of `frame_store`;
these tests build small fake GoPro and DVD downloads and check what the
pipeline reads against the source frames themselves.
"""

import itertools
import threading

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from cbl_jax.data import blur
from cbl_jax.data import frame_store
from cbl_jax.data import pipeline
from tests.data import fake_data

_SEQUENCES = {
    'train': {'GOPR0001_07_00': 21, 'GOPR0002_07_00': 14},
    'test': {'GOPR0003_11_00': 14, 'GOPR0004_11_00': 7,
             'GOPR0005_11_00': 21},
}


@pytest.fixture(scope='module')
def gopro(tmp_path_factory):
  """A fake GOPRO_Large_all of 24x40 frames, built; returns (config, frames)."""
  root = tmp_path_factory.mktemp('gopro')
  frames = fake_data.make_gopro_all(str(root / 'manual'), _SEQUENCES,
                                    height=24, width=40)
  config = fake_data.data_config(
      name='gopro', builder_config='all_frames', data_dir=str(root / 'tfds'),
      manual_dir=str(root / 'manual'), crop_size=16)
  pipeline.get_builder(config)
  return config, frames


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def _windows(frames, split):
  """Every window of the split, as 7 source frames, in stored order."""
  return [stack[start:start + 7]
          for (s, _), stack in sorted(frames.items()) if s == split
          for start in range(0, len(stack) - 6, 7)]


def _find(crop, windows):
  """Every (window, top, left) where ``crop`` (c, c, 3) is the first frame's."""
  size = crop.shape[0]
  found = []
  for number, window in enumerate(windows):
    views = sliding_window_view(window[0], (size, size, 3))[..., 0, :, :, :]
    tops, lefts = np.nonzero((views == crop).all(axis=(-3, -2, -1)))
    found += [(number, int(t), int(l)) for t, l in zip(tops, lefts)]
  return found


def _locate(crop, windows):
  [found] = _find(crop, windows)
  return found


def test_training_crops_are_the_source_pixels(gopro):
  config, frames = gopro
  config = config.copy_and_resolve_references()
  config.random_flip = config.random_time_reverse = False
  windows = _windows(frames, 'train')
  seen = set()
  for batch in _take(pipeline.create_train_dataset(
      config, seed=0, global_batch_size=5), 4):
    for blurry, sharp in zip(batch['blurry'], batch['sharp']):
      number, top, left = _locate(sharp[0], windows)
      seen.add(number)
      source = windows[number][:, top:top + 16, left:left + 16]
      # Exactly the source PNGs' pixels, all 7 frames in time order ...
      assert sharp.dtype == np.uint8
      assert np.array_equal(sharp, source)
      # ... and the blurry image is Eq. 2 of the same crop (Eq. 2 is per
      # pixel, so the crop of the stored blurry image equals it).
      assert np.array_equal(blurry, blur.synthesize_blur(source))
  assert seen == set(range(len(windows)))  # Every window comes up.


def test_augmented_crops_are_flipped_source_pixels(gopro):
  config, frames = gopro
  windows = _windows(frames, 'train')
  seen = set()
  for batch in _take(pipeline.create_train_dataset(
      config, seed=3, global_batch_size=5), 4):
    for blurry, sharp in zip(batch['blurry'], batch['sharp']):
      matches = []
      for flip_lr, flip_ud, reverse in itertools.product((0, 1), repeat=3):
        undone_b, undone_s = blurry, sharp[::-1] if reverse else sharp
        if flip_lr:
          undone_b, undone_s = undone_b[:, ::-1], undone_s[:, :, ::-1]
        if flip_ud:
          undone_b, undone_s = undone_b[::-1], undone_s[:, ::-1]
        for number, top, left in _find(undone_s[0], windows):
          source = windows[number][:, top:top + 16, left:left + 16]
          if np.array_equal(undone_s, source):
            assert np.array_equal(undone_b, blur.synthesize_blur(source))
            matches.append((flip_lr, flip_ud, reverse))
      assert len(matches) == 1  # One flip and time order explains it.
      seen.add(matches[0])
  assert len(seen) >= 6  # Flips and reversal do happen, independently.


def test_resume_and_processes_give_the_single_process_batches(gopro):
  config, _ = gopro
  kwargs = dict(seed=7, global_batch_size=4)
  straight = _take(pipeline.create_train_dataset(config, **kwargs), 5)
  resumed = _take(pipeline.create_train_dataset(config, start_step=3,
                                                **kwargs), 2)
  for a, b in zip(straight[3:], resumed):
    assert all(np.array_equal(a[k], b[k]) for k in ('blurry', 'sharp'))
  parts = [
      _take(pipeline.create_train_dataset(
          config, start_step=3, process_index=p, process_count=2, **kwargs),
          2)
      for p in range(2)
  ]
  for step in range(2):
    for key in ('blurry', 'sharp'):
      joined = np.concatenate([parts[0][step][key], parts[1][step][key]])
      assert np.array_equal(joined, straight[3 + step][key])


def test_processes_read_only_their_rows(gopro, monkeypatch):
  config, _ = gopro
  read = []
  original = frame_store.Reader.read_many

  this_thread = threading.get_ident()

  def spy(self, crops):
    crops = list(crops)
    if threading.get_ident() == this_thread:  # Not other tests' prefetching.
      read.extend(crop.row for crop in crops)
    return original(self, crops)

  monkeypatch.setattr(frame_store.Reader, 'read_many', spy)
  # The MapDataset itself (the iterator would prefetch further batches).
  dataset = pipeline.train_dataset(config, seed=1, global_batch_size=4,
                                   process_index=1, process_count=2)
  [dataset[step] for step in range(3)]
  assert len(read) == 3 * 2  # Its 2 rows of each of 3 global batches.


def test_evaluation_spreads_over_all_test_sequences(gopro):
  config, frames = gopro
  config = config.copy_and_resolve_references()
  config.num_eval_examples = 3
  batches = list(pipeline.create_eval_dataset(config, batch_size=1))
  # 6 test windows (2, 1 and 3 per sequence): one from each sequence, where
  # the first three in stored order would be two sequences only.
  assert [str(b['sequence'][0]) for b in batches] == [
      'GOPR0003_11_00', 'GOPR0004_11_00', 'GOPR0005_11_00']
  windows = _windows(frames, 'test')
  # Each sequence's middle window: the second of 2, the only one, the second
  # of 3.
  for batch, number, first in zip(batches, (1, 2, 4), (54, 47, 54)):
    assert np.array_equal(batch['sharp'][0], windows[number])  # Full frames.
    assert batch['frame_indices'][0].tolist() == list(range(first, first + 7))


def test_dvd_videos_of_two_sizes(tmp_path):
  from tests.data import test_builders  # pylint: disable=g-import-not-at-top
  folder = tmp_path / 'manual' / 'original_high_fps_videos'
  folder.mkdir(parents=True)
  rng = np.random.default_rng(1)
  smooth = lambda n, h, w: np.stack([
      np.roll(np.linspace(0, 200, w, dtype=np.float32), 2 * i)[None, :, None]
      .repeat(h, 0).repeat(3, 2) + rng.integers(0, 30, (h, w, 3))
      for i in range(n)]).clip(0, 255).astype(np.uint8)
  test_builders._write_video(folder / 'IMG_0003.mp4', smooth(7, 32, 32))
  test_builders._write_video(folder / 'GOPR0001.MOV', smooth(7, 32, 48))
  test_builders._write_video(folder / 'IMG_0100.mp4', smooth(14, 24, 32))
  config = fake_data.data_config(
      name='dvd', builder_config='original_videos',
      data_dir=str(tmp_path / 'tfds'), manual_dir=str(tmp_path / 'manual'),
      crop_size=20)
  builder = pipeline.get_builder(config)
  assert sorted(frame_store.arrays_of(frame_store.root(builder.data_dir),
                                      'train')) == ['train/24x32',
                                                    'train/32x48']
  [batch] = _take(pipeline.create_train_dataset(
      config, seed=0, global_batch_size=3), 1)
  assert batch['sharp'].shape == (3, 7, 20, 20, 3)
  # The smallest frames bound the crop.
  config.crop_size = 28
  with pytest.raises(ValueError, match='config.data.crop_size=28 is larger'
                     ' than the 32x24 frames of dvd/original_videos split'
                     " 'train'; set it to at most 24."):
    pipeline.create_train_dataset(config, seed=0, global_batch_size=3)
