"""The embedded default: trains on a laptop CPU with no download.

  python -m cbl_jax.main --config=configs/default.py --workdir=workdirs/default

Data: `synthetic_motion`, real photographs moved along random camera paths
with independently moving objects and blurred by Eq. 2, generated on first
use. The generator is Table 1's design at a smaller width and depth, with
the blurry input added to every output frame (`input_skip`) and He
initialisation (`init_stddev=None`), so that the short schedule learns
sharpening rather than the identity. Stage 2 (GAN with
the contiguous blurry loss) runs briefly after stage 1.
"""

import ml_collections

from configs import gopro


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = gopro.get_config()
  config.data.name = "synthetic_motion"
  config.data.builder_config = "default"
  config.data.crop_size = 64
  config.data.num_eval_examples = None
  config.data.worker_count = 0

  config.generator.update(dict(features=32, num_blocks=4, head_features=64,
                               input_skip=True, init_stddev=None))
  config.discriminator.update(dict(group_features=(16, 32, 64, 64),
                                   fc_features=(128,), head_pooling="avg"))
  # Reversed sequences blur the same; the order-invariant loss learns the
  # motion without guessing its direction, in both loss terms.
  config.data.random_time_reverse = True
  config.loss.time_order = "best_of_both"
  config.loss.adversarial_form = "non_saturating"
  # Patches on a stride-2 grid: a quarter of the locations and 1/16 of the
  # N x N work, which keeps a GAN step on a CPU to about a second.
  config.loss.contiguous.patch_stride = 2

  # A 10x higher rate than the paper's, warmed up so that the first updates
  # do not kill ReLUs, and dropped tenfold for the last quarter. Stage 2
  # goes on at the dropped rate, with D at the paper's.
  config.optimizer.stage1.update(dict(g_learning_rate=1e-3, warmup_steps=200,
                                      lr_drop_step=1_500))
  config.optimizer.stage2.update(dict(g_learning_rate=1e-4,
                                      d_learning_rate=1e-4))

  config.batch_size = 8
  config.eval_batch_size = 8
  config.stage1_steps = 2_000
  config.stage2_steps = 40
  config.log_every_steps = 50
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 250
  return config
