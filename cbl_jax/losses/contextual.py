"""Contextual loss of Mechrez et al. (ECCV 2018): Eqs. 5-8 of Niu et al. (2021).

The contextual loss compares two images as *sets* of feature vectors, so it
works on pairs that are not pixel-aligned, such as a sharp frame predicted
from a blurry photo and the sharp frame the camera actually recorded.

For generated features ``x_i`` and target features ``y_j`` (i, j index the
N = H * W locations of one image) the reference implementation of Mechrez et
al. computes:

* both sets centred by the *target's* per-channel mean over (batch, H, W),
  and each location's vector L2-normalised;
* ``d_ij = (1 - cos(x_i, y_j)) / 2``, the cosine distance;
* Eq. 5: ``d~_ij = d_ij / (min_k d_ik + eps)``. The paper prints the
  normaliser as ``d_ik``; in Mechrez et al. it is the distance to the closest
  target feature (READING-NOTES.md, note 5);
* Eq. 6: ``w_ij = exp((1 - d~_ij) / h)``;
* Eq. 7: ``CX_ij = w_ij / sum_k w_ik``;
* Eq. 8: ``CX(x, y) = mean_j max_i CX_ij``, and the loss is ``-log CX``.

Memory. The N x N matrix never exists: generated locations ``i`` are
processed in chunks of rows. Each chunk holds ``chunk x N`` distances for the
whole row (Eq. 5's min and Eq. 7's sum need all of it), reduces them to a
per-target maximum, and a running maximum over chunks is carried through a
``lax.scan``. The chunk body is wrapped in ``jax.checkpoint``, so the backward
pass recomputes each chunk instead of storing it. What autodiff keeps is the
running maximum before each chunk: ``B * N * ceil(N / chunk)`` floats (16 MiB
for one 128 x 128 map at the default chunk), against ``B * N * N`` floats
(1 GiB) for every full-matrix temporary.

Numerics. Eq. 6's weights overflow for small bandwidths if formed literally.
The largest logit of row i is known in closed form (it belongs to the closest
target, ``d~ = m_i / (m_i + eps)`` with ``m_i = min_k d_ik``), so the row is
shifted by it before exponentiating:
``(1 - d~_ik) / h - max_k (1 - d~_ik) / h = (m_i - d_ik) / ((m_i + eps) h)``.
That is Eq. 7 computed as a softmax with no separate max pass. The loss is then
assembled in the log domain, ``-log mean_j exp(max_i log CX_ij)``, which is the
same number as Eq. 8 but cannot underflow.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
from jax import lax
import jax.numpy as jnp

# Distances are differences of cosines close to 1 that Eq. 5 then divides by
# numbers as small as eps, so the cosine matmul must not drop to bfloat16 or
# TF32 passes on accelerators.
_PRECISION = lax.Precision.HIGHEST

# Rows per chunk are picked so that one (chunk x N) float32 temporary is about
# this many elements (4 MiB): the few passes over a chunk then hit the cache.
# Tuned on a 2-core AMD EPYC (BENCHMARKS.md): 64 rows at N = 16384 was
# fastest; 128 rows ran up to 1.7x slower, 32 rows slightly slower.
_AUTO_CHUNK_ELEMENTS = 2**20
_MIN_AUTO_CHUNK = 8

# Squared norms below this are treated as this, so that a location whose
# centred feature vector is exactly zero normalises to zero instead of NaN,
# and its gradient stays finite.
_NORM_FLOOR = 1e-12

ChunkSize = int | Literal["auto"] | None


def auto_chunk_size(num_locations: int) -> int:
  """Rows per chunk chosen for ``chunk_size="auto"``.

  Args:
    num_locations: N, the number of generated (and target) locations.

  Returns:
    A chunk size with ``chunk * N`` close to ``2**20`` elements, at least 8
    and at most N.
  """
  chunk = max(_MIN_AUTO_CHUNK, _AUTO_CHUNK_ELEMENTS // max(num_locations, 1))
  return min(chunk, num_locations)


def pixel_positions(height: int, width: int) -> jax.Array:
  """Row-major (row, column) coordinates of an ``height x width`` grid.

  Both axes are divided by the same number, ``max(height, width) - 1``, so a
  step of one pixel costs the same in either direction and the longer side
  spans [0, 1].

  Args:
    height: H of the feature map.
    width: W of the feature map.

  Returns:
    float32 array of shape (H * W, 2), location ``r * W + c`` holding
    ``(r, c) / (max(H, W) - 1)``.
  """
  scale = 1.0 / max(max(height, width) - 1, 1)
  rows, cols = jnp.meshgrid(
      jnp.arange(height, dtype=jnp.float32),
      jnp.arange(width, dtype=jnp.float32),
      indexing="ij",
  )
  return jnp.stack([rows.ravel(), cols.ravel()], axis=-1) * scale


def _l2_normalise(v: jax.Array) -> jax.Array:
  sq_norm = jnp.sum(v * v, axis=-1, keepdims=True)
  return v * lax.rsqrt(jnp.maximum(sq_norm, _NORM_FLOOR))


def _chunk_log_cx_max(
    x_rows: jax.Array,
    row_valid: jax.Array,
    row_pos: jax.Array | None,
    y_t: jax.Array,
    col_pos: jax.Array | None,
    spatial_weight: float | jax.Array | None,
    band_width: float,
    eps: float,
) -> jax.Array:
  """``max_i log CX_ij`` over one chunk of generated rows (Eqs. 5-7).

  Args:
    x_rows: (B, c, C) normalised generated features of the chunk's rows.
    row_valid: (c,) False for padding rows, which must never win the max.
    row_pos: (c, 2) positions of those rows, or None without a spatial term.
    y_t: (B, C, M) normalised target features, channels first so that the
      cosine matmul and its transpose in the backward pass are plain GEMMs.
    col_pos: (M, 2) positions of the targets, or None.
    spatial_weight: weight of the spatial distance, or None for pure Eq. 5.
    band_width: h of Eq. 6.
    eps: epsilon of Eq. 5.

  Returns:
    (B, M) float32: for each target j, the largest log CX_ij over the rows.
  """
  cos = jnp.einsum("bic,bcj->bij", x_rows, y_t, precision=_PRECISION)
  # Rounding can push the cosine of identical unit vectors just above 1;
  # Eq. 5 divides by the row's smallest distance, which must not go below 0.
  dist = jnp.maximum((1.0 - cos) * 0.5, 0.0)
  if spatial_weight is not None:
    diff = row_pos[:, None, :] - col_pos[None, :, :]
    dist = dist + spatial_weight * jnp.sqrt(jnp.sum(diff * diff, axis=-1))
  dmin = jnp.min(dist, axis=-1, keepdims=True)
  # Eq. 6's logit minus its row maximum (see the module docstring).
  logits = (dmin - dist) / ((dmin + eps) * band_width)
  log_cx = logits - jnp.log(jnp.sum(jnp.exp(logits), axis=-1, keepdims=True))
  log_cx = jnp.where(row_valid[None, :, None], log_cx, -jnp.inf)
  return jnp.max(log_cx, axis=1)


def _log_cx_column_max(
    x: jax.Array,
    y: jax.Array,
    positions: jax.Array | None,
    spatial_weight: float | jax.Array | None,
    band_width: float,
    eps: float,
    chunk_size: ChunkSize,
) -> jax.Array:
  """``max_i log CX_ij`` for every target j, chunked over i.

  Args:
    x: (B, N, C) normalised generated features.
    y: (B, N, C) normalised target features.
    positions: (N, 2) positions shared by x and y, or None.
    spatial_weight: see `_chunk_log_cx_max`.
    band_width: h of Eq. 6.
    eps: epsilon of Eq. 5.
    chunk_size: rows per chunk, "auto", or None for one unchunked pass.

  Returns:
    (B, N) float32.
  """
  batch, n, channels = x.shape
  y_t = jnp.swapaxes(y, 1, 2)
  if chunk_size == "auto":
    chunk_size = auto_chunk_size(n)
  if chunk_size is not None and (
      not isinstance(chunk_size, int) or chunk_size < 1):
    raise ValueError(
        "chunk_size must be a positive int, 'auto' or None; got"
        f" {chunk_size!r}."
    )
  if chunk_size is None or chunk_size >= n:
    return _chunk_log_cx_max(
        x, jnp.ones((n,), bool), positions, y_t, positions,
        spatial_weight, band_width, eps,
    )

  num_chunks = -(-n // chunk_size)
  pad = num_chunks * chunk_size - n
  # Padding rows are zero vectors; they are masked to -inf inside the chunk.
  x_rows = jnp.pad(x, ((0, 0), (0, pad), (0, 0)))
  x_rows = x_rows.reshape(batch, num_chunks, chunk_size, channels)
  x_rows = jnp.moveaxis(x_rows, 1, 0)
  row_valid = (jnp.arange(num_chunks * chunk_size) < n).reshape(
      num_chunks, chunk_size
  )
  if positions is None:
    row_pos = jnp.zeros((num_chunks, chunk_size, 2), jnp.float32)
  else:
    row_pos = jnp.pad(positions, ((0, pad), (0, 0)))
    row_pos = row_pos.reshape(num_chunks, chunk_size, 2)

  # Recompute each chunk in the backward pass rather than keep its
  # (B, chunk, N) temporaries: that is what bounds the gradient's memory.
  # The whole step is checkpointed, so the only residual per chunk is the
  # running maximum it started from.
  @jax.checkpoint
  def body(running_max, chunk):
    rows, valid, pos = chunk
    chunk_max = _chunk_log_cx_max(
        rows, valid, None if positions is None else pos, y_t, positions,
        spatial_weight, band_width, eps,
    )
    return jnp.maximum(running_max, chunk_max), None

  init = jnp.full((batch, n), -jnp.inf, jnp.float32)
  log_cx_max, _ = lax.scan(body, init, (x_rows, row_valid, row_pos))
  return log_cx_max


def contextual_loss_with_positions(
    x: jax.Array,
    y: jax.Array,
    *,
    spatial_weight: float | jax.Array | None,
    band_width: float,
    eps: float,
    chunk_size: ChunkSize,
    num_samples: int | None,
    rng: jax.Array | None,
    loss_name: str = "contextual_loss",
) -> jax.Array:
  """Shared implementation of `contextual_loss` and `contiguous_loss`.

  ``spatial_weight=None`` is exactly Eqs. 5-8. A number adds
  ``spatial_weight * ||p_i - p_j||`` to every distance before Eq. 5
  (see `cbl_jax.losses.contiguous`).

  Args:
    x: (B, H, W, C) generated features.
    y: (B, H, W, C) target features.
    spatial_weight: weight of the spatial distance, or None.
    band_width: h of Eq. 6.
    eps: epsilon of Eq. 5.
    chunk_size: rows per chunk, "auto", or None.
    num_samples: if set and below H * W, compare only this many locations,
      drawn without replacement with one set of indices shared by x, y and
      the positions (as the reference's random pooling does).
    rng: PRNG key for the sampling; required when ``num_samples`` is set.
    loss_name: the public function's name, for error messages.

  Returns:
    Scalar float32: the batch mean of ``-log CX(x_b, y_b)``.
  """
  if x.ndim != 4 or x.shape != y.shape:
    raise ValueError(
        f"{loss_name} expects x and y of the same shape (B, H, W, C); got"
        f" {x.shape} and {y.shape}."
    )
  batch, height, width, channels = x.shape
  n = height * width
  # Inputs may be bfloat16; Eq. 5 divides by distances near eps, so every
  # step from here on runs in float32.
  x = x.astype(jnp.float32).reshape(batch, n, channels)
  y = y.astype(jnp.float32).reshape(batch, n, channels)
  positions = None
  if spatial_weight is not None:
    positions = lax.stop_gradient(pixel_positions(height, width))

  if num_samples is not None and num_samples < n:
    if rng is None:
      raise ValueError("num_samples is set, so an rng key is required.")
    idx = jax.random.choice(rng, n, (num_samples,), replace=False)
    x, y = x[:, idx], y[:, idx]
    if positions is not None:
      positions = positions[idx]
    n = num_samples

  # Centre by the target's statistics only: the generated image must not be
  # able to move the origin of the comparison.
  mean = jnp.mean(y, axis=(0, 1))
  x = _l2_normalise(x - mean)
  y = _l2_normalise(y - mean)

  log_cx_max = _log_cx_column_max(
      x, y, positions, spatial_weight, band_width, eps, chunk_size
  )
  # Eq. 8 in logs: log CX = log mean_j max_i CX_ij.
  log_cx = jax.nn.logsumexp(log_cx_max, axis=-1) - math.log(n)
  return -jnp.mean(log_cx)


def contextual_loss(
    x: jax.Array,
    y: jax.Array,
    *,
    band_width: float = 0.5,
    eps: float = 1e-5,
    chunk_size: ChunkSize = "auto",
    num_samples: int | None = None,
    rng: jax.Array | None = None,
) -> jax.Array:
  """Contextual loss, Eqs. 5-8, as in Mechrez et al.'s reference code.

  Computes ``-log CX(x_b, y_b)`` for every batch element and averages, where
  ``CX = mean_j max_i CX_ij`` (Eq. 8) with CX_ij from Eqs. 5-7 (see the module
  docstring). The loss is 0 when every target feature has a generated feature
  that is closer to it than to anything else, and grows as features go
  missing. It is invariant to permuting either image's locations.

  Differences from the reference: a location whose centred feature vector is
  exactly zero is mapped to the zero vector rather than NaN, and distances are
  clamped at 0 against rounding. The batch mean of ``-log`` matches the
  reference's ``reduce_mean(-log(CS))``.

  Args:
    x: (B, H, W, C) features of the generated image (float32 or bfloat16).
    y: (B, H, W, C) features of the target image, same shape.
    band_width: h of Eq. 6; the reference uses 0.5 for VGG features.
    eps: epsilon of Eq. 5 (1e-5 in the paper and the reference).
    chunk_size: generated locations processed per step of the scan. "auto"
      picks about 2**20 / (H * W) rows (4 MiB per example per temporary);
      None computes the full N x N matrix at once (N = H * W). Peak memory is
      about ``B * chunk * N`` floats per temporary, plus
      ``B * N * ceil(N / chunk)`` floats kept for the gradient.
    num_samples: compare only this many randomly chosen locations (shared by
      x and y), as the reference does for large maps. None uses all of them.
    rng: PRNG key used when ``num_samples`` is set.

  Returns:
    Scalar float32 loss, the batch mean of ``-log CX(x_b, y_b)``.

  Raises:
    ValueError: on mismatched shapes, a bad chunk_size, or num_samples
      without rng.
  """
  return contextual_loss_with_positions(
      x, y,
      spatial_weight=None,
      band_width=band_width,
      eps=eps,
      chunk_size=chunk_size,
      num_samples=num_samples,
      rng=rng,
  )
