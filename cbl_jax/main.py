"""Command line entry: `python -m cbl_jax.main --config=configs/default.py`.

The work happens in `cbl_jax.training.loop.train_and_evaluate`, which
notebooks call directly. On several hosts (a TPU pod slice, a GPU cluster)
run the same command on every host with `--distributed`: JAX then finds the
coordinator from the TPU metadata or from SLURM/Open MPI variables, or from
`--coordinator_address`, `--num_processes` and `--process_id`.
"""

import logging as std_logging
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from cbl_jax import xla_cpu

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs, samples.")
flags.DEFINE_bool("distributed", False,
                  "Call jax.distributed.initialize() (several hosts).")
flags.DEFINE_string("coordinator_address", None,
                    "host:port of process 0, with --distributed.")
flags.DEFINE_integer("num_processes", None, "Processes, with --distributed.")
flags.DEFINE_integer("process_id", None, "This process, with --distributed.")
config_flags.DEFINE_config_file(
    "config", None, "Experiment configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def _quiet_library_info(record) -> bool:
  # Orbax and TFDS log every file operation at INFO; keep their warnings.
  noisy = any(f"/{lib}/" in record.pathname
              for lib in ("orbax", "tensorflow_datasets"))
  return not noisy or record.levelno >= std_logging.WARNING


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.get_absl_handler().addFilter(_quiet_library_info)
  xla_cpu.use_tuned_flags()  # Before JAX starts its backends.
  if FLAGS.distributed or FLAGS.coordinator_address:
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes,
                               process_id=FLAGS.process_id)
  # Imported here so that jax.distributed is initialised before anything
  # touches the devices.
  from cbl_jax.training import loop  # pylint: disable=g-import-not-at-top
  logging.info("Configuration:\n%s", FLAGS.config)
  try:
    loop.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (ValueError, FileNotFoundError, loop.NonFiniteLossError) as error:
    # Errors of the user's making get their one line, not a traceback.
    sys.exit(f"cbl_jax.main: {error}")


def run():
  """Console-script entry point (`cbl-train`)."""
  app.run(main)


if __name__ == "__main__":
  run()
