"""Runs the tiny config in a fresh process (used by the multi-device tests).

  python tests/training/tiny_run.py WORKDIR DATA_DIR [PROCESS_ID NUM_PROCESSES PORT]

Prints one JSON line with the final summary and a parameter checksum.
"""

import json
import os
import sys

import jax


def main():
  workdir, data_dir = sys.argv[1], sys.argv[2]
  if len(sys.argv) > 3:
    process_id, num_processes, port = map(int, sys.argv[3:6])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                               num_processes=num_processes,
                               process_id=process_id)
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
  from cbl_jax.training import loop  # pylint: disable=g-import-not-at-top
  from configs import test as test_config  # pylint: disable=g-import-not-at-top

  config = test_config.get_config()
  config.data.data_dir = data_dir
  summary = loop.train_and_evaluate(config, workdir)
  print(json.dumps({"process": jax.process_index(),
                    "devices": jax.device_count(),
                    "psnr": summary["psnr"]}))


if __name__ == "__main__":
  main()
