"""The training state: one pytree for both networks and both optimizers.

Stage 1 trains the generator alone, so the discriminator does not exist
yet: its fields are None, stage-1 checkpoints hold only what stage 1
changes, and a stage-1 step carries no discriminator memory. `begin_stage2`
creates it from the seed at the first step of stage 2, the same way whether
stage 2 follows stage 1 in one command, resumes from a stage-1 checkpoint,
or starts from `config.init_from`.
"""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from cbl_jax import models
from cbl_jax.models import Discriminator
from cbl_jax.training import schedules

# Loss terms whose non-finite values the steps detect, in a fixed order so
# that the state can record which one went wrong as an integer.
GUARDED_TERMS = ("content", "adversarial", "contiguous", "discriminator",
                 "generator_gradients", "discriminator_gradients")


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training.

  Attributes:
    step: number of train steps taken (stage 1 and 2 together).
    g_params: generator parameters.
    g_opt_state: generator optimizer state.
    d_params: discriminator parameters (None in stage 1).
    d_batch_stats: discriminator batch-norm running statistics (None in
      stage 1).
    d_opt_state: discriminator optimizer state (None in stage 1).
    skipped_steps: steps whose loss or gradient was not finite, which left
      the networks unchanged.
    first_bad_step: the first such step, or -1.
    first_bad_term: index into GUARDED_TERMS of the term that was not finite
      at `first_bad_step`, or -1.
  """

  step: jax.Array
  g_params: Any
  g_opt_state: Any
  d_params: Any
  d_batch_stats: Any
  d_opt_state: Any
  skipped_steps: jax.Array
  first_bad_step: jax.Array
  first_bad_term: jax.Array


def create_generator(config: ml_collections.ConfigDict) -> nn.Module:
  """Builds the generator `config.generator` names (see `cbl_jax.models`)."""
  return models.create_generator(config.generator.to_dict(),
                                 "config.generator")


def create_discriminator(config: ml_collections.ConfigDict) -> Discriminator:
  """Builds the discriminator from `config.discriminator`."""
  kwargs = config.discriminator.to_dict()
  for key in ("group_features", "group_depths", "fc_features"):
    kwargs[key] = tuple(kwargs[key])
  return Discriminator(**kwargs)


def create_optimizers(config: ml_collections.ConfigDict,
                      ) -> tuple[optax.GradientTransformation,
                                 optax.GradientTransformation]:
  """Adam for G and for D; their rates come from `schedules.learning_rates`."""
  return (schedules.adam(config.optimizer),
          schedules.adam(config.optimizer))


def _split(rng: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The generator's and the discriminator's initialisation keys."""
  g_rng, d_rng = jax.random.split(rng)
  return g_rng, d_rng


def init_train_state(config: ml_collections.ConfigDict, rng: jax.Array,
                     generator: nn.Module,
                     g_tx: optax.GradientTransformation) -> TrainState:
  """The state at step 0: the generator, and no discriminator yet.

  Run under jit, never on the host.

  Args:
    config: the experiment configuration (crop size).
    rng: the initialisation key (the discriminator's is derived from it too,
      in `begin_stage2`).
    generator: the generator module.
    g_tx: generator optimizer.

  Returns:
    The stage-1 state at step 0.
  """
  size = config.data.crop_size
  g_params = generator.init(_split(rng)[0],
                            jnp.zeros((1, size, size, 3)))["params"]
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      g_opt_state=g_tx.init(g_params),
      d_params=None,
      d_batch_stats=None,
      d_opt_state=None,
      skipped_steps=jnp.zeros((), jnp.int32),
      first_bad_step=jnp.full((), -1, jnp.int32),
      first_bad_term=jnp.full((), -1, jnp.int32),
  )


def begin_stage2(config: ml_collections.ConfigDict, state: TrainState,
                 rng: jax.Array, discriminator: nn.Module,
                 g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation) -> TrainState:
  """The state at the first step of stage 2: D created, optimizers fresh.

  The discriminator is initialised from the same key every time, so a run
  resumed from a stage-1 checkpoint (which holds no D) continues exactly.
  Both optimizers start afresh; see `schedules` for why.

  Args:
    config: the experiment configuration (crop size).
    state: the state at the end of stage 1 (or from `init_from`).
    rng: the same initialisation key as `init_train_state`'s.
    discriminator: the discriminator module.
    g_tx: generator optimizer.
    d_tx: discriminator optimizer.

  Returns:
    The state with every field set.
  """
  size = config.data.crop_size
  d_vars = discriminator.init(_split(rng)[1], jnp.zeros((1, size, size, 3)),
                              train=False)
  return state.replace(
      g_opt_state=g_tx.init(state.g_params),
      d_params=d_vars["params"],
      d_batch_stats=d_vars["batch_stats"],
      d_opt_state=d_tx.init(d_vars["params"]))


def has_discriminator(state: Any) -> bool:
  """Whether a state (or its abstract shape) is a stage-2 state."""
  return state.d_params is not None
