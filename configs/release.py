"""The shipped weights: the default model, trained longer on the same data.

  python -m cbl_jax.main --config=configs/release.py --workdir=workdirs/release
  python -m cbl_jax.inference.export_weights --workdir=workdirs/release \
      --output=cbl_jax/weights/default_generator.msgpack

`cbl_jax/weights/default_generator.msgpack` is the best checkpoint of this
run (highest PSNR on the `synthetic_motion` test split); its training log is
`docs/release_training_log.txt`. The network and data are those of
`configs/default.py`; only the schedule is longer (about 1.5 hours on a
2-core CPU with other jobs running). Stage 2 is left out: the content loss
alone gave the higher PSNR on held-out data in the default's runs (see
README, Results).
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = default.get_config()
  config.optimizer.warmup_steps = 200
  config.optimizer.lr_drop_step = 2_000
  config.stage1_steps = 2_500
  config.stage2_steps = 0
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 250
  return config
