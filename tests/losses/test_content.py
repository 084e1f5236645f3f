"""Tests for the content loss (Eq. 4) and its order-aware variants."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax.losses import CONTENT_ORDERS
from cbl_jax.losses import content_loss
from cbl_jax.losses import match_time_order
from cbl_jax.losses import time_order_permutation

content_fn = jax.jit(content_loss, static_argnames="order")


def _frames(num_frames, seed=0):
  rng = np.random.default_rng(seed)
  shape = (3, num_frames, 4, 5, 3)
  return (rng.uniform(size=shape).astype(np.float32),
          rng.uniform(size=shape).astype(np.float32))


def _mse(a, b):
  return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def _reference(pred, target, order):
  """Per-example loops over the definitions in content.py's docstring."""
  losses = []
  for p, s in zip(pred, target):
    t_count = len(p)
    forward = np.mean([_mse(p[t], s[t]) for t in range(t_count)])
    backward = np.mean([_mse(p[t], s[t_count - 1 - t])
                        for t in range(t_count)])
    if order == "forward":
      losses.append(forward)
    elif order == "best_of_both":
      losses.append(min(forward, backward))
    else:
      total = 0.0
      for t in range(t_count // 2):
        u = t_count - 1 - t
        total += min(_mse(p[t], s[t]) + _mse(p[u], s[u]),
                     _mse(p[t], s[u]) + _mse(p[u], s[t]))
      if t_count % 2:
        m = t_count // 2
        total += _mse(p[m], s[m])
      losses.append(total / t_count)
  return np.mean(losses)


@pytest.mark.parametrize("order,num_frames",
                         itertools.product(CONTENT_ORDERS, (7, 6, 1)))
def test_matches_reference(order, num_frames):
  pred, target = _frames(num_frames)
  np.testing.assert_allclose(content_fn(pred, target, order=order),
                             _reference(pred, target, order), rtol=1e-6)


def test_forward_is_eq4_mean_squared_error():
  pred, target = _frames(7)
  np.testing.assert_allclose(content_fn(pred, target), _mse(pred, target),
                             rtol=1e-6)


def test_order_invariances():
  pred, target = _frames(7, seed=1)
  forward, both, pairwise = (float(content_fn(pred, target, order=o))
                             for o in CONTENT_ORDERS)
  assert pairwise <= both <= forward
  # A prediction in reversed time costs nothing extra with best_of_both.
  reversed_pred = pred[:, ::-1]
  np.testing.assert_allclose(
      content_fn(reversed_pred, target, order="best_of_both"),
      content_fn(pred, target, order="best_of_both"), rtol=1e-6)
  assert float(content_fn(target[:, ::-1], target, order="best_of_both")) == 0
  # Pairwise: every symmetric pair may be swapped on its own.
  mixed = target.copy()
  mixed[:, [0, 6]] = target[:, [6, 0]]  # Swap the outer pair only.
  assert float(content_fn(mixed, target, order="pairwise")) == 0
  assert float(content_fn(mixed, target, order="best_of_both")) > 0.01


def test_gradient_and_dtype():
  pred, target = _frames(7, seed=2)
  for order in CONTENT_ORDERS:
    grad = jax.grad(content_loss)(jnp.asarray(pred, jnp.bfloat16), target,
                                  order=order)
    assert grad.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(grad)))
  assert content_fn(pred.astype(jnp.bfloat16), target).dtype == jnp.float32


def test_bad_arguments():
  pred, target = _frames(7)
  with pytest.raises(ValueError,
                     match="forward.*best_of_both.*pairwise") as info:
    content_loss(pred, target, order="backward")
  assert "\n" not in str(info.value)
  with pytest.raises(ValueError, match="same shape"):
    content_loss(pred, target[:, :6])
  with pytest.raises(ValueError, match="same shape"):
    content_loss(pred[0], target[0])


def test_log_mse_form_weighs_examples_by_their_own_scale():
  rng = np.random.default_rng(0)
  target = jnp.asarray(rng.uniform(size=(2, 3, 4, 4, 1)), jnp.float32)
  # Example 0 is off by 0.001 (a nearly static photo), example 1 by 0.1.
  pred = target + jnp.asarray([0.001, 0.1])[:, None, None, None, None]
  log_mse = content_loss(pred, target, form="log_mse")
  expected = np.mean([np.log10(0.001**2 + 1e-6), np.log10(0.1**2 + 1e-6)])
  np.testing.assert_allclose(float(log_mse), expected, rtol=1e-5)
  # Under plain MSE the small error's gradient is 100x smaller than the
  # big one's; under log_mse it is the larger one.
  def per_example_grad(form):
    grads = jax.grad(lambda p: content_loss(p, target, form=form))(pred)
    return np.abs(np.asarray(grads)).sum(axis=(1, 2, 3, 4))
  mse_grad = per_example_grad("mse")
  np.testing.assert_allclose(mse_grad[0] / mse_grad[1], 0.01, rtol=1e-3)
  log_grad = per_example_grad("log_mse")
  assert log_grad[0] > 5 * log_grad[1]
  for order in ("best_of_both", "pairwise"):
    # Order handling works on the log errors as on the squared ones.
    assert float(content_loss(pred, target, order=order,
                              form="log_mse")) <= float(log_mse) + 1e-6
  with pytest.raises(ValueError, match="Unknown content loss form"):
    content_loss(pred, target, form="l1")


def test_charbonnier_form_is_a_smooth_l1_whose_pull_does_not_shrink():
  rng = np.random.default_rng(1)
  target = jnp.asarray(rng.uniform(size=(2, 3, 4, 4, 1)), jnp.float32)
  # Example 0 is off by 0.01, example 1 by 0.1.
  pred = target + jnp.asarray([0.01, 0.1])[:, None, None, None, None]
  loss = content_loss(pred, target, form="charbonnier")
  eps = 1e-3 / 2.55
  expected = np.mean([np.sqrt(0.01**2 + eps**2), np.sqrt(0.1**2 + eps**2)])
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  grads = np.abs(np.asarray(jax.grad(
      lambda p: content_loss(p, target, form="charbonnier"))(pred)))
  per_example = grads.sum(axis=(1, 2, 3, 4))
  # Errors 10x apart pull (almost) equally hard, unlike squared errors.
  np.testing.assert_allclose(per_example[0] / per_example[1], 1.0, atol=0.01)
  # Exact frames cost eps, the minimum.
  np.testing.assert_allclose(
      float(content_loss(target, target, form="charbonnier")), eps, rtol=1e-5)
  reversed_pred = pred[:, ::-1]
  assert float(content_loss(reversed_pred, target, order="best_of_both",
                            form="charbonnier")) < float(content_loss(
                                reversed_pred, target, form="charbonnier"))


def test_relative_form_weighs_each_example_by_its_input_error():
  rng = np.random.default_rng(2)
  target = jnp.asarray(rng.uniform(size=(2, 3, 4, 4, 1)), jnp.float32)
  # Example 0 is still (the input is its frames); example 1 moves.
  target = target.at[0].set(jnp.broadcast_to(target[0, :1], target.shape[1:]))
  blurry = target.mean(1)
  still_input = jnp.broadcast_to(blurry[:, None], target.shape)
  pred = target + 0.01
  floor = 1e-4
  errors = np.full(2, 1e-4)
  baseline = np.asarray(jnp.mean(
      (still_input - target) ** 2, axis=(1, 2, 3, 4)))
  assert baseline[0] < 1e-12 and baseline[1] > 0.01
  weights = 1 / (baseline + floor)
  loss = content_loss(pred, target, form="relative_mse", reference=blurry,
                      floor=floor)
  np.testing.assert_allclose(float(loss),
                             np.sum(weights * errors) / np.sum(weights),
                             rtol=1e-5)
  # The still example's error counts over 100 times more than the moving
  # one's: a model may not trade it for a small gain on moving scenes.
  grads = np.abs(np.asarray(jax.grad(lambda p: content_loss(
      p, target, form="relative_mse", reference=blurry, floor=floor))(pred)))
  per_example = grads.sum(axis=(1, 2, 3, 4))
  assert per_example[0] > 100 * per_example[1]
  # The input costs exactly its weighted error: no gradient reaches it.
  np.testing.assert_allclose(
      float(content_loss(still_input, target, form="relative_mse",
                         reference=blurry, floor=floor)),
      np.sum(weights * baseline) / np.sum(weights), rtol=1e-5)
  with pytest.raises(ValueError, match=r"needs reference=the \(B, H, W, C\)"):
    content_loss(pred, target, form="relative_mse")
  with pytest.raises(ValueError, match="needs reference"):
    content_loss(pred, target, form="relative_mse", reference=target)


@pytest.mark.parametrize("order", CONTENT_ORDERS)
def test_matched_target_gives_the_same_loss_forward(order):
  """The other loss terms can use the order the content loss chose."""
  pred, target = _frames(7, seed=3)
  matched = match_time_order(pred, target, order)
  np.testing.assert_allclose(content_fn(pred, matched),
                             content_fn(pred, target, order=order), rtol=1e-6)
  perm = np.asarray(time_order_permutation(pred, target, order))
  for b in range(len(pred)):
    # A permutation of the frames, which keeps the middle frame in place.
    assert sorted(perm[b]) == list(range(7)) and perm[b, 3] == 3
    np.testing.assert_array_equal(matched[b], target[b, perm[b]])


def test_matching_follows_each_example():
  pred, target = _frames(7, seed=4)
  # Example 0 predicts forward, example 1 backwards, example 2 swaps only
  # the outer pair.
  pred = np.stack([target[0], target[1, ::-1],
                   target[2, [6, 1, 2, 3, 4, 5, 0]]])
  both = np.asarray(time_order_permutation(pred, target, "best_of_both"))
  pairs = np.asarray(time_order_permutation(pred, target, "pairwise"))
  np.testing.assert_array_equal(both[0], range(7))
  np.testing.assert_array_equal(both[1], range(6, -1, -1))
  np.testing.assert_array_equal(pairs[2], [6, 1, 2, 3, 4, 5, 0])
  np.testing.assert_array_equal(
      time_order_permutation(pred, target, "forward"), np.tile(range(7),
                                                               (3, 1)))


def test_matching_is_a_constant_for_gradients():
  pred, target = _frames(7, seed=5)
  grad = jax.grad(lambda p: jnp.sum(match_time_order(p, target,
                                                     "best_of_both")))(pred)
  assert not np.any(np.asarray(grad))
