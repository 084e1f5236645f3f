"""Computation dtypes: float32, bfloat16, or "auto" by backend.

Mixed precision as usual for convolutional networks: the convolutions and
activations run in the computation dtype, while parameters (and so the
optimizer state and checkpoints) stay float32, and the networks' outputs,
the losses and the contextual loss's distances are float32. bfloat16 halves
the memory traffic and runs at the full tensor-core rate on GPUs (float32
convolutions run as TF32 at half that rate on an H100) and is the MXU's
native input on TPUs. CPUs gain nothing from it, hence "auto".
"""

from typing import Any

import jax
import jax.numpy as jnp

DTYPES = ("float32", "bfloat16", "auto")
# Backends whose matrix units run bfloat16 at a higher rate than float32.
_BF16_BACKENDS = ("gpu", "cuda", "rocm", "tpu")


def compute_dtype(dtype: Any) -> Any:
  """The dtype to compute in.

  Args:
    dtype: "float32", "bfloat16", "auto" (bfloat16 on GPUs and TPUs, float32
      on CPUs), or a dtype.

  Returns:
    A JAX dtype.

  Raises:
    ValueError: an unknown name.
  """
  if isinstance(dtype, str):
    if dtype == "auto":
      return (jnp.bfloat16 if jax.default_backend() in _BF16_BACKENDS
              else jnp.float32)
    if dtype not in DTYPES:
      raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}.")
    return jnp.dtype(dtype)
  return dtype
