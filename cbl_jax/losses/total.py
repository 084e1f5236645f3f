"""Total generator loss, Eq. 11 of Niu et al. (2021).

``L = L_content + alpha * L_adversarial + beta * L_contiguous``. The paper
trains with alpha = 0.001 and beta = 0.1 (Section 4, Figures 7-8); with
alpha = beta = 0 the GAN reduces to the plain ResNet generator trained on
Eq. 4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def total_generator_loss(
    content: jax.Array,
    adversarial: jax.Array,
    contiguous: jax.Array,
    *,
    alpha: float = 0.001,
    beta: float = 0.1,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Weighted sum of the generator's three losses, Eq. 11.

  Args:
    content: scalar content loss (Eq. 4, `content_loss`).
    adversarial: scalar adversarial loss (Eq. 3,
      `generator_adversarial_loss`).
    contiguous: scalar contiguous blurry loss (Eq. 10, `contiguous_loss`).
    alpha: weight of the adversarial loss.
    beta: weight of the contiguous loss.

  Returns:
    ``(total, terms)``: the scalar total and the unweighted terms under
    "content", "adversarial" and "contiguous", plus the total under "total".
  """
  terms = {
      "content": jnp.asarray(content, jnp.float32),
      "adversarial": jnp.asarray(adversarial, jnp.float32),
      "contiguous": jnp.asarray(contiguous, jnp.float32),
  }
  total = (terms["content"] + alpha * terms["adversarial"]
           + beta * terms["contiguous"])
  terms["total"] = total
  return total, terms
