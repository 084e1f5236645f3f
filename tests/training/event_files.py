"""Reads a folder's TensorBoard event files back the way TensorBoard does.

The records are read with TensorBoard's own TensorFlow-free reader (which
checks their checksums), and each event goes through the two migrations
TensorBoard's server applies before any dashboard sees it (`data_compat`,
then `dataclass_compat`, which gives each value its data class): a value
counts as a scalar or an image only if TensorBoard would show it as one.
No TensorFlow, so the tests stay fast.
"""

import io
import os
from typing import Any

import numpy as np
from PIL import Image
from tensorboard import data_compat
from tensorboard import dataclass_compat
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.util import tensor_util

_SCALAR = summary_pb2.DATA_CLASS_SCALAR
_BLOB_SEQUENCE = summary_pb2.DATA_CLASS_BLOB_SEQUENCE


def event_paths(folder: Any) -> list[str]:
  """The event files directly in `folder`, in TensorBoard's (name) order."""
  return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                if name.startswith("events.out.tfevents."))


def read_events(path: Any) -> list[event_pb2.Event]:
  """Every event of one file, the file-version header first."""
  reader = pywrap_tensorflow.PyRecordReader_New(os.fspath(path))
  events = []
  while True:
    try:
      reader.GetNext()
    except errors.OutOfRangeError:
      return events
    events.append(event_pb2.Event.FromString(reader.record()))


def _values(folder: Any):
  """(step, value) pairs after TensorBoard's two migrations, in file order."""
  first_metadata = {}  # TensorBoard's per-run memory of each tag.
  for path in event_paths(folder):
    for event in read_events(path):
      for migrated in dataclass_compat.migrate_event(
          data_compat.migrate_event(event), first_metadata):
        for value in migrated.summary.value:
          yield migrated.step, value


def scalars(folder: Any) -> dict[str, dict[int, float]]:
  """{tag: {step: value}} of the scalars TensorBoard finds in `folder`."""
  found = {}
  for step, value in _values(folder):
    if (value.metadata.data_class == _SCALAR
        and value.metadata.plugin_data.plugin_name == "scalars"):
      found.setdefault(value.tag, {})[step] = float(
          tensor_util.make_ndarray(value.tensor))
  return found


def images(folder: Any) -> dict[str, dict[int, list[np.ndarray]]]:
  """{tag: {step: [decoded (H, W, C) uint8 images]}} in `folder`.

  Also checks the width and height that lead each image tensor.
  """
  found = {}
  for step, value in _values(folder):
    if (value.metadata.data_class == _BLOB_SEQUENCE
        and value.metadata.plugin_data.plugin_name == "images"):
      width, height, *pngs = tensor_util.make_ndarray(value.tensor)
      decoded = [np.asarray(Image.open(io.BytesIO(png))) for png in pngs]
      for image in decoded:
        assert image.shape[:2] == (int(height), int(width)), value.tag
      found.setdefault(value.tag, {})[step] = [
          image[..., None] if image.ndim == 2 else image for image in decoded]
  return found
