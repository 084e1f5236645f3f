"""Input pipeline: grain over `tfds.data_source`, pixels from the frame store.

The builders' ArrayRecords hold one small record per example (provenance and
where its pixels are); the pixels are decoded frames in the chunked store of
`frame_store`. grain shuffles, batches and splits the records; each batch's
crops are then read from the store at once, so a 128 x 128 crop of a
1280 x 720 GoPro window costs about the crop, not 8 PNG decodes.

The data config (``config.data``, an `ml_collections.ConfigDict`) has:

* ``name``: 'synthetic_motion', 'gopro' or 'dvd' (a builder in
  `tfds_builders/`).
* ``builder_config``: e.g. 'default', 'tiny', 'all_frames', 'original_videos'.
* ``data_dir``: TFDS data dir, or None for TFDS's default.
* ``manual_dir``: where the manual download was unzipped, or None.
* ``train_split``, ``eval_split``: e.g. 'train', 'test'.
* ``crop_size``: side of the random training crops (Section 4.2: 128).
* ``random_flip``: random horizontal and (independently) vertical flips.
* ``random_time_reverse``: reverse the 7 frames with probability 1/2; the
  reversed sequence blurs to the same image (Eq. 2 is a plain mean).
* ``eval_crop_size``: None for full frames, else a fixed centre crop.
* ``num_eval_examples``: None for the whole split, else N examples spread
  evenly over all its sequences (`spread_over_sequences`).
* ``worker_count``: grain worker processes, 0 to read in this process.
* ``shift_blur_prob``: share of training examples replaced, from step
  ``shift_blur_from_step`` on, by a shift-blur scene of their own middle
  sharp frame (`shift_blur`: the whole frame moved along one path of
  ``shift_blur_motion`` = (low, high) pixels, gamma 2.2 response with
  probability ``shift_blur_gamma_prob``). 0 (the default) leaves the
  stream unchanged.

Training stream. The split is shuffled with a fresh permutation every epoch
(drawn from (seed, epoch)) and repeated forever; element i of that stream gets its own augmentation,
drawn from a Generator seeded by (seed, i). Global batch k is stream
elements ``[k * G, (k + 1) * G)`` (G the global batch size), and process p of
P gets rows ``[p * G / P, (p + 1) * G / P)`` of it: the process-local blocks,
concatenated in process order, are the single-process global batch, which is
the layout `jax.make_array_from_process_local_data` expects for a batch axis
sharded over devices in process order (as `jax.make_mesh` orders them). Each
process reads only its own rows' pixels. Everything is index arithmetic
on a grain `MapDataset`, so starting at step s yields exactly batches s, s+1,
... of a run started at step 0.

Crops are uniform over the whole frame: the top-left corner is drawn
uniformly from every position where the crop fits, for every example of
every size.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import grain
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from absl import flags

from cbl_jax.data import frame_store
from cbl_jax.data import shift_blur

DATASETS = ('synthetic_motion', 'gopro', 'dvd')

Batch = dict[str, np.ndarray]

# Threads preparing batches in each process. A batch's reads already run
# concurrently inside tensorstore; a few batches in flight overlap one's
# Python work (records, crop draws, stacking) with another's reads. More only
# add contention on small hosts.
_NUM_READ_THREADS = min(4, os.cpu_count() or 1)
# Length of the endless training stream (what grain's repeat() uses).
_STREAM_LENGTH = sys.maxsize
# Batches buffered ahead of the consumer. grain's default (500) is sized for
# small records; ours are megabytes.
_PREFETCH_BATCHES = 8


def _get(config: ml_collections.ConfigDict, field: str, default: Any = None):
  """Optional config fields may be absent or None."""
  value = config.get(field, default)
  return default if value is None else value


def get_builder(data_config: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """Returns the prepared builder of ``data_config``, preparing it if needed.

  Imports `tfds_builders.<name>` (which registers it with TFDS) and calls
  ``download_and_prepare`` only when the data is not there yet. For
  'synthetic_motion' that renders the data set (no download); for 'gopro' and
  'dvd' it reads the manual download in ``data_config.manual_dir``.

  Args:
    data_config: ``config.data``.

  Returns:
    The builder, ready for `as_data_source` (the records) and
    `frame_store.data_source` (whole examples).

  Raises:
    ValueError: unknown dataset or builder config.
    FileNotFoundError: the manual download is missing (one line naming the
      expected layout and where to get it).
  """
  name = data_config.name
  if name not in DATASETS:
    raise ValueError(
        f'config.data.name={name!r} is not a known dataset; set it to one of'
        f' {", ".join(DATASETS)}.'
    )
  module = importlib.import_module(f'tfds_builders.{name}')
  if hasattr(module, 'builder_config_for'):
    # A builder whose config depends on other config.data fields (e.g.
    # synthetic_motion's photo_dir) makes and checks its config itself.
    builder_config = module.builder_config_for(data_config)
  else:
    config_names = [c.name for c in module.Builder.BUILDER_CONFIGS]
    if data_config.builder_config not in config_names:
      raise ValueError(
          f'config.data.builder_config={data_config.builder_config!r} is not'
          f' a config of {name}; set it to one of {", ".join(config_names)}.'
      )
    builder_config = data_config.builder_config
  builder = module.Builder(
      config=builder_config,
      data_dir=_get(data_config, 'data_dir'),
  )
  if not builder.is_prepared():
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=_get(data_config, 'manual_dir')
        )
    )
  return builder


@dataclasses.dataclass(frozen=True)
class _Split:
  """A prepared split: its records, its pixels, and its frame sizes.

  Attributes:
    records: the TFDS data source (random access to the records).
    reader: reads the pixels from the frame store.
    sizes: (height, width) of the split's frames, smallest area first.
    name: e.g. 'gopro/all_frames', for messages.
    split: the split's name.
  """

  records: Sequence[dict[str, Any]]
  reader: frame_store.Reader
  sizes: list[tuple[int, int]]
  name: str
  split: str


def _data_source(data_config: ml_collections.ConfigDict, split: str) -> _Split:
  builder = get_builder(data_config)
  name = f'{builder.name}/{data_config.builder_config}'
  if split not in builder.info.splits:
    raise ValueError(
        f'Split {split!r} is not in {name};'
        f' set config.data.train_split/eval_split to one of'
        f' {", ".join(builder.info.splits)}.'
    )
  records = builder.as_data_source(split=split)
  if not len(records):
    raise ValueError(f'Split {split!r} of {builder.name} is empty.')
  root = frame_store.root(builder.data_dir)
  arrays = frame_store.arrays_of(root, split)
  sizes = sorted({(a['height'], a['width']) for a in arrays.values()},
                 key=lambda hw: (hw[0] * hw[1], hw))
  return _Split(records, frame_store.Reader(root), sizes, name, split)


def check_train_crop(data_config: ml_collections.ConfigDict) -> None:
  """Refuses a training crop larger than the training frames.

  Args:
    data_config: ``config.data``.

  Raises:
    ValueError: a crop size that is not a positive integer, or too large.
  """
  crop_size = _positive_int(data_config.crop_size, 'config.data.crop_size')
  _check_crop(crop_size, _data_source(data_config, data_config.train_split),
              'crop_size')


def _check_crop(size: int, split: _Split, field: str) -> None:
  """Refuses a crop larger than the smallest frames of the split."""
  for height, width in split.sizes:
    if size > min(height, width):
      raise ValueError(
          f'config.data.{field}={size} is larger than the {width}x{height}'
          f' frames of {split.name} split {split.split!r}; set it to at most'
          f' {min(min(hw) for hw in split.sizes)}.'
      )


@dataclasses.dataclass(frozen=True)
class _DrawCrop:
  """Draws an example's crop, flips and time reversal (no pixels read).

  Attributes:
    crop_size: side of the square crop.
    random_flip: flip left-right and up-down, each with probability 1/2.
    random_time_reverse: reverse the frame order with probability 1/2.
  """

  crop_size: int
  random_flip: bool
  random_time_reverse: bool

  def __call__(self, record: dict[str, Any],
               rng: np.random.Generator) -> dict[str, Any]:
    height, width = (int(v) for v in record['frames_size'])
    # Always draw all five numbers, so that switching a flag off leaves the
    # crops of the other examples unchanged.
    top = int(rng.integers(0, height - self.crop_size + 1))
    left = int(rng.integers(0, width - self.crop_size + 1))
    flip_lr, flip_ud, reverse = (bool(v) for v in rng.uniform(size=3) < 0.5)
    array, row = frame_store.images_of(record)
    return {
        'array': array,
        'row': row,
        'frames_size': (height, width),
        'top': top,
        'left': left,
        'flip_lr': self.random_flip and flip_lr,
        'flip_ud': self.random_flip and flip_ud,
        'reverse': self.random_time_reverse and reverse,
    }


@dataclasses.dataclass(frozen=True)
class _DrawShiftBlur:
  """Stream position -> whether (and how) the example becomes a shift blur.

  A Generator of its own, seeded by (seed, position), so that switching the
  option on leaves every other draw of the stream unchanged.

  Attributes:
    prob: share of examples replaced.
    motion: (low, high) path length, pixels.
    gamma_prob: probability of the gamma 2.2 response.
    first_position: stream position of the first example that may be
      replaced (``shift_blur_from_step`` times the global batch size).
    seed: the draws' seed.
  """

  prob: float
  motion: tuple[float, float]
  gamma_prob: float
  first_position: int
  seed: int

  def __call__(self, position: int, crop: dict[str, Any]) -> dict[str, Any]:
    scene = None
    if position >= self.first_position:
      rng = np.random.default_rng([self.seed, int(position)])
      if rng.uniform() < self.prob:
        scene = shift_blur.draw(rng, self.motion, self.gamma_prob)
    return {**crop, 'shift_blur': scene}


def _window(crop: dict[str, Any], size: int, margin: int
            ) -> tuple[frame_store.Crop, tuple[tuple[int, int], ...]]:
  """The crop grown by `margin` a side, inside the frame, and the padding.

  Returns:
    (what to read, np.pad widths of the (image,) rows, columns and
    channels outside the frame).
  """
  height, width = crop['frames_size']
  top, left = crop['top'] - margin, crop['left'] - margin
  bottom, right = crop['top'] + size + margin, crop['left'] + size + margin
  read = frame_store.Crop(
      crop['array'], crop['row'], slice(max(top, 0), min(bottom, height)),
      slice(max(left, 0), min(right, width)))
  pad = ((0, 0), (max(-top, 0), max(bottom - height, 0)),
         (max(-left, 0), max(right - width, 0)), (0, 0))
  return read, pad


@dataclasses.dataclass(frozen=True)
class _ReadCrops:
  """Reads a batch of drawn crops from the store, all at once.

  Attributes:
    reader: the frame store reader.
    crop_size: side of the crops.
  """

  reader: frame_store.Reader
  crop_size: int

  def __call__(self, crops: Sequence[dict[str, Any]]) -> Batch:
    size = self.crop_size
    reads, pads = [], []
    for c in crops:
      scene = c.get('shift_blur')
      if scene is None:
        reads.append(frame_store.Crop(
            c['array'], c['row'], slice(c['top'], c['top'] + size),
            slice(c['left'], c['left'] + size), flip_rows=c['flip_ud'],
            flip_cols=c['flip_lr']))
        pads.append(None)
      else:
        # The scene moves the whole frame: it needs context around the
        # crop, the frame's own where there is some, its edge beyond. Flips
        # and time reversal are left out: the path's direction is uniform.
        read, pad = _window(c, size, scene.margin)
        reads.append(read)
        pads.append(pad)
    blurry, sharp = [], []
    for images, c, pad in zip(self.reader.read_many(reads), crops, pads):
      if pad is None:
        blurry.append(images[0])
        # Images 1..T in time order, or T..1 reversed.
        sharp.append(images[:0:-1] if c['reverse'] else images[1:])
        continue
      # The middle of the T sharp images (index 0 is the blurry one), the
      # only one the scene uses: padded alone.
      middle = images[1 + (images.shape[0] - 1) // 2]
      window = np.pad(middle, pad[1:], mode='edge')
      scene_blurry, scene_sharp = shift_blur.render(window, c['shift_blur'])
      blurry.append(scene_blurry)
      sharp.append(scene_sharp)
    return {'blurry': np.stack(blurry), 'sharp': np.stack(sharp)}


@dataclasses.dataclass(frozen=True)
class _EvalPrepare:
  """Full frames, or a fixed centre crop; keeps the provenance fields.

  Attributes:
    reader: the frame store reader.
    crop_size: None for full frames.
  """

  reader: frame_store.Reader
  crop_size: int | None

  def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
    rows = cols = slice(None)
    if self.crop_size is not None:
      height, width = (int(v) for v in record['frames_size'])
      top = (height - self.crop_size) // 2
      left = (width - self.crop_size) // 2
      rows = slice(top, top + self.crop_size)
      cols = slice(left, left + self.crop_size)
    images = self.reader.read(*frame_store.images_of(record), rows, cols)
    sequence = record['sequence']
    return {
        'blurry': images[0],
        'sharp': images[1:],
        'sequence': sequence.decode() if isinstance(sequence, bytes) else sequence,
        'frame_indices': np.asarray(record['frame_indices'], np.int32),
    }


def _stack_eval(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """Batches eval examples, with a clear error when frame sizes differ."""
  shapes = {e['blurry'].shape for e in examples}
  if len(shapes) > 1:
    raise ValueError(
        f'Evaluation examples of different sizes {sorted(shapes)} cannot share'
        ' a batch; use an evaluation batch size of 1 or set'
        ' config.data.eval_crop_size.'
    )
  return {key: np.stack([e[key] for e in examples]) for key in examples[0]}


@dataclasses.dataclass(frozen=True)
class _Subset(Sequence):
  """``records[indices[i]]`` as item i."""

  records: Sequence[dict[str, Any]]
  indices: np.ndarray

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return self.records[int(self.indices[index])]


def spread_indices(total: int, count: int) -> np.ndarray:
  """``count`` indices spread evenly over ``range(total)``, in order.

  Index i is the middle of the i-th of ``count`` equal parts.

  Args:
    total: how many there are.
    count: how many to keep; all of them when ``count >= total``.

  Returns:
    Increasing int64 indices.
  """
  if count >= total:
    return np.arange(total)
  return (2 * np.arange(count) + 1) * total // (2 * count)


def spread_over_sequences(sequences: Sequence[Any], count: int) -> np.ndarray:
  """``count`` examples spread evenly over all sequences, in stored order.

  Every sequence gets the same number of examples (one more for some when
  ``count`` does not divide evenly, fewer for sequences too short, their
  share going to the others), spread evenly within it; with fewer examples
  than sequences, one each from sequences spread evenly over the split.

  Args:
    sequences: the sequence of each example, in stored order (examples of
      one sequence are consecutive).
    count: how many examples to keep.

  Returns:
    Increasing indices into ``sequences``.
  """
  starts = [i for i in range(len(sequences))
            if i == 0 or sequences[i] != sequences[i - 1]]
  lengths = np.diff(starts + [len(sequences)])
  if count >= len(sequences):
    return np.arange(len(sequences))
  quota = np.zeros(len(starts), int)
  if count < len(starts):
    quota[spread_indices(len(starts), count)] = 1
  else:
    while quota.sum() < count:  # Round robin over those with windows left.
      open_ = np.nonzero(quota < lengths)[0]
      quota[open_[:count - quota.sum()]] += 1
  return np.concatenate([
      start + spread_indices(length, share)
      for start, length, share in zip(starts, lengths, quota) if share
  ])


@functools.lru_cache(maxsize=4)
def _epoch_permutation(size: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(size)


@dataclasses.dataclass(frozen=True)
class _EpochShuffle:
  """Stream position -> example index: a fresh permutation every epoch.

  The same as grain's ``shuffle().repeat()``, but the permutation of an
  epoch is drawn once (a few microseconds per thousand examples, cached for
  the last epochs) where grain's `index_shuffle` costs up to milliseconds per
  element on splits of a few hundred examples.

  Attributes:
    size: examples per epoch.
    seed: shuffle seed.
  """

  size: int
  seed: int

  def __call__(self, position: int) -> int:
    epoch, index = divmod(int(position), self.size)
    return int(_epoch_permutation(self.size, self.seed, epoch)[index])


def _positive_int(value: Any, field: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (
      value < 1):
    raise ValueError(f'{field} must be a positive integer, got {value!r}.')
  return int(value)


def _split_seeds(seed: int) -> tuple[int, int, int]:
  """Independent 32-bit seeds: shuffle, augmentations and shift blurs."""
  # generate_state(3) begins with generate_state(2): adding the third seed
  # left the first two, and so every earlier run's stream, unchanged.
  return tuple(int(s) for s in np.random.SeedSequence(seed).generate_state(3))


def check_shift_blur(data_config: ml_collections.ConfigDict) -> None:
  """Refuses shift-blur options (see the module docstring) out of range.

  Every field is checked, also while the option is off, so that a bad value
  fails when it is set, not when the share is raised later.

  Args:
    data_config: ``config.data``.

  Raises:
    ValueError: one line naming the field and what it takes.
  """
  prob = _get(data_config, 'shift_blur_prob', 0.0)
  if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not (
      0.0 <= prob <= 1.0):
    raise ValueError(
        f'config.data.shift_blur_prob must be in [0, 1], got {prob!r}.')
  motion = tuple(_get(data_config, 'shift_blur_motion', (1.0, 24.0)))
  if len(motion) != 2 or not 0.0 < motion[0] <= motion[1]:
    raise ValueError(
        'config.data.shift_blur_motion must be (low, high) pixels with'
        f' 0 < low <= high, got {motion!r}.')
  gamma_prob = _get(data_config, 'shift_blur_gamma_prob', 0.6)
  if not 0.0 <= gamma_prob <= 1.0:
    raise ValueError(
        'config.data.shift_blur_gamma_prob must be in [0, 1], got'
        f' {gamma_prob!r}.')
  from_step = _get(data_config, 'shift_blur_from_step', 0)
  if isinstance(from_step, bool) or not isinstance(
      from_step, (int, np.integer)) or from_step < 0:
    raise ValueError(
        'config.data.shift_blur_from_step must be a step >= 0, got'
        f' {from_step!r}.')


def _shift_blur_draw(data_config: ml_collections.ConfigDict, seed: int,
                     global_batch_size: int) -> _DrawShiftBlur | None:
  """The shift-blur option of ``config.data``, checked; None when off."""
  check_shift_blur(data_config)
  prob = _get(data_config, 'shift_blur_prob', 0.0)
  if not prob:
    return None
  low, high = _get(data_config, 'shift_blur_motion', (1.0, 24.0))
  return _DrawShiftBlur(
      prob=float(prob), motion=(float(low), float(high)),
      gamma_prob=float(_get(data_config, 'shift_blur_gamma_prob', 0.6)),
      first_position=int(_get(data_config, 'shift_blur_from_step', 0))
      * global_batch_size,
      seed=seed)


def train_dataset(
    data_config: ml_collections.ConfigDict,
    *,
    seed: int,
    global_batch_size: int,
    start_step: int = 0,
    process_index: int | None = None,
    process_count: int | None = None,
) -> grain.MapDataset:
  """This process's training batches as a grain `MapDataset` (see module doc).

  Element k is this process's part of global batch ``start_step + k``. Use
  `create_train_dataset` for an iterator with prefetching.

  Args:
    data_config: ``config.data``.
    seed: global seed; shuffling and augmentation derive from it.
    global_batch_size: G, examples per step over all processes.
    start_step: first step to produce.
    process_index: this process, default `jax.process_index()`.
    process_count: number of processes, default `jax.process_count()`.

  Returns:
    An infinite MapDataset of {'blurry': (b, c, c, 3), 'sharp':
    (b, 7, c, c, 3)} uint8 batches, b = G / process_count, c = crop_size.

  Raises:
    ValueError: a bad batch size, process split, crop size or dataset.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  global_batch_size = _positive_int(global_batch_size, 'global_batch_size')
  _positive_int(process_count, 'process_count')
  if global_batch_size % process_count:
    raise ValueError(
        f'The global batch size {global_batch_size} is not divisible by the'
        f' {process_count} processes; set config.batch_size to a multiple of'
        f' {process_count}.'
    )
  if not 0 <= process_index < process_count:
    raise ValueError(
        f'process_index={process_index} is outside [0, {process_count}).'
    )
  if start_step < 0:
    raise ValueError(f'start_step must be >= 0, got {start_step}.')
  crop_size = _positive_int(data_config.crop_size, 'config.data.crop_size')
  per_process = global_batch_size // process_count

  split = _data_source(data_config, data_config.train_split)
  _check_crop(crop_size, split, 'crop_size')  # Fail now, not in a worker.
  shuffle_seed, augment_seed, shift_blur_seed = _split_seeds(seed)
  shift_blur_draw = _shift_blur_draw(data_config, shift_blur_seed,
                                     global_batch_size)
  draw = _DrawCrop(
      crop_size=crop_size,
      random_flip=bool(data_config.random_flip),
      random_time_reverse=bool(data_config.random_time_reverse),
  )
  records = split.records
  dataset = (
      # The stream: position i of an endless sequence of epochs ...
      grain.MapDataset.range(_STREAM_LENGTH)
      # ... is example _EpochShuffle(i), a new permutation every epoch ...
      .map(_EpochShuffle(len(records), shuffle_seed))
      .map(records.__getitem__)
      # ... with its own augmentation, drawn from (augment_seed, i).
      .random_map(draw, seed=augment_seed)
  )
  if shift_blur_draw is not None:
    dataset = dataset.map_with_index(shift_blur_draw)
  dataset = (
      dataset
      # Blocks of this process's batch size; global batch k is blocks
      # k*P ... k*P + P - 1, and block k*P + p belongs to process p.
      .batch(per_process, drop_remainder=True, batch_fn=list)
  )
  # Only this process's blocks are read: the slice comes before the reads.
  dataset = dataset[start_step * process_count + process_index ::
                    process_count]
  return dataset.map(_ReadCrops(split.reader, crop_size))


def create_train_dataset(
    data_config: ml_collections.ConfigDict,
    *,
    seed: int,
    global_batch_size: int,
    start_step: int = 0,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Iterator[Batch]:
  """An endless iterator over this process's part of each training batch.

  Args:
    data_config: ``config.data`` (see the module docstring).
    seed: global seed; shuffling and augmentation derive from it.
    global_batch_size: G, examples per step over all processes.
    start_step: the first batch is that of this step, so a resumed run sees
      exactly the batches an uninterrupted run would.
    process_index: this process, default `jax.process_index()`.
    process_count: number of processes, default `jax.process_count()`.

  Returns:
    Iterator of {'blurry': (b, c, c, 3), 'sharp': (b, 7, c, c, 3)} uint8
    NumPy batches, b = G / process_count, c = ``crop_size``.

  Raises:
    ValueError: a bad batch size, process split, crop size or dataset.
  """
  dataset = train_dataset(
      data_config,
      seed=seed,
      global_batch_size=global_batch_size,
      start_step=start_step,
      process_index=process_index,
      process_count=process_count,
  )
  iter_dataset = dataset.to_iter_dataset(
      grain.ReadOptions(
          num_threads=_NUM_READ_THREADS, prefetch_buffer_size=_PREFETCH_BATCHES
      )
  )
  worker_count = int(_get(data_config, 'worker_count', 0))
  if worker_count < 0:
    raise ValueError(
        f'config.data.worker_count must be >= 0, got {worker_count}.'
    )
  if worker_count:
    # grain's worker processes read absl flags, which only `app.run`
    # parses; outside it (tests, notebooks) their defaults are what we want.
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    iter_dataset = iter_dataset.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=worker_count)
    )
  return iter(iter_dataset)


def eval_dataset(
    data_config: ml_collections.ConfigDict, *, batch_size: int
) -> grain.MapDataset:
  """Evaluation batches as a grain `MapDataset` (``len`` and indexing work).

  Args:
    data_config: ``config.data``.
    batch_size: examples per batch; the last batch may be smaller.

  Returns:
    MapDataset of {'blurry': (b, H, W, 3), 'sharp': (b, T, H, W, 3) uint8,
    'sequence': (b,) str, 'frame_indices': (b, M) int32}, in the split's
    stored order (sequence, then frame), no augmentation; with
    ``num_eval_examples`` N, the N examples of `spread_over_sequences`.
  """
  batch_size = _positive_int(batch_size, 'The evaluation batch size')
  crop_size = _get(data_config, 'eval_crop_size')
  if crop_size is not None:
    crop_size = _positive_int(crop_size, 'config.data.eval_crop_size')
  num_examples = _get(data_config, 'num_eval_examples')
  if num_examples is not None:
    num_examples = _positive_int(num_examples, 'config.data.num_eval_examples')
  split = _data_source(data_config, data_config.eval_split)
  if crop_size is not None:
    _check_crop(crop_size, split, 'eval_crop_size')
  dataset = grain.MapDataset.source(split.records)
  if num_examples is not None:
    sequences = [r['sequence'] for r in split.records]
    dataset = grain.MapDataset.source(_Subset(
        split.records, spread_over_sequences(sequences, num_examples)))
  return dataset.map(_EvalPrepare(split.reader, crop_size)).batch(
      batch_size, drop_remainder=False, batch_fn=_stack_eval
  )


def create_eval_dataset(
    data_config: ml_collections.ConfigDict, *, batch_size: int
) -> Iterable[Batch]:
  """Re-iterable evaluation batches: full frames or centre crops, fixed order.

  Args:
    data_config: ``config.data`` (see the module docstring).
    batch_size: examples per batch; the last batch may be smaller. Use 1 for
      full frames of varying sizes.

  Returns:
    An iterable (each ``iter()`` starts again from the first batch) of
    {'blurry': (b, H, W, 3), 'sharp': (b, T, H, W, 3) uint8, 'sequence': (b,)
    str, 'frame_indices': (b, M) int32}; T = 7, or 1 for middle-frame pairs.
  """
  return eval_dataset(data_config, batch_size=batch_size).to_iter_dataset(
      grain.ReadOptions(
          num_threads=_NUM_READ_THREADS, prefetch_buffer_size=_PREFETCH_BATCHES
      )
  )


def to_global_batch(
    batch: dict[str, np.ndarray], sharding: jax.sharding.NamedSharding
) -> dict[str, jax.Array]:
  """Assembles every process's local rows into global arrays.

  Args:
    batch: this process's batch (e.g. from `create_train_dataset`).
    sharding: sharding of the global batch, leading axis over the data axis.

  Returns:
    The numeric entries as global `jax.Array`s; text entries (provenance such
    as 'sequence') stay on the host and are left out.
  """
  return {
      key: jax.make_array_from_process_local_data(sharding, value)
      for key, value in batch.items()
      if np.asarray(value).dtype.kind in 'biuf'
  }
