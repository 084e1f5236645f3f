"""Exact BT.601 (full-range, JPEG) conversion between RGB and YCbCr.

Section 3.3.1 of the paper deblurs the Y channel and puts the input's Cb/Cr
back. Values are floats in [0, 1]; chroma is offset by 0.5 so that it also
lies in [0, 1] for in-gamut colours.
"""

import jax.numpy as jnp
import numpy as np

# ITU-R BT.601 luma coefficients, full range as JFIF uses them.
_KR, _KG, _KB = 0.299, 0.587, 0.114
_RGB_TO_YCBCR = np.array(
    [
        [_KR, _KG, _KB],
        [-0.5 * _KR / (1 - _KB), -0.5 * _KG / (1 - _KB), 0.5],
        [0.5, -0.5 * _KG / (1 - _KR), -0.5 * _KB / (1 - _KR)],
    ],
    dtype=np.float64,
)
# The inverse is taken in float64 so that the round trip is exact to float32
# precision, rather than using the rounded textbook constants (1.402, ...).
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 0.5, 0.5])


def rgb_to_ycbcr(rgb: jnp.ndarray) -> jnp.ndarray:
  """Converts RGB in [0, 1] to YCbCr with chroma centred at 0.5.

  Args:
    rgb: array (..., 3) of RGB values in [0, 1].

  Returns:
    Array (..., 3): Y, Cb, Cr.
  """
  matrix = jnp.asarray(_RGB_TO_YCBCR.T, dtype=rgb.dtype)
  return rgb @ matrix + jnp.asarray(_CHROMA_OFFSET, dtype=rgb.dtype)


def ycbcr_to_rgb(ycbcr: jnp.ndarray) -> jnp.ndarray:
  """Inverse of `rgb_to_ycbcr`.

  Args:
    ycbcr: array (..., 3) of Y, Cb, Cr.

  Returns:
    Array (..., 3) of RGB values (not clipped).
  """
  matrix = jnp.asarray(_YCBCR_TO_RGB.T, dtype=ycbcr.dtype)
  return (ycbcr - jnp.asarray(_CHROMA_OFFSET, dtype=ycbcr.dtype)) @ matrix
