"""The shipped weights: the default model, trained longer on the same data.

  python -m cbl_jax.main --config=configs/release.py --workdir=workdirs/release
  python -m cbl_jax.inference.export_weights --workdir=workdirs/release \
      --output=cbl_jax/weights/default_generator.msgpack

`cbl_jax/weights/default_generator.msgpack` is the best checkpoint of this
run (highest PSNR on the `synthetic_motion` test split); its training log is
`docs/release_training_log.txt`. Network, data, seed and learning-rate
schedule are those of `configs/default.py`, which stops at step 2000: the
first 2000 steps of this run are exactly the default run, so its log shows
both. It goes on for 500 more steps at the dropped rate (about an hour on a
2-core CPU shared with other jobs).
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = default.get_config()
  config.stage1_steps = 2_500
  return config
