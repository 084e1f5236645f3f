"""Shift-blur scenes, alone and mixed into the training stream."""

import itertools

import numpy as np
import pytest

from cbl_jax.data import blur
from cbl_jax.data import pipeline
from cbl_jax.data import shift_blur
from tests.data import fake_data


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def _scene(offsets, response='linear'):
  return shift_blur.ShiftBlur(np.asarray(offsets, np.float32), response)


def test_a_still_scene_is_its_source():
  window = np.random.default_rng(0).integers(0, 256, (12, 14, 3), np.uint8)
  scene = _scene(np.zeros((shift_blur.NUM_INSTANTS, 2)), 'gamma')
  blurry, sharp = shift_blur.render(window, scene)
  inner = window[1:-1, 1:-1]  # The margin of a still scene is 1 pixel.
  assert blurry.shape == inner.shape and sharp.shape == (7,) + inner.shape
  np.testing.assert_array_equal(blurry, inner)
  np.testing.assert_array_equal(sharp, np.broadcast_to(inner, sharp.shape))


def test_whole_pixel_motion_is_eq_2_over_shifted_views():
  rng = np.random.default_rng(1)
  window = rng.integers(0, 256, (20, 30, 3), np.uint8)
  # One pixel right every 5 instants: 7 steps of x = -3 ... +3.
  dx = np.repeat(np.arange(-3, 4), shift_blur.SUBFRAMES_PER_GROUP)
  scene = _scene(np.stack([dx, np.zeros_like(dx)], 1))
  margin = scene.margin
  assert margin == 4
  blurry, sharp = shift_blur.render(window, scene)
  height, width = 20 - 2 * margin, 30 - 2 * margin
  views = np.stack([window[margin:margin + height,
                           margin + d:margin + d + width] for d in dx])
  np.testing.assert_array_equal(blurry, blur.synthesize_blur(views, 'linear'))
  np.testing.assert_array_equal(sharp, views[shift_blur.TARGET_INSTANTS])


def test_half_pixel_motion_interpolates_between_pixels():
  window = np.zeros((6, 8, 3), np.uint8)
  window[:, 4:] = 200
  scene = _scene(np.tile([[0.5, 0.0]], (shift_blur.NUM_INSTANTS, 1)))
  _, sharp = shift_blur.render(window, scene)
  # The margin is 2; output column 1 samples the window at x = 3.5.
  assert sharp[0, 0, 1, 0] == 100
  assert sharp[0, 0, 0, 0] == 0 and sharp[0, 0, 2, 0] == 200


def test_draws_cover_the_motion_range_and_both_responses():
  rng = np.random.default_rng(2)
  scenes = [shift_blur.draw(rng, (2.0, 16.0), 0.5) for _ in range(300)]
  # The path's chord runs about the whole drawn length over the exposure.
  chords = np.array([np.hypot(*(s.offsets[-1] - s.offsets[0]))
                     for s in scenes])
  assert 1.5 < chords.min() < 3.0 and 12.0 < chords.max() < 16.5
  assert all(s.margin > np.abs(s.offsets).max() for s in scenes)
  responses = [s.response for s in scenes]
  assert 100 < responses.count('gamma') < 200
  assert {s.response for s in (shift_blur.draw(rng, (2.0, 3.0), 0.0)
                               for _ in range(20))} == {'linear'}


def test_a_window_without_room_is_refused():
  scene = _scene(np.full((shift_blur.NUM_INSTANTS, 2), 3.0))
  with pytest.raises(ValueError) as error:
    shift_blur.render(np.zeros((8, 40, 3), np.uint8), scene)
  assert 'margin of 4 pixels; pass at least 9 pixels a side' in str(error.value)
  assert '\n' not in str(error.value)


def test_the_stream_mixes_in_scenes_from_a_step_on(tiny_config):
  config = fake_data.data_config(
      data_dir=tiny_config.data_dir, shift_blur_prob=1.0,
      shift_blur_motion=(2.0, 6.0), shift_blur_from_step=2)
  plain = _take(pipeline.create_train_dataset(
      tiny_config, seed=4, global_batch_size=4), 4)
  mixed = _take(pipeline.create_train_dataset(
      config, seed=4, global_batch_size=4), 4)
  for step in (0, 1):  # Before the first step, the stream is unchanged.
    for key in ('blurry', 'sharp'):
      np.testing.assert_array_equal(mixed[step][key], plain[step][key])
  for step in (2, 3):
    assert mixed[step]['blurry'].shape == plain[step]['blurry'].shape
    assert mixed[step]['sharp'].shape == plain[step]['sharp'].shape
    assert not np.array_equal(mixed[step]['blurry'], plain[step]['blurry'])
    # Every frame moves with the scene: first and last target differ.
    assert all(not np.array_equal(s[0], s[-1]) for s in mixed[step]['sharp'])


def test_the_mixed_stream_is_seeded_and_resumes_exactly(tiny_config):
  config = fake_data.data_config(data_dir=tiny_config.data_dir,
                                 shift_blur_prob=0.5)
  make = lambda start: _take(pipeline.create_train_dataset(
      config, seed=5, global_batch_size=4, start_step=start), 5 - start)
  straight, again, resumed = make(0), make(0), make(3)
  for a, b in itertools.chain(zip(straight, again),
                              zip(straight[3:], resumed)):
    for key in ('blurry', 'sharp'):
      np.testing.assert_array_equal(a[key], b[key])
  # About half of the 20 examples are replaced, not none and not all.
  plain = _take(pipeline.create_train_dataset(
      tiny_config, seed=5, global_batch_size=4), 5)
  replaced = sum(not np.array_equal(a, b) for m, p in zip(straight, plain)
                 for a, b in zip(m['blurry'], p['blurry']))
  assert 4 <= replaced <= 16


@pytest.mark.parametrize('overrides,message', [
    (dict(shift_blur_prob=1.5),
     'config.data.shift_blur_prob must be in [0, 1], got 1.5.'),
    (dict(shift_blur_prob=0.5, shift_blur_motion=(0.0, 8.0)),
     'config.data.shift_blur_motion must be (low, high) pixels with'
     ' 0 < low <= high, got (0.0, 8.0).'),
    (dict(shift_blur_prob=0.5, shift_blur_gamma_prob=2.0),
     'config.data.shift_blur_gamma_prob must be in [0, 1], got 2.0.'),
    (dict(shift_blur_prob=0.5, shift_blur_from_step=-1),
     'config.data.shift_blur_from_step must be a step >= 0, got -1.'),
    # Checked while the option is off too.
    (dict(shift_blur_motion=(6.0, 2.0)),
     'config.data.shift_blur_motion must be (low, high) pixels with'
     ' 0 < low <= high, got (6.0, 2.0).'),
    (dict(shift_blur_from_step=-3),
     'config.data.shift_blur_from_step must be a step >= 0, got -3.'),
])
def test_bad_shift_blur_options(tiny_data_dir, overrides, message):
  config = fake_data.data_config(data_dir=tiny_data_dir, **overrides)
  with pytest.raises(ValueError) as error:
    pipeline.create_train_dataset(config, seed=0, global_batch_size=4)
  assert str(error.value) == message
