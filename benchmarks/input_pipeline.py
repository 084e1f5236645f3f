r"""Throughput of the training input pipeline, in examples per second.

  python benchmarks/input_pipeline.py                 # synthetic_motion/default
  python benchmarks/input_pipeline.py --tiny          # seconds, for tests
  python benchmarks/input_pipeline.py --worker_count=2 --data_dir=/tmp/tfds
  python benchmarks/input_pipeline.py --gopro --crop_size=256 --worker_count=2
  python benchmarks/input_pipeline.py --builder_config=large --shift_blur_prob=0.5

Builds the data set first if needed (and reports how long that took), warms
the pipeline up, then times several runs of ``--num_batches`` batches and
prints the median examples/s (and every run's), and the peak resident memory
of the pipeline's processes (this one and its grain workers). Only the
pipeline runs: no device transfer, no training step.

``--gopro`` times the real GoPro path at full resolution. It writes a tree in
the layout of ``GOPRO_Large_all`` (``--gopro_sequences`` training sequences of
``--gopro_frames`` 1280x720 PNG frames, and one test sequence) made from the
real GoPro frames in ``shared/data/real/gopro``: each sequence moves its
image along a straight path a few pixels per frame, and every frame gets its
own sensor noise, so consecutive frames differ as real ones do and the PNG
files weigh what real GoPro frames weigh. It builds that tree with the real
`gopro` builder (`all_frames`) and times `create_train_dataset` with
`configs/gopro.py`'s data config. The tree and the prepared data stay in
``--work_dir`` and are reused by the next run with the same shape;
``--clean`` deletes them at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Sequence

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from benchmarks import gopro_frames

_TINY = flags.DEFINE_bool(
    'tiny', False, 'Use synthetic_motion/tiny with 16x16 crops and few'
    ' batches, for a quick test.'
)
_GOPRO = flags.DEFINE_bool(
    'gopro', False, 'Time the GoPro builder and pipeline on a generated'
    ' GoPro-shaped tree of 1280x720 frames (see the module docstring).'
)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'TFDS data dir (default: TFDS_DATA_DIR or'
    ' ~/tensorflow_datasets; with --gopro: <work_dir>/tfds).'
)
_BUILDER_CONFIG = flags.DEFINE_string(
    'builder_config', 'default', 'synthetic_motion config (ignored with'
    ' --tiny and --gopro).'
)
_SHIFT_BLUR_PROB = flags.DEFINE_float(
    'shift_blur_prob', 0.0, 'Share of examples replaced by shift-blur scenes'
    ' (config.data.shift_blur_prob), whose rendering is then timed too.'
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
_WORK_DIR = flags.DEFINE_string(
    'work_dir', '/tmp/cbl_jax_gopro_benchmark', 'With --gopro: where the'
    ' generated tree (and, without --data_dir, the prepared data) go.'
)
_GOPRO_IMAGES = flags.DEFINE_string(
    'gopro_images', None, 'With --gopro: folder of real 1280x720 GoPro'
    ' frames (*.png) to make the tree from (default:'
    ' ../shared/data/real/gopro beside the repository).'
)
_GOPRO_SEQUENCES = flags.DEFINE_integer(
    'gopro_sequences', 4, 'With --gopro: training sequences to generate.'
)
_GOPRO_FRAMES = flags.DEFINE_integer(
    'gopro_frames', 147, 'With --gopro: frames per training sequence (the'
    ' default makes 84 windows, 1.7 GiB decoded).'
)
_GOPRO_SIZE = flags.DEFINE_string(
    'gopro_size', '1280x720', 'With --gopro: frame size WIDTHxHEIGHT (the'
    " source images are cropped or tiled to it; tests use a small one)."
)
_CLEAN = flags.DEFINE_bool(
    'clean', False, 'With --gopro: delete the generated tree and data at the'
    ' end.'
)



def _default(flag, normal, tiny):
  if flag.value is not None:
    return flag.value
  return tiny if _TINY.value else normal


def _usage(message: str) -> app.UsageError:
  return app.UsageError(message)


def _parse_size(text: str) -> tuple[int, int]:
  try:
    width, height = (int(v) for v in text.lower().split('x'))
  except ValueError:
    raise _usage(f'--gopro_size={text!r} is not WIDTHxHEIGHT, e.g.'
                 ' 1280x720.') from None
  if width < 1 or height < 1:
    raise _usage(f'--gopro_size={text!r} must be positive.')
  return width, height


def _folder_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files)


class _PeakRss:
  """Samples the summed RSS of this process and its children (grain workers)."""

  def __init__(self, interval: float = 0.05):
    import psutil  # pylint: disable=g-import-not-at-top
    self._process = psutil.Process()
    self._psutil = psutil
    self._interval = interval
    self._stop = threading.Event()
    self.peak = 0
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _sample(self) -> int:
    total = 0
    for process in [self._process] + self._process.children(recursive=True):
      try:
        total += process.memory_info().rss
      except self._psutil.Error:
        pass  # A worker that just exited.
    return total

  def _run(self):
    while not self._stop.is_set():
      self.peak = max(self.peak, self._sample())
      self._stop.wait(self._interval)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self.peak = max(self.peak, self._sample())
    self._stop.set()
    self._thread.join()


def _time_eval(data_config, passes: int = 5) -> float:
  """Median ms to read one full-resolution evaluation example (8 images)."""
  from cbl_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  batches = pipeline.create_eval_dataset(data_config, batch_size=1)
  times = []
  for _ in range(passes):
    start = time.perf_counter()
    count = sum(1 for _ in batches)
    times.append((time.perf_counter() - start) / count * 1e3)
  return round(statistics.median(times), 1)


def _gopro_config(data_dir: str, manual_dir: str, crop_size: int):
  """configs/gopro.py's data config, pointed at the generated tree."""
  from configs import gopro  # pylint: disable=g-import-not-at-top
  data_config = gopro.get_config().data
  data_config.data_dir = data_dir
  data_config.manual_dir = manual_dir
  data_config.crop_size = crop_size
  data_config.worker_count = _WORKER_COUNT.value
  return data_config


def _prepare_gopro(crop_size: int):
  """Makes (or reuses) the GoPro-shaped tree; returns (config, facts)."""
  size = _parse_size(_GOPRO_SIZE.value)
  if _GOPRO_SEQUENCES.value < 1 or _GOPRO_FRAMES.value < 7:
    raise _usage('--gopro_sequences must be >= 1 and --gopro_frames >= 7.')
  images = gopro_frames.real_gopro_frames(_GOPRO_IMAGES.value)
  if not images:
    raise _usage(f'No *_sharp1.png GoPro frames in'
                 f' {_GOPRO_IMAGES.value or "../shared/data/real/gopro"}; set'
                 ' --gopro_images.')
  shape = {'sequences': _GOPRO_SEQUENCES.value,
           'frames': _GOPRO_FRAMES.value, 'size': list(size),
           'images': [os.path.basename(p) for p in images],
           'noise': gopro_frames.NOISE}
  manual_dir = os.path.join(_WORK_DIR.value, 'manual')
  stamp = os.path.join(_WORK_DIR.value, 'tree.json')
  tree = None
  if os.path.exists(stamp):
    with open(stamp) as f:
      tree = json.load(f)
    if tree.get('shape') != shape:
      shutil.rmtree(_WORK_DIR.value)  # Another shape: make it again.
      tree = None
  if tree is None:
    os.makedirs(_WORK_DIR.value, exist_ok=True)
    start = time.perf_counter()
    made = gopro_frames.make_gopro_tree(manual_dir, images,
                           num_sequences=_GOPRO_SEQUENCES.value,
                           num_frames=_GOPRO_FRAMES.value, size=size)
    tree = {'shape': shape, **made,
            'seconds': round(time.perf_counter() - start, 1)}
    with open(stamp, 'w') as f:
      json.dump(tree, f)
  data_dir = _DATA_DIR.value or os.path.join(_WORK_DIR.value, 'tfds')
  return _gopro_config(data_dir, manual_dir, crop_size), tree


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if _TINY.value and _GOPRO.value:
    raise app.UsageError('--tiny and --gopro exclude each other.')
  crop_size = _default(_CROP_SIZE, 128, 16)
  num_batches = _default(_NUM_BATCHES, 200, 5)
  warmup = _default(_WARMUP, 20, 2)
  import ml_collections  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from cbl_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  tfds.disable_progress_bar()

  tree = None
  if _GOPRO.value:
    data_config, tree = _prepare_gopro(crop_size)
  else:
    data_config = ml_collections.ConfigDict(dict(
        name='synthetic_motion',
        builder_config='tiny' if _TINY.value else _BUILDER_CONFIG.value,
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

  data_config.shift_blur_prob = _SHIFT_BLUR_PROB.value
  start = time.perf_counter()
  try:
    pipeline.check_shift_blur(data_config)
    builder = pipeline.get_builder(data_config)
  except ValueError as error:  # A flag the data cannot take: one line.
    raise _usage(str(error)) from None
  build_seconds = time.perf_counter() - start

  with _PeakRss() as memory:
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
    del batches
  result = {
      'dataset': f'{data_config.name}/{data_config.builder_config}',
      'batch_size': _BATCH_SIZE.value,
      'crop_size': crop_size,
      'worker_count': _WORKER_COUNT.value,
      'shift_blur_prob': _SHIFT_BLUR_PROB.value,
      'examples_per_second_median': round(statistics.median(rates), 1),
      'examples_per_second_runs': [round(r, 1) for r in rates],
      'batches_per_run': num_batches,
      'warmup_seconds': round(warmup_seconds, 2),
      'build_or_open_seconds': round(build_seconds, 2),
      'peak_rss_mib': round(memory.peak / 2**20, 1),
      'load_average': [round(v, 2) for v in os.getloadavg()],
  }
  if tree is not None:
    result['eval_full_example_ms'] = _time_eval(data_config)
    info = builder.info.splits
    windows = sum(s.num_examples for s in info.values())
    window = 7  # configs/gopro.py's all_frames: 7 frames per window.
    stored = _folder_bytes(builder.data_dir)
    frame_pixels = 3 * tree['shape']['size'][0] * tree['shape']['size'][1]
    result.update({
        'source_frames': tree['frames'],
        'source_png_bytes_per_frame': round(tree['png_bytes'] /
                                            tree['frames']),
        'train_windows': info['train'].num_examples,
        'train_decoded_gib': round(info['train'].num_examples *
                                   (window + 1) * frame_pixels / 2**30, 2),
        'stored_bytes': stored,
        # Per source frame in a window: what the data set costs on disk for
        # each frame of the download it was built from.
        'stored_bytes_per_frame': round(stored / (windows * window)),
    })
  print(f'{result["examples_per_second_median"]} examples/s (median of'
        f' {_REPEATS.value} runs of {num_batches} batches of'
        f' {_BATCH_SIZE.value}, {crop_size}x{crop_size} crops,'
        f' {_WORKER_COUNT.value} workers), peak RSS'
        f' {result["peak_rss_mib"]} MiB')
  print(json.dumps(result))
  if _GOPRO.value and _CLEAN.value:
    shutil.rmtree(_WORK_DIR.value, ignore_errors=True)
    if _DATA_DIR.value:
      shutil.rmtree(builder.data_dir, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
