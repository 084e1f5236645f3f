"""Pieces shared by the TFDS builders in `tfds_builders/`.

The builders themselves live outside the package (TFDS's `tfds build
tfds_builders/<name>` loads them by path), so what they share lives here:
the feature spec every builder writes, finding the manual download, and
turning a window of sharp frames into one example.

Every example is a blurry image and T sharp frames, T = 7 for window data and
T = 1 for the middle-frame pairs of GoPro ``pairs`` and DVD
``quantitative``. Their pixels go, decoded, into the chunked array store of
`frame_store` (``frames/`` in the builder's data dir), so that training reads
a random crop without decoding whole frames; the TFDS record of the example
(ArrayRecord, what grain indexes and shuffles) holds:

* ``sequence``: text, the source sequence or video (and, for synthetic data,
  the photographs used).
* ``frame_indices``: int32 (M,), numbers of the source frames averaged into
  the blurry image (file numbers, decoded frame numbers or sub-frame
  numbers); for pairs, the number of the ground-truth frame.
* ``frames_array``, ``frames_row``, ``frames_size``: where its images are in
  the store, and their (H, W) (see `frame_store`).

`frame_store.data_source` reads whole examples back ({'blurry': (H, W, 3),
'sharp': (T, H, W, 3) uint8, 'sequence', 'frame_indices'}). Builders open a
`frame_writer` per split and turn pixels into records with `stored_example`
or `window_example`.

Storage versions: 1.0.0 kept PNG/JPEG bytes in the records; 2.0.0 keeps the
pixels in the store. TFDS keeps versions in separate folders, so a data set
prepared by 1.0.0 is not read any more: the next `download_and_prepare`
(`python -m cbl_jax.data.build`, or training's first use) prepares 2.0.0 from
the same manual download, and the 1.0.0 folder can then be deleted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from cbl_jax.data import blur
from cbl_jax.data import frame_store
from cbl_jax.data import frames_io


def features(*, num_source_frames: int | None) -> tfds.features.FeaturesDict:
  """The record spec shared by all builders (see the module docstring).

  Args:
    num_source_frames: M, length of ``frame_indices`` (None if it varies).

  Returns:
    The FeaturesDict.
  """
  return tfds.features.FeaturesDict({
      'sequence': tfds.features.Text(),
      'frame_indices': tfds.features.Tensor(
          shape=(num_source_frames,), dtype=np.int32
      ),
      'frames_array': tfds.features.Text(),
      'frames_row': tfds.features.Scalar(dtype=np.int64),
      'frames_size': tfds.features.Tensor(shape=(2,), dtype=np.int32),
  })


def frame_writer(
    builder: tfds.core.DatasetBuilder, split: str
) -> frame_store.Writer:
  """The store writer of ``split``, inside the folder being prepared.

  TFDS prepares a data set in a temporary folder (``builder.data_dir`` while
  `download_and_prepare` runs) and renames it when everything is written, so
  the store appears together with the records, or not at all.

  Args:
    builder: the builder, from inside its example generator.
    split: the split being generated.

  Returns:
    A `frame_store.Writer`; use it as a context manager around the
    generator's loop, so that leaving it completes the split's arrays.
  """
  return frame_store.Writer(frame_store.root(builder.data_dir), split)


def stored_example(
    writer: frame_store.Writer,
    blurry: np.ndarray,
    sharp: np.ndarray,
    *,
    sequence: str,
    frame_indices: Sequence[int],
) -> dict:
  """Writes one example's pixels to the store; returns its record.

  Args:
    writer: the split's writer.
    blurry: (H, W, 3) uint8.
    sharp: (T, H, W, 3) uint8.
    sequence: provenance text.
    frame_indices: the source frame numbers.

  Returns:
    The TFDS record (see `features`).
  """
  images = np.concatenate([np.asarray(blurry)[None], np.asarray(sharp)])
  return {
      'sequence': sequence,
      'frame_indices': np.asarray(frame_indices, dtype=np.int32),
      **writer.add(images),
  }


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
    writer: frame_store.Writer,
    frames: Sequence[np.ndarray],
    *,
    names: Sequence[str],
    frame_indices: Sequence[int],
    sequence: str,
    response: blur.CameraResponse,
) -> dict:
  """One example from a window of M >= 7 consecutive sharp frames.

  Args:
    writer: the split's store writer.
    frames: the M decoded frames, (H, W, 3) uint8 each.
    names: file names or frame labels, for error messages.
    frame_indices: the M source frame numbers.
    sequence: provenance text.
    response: camera response for Eq. 2.

  Returns:
    The example's record; its pixels are in the store.

  Raises:
    ValueError: frames of different sizes (naming them).
  """
  frames_io.check_same_size(frames, names)
  blurry, targets = blur.blur_and_targets(np.stack(frames), response)
  return stored_example(writer, blurry, targets, sequence=sequence,
                        frame_indices=frame_indices)


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
