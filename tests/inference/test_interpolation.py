"""Recursive interpolation (Section 4.6.2): frame counts and level 1."""

import functools

import numpy as np
import pytest

from cbl_jax.inference import image_io
from cbl_jax.inference import interpolation
from cbl_jax.inference import tiling
from tests.inference.helpers import real_path


def test_frame_counts_follow_the_recursion():
  # N_1 = 7, N_{k+1} = 7 (N_k - 1) = (5 * 7^k + 7) / 6.
  counts = [interpolation.num_frames_at_level(k) for k in (1, 2, 3, 4)]
  assert counts == [7, 42, 287, 2002]
  assert counts == [(5 * 7**k + 7) // 6 for k in (1, 2, 3, 4)]
  assert interpolation.num_frames_at_level(2, num_frames=3) == 6
  with pytest.raises(ValueError):
    interpolation.num_frames_at_level(0)


def test_levels_on_a_real_crop(tiny_model):
  image = image_io.read_image(real_path("jin_examples", "image_4_blurry.png"))
  image = image[300:324, 400:440]
  predict = functools.partial(tiling.predict_tiled, tiny_model)
  plain = tiling.predict_frames(tiny_model, image)
  np.testing.assert_array_equal(interpolation.interpolate(predict, image, 1),
                                plain)
  for level in (2, 3):
    frames = interpolation.interpolate(predict, image, level)
    assert frames.shape == (interpolation.num_frames_at_level(level), 24, 40,
                            3)
    assert frames.min() >= 0 and frames.max() <= 1
  # Level 2, group i is the (oriented) prediction of the average of level-1
  # frames i and i + 1 (Eq. 2, linear, M = 2).
  level2 = interpolation.interpolate(predict, image, 2)
  for i in (0, 5):
    group = tiling.predict_frames(tiny_model, 0.5 * (plain[i] + plain[i + 1]))
    expected = interpolation.orient(group, plain[i], plain[i + 1])
    np.testing.assert_allclose(level2[7 * i:7 * i + 7], expected, atol=1e-6)


def test_orient_puts_groups_in_pair_order():
  first, second = np.zeros((2, 2, 3)), np.ones((2, 2, 3))
  forward = np.linspace(0, 1, 7)[:, None, None, None] * np.ones((7, 2, 2, 3))
  np.testing.assert_array_equal(
      interpolation.orient(forward, first, second), forward)
  np.testing.assert_array_equal(
      interpolation.orient(forward[::-1], first, second), forward)
