r"""Throughput of the training input pipeline, in examples per second.

  python benchmarks/input_pipeline.py                 # synthetic_motion/default
  python benchmarks/input_pipeline.py --tiny          # seconds, for tests
  python benchmarks/input_pipeline.py --worker_count=2 --data_dir=/tmp/tfds

Builds the data set first if needed (and reports how long that took), warms
the pipeline up, then times several runs of ``--num_batches`` batches and
prints the median examples/s (and every run's). Only the pipeline runs: no
device transfer, no training step.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence

from absl import app
from absl import flags

from cbl_jax.data import pipeline

_TINY = flags.DEFINE_bool(
    'tiny', False, 'Use synthetic_motion/tiny with 16x16 crops and few'
    ' batches, for a quick test.'
)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'TFDS data dir (default: TFDS_DATA_DIR or'
    ' ~/tensorflow_datasets).'
)
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 4, 'Global batch size.')
_CROP_SIZE = flags.DEFINE_integer(
    'crop_size', None, 'Crop side (default: 128, or 16 with --tiny).'
)
_WORKER_COUNT = flags.DEFINE_integer(
    'worker_count', 0, 'grain worker processes (0: in-process).'
)
_NUM_BATCHES = flags.DEFINE_integer(
    'num_batches', None, 'Batches per timed run (default: 200, or 5 with'
    ' --tiny).'
)
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed runs.')
_WARMUP = flags.DEFINE_integer(
    'warmup', None, 'Batches taken before timing (default: 20, or 2 with'
    ' --tiny).'
)


def _default(flag, normal, tiny):
  if flag.value is not None:
    return flag.value
  return tiny if _TINY.value else normal


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  crop_size = _default(_CROP_SIZE, 128, 16)
  num_batches = _default(_NUM_BATCHES, 200, 5)
  warmup = _default(_WARMUP, 20, 2)
  import ml_collections  # pylint: disable=g-import-not-at-top

  data_config = ml_collections.ConfigDict(dict(
      name='synthetic_motion',
      builder_config='tiny' if _TINY.value else 'default',
      data_dir=_DATA_DIR.value,
      manual_dir=None,
      train_split='train',
      eval_split='test',
      crop_size=crop_size,
      random_flip=True,
      random_time_reverse=True,
      eval_crop_size=None,
      num_eval_examples=None,
      worker_count=_WORKER_COUNT.value,
  ))

  start = time.perf_counter()
  pipeline.get_builder(data_config)
  build_seconds = time.perf_counter() - start

  start = time.perf_counter()
  batches = pipeline.create_train_dataset(
      data_config, seed=0, global_batch_size=_BATCH_SIZE.value)
  for _ in range(warmup):
    next(batches)
  warmup_seconds = time.perf_counter() - start

  rates = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    for _ in range(num_batches):
      next(batches)
    rates.append(num_batches * _BATCH_SIZE.value /
                 (time.perf_counter() - start))
  result = {
      'dataset': f'synthetic_motion/{data_config.builder_config}',
      'batch_size': _BATCH_SIZE.value,
      'crop_size': crop_size,
      'worker_count': _WORKER_COUNT.value,
      'examples_per_second_median': round(statistics.median(rates), 1),
      'examples_per_second_runs': [round(r, 1) for r in rates],
      'batches_per_run': num_batches,
      'warmup_seconds': round(warmup_seconds, 2),
      'build_or_open_seconds': round(build_seconds, 2),
  }
  print(f'{result["examples_per_second_median"]} examples/s (median of'
        f' {_REPEATS.value} runs of {num_batches} batches of'
        f' {_BATCH_SIZE.value}, {crop_size}x{crop_size} crops,'
        f' {_WORKER_COUNT.value} workers)')
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
