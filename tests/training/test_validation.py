"""Bad configurations get one-line errors before anything is compiled."""

import pytest

from cbl_jax.training.validation import validate_config
from configs import test as test_config

CASES = [
    ("generator.num_frames", 6, r"num_frames=6 must be odd"),
    ("generator.color_mode", "lab", r"generator.color_mode='lab' is not one"),
    ("discriminator.head_pooling", "sum", r"head_pooling='sum'"),
    ("loss.time_order", "sideways", r"time_order='sideways'"),
    ("loss.content_form", "l1", r"content_form='l1' is not one"),
    ("loss.content_floor", 0.0, r"content_floor=0.0 must be positive"),
    ("loss.content_mse_steps", -1, r"content_mse_steps=-1 is negative"),
    ("generator.residual_deadzone", -0.01,
     r"residual_deadzone=-0.01 must be in \[0, 1\)"),
    ("loss.adversarial_batch_stats", "fake_only",
     r"adversarial_batch_stats='fake_only'"),
    ("best_metric", "loss", r"best_metric='loss'"),
    ("loss.adversarial_form", "wgan", r"adversarial_form='wgan'"),
    ("on_nonfinite", "ignore", r"on_nonfinite='ignore'"),
    ("loss.contiguous.precision", "bf16",
     r"precision='bf16' is not a matmul precision"),
    ("batch_size_rule", "sometimes", r"batch_size_rule='sometimes' is not"),
    ("batch_size", 0, r"batch_size=0 must be at least 1"),
    ("stage1_steps", -1, r"stage1_steps=-1 is negative"),
    ("log_every_steps", 0, r"log_every_steps=0 must be at least 1"),
    ("data.crop_size", 0, r"crop_size=0 must be positive"),
    ("optimizer.stage1.warmup_steps", -5,
     r"stage1.warmup_steps=-5 is negative"),
    ("optimizer.stage2.lr_drop_step", -1, r"stage2.lr_drop_step=-1 is neg"),
    ("optimizer.stage2.d_learning_rate", 0.0,
     r"stage2.d_learning_rate=0.0 must be positive"),
]


@pytest.mark.parametrize("field,value,message", CASES)
def test_bad_field_message(field, value, message):
  config = test_config.get_config()
  node = config
  *parents, leaf = field.split(".")
  for name in parents:
    node = node[name]
  node[leaf] = value
  with pytest.raises(ValueError, match=message) as info:
    validate_config(config, device_count=2)
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("late,message", [
    (dict(content_late_step=5, content_late_form="l2"),
     r"content_late_form='l2' is not one"),
    (dict(content_late_step=5, content_late_floor=-1.0),
     r"content_late_floor=-1.0 must be positive"),
    (dict(content_mse_steps=10, content_late_step=10),
     r"content_late_step=10 must come after content_mse_steps=10"),
    (dict(content_late_step=-3), r"content_late_step=-3 must come after"),
])
def test_bad_late_content_form_message(late, message):
  config = test_config.get_config()
  config.loss.update(late)
  with pytest.raises(ValueError, match=message) as info:
    validate_config(config, device_count=2)
  assert "\n" not in str(info.value)


def test_no_steps_at_all():
  config = test_config.get_config()
  config.stage1_steps = config.stage2_steps = 0
  with pytest.raises(ValueError, match="both 0"):
    validate_config(config, device_count=1)


@pytest.mark.parametrize("name", ["default", "gopro", "dvd", "release",
                                  "test"])
def test_shipped_configs_are_valid(name):
  module = __import__(f"configs.{name}", fromlist=["get_config"])
  validate_config(module.get_config(), device_count=1)


@pytest.mark.parametrize("name", ["default", "gopro", "test"])
def test_reversal_with_a_forward_loss_is_refused(name):
  """Random reversal and Eq. 4's forward order train ghosted frames."""
  module = __import__(f"configs.{name}", fromlist=["get_config"])
  config = module.get_config()
  config.data.random_time_reverse = True
  config.loss.time_order = "forward"
  with pytest.raises(ValueError, match=r"random_time_reverse=True with "
                     r"config.loss.time_order='forward'") as info:
    validate_config(config, device_count=1)
  assert "\n" not in str(info.value)
  for order in ("best_of_both", "pairwise"):
    config.loss.time_order = order
    validate_config(config, device_count=1)
