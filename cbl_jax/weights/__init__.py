"""Shipped generator weights, and the file format of exported weights.

A weights file is the generator's parameters (the nested `params` dict) as
flax msgpack (`flax.serialization.msgpack_serialize`), with a JSON sidecar
next to it: the same name with `.json` instead of `.msgpack`. The sidecar
holds everything needed to rebuild the network without the training
workdir:

* ``format``: `FORMAT`, so that a later layout can be told apart.
* ``generator``: the fields of `cbl_jax.models.Generator` (the training
  config's ``generator`` section).
* ``provenance``: where the weights came from (workdir, checkpoint, step,
  training data, evaluation PSNR, export time, library versions) and the
  SHA-256 of the msgpack file.

`default_generator.msgpack` in this folder is the model trained by
``configs/default.py`` (a small generator trained on a CPU on the
`synthetic_motion` data, not the paper's GoPro model). It is made by

  python -m cbl_jax.main --config=configs/default.py --workdir=workdirs/default
  python -m cbl_jax.inference.export_weights --workdir=workdirs/default \
      --which=latest --output=cbl_jax/weights/default_generator.msgpack

(the shipped file was exported from step 1000 of the `configs/release.py`
run, whose first 1000 steps are the default run; its log is
`docs/release_training_log.txt`)
and read by `load_default`, which `python -m cbl_jax.predict` uses when no
``--workdir`` or ``--checkpoint`` is given.

This module depends on flax only, so that the format has one definition that
both the exporter and the loaders in `cbl_jax.inference` use.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Mapping
from typing import Any

from flax import serialization
import numpy as np

FORMAT = "cbl_jax.generator_weights/1"
DEFAULT_WEIGHTS = pathlib.Path(__file__).with_name("default_generator.msgpack")

_EXPORT_HINT = (
    "train the default config (python -m cbl_jax.main"
    " --config=configs/default.py --workdir=workdirs/default) and export it"
    " (python -m cbl_jax.inference.export_weights --workdir=workdirs/default"
    " --output=cbl_jax/weights/default_generator.msgpack), or pass --workdir"
    " or --checkpoint")


def sidecar_path(path: str | os.PathLike[str]) -> pathlib.Path:
  """The JSON sidecar of a weights file: same name, suffix `.json`."""
  return pathlib.Path(path).with_suffix(".json")


def sha256(path: str | os.PathLike[str]) -> str:
  """Hex SHA-256 of a file, read in chunks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _write_atomically(path: pathlib.Path, data: bytes) -> None:
  # A crash mid-write must not leave a truncated file under the final name.
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    # mkstemp makes the file private (0600); weights are meant to be shared.
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def write_weights(path: str | os.PathLike[str], params: Any,
                  generator_config: Mapping[str, Any],
                  provenance: Mapping[str, Any]) -> pathlib.Path:
  """Writes generator parameters as msgpack plus the JSON sidecar.

  Args:
    path: the `.msgpack` file to write; its folder is created.
    params: the generator's `params` pytree (nested dicts of arrays).
    generator_config: the `Generator` fields the parameters belong to.
    provenance: JSON-serialisable facts about the source; the file's
      SHA-256 is added to it.

  Returns:
    The path of the sidecar.
  """
  path = pathlib.Path(path)
  if path.suffix != ".msgpack":
    raise ValueError(f"Weights files end in .msgpack, got {str(path)!r}.")
  path.parent.mkdir(parents=True, exist_ok=True)
  host_params = serialization.to_state_dict(params)
  host_params = _tree_to_numpy(host_params)
  _write_atomically(path, serialization.msgpack_serialize(host_params))
  sidecar = {
      "format": FORMAT,
      "generator": dict(generator_config),
      "provenance": dict(provenance, sha256=sha256(path)),
  }
  side = sidecar_path(path)
  _write_atomically(
      side, (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode())
  return side


def _tree_to_numpy(tree: Any) -> Any:
  if isinstance(tree, Mapping):
    return {k: _tree_to_numpy(v) for k, v in tree.items()}
  return np.asarray(tree)


def read_weights(path: str | os.PathLike[str],
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Reads a weights file and its sidecar.

  Args:
    path: a `.msgpack` file written by `write_weights`.

  Returns:
    (params as nested dicts of NumPy arrays, the sidecar's contents).

  Raises:
    FileNotFoundError: the file or its sidecar is missing (one line).
    ValueError: either file cannot be parsed (one line naming it).
  """
  path = pathlib.Path(path)
  side = sidecar_path(path)
  if not path.is_file():
    raise FileNotFoundError(f"Weights file {path} does not exist.")
  if not side.is_file():
    raise FileNotFoundError(
        f"Weights file {path} has no sidecar {side.name} next to it; it holds"
        " the generator config (write both with"
        " python -m cbl_jax.inference.export_weights).")
  try:
    metadata = json.loads(side.read_text())
  except (OSError, ValueError) as e:
    raise ValueError(f"Cannot read {side}: {e}") from e
  if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
    found = metadata.get("format") if isinstance(metadata, dict) else None
    raise ValueError(
        f"{side} is not a cbl_jax weights sidecar (format {found!r}, expected"
        f" {FORMAT!r}).")
  if not isinstance(metadata.get("generator"), dict):
    raise ValueError(f"{side} has no 'generator' section.")
  try:
    params = serialization.msgpack_restore(path.read_bytes())
  except Exception as e:  # pylint: disable=broad-except
    # msgpack raises several unrelated types for corrupt data; all mean the
    # same thing to the user.
    raise ValueError(
        f"Cannot read weights {path}: {type(e).__name__}: {e}") from e
  if not isinstance(params, dict):
    raise ValueError(f"Weights {path} do not hold a parameter dict.")
  return params, metadata


def load_default() -> tuple[dict[str, Any], dict[str, Any]]:
  """Reads the shipped weights, `DEFAULT_WEIGHTS`.

  Returns:
    (params, sidecar contents), as `read_weights`.

  Raises:
    FileNotFoundError: the shipped file is absent (one line saying how to
      make it).
  """
  if not DEFAULT_WEIGHTS.is_file():
    raise FileNotFoundError(
        f"The shipped weights {DEFAULT_WEIGHTS} are not there: "
        + _EXPORT_HINT + ".")
  return read_weights(DEFAULT_WEIGHTS)
