r"""The frame store's layout options, measured: chunk side and compression.

  python benchmarks/frame_store.py                  # GoPro-like 1280x720
  python benchmarks/frame_store.py --tiny           # seconds, for tests

Writes ``--windows`` GoPro-like examples (8 images of 1280x720: real GoPro
frames from ``shared/data/real/gopro``, moving and with sensor noise, as the
``--gopro`` mode of `benchmarks/input_pipeline.py` makes them) with each
combination of inner chunk side and compression, then reads random crops
from them in batches of ``--batch`` concurrent reads (what the training
pipeline does). For each it prints the bytes per image, the CPU time of
writing an example, and the CPU time per example of reading 128 and 256
crops, of a tiny 8x8 crop (the fixed cost of a read) and of whole examples
(evaluation). CPU time (all threads of this process) is what a busy shared
machine distorts least; on an idle machine of N cores the reads run at about
N / (CPU time per example).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

_TINY = flags.DEFINE_bool('tiny', False, '96x64 frames and 16, 32 crops,'
                          ' for a quick test.')
_WINDOWS = flags.DEFINE_integer('windows', 6, 'Examples written per layout.')
_BATCH = flags.DEFINE_integer('batch', 32, 'Reads issued at once.')
_READS = flags.DEFINE_integer('reads', 256, 'Crops read per measurement.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Measurements (median kept).')
_CACHE_BYTES = flags.DEFINE_integer(
    'cache_bytes', 0, "The reader's tensorstore cache. 0: every read"
    " decompresses, as training's random reads over a data set much larger"
    " than any cache do.")
_CHUNKS = flags.DEFINE_list('chunks', ['32', '64', '128'], 'Chunk sides.')
_CODECS = flags.DEFINE_list(
    'codecs', ['raw', 'zstd1', 'zstd3', 'lz4', 'lz4_bitshuffle',
               'zstd1_bitshuffle'], 'Compressions.')

_CODEC_SPECS = {
    'raw': None,
    'zstd1': {'name': 'zstd', 'configuration': {'level': 1}},
    'zstd3': {'name': 'zstd', 'configuration': {'level': 3}},
    'lz4': {'name': 'blosc', 'configuration': {
        'cname': 'lz4', 'clevel': 5, 'shuffle': 'noshuffle', 'typesize': 1}},
    'lz4_bitshuffle': {'name': 'blosc', 'configuration': {
        'cname': 'lz4', 'clevel': 5, 'shuffle': 'bitshuffle', 'typesize': 1}},
    'zstd1_bitshuffle': {'name': 'blosc', 'configuration': {
        'cname': 'zstd', 'clevel': 1, 'shuffle': 'bitshuffle',
        'typesize': 1}},
}


def _cpu_ms_per(count: int, fn) -> float:
  start = time.process_time()
  fn()
  return (time.process_time() - start) / count * 1e3


def _examples(num: int, size: tuple[int, int]):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from benchmarks import gopro_frames  # pylint: disable=g-import-not-at-top
  images = gopro_frames.real_gopro_frames()
  if not images:
    raise app.UsageError('No real GoPro frames in ../shared/data/real/gopro.')
  rng = np.random.default_rng(0)
  with Image.open(images[0]) as image:
    base = np.asarray(image.convert('RGB'))
  frames = list(gopro_frames.moving_frames(base, 7 * num, size, rng))
  examples = []
  for i in range(num):
    window = np.stack(frames[7 * i:7 * i + 7])
    blurry = np.round(window.mean(0)).astype(np.uint8)
    examples.append(np.concatenate([blurry[None], window]))
  return examples


def _measure(root: str, chunk: int, codec: str, examples, crops: Sequence[int],
             reads: int, batch: int) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cbl_jax.data import frame_store  # pylint: disable=g-import-not-at-top

  shutil.rmtree(root, ignore_errors=True)
  _, height, width, _ = examples[0].shape

  def write():
    with frame_store.Writer(root, 'train', chunk=chunk,
                            compression=_CODEC_SPECS[codec]) as writer:
      for images in examples:
        writer.add(images)

  write_ms = _cpu_ms_per(len(examples), write)
  stored = sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(root) for f in files)
  name = frame_store.array_name('train', height, width)
  result = {
      'chunk': chunk, 'codec': codec,
      'bytes_per_image': round(stored / (len(examples) * examples[0].shape[0])),
      'write_cpu_ms_per_example': round(write_ms, 1),
  }
  rng = np.random.default_rng(1)
  for crop in list(crops) + [8, None]:
    reader = frame_store.Reader(root, cache_bytes=_CACHE_BYTES.value)
    count = reads if crop else max(4, reads // 32)
    if crop:
      requests = [frame_store.Crop(
          name, int(rng.integers(len(examples))),
          slice(t := int(rng.integers(height - crop + 1)), t + crop),
          slice(l := int(rng.integers(width - crop + 1)), l + crop))
                  for _ in range(count)]
    else:
      requests = [frame_store.Crop(name, i % len(examples))
                  for i in range(count)]
    reader.read_many(requests[:2])  # Open the array.

    def read():
      for start in range(0, count, batch):
        reader.read_many(requests[start:start + batch])

    key = f'read_{crop}_cpu_ms' if crop else 'read_full_cpu_ms'
    result[key] = round(statistics.median(
        _cpu_ms_per(count, read) for _ in range(_REPEATS.value)), 3)
  return result


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  unknown = [c for c in _CODECS.value if c not in _CODEC_SPECS]
  if unknown:
    raise app.UsageError(f'Unknown --codecs {", ".join(unknown)}; choose from'
                         f' {", ".join(_CODEC_SPECS)}.')
  size = (96, 64) if _TINY.value else (1280, 720)
  crops = (16, 32) if _TINY.value else (128, 256)
  examples = _examples(_WINDOWS.value, size)
  reads = _READS.value
  print(f'load average {os.getloadavg()}')
  with tempfile.TemporaryDirectory() as tmp:
    for chunk in (int(c) for c in _CHUNKS.value):
      for codec in _CODECS.value:
        result = _measure(os.path.join(tmp, f'{chunk}_{codec}'), chunk, codec,
                          examples, crops, reads, _BATCH.value)
        print(json.dumps(result), flush=True)
  print(f'load average {os.getloadavg()}')


if __name__ == '__main__':
  app.run(main)
