"""A tiny configuration for tests: seconds per run on one CPU core.

  python -m cbl_jax.main --config=configs/test.py --workdir=/tmp/cbl_test
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = default.get_config()
  config.data.builder_config = "tiny"
  config.data.crop_size = 16
  config.data.num_eval_examples = 4

  # The plain Table 1 form (no pixel folding, zero-mean residual or dead
  # zone, Eq. 4 content loss): the tests of the training and inference
  # code rely on its small receptive radius (7); the default's options have
  # tests of their own.
  config.generator.update(dict(stem_features=4, features=8, num_blocks=1,
                               head_features=8, space_to_depth=1,
                               zero_mean_residual=False,
                               residual_deadzone=0.0))
  config.loss.content_form = "mse"
  config.discriminator.update(dict(group_features=(4, 4, 8, 8),
                                   group_depths=(1, 1, 1, 1),
                                   fc_features=(8,)))
  config.loss.contiguous.patch_size = 3

  config.optimizer.stage1.warmup_steps = 0
  # Stage 2's 2 steps at half, then the full rate: the logged rates show
  # the warm-up.
  config.optimizer.stage2.warmup_steps = 2

  config.batch_size = 4
  config.eval_batch_size = 2
  config.stage1_steps = 3
  config.stage2_steps = 2
  config.log_every_steps = 1
  config.eval_every_steps = 5
  config.checkpoint_every_steps = 2
  # Shard even the tiny discriminator's kernels, so that tests on several
  # devices run the sharded path.
  config.shard_min_elements = 64
  return config
