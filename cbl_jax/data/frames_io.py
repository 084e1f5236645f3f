"""Reading and encoding frames for the dataset builders.

The builders decode the source frames (PNG, JPEG, video) once and store the
pixels in `frame_store`; `encode_png` and `decode_image` serve the renderer
of the synthetic data and tests. Errors here are one line and name the file,
because they surface from deep inside `download_and_prepare`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import os
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

# Pillow's fastest zlib level: the stored datasets are written once per build,
# and level 1 encodes several times faster than the default 6 for ~10% more
# bytes.
_PNG_COMPRESS_LEVEL = 1


def encode_png(image: np.ndarray) -> bytes:
  """Losslessly encodes an (H, W, 3) uint8 image as PNG bytes."""
  buffer = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(image)).save(
      buffer, format='PNG', compress_level=_PNG_COMPRESS_LEVEL
  )
  return buffer.getvalue()


def decode_image(data: bytes) -> np.ndarray:
  """Decodes PNG/JPEG bytes to an (H, W, 3) uint8 RGB array."""
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(image.convert('RGB'))


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
  """Reads an image file (PNG, JPEG, ...) as (H, W, 3) uint8 RGB.

  Args:
    path: image file.

  Returns:
    The pixels.

  Raises:
    ValueError: the file cannot be read or decoded; the message names it.
  """
  path = os.fspath(path)
  try:
    with open(path, 'rb') as f:
      data = f.read()
    with Image.open(io.BytesIO(data)) as image:
      return np.asarray(image.convert('RGB'))
  except Image.UnidentifiedImageError as e:
    raise ValueError(
        f'Cannot read image {path}: not an image file Pillow can decode.'
    ) from e
  except (OSError, ValueError, SyntaxError) as e:
    # Pillow reports truncated files as OSError, bad headers as SyntaxError.
    raise ValueError(f'Cannot read image {path}: {e}') from e


def read_images(paths: Sequence[str | os.PathLike[str]]) -> list[np.ndarray]:
  """`read_image` of several files, decoded concurrently.

  Pillow releases the GIL while it inflates a PNG, so a window's frames
  decode on all cores (a 1280x720 GoPro PNG takes about 30 ms on one).

  Args:
    paths: image files.

  Returns:
    Their pixels, in the order of ``paths``.

  Raises:
    ValueError: as `read_image`, for the first unreadable file.
  """
  if len(paths) < 2:
    return [read_image(path) for path in paths]
  return list(_decode_pool().map(read_image, paths))


@functools.cache
def _decode_pool() -> concurrent.futures.ThreadPoolExecutor:
  return concurrent.futures.ThreadPoolExecutor(
      max_workers=min(8, os.cpu_count() or 1),
      thread_name_prefix='frames_io')


def check_same_size(frames: Sequence[np.ndarray], names: Sequence[str]) -> None:
  """Raises a one-line ValueError naming frames whose size differs.

  Args:
    frames: images of one window.
    names: file names (or frame numbers) for the message, same order.
  """
  first = frames[0].shape
  for frame, name in zip(frames, names):
    if frame.shape != first:
      raise ValueError(
          f'Frames of one window differ in size: {names[0]} is'
          f' {first[1]}x{first[0]} but {name} is'
          f' {frame.shape[1]}x{frame.shape[0]}.'
      )


def iter_video_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
  """Decodes a video file frame by frame with PyAV, as (H, W, 3) uint8 RGB.

  Frames are yielded in decoding (presentation) order; rotation metadata is
  not applied.

  Args:
    path: video file (e.g. .MOV or .mp4).

  Yields:
    RGB frames.

  Raises:
    ValueError: the file cannot be opened or decoded; the message names it.
  """
  import av  # Only the DVD original-video builder needs PyAV.

  path = os.fspath(path)
  try:
    container = av.open(path)
  except (OSError, av.error.FFmpegError) as e:
    raise ValueError(f'Cannot read video {path}: {e}') from e
  with container:
    if not container.streams.video:
      raise ValueError(f'Cannot read video {path}: it has no video stream.')
    try:
      for frame in container.decode(video=0):
        yield frame.to_ndarray(format='rgb24')
    except av.error.FFmpegError as e:
      raise ValueError(f'Cannot decode video {path}: {e}') from e
