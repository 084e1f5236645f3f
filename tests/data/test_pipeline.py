"""The grain input pipeline on the tiny synthetic data set."""

import itertools

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from cbl_jax.data import frame_store
from cbl_jax.data import pipeline
from tests.data import fake_data


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def _equal(a, b):
  return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_train_batches_shapes(tiny_config):
  [batch] = _take(pipeline.create_train_dataset(
      tiny_config, seed=0, global_batch_size=4), 1)
  assert batch['blurry'].shape == (4, 16, 16, 3)
  assert batch['sharp'].shape == (4, 7, 16, 16, 3)
  assert batch['blurry'].dtype == batch['sharp'].dtype == np.uint8


def test_deterministic_by_seed(tiny_config):
  make = lambda seed: _take(pipeline.create_train_dataset(
      tiny_config, seed=seed, global_batch_size=4), 3)
  first, again, other = make(0), make(0), make(1)
  assert all(_equal(a, b) for a, b in zip(first, again))
  assert not _equal(first[0], other[0])


def test_resumes_exactly_from_a_step(tiny_config):
  straight = _take(pipeline.create_train_dataset(
      tiny_config, seed=3, global_batch_size=4), 7)
  resumed = _take(pipeline.create_train_dataset(
      tiny_config, seed=3, global_batch_size=4, start_step=5), 2)
  assert _equal(straight[5], resumed[0]) and _equal(straight[6], resumed[1])


def test_epochs_cover_the_split_and_are_reshuffled(tiny_config):
  # Without augmentation and with full-size crops, batches are the examples.
  config = fake_data.data_config(data_dir=tiny_config.data_dir, crop_size=32,
                                random_flip=False, random_time_reverse=False)
  source = frame_store.data_source(pipeline.get_builder(config), 'train')
  by_pixels = {np.asarray(e['blurry']).tobytes(): i
               for i, e in enumerate(source)}
  batches = _take(pipeline.create_train_dataset(
      config, seed=0, global_batch_size=4), 8)  # Two epochs of 16.
  order = [by_pixels[b.tobytes()] for batch in batches
           for b in batch['blurry']]
  assert sorted(order[:16]) == sorted(order[16:]) == list(range(16))
  assert order[:16] != order[16:]
  # Frames come through untouched, in time order.
  first = source[order[0]]
  assert np.array_equal(batches[0]['sharp'][0], np.stack(first['sharp']))


def test_processes_split_each_global_batch(tiny_config):
  single = _take(pipeline.create_train_dataset(
      tiny_config, seed=5, global_batch_size=4, start_step=2,
      process_index=0, process_count=1), 3)
  parts = [
      _take(pipeline.create_train_dataset(
          tiny_config, seed=5, global_batch_size=4, start_step=2,
          process_index=p, process_count=2), 3)
      for p in range(2)
  ]
  for step in range(3):
    for key in ('blurry', 'sharp'):
      assert parts[0][step][key].shape[0] == 2
      # Process blocks in process order make up the global batch.
      joined = np.concatenate([parts[0][step][key], parts[1][step][key]])
      assert np.array_equal(joined, single[step][key])


def test_worker_processes_give_the_same_batches(tiny_config):
  config = tiny_config.copy_and_resolve_references()
  config.worker_count = 1
  with_workers = _take(pipeline.create_train_dataset(
      config, seed=2, global_batch_size=4, start_step=1), 2)
  in_process = _take(pipeline.create_train_dataset(
      tiny_config, seed=2, global_batch_size=4, start_step=1), 2)
  assert all(_equal(a, b) for a, b in zip(with_workers, in_process))


def _one_example_store(tmp_path, images):
  root = str(tmp_path / 'frames')
  with frame_store.Writer(root, 'train') as writer:
    record = writer.add(images)
  return frame_store.Reader(root), record


def test_augmentation_moves_blurry_and_frames_together(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (8, 10, 12, 3), dtype=np.uint8)
  blurry, sharp = images[0], images[1:]
  reader, record = _one_example_store(tmp_path, images)
  draw = pipeline._DrawCrop(crop_size=6, random_flip=True,
                            random_time_reverse=True)
  read = pipeline._ReadCrops(reader, crop_size=6)
  seen = set()
  crops = [draw(record, np.random.default_rng(seed)) for seed in range(80)]
  batch = read(crops)  # One batch of 80, read at once.
  for seed in range(80):
    draws = np.random.default_rng(seed)
    top, left = draws.integers(0, 5), draws.integers(0, 7)
    flip_lr, flip_ud, reverse = draws.uniform(size=3) < 0.5
    seen.add((bool(flip_lr), bool(flip_ud), bool(reverse)))
    want_b = blurry[top:top + 6, left:left + 6]
    want_s = sharp[:, top:top + 6, left:left + 6]
    if flip_lr:
      want_b, want_s = want_b[:, ::-1], want_s[:, :, ::-1]
    if flip_ud:
      want_b, want_s = want_b[::-1], want_s[:, ::-1]
    if reverse:
      want_s = want_s[::-1]
    assert np.array_equal(batch['blurry'][seed], want_b)
    assert np.array_equal(batch['sharp'][seed], want_s)
  assert len(seen) == 8  # Every combination of flips and reversal occurs.


def test_crops_are_uniform_over_the_whole_frame():
  record = {'frames_size': np.asarray([10, 12], np.int32),
            'frames_array': b'train/10x12', 'frames_row': 0}
  draw = pipeline._DrawCrop(crop_size=6, random_flip=False,
                            random_time_reverse=False)
  rng = np.random.default_rng(0)
  counts = np.zeros((5, 7), int)
  for _ in range(3500):
    crop = draw(record, rng)
    counts[crop['top'], crop['left']] += 1
  # Every one of the 5 x 7 positions, corners included, about equally often.
  assert counts.min() > 50 and counts.max() < 150


def test_augmented_frames_still_average_to_blurry(tiny_config):
  # Linear response: the mean of the 7 frames is close to the blurry image
  # (within about a grey level, see the builder's README). A crop, flip or
  # reversal applied to one but not the other would break that.
  plain = fake_data.data_config(data_dir=tiny_config.data_dir,
                               random_flip=False, random_time_reverse=False)
  for config in (plain, tiny_config):
    errors = [
        np.abs(b['sharp'].mean(1) - b['blurry']).mean()
        for b in _take(pipeline.create_train_dataset(
            config, seed=0, global_batch_size=4), 4)
    ]
    assert max(errors) < 3.0
  # And augmentation does change the batches.
  a = _take(pipeline.create_train_dataset(plain, seed=0,
                                          global_batch_size=4), 1)[0]
  b = _take(pipeline.create_train_dataset(tiny_config, seed=0,
                                          global_batch_size=4), 1)[0]
  assert not _equal(a, b)


def test_eval_full_frames_in_order(tiny_config):
  batches = pipeline.create_eval_dataset(tiny_config, batch_size=3)
  first = list(batches)
  assert [b['blurry'].shape[0] for b in first] == [3, 1]  # 4 test examples.
  assert first[0]['sharp'].shape == (3, 7, 32, 32, 3)
  assert first[0]['frame_indices'].shape == (3, 21)
  assert [s[:10] for b in first for s in b['sequence']] == [
      'test/00000', 'test/00001', 'test/00002', 'test/00003']
  again = list(batches)  # Re-iterable, same batches.
  assert all(_equal(a, b) for a, b in zip(first, again))
  source = frame_store.data_source(pipeline.get_builder(tiny_config), 'test')
  assert np.array_equal(first[0]['blurry'][1], source[1]['blurry'])
  assert np.array_equal(first[0]['sharp'][1], np.stack(source[1]['sharp']))


def test_eval_centre_crop_and_count(tiny_config):
  config = tiny_config.copy_and_resolve_references()
  config.eval_crop_size = 20
  config.num_eval_examples = 2
  [batch] = list(pipeline.create_eval_dataset(config, batch_size=2))
  full = list(pipeline.create_eval_dataset(tiny_config, batch_size=4))[0]
  assert batch['blurry'].shape == (2, 20, 20, 3)
  # Two of the four, spread over the split: examples 1 and 3.
  assert [s[:10] for s in batch['sequence']] == ['test/00001', 'test/00003']
  assert np.array_equal(batch['blurry'], full['blurry'][[1, 3], 6:26, 6:26])
  assert np.array_equal(batch['sharp'], full['sharp'][[1, 3], :, 6:26, 6:26])


@pytest.mark.parametrize('total,count,expected', [
    (10, 3, [1, 5, 8]),
    (4, 2, [1, 3]),
    (5, 5, [0, 1, 2, 3, 4]),
    (3, 7, [0, 1, 2]),
    (1111, 1, [555]),
])
def test_spread_indices(total, count, expected):
  assert pipeline.spread_indices(total, count).tolist() == expected


@pytest.mark.parametrize('lengths,count,expected', [
    # Equal shares, spread within each sequence.
    ((4, 4, 4), 3, [2, 6, 10]),
    ((4, 4, 4), 6, [1, 3, 5, 7, 9, 11]),
    # A short sequence gives its share to the others.
    ((1, 10, 10), 7, [0, 2, 6, 9, 12, 16, 19]),
    # Fewer examples than sequences: sequences spread over the split.
    ((2, 2, 2, 2, 2), 2, [3, 7]),
    ((3, 3), 9, [0, 1, 2, 3, 4, 5]),
])
def test_spread_over_sequences(lengths, count, expected):
  sequences = [name for name, n in zip('abcde', lengths) for _ in range(n)]
  assert pipeline.spread_over_sequences(sequences, count).tolist() == expected


def test_eval_batches_of_different_sizes_are_refused():
  examples = [{'blurry': np.zeros((4, 4, 3))}, {'blurry': np.zeros((4, 6, 3))}]
  with pytest.raises(ValueError, match='batch size of 1 or set'
                     ' config.data.eval_crop_size'):
    pipeline._stack_eval(examples)


def test_to_global_batch(tiny_config):
  batch = list(pipeline.create_eval_dataset(tiny_config, batch_size=2))[0]
  # One device, whatever other tests did to the device count.
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ('data',))
  arrays = pipeline.to_global_batch(batch, NamedSharding(mesh, P('data')))
  assert set(arrays) == {'blurry', 'sharp', 'frame_indices'}
  assert isinstance(arrays['sharp'], jax.Array)
  assert np.array_equal(np.asarray(arrays['sharp']), batch['sharp'])


@pytest.mark.parametrize('overrides,call,message', [
    (dict(name='imagenet'), 'train',
     "config.data.name='imagenet' is not a known dataset; set it to one of"
     ' synthetic_motion, gopro, dvd.'),
    (dict(builder_config='huge'), 'train',
     "config.data.builder_config='huge' is not a config of synthetic_motion;"
     ' set it to one of default, large, tiny.'),
    (dict(crop_size=64), 'train',
     'config.data.crop_size=64 is larger than the 32x32 frames of'),
    (dict(crop_size=0), 'train',
     'config.data.crop_size must be a positive integer, got 0.'),
    (dict(eval_crop_size=33), 'eval',
     'config.data.eval_crop_size=33 is larger than the 32x32 frames'),
    (dict(num_eval_examples=0), 'eval',
     'config.data.num_eval_examples must be a positive integer, got 0.'),
    (dict(train_split='validation'), 'train',
     "Split 'validation' is not in synthetic_motion/tiny; set"
     ' config.data.train_split/eval_split to one of'),
    (dict(worker_count=-1), 'train',
     'config.data.worker_count must be >= 0, got -1.'),
    (dict(), 'batch',
     'The global batch size 6 is not divisible by the 4 processes; set'
     ' config.batch_size to a multiple of 4.'),
])
def test_bad_config_messages(tiny_data_dir, overrides, call, message):
  config = fake_data.data_config(data_dir=tiny_data_dir, **overrides)
  with pytest.raises(ValueError) as error:
    if call == 'eval':
      pipeline.create_eval_dataset(config, batch_size=1)
    elif call == 'batch':
      pipeline.create_train_dataset(config, seed=0, global_batch_size=6,
                                    process_index=0, process_count=4)
    else:
      next(pipeline.create_train_dataset(config, seed=0, global_batch_size=4))
  assert message in str(error.value)
  assert '\n' not in str(error.value)


def test_get_builder_reports_a_missing_manual_dir(tmp_path):
  config = fake_data.data_config(
      name='gopro', builder_config='all_frames', data_dir=str(tmp_path),
      manual_dir=str(tmp_path / 'GOPRO_Large_all'))
  with pytest.raises(FileNotFoundError) as error:
    pipeline.get_builder(config)
  assert '\n' not in str(error.value)
  assert str(error.value).startswith('Manual dir is missing or empty:')


def test_get_builder_prepares_once(tiny_config, monkeypatch):
  import tfds_builders.synthetic_motion as module  # pylint: disable=g-import-not-at-top
  calls = []
  monkeypatch.setattr(module.Builder, 'download_and_prepare',
                      lambda self, **kw: calls.append(kw))
  builder = pipeline.get_builder(tiny_config)
  assert builder.is_prepared() and not calls


def test_photo_dir_builds_a_variant_on_the_users_photographs(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photos = tmp_path / 'photos'
  photos.mkdir()
  rng = np.random.default_rng(0)
  for name in ('beach', 'street'):
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), np.uint8)).save(
        photos / f'{name}.jpg')
  config = fake_data.data_config(data_dir=str(tmp_path / 'tfds'),
                                 photo_dir=str(photos))
  builder = pipeline.get_builder(config)
  assert builder.builder_config.name.startswith('tiny_photos_')
  train = builder.as_data_source(split='train')
  backgrounds = {train[i]['sequence'].decode().split('/')[-1].split('+')[0]
                 for i in range(len(train))}
  assert backgrounds - {'procedural'} <= {'beach', 'street'}
  assert backgrounds & {'beach', 'street'}
  # Without photo_dir: the packaged photographs, cached under 'tiny'.
  plain = pipeline.get_builder(fake_data.data_config(
      data_dir=str(tmp_path / 'tfds'), photo_dir=''))
  assert plain.builder_config.name == 'tiny'
  with pytest.raises(ValueError, match='is not a folder'):
    pipeline.get_builder(fake_data.data_config(
        data_dir=str(tmp_path / 'tfds'), photo_dir=str(tmp_path / 'none')))
