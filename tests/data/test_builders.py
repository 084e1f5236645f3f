"""The TFDS builders on small fake trees in the real layouts, read back."""

import logging
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cbl_jax.data import blur
from cbl_jax.data import builder_lib
from cbl_jax.data import frame_store
from cbl_jax.data import frames_io
from tests.data import fake_data
import tfds_builders.dvd
import tfds_builders.gopro
import tfds_builders.synthetic_motion


def _build(module, config, tmp_path, manual_dir=None):
  builder = module.Builder(config=config, data_dir=str(tmp_path / 'tfds'))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def _read(builder, split):
  return list(frame_store.data_source(builder, split))


def _array_record_files(root):
  return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
          if '.array_record' in f]


def _store_files(root):
  return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
          if f'{os.sep}{frame_store.FOLDER}{os.sep}' in os.path.join(d, f)]


# --- GoPro ---


def test_numbered_files_sort_by_number(tmp_path):
  from etils import epath  # pylint: disable=g-import-not-at-top
  for name in ('99.png', '100.png', '7.png', 'notes.txt', 'x1.png', '5.PNG'):
    (tmp_path / name).write_bytes(b'')
  found = builder_lib.numbered_files(epath.Path(tmp_path), ('.png',))
  assert [number for number, _ in found] == [5, 7, 99, 100]


def test_gopro_all_frames(tmp_path, caplog):
  manual = str(tmp_path / 'manual')
  frames = fake_data.make_gopro_all(manual, {
      'train': {'GOPR0001_07_00': 16, 'GOPR0002_07_00': 5},
      'test': {'GOPR0003_07_00': 7},
  })
  with caplog.at_level(logging.WARNING):
    builder = _build(tfds_builders.gopro, 'all_frames', tmp_path, manual)
  assert 'Skipped 1 sequence(s)' in caplog.text
  assert 'GOPR0002_07_00 (5 frames)' in caplog.text
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
  # Records point at the pixels, one array per split and frame size.
  records = builder.as_data_source(split='train')
  assert records[1]['frames_array'] == b'train/12x16'
  assert records[1]['frames_row'] == 1
  assert records[1]['frames_size'].tolist() == [12, 16]
  assert 'blurry' not in records[1]
  assert frame_store.arrays_of(frame_store.root(builder.data_dir),
                               'train') == {
      'train/12x16': {'rows': 2, 'height': 12, 'width': 16}}

  train = _read(builder, 'train')
  assert len(train) == 2  # 16 frames: two windows, two frames dropped.
  source = frames[('train', 'GOPR0001_07_00')]
  for window, example in enumerate(train):
    expected = source[7 * window:7 * window + 7]
    assert example['sequence'] == b'GOPR0001_07_00'
    assert example['frame_indices'].tolist() == list(
        range(47 + 7 * window, 54 + 7 * window))
    sharp = np.stack(example['sharp'])
    assert sharp.shape == (7, 12, 16, 3)
    assert np.array_equal(sharp, expected)  # Time order, exact pixels.
    assert np.array_equal(example['blurry'],
                          blur.synthesize_blur(expected, 'linear'))
  test = _read(builder, 'test')
  assert len(test) == 1
  assert np.array_equal(np.stack(test[0]['sharp']),
                        frames[('test', 'GOPR0003_07_00')])


def test_gopro_long_windows_and_gamma(tmp_path):
  manual = str(tmp_path / 'manual')
  frames = fake_data.make_gopro_all(manual, {
      'train': {'GOPR0001_13_00': 13}, 'test': {'GOPR0002_13_00': 13}})
  builder = _build(tfds_builders.gopro, 'all_frames_13', tmp_path, manual)
  [example] = _read(builder, 'train')
  source = frames[('train', 'GOPR0001_13_00')]
  assert example['frame_indices'].tolist() == list(range(47, 60))
  assert np.array_equal(example['blurry'], blur.synthesize_blur(source))
  assert np.array_equal(np.stack(example['sharp']), blur.sub_averages(source))

  gamma = tfds_builders.gopro.GoproConfig(
      name='m7_gamma_test', response='gamma')
  builder = _build(tfds_builders.gopro, gamma, tmp_path,
                   os.path.join(manual, 'GOPRO_Large_all'))
  first = _read(builder, 'train')[0]
  assert np.array_equal(first['blurry'],
                        blur.synthesize_blur(source[:7], 'gamma'))


def test_gopro_pairs(tmp_path):
  rng = np.random.default_rng(3)
  manual = tmp_path / 'manual'
  images = {}
  for split, seq in (('train', 'GOPR0001_11_00'), ('test', 'GOPR0002_11_00')):
    for name in ('000100.png', '000101.png'):
      for folder in ('blur', 'blur_gamma', 'sharp'):
        image = fake_data.random_frames(rng, 1)[0]
        fake_data.write_png(
            str(manual / 'GOPRO_Large' / split / seq / folder / name), image)
        images[(split, folder, name)] = image
  for config, folder in (('pairs', 'blur'), ('pairs_gamma', 'blur_gamma')):
    builder = _build(tfds_builders.gopro, config, tmp_path / config,
                     str(manual))
    examples = _read(builder, 'train')
    assert [e['frame_indices'].tolist() for e in examples] == [[100], [101]]
    for example, name in zip(examples, ('000100.png', '000101.png')):
      assert np.array_equal(example['blurry'],
                            images[('train', folder, name)])
      sharp = np.stack(example['sharp'])
      assert sharp.shape == (1, 12, 16, 3)
      assert np.array_equal(sharp[0], images[('train', 'sharp', name)])


def test_gopro_missing_manual_dir_is_one_line_and_writes_nothing(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    _build(tfds_builders.gopro, 'all_frames', tmp_path,
           str(tmp_path / 'nowhere'))
  message = str(error.value)
  assert '\n' not in message
  assert 'Manual dir is missing or empty' in message
  assert 'GOPRO_Large_all/{train,test}/<SEQ>/<6-digit>.png' in message
  assert 'seungjunnah.github.io' in message
  builder = tfds_builders.gopro.Builder(config='all_frames',
                                        data_dir=str(tmp_path / 'tfds'))
  assert not builder.is_prepared()
  assert not _array_record_files(tmp_path / 'tfds')

  # A manual dir with something else in it names the folder it wants.
  (tmp_path / 'other').mkdir()
  (tmp_path / 'other' / 'README').write_text('x')
  with pytest.raises(FileNotFoundError, match='No GOPRO_Large_all/ folder'):
    _build(tfds_builders.gopro, 'all_frames', tmp_path, str(tmp_path / 'other'))
  # A split without sequences.
  os.makedirs(tmp_path / 'half' / 'GOPRO_Large_all' / 'train' / 'S')
  with pytest.raises(FileNotFoundError, match='No sequences in .*test'):
    _build(tfds_builders.gopro, 'all_frames', tmp_path, str(tmp_path / 'half'))


def test_gopro_unreadable_image_names_the_file(tmp_path):
  manual = str(tmp_path / 'manual')
  fake_data.make_gopro_all(manual, {'train': {'S1': 7}, 'test': {'S2': 7}})
  bad = os.path.join(manual, 'GOPRO_Large_all', 'test', 'S2', '000050.png')
  with open(bad, 'wb') as f:
    f.write(b'not a png')
  with pytest.raises(ValueError) as error:
    _build(tfds_builders.gopro, 'all_frames', tmp_path, manual)
  assert str(error.value) == (
      f'Cannot read image {bad}: not an image file Pillow can decode.')
  assert not _array_record_files(tmp_path / 'tfds')
  assert not _store_files(tmp_path / 'tfds')  # Nothing half-written.


def test_gopro_split_of_only_short_sequences(tmp_path):
  manual = str(tmp_path / 'manual')
  fake_data.make_gopro_all(manual, {'train': {'S1': 7}, 'test': {'S2': 6}})
  with pytest.raises(ValueError, match="Split 'test' has no example: all 1 "
                     'sequence.s. are shorter than a window of 7 frames'):
    _build(tfds_builders.gopro, 'all_frames', tmp_path, manual)


def test_gopro_frames_of_different_sizes_are_named(tmp_path):
  manual = str(tmp_path / 'manual')
  fake_data.make_gopro_all(manual, {'train': {'S1': 7}, 'test': {'S2': 7}})
  odd = os.path.join(manual, 'GOPRO_Large_all', 'train', 'S1', '000049.png')
  fake_data.write_png(odd, np.zeros((10, 16, 3), np.uint8))
  with pytest.raises(ValueError, match=r'differ in size: .*000047\.png is '
                     r'16x12 but .*000049\.png is 16x10'):
    _build(tfds_builders.gopro, 'all_frames', tmp_path, manual)


# --- DVD ---


def _make_dvd_quantitative(root, videos, rng):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  for video in videos:
    for folder in ('input', 'GT'):
      path = root / 'DeepVideoDeblurring_Dataset' / 'quantitative_datasets'
      path = path / video / folder
      path.mkdir(parents=True)
      for number in range(2):
        image = fake_data.random_frames(rng, 1)[0]
        Image.fromarray(image).save(path / f'{number:05d}.jpg', quality=90)


def test_dvd_quantitative_uses_the_standard_split(tmp_path, caplog):
  rng = np.random.default_rng(4)
  manual = tmp_path / 'manual'
  _make_dvd_quantitative(manual, ['IMG_0003', 'IMG_0049', 'IMG_0010',
                                  '720p_240fps_1'], rng)
  with caplog.at_level(logging.WARNING):
    builder = _build(tfds_builders.dvd, 'quantitative', tmp_path, str(manual))
  assert '8 of the 10 standard test videos are missing' in caplog.text
  test = _read(builder, 'test')
  train = _read(builder, 'train')
  assert sorted({e['sequence'] for e in test}) == [b'IMG_0003', b'IMG_0049']
  assert sorted({e['sequence'] for e in train}) == [b'720p_240fps_1',
                                                     b'IMG_0010']
  example = test[1]
  folder = (manual / 'DeepVideoDeblurring_Dataset' / 'quantitative_datasets' /
            'IMG_0003')
  assert example['frame_indices'].tolist() == [1]
  # The JPEG files are decoded once: same pixels as decoding them.
  expected_blurry = frames_io.read_image(folder / 'input' / '00001.jpg')
  expected_sharp = frames_io.read_image(folder / 'GT' / '00001.jpg')
  assert np.array_equal(example['blurry'], expected_blurry)
  assert np.array_equal(np.stack(example['sharp']), expected_sharp[None])


def _write_video(path, frames):
  import av  # pylint: disable=g-import-not-at-top
  with av.open(str(path), mode='w') as container:
    stream = container.add_stream('mpeg4', rate=240)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = 'yuv420p'
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame,
                                                             format='rgb24')):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def test_dvd_original_videos(tmp_path, caplog):
  rng = np.random.default_rng(5)
  folder = tmp_path / 'manual' / 'original_high_fps_videos'
  folder.mkdir(parents=True)
  # Smooth frames, so the codec keeps them apart.
  ramp = np.linspace(0, 200, 32, dtype=np.float32)
  frames = np.stack([
      np.stack([np.roll(ramp, 2 * i)[None, :].repeat(32, 0)] * 3, -1)
      for i in range(16)
  ]).astype(np.uint8)
  frames[..., 1] = rng.integers(0, 40, (16, 32, 32), dtype=np.uint8)
  _write_video(folder / 'IMG_0003.mp4', frames)  # a test video
  _write_video(folder / 'GOPR9637.MOV', frames[:15])  # training
  _write_video(folder / 'IMG_0100.mp4', frames[:5])  # too short
  with caplog.at_level(logging.WARNING):
    builder = _build(tfds_builders.dvd, 'original_videos', tmp_path,
                     str(tmp_path / 'manual'))
  assert 'Skipped 1 sequence(s)' in caplog.text and 'IMG_0100.mp4' in caplog.text
  test = _read(builder, 'test')
  train = _read(builder, 'train')
  assert len(test) == 2 and len(train) == 2
  decoded = np.stack(list(frames_io.iter_video_frames(folder / 'IMG_0003.mp4')))
  assert len(decoded) == 16
  for window, example in enumerate(test):
    assert example['sequence'] == b'IMG_0003'
    assert example['frame_indices'].tolist() == list(
        range(7 * window, 7 * window + 7))
    expected = decoded[7 * window:7 * window + 7]
    assert np.array_equal(np.stack(example['sharp']), expected)
    assert np.array_equal(example['blurry'], blur.synthesize_blur(expected))
  # The videos' own folder as the manual dir, whatever its name.
  renamed = tmp_path / 'Original_High_FPS_Videos'
  folder.rename(renamed)
  builder = _build(tfds_builders.dvd, 'original_videos', tmp_path / 'again',
                   str(renamed))
  assert len(_read(builder, 'test')) == 2


def test_dvd_missing_and_unreadable_inputs(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    _build(tfds_builders.dvd, 'original_videos', tmp_path,
           str(tmp_path / 'none'))
  assert '\n' not in str(error.value)
  assert 'original_high_fps_videos/<VIDEO>.MOV|.mp4' in str(error.value)
  assert 'DeepVideoDeblurring_Dataset_Original_High_FPS_Videos.zip' in str(
      error.value)
  folder = tmp_path / 'manual' / 'original_high_fps_videos'
  folder.mkdir(parents=True)
  (folder / 'IMG_0003.MOV').write_bytes(b'not a video')
  with pytest.raises(FileNotFoundError, match='No train videos in'):
    _build(tfds_builders.dvd, 'original_videos', tmp_path,
           str(tmp_path / 'manual'))
  (folder / 'GOPR0001.MOV').write_bytes(b'not a video either')
  with pytest.raises(ValueError, match=r'Cannot read video .*GOPR0001\.MOV'):
    _build(tfds_builders.dvd, 'original_videos', tmp_path,
           str(tmp_path / 'manual'))


# --- synthetic_motion ---


def test_synthetic_tiny_builds_deterministically(tmp_path):
  first = _build(tfds_builders.synthetic_motion, 'tiny', tmp_path / 'a')
  second = _build(tfds_builders.synthetic_motion, 'tiny', tmp_path / 'b')
  files_a = sorted(_array_record_files(tmp_path / 'a') +
                   _store_files(tmp_path / 'a'))
  files_b = sorted(_array_record_files(tmp_path / 'b') +
                   _store_files(tmp_path / 'b'))
  assert [os.path.relpath(f, tmp_path / 'a') for f in files_a] == [
      os.path.relpath(f, tmp_path / 'b') for f in files_b]
  # Two manifests, two arrays (zarr.json), one shard file per example.
  assert len(_store_files(tmp_path / 'a')) == 2 + 2 + 16 + 4
  for a, b in zip(files_a, files_b):
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
      assert fa.read() == fb.read()
  assert first.info.splits['train'].num_examples == 16
  assert second.info.splits['test'].num_examples == 4
  examples = _read(first, 'train')
  assert [e['sequence'].decode()[:11] for e in examples[:3]] == [
      'train/00000', 'train/00001', 'train/00002']
  from cbl_jax.data import synthetic_motion  # pylint: disable=g-import-not-at-top
  motion = first.builder_config.motion
  subframes, _ = synthetic_motion.render_subframes(2, 'train', motion)
  assert np.array_equal(examples[2]['blurry'],
                        blur.synthesize_blur(subframes))
  assert np.array_equal(np.stack(examples[2]['sharp']), subframes[1::3])


def test_synthetic_strip_picture(tmp_path, tiny_data_dir):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from cbl_jax import visualization  # pylint: disable=g-import-not-at-top
  builder = tfds_builders.synthetic_motion.Builder(config='tiny',
                                                   data_dir=tiny_data_dir)
  source = frame_store.data_source(builder, 'test')
  path = tmp_path / 'strip.png'
  visualization.save_strips(
      path, [(source[i]['blurry'], np.stack(source[i]['sharp']))
             for i in range(2)], scale=2)
  with Image.open(path) as image:
    assert image.size == (2 * (8 * 32 + 4), 2 * (2 * 32 + 4))
    picture = np.asarray(image)
  # The first tile of the first row is the blurry image, pixel-doubled.
  assert np.array_equal(picture[:64:2, :64:2], source[0]['blurry'])
