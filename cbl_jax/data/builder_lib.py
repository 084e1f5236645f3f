"""Pieces shared by the TFDS builders in `tfds_builders/`.

The builders themselves live outside the package (TFDS's `tfds build
tfds_builders/<name>` loads them by path), so what they share lives here:
the feature spec every builder writes, finding the manual download, and
turning a window of sharp frames into one example.

Every example has the same keys:

* ``blurry``: (H, W, 3) uint8 image.
* ``sharp``: (T, H, W, 3) uint8 frames in time order; T = 7 for window data,
  T = 1 for the middle-frame pairs of GoPro ``pairs`` and DVD
  ``quantitative``.
* ``sequence``: text, the source sequence or video (and, for synthetic data,
  the photographs used).
* ``frame_indices``: int32 (M,), numbers of the source frames averaged into
  ``blurry`` (file numbers, decoded frame numbers or sub-frame numbers); for
  pairs, the number of the ground-truth frame.

Images are stored as encoded bytes (see `frames_io`), so neither building nor
reading needs TensorFlow. ``sharp`` is a `tfds.features.Sequence` of images
(what `tfds.features.Video` is, minus Video's TensorFlow import); NumPy
decoding returns it as a list of frames, which the input pipeline stacks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from cbl_jax.data import blur
from cbl_jax.data import frames_io


def features(
    *,
    num_sharp: int,
    num_source_frames: int | None,
    image_shape: tuple[int | None, int | None, int] = (None, None, 3),
    encoding_format: str = 'png',
) -> tfds.features.FeaturesDict:
  """The feature spec shared by all builders (see the module docstring).

  Args:
    num_sharp: T, frames in ``sharp`` (7, or 1 for middle-frame pairs).
    num_source_frames: M, length of ``frame_indices`` (None if it varies).
    image_shape: (H, W, 3); None where sizes vary between examples.
    encoding_format: 'png' or 'jpeg', the encoding of the stored bytes.

  Returns:
    The FeaturesDict.
  """
  image = lambda: tfds.features.Image(
      shape=image_shape, encoding_format=encoding_format
  )
  return tfds.features.FeaturesDict({
      'blurry': image(),
      'sharp': tfds.features.Sequence(image(), length=num_sharp),
      'sequence': tfds.features.Text(),
      'frame_indices': tfds.features.Tensor(
          shape=(num_source_frames,), dtype=np.int32
      ),
  })


def find_manual_subdir(
    dl_manager: tfds.download.DownloadManager,
    subdir: str,
    *,
    layout: str,
    source: str,
) -> epath.Path:
  """Finds ``subdir``: the manual dir itself, a child, or a grandchild of it.

  Accepting these lets users point ``--manual_dir`` at the data folder
  itself or at the folder they unzipped into, whatever top folder the
  archive had.

  Args:
    dl_manager: the builder's download manager.
    subdir: folder name to look for, e.g. 'GOPRO_Large_all'.
    layout: expected layout, for the error message.
    source: where the data comes from, for the error message.

  Returns:
    Path of the folder.

  Raises:
    FileNotFoundError: one line naming the expected layout and the source.
  """
  # dl_manager.manual_dir raises a multi-line AssertionError when the folder
  # is missing or empty; read the configured path instead and check it here.
  manual_dir = epath.Path(dl_manager._manual_dir)  # pylint: disable=protected-access
  hint = (
      f'expected {layout} under --manual_dir={os.fspath(manual_dir)}'
      f' (download: {source})'
  )
  if not manual_dir.is_dir() or not any(manual_dir.iterdir()):
    raise FileNotFoundError(f'Manual dir is missing or empty: {hint}.')
  if manual_dir.name == subdir:
    return manual_dir
  for candidate in [manual_dir / subdir] + sorted(manual_dir.glob(f'*/{subdir}')):
    if candidate.is_dir():
      return candidate
  raise FileNotFoundError(f'No {subdir}/ folder found: {hint}.')


def numbered_files(
    folder: epath.Path, suffixes: Sequence[str]
) -> list[tuple[int, epath.Path]]:
  """Files named ``<digits>.<suffix>`` in ``folder``, sorted by number.

  Args:
    folder: directory to list.
    suffixes: accepted lowercase suffixes, e.g. ('.png',).

  Returns:
    (number, path) pairs in increasing number order; other files are ignored.
  """
  found = []
  for path in folder.iterdir():
    if path.suffix.lower() in suffixes and path.stem.isdigit():
      found.append((int(path.stem), path))
  return sorted(found, key=lambda item: item[0])


def window_example(
    frames: Sequence[np.ndarray],
    frame_bytes: Sequence[bytes] | None,
    *,
    names: Sequence[str],
    frame_indices: Sequence[int],
    sequence: str,
    response: blur.CameraResponse,
) -> dict:
  """One example from a window of M >= 7 consecutive sharp frames.

  Args:
    frames: the M decoded frames, (H, W, 3) uint8 each.
    frame_bytes: their encoded bytes, reused for ``sharp`` when M == 7 so the
      source files are stored as they are; None to encode.
    names: file names or frame labels, for error messages.
    frame_indices: the M source frame numbers.
    sequence: provenance text.
    response: camera response for Eq. 2.

  Returns:
    The example dict, images as PNG bytes.

  Raises:
    ValueError: frames of different sizes (naming them).
  """
  frames_io.check_same_size(frames, names)
  stack = np.stack(frames)
  blurry, targets = blur.blur_and_targets(stack, response)
  if len(frames) == blur.NUM_TARGET_FRAMES and frame_bytes is not None:
    sharp = list(frame_bytes)
  else:
    sharp = [frames_io.encode_png(target) for target in targets]
  return {
      'blurry': frames_io.encode_png(blurry),
      'sharp': sharp,
      'sequence': sequence,
      'frame_indices': np.asarray(frame_indices, dtype=np.int32),
  }


def log_skipped(
    skipped: Sequence[str], window: int, split: str, num_examples: int
) -> None:
  """Logs the sequences too short for one window (counted, then named).

  Args:
    skipped: descriptions of the skipped sequences.
    window: frames per window.
    split: split name.
    num_examples: examples the split got.

  Raises:
    ValueError: the split got no example at all (TFDS would otherwise fail
      with a bare "No examples were yielded").
  """
  if not num_examples:
    raise ValueError(
        f'Split {split!r} has no example: all {len(skipped)} sequence(s) are'
        f' shorter than a window of {window} frames.'
    )
  if skipped:
    logging.warning(
        'Skipped %d sequence(s) of split %r shorter than a window of %d'
        ' frames: %s',
        len(skipped),
        split,
        window,
        ', '.join(skipped),
    )
