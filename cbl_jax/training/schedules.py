"""Learning rates of both networks in both stages, from the global step.

Semantics (the same whether stage 2 follows stage 1 in one command or starts
in a new workdir from `config.init_from`):

* Each stage has its own schedule, counted in that stage's steps: stage step
  ``s = step`` in stage 1 and ``s = step - config.stage1_steps`` in stage 2.
  A stage-2 run started from `init_from` with ``stage1_steps=0`` therefore
  sees exactly the rates of the stage-2 part of a one-command run.
* Stage 1 trains G alone with `config.optimizer.stage1`; D's rate is 0.
  Stage 2 trains G and D with `config.optimizer.stage2`.
* Both optimizers start afresh at the first step of stage 2 (Adam's moments
  and count at zero; `begin_stage2`), since Eq. 11 is a different objective
  from Eq. 4 and a stage-2 run from `init_from` has no stage-1 moments.
* A stage's rate is ``base * warm-up * drop``: the warm-up ramps linearly
  over the first ``warmup_steps`` steps, reaching ``base`` at the last of them
  (the first update uses ``base / warmup_steps``, never 0), and the rate is
  multiplied by ``lr_drop_factor`` from stage step ``lr_drop_step`` on
  (Section 4.2: 1e-4, then 1e-5 after about 1.5e5 iterations). 0 or None
  means no drop.
* The rate is a function of the step alone, not of Adam's update count, so a
  step skipped for a non-finite loss does not move the drop.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

STAGE_FIELDS = ("warmup_steps", "lr_drop_step", "lr_drop_factor")


def stage_rate(base: float, stage_config: ml_collections.ConfigDict,
               stage_step: jax.Array) -> jax.Array:
  """The learning rate of one network at a step of its stage.

  Args:
    base: the stage's base rate for this network.
    stage_config: `config.optimizer.stage1` or `.stage2` (warm-up and drop).
    stage_step: 0-based step within the stage.

  Returns:
    float32 scalar.
  """
  step = jnp.asarray(stage_step, jnp.float32)
  rate = jnp.full((), base, jnp.float32)
  if stage_config.warmup_steps:
    rate = rate * jnp.minimum(1.0, (step + 1.0) / stage_config.warmup_steps)
  if stage_config.lr_drop_step:
    rate = jnp.where(step >= stage_config.lr_drop_step,
                     rate * stage_config.lr_drop_factor, rate)
  return rate


def learning_rates(config: ml_collections.ConfigDict,
                   step: jax.Array) -> tuple[jax.Array, jax.Array]:
  """G's and D's learning rates for the update of global step `step`.

  Args:
    config: the experiment configuration.
    step: the global step (stage 1 and 2 together), as in the train state.

  Returns:
    ``(g_rate, d_rate)`` float32 scalars (D's is 0 in stage 1).
  """
  opt = config.optimizer
  step = jnp.asarray(step)
  stage1 = step < config.stage1_steps
  g1 = stage_rate(opt.stage1.g_learning_rate, opt.stage1, step)
  stage2_step = step - config.stage1_steps
  g2 = stage_rate(opt.stage2.g_learning_rate, opt.stage2, stage2_step)
  d2 = stage_rate(opt.stage2.d_learning_rate, opt.stage2, stage2_step)
  return jnp.where(stage1, g1, g2), jnp.where(stage1, 0.0, d2)


def scale_by_rate(updates: Any, rate: jax.Array) -> Any:
  """Adam's direction times ``-rate``: the parameter change of one step."""
  return jax.tree_util.tree_map(lambda u: -rate * u, updates)


def adam(opt: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam without a learning rate: the rate comes from `learning_rates`."""
  return optax.scale_by_adam(b1=opt.adam_b1, b2=opt.adam_b2)
