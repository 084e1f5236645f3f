"""Decoded frames in a chunked array store, so that a crop costs the crop.

The TFDS builders keep one small record per example in their ArrayRecord
files (what grain shuffles and indexes) and the example's pixels here, in
zarr v3 arrays written and read with tensorstore:

* One array per (split, frame size) under ``<builder data_dir>/frames/``,
  named ``<split>/<height>x<width>``, shape (N, 1 + T, H, W, 3) uint8: row r
  holds the blurry image (image 0) and its T sharp frames (images 1..T) of
  one example. GoPro has one array per split; DVD one per video size.
* Each row is one shard file (zarr's ``sharding_indexed`` codec), cut into
  inner chunks of all 1 + T images by about `CHUNK` x `CHUNK` pixels (60 x
  64 for 720 x 1280 frames), stored raw (`COMPRESSION`). A random crop reads
  only the chunks it overlaps, about 2.3x the crop's pixels for 128 x 128
  crops, and decodes nothing, against decoding 8 whole PNG frames (56x the
  crop) before.
* A record points at its pixels with ``frames_array`` (the array's name),
  ``frames_row`` and ``frames_size`` ((H, W)), the fields `Writer.add`
  returns.
* ``frames/<split>.json`` lists a split's arrays and their lengths.

Reads go through one tensorstore `Context` per process with a small cache
(`CACHE_BYTES`): it holds shard indices and recently read chunks, and bounds
memory whatever the data set's size. Many reads issued before any is waited
for run concurrently in tensorstore's C++ thread pool; `Reader.read_many`
does that for a batch. Paths may be local folders or URLs tensorstore
reads, such as ``gs://bucket/...`` (only local folders are tested here).
"""

from __future__ import annotations

import json
import os
import posixpath
import threading
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorstore as ts

# Folder of the arrays inside a builder's data dir.
FOLDER = 'frames'
# Side of the inner chunks, about: each frame axis gets the divisor of its
# length closest to it (within 3/4 to 3/2 of it), so that no chunk is cut by
# the frame's edge (720 -> 60, 1280 -> 64), or CHUNK where none is. Smaller
# chunks read less around a crop (a remote store's bytes) but cost more
# per-chunk work; see BENCHMARKS.md.
CHUNK = 64
# Compression of each inner chunk (a zarr v3 codec), None for raw bytes.
# Measured on GoPro-like frames (BENCHMARKS.md): zstd stores 10% less of a
# noisy frame than raw bytes (17% less of a whole example, whose blurry image
# is smoother) but makes a random crop cost 3x the CPU time; lz4 stores no
# less than raw. Noisy
# natural images need PNG's prediction filters to compress well, which no
# zarr codec has.
COMPRESSION = None
# Bytes of decoded chunks and shard indices each process keeps.
CACHE_BYTES = 64 << 20
# Rows an array may reach while it is written; shrunk to the real count when
# the writer closes.
_CAPACITY = 1 << 40
# Shard writes in flight per writer: writing overlaps the builder's
# decoding, and memory stays at a few examples.
_PENDING_WRITES = 4


def array_name(split: str, height: int, width: int) -> str:
  """The array that holds ``split``'s examples of frames ``height x width``."""
  return f'{split}/{height}x{width}'


def root(data_dir: str | os.PathLike[str]) -> str:
  """The arrays' folder inside a prepared builder's ``data_dir``."""
  return posixpath.join(os.fspath(data_dir), FOLDER)


def _kvstore(path: str) -> dict[str, Any] | str:
  """A tensorstore kvstore spec for a local folder or a URL (gs://...)."""
  if '://' in path:
    return path.rstrip('/') + '/'
  return {'driver': 'file', 'path': os.path.abspath(path) + '/'}


def _array_spec(path: str) -> dict[str, Any]:
  return {
      'driver': 'zarr3',
      'kvstore': _kvstore(path),
      # The data never changes once prepared: check it once, at open.
      'recheck_cached_data': 'open',
      'recheck_cached_metadata': 'open',
  }


def _round_up(value: int, multiple: int) -> int:
  return -(-value // multiple) * multiple


def chunk_length(length: int, target: int = CHUNK) -> int:
  """The chunk length for a frame axis of ``length`` pixels (see `CHUNK`)."""
  if length <= target:
    return length
  divisors = [d for d in range(target * 3 // 4, target * 3 // 2 + 1)
              if length % d == 0]
  return min(divisors, key=lambda d: (abs(d - target), d), default=target)


def _new_array(path: str, images: int, height: int, width: int,
               context: ts.Context, chunk_side: int,
               compression: dict[str, Any] | None) -> ts.TensorStore:
  """Creates an empty (capacity, images, height, width, 3) array."""
  chunk = [1, images, chunk_length(height, chunk_side),
           chunk_length(width, chunk_side), 3]
  # A shard is one example; its grid is rounded up to whole inner chunks
  # (zarr requires that), the part beyond the frame is never stored.
  shard = [1, images, _round_up(height, chunk[2]), _round_up(width, chunk[3]), 3]
  spec = _array_spec(path)
  spec.update({
      'create': True,
      'metadata': {
          'shape': [_CAPACITY, images, height, width, 3],
          'data_type': 'uint8',
          'chunk_grid': {'name': 'regular',
                         'configuration': {'chunk_shape': shard}},
          'codecs': [{
              'name': 'sharding_indexed',
              'configuration': {
                  'chunk_shape': chunk,
                  'codecs': [{'name': 'bytes'}] + (
                      [compression] if compression else []),
                  'index_codecs': [{'name': 'bytes'}, {'name': 'crc32c'}],
              },
          }],
          # One file per example, c.<row>.0.0.0.0, beside zarr.json.
          'chunk_key_encoding': {'name': 'default',
                                 'configuration': {'separator': '.'}},
          'dimension_names': ['example', 'image', 'y', 'x', 'channel'],
      },
  })
  return ts.open(spec, context=context).result()


class Writer:
  """Appends examples of one split to the arrays under ``root``.

  Use as a context manager: leaving it waits for the writes and sets each
  array's length to the rows written.

  Attributes:
    root: the arrays' folder (see `root`).
    split: the split being written.
    chunk: side of the inner chunks.
    compression: zarr v3 codec of each chunk, None for raw bytes.
  """

  def __init__(self, root_dir: str, split: str, *, chunk: int = CHUNK,
               compression: dict[str, Any] | None = COMPRESSION):
    self.root = os.fspath(root_dir)
    self.split = split
    self.chunk = chunk
    self.compression = compression
    self._context = ts.Context({'cache_pool': {'total_bytes_limit': 0}})
    self._arrays: dict[str, ts.TensorStore] = {}
    self._rows: dict[str, int] = {}
    self._pending: list[ts.WriteFutures] = []

  def add(self, images: np.ndarray) -> dict[str, Any]:
    """Writes one example; returns the record fields that point at it.

    Args:
      images: (1 + T, H, W, 3) uint8: the blurry image, then the T frames.

    Returns:
      {'frames_array', 'frames_row', 'frames_size'} for the example's record.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
      raise ValueError(
          f'Expected (1 + T, H, W, 3) uint8 images, got {images.dtype} of'
          f' shape {images.shape}.')
    count, height, width, _ = images.shape
    name = array_name(self.split, height, width)
    if name not in self._arrays:
      self._arrays[name] = _new_array(
          posixpath.join(self.root, name), count, height, width, self._context,
          self.chunk, self.compression)
      self._rows[name] = 0
    array = self._arrays[name]
    if array.shape[1] != count:
      raise ValueError(
          f'Examples of {name} hold {array.shape[1]} images, this one'
          f' {count}.')
    row = self._rows[name]
    self._rows[name] = row + 1
    while len(self._pending) >= _PENDING_WRITES:
      self._pending.pop(0).result()
    write = array[row].write(images)
    write.copy.result()  # The caller may reuse `images` from here on.
    self._pending.append(write)
    return {
        'frames_array': name,
        'frames_row': row,
        'frames_size': np.asarray([height, width], np.int32),
    }

  def close(self) -> None:
    """Waits for the writes and sets each array's length to its rows."""
    for pending in self._pending:
      pending.result()
    self._pending = []
    arrays = {}
    for name, array in self._arrays.items():
      rows = self._rows[name]
      array.resize(exclusive_max=[rows, None, None, None, None],
                   resize_metadata_only=True, shrink_only=True).result()
      arrays[name] = {'rows': rows, 'height': array.shape[2],
                      'width': array.shape[3]}
    store = ts.KvStore.open(_kvstore(self.root)).result()
    store.write(_manifest_key(self.split),
                json.dumps({'arrays': arrays}, indent=1)).result()

  def __enter__(self) -> Writer:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.close()
    else:
      # The builder's temporary folder is deleted; only stop writing.
      for pending in self._pending:
        try:
          pending.result()
        except Exception:  # pylint: disable=broad-except
          pass


def _manifest_key(split: str) -> str:
  return f'{split}.json'


def arrays_of(root_dir: str, split: str) -> dict[str, dict[str, Any]]:
  """The arrays of ``split``: {name: {'rows', 'height', 'width'}}.

  Read from the small manifest the writer leaves, so nothing is listed or
  opened (listing a bucket of shards would take long).

  Args:
    root_dir: the arrays' folder (see `root`).
    split: e.g. 'train'.

  Returns:
    One entry per frame size of the split.

  Raises:
    FileNotFoundError: the split has no arrays under ``root_dir``.
  """
  store = ts.KvStore.open(_kvstore(root_dir)).result()
  found = store.read(_manifest_key(split)).result()
  if found.state != 'value':
    raise FileNotFoundError(
        f'No frames of split {split!r} in {root_dir}: the data set was'
        ' prepared by an older version; prepare it again.')
  return json.loads(found.value)['arrays']


class Crop(NamedTuple):
  """A part of one example's images to read.

  Attributes:
    array: the array's name, e.g. 'train/720x1280'.
    row: the example's row in it.
    rows: rows (y) of the frames to read.
    cols: columns (x) to read.
    flip_rows: return them upside down.
    flip_cols: return them mirrored left-right.
  """

  array: str
  row: int
  rows: slice = slice(None)
  cols: slice = slice(None)
  flip_rows: bool = False
  flip_cols: bool = False


class Reader:
  """Reads examples' images from the arrays under a root folder.

  Arrays are opened on first use, once per process; the object pickles as
  its root folder alone, so grain's worker processes open their own.

  Attributes:
    root: the arrays' folder (see `root`).
    cache_bytes: size of the process's tensorstore cache.
  """

  def __init__(self, root_dir: str, cache_bytes: int = CACHE_BYTES):
    self.root = os.fspath(root_dir)
    self.cache_bytes = cache_bytes
    self._lock = threading.Lock()
    self._context: ts.Context | None = None
    self._arrays: dict[str, ts.TensorStore] = {}

  def __getstate__(self) -> dict[str, Any]:
    return {'root': self.root, 'cache_bytes': self.cache_bytes}

  def __setstate__(self, state: dict[str, Any]) -> None:
    self.__init__(state['root'], state['cache_bytes'])

  def array(self, name: str) -> ts.TensorStore:
    """The opened array ``name`` (e.g. 'train/720x1280')."""
    array = self._arrays.get(name)
    if array is None:
      with self._lock:
        if self._context is None:
          self._context = ts.Context(
              {'cache_pool': {'total_bytes_limit': self.cache_bytes}})
        array = self._arrays.get(name)
        if array is None:
          array = ts.open(
              _array_spec(posixpath.join(self.root, name)),
              open=True, read=True, context=self._context).result()
          self._arrays[name] = array
    return array

  def read_many(self, crops: Iterable[Crop]) -> list[np.ndarray]:
    """Reads several crops at once; tensorstore runs them concurrently.

    Args:
      crops: what to read.

    Returns:
      (1 + T, h, w, 3) uint8 C-contiguous arrays (flipped as asked), in the
      order of ``crops``.
    """
    futures = []
    with ts.Batch() as batch:
      for crop in crops:
        view = self.array(crop.array)[crop.row, :, crop.rows, crop.cols]
        # Flipped by tensorstore as it copies out of the chunks: no second
        # pass over strided memory in NumPy.
        if crop.flip_rows:
          view = view[:, ::-1]
        if crop.flip_cols:
          view = view[:, :, ::-1]
        futures.append(view.read(batch=batch))
    return [future.result() for future in futures]

  def read(self, name: str, row: int, rows: slice = slice(None),
           cols: slice = slice(None)) -> np.ndarray:
    """One example's images, (1 + T, h, w, 3) uint8 (all of them by default)."""
    return self.read_many([Crop(name, row, rows, cols)])[0]


def images_of(record: dict[str, Any]) -> tuple[str, int]:
  """(array name, row) of a decoded TFDS record."""
  name = record['frames_array']
  return (name.decode() if isinstance(name, bytes) else str(name),
          int(record['frames_row']))


class ExampleSource(Sequence):
  """Random access to whole examples: a record source plus its frames.

  ``source[i]`` is record i with its pixels: {'blurry': (H, W, 3),
  'sharp': (T, H, W, 3) uint8, 'sequence': bytes, 'frame_indices': int32
  (M,)}, as the builders' data sets held them before the pixels moved to
  the array store.
  """

  def __init__(self, records: Sequence[dict[str, Any]], reader: Reader):
    self._records = records
    self._reader = reader

  def __len__(self) -> int:
    return len(self._records)

  def __getitem__(self, index: int) -> dict[str, Any]:
    if not -len(self) <= index < len(self):
      raise IndexError(index)
    record = self._records[index]
    images = self._reader.read(*images_of(record))
    return {
        'blurry': images[0],
        'sharp': images[1:],
        'sequence': record['sequence'],
        'frame_indices': record['frame_indices'],
    }


def data_source(builder, split: str) -> ExampleSource:
  """Whole examples of a prepared builder's split (see `ExampleSource`).

  Args:
    builder: a prepared `tfds_builders` builder.
    split: e.g. 'train'.

  Returns:
    The random-access examples.
  """
  return ExampleSource(builder.as_data_source(split=split),
                       Reader(root(builder.data_dir)))
