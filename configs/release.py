"""The default model trained longer on the same data (2500 steps).

  python -m cbl_jax.main --config=configs/release.py --workdir=workdirs/release
  python -m cbl_jax.inference.export_weights --workdir=workdirs/release \
      --which=latest \
      --output=cbl_jax/weights/default_generator.msgpack

The default config's run continued: network, data, seed and learning-rate
schedule are those of `configs/default.py`, which stops at step 1000; the
first 1000 steps of this run are the default run (same batches and
updates), and this one goes on to step 2500, with the rate dropped tenfold
from step 1500. A run of it on a 2-core CPU shared with other jobs was
stopped at step 1086 (log: `docs/release_training_log.txt`), so the shipped
weights (`cbl_jax/weights/default_generator.msgpack`) are its step-1000
checkpoint: the default run's final weights, which `configs/default.py`
reproduces.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = default.get_config()
  config.stage1_steps = 2_500
  return config
