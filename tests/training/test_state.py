"""Tests for the optimizer schedule and the initial state."""

import jax
import numpy as np
import pytest

from cbl_jax.training import state as state_lib
from configs import test as test_config


def test_schedule_warmup_then_constant_then_drop():
  config = test_config.get_config().optimizer
  config.warmup_steps, config.lr_drop_step, config.lr_drop_factor = 10, 50, 0.1
  schedule = state_lib.learning_rate_schedule(1e-3, config)
  values = [float(schedule(i)) for i in (0, 5, 10, 49, 50, 1000)]
  np.testing.assert_allclose(values, [0, 5e-4, 1e-3, 1e-3, 1e-4, 1e-4],
                             rtol=1e-6)


def test_schedule_without_warmup_is_the_papers():
  config = test_config.get_config().optimizer
  config.warmup_steps, config.lr_drop_step = 0, 150_000
  schedule = state_lib.learning_rate_schedule(1e-4, config)
  assert float(schedule(0)) == pytest.approx(1e-4)
  assert float(schedule(150_000)) == pytest.approx(1e-5)


def test_initial_state_has_both_networks_and_no_bad_steps():
  config = test_config.get_config()
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  state = jax.eval_shape(
      lambda key: state_lib.init_train_state(config, key, generator,
                                             discriminator, g_tx, d_tx),
      jax.random.key(0))
  assert state.step.shape == ()
  assert "L1" in state.g_params and "conv1" in state.d_params
  assert "bn1" in state.d_batch_stats
