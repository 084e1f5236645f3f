"""The paper's settings on GoPro (Section 4.2), both stages.

  python -m cbl_jax.main --config=configs/gopro.py --workdir=workdirs/gopro \
      --config.data.manual_dir=/path/to/GOPRO_Large_all

Stage 1 trains the ResNet-based generator with the content loss (Eq. 4);
stage 2 the GAN with the total loss of Eq. 11 (alpha = 0.001, beta = 0.1).
Run one stage alone with --config.stage1_steps=0 or --config.stage2_steps=0;
start stage 2 from a stage-1 workdir with --config.init_from=DIR.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.data = ml_collections.ConfigDict(dict(
      name="gopro",
      builder_config="all_frames",
      data_dir=ml_collections.FieldReference(None, field_type=str),
      manual_dir=ml_collections.FieldReference(None, field_type=str),
      train_split="train",
      eval_split="test",
      crop_size=128,             # Section 4.2: 128x128 random patches.
      random_flip=True,          # ... flipped at random.
      # Off: Eq. 4 as written compares frame t with target t, and pairing it
      # with random reversal would train towards time-symmetric, ghosted
      # frames (the loop refuses that pairing).
      random_time_reverse=False,
      eval_crop_size=ml_collections.FieldReference(None, field_type=int),
      num_eval_examples=ml_collections.FieldReference(100, field_type=int),
      worker_count=4,
      # Off (the paper's data). A share of training examples replaced by
      # their own middle frame moved along one path and blurred by Eq. 2
      # (cbl_jax/data/shift_blur.py), from a given step on.
      shift_blur_prob=0.0,
      shift_blur_motion=(1.0, 24.0),
      shift_blur_gamma_prob=0.6,
      shift_blur_from_step=0,
  ))

  # Table 1 ("unet" picks cbl_jax/models/unet.py, with its own fields).
  config.generator = ml_collections.ConfigDict(dict(
      name="table1",
      num_frames=7,
      color_mode="rgb",
      stem_features=16,
      features=64,
      num_blocks=13,
      head_features=256,
      input_skip=False,
      init_stddev=0.01,
      # Convolutions in bfloat16 on GPUs and TPUs, float32 on CPUs;
      # parameters, optimizer state and losses stay float32
      # (cbl_jax/models/precision.py).
      dtype="auto",
  ))

  # Table 2, with the paper's flattened head (see cbl_jax/models/
  # discriminator.py for its size and the pooled alternatives).
  config.discriminator = ml_collections.ConfigDict(dict(
      group_features=(64, 128, 256, 512),
      group_depths=(2, 4, 5, 5),
      fc_features=(4096,),
      head_pooling="flatten",
      num_classes=2,
      bn_momentum=0.9,
      dtype="auto",
  ))

  config.loss = ml_collections.ConfigDict(dict(
      # Which target frame each predicted frame is compared with, for the
      # content and the contiguous loss alike: "forward" (Eq. 4 as written),
      # "best_of_both" or "pairwise" (cbl_jax/losses/content.py).
      time_order="forward",
      # Eq. 4's squared error ("mse"), or a form that weighs examples by
      # their own scale (cbl_jax/losses/content.py), with its floor.
      content_form="mse",
      content_floor=ml_collections.FieldReference(None, field_type=float),
      content_mse_steps=0,   # Stage-1 steps of plain MSE before that form.
      # From this stage-1 step on (0: never), content_late_form with its own
      # floor replaces content_form, so that one run can change its loss
      # and still be reproduced from its config.
      content_late_step=0,
      content_late_form="log_mse",
      content_late_floor=ml_collections.FieldReference(None, field_type=float),
      adversarial_form="paper",   # Eq. 3.
      # G's adversarial term runs D on real and generated frames together,
      # as D is trained (cbl_jax/training/steps.py), or "running".
      adversarial_batch_stats="real_and_fake",
      alpha=0.001,
      beta=0.1,
      # Eqs. 5-10 on features of every predicted frame and its target.
      contiguous=ml_collections.ConfigDict(dict(
          features="patches",    # or "vgg19" with vgg_weights (a local .npz).
          patch_size=3,
          patch_stride=1,        # Exact at full resolution by default.
          append_rgb=False,
          spatial_weight=0.1,
          band_width=0.5,
          # Random locations compared per image (the reference's sampling);
          # None compares all of them.
          num_samples=ml_collections.FieldReference(None, field_type=int),
          vgg_weights="",
          # Of the loss's cosine matmul: "highest" is exact float32; on a
          # TPU "default" is one bfloat16 pass (BENCHMARKS.md measures the
          # loss and gradient error of each).
          precision="highest",
      )),
  ))

  # Each stage counts its own steps and starts with fresh Adam states
  # (cbl_jax/training/schedules.py). Section 4.2: G at 1e-4, dropped to
  # 1e-5 after about 1.5e5 iterations; the GAN stage goes on from there.
  config.optimizer = ml_collections.ConfigDict(dict(
      adam_b1=0.9,
      adam_b2=0.999,
      stage1=dict(
          g_learning_rate=1e-4,
          warmup_steps=0,
          lr_drop_step=150_000,
          lr_drop_factor=0.1,
      ),
      stage2=dict(
          g_learning_rate=1e-5,
          d_learning_rate=1e-4,
          warmup_steps=0,
          lr_drop_step=0,        # No drop.
          lr_drop_factor=0.1,
      ),
  ))

  # The global batch. On a device count that does not divide it (4 on a
  # TPU v3-8), "round_up" trains with the next multiple and scales every
  # learning rate to match (cbl_jax/training/batch_rule.py); "exact" refuses.
  config.batch_size = 4
  config.batch_size_rule = "round_up"
  config.eval_batch_size = 1     # Rounded up to the device count.
  config.stage1_steps = 200_000
  config.stage2_steps = 100_000
  config.init_from = ""
  # Wall-clock minutes of training per invocation (0: no limit). When they
  # are spent, the run evaluates, saves and stops; the same command goes
  # on from there.
  config.train_minutes = 0.0
  config.on_nonfinite = "stop"

  config.log_every_steps = 100
  config.eval_every_steps = 5_000
  config.checkpoint_every_steps = 1_000
  config.max_checkpoints_to_keep = 3
  # XLA's compiled programs are kept here, so a restart skips compiling
  # ("" turns it off; JAX_COMPILATION_CACHE_DIR, if set, wins).
  config.compilation_cache_dir = "~/.cache/cbl_jax/jax_compilation_cache"
  config.compilation_cache_min_compile_secs = 1.0
  # The discriminator's leaves of at least this many elements are sharded
  # over the devices; smaller ones are replicated
  # (cbl_jax/training/sharding.py).
  config.shard_min_elements = 2**18
  # The evaluation number that picks the best checkpoint: "psnr_middle"
  # needs no choice of time order (the middle frame is the same either way);
  # "psnr" is all frames in the better order.
  config.best_metric = "psnr_middle"
  return config
