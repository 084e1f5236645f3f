"""Adversarial losses, Eqs. 3 and 13 of Niu et al. (2021).

The discriminator ends in a two-class soft-max (Table 2): logits of shape
(N, 2), class 1 = "real sharp frame", class 0 = "generated". So
``D(x) = softmax(logits)[..., 1]`` and ``1 - D(x) = softmax(logits)[..., 0]``;
both logarithms come from one ``log_softmax`` and never take the log of a
probability that rounded to 0.

* Generator, Eq. 3: ``L_adv = log(1 - D(G(I_blurry)))``, minimised by G
  (``form="paper"``). It saturates: when D confidently rejects the fakes,
  as it does early in training, the gradient vanishes. Goodfellow et al.
  (2014) suggest maximising ``log D(G(x))`` instead, i.e. minimising
  ``-log D(G(x))`` (``form="non_saturating"``; READING-NOTES.md, note 7).
* Discriminator, Eq. 13: ``-(mean log D(real) + mean log(1 - D(fake)))``,
  the soft-max cross-entropy with labels 1 for real and 0 for fake.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

GENERATOR_FORMS = ("paper", "non_saturating")


def _log_probs(logits: jax.Array) -> jax.Array:
  if logits.ndim != 2 or logits.shape[-1] != 2:
    raise ValueError(
        f"Expected discriminator logits of shape (N, 2); got {logits.shape}."
    )
  return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)


def generator_adversarial_loss(
    fake_logits: jax.Array,
    *,
    form: str = "paper",
) -> jax.Array:
  """Generator's adversarial loss, Eq. 3 or its non-saturating form.

  Args:
    fake_logits: (N, 2) discriminator logits for generated frames.
    form: "paper" for ``mean log(1 - D(G(x)))`` (Eq. 3; it is negative and
      falls towards -inf as G wins) or "non_saturating" for
      ``mean -log D(G(x))``.

  Returns:
    Scalar float32 loss for G to minimise.

  Raises:
    ValueError: unknown form or logits not of shape (N, 2).
  """
  if form not in GENERATOR_FORMS:
    raise ValueError(
        f"Unknown adversarial form {form!r}; choose from {GENERATOR_FORMS}."
    )
  log_p = _log_probs(fake_logits)
  if form == "paper":
    return jnp.mean(log_p[:, 0])
  return -jnp.mean(log_p[:, 1])


def discriminator_loss(
    real_logits: jax.Array,
    fake_logits: jax.Array,
) -> jax.Array:
  """Discriminator's loss, Eq. 13: two-class soft-max cross-entropy.

  Args:
    real_logits: (N, 2) logits for real sharp frames (label 1).
    fake_logits: (M, 2) logits for generated frames (label 0).

  Returns:
    Scalar float32 ``-(mean log D(real) + mean log(1 - D(fake)))``.

  Raises:
    ValueError: logits not of shape (N, 2).
  """
  return -(jnp.mean(_log_probs(real_logits)[:, 1])
           + jnp.mean(_log_probs(fake_logits)[:, 0]))
