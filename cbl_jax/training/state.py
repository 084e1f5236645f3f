"""The training state: one pytree for both networks and both optimizers."""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from cbl_jax.models import Discriminator, Generator
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
    d_params: discriminator parameters.
    d_batch_stats: discriminator batch-norm running statistics.
    d_opt_state: discriminator optimizer state.
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


def create_generator(config: ml_collections.ConfigDict) -> Generator:
  """Builds the generator from `config.generator`."""
  return Generator(**config.generator.to_dict())


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


def begin_stage2(state: TrainState, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation) -> TrainState:
  """Fresh optimizer states for both networks at the first step of stage 2.

  See `schedules` for why: the one-command run and a stage-2 run started
  from `config.init_from` then train identically.
  """
  return state.replace(g_opt_state=g_tx.init(state.g_params),
                       d_opt_state=d_tx.init(state.d_params))


def init_train_state(config: ml_collections.ConfigDict, rng: jax.Array,
                     generator: nn.Module, discriminator: nn.Module,
                     g_tx: optax.GradientTransformation,
                     d_tx: optax.GradientTransformation) -> TrainState:
  """Initialises every part of the state (run under jit, never on the host).

  Args:
    config: the experiment configuration (crop size and frame count).
    rng: initialisation key.
    generator: the generator module.
    discriminator: the discriminator module.
    g_tx: generator optimizer.
    d_tx: discriminator optimizer.

  Returns:
    The state at step 0.
  """
  g_rng, d_rng = jax.random.split(rng)
  size = config.data.crop_size
  g_params = generator.init(g_rng, jnp.zeros((1, size, size, 3)))["params"]
  d_vars = discriminator.init(d_rng, jnp.zeros((1, size, size, 3)),
                              train=False)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      g_opt_state=g_tx.init(g_params),
      d_params=d_vars["params"],
      d_batch_stats=d_vars["batch_stats"],
      d_opt_state=d_tx.init(d_vars["params"]),
      skipped_steps=jnp.zeros((), jnp.int32),
      first_bad_step=jnp.full((), -1, jnp.int32),
      first_bad_term=jnp.full((), -1, jnp.int32),
  )
