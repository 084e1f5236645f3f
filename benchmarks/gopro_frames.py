"""GoPro-like frames made from the real GoPro images, for the benchmarks.

`moving_frames` moves one real 1280x720 GoPro frame along a straight path a
few pixels per frame (a hand-held camera at 240 fps) and gives every frame
its own sensor noise, so that consecutive frames differ as real ones do and
their PNG files weigh what real GoPro frames weigh. `make_gopro_tree` writes
such sequences in the layout of ``GOPRO_Large_all``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Sensor noise of the frames (grey levels, standard deviation): with it, a
# 1280x720 frame made from shared/data/real/gopro weighs about what the real
# frames do as PNG (1.1 to 1.6 MB).
NOISE = 1.0
# Frames of the one test sequence of a generated tree (2 windows).
TEST_FRAMES = 14


def moving_frames(base, count: int, size: tuple[int, int], rng):
  """Yields ``count`` frames of ``base`` moving as a hand-held 240 fps camera.

  A straight path of 1 to 3 px per frame, on a mirrored canvas large enough
  for the whole sequence, and independent sensor noise in every frame.

  Args:
    base: (H, W, 3) uint8 image.
    count: frames to make.
    size: (width, height) of the frames.
    rng: a NumPy Generator (path and noise).

  Yields:
    (height, width, 3) uint8 frames.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  width, height = size
  angle = rng.uniform(0, 2 * np.pi)
  speed = rng.uniform(1.0, 3.0)
  reach = int(np.ceil(speed * count)) + 1
  reps = (-(-(height + 2 * reach) // base.shape[0]),
          -(-(width + 2 * reach) // base.shape[1]), 1)
  canvas = np.tile(base, reps)
  for i in range(count):
    dy = reach + int(round(i * speed * np.sin(angle)))
    dx = reach + int(round(i * speed * np.cos(angle)))
    frame = canvas[dy:dy + height, dx:dx + width].astype(np.float32)
    frame += rng.normal(0.0, NOISE, frame.shape).astype(np.float32)
    yield np.clip(np.round(frame), 0, 255).astype(np.uint8)


def real_gopro_frames(folder: str | None = None) -> list[str]:
  """The real GoPro frames (``*_sharp1.png``) to make frames from."""
  folder = folder or os.path.join(os.path.dirname(_REPO), 'shared', 'data',
                                  'real', 'gopro')
  if not os.path.isdir(folder):
    return []
  return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                if name.endswith('_sharp1.png'))


def make_gopro_tree(root: str, images: Sequence[str], *, num_sequences: int,
                    num_frames: int, size: tuple[int, int],
                    seed: int = 0) -> dict:
  """Writes ``root/GOPRO_Large_all/{train,test}/<SEQ>/<6-digit>.png``.

  Args:
    root: the manual dir to write.
    images: real frames to move (cycled over the sequences).
    num_sequences: training sequences (one more goes to 'test').
    num_frames: frames of each training sequence.
    size: (width, height) of the frames.
    seed: noise and path seed.

  Returns:
    {'frames': frames written, 'png_bytes': their total size}.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(seed)
  sequences = [('train', f'GOPR{i:04d}_07_00', num_frames)
               for i in range(num_sequences)]
  sequences.append(('test', f'GOPR{num_sequences:04d}_11_00', TEST_FRAMES))
  frames = png_bytes = 0
  for number, (split, name, count) in enumerate(sequences):
    with Image.open(images[number % len(images)]) as image:
      base = np.asarray(image.convert('RGB'))
    folder = os.path.join(root, 'GOPRO_Large_all', split, name)
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(moving_frames(base, count, size, rng)):
      path = os.path.join(folder, f'{47 + i:06d}.png')
      Image.fromarray(frame).save(path)  # Pillow's default, like the release.
      frames += 1
      png_bytes += os.path.getsize(path)
  return {'frames': frames, 'png_bytes': png_bytes}
