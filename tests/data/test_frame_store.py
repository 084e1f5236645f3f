"""The chunked frame store: what is written is read back, crops included."""

import json
import os
import pickle

import numpy as np
import pytest

from cbl_jax.data import frame_store


def _images(rng, count, height, width):
  return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_round_trip_of_examples_of_two_sizes(tmp_path):
  rng = np.random.default_rng(0)
  # 70 x 150 spans two 70 x 75 chunks.
  examples = [_images(rng, 8, 70, 150) for _ in range(3)]
  examples.insert(1, _images(rng, 8, 20, 30))
  root = str(tmp_path / 'frames')
  with frame_store.Writer(root, 'train') as writer:
    records = [writer.add(images) for images in examples]
  assert [(r['frames_array'], r['frames_row']) for r in records] == [
      ('train/70x150', 0), ('train/20x30', 0), ('train/70x150', 1),
      ('train/70x150', 2)]
  assert records[1]['frames_size'].tolist() == [20, 30]
  assert frame_store.arrays_of(root, 'train') == {
      'train/70x150': {'rows': 3, 'height': 70, 'width': 150},
      'train/20x30': {'rows': 1, 'height': 20, 'width': 30},
  }
  # A reader travels to grain's worker processes as its folder alone.
  reader = pickle.loads(pickle.dumps(frame_store.Reader(root)))
  for images, record in zip(examples, records):
    name, row = frame_store.images_of(record)
    assert np.array_equal(reader.read(name, row), images)
  crops = reader.read_many([
      frame_store.Crop('train/70x150', 2, slice(3, 67), slice(60, 140)),
      frame_store.Crop('train/20x30', 0, slice(0, 20), slice(29, 30)),
      frame_store.Crop('train/70x150', 0, slice(5, 9), slice(1, 4),
                       flip_rows=True),
      frame_store.Crop('train/70x150', 0, slice(5, 9), slice(1, 4),
                       flip_cols=True),
      frame_store.Crop('train/70x150', 0, slice(5, 9), slice(1, 4),
                       flip_rows=True, flip_cols=True),
  ])
  assert np.array_equal(crops[0], examples[3][:, 3:67, 60:140])
  assert np.array_equal(crops[1], examples[1][:, :, 29:30])
  crop = examples[0][:, 5:9, 1:4]
  assert np.array_equal(crops[2], crop[:, ::-1])
  assert np.array_equal(crops[3], crop[:, :, ::-1])
  assert np.array_equal(crops[4], crop[:, ::-1, ::-1])
  assert all(c.flags['C_CONTIGUOUS'] for c in crops)
  # One file per example, beside the array's metadata.
  files = sorted(os.listdir(os.path.join(root, 'train', '70x150')))
  assert files == ['c.0.0.0.0.0', 'c.1.0.0.0.0', 'c.2.0.0.0.0', 'zarr.json']
  metadata = json.loads(
      (tmp_path / 'frames' / 'train' / '70x150' / 'zarr.json').read_text())
  assert metadata['shape'] == [3, 8, 70, 150, 3]
  [sharding] = metadata['codecs']
  assert sharding['configuration']['chunk_shape'] == [1, 8, 70, 75, 3]


@pytest.mark.parametrize('length,chunk', [
    (720, 60), (1280, 64), (1080, 60), (1920, 64), (128, 64), (32, 32),
    (150, 75), (97, 64),  # 97 is prime: a partial chunk at the edge.
])
def test_chunk_lengths_divide_the_frame(length, chunk):
  assert frame_store.chunk_length(length) == chunk


def test_raw_by_default_or_compressed(tmp_path):
  smooth = np.ascontiguousarray(np.broadcast_to(
      np.arange(128, dtype=np.uint8)[None, None, :, None], (8, 120, 128, 3)))
  sizes = {}
  for name, compression in (('raw', None),
                            ('zstd', {'name': 'zstd',
                                      'configuration': {'level': 1}})):
    root = str(tmp_path / name)
    kwargs = {} if compression is None else {'compression': compression}
    with frame_store.Writer(root, 'test', **kwargs) as writer:
      writer.add(smooth)
    sizes[name] = os.path.getsize(
        os.path.join(root, 'test', '120x128', 'c.0.0.0.0.0'))
    assert np.array_equal(frame_store.Reader(root).read('test/120x128', 0),
                          smooth)
  # Raw: the pixels and the shard's index (4 chunks of 60 x 64, 16 bytes
  # each, and a checksum), no padding.
  assert sizes['raw'] == smooth.nbytes + 4 * 16 + 4
  assert sizes['zstd'] < smooth.nbytes / 20


def test_whole_examples_from_records(tmp_path):
  rng = np.random.default_rng(1)
  images = _images(rng, 2, 5, 7)
  root = str(tmp_path / 'frames')
  with frame_store.Writer(root, 'test') as writer:
    record = {'sequence': b'S', 'frame_indices': np.asarray([4], np.int32),
              **writer.add(images)}
  source = frame_store.ExampleSource([record], frame_store.Reader(root))
  assert len(source) == 1
  example = source[0]
  assert np.array_equal(example['blurry'], images[0])
  assert np.array_equal(example['sharp'], images[1:])  # T = 1: (1, H, W, 3).
  assert example['sequence'] == b'S' and example['frame_indices'].tolist() == [4]
  with pytest.raises(IndexError):
    source[1]  # pylint: disable=pointless-statement


def test_errors(tmp_path):
  root = str(tmp_path / 'frames')
  with frame_store.Writer(root, 'train') as writer:
    with pytest.raises(ValueError, match=r'Expected \(1 \+ T, H, W, 3\) uint8'
                       r' images, got uint8 of shape \(4, 4, 3\)\.'):
      writer.add(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='got float32 of shape'):
      writer.add(np.zeros((8, 4, 4, 3), np.float32))
    writer.add(np.zeros((8, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='Examples of train/4x4 hold 8'
                       ' images, this one 2.'):
      writer.add(np.zeros((2, 4, 4, 3), np.uint8))
  with pytest.raises(FileNotFoundError) as error:
    frame_store.arrays_of(root, 'test')
  assert str(error.value) == (
      f"No frames of split 'test' in {root}: the data set was prepared by an"
      ' older version; prepare it again.')
