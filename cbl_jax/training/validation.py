"""Up-front checks of a configuration: one-line errors before any compiling."""

from etils import epath
import ml_collections

from cbl_jax.models.discriminator import HEAD_POOLINGS
from cbl_jax.models.generator import COLOR_MODES

NONFINITE_POLICIES = ("stop", "skip")
CONTENT_ORDERS = ("forward", "best_of_both", "pairwise")
ADVERSARIAL_FORMS = ("paper", "non_saturating")


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
  frames = config.generator.num_frames
  if frames < 1 or frames % 2 == 0:
    raise ValueError(
        f"config.generator.num_frames={frames} must be odd (7 in the paper) so "
        "that a middle frame exists: set --config.generator.num_frames=7.")
  _choice(config.generator.color_mode, COLOR_MODES, "generator.color_mode")
  _choice(config.discriminator.head_pooling, HEAD_POOLINGS,
          "discriminator.head_pooling")
  _choice(config.loss.content_order, CONTENT_ORDERS, "loss.content_order")
  _choice(config.loss.adversarial_form, ADVERSARIAL_FORMS,
          "loss.adversarial_form")
  _choice(config.on_nonfinite, NONFINITE_POLICIES, "on_nonfinite")
  if config.batch_size < 1 or config.batch_size % device_count:
    raise ValueError(
        f"config.batch_size={config.batch_size} is not divisible by the "
        f"{device_count} devices: set --config.batch_size to a multiple of "
        f"{device_count}.")
  for field in ("stage1_steps", "stage2_steps"):
    if config[field] < 0:
      raise ValueError(f"config.{field}={config[field]} is negative: set it "
                       "to 0 to skip that stage.")
  if config.stage1_steps + config.stage2_steps == 0:
    raise ValueError("config.stage1_steps and config.stage2_steps are both 0: "
                     "set at least one of them above 0.")
  if config.optimizer.warmup_steps < 0:
    raise ValueError(f"config.optimizer.warmup_steps="
                     f"{config.optimizer.warmup_steps} is negative: set it "
                     "to 0 for no warm-up.")
  if config.data.crop_size < 1:
    raise ValueError(f"config.data.crop_size={config.data.crop_size} must be "
                     "positive.")
  if config.init_from and not (epath.Path(config.init_from) /
                                "checkpoints").exists():
    raise ValueError(
        f"config.init_from={config.init_from!r} has no checkpoints/ folder: "
        "point it at the workdir of a finished stage-1 run.")
  for field in ("log_every_steps", "eval_every_steps",
                "checkpoint_every_steps"):
    if config[field] < 1:
      raise ValueError(f"config.{field}={config[field]} must be at least 1.")
