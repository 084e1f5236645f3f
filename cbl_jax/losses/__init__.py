"""Losses of Niu et al. (2021), Section 3.2: content, adversarial, contiguous.

Self-contained: nothing here imports the rest of `cbl_jax`, so the contextual
and contiguous losses can be used alone.

* `content` (Eq. 4): `content_loss`, with order-invariant variants, and
  `match_time_order`, the target in the order the content loss chose (for
  the other terms of Eq. 11).
* `adversarial` (Eqs. 3, 13): `generator_adversarial_loss`,
  `discriminator_loss`.
* `contextual` (Eqs. 5-8): `contextual_loss`, chunked and memory-bounded.
* `contiguous` (Eqs. 9-10): `contiguous_loss`, `frames_contiguous_loss`.
* `features`: feature extractors for the last two ("patches", "vgg19").
* `total` (Eq. 11): `total_generator_loss`.
"""

from cbl_jax.losses.adversarial import discriminator_loss
from cbl_jax.losses.adversarial import GENERATOR_FORMS
from cbl_jax.losses.adversarial import generator_adversarial_loss
from cbl_jax.losses.content import CONTENT_ORDERS
from cbl_jax.losses.content import content_loss
from cbl_jax.losses.content import match_time_order
from cbl_jax.losses.content import time_order_permutation
from cbl_jax.losses.contextual import auto_chunk_size
from cbl_jax.losses.contextual import contextual_loss
from cbl_jax.losses.contiguous import contiguous_loss
from cbl_jax.losses.contiguous import frames_contiguous_loss
from cbl_jax.losses.features import extract_features
from cbl_jax.losses.features import FEATURE_EXTRACTORS
from cbl_jax.losses.features import load_vgg19_params
from cbl_jax.losses.features import patch_features
from cbl_jax.losses.features import VGG19Trunk
from cbl_jax.losses.features import vgg19_features
from cbl_jax.losses.total import total_generator_loss

__all__ = [
    "CONTENT_ORDERS",
    "FEATURE_EXTRACTORS",
    "GENERATOR_FORMS",
    "VGG19Trunk",
    "auto_chunk_size",
    "content_loss",
    "contextual_loss",
    "contiguous_loss",
    "discriminator_loss",
    "extract_features",
    "frames_contiguous_loss",
    "generator_adversarial_loss",
    "load_vgg19_params",
    "match_time_order",
    "patch_features",
    "time_order_permutation",
    "total_generator_loss",
    "vgg19_features",
]
