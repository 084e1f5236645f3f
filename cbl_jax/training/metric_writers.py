"""Where training metrics go: TensorBoard event files and the log.

The loop writes scalars (``train/...``, ``eval/...``, ``steps_per_sec``,
``uptime``) and images (``predicted_frames``, ``true_frames``) through a
`MetricWriter`. Process 0's writer (`create_default_writer`) logs the
scalars and appends everything to one TensorBoard event file in the
workdir; the other processes only log. The events are the ones
``tf.summary.scalar`` and ``tf.summary.image`` write (tensor summaries
carrying the scalars and images plugins' metadata, images as PNG), so
TensorBoard shows the same tags as before; yet nothing here imports
TensorFlow, even where it is installed: the records are framed by
TensorBoard's own TensorFlow-free record writer and PIL encodes the PNGs.
Training therefore runs on machines that have TensorBoard but not
TensorFlow, and every machine takes the same code path.

`ReportProgress` logs the training speed, progress and the share of time
spent in named parts of the loop (`ReportProgress.timed`: evaluation,
checkpointing), and writes ``steps_per_sec`` and ``uptime`` as scalars.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import os
import socket
import time
from collections.abc import Iterator, Mapping
from typing import Any, Optional

from absl import logging
from etils import epath
import numpy as np
from PIL import Image
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto import tensor_pb2
from tensorboard.compat.proto import tensor_shape_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer import record_writer

from cbl_jax import visualization

# What TensorBoard reads a file's first record as: the event format version.
_FILE_VERSION = "brain.Event:2"
_SCALAR_METADATA = scalar_metadata.create_summary_metadata(
    display_name=None, description=None)
_IMAGE_METADATA = image_metadata.create_summary_metadata(
    display_name=None, description=None)
_CHANNELS = (1, 2, 3, 4)  # Grey, grey + alpha, RGB, RGBA: what PNG holds.
# Keeps the files of two writers of one process apart, as TensorFlow does.
_file_ids = itertools.count()


def _event_file_name() -> str:
  # TensorFlow's naming: TensorBoard orders a folder's files by it, and
  # tools that look for "events.out.tfevents.*" keep finding them.
  return (f"events.out.tfevents.{int(time.time()):010d}."
          f"{socket.gethostname()}.{os.getpid()}.{next(_file_ids)}.v2")


def _as_float(name: str, value: Any) -> float:
  array = np.asarray(value)
  if array.size != 1:
    raise ValueError(f"Scalar {name!r} has shape {array.shape}, not one "
                     "value.")
  return float(array.reshape(()))


def _as_uint8_images(name: str, images: Any) -> np.ndarray:
  """(N, H, W, C) uint8 from uint8, or from floats in [0, 1] (clipped)."""
  array = np.asarray(images)
  if array.ndim == 3:
    array = array[None]
  if array.ndim != 4 or array.shape[-1] not in _CHANNELS:
    raise ValueError(f"Image {name!r} has shape {array.shape}; expected "
                     "(N, H, W, C) or (H, W, C) with C = 1, 2, 3 or 4.")
  if array.dtype == np.uint8:
    return array
  if np.issubdtype(array.dtype, np.floating):
    return visualization.to_uint8(array)
  raise ValueError(f"Image {name!r} is {array.dtype}; expected uint8, or "
                   "floats in [0, 1].")


def _png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  # PIL picks the mode (L, LA, RGB, RGBA) from the shape; grey drops its
  # channel axis for that.
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
      buffer, format="PNG")
  return buffer.getvalue()


def _scalar_value(tag: str, value: float) -> summary_pb2.Summary.Value:
  # float32, as tf.summary.scalar stores it.
  tensor = tensor_pb2.TensorProto(
      dtype=types_pb2.DT_FLOAT, float_val=[value],
      tensor_shape=tensor_shape_pb2.TensorShapeProto())
  return summary_pb2.Summary.Value(tag=tag, tensor=tensor,
                                   metadata=_SCALAR_METADATA)


def _image_value(tag: str, images: np.ndarray) -> summary_pb2.Summary.Value:
  # The images plugin's layout: width and height as text, then one PNG per
  # image, as a 1-D string tensor.
  _, height, width, _ = images.shape
  strings = [str(width).encode(), str(height).encode()]
  strings += [_png(image) for image in images]
  tensor = tensor_pb2.TensorProto(
      dtype=types_pb2.DT_STRING, string_val=strings,
      tensor_shape=tensor_shape_pb2.TensorShapeProto(
          dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(strings))]))
  return summary_pb2.Summary.Value(tag=tag, tensor=tensor,
                                   metadata=_IMAGE_METADATA)


def _format(value: float) -> str:
  return f"{value:.6g}"


class MetricWriter:
  """Writes scalars and images to the log and, with a folder, to TensorBoard.

  With a `logdir`, the writer creates one event file there at once and
  appends an event per `write_scalars` / `write_images` call, flushed at
  each call: a crash loses nothing already written, and TensorBoard sees
  each value as soon as it is logged. Without one it only logs.

  Usable as a context manager, which closes it.

  Attributes:
    path: the event file, or None when only logging.
  """

  def __init__(self, logdir: Optional[epath.PathLike] = None):
    """Opens the event file, if any.

    Args:
      logdir: folder for the event file (created if missing; local or a
        URL such as gs://... that `etils.epath` opens), or None to only log.
    """
    self._records = None
    self._closed = False
    self.path: Optional[epath.Path] = None
    if logdir is not None:
      folder = epath.Path(logdir)
      folder.mkdir(parents=True, exist_ok=True)
      self.path = folder / _event_file_name()
      self._records = record_writer.RecordWriter(self.path.open("wb"))
      self._add(event_pb2.Event(file_version=_FILE_VERSION))

  def _check_open(self) -> None:
    if self._closed:
      raise ValueError("The metric writer is closed.")

  def _add(self, event: event_pb2.Event) -> None:
    if self._records is None:
      return
    event.wall_time = time.time()
    self._records.write(event.SerializeToString())
    self._records.flush()

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Writes one value per tag at `step`.

    Args:
      step: the training step the values belong to.
      scalars: tag -> number (Python, NumPy or a one-element array).
    """
    self._check_open()
    values = {tag: _as_float(tag, v) for tag, v in scalars.items()}
    logging.info("[%d] %s", step, ", ".join(
        f"{tag}={_format(v)}" for tag, v in sorted(values.items())))
    self._add(event_pb2.Event(step=int(step), summary=summary_pb2.Summary(
        value=[_scalar_value(tag, v) for tag, v in values.items()])))

  def write_images(self, step: int, images: Mapping[str, Any]) -> None:
    """Writes images at `step`, all of each tag's batch, as PNG.

    Args:
      step: the training step the images belong to.
      images: tag -> (N, H, W, C) or (H, W, C) array, C = 1, 2, 3 or 4;
        uint8, or floats in [0, 1] (clipped and rounded to uint8).
    """
    self._check_open()
    batches = {tag: _as_uint8_images(tag, v) for tag, v in images.items()}
    logging.info("[%d] Images: %s", step, ", ".join(
        f"{tag} {tuple(v.shape)}" for tag, v in sorted(batches.items())))
    if self._records is None:
      return  # Only logging: skip the PNG encoding.
    self._add(event_pb2.Event(step=int(step), summary=summary_pb2.Summary(
        value=[_image_value(tag, v) for tag, v in batches.items()])))

  def flush(self) -> None:
    """Pushes what is written to the file and the log handlers."""
    if self._records is not None:
      self._records.flush()
    logging.flush()

  def close(self) -> None:
    """Flushes and closes the event file; later writes raise. Idempotent."""
    if self._closed:
      return
    self.flush()
    if self._records is not None:
      self._records.close()
      self._records = None
    self._closed = True

  def __enter__(self) -> MetricWriter:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def create_default_writer(logdir: epath.PathLike, *,
                          just_logging: bool = False) -> MetricWriter:
  """The loop's writer: event file and log, or only the log.

  Args:
    logdir: folder for the event file (the workdir).
    just_logging: only log, e.g. on processes other than 0 of a multi-host
      run, so that one process writes the TensorBoard file.

  Returns:
    The MetricWriter.
  """
  return MetricWriter(None if just_logging else logdir)


def _duration(seconds: float) -> str:
  """123456.7 -> '1d10h17m': days and hours when there are any."""
  minutes = int(seconds // 60)
  hours, minutes = divmod(minutes, 60)
  days, hours = divmod(hours, 24)
  text = f"{days}d" if days else ""
  if hours:
    text += f"{hours}h"
  return f"{text}{minutes}m"


class ReportProgress:
  """Reports the training speed now and then.

  Call it after every step with the number of steps done. The first call
  only starts the measurement; a later call reports when more than
  `every_secs` have passed since the last report, and at `num_train_steps`.
  A report logs the steps per second since the last one, the progress and
  an estimate of the time left, and how the time since this object was
  made divides among the parts measured with `timed`; with a writer, it
  also writes the scalars ``steps_per_sec`` and ``uptime`` (seconds since
  this object was made).
  """

  def __init__(self, *, num_train_steps: Optional[int] = None,
               writer: Optional[MetricWriter] = None,
               every_secs: float = 60.0):
    """Starts the clock.

    Args:
      num_train_steps: the step training ends at (always reported), or None.
      writer: where the scalars go, or None to only log.
      every_secs: the least time between two reports.
    """
    self._num_train_steps = num_train_steps
    self._writer = writer
    self._every_secs = every_secs
    self._start = time.monotonic()
    self._last: Optional[tuple[int, float]] = None
    self._time_in: dict[str, float] = collections.defaultdict(float)

  def __call__(self, step: int, t: Optional[float] = None) -> bool:
    """Reports if one is due.

    Args:
      step: steps done so far.
      t: the `time.monotonic()` of the call (tests pass their own).

    Returns:
      Whether it reported.
    """
    now = time.monotonic() if t is None else t
    if self._last is None:
      self._last = (step, now)
      return False
    last_step, last_time = self._last
    if step == last_step or not (now - last_time > self._every_secs
                                 or step == self._num_train_steps):
      return False
    self._report(step, (step - last_step) / max(now - last_time, 1e-9), now)
    self._last = (step, now)
    return True

  def _report(self, step: int, steps_per_sec: float, now: float) -> None:
    message = f"{steps_per_sec:.1f} steps/s"
    total = self._num_train_steps
    if total:
      message += (f", {100 * step / total:.1f}% ({step}/{total}), ETA "
                  f"{_duration(max(total - step, 0) / steps_per_sec)}")
    uptime = now - self._start
    if self._time_in:
      message += f" ({_duration(uptime)}: " + ", ".join(
          f"{100 * seconds / uptime:.1f}% {name}"
          for name, seconds in sorted(self._time_in.items())) + ")"
    logging.info("Progress: %s", message)
    if self._writer is not None:
      self._writer.write_scalars(step, {"steps_per_sec": steps_per_sec,
                                        "uptime": uptime})

  @contextlib.contextmanager
  def timed(self, name: str) -> Iterator[None]:
    """Adds the time spent inside the `with` block to part `name`.

    It is the time the loop waits in the block: JAX work dispatched before
    it and still running is counted in (at most the last train step), work
    the block leaves running (an asynchronous checkpoint write) is not.

    Args:
      name: the part, e.g. "eval" or "checkpoint".

    Yields:
      Nothing.
    """
    start = time.monotonic()
    try:
      yield
    finally:
      self._time_in[name] += time.monotonic() - start
