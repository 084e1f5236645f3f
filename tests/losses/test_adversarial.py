"""Tests for the adversarial losses (Eqs. 3 and 13)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax.losses import discriminator_loss
from cbl_jax.losses import generator_adversarial_loss


def _probs(logits):
  logits = np.asarray(logits, np.float64)
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


LOGITS = np.array([[0.3, -1.2], [2.0, 0.5], [-0.7, 1.1]], np.float32)


def test_generator_forms_match_definitions():
  d_fake = _probs(LOGITS)[:, 1]  # D(G(x)): the probability of "real".
  np.testing.assert_allclose(
      generator_adversarial_loss(LOGITS, form="paper"),
      np.mean(np.log(1 - d_fake)), rtol=1e-6)
  np.testing.assert_allclose(
      generator_adversarial_loss(LOGITS, form="non_saturating"),
      np.mean(-np.log(d_fake)), rtol=1e-6)
  # The paper's form is the default.
  assert generator_adversarial_loss(LOGITS) == generator_adversarial_loss(
      LOGITS, form="paper")


def test_discriminator_loss_is_cross_entropy():
  real = LOGITS
  fake = LOGITS[::-1] * 2
  want = -(np.mean(np.log(_probs(real)[:, 1]))
           + np.mean(np.log(1 - _probs(fake)[:, 1])))
  np.testing.assert_allclose(discriminator_loss(real, fake), want, rtol=1e-6)


def test_stable_for_confident_discriminators():
  # D is sure the fakes are fake: 1 - D(G(x)) = 1, D(G(x)) = exp(-200).
  sure = np.array([[100.0, -100.0]], np.float32)
  np.testing.assert_allclose(generator_adversarial_loss(sure), 0, atol=1e-6)
  np.testing.assert_allclose(
      generator_adversarial_loss(sure, form="non_saturating"), 200, rtol=1e-6)
  np.testing.assert_allclose(discriminator_loss(sure[:, ::-1], sure), 0,
                             atol=1e-6)
  # The saturating form's gradient vanishes there; the other's does not.
  g_paper = jax.grad(generator_adversarial_loss)(sure)
  g_ns = jax.grad(generator_adversarial_loss)(sure, form="non_saturating")
  assert bool(jnp.all(jnp.isfinite(g_paper))) and float(
      jnp.abs(g_paper).max()) < 1e-30
  np.testing.assert_allclose(g_ns, [[1.0, -1.0]], atol=1e-6)


def test_generator_gradient_raises_the_real_logit():
  for form in ("paper", "non_saturating"):
    grad = jax.grad(generator_adversarial_loss)(LOGITS, form=form)
    # Descending the loss moves the "real" logit up and the "fake" one down.
    assert bool(jnp.all(grad[:, 1] < 0)) and bool(jnp.all(grad[:, 0] > 0))


def test_bad_arguments():
  with pytest.raises(ValueError, match="paper.*non_saturating"):
    generator_adversarial_loss(LOGITS, form="wgan")
  with pytest.raises(ValueError, match=r"\(N, 2\)"):
    generator_adversarial_loss(np.zeros((3, 1), np.float32))
  with pytest.raises(ValueError, match=r"\(N, 2\)"):
    discriminator_loss(LOGITS, np.zeros((3,), np.float32))
