r"""Exports a trained generator as a msgpack weights file with a JSON sidecar.

  python -m cbl_jax.inference.export_weights --workdir=workdirs/default \
      --output=cbl_jax/weights/default_generator.msgpack

Reads the workdir's best checkpoint (or --which=latest, or the step folder
--checkpoint names), keeps only the generator parameters and writes
`--output` and its sidecar (`.json`: generator config and provenance; see
`cbl_jax.weights`). The files are a few MB for the default config and load
without the workdir, orbax or the training code.
"""

from __future__ import annotations

import datetime
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
import flax
import jax
import numpy as np

import cbl_jax
from cbl_jax import weights
from cbl_jax.inference import cli_flags
from cbl_jax.inference import model as model_lib

for _name in ("workdir", "which", "checkpoint", "output"):
  flags.declare_key_flag(_name)


def export(loaded: model_lib.LoadedGenerator,
           output: str | pathlib.Path) -> pathlib.Path:
  """Writes a loaded generator as a weights file.

  Args:
    loaded: the generator, e.g. from `model_lib.load_workdir`.
    output: the `.msgpack` path.

  Returns:
    The path of the sidecar.
  """
  provenance: dict[str, Any] = dict(loaded.metadata.get("provenance", {}))
  provenance.update(
      source=loaded.source,
      exported_at=datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      num_params=int(sum(np.size(x) for x in jax.tree_util.tree_leaves(
          loaded.params))),
      versions={"cbl_jax": cbl_jax.__version__, "jax": jax.__version__,
                "flax": flax.__version__},
  )
  generator_config = dict(loaded.metadata.get("generator", {}))
  return weights.write_weights(output, loaded.params, generator_config,
                               provenance)


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  workdir, checkpoint = cli_flags.WORKDIR.value, cli_flags.CHECKPOINT.value
  if not workdir and not checkpoint:
    print("export_weights: give --workdir=DIR (or --checkpoint=STEP_DIR).",
          file=sys.stderr)
    return 1
  output = cli_flags.OUTPUT.value or str(weights.DEFAULT_WEIGHTS)
  try:
    loaded = model_lib.load_generator(workdir=workdir, checkpoint=checkpoint,
                                      which=cli_flags.WHICH.value)
    sidecar = export(loaded, output)
  except (ValueError, FileNotFoundError) as e:
    print(f"export_weights: {str(e).splitlines()[0]}", file=sys.stderr)
    return 1
  print(f"export_weights: {loaded.source} -> {output} (+ {sidecar.name})")
  return 0


if __name__ == "__main__":
  app.run(main)
