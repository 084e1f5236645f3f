"""One process of a several-process run on localhost (for the tests).

  python tests/training/multihost_run.py MODE PROCESS_ID NUM_PROCESSES PORT \
      WORKDIR DATA_DIR [--config.FIELD=VALUE ...]

MODE "train" runs `train_and_evaluate` on the tiny config with the
overrides; MODE "prepare" only prepares the tiny dataset, counting the calls
of TFDS's `download_and_prepare` in this process. Prints one JSON line.
"""

import json
import os
import sys

from absl import logging
import jax


def _override(config, assignment: str) -> None:
  field, value = assignment.removeprefix("--config.").split("=", 1)
  *parents, leaf = field.split(".")
  node = config
  for name in parents:
    node = node[name]
  node[leaf] = type(node[leaf])(value) if node[leaf] is not None else value


def main():
  logging.set_verbosity(logging.INFO)  # The tests read the training log.
  mode, process_id, num_processes, port = sys.argv[1:5]
  workdir, data_dir = sys.argv[5:7]
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                             num_processes=int(num_processes),
                             process_id=int(process_id))
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds
  from cbl_jax.data import pipeline
  from cbl_jax.training import loop
  from cbl_jax.training import multihost
  from configs import test as test_config
  # pylint: enable=g-import-not-at-top

  config = test_config.get_config()
  config.data.data_dir = data_dir
  for assignment in sys.argv[7:]:
    _override(config, assignment)
  if mode == "prepare":
    calls = []
    original = tfds.core.DatasetBuilder.download_and_prepare

    def counted(builder, *args, **kwargs):
      calls.append(builder.name)
      return original(builder, *args, **kwargs)

    tfds.core.DatasetBuilder.download_and_prepare = counted
    builder, prepared_here = multihost.prepare_once(
        lambda: pipeline.get_builder(config.data),
        lambda: pipeline.get_builder(config.data))
    print(json.dumps({"process": jax.process_index(), "calls": len(calls),
                      "prepared_here": prepared_here,
                      "train_examples": len(builder.as_data_source(
                          split="train"))}))
    return
  summary = loop.train_and_evaluate(config, workdir)
  print(json.dumps({"process": jax.process_index(),
                    "psnr": summary.get("psnr")}))


if __name__ == "__main__":
  main()
