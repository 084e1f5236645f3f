"""The global batch on any device count: the rule for a batch that does not
divide.

The paper trains with a batch of 4; a TPU v3-8 or an 8-GPU node has 8
devices, and every device needs a whole number of examples. With
`config.batch_size_rule = "round_up"` (the shipped configs), a global batch
the device count does not divide is rounded up to the next multiple of it
(4 on 8 devices: 8, one per device), and every learning rate is scaled by the
same factor (the linear scaling rule of Goyal et al., 2017, "Accurate, Large
Minibatch SGD"), so that the step size per example stays the paper's. One
line in the log says what was chosen. With "exact", such a batch is an
error: set `config.batch_size` to the global batch you want.

A divisible `config.batch_size` is always used as it is, under either rule.
The evaluation batch is rounded up the same way (no rate to scale; the
padding examples are masked out of the scores).
"""

from __future__ import annotations

import math

import ml_collections

BATCH_SIZE_RULES = ("round_up", "exact")


def round_up(batch_size: int, device_count: int) -> int:
  """The smallest multiple of `device_count` at least `batch_size`."""
  return max(1, math.ceil(batch_size / device_count)) * device_count


def resolve(config: ml_collections.ConfigDict,
            device_count: int) -> tuple[ml_collections.ConfigDict, str | None]:
  """The configuration to train with on `device_count` devices.

  Args:
    config: the experiment configuration (not modified).
    device_count: devices the batch is split over.

  Returns:
    `(config, message)`: a copy with `batch_size`, `eval_batch_size` and
    the learning rates set for this device count, and the line to log when
    the rule changed the training batch (else None).

  Raises:
    ValueError: "exact" with a batch the device count does not divide.
  """
  rule = config.get("batch_size_rule", "exact")
  if rule not in BATCH_SIZE_RULES:
    raise ValueError(f"config.batch_size_rule={rule!r} is not one of "
                     f"{BATCH_SIZE_RULES}: set --config.batch_size_rule to "
                     "one of them.")
  batch = config.batch_size
  if batch < 1:
    raise ValueError(f"config.batch_size={batch} must be at least 1.")
  resolved = config.copy_and_resolve_references()
  resolved.eval_batch_size = round_up(config.eval_batch_size, device_count)
  if batch % device_count == 0:
    return resolved, None
  if rule == "exact":
    raise ValueError(
        f"config.batch_size={batch} is not divisible by the {device_count} "
        f"devices: set --config.batch_size to a multiple of {device_count}, "
        "or --config.batch_size_rule=round_up.")
  resolved.batch_size = round_up(batch, device_count)
  scale = resolved.batch_size / batch
  for stage in ("stage1", "stage2"):
    for field in ("g_learning_rate", "d_learning_rate"):
      if field in resolved.optimizer[stage]:
        resolved.optimizer[stage][field] *= scale
  message = (
      f"config.batch_size={batch} on {device_count} devices: training with "
      f"a global batch of {resolved.batch_size} "
      f"({resolved.batch_size // device_count} per device) and every "
      f"learning rate scaled by {scale:g} (batch_size_rule=round_up, the "
      "linear scaling rule); set --config.batch_size to a multiple of "
      f"{device_count} to choose the batch yourself.")
  return resolved, message
