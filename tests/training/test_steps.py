"""Tests of the train steps: time order, D's batch statistics, directions."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax import losses
from cbl_jax.training import state as state_lib
from cbl_jax.training import steps as steps_lib
from configs import test as test_config
from tests.losses import jaxpr_params


def _build(config):
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  init_rng = jax.random.key(0)
  state = jax.jit(functools.partial(
      state_lib.init_train_state, config, generator=generator,
      g_tx=g_tx))(init_rng)
  if not config.stage1_steps:
    state = jax.jit(functools.partial(
        state_lib.begin_stage2, config, discriminator=discriminator,
        g_tx=g_tx, d_tx=d_tx))(state, init_rng)
  content_step, gan_step = steps_lib.make_steps(config, generator,
                                                discriminator, g_tx, d_tx)
  return generator, discriminator, state, jax.jit(content_step), jax.jit(
      gan_step)


def _batch(batch_size=2, size=16, seed=0):
  rng = np.random.default_rng(seed)
  sharp = rng.integers(0, 256, (batch_size, 7, size, size, 3), np.uint8)
  blurry = np.round(sharp.mean(axis=1)).astype(np.uint8)
  return {"blurry": blurry, "sharp": sharp}


def _stage2_config(**loss):
  config = test_config.get_config()
  config.stage1_steps = 0
  config.generator.init_stddev = 0.3  # Frames far from the input.
  config.loss.update(loss)
  return config


@pytest.mark.parametrize("mode", ["real_and_fake", "running"])
def test_generator_sees_discriminator_as_configured(mode):
  """G's adversarial term equals D's logits for the same fakes."""
  config = _stage2_config(adversarial_batch_stats=mode, beta=0.0)
  generator, discriminator, state, _, gan_step = _build(config)
  batch = _batch()
  new_state, metrics = gan_step(state, batch, jax.random.key(1))
  blurry = batch["blurry"].astype(np.float32) / 255
  sharp = batch["sharp"].astype(np.float32) / 255
  pred = generator.apply({"params": state.g_params}, blurry)
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  # D after its update in this step, as the G update sees it.
  variables = {"params": new_state.d_params,
               "batch_stats": new_state.d_batch_stats}
  if mode == "real_and_fake":
    # As D was trained: real and generated frames in one batch.
    logits, _ = discriminator.apply(
        variables, flat(jnp.concatenate([sharp, pred])), train=True,
        mutable=["batch_stats"])
    fake_logits = logits[len(logits) // 2:]
  else:
    fake_logits = discriminator.apply(variables, flat(pred), train=False)
  expected = losses.generator_adversarial_loss(
      fake_logits, form=config.loss.adversarial_form)
  np.testing.assert_allclose(metrics["adversarial_loss"], expected,
                             rtol=1e-5)
  if mode == "real_and_fake":
    # Fake-only batch statistics would judge G by another function.
    fake_only, _ = discriminator.apply(variables, flat(pred), train=True,
                                       mutable=["batch_stats"])
    other = losses.generator_adversarial_loss(
        fake_only, form=config.loss.adversarial_form)
    assert abs(float(other) - float(expected)) > 1e-4


def test_both_loss_terms_use_the_same_time_order():
  """Reversing the target changes neither the content nor the CBL term.

  (`tests/losses/test_content.py` checks that every order's matching gives
  the content loss; here the step passes the match on to the CBL term.)
  """
  config = _stage2_config(time_order="best_of_both")
  _, _, state, _, gan_step = _build(config)
  batch = _batch()
  backwards = dict(batch, sharp=batch["sharp"][:, ::-1])
  _, forward_metrics = gan_step(state, batch, jax.random.key(1))
  _, reversed_metrics = gan_step(state, backwards, jax.random.key(1))
  for term in ("content_loss", "contiguous_loss"):
    np.testing.assert_allclose(forward_metrics[term], reversed_metrics[term],
                               rtol=1e-5)
  # The forward order is sensitive to it, in both terms.
  config = _stage2_config(time_order="forward")
  _, _, state, _, gan_step = _build(config)
  _, forward_metrics = gan_step(state, batch, jax.random.key(1))
  _, reversed_metrics = gan_step(state, backwards, jax.random.key(1))
  assert not np.isclose(forward_metrics["contiguous_loss"],
                        reversed_metrics["contiguous_loss"], rtol=1e-4)


def _moving_dots_batch(rng, batch_size=8, size=16):
  """Short bars moving right by one pixel per frame: one direction of time."""
  frames = np.zeros((batch_size, 7, size, size, 3), np.float32)
  for b in range(batch_size):
    for _ in range(3):
      row, col = rng.integers(0, size), rng.integers(0, size - 7)
      colour = rng.uniform(0.3, 1.0, 3)
      for t in range(7):
        frames[b, t, row:row + 2, col + t] = colour
  return {"blurry": np.round(frames.mean(axis=1) * 255).astype(np.uint8),
          "sharp": np.round(frames * 255).astype(np.uint8)}


@functools.lru_cache(maxsize=1)
def _moving_dots_model():
  config = test_config.get_config()
  config.generator.update(dict(features=16, num_blocks=2, head_features=32))
  config.optimizer.stage1.g_learning_rate = 3e-3
  config.loss.time_order = "forward"
  generator, _, state, content_step, _ = _build(config)
  return generator, state, content_step


def _train_on_moving_dots(reverse_half: bool, steps: int = 150):
  generator, state, content_step = _moving_dots_model()
  rng = np.random.default_rng(0)
  for _ in range(steps):
    batch = _moving_dots_batch(rng)
    if reverse_half:  # What random time reversal does to the targets.
      flip = rng.uniform(size=len(batch["sharp"])) < 0.5
      batch["sharp"][flip] = batch["sharp"][flip, ::-1]
    state, _ = content_step(state, batch, None)
  test = _moving_dots_batch(np.random.default_rng(99))
  pred = np.asarray(generator.apply(
      {"params": state.g_params}, test["blurry"].astype(np.float32) / 255))
  return pred, test["sharp"].astype(np.float32) / 255


def test_consistent_motion_learns_distinct_first_and_last_frames():
  """With one direction of motion and Eq. 4 as written, nothing is ghosted.

  The paper configs train the forward loss on unreversed data: the learned
  end frames differ, each like its own target. Random reversal with the
  same loss (which the configs now refuse) pulls both towards their mean.
  """
  mse = lambda a, b: float(np.mean((a - b) ** 2))
  pred, sharp = _train_on_moving_dots(reverse_half=False)
  true_gap = mse(sharp[:, 0], sharp[:, 6])
  assert mse(pred[:, 0], pred[:, 6]) > 0.5 * true_gap
  assert mse(pred[:, 0], sharp[:, 0]) < 0.2 * mse(pred[:, 0], sharp[:, 6])
  assert mse(pred[:, 6], sharp[:, 6]) < 0.2 * mse(pred[:, 6], sharp[:, 0])
  ghosted, _ = _train_on_moving_dots(reverse_half=True)
  assert mse(ghosted[:, 0], ghosted[:, 6]) < 0.1 * true_gap


def test_contiguous_precision_reaches_the_loss():
  """config.loss.contiguous.precision sets the loss's cosine matmul."""
  config = _stage2_config()
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  # Shapes only: tracing the step needs no parameters.
  init_rng = jax.random.key(0)
  state = jax.eval_shape(functools.partial(
      state_lib.init_train_state, config, generator=generator, g_tx=g_tx),
                         init_rng)
  state = jax.eval_shape(functools.partial(
      state_lib.begin_stage2, config, discriminator=discriminator,
      g_tx=g_tx, d_tx=d_tx), state, init_rng)
  presets = {}
  for precision in ("highest", "BF16_BF16_F32"):
    config.loss.contiguous.precision = precision
    _, gan_step = steps_lib.make_steps(config, generator, discriminator,
                                       g_tx, d_tx)
    presets[precision] = jaxpr_params.primitive_params(
        gan_step, (state, _batch(), jax.random.key(1)), "dot_general",
        "precision")
  # The networks' matmuls are the same in both; the loss's differ.
  changed = [(a, b) for a, b in zip(presets["highest"],
                                    presets["BF16_BF16_F32"]) if a != b]
  assert len(presets["highest"]) == len(presets["BF16_BF16_F32"])
  assert changed and all(
      a == (jax.lax.Precision.HIGHEST,) * 2
      and b == jax.lax.DotAlgorithmPreset.BF16_BF16_F32 for a, b in changed)


def _content_run(config, steps):
  """Content losses and final parameters of `steps` stage-1 steps."""
  _, _, state, content_step, _ = _build(config)
  batch = _batch(batch_size=2, size=16, seed=3)
  # Example 0 still, example 1 moving: the forms weigh them differently.
  batch["sharp"][0] = batch["sharp"][0, :1]
  batch["blurry"][0] = batch["sharp"][0, 0]
  logged = []
  for _ in range(steps):
    state, metrics = content_step(state, batch, jax.random.key(0))
    logged.append(float(metrics["content_loss"]))
  return logged, state.g_params


def _relative_config(**loss):
  config = test_config.get_config()
  # He initialisation with the last layer at zero: the model starts as the
  # input, which costs nothing on the still example and much on the other.
  config.generator.init_stddev = None
  config.loss.update(dict(content_form="relative_mse", content_floor=1e-4,
                          content_mse_steps=0))
  config.loss.update(loss)
  return config


def test_content_mse_steps_switch_forms_at_the_step():
  mse, _ = _content_run(_relative_config(content_form="mse"), 3)
  relative, _ = _content_run(_relative_config(), 3)
  switched, _ = _content_run(_relative_config(content_mse_steps=2), 3)
  # Steps 0 and 1 are plain MSE, step 2 the relative form: the runs agree
  # with the pure runs up to the switch, and step 2 is neither.
  np.testing.assert_allclose(switched[:2], mse[:2], rtol=1e-6)
  assert not np.allclose(switched[:2], relative[:2], rtol=1e-3)
  assert not np.isclose(switched[2], mse[2], rtol=1e-3)


def test_content_late_step_switches_to_the_late_form():
  mse, _ = _content_run(_relative_config(content_form="mse"), 4)
  two, _ = _content_run(_relative_config(content_mse_steps=1), 4)
  three, _ = _content_run(_relative_config(
      content_mse_steps=1, content_late_step=2, content_late_form="log_mse",
      content_late_floor=1e-6), 4)
  # Step 0 plain MSE, step 1 relative_mse (as without a late form), steps 2
  # and 3 log_mse: log10 of squared errors, so negative.
  np.testing.assert_allclose(three[:2], two[:2], rtol=1e-6)
  np.testing.assert_allclose(three[0], mse[0], rtol=1e-6)
  assert all(x > 0 for x in two) and three[2] < 0 and three[3] < 0
  # The late floor is the late form's own: 1e-2 flattens log10 near -2.
  floored, _ = _content_run(_relative_config(
      content_mse_steps=1, content_late_step=2, content_late_form="log_mse",
      content_late_floor=1e-2), 4)
  assert -2.0 < floored[2] < three[2] + 1.0 and floored[2] > three[2]


def test_training_steps_ignore_the_dead_zone():
  config = _relative_config(content_form="mse")
  _, plain = _content_run(config, 2)
  config.generator.residual_deadzone = 0.5  # Larger than any residual.
  _, dead = _content_run(config, 2)
  for a, b in zip(jax.tree_util.tree_leaves(plain),
                  jax.tree_util.tree_leaves(dead)):
    np.testing.assert_array_equal(a, b)


def test_both_stages_log_the_inputs_own_loss():
  """content_loss_of_input: the step's content loss for 7 copies of the input.

  A model that starts as its input logs the same number in both at step 0.
  """
  config = _relative_config(content_form="mse")
  _, _, state, content_step, _ = _build(config)
  batch = _batch(batch_size=2, size=16, seed=3)
  _, metrics = content_step(state, batch, jax.random.key(0))
  blurry = batch["blurry"].astype(np.float32) / 255
  sharp = batch["sharp"].astype(np.float32) / 255
  expected = losses.content_loss(
      np.broadcast_to(blurry[:, None], sharp.shape), sharp,
      order=config.loss.time_order)
  np.testing.assert_allclose(metrics["content_loss_of_input"], expected,
                             rtol=1e-6)
  np.testing.assert_allclose(metrics["content_loss"], expected, rtol=1e-5)
  config = _stage2_config(beta=0.0)
  _, _, state, _, gan_step = _build(config)
  _, metrics = gan_step(state, batch, jax.random.key(1))
  np.testing.assert_allclose(metrics["content_loss_of_input"], expected,
                             rtol=1e-6)
  assert not np.isclose(metrics["content_loss"], expected, rtol=1e-3)
