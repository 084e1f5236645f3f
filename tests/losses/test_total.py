"""Tests for the total generator loss (Eq. 11)."""

import jax
import numpy as np

from cbl_jax.losses import total_generator_loss


def test_weighted_sum_and_terms():
  total, terms = total_generator_loss(2.0, -3.0, 4.0, alpha=0.01, beta=0.5)
  np.testing.assert_allclose(total, 2.0 - 0.03 + 2.0, rtol=1e-6)
  assert set(terms) == {"content", "adversarial", "contiguous", "total"}
  assert float(terms["adversarial"]) == -3.0  # Terms are unweighted.
  assert terms["total"] is total


def test_paper_defaults_and_content_only():
  total, _ = total_generator_loss(1.0, 10.0, 10.0)  # alpha 1e-3, beta 0.1.
  np.testing.assert_allclose(total, 1.0 + 0.01 + 1.0, rtol=1e-6)
  # alpha = beta = 0 leaves the content loss: the plain ResNet generator.
  total, _ = total_generator_loss(1.5, 10.0, 10.0, alpha=0.0, beta=0.0)
  assert float(total) == 1.5


def test_differentiable_under_jit():
  def loss(w):
    return total_generator_loss(w ** 2, w, 3 * w, alpha=0.5, beta=2.0)[0]
  np.testing.assert_allclose(jax.jit(jax.grad(loss))(2.0), 4 + 0.5 + 6,
                             rtol=1e-6)
