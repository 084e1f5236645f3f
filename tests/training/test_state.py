"""Tests for the optimizer schedule and the initial state."""

import jax
import numpy as np
import pytest

from cbl_jax.training import schedules
from cbl_jax.training import state as state_lib
from configs import gopro
from configs import test as test_config


def test_stage_schedule_warmup_then_constant_then_drop():
  config = test_config.get_config().optimizer.stage1
  config.warmup_steps, config.lr_drop_step, config.lr_drop_factor = 10, 50, 0.1
  values = [float(schedules.stage_rate(1e-3, config, i))
            for i in (0, 4, 9, 10, 49, 50, 1000)]
  # The first update already moves (1/10 of the rate, not 0); the full rate
  # is reached at the last warm-up step.
  np.testing.assert_allclose(values, [1e-4, 5e-4, 1e-3, 1e-3, 1e-3, 1e-4,
                                      1e-4], rtol=1e-6)


def test_stage_schedule_without_warmup_is_the_papers():
  config = gopro.get_config().optimizer.stage1
  assert float(schedules.stage_rate(1e-4, config, 0)) == pytest.approx(1e-4)
  assert float(schedules.stage_rate(1e-4, config, 149_999)) == pytest.approx(
      1e-4)
  assert float(schedules.stage_rate(1e-4, config, 150_000)) == pytest.approx(
      1e-5)


def test_each_stage_counts_its_own_steps():
  config = test_config.get_config()
  config.stage1_steps = 100
  config.optimizer.stage1.update(dict(g_learning_rate=1e-3, warmup_steps=0,
                                      lr_drop_step=50, lr_drop_factor=0.5))
  config.optimizer.stage2.update(dict(g_learning_rate=2e-4,
                                      d_learning_rate=3e-4, warmup_steps=4,
                                      lr_drop_step=10, lr_drop_factor=0.1))
  rates = lambda step: tuple(
      float(r) for r in schedules.learning_rates(config, step))
  assert rates(0) == pytest.approx((1e-3, 0.0))
  assert rates(99) == pytest.approx((5e-4, 0.0))
  assert rates(100) == pytest.approx((0.5e-4, 0.75e-4))  # Warm-up 1/4.
  assert rates(103) == pytest.approx((2e-4, 3e-4))
  assert rates(110) == pytest.approx((2e-5, 3e-5))
  # A stage-2 run on its own (from init_from) sees the same rates.
  alone = config.copy_and_resolve_references()
  alone.stage1_steps = 0
  for step in range(20):
    assert tuple(float(r) for r in schedules.learning_rates(
        alone, step)) == pytest.approx(rates(100 + step))


def test_discriminator_is_born_at_stage_2_from_the_seed():
  config = test_config.get_config()
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  key = jax.random.key(0)
  stage1 = jax.jit(lambda k: state_lib.init_train_state(
      config, k, generator, g_tx))(key)
  assert int(stage1.step) == 0 and "L1" in stage1.g_params
  assert not state_lib.has_discriminator(stage1)
  assert stage1.d_params is None and stage1.d_opt_state is None
  begin = jax.jit(lambda s, k: state_lib.begin_stage2(
      config, s, k, discriminator, g_tx, d_tx))
  stage2 = begin(stage1, key)
  assert state_lib.has_discriminator(stage2)
  assert "conv1" in stage2.d_params and "bn1" in stage2.d_batch_stats
  # The same key gives the same D, whenever stage 2 begins.
  again = begin(stage1.replace(step=stage1.step + 7), key)
  jax.tree_util.tree_map(np.testing.assert_array_equal, stage2.d_params,
                         again.d_params)
