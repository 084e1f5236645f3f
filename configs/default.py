"""The embedded default: trains on a laptop CPU with no download.

  python -m cbl_jax.main --config=configs/default.py --workdir=workdirs/default

Data: `synthetic_motion`, real photographs from six packages' wheels moved
along random camera paths with independently moving objects and blurred by
Eq. 2, generated on first use; a share of the scenes is nearly static or has
a still camera, and the camera response and exposure vary (see
tfds_builders/synthetic_motion/README.md).
`--config.data.photo_dir=DIR` trains on your own sharp photographs instead.

The generator is Table 1's design at a smaller width and depth, with the
blurry input added to every output frame (`input_skip`) and He
initialisation (`init_stddev=None`). Not in the paper, and chosen by
held-out measurements (README, "Generalisation"):

* the frames' residuals average to zero (`zero_mean_residual`: the frames
  average to the input, Eq. 2);
* residuals under two 8-bit levels are dropped (`residual_deadzone`), so
  that a photo with no visible motion comes back as it is;
* the content loss runs as plain MSE (Eq. 4) for the first half of the
  steps, which moves the frames apart, then weighs each example by its
  blurry input's own error (`content_form="relative_mse"`), so that nearly
  static photos, whose errors are small in absolute terms, count as much as
  blurred ones and the model stops inventing motion in them.

Stage 1 only: stage 2 (GAN + contiguous loss, `--config.stage2_steps=40`)
costs several content steps per step on a CPU and lowered PSNR in short
runs.
"""

import ml_collections

from configs import gopro


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = gopro.get_config()
  config.data.name = "synthetic_motion"
  config.data.builder_config = "default"
  # A folder of your own sharp photographs for the train split ("" for the
  # packaged ones).
  config.data.photo_dir = ""
  config.data.crop_size = 64
  config.data.num_eval_examples = None
  config.data.worker_count = 0

  config.generator.update(dict(features=32, num_blocks=4, head_features=64,
                               input_skip=True, init_stddev=None,
                               zero_mean_residual=True,
                               residual_deadzone=2 / 255))
  config.discriminator.update(dict(group_features=(16, 32, 64, 64),
                                   fc_features=(128,), head_pooling="avg"))
  # Reversed sequences blur the same; the order-invariant loss learns the
  # motion without guessing its direction, in both loss terms.
  config.data.random_time_reverse = True
  config.loss.time_order = "best_of_both"
  config.loss.content_form = "relative_mse"
  config.loss.content_floor = 1e-4   # 40 dB.
  config.loss.adversarial_form = "non_saturating"
  # Patches on a stride-2 grid: a quarter of the locations and 1/16 of the
  # N x N work, which keeps a GAN step on a CPU to about a second.
  config.loss.contiguous.patch_stride = 2

  # A 10x higher rate than the paper's, warmed up so that the first updates
  # do not kill ReLUs, and dropped tenfold for the last quarter.
  config.optimizer.stage1.update(dict(g_learning_rate=1e-3, warmup_steps=200,
                                      lr_drop_step=1_500))
  config.optimizer.stage2.update(dict(g_learning_rate=1e-4,
                                      d_learning_rate=1e-4))

  config.batch_size = 8
  config.eval_batch_size = 8
  config.stage1_steps = 2_000
  config.loss.content_mse_steps = 1_000
  config.stage2_steps = 0
  config.log_every_steps = 50
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 250
  return config
