"""The procedural renderer behind the synthetic_motion data set."""

import dataclasses

import numpy as np
import pytest

from cbl_jax.data import blur
from cbl_jax.data import synthetic_motion as sm

TINY = sm.MotionConfig(image_size=32, min_camera_motion=2.0,
                       max_camera_motion=6.0, max_object_motion=6.0,
                       max_objects=2)


def test_example_shapes_and_eq2():
  example = sm.render_example(3, 'train', TINY)
  assert example['blurry'].shape == (32, 32, 3)
  assert example['sharp'].shape == (7, 32, 32, 3)
  assert example['blurry'].dtype == example['sharp'].dtype == np.uint8
  subframes, description = sm.render_subframes(3, 'train', TINY)
  assert subframes.shape == (21, 32, 32, 3)
  assert description.startswith('train/00003/')
  assert np.array_equal(example['blurry'], blur.synthesize_blur(subframes))
  # Sharp frames are the group centres: instants 1, 4, ..., 19.
  assert sm.target_indices(TINY).tolist() == [1, 4, 7, 10, 13, 16, 19]
  assert np.array_equal(example['sharp'], subframes[1::3])
  assert example['frame_indices'].tolist() == list(range(21))


def test_each_example_depends_only_on_its_index():
  later_first = sm.render_example(5, 'train', TINY)
  for index in range(5):
    sm.render_example(index, 'train', TINY)
  again = sm.render_example(5, 'train', TINY)
  for key in ('blurry', 'sharp'):
    assert np.array_equal(later_first[key], again[key])
  other = sm.render_example(6, 'train', TINY)
  assert not np.array_equal(later_first['blurry'], other['blurry'])
  reseeded = sm.render_example(5, 'train', dataclasses.replace(TINY, seed=1))
  assert not np.array_equal(later_first['blurry'], reseeded['blurry'])


def test_splits_use_disjoint_photographs_and_seeds():
  train = set(sum(sm.SOURCE_IMAGES['train'].values(), ()))
  test = set(sum(sm.SOURCE_IMAGES['test'].values(), ()))
  assert not train & test
  a = sm.render_example(0, 'train', TINY)
  b = sm.render_example(0, 'test', TINY)
  assert not np.array_equal(a['blurry'], b['blurry'])
  for index in range(6):
    names = sm.render_example(index, 'test', TINY)['sequence']
    used = set(names.split('/')[-1].split('+')) - {'procedural'}
    assert used <= {n.rsplit('.', 1)[0] for n in test}


def test_motion_blurs_visibly():
  # Averaged over examples, the blurry image is far from every sharp frame
  # (motion of several pixels), while the mean of the 7 frames is close to it.
  config = dataclasses.replace(TINY, image_size=64, min_camera_motion=4.0,
                               max_camera_motion=10.0)
  far, close = [], []
  for index in range(4):
    example = sm.render_example(index, 'train', config)
    blurry = example['blurry'].astype(float)
    sharp = example['sharp'].astype(float)
    far.append(np.abs(sharp[3] - blurry).mean())
    close.append(np.abs(sharp.mean(0) - blurry).mean())
  assert np.mean(far) > 3 * np.mean(close)
  assert np.mean(close) < 3.0


def test_average_targets_mean_to_blurry():
  config = dataclasses.replace(TINY, sharp_target='average')
  example = sm.render_example(2, 'train', config)
  mean = example['sharp'].astype(float).mean(0)
  # Each target is a rounded mean of 3 instants: within half a level.
  assert np.abs(mean - example['blurry']).max() <= 1.0


def test_gamma_response():
  config = dataclasses.replace(TINY, response='gamma')
  subframes, _ = sm.render_subframes(1, 'train', config)
  example = sm.render_example(1, 'train', config)
  assert np.array_equal(example['blurry'],
                        blur.synthesize_blur(subframes, 'gamma'))


def test_bad_configs():
  with pytest.raises(ValueError, match='must be odd'):
    sm.MotionConfig(subframes_per_group=2)
  with pytest.raises(ValueError, match="'instant' or 'average'"):
    sm.MotionConfig(sharp_target='middle')
  with pytest.raises(ValueError, match='image_size'):
    sm.MotionConfig(image_size=4)
  with pytest.raises(ValueError, match='Unknown split'):
    sm.load_sources('validation', 32)


def test_encoded_example_decodes_to_the_same_pixels():
  from cbl_jax.data import frames_io  # pylint: disable=g-import-not-at-top
  encoded = sm.render_encoded_example((4, 'test', TINY))
  plain = sm.render_example(4, 'test', TINY)
  assert np.array_equal(frames_io.decode_image(encoded['blurry']),
                        plain['blurry'])
  assert np.array_equal(
      np.stack([frames_io.decode_image(b) for b in encoded['sharp']]),
      plain['sharp'])
