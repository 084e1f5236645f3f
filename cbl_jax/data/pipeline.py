"""Input pipeline: grain over `tfds.data_source` of the builders' ArrayRecords.

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
* ``num_eval_examples``: None for the whole split, else its first N examples.
* ``worker_count``: grain worker processes, 0 to read in this process.

Training stream. The split is shuffled with a fresh permutation every epoch
and repeated forever; element i of that stream gets its own augmentation,
drawn from a Generator seeded by (seed, i). Global batch k is stream
elements ``[k * G, (k + 1) * G)`` (G the global batch size), and process p of
P gets rows ``[p * G / P, (p + 1) * G / P)`` of it: the process-local blocks,
concatenated in process order, are the single-process global batch, which is
the layout `jax.make_array_from_process_local_data` expects for a batch axis
sharded over devices in process order (as `jax.make_mesh` orders them). Each
process reads and decodes only its own rows. Everything is index arithmetic
on a grain `MapDataset`, so starting at step s yields exactly batches s, s+1,
... of a run started at step 0.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import grain
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from absl import flags

DATASETS = ('synthetic_motion', 'gopro', 'dvd')

Batch = dict[str, np.ndarray]

# Threads decoding examples in each process. PNG/JPEG decoding releases the
# GIL, so a few threads overlap it; more only add contention on small hosts.
_NUM_READ_THREADS = min(4, os.cpu_count() or 1)
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
    The builder, ready for `as_data_source`.

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


def _data_source(data_config: ml_collections.ConfigDict, split: str):
  builder = get_builder(data_config)
  if split not in builder.info.splits:
    raise ValueError(
        f'Split {split!r} is not in {builder.name}/{data_config.builder_config};'
        f' set config.data.train_split/eval_split to one of'
        f' {", ".join(builder.info.splits)}.'
    )
  source = builder.as_data_source(split=split)
  if not len(source):
    raise ValueError(f'Split {split!r} of {builder.name} is empty.')
  return source


def _frames(example: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
  """(blurry (H, W, 3), sharp (T, H, W, 3)) from a decoded TFDS example."""
  # TFDS decodes a Sequence of images to a list of frames.
  return np.asarray(example['blurry']), np.stack(example['sharp'])


def _check_crop(size: int, example: dict[str, Any], field: str) -> None:
  height, width = np.asarray(example['blurry']).shape[:2]
  if size > min(height, width):
    sequence = example.get('sequence', b'')
    if isinstance(sequence, bytes):
      sequence = sequence.decode()
    raise ValueError(
        f'config.data.{field}={size} is larger than the {width}x{height}'
        f' frames of {sequence!r}; set it to at most {min(height, width)}.'
    )


@dataclasses.dataclass(frozen=True)
class _TrainAugment:
  """Random crop, flips and time reversal, the same for blurry and frames.

  Attributes:
    crop_size: side of the square crop.
    random_flip: flip left-right and up-down, each with probability 1/2.
    random_time_reverse: reverse the frame order with probability 1/2.
  """

  crop_size: int
  random_flip: bool
  random_time_reverse: bool

  def __call__(self, example: dict[str, Any], rng: np.random.Generator) -> Batch:
    blurry, sharp = _frames(example)
    _check_crop(self.crop_size, example, 'crop_size')
    height, width = blurry.shape[:2]
    # Always draw all five numbers, so that switching a flag off leaves the
    # crops of the other examples unchanged.
    top = rng.integers(0, height - self.crop_size + 1)
    left = rng.integers(0, width - self.crop_size + 1)
    flip_lr, flip_ud, reverse = rng.uniform(size=3) < 0.5
    rows = slice(top, top + self.crop_size)
    cols = slice(left, left + self.crop_size)
    blurry, sharp = blurry[rows, cols], sharp[:, rows, cols]
    if self.random_flip and flip_lr:
      blurry, sharp = blurry[:, ::-1], sharp[:, :, ::-1]
    if self.random_flip and flip_ud:
      blurry, sharp = blurry[::-1], sharp[:, ::-1]
    if self.random_time_reverse and reverse:
      sharp = sharp[::-1]
    return {
        'blurry': np.ascontiguousarray(blurry),
        'sharp': np.ascontiguousarray(sharp),
    }


@dataclasses.dataclass(frozen=True)
class _EvalPrepare:
  """Full frames, or a fixed centre crop; keeps the provenance fields."""

  crop_size: int | None

  def __call__(self, example: dict[str, Any]) -> dict[str, Any]:
    blurry, sharp = _frames(example)
    if self.crop_size is not None:
      _check_crop(self.crop_size, example, 'eval_crop_size')
      height, width = blurry.shape[:2]
      top = (height - self.crop_size) // 2
      left = (width - self.crop_size) // 2
      rows = slice(top, top + self.crop_size)
      cols = slice(left, left + self.crop_size)
      blurry, sharp = blurry[rows, cols], sharp[:, rows, cols]
    sequence = example['sequence']
    return {
        'blurry': np.ascontiguousarray(blurry),
        'sharp': np.ascontiguousarray(sharp),
        'sequence': sequence.decode() if isinstance(sequence, bytes) else sequence,
        'frame_indices': np.asarray(example['frame_indices'], np.int32),
    }


def _stack_eval(examples: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
  """Batches eval examples, with a clear error when frame sizes differ."""
  shapes = {e['blurry'].shape for e in examples}
  if len(shapes) > 1:
    raise ValueError(
        f'Evaluation examples of different sizes {sorted(shapes)} cannot share'
        ' a batch; use an evaluation batch size of 1 or set'
        ' config.data.eval_crop_size.'
    )
  return {key: np.stack([e[key] for e in examples]) for key in examples[0]}


def _positive_int(value: Any, field: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (
      value < 1):
    raise ValueError(f'{field} must be a positive integer, got {value!r}.')
  return int(value)


def _split_seeds(seed: int) -> tuple[int, int]:
  """Independent 32-bit seeds for the shuffle and the augmentations."""
  shuffle_seed, augment_seed = np.random.SeedSequence(seed).generate_state(2)
  return int(shuffle_seed), int(augment_seed)


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

  source = _data_source(data_config, data_config.train_split)
  _check_crop(crop_size, source[0], 'crop_size')  # Fail now, not in a worker.
  shuffle_seed, augment_seed = _split_seeds(seed)
  augment = _TrainAugment(
      crop_size=crop_size,
      random_flip=bool(data_config.random_flip),
      random_time_reverse=bool(data_config.random_time_reverse),
  )
  dataset = (
      grain.MapDataset.source(source)
      .shuffle(seed=shuffle_seed)  # A new permutation every epoch.
      .repeat()
      .random_map(augment, seed=augment_seed)
      # Blocks of this process's batch size; global batch k is blocks
      # k*P ... k*P + P - 1, and block k*P + p belongs to process p.
      .batch(per_process, drop_remainder=True)
  )
  return dataset[start_step * process_count + process_index :: process_count]


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
    stored order (sequence, then frame), no augmentation.
  """
  batch_size = _positive_int(batch_size, 'The evaluation batch size')
  crop_size = _get(data_config, 'eval_crop_size')
  if crop_size is not None:
    crop_size = _positive_int(crop_size, 'config.data.eval_crop_size')
  num_examples = _get(data_config, 'num_eval_examples')
  if num_examples is not None:
    num_examples = _positive_int(num_examples, 'config.data.num_eval_examples')
  source = _data_source(data_config, data_config.eval_split)
  if crop_size is not None:
    _check_crop(crop_size, source[0], 'eval_crop_size')
  dataset = grain.MapDataset.source(source)
  if num_examples is not None:
    dataset = dataset[:num_examples]
  return dataset.map(_EvalPrepare(crop_size)).batch(
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
