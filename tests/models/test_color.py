"""Tests for the BT.601 colour conversion."""

import jax.numpy as jnp
import numpy as np

from cbl_jax import color


def test_known_values():
  rgb = jnp.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
  ycbcr = np.asarray(color.rgb_to_ycbcr(rgb))
  np.testing.assert_allclose(ycbcr[0], [1.0, 0.5, 0.5], atol=1e-6)
  np.testing.assert_allclose(ycbcr[1], [0.0, 0.5, 0.5], atol=1e-6)
  # JFIF: Y = 0.299 R, Cb = 0.5 - 0.168736 R, Cr = 1.0 for pure red.
  np.testing.assert_allclose(ycbcr[2], [0.299, 0.5 - 0.168736, 1.0],
                             atol=1e-6)


def test_round_trip_is_exact_to_float32():
  rgb = np.random.default_rng(0).uniform(size=(4, 17, 9, 3)).astype(np.float32)
  back = color.ycbcr_to_rgb(color.rgb_to_ycbcr(jnp.asarray(rgb)))
  np.testing.assert_allclose(np.asarray(back), rgb, atol=2e-7)
