"""Blur synthesis from high-frame-rate sharp frames (Eq. 2 of the paper).

Section 3.1 of Niu, Xia and Pan (2021) models a motion-blurred photograph as
the camera response applied to the time average of the sensor signal over the
exposure:

    B = g( (1/M) * sum_{i=0}^{M-1} S[i] )                              (Eq. 2)

The stored frames are pixel codes, i.e. already passed through the response,
so the sensor signal of frame i is ``g^-1(frame_i)``. This module therefore
computes ``B = g(mean_i g^-1(frame_i))`` on uint8 frames and rounds back to
uint8. The response ``g`` is chosen by name:

* ``'linear'``: ``g`` is the identity. This is how GoPro's ``blur`` folder was
  made (Nah et al. 2017: plain pixel averages, see READING-NOTES note 12).
* ``'gamma'``: ``g(x) = x^(1/2.2)`` on [0, 1], i.e. ``g^-1(c) = (c/255)^2.2``.
  This is GoPro's ``blur_gamma`` folder.
* a path to a file holding a table of ``g^-1``: 256 numbers, entry ``c`` being
  the relative sensor signal (irradiance) that produces uint8 code ``c``.
  ``.npy`` files hold a 1-D array; ``.csv`` and ``.txt`` files hold the 256
  numbers separated by commas, whitespace or newlines (``#`` starts a
  comment). The table must be strictly increasing; its scale does not matter.
  ``g`` is its piecewise-linear inverse (``np.interp``).

Rounding: the averaged value is mapped back to a code ``x`` in [0, 255] and
rounded half up, ``floor(x + 1/2)`` (MATLAB's ``uint8()`` on non-negative
values, which is what the GoPro and DVD blur scripts used). For ``'linear'``
this is computed in integers, ``(2 * sum + M) // (2 * M)``, so it is exact;
the other responses use float64.

For windows longer than seven frames, the seven training targets are
sub-averages of seven contiguous groups of frames; see `group_bounds` for the
exact split.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np

# The paper splits every blurry image into seven sharp frames (Section 4.2).
NUM_TARGET_FRAMES = 7

BUILTIN_RESPONSES = ('linear', 'gamma')
GAMMA = 2.2
_TABLE_SUFFIXES = ('.npy', '.csv', '.txt')


@dataclasses.dataclass(frozen=True)
class CameraResponse:
  """A camera response curve ``g`` and its inverse on uint8 codes.

  Attributes:
    name: 'linear', 'gamma' or the path the table was loaded from.
    inverse_table: float64 array of shape (256,), ``g^-1`` of every uint8 code.
    forward: maps sensor signal (same units as ``inverse_table``) to a
      real-valued code in [0, 255], before rounding.
  """

  name: str
  inverse_table: np.ndarray
  forward: Callable[[np.ndarray], np.ndarray]

  def to_signal(self, codes: np.ndarray) -> np.ndarray:
    """Applies ``g^-1`` to uint8 codes by table lookup (float64)."""
    return self.inverse_table[np.asarray(codes, dtype=np.uint8)]

  def to_codes(self, signal: np.ndarray) -> np.ndarray:
    """Applies ``g`` and rounds half up to uint8."""
    codes = np.floor(self.forward(signal) + 0.5)
    return np.clip(codes, 0, 255).astype(np.uint8)


def _linear() -> CameraResponse:
  return CameraResponse(
      name='linear',
      inverse_table=np.arange(256, dtype=np.float64),
      forward=lambda x: np.asarray(x, np.float64),
  )


def _gamma(gamma: float = GAMMA) -> CameraResponse:
  return CameraResponse(
      name='gamma',
      inverse_table=(np.arange(256, dtype=np.float64) / 255.0) ** gamma,
      forward=lambda x: 255.0 * np.clip(x, 0.0, None) ** (1.0 / gamma),
  )


def load_response_table(path: str | os.PathLike[str]) -> CameraResponse:
  """Loads a ``g^-1`` table (256 increasing numbers) from .npy/.csv/.txt.

  Args:
    path: file holding the table, format as in the module docstring.

  Returns:
    The response whose ``g`` is the piecewise-linear inverse of the table.

  Raises:
    ValueError: the file is missing, unreadable or not 256 increasing numbers.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(
        f'Camera response table {path!r} does not exist; give'
        f" {' or '.join(repr(r) for r in BUILTIN_RESPONSES)} or a .npy/.csv/.txt"
        ' file of 256 increasing g^-1 values.'
    )
  try:
    if path.endswith('.npy'):
      table = np.load(path, allow_pickle=False)
    else:
      with open(path) as f:
        text = ' '.join(line.split('#', 1)[0] for line in f)
      table = np.array(text.replace(',', ' ').split(), dtype=np.float64)
  except (OSError, ValueError) as e:
    raise ValueError(f'Cannot read camera response table {path!r}: {e}') from e
  table = np.asarray(table, dtype=np.float64).reshape(-1)
  if table.shape != (256,) or not np.all(np.isfinite(table)):
    raise ValueError(
        f'Camera response table {path!r} has {table.size} values; it needs'
        ' 256 finite numbers, g^-1 of codes 0..255.'
    )
  if np.any(np.diff(table) <= 0):
    raise ValueError(
        f'Camera response table {path!r} is not strictly increasing, so g'
        ' (its inverse) is not defined.'
    )
  codes = np.arange(256, dtype=np.float64)
  return CameraResponse(
      name=path,
      inverse_table=table,
      forward=lambda x: np.interp(x, table, codes),
  )


def get_response(response: str | CameraResponse) -> CameraResponse:
  """Resolves a response name or table path to a `CameraResponse`.

  Args:
    response: 'linear', 'gamma' (2.2), a path to a .npy/.csv/.txt table of
      ``g^-1``, or an already built `CameraResponse`.

  Returns:
    The camera response.

  Raises:
    ValueError: unknown name or bad table file.
  """
  if isinstance(response, CameraResponse):
    return response
  if response == 'linear':
    return _linear()
  if response == 'gamma':
    return _gamma()
  if isinstance(response, (str, os.PathLike)) and os.fspath(
      response
  ).endswith(_TABLE_SUFFIXES):
    return load_response_table(response)
  raise ValueError(
      f'Unknown camera response {response!r}; use'
      f" {' or '.join(repr(r) for r in BUILTIN_RESPONSES)} or a path to a"
      f" {'/'.join(_TABLE_SUFFIXES)} table of 256 g^-1 values."
  )


def _check_frames(frames: np.ndarray) -> np.ndarray:
  frames = np.asarray(frames)
  if frames.dtype != np.uint8:
    raise ValueError(f'Frames must be uint8, got {frames.dtype}.')
  if frames.ndim != 4 or frames.shape[0] < 1:
    raise ValueError(
        f'Frames must have shape (M, H, W, C) with M >= 1, got {frames.shape}.'
    )
  return frames


def synthesize_blur(
    frames: np.ndarray, response: str | CameraResponse = 'linear'
) -> np.ndarray:
  """Makes the blurry image of Eq. 2 from consecutive sharp frames.

  Args:
    frames: uint8 array (M, H, W, C) of consecutive sharp frames, in pixel
      codes (i.e. after the camera response).
    response: camera response ``g``; see `get_response`.

  Returns:
    uint8 array (H, W, C): ``g(mean_i g^-1(frames[i]))`` rounded half up.
  """
  frames = _check_frames(frames)
  response = get_response(response)
  m = frames.shape[0]
  if response.name == 'linear':
    # Integer arithmetic makes the linear case exact, .5 ties included.
    total = frames.sum(axis=0, dtype=np.int64)
    return ((2 * total + m) // (2 * m)).astype(np.uint8)
  signal = response.to_signal(frames).mean(axis=0)
  return response.to_codes(signal)


def group_bounds(
    num_frames: int, num_groups: int = NUM_TARGET_FRAMES
) -> list[tuple[int, int]]:
  """Splits ``num_frames`` frames into contiguous, near-equal groups.

  Group k covers frames ``[b_k, b_{k+1})`` with
  ``b_k = floor(k * num_frames / num_groups + 1/2)``. Sizes differ by at most
  one, and the split is symmetric under time reversal
  (``b_{G-k} = num_frames - b_k``) when ``num_groups`` is odd, so reversing a
  window reverses its targets. For example 7 frames give seven singletons,
  11 give sizes (2, 1, 2, 1, 2, 1, 2) and 13 give (2, 2, 2, 1, 2, 2, 2), whose
  middle group is GoPro's centre ``sharp`` frame.

  Args:
    num_frames: M, the number of sharp frames in the window; at least
      ``num_groups``.
    num_groups: number of groups (7 in the paper).

  Returns:
    ``num_groups`` (start, stop) pairs covering ``range(num_frames)``.

  Raises:
    ValueError: fewer frames than groups.
  """
  if num_groups < 1 or num_frames < num_groups:
    raise ValueError(
        f'Cannot split {num_frames} frames into {num_groups} non-empty groups;'
        f' use windows of at least {num_groups} frames.'
    )
  bounds = [
      (2 * k * num_frames + num_groups) // (2 * num_groups)
      for k in range(num_groups + 1)
  ]
  return list(zip(bounds[:-1], bounds[1:]))


def sub_averages(
    frames: np.ndarray,
    response: str | CameraResponse = 'linear',
    num_groups: int = NUM_TARGET_FRAMES,
) -> np.ndarray:
  """The ``num_groups`` targets of a window of M >= ``num_groups`` frames.

  Target k is Eq. 2 applied to the frames of group k of `group_bounds`, with
  the same response as the blurry image. For M == ``num_groups`` the targets
  are the frames themselves. When M is not a multiple of ``num_groups`` the
  groups differ in size, so the blurry image of all M frames is the size-
  weighted (not the plain) mean of the targets' signals.

  Args:
    frames: uint8 array (M, H, W, C).
    response: camera response; see `get_response`.
    num_groups: number of targets.

  Returns:
    uint8 array (num_groups, H, W, C), in time order.
  """
  frames = _check_frames(frames)
  response = get_response(response)
  bounds = group_bounds(frames.shape[0], num_groups)
  if all(stop - start == 1 for start, stop in bounds):
    return frames.copy()
  return np.stack(
      [synthesize_blur(frames[start:stop], response) for start, stop in bounds]
  )


def blur_and_targets(
    frames: np.ndarray,
    response: str | CameraResponse = 'linear',
    num_groups: int = NUM_TARGET_FRAMES,
) -> tuple[np.ndarray, np.ndarray]:
  """Eq. 2 over a whole window plus its `sub_averages` targets.

  Args:
    frames: uint8 array (M, H, W, C), M >= ``num_groups``.
    response: camera response; see `get_response`.
    num_groups: number of targets.

  Returns:
    (blurry (H, W, C), targets (num_groups, H, W, C)), both uint8.
  """
  response = get_response(response)
  return (
      synthesize_blur(frames, response),
      sub_averages(frames, response, num_groups),
  )


def non_overlapping_windows(
    num_frames: int, window: int
) -> Sequence[tuple[int, int]]:
  """(start, stop) of the non-overlapping windows from the first frame on.

  Frames after the last full window are dropped, as in GoPro and DVD, whose
  blurry images never share frames (READING-NOTES note 12).

  Args:
    num_frames: length of the sequence.
    window: frames per window, M.

  Returns:
    ``num_frames // window`` pairs.
  """
  if window < 1:
    raise ValueError(f'Window length must be positive, got {window}.')
  return [(s, s + window) for s in range(0, num_frames - window + 1, window)]
