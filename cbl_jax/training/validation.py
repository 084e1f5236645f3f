"""Up-front checks of a configuration: one-line errors before any compiling."""

from etils import epath
import ml_collections

from cbl_jax import models
from cbl_jax.losses import contextual
from cbl_jax.losses.content import CONTENT_FORMS
from cbl_jax.models.discriminator import HEAD_POOLINGS
from cbl_jax.models.generator import COLOR_MODES
from cbl_jax.models.precision import DTYPES
from cbl_jax.losses import CONTENT_ORDERS as TIME_ORDERS
from cbl_jax.losses import GENERATOR_FORMS as ADVERSARIAL_FORMS
from cbl_jax.training import batch_rule
from cbl_jax.training.steps import ADVERSARIAL_BATCH_STATS

NONFINITE_POLICIES = ("stop", "skip")
BEST_METRICS = ("psnr_middle", "psnr", "ssim_middle", "ssim")


def _choice(value, choices, field: str) -> None:
  if value not in choices:
    raise ValueError(f"config.{field}={value!r} is not one of {choices}: "
                     f"set --config.{field} to one of them.")


def validate_config(config: ml_collections.ConfigDict,
                    device_count: int) -> None:
  """Raises ValueError with a one-line fix for a configuration that can't run.

  Args:
    config: the experiment configuration.
    device_count: number of devices the batch is split over.
  """
  frames = config.generator.get("num_frames", 7)
  if frames < 1 or frames % 2 == 0:
    raise ValueError(
        f"config.generator.num_frames={frames} must be odd (7 in the paper) so "
        "that a middle frame exists: set --config.generator.num_frames=7.")
  _choice(config.generator.get("color_mode", "rgb"), COLOR_MODES,
          "generator.color_mode")
  for network in ("generator", "discriminator"):
    _choice(config[network].get("dtype", "float32"), DTYPES,
            f"{network}.dtype")
  _choice(config.discriminator.head_pooling, HEAD_POOLINGS,
          "discriminator.head_pooling")
  _choice(config.loss.time_order, TIME_ORDERS, "loss.time_order")
  _choice(config.loss.adversarial_form, ADVERSARIAL_FORMS,
          "loss.adversarial_form")
  _choice(config.loss.adversarial_batch_stats, ADVERSARIAL_BATCH_STATS,
          "loss.adversarial_batch_stats")
  _choice(config.loss.get("content_form", "mse"), CONTENT_FORMS,
          "loss.content_form")
  floor = config.loss.get("content_floor")
  if floor is not None and not floor > 0:
    raise ValueError(f"config.loss.content_floor={floor} must be positive "
                     "(1e-4 is 40 dB), or None for the form's own floor.")
  if config.loss.get("content_mse_steps", 0) < 0:
    raise ValueError(
        f"config.loss.content_mse_steps={config.loss.content_mse_steps} is "
        "negative: set it to 0 to use content_form from the first step.")
  late_step = config.loss.get("content_late_step", 0)
  if late_step:
    _choice(config.loss.content_late_form, CONTENT_FORMS,
            "loss.content_late_form")
    late_floor = config.loss.get("content_late_floor")
    if late_floor is not None and not late_floor > 0:
      raise ValueError(
          f"config.loss.content_late_floor={late_floor} must be positive, or "
          "None for the late form's own floor.")
    mse_steps = config.loss.get("content_mse_steps", 0)
    if late_step < 0 or late_step <= mse_steps:
      raise ValueError(
          f"config.loss.content_late_step={late_step} must come after "
          f"content_mse_steps={mse_steps}: set it later, or to 0 for no late "
          "form.")
  minutes = config.get("train_minutes", 0.0)
  if minutes is None or not minutes >= 0:
    raise ValueError(
        f"config.train_minutes={minutes} must be >= 0 (wall-clock minutes "
        "of training per invocation; 0 for no limit).")
  try:
    models.create_generator(config.generator.to_dict(), "config.generator")
  except (ValueError, TypeError) as e:
    raise ValueError(str(e).splitlines()[0]) from None
  deadzone = config.generator.get("residual_deadzone", 0.0)
  if not 0 <= deadzone < 1:
    raise ValueError(
        f"config.generator.residual_deadzone={deadzone} must be in [0, 1) "
        "(a fraction of the [0, 1] range; 2/255 is two 8-bit levels).")
  precision = config.loss.contiguous.get("precision", "highest")
  try:
    contextual.check_precision(precision, "loss")
  except ValueError:
    raise ValueError(
        f"config.loss.contiguous.precision={precision!r} is not a matmul "
        "precision: set --config.loss.contiguous.precision to 'highest' "
        "(exact), 'high', 'default' or a jax.lax.DotAlgorithmPreset name such "
        "as 'BF16_BF16_F32'.") from None
  _choice(config.on_nonfinite, NONFINITE_POLICIES, "on_nonfinite")
  _choice(config.best_metric, BEST_METRICS, "best_metric")
  if config.data.random_time_reverse and config.loss.time_order == "forward":
    # The same blurry input would get S and reversed(S) as targets half the
    # time each, and the forward loss's optimum is their mean: ghosted,
    # time-symmetric frames.
    raise ValueError(
        "config.data.random_time_reverse=True with config.loss.time_order="
        "'forward' trains towards ghosted, time-symmetric frames: set "
        "--config.loss.time_order=best_of_both (or pairwise), or "
        "--config.data.random_time_reverse=False.")
  # The batch rule's own checks (a batch the devices do not divide).
  batch_rule.resolve(config, device_count)
  for field in ("stage1_steps", "stage2_steps"):
    if config[field] < 0:
      raise ValueError(f"config.{field}={config[field]} is negative: set it "
                       "to 0 to skip that stage.")
  if config.stage1_steps + config.stage2_steps == 0:
    raise ValueError("config.stage1_steps and config.stage2_steps are both 0: "
                     "set at least one of them above 0.")
  for stage in ("stage1", "stage2"):
    stage_config = config.optimizer[stage]
    for field in ("warmup_steps", "lr_drop_step"):
      if (stage_config[field] or 0) < 0:
        raise ValueError(
            f"config.optimizer.{stage}.{field}={stage_config[field]} is "
            "negative: set it to 0 for none.")
    rates = [k for k in ("g_learning_rate", "d_learning_rate")
             if k in stage_config]
    for field in rates:
      if not stage_config[field] > 0:
        raise ValueError(
            f"config.optimizer.{stage}.{field}={stage_config[field]} must be "
            "positive.")
  if config.data.crop_size < 1:
    raise ValueError(f"config.data.crop_size={config.data.crop_size} must be "
                     "positive.")
  if str(config.init_from).endswith(".msgpack"):
    if not epath.Path(config.init_from).is_file():
      raise ValueError(
          f"config.init_from={config.init_from!r} is not a file: give an "
          "exported .msgpack weights file or a workdir.")
  elif config.init_from and not (epath.Path(config.init_from) /
                                 "checkpoints").exists():
    raise ValueError(
        f"config.init_from={config.init_from!r} has no checkpoints/ folder: "
        "point it at the workdir of a finished stage-1 run, or at an "
        "exported .msgpack weights file.")
  for field in ("log_every_steps", "eval_every_steps",
                "checkpoint_every_steps"):
    if config[field] < 1:
      raise ValueError(f"config.{field}={config[field]} must be at least 1.")
