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
whole row (Eq. 5's min and Eq. 7's sum need all of it) and reduces them to a
per-target maximum; a ``lax.scan`` carries the running maximum over chunks.
The gradient has its own rule (`jax.custom_vjp`). The forward scan also
records, per target j, a row attaining the maximum and how many rows attain
it; the backward scan recomputes each chunk and pulls the cotangent of
``max_i`` back through the rows that attain it, split equally between ties
as `jnp.max`'s gradient does (identical features, as in flat image regions,
tie exactly). What the gradient keeps is the inputs plus two (B, N) integer
arrays; peak memory is that plus a few ``(B, chunk, N)`` temporaries of one
chunk. Plain autodiff of the scan would instead keep the running maximum
before every chunk, ``B * N * ceil(N / chunk)`` floats: 28 GiB for
256 x 256 maps, batch 4 x 7 frames, at the 16-row chunks of the CPU rule.

Ties are found by comparing keys, not recomputed values (see "Ties" below):
XLA may round two copies of the same elementwise value differently, and
the backward pass never compares its recomputation with the forward's
numbers, so a backend that recomputes a chunk with another matmul algorithm
(GPU autotuning may) still sends every column's gradient to its maximum.

Numerics. Eq. 6's weights overflow for small bandwidths if formed literally.
The largest logit of row i is known in closed form (it belongs to the closest
target, ``d~ = m_i / (m_i + eps)`` with ``m_i = min_k d_ik``), so the row is
shifted by it before exponentiating:
``(1 - d~_ik) / h - max_k (1 - d~_ik) / h = (m_i - d_ik) / ((m_i + eps) h)``.
That is Eq. 7 computed as a softmax with no separate max pass. The loss is then
assembled in the log domain, ``-log mean_j exp(max_i log CX_ij)``, which is the
same number as Eq. 8 but cannot underflow.

Precision. Distances are differences of cosines close to 1 that Eq. 5 then
divides by numbers as small as eps, so by default the cosine matmul runs at
``Precision.HIGHEST`` (true float32). ``precision=`` trades that for speed on
accelerators; BENCHMARKS.md measures what it costs in loss and gradient.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal, NamedTuple

import jax
from jax import lax
import jax.numpy as jnp

# The cosine matmul's precision unless the caller chooses: true float32.
DEFAULT_PRECISION = "highest"
# The names `precision=` takes besides `lax.Precision` and
# `lax.DotAlgorithmPreset` values: lax.Precision's own names and
# `jax_default_matmul_precision`'s, then any DotAlgorithmPreset member name.
_PRECISION_NAMES = ("highest", "high", "default", "float32", "tensorfloat32",
                    "bfloat16", "fastest")

# CPU rule: rows per chunk are picked so that one (chunk x N) float32
# temporary is about this many elements (4 MiB): the few passes over a chunk
# then hit the cache. Tuned on a 2-core AMD EPYC (BENCHMARKS.md): 64 rows at
# N = 16384 was fastest; 128 rows ran up to 1.7x slower, 32 rows slightly
# slower.
_AUTO_CHUNK_ELEMENTS = 2**20
_MIN_AUTO_CHUNK = 8

# Accelerator rule: the chunk's temporaries get a share of the device's
# memory. The loss runs inside a training step that also holds the
# generator's activations, both networks' parameters and Adam moments, so it
# takes an eighth; with no memory statistics (an unknown device), 2 GiB,
# an eighth of a 16 GiB TPU v5e chip.
_ACCELERATOR_MEMORY_FRACTION = 1 / 8
_ACCELERATOR_DEFAULT_BUDGET = 2 * 2**30
# Live float32 (B, chunk, N) arrays at the peak of one backward step, as XLA
# plans them (compiled memory analysis, BENCHMARKS.md: 4.1 to 4.6 for the
# contextual and contiguous loss at 256 x 256), rounded up.
_TEMPORARIES_PER_CHUNK = 5
# Row counts are multiples of this (TPU sublanes, GPU matmul tiles).
_ACCELERATOR_ROW_MULTIPLE = 8

# Squared norms below this are treated as this, so that a location whose
# centred feature vector is exactly zero normalises to zero instead of NaN,
# and its gradient stays finite.
_NORM_FLOOR = 1e-12

ChunkSize = int | Literal["auto"] | None
PrecisionLike = Any  # What jnp.einsum's precision= takes.


def _device_memory_budget(backend: str) -> int:
  """Bytes for the chunk's temporaries on ``backend``'s first device."""
  try:
    stats = jax.local_devices(backend=backend)[0].memory_stats() or {}
  except RuntimeError:  # Backend not present here (e.g. sizing for a TPU).
    stats = {}
  limit = stats.get("bytes_limit")
  if not limit:
    return _ACCELERATOR_DEFAULT_BUDGET
  return int(limit * _ACCELERATOR_MEMORY_FRACTION)


def auto_chunk_size(
    num_locations: int,
    batch_size: int = 1,
    *,
    backend: str | None = None,
    memory_budget: int | None = None,
) -> int:
  """Rows per chunk chosen for ``chunk_size="auto"``.

  Two rules. On a CPU the chunk is sized for the cache: ``chunk * N`` close
  to ``2**20`` elements, whatever the batch. On a GPU or TPU it is sized for
  a memory budget: the largest chunk whose temporaries, about
  ``5 * batch_size * chunk * N`` float32 values in the backward pass, fit in
  ``memory_budget`` bytes (by default an eighth of the device's memory as
  ``memory_stats()`` reports it, or 2 GiB when it reports none), evened out
  over the chunks and rounded to a multiple of 8 rows.

  Args:
    num_locations: N, the number of generated (and target) locations.
    batch_size: B, the feature maps compared at once (the budget is for all
      of them; under batch sharding, the global batch: conservative).
    backend: "cpu", "gpu", "tpu", ...; None is `jax.default_backend()`.
    memory_budget: bytes for the chunk's temporaries. Given, the budget rule
      is used on any backend.

  Returns:
    Rows per chunk, at least 8 (or N if smaller) and at most N.
  """
  n = max(num_locations, 1)
  if memory_budget is None:
    backend = backend or jax.default_backend()
    if backend == "cpu":
      chunk = max(_MIN_AUTO_CHUNK, _AUTO_CHUNK_ELEMENTS // n)
      return min(chunk, num_locations)
    memory_budget = _device_memory_budget(backend)
  bytes_per_row = _TEMPORARIES_PER_CHUNK * max(batch_size, 1) * n * 4
  most = max(_MIN_AUTO_CHUNK, memory_budget // bytes_per_row)
  if most >= n:
    return num_locations
  # As many chunks as the budget needs, each as even as the multiple allows:
  # the last chunk's padding rows are wasted work.
  num_chunks = -(-n // most)
  step = _ACCELERATOR_ROW_MULTIPLE
  chunk = -(-(-(-n // num_chunks)) // step) * step  # Even split, rounded up.
  if chunk > most:
    chunk = most // step * step  # most >= 8 = step.
  return int(min(chunk, num_locations))


def pixel_grid(height: int, width: int) -> jax.Array:
  """Row-major integer (row, column) coordinates of an ``height x width`` grid.

  Args:
    height: H of the feature map.
    width: W of the feature map.

  Returns:
    int32 array of shape (H * W, 2), location ``r * W + c`` holding
    ``(r, c)``.
  """
  rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.int32),
                            jnp.arange(width, dtype=jnp.int32), indexing="ij")
  return jnp.stack([rows.ravel(), cols.ravel()], axis=-1)


def pixel_scale(height: int, width: int) -> float:
  """Grid steps to normalised units: ``1 / (max(H, W) - 1)`` (1 if 1 x 1).

  Both axes are divided by the same number, so a step of one pixel costs the
  same in either direction and the longer side spans [0, 1].
  """
  return 1.0 / max(max(height, width) - 1, 1)


def pixel_positions(height: int, width: int) -> jax.Array:
  """Normalised row-major (row, column) coordinates of an ``H x W`` grid.

  Args:
    height: H of the feature map.
    width: W of the feature map.

  Returns:
    float32 array of shape (H * W, 2), location ``r * W + c`` holding
    ``(r, c) * pixel_scale(H, W)``.
  """
  return pixel_grid(height, width).astype(jnp.float32) * pixel_scale(
      height, width)


def check_precision(precision: PrecisionLike, loss_name: str) -> None:
  """Raises a one-line ValueError unless jnp.einsum takes ``precision``.

  Args:
    precision: the value given to a loss.
    loss_name: the public function's name, for the message.
  """
  if precision is None or isinstance(
      precision, (lax.Precision, lax.DotAlgorithmPreset, lax.DotAlgorithm)):
    return
  if isinstance(precision, str) and (
      precision in _PRECISION_NAMES
      or precision in lax.DotAlgorithmPreset.__members__):
    return
  raise ValueError(
      f"{loss_name}: precision={precision!r} is not a matmul precision; use"
      " 'highest' (exact float32, the default), 'high', 'default', or a"
      " jax.lax.DotAlgorithmPreset name such as 'BF16_BF16_F32'."
  )


def _l2_normalise(v: jax.Array) -> jax.Array:
  sq_norm = jnp.sum(v * v, axis=-1, keepdims=True)
  return v * lax.rsqrt(jnp.maximum(sq_norm, _NORM_FLOOR))


def _cosine_matmul(x_rows: jax.Array, y_t: jax.Array,
                   precision: PrecisionLike) -> jax.Array:
  """(B, c, C) x (B, C, M) -> (B, c, M) cosines, the loss's only matmul."""
  return jnp.einsum("bic,bcj->bij", x_rows, y_t, precision=precision)


class _Options(NamedTuple):
  """The static settings of one loss evaluation (hashable, for custom_vjp)."""
  chunk_size: int
  band_width: float
  eps: float
  precision: PrecisionLike
  # A spatial weight known at trace time (a Python number, per grid step);
  # a traced one is passed as an argument instead, so that it gets a
  # gradient.
  static_weight: float | None


class _Chunk(NamedTuple):
  """Eqs. 5-7 on one chunk of c rows against all M targets."""
  dist0: jax.Array           # (B, c, M) cosine distance, clamped at 0.
  d2: jax.Array | None       # (c, M) int32 squared grid distances, or None.
  spatial: jax.Array | None  # (c, M) grid distances, or None.
  dist: jax.Array            # (B, c, M) Eq. 5's d_ij.
  logits: jax.Array          # (B, c, M) Eq. 6's logits minus the row max.
  dmin: jax.Array            # (B, c, 1) row minimum of dist.
  den: jax.Array             # (B, c, 1) (dmin + eps) * band_width.
  exp: jax.Array             # (B, c, M) exp(logits).
  total: jax.Array           # (B, c, 1) row sum of exp.
  log_cx: jax.Array          # (B, c, M) log CX_ij, -inf on padding rows.


def _squared_grid_distances(row_grid: jax.Array,
                            col_grid: jax.Array) -> jax.Array:
  """(c, M) int32 squared distances between integer grid coordinates."""
  diff = row_grid[:, None, :] - col_grid[None, :, :]
  return jnp.sum(diff * diff, axis=-1)


def _chunk(cos: jax.Array, weight, valid: jax.Array,
           row_grid: jax.Array | None, col_grid: jax.Array | None,
           opts: _Options) -> _Chunk:
  """Eqs. 5-7 from the cosines of a chunk.

  Args:
    cos: (B, c, M) cosines of the chunk's rows with every target.
    weight: weight of the spatial distance per grid step, or None for pure
      Eq. 5.
    valid: (c,) False for padding rows, which must never win the max.
    row_grid: (c, 2) int32 grid coordinates of the rows, or None without a
      spatial term.
    col_grid: (M, 2) int32 grid coordinates of the targets, or None.
    opts: static settings.

  Returns:
    The chunk's intermediate values (XLA keeps only those that are used).
  """
  # Rounding can push the cosine of identical unit vectors just above 1;
  # Eq. 5 divides by the row's smallest distance, which must not go below 0.
  dist0 = jnp.maximum((1.0 - cos) * 0.5, 0.0)
  dist, d2, spatial = dist0, None, None
  if weight is not None:
    # Integer squared distances: exact, so equal offsets give equal values.
    d2 = _squared_grid_distances(row_grid, col_grid)
    spatial = jnp.sqrt(d2.astype(jnp.float32))
    dist = dist0 + weight * spatial
  # Eq. 6's logit minus its row maximum (see the module docstring).
  dmin = jnp.min(dist, axis=-1, keepdims=True)
  den = (dmin + opts.eps) * opts.band_width
  logits = (dmin - dist) / den
  exp = jnp.exp(logits)
  total = jnp.sum(exp, axis=-1, keepdims=True)
  log_cx = jnp.where(valid[None, :, None], logits - jnp.log(total), -jnp.inf)
  return _Chunk(dist0, d2, spatial, dist, logits, dmin, den, exp, total,
                log_cx)


def _chunks(x: jax.Array, grid: jax.Array | None, chunk: int):
  """Splits the rows of x (and their grid coordinates) into padded chunks.

  Returns:
    ``(x_rows, row_valid, row_grid, offsets)``: (K, B, chunk, C) rows,
    padding rows zero; (K, chunk) validity; (K, chunk, 2) int32 coordinates
    (zeros without a spatial term); (K,) index of each chunk's first row.
    K = ceil(N / chunk).
  """
  batch, n, channels = x.shape
  num_chunks = -(-n // chunk)
  pad = num_chunks * chunk - n
  x_rows = jnp.pad(x, ((0, 0), (0, pad), (0, 0)))
  x_rows = jnp.moveaxis(x_rows.reshape(batch, num_chunks, chunk, channels),
                        1, 0)
  row_valid = (jnp.arange(num_chunks * chunk) < n).reshape(num_chunks, chunk)
  if grid is None:
    row_grid = jnp.zeros((num_chunks, chunk, 2), jnp.int32)
  else:
    row_grid = jnp.pad(grid, ((0, pad), (0, 0)))
    row_grid = row_grid.reshape(num_chunks, chunk, 2)
  offsets = jnp.arange(num_chunks, dtype=jnp.int32) * chunk
  return x_rows, row_valid, row_grid, offsets


# Ties. The rows that attain a column's maximum (and the targets that attain
# a row's minimum) are found by comparing a *key* of each entry rather than
# its value. log CX_ij is a function of the clamped cosine distance, the
# row's min_k d_ik and sum_k exp(...), and with the spatial term the row's
# grid position; d_ij of the clamped cosine distance and the integer squared
# grid distance. Equal keys give equal values. The parts of a key are exact
# functions of the matmul's output, outputs of reductions, or integers: XLA
# computes each once, or the same way wherever it is used, so every
# comparison reads the same bits. Comparing the values themselves would not
# be safe: XLA recomputes an elementwise value inside each fusion that reads
# it, and the copies can round differently (on a CPU, a division becomes a
# reciprocal and a fused multiply-add in one copy and not in another), so a
# tie could go unseen, or a maximum be attained by no row.


def _first_attaining(values: jax.Array, target: jax.Array, axis: int,
                     bigger: bool) -> jax.Array:
  """First index along ``axis`` where ``values`` reaches ``target``.

  ``target`` is a reduction (max or min) of a recomputation of ``values``,
  so an exact match is looked for first, then one within a few ulps.

  Args:
    values: the array that was reduced.
    target: its max (``bigger``) or min along ``axis``, keepdims.
    axis: the reduced axis.
    bigger: True for a maximum, False for a minimum.

  Returns:
    int32 indices, ``target``'s shape without ``axis``.
  """
  axis = axis % values.ndim
  size = values.shape[axis]
  tol = (8 * jnp.finfo(jnp.float32).eps * jnp.abs(target)
         + jnp.finfo(jnp.float32).tiny)
  if bigger:
    exact, near = values >= target, values >= target - tol
  else:
    exact, near = values <= target, values <= target + tol
  ids = lax.broadcasted_iota(jnp.int32, values.shape, axis)
  # One pass: the smallest of (0 if exact, 1 if near, 2 if neither) * n + i.
  rank = jnp.where(exact, 0, jnp.where(near, 1, 2))
  return jnp.min(rank * size + ids, axis=axis) % size


def _column_keys(c: _Chunk, local: jax.Array, row_grid: jax.Array | None):
  """Key of row ``local[b, j]`` of the chunk, for every column j.

  Returns:
    A tuple of (B, M) arrays: clamped cosine distance, row minimum, row sum,
    and (spatial term) the row's two int32 grid coordinates.
  """
  dist0 = jnp.take_along_axis(c.dist0, local[:, None, :], axis=1)[:, 0]
  dmin = jnp.take_along_axis(c.dmin[..., 0], local, axis=1)
  total = jnp.take_along_axis(c.total[..., 0], local, axis=1)
  if row_grid is None:
    return dist0, dmin, total
  return dist0, dmin, total, row_grid[local, 0], row_grid[local, 1]


def _column_matches(c: _Chunk, keys, valid: jax.Array,
                    row_grid: jax.Array | None) -> jax.Array:
  """(B, c, M) bool: valid entries (i, j) whose key is ``keys[.., j]``."""
  same = (valid[None, :, None] & (c.dist0 == keys[0][:, None, :])
          & (c.dmin == keys[1][:, None, :])
          & (c.total == keys[2][:, None, :]))
  if row_grid is not None:
    same &= ((row_grid[None, :, 0:1] == keys[3][:, None, :])
             & (row_grid[None, :, 1:2] == keys[4][:, None, :]))
  return same


def _no_keys(batch: int, n: int, spatial: bool):
  """Keys that match nothing (NaN), for columns not yet seen."""
  nan = jnp.full((batch, n), jnp.nan, jnp.float32)
  if not spatial:
    return nan, nan, nan
  none = jnp.full((batch, n), -1, jnp.int32)
  return nan, nan, nan, none, none


def _row_minima(c: _Chunk) -> jax.Array:
  """(B, c, M) bool: the entries attaining their row's minimum distance."""
  if c.d2 is None:
    # d_ij is the clamped cosine distance itself, computed exactly (no
    # rounding choices) wherever XLA computes it.
    return c.dist == c.dmin
  # With the spatial term, d_ij's last addition may or may not be fused
  # into a multiply-add, so find one minimum and compare keys.
  first = _first_attaining(c.dist, c.dmin, axis=-1, bigger=False)[..., None]
  dist0 = jnp.take_along_axis(c.dist0, first, axis=-1)
  d2 = jnp.take_along_axis(
      jnp.broadcast_to(c.d2, c.dist.shape), first, axis=-1)
  return (c.dist0 == dist0) & (c.d2 == d2)


def _forward_scan(x, y, grid, weight, opts: _Options, with_ties: bool):
  """The column maximum, and with ``with_ties`` where it is attained.

  Returns:
    ``(max, first, count)``, each (B, N): the largest log CX_ij over rows i;
    the first row attaining it in the first chunk that does (int32); the
    number of rows sharing that row's key, i.e. attaining the maximum
    (int32). The last two are None without ``with_ties``.
  """
  batch, n, _ = x.shape
  chunk = opts.chunk_size
  y_t = jnp.swapaxes(y, 1, 2)
  weight = weight if weight is not None else opts.static_weight
  x_rows, row_valid, row_grid, offsets = _chunks(x, grid, chunk)

  def body(carry, chunk_in):
    rows, valid, rgrid, offset = chunk_in
    rgrid = None if grid is None else rgrid
    c = _chunk(_cosine_matmul(rows, y_t, opts.precision),
               None if grid is None else weight, valid, rgrid, grid, opts)
    chunk_max = jnp.max(c.log_cx, axis=1)
    if not with_ties:
      return jnp.maximum(carry, chunk_max), None
    best, first, count, keys = carry
    # One row attaining the maximum (by value); from here on, by key.
    local = _first_attaining(c.log_cx, chunk_max[:, None, :], axis=1,
                             bigger=True)
    new = chunk_max > best
    keys = tuple(jnp.where(new, k_new, k)
                 for k_new, k in zip(_column_keys(c, local, rgrid), keys))
    matches = jnp.sum(_column_matches(c, keys, valid, rgrid), axis=1,
                      dtype=jnp.int32)
    count = jnp.where(new, 0, count) + matches
    first = jnp.where(new, offset + local, first)
    return (jnp.maximum(best, chunk_max), first, count, keys), None

  best = jnp.full((batch, n), -jnp.inf, jnp.float32)
  inputs = (x_rows, row_valid, row_grid, offsets)
  if not with_ties:
    best, _ = lax.scan(body, best, inputs)
    return best, None, None
  zeros = jnp.zeros((batch, n), jnp.int32)
  keys = _no_keys(batch, n, grid is not None)
  (best, first, count, _), _ = lax.scan(
      body, (best, zeros, zeros, keys), inputs)
  return best, first, count


def _chunk_backward(rows, y_t, weight, valid, row_grid, col_grid, offset,
                    first, share, keys, opts: _Options):
  """Pulls one chunk's share of the column-max cotangent back.

  Written out rather than left to autodiff of `_chunk`: the same derivative
  in fewer passes over the (B, c, M) chunk, with the ties that autodiff
  would split (Eq. 5's row minimum; the clamp at a distance of exactly 0)
  split the same way.

  Args:
    rows: (B, c, C) the chunk's generated rows.
    y_t: (B, C, M) targets, channels first.
    weight: spatial weight per grid step (number or traced scalar), or
      None.
    valid: (c,) False on padding rows.
    row_grid: (c, 2) int32 row coordinates, or None.
    col_grid: (M, 2) int32 target coordinates, or None.
    offset: index of the chunk's first row.
    first: (B, M) the row attaining each column's maximum that the forward
      pass recorded; no earlier chunk has one.
    share: (B, M) cotangent per attaining row.
    keys: keys of the columns whose recorded row came in an earlier chunk
      (matching nothing for the others).
    opts: static settings.

  Returns:
    ``(d_rows, d_y_t, d_weight, keys)``: cotangents of rows, y_t and the
    weight (None without a spatial term), and the updated keys.
  """
  chunk = rows.shape[1]
  cos, matmul_vjp = jax.vjp(
      functools.partial(_cosine_matmul, precision=opts.precision), rows, y_t)
  c = _chunk(cos, weight, valid, row_grid, col_grid, opts)
  # The recorded row's key, as recomputed here: the rows that tie are
  # compared with it, never with the forward pass's numbers.
  local = first - offset
  here = (local >= 0) & (local < chunk)
  keys = tuple(
      jnp.where(here, k_new, k) for k_new, k in
      zip(_column_keys(c, jnp.clip(local, 0, chunk - 1), row_grid), keys))
  # g_ij: cotangent of log CX_ij = logits_ij - log sum_k exp(logits_ik).
  g = jnp.where(_column_matches(c, keys, valid, row_grid),
                share[:, None, :], 0.0)
  g_sum = jnp.sum(g, axis=-1, keepdims=True)
  d_logits = g - c.exp * (g_sum / c.total)
  # logits = (dmin - d) / ((dmin + eps) h): through d directly, and through
  # dmin, whose cotangent is sum_j d_logits_ij (1 - h logits_ij) / den;
  # sum_j d_logits_ij = 0 because the softmax sums to 1.
  g_logits = jnp.sum(g * c.logits, axis=-1, keepdims=True)
  p_logits = jnp.sum(c.exp * c.logits, axis=-1, keepdims=True) / c.total
  d_min = -opts.band_width * (g_logits - g_sum * p_logits) / c.den
  # jnp.min's derivative: shared equally by the row's tied minima.
  at_min = _row_minima(c)
  d_dist = -d_logits / c.den + jnp.where(
      at_min, d_min / jnp.sum(at_min, axis=-1, keepdims=True), 0.0)
  # jnp.maximum(v, 0)'s derivative: 1 above 0, 1/2 at a tie, 0 below.
  half_gap = (1.0 - cos) * 0.5
  clamp = jnp.where(half_gap > 0, 1.0, jnp.where(half_gap == 0, 0.5, 0.0))
  d_rows, d_y_t = matmul_vjp(-0.5 * clamp * d_dist)
  d_weight = None if c.spatial is None else jnp.sum(d_dist * c.spatial)
  return d_rows, d_y_t, d_weight, keys


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _scanned_column_max(x, y, grid, weight, opts: _Options):
  """``max_i log CX_ij`` over row chunks, with a memory-lean gradient.

  Args:
    x: (B, N, C) normalised generated features.
    y: (B, N, C) normalised target features.
    grid: (N, 2) int32 grid coordinates shared by x and y, or None.
    weight: traced scalar spatial weight per grid step, or None (see
      `_Options`).
    opts: static settings.

  Returns:
    (B, N) float32.
  """
  return _forward_scan(x, y, grid, weight, opts, with_ties=False)[0]


def _scanned_column_max_fwd(x, y, grid, weight, opts):
  best, first, count = _forward_scan(x, y, grid, weight, opts,
                                     with_ties=True)
  # All that the gradient keeps: the inputs and two (B, N) integer arrays.
  return best, (x, y, grid, weight, first, count)


def _scanned_column_max_bwd(opts, residuals, g):
  x, y, grid, weight, first, count = residuals
  batch, n, _ = x.shape
  y_t = jnp.swapaxes(y, 1, 2)
  x_rows, row_valid, row_grid, offsets = _chunks(x, grid, opts.chunk_size)
  # Each row attaining a column's maximum gets an equal share of it, as
  # jnp.max's gradient gives. (count >= 1: the recorded row matches itself.)
  share = g / jnp.maximum(count, 1).astype(g.dtype)
  chunk_weight = None
  if grid is not None:
    chunk_weight = weight if weight is not None else opts.static_weight

  def body(carry, chunk_in):
    keys, dy_t, dweight = carry
    rows, valid, rgrid, offset = chunk_in
    d_rows, d_y_t, d_weight, keys = _chunk_backward(
        rows, y_t, chunk_weight, valid, None if grid is None else rgrid,
        grid, offset, first, share, keys, opts)
    if weight is not None:
      dweight = dweight + d_weight
    return (keys, dy_t + d_y_t, dweight), d_rows

  init = (_no_keys(batch, n, grid is not None), jnp.zeros_like(y_t),
          None if weight is None else jnp.zeros_like(weight))
  # In row order: a column's recorded row sets its key before any later row
  # is compared with it.
  (_, dy_t, dweight), dx_rows = lax.scan(
      body, init, (x_rows, row_valid, row_grid, offsets))
  dx = jnp.moveaxis(dx_rows, 0, 1).reshape(batch, -1, x.shape[-1])[:, :n]
  # Integer coordinates have no cotangent (None: a symbolic zero).
  return dx, jnp.swapaxes(dy_t, 1, 2), None, dweight


_scanned_column_max.defvjp(_scanned_column_max_fwd, _scanned_column_max_bwd)


def _log_cx_column_max(
    x: jax.Array,
    y: jax.Array,
    grid: jax.Array | None,
    spatial_weight: float | jax.Array | None,
    band_width: float,
    eps: float,
    chunk_size: ChunkSize,
    precision: PrecisionLike = DEFAULT_PRECISION,
) -> jax.Array:
  """``max_i log CX_ij`` for every target j, chunked over i.

  Args:
    x: (B, N, C) normalised generated features.
    y: (B, N, C) normalised target features.
    grid: (N, 2) int32 grid coordinates shared by x and y, or None.
    spatial_weight: weight of the spatial distance per grid step (a number
      or a traced scalar), or None for pure Eq. 5.
    band_width: h of Eq. 6.
    eps: epsilon of Eq. 5.
    chunk_size: rows per chunk, "auto", or None for one unchunked pass.
    precision: of the cosine matmul.

  Returns:
    (B, N) float32.
  """
  batch, n, _ = x.shape
  if chunk_size == "auto":
    chunk_size = auto_chunk_size(n, batch)
  if chunk_size is not None and (
      not isinstance(chunk_size, int) or isinstance(chunk_size, bool)
      or chunk_size < 1):
    raise ValueError(
        "chunk_size must be a positive int, 'auto' or None; got"
        f" {chunk_size!r}."
    )
  if spatial_weight is None:
    grid = None
  static_weight, weight = None, None
  if isinstance(spatial_weight, (int, float)):
    static_weight = float(spatial_weight)
  elif spatial_weight is not None:
    weight = jnp.asarray(spatial_weight, jnp.float32)
  opts = _Options(n if chunk_size is None else min(chunk_size, n),
                  float(band_width), float(eps), precision, static_weight)
  if opts.chunk_size == n:
    # One chunk: the whole matrix is held anyway, so plain autodiff (which
    # keeps it for the backward pass instead of recomputing it) is cheapest.
    c = _chunk(_cosine_matmul(x, jnp.swapaxes(y, 1, 2), precision),
               spatial_weight, jnp.ones((n,), bool), grid, grid, opts)
    return jnp.max(c.log_cx, axis=1)
  return _scanned_column_max(x, y, grid, weight, opts)


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
    precision: PrecisionLike = DEFAULT_PRECISION,
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
    precision: of the cosine matmul (see `contextual_loss`).
    loss_name: the public function's name, for error messages.

  Returns:
    Scalar float32: the batch mean of ``-log CX(x_b, y_b)``.
  """
  if x.ndim != 4 or x.shape != y.shape:
    raise ValueError(
        f"{loss_name} expects x and y of the same shape (B, H, W, C); got"
        f" {x.shape} and {y.shape}."
    )
  check_precision(precision, loss_name)
  batch, height, width, channels = x.shape
  n = height * width
  # Inputs may be bfloat16; Eq. 5 divides by distances near eps, so every
  # step from here on runs in float32.
  x = x.astype(jnp.float32).reshape(batch, n, channels)
  y = y.astype(jnp.float32).reshape(batch, n, channels)
  grid = None
  if spatial_weight is not None:
    grid = pixel_grid(height, width)
    # Distances are taken on the integer grid (exact), then scaled: the
    # weight per grid step carries pixel_scale.
    spatial_weight = spatial_weight * pixel_scale(height, width)

  if num_samples is not None and num_samples < n:
    if rng is None:
      raise ValueError("num_samples is set, so an rng key is required.")
    idx = jax.random.choice(rng, n, (num_samples,), replace=False)
    x, y = x[:, idx], y[:, idx]
    if grid is not None:
      grid = grid[idx]
    n = num_samples

  # Centre by the target's statistics only: the generated image must not be
  # able to move the origin of the comparison.
  mean = jnp.mean(y, axis=(0, 1))
  x = _l2_normalise(x - mean)
  y = _l2_normalise(y - mean)

  log_cx_max = _log_cx_column_max(
      x, y, grid, spatial_weight, band_width, eps, chunk_size, precision
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
    precision: PrecisionLike = DEFAULT_PRECISION,
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
      (`auto_chunk_size`) picks about 2**20 / (H * W) rows on a CPU (4 MiB
      per example per temporary) and fills a share of the device's memory on
      a GPU or TPU; None computes the full N x N matrix at once
      (N = H * W). Peak memory is the inputs plus about five
      ``B * chunk * N`` float32 temporaries, forward and backward.
    num_samples: compare only this many randomly chosen locations (shared by
      x and y), as the reference does for large maps. None uses all of them.
    rng: PRNG key used when ``num_samples`` is set.
    precision: of the cosine matmul, as `jnp.einsum` takes it: "highest"
      (true float32; the default and the exact loss), "high", "default"
      (one bfloat16 pass on a TPU, TF32 on a recent NVIDIA GPU), or a
      `jax.lax.DotAlgorithmPreset` (name) such as "BF16_BF16_F32". A CPU
      computes all of them in float32. Everything after the matmul stays
      float32; BENCHMARKS.md gives the loss and gradient error of each.

  Returns:
    Scalar float32 loss, the batch mean of ``-log CX(x_b, y_b)``.

  Raises:
    ValueError: on mismatched shapes, a bad chunk_size or precision, or
      num_samples without rng.
  """
  return contextual_loss_with_positions(
      x, y,
      spatial_weight=None,
      band_width=band_width,
      eps=eps,
      chunk_size=chunk_size,
      num_samples=num_samples,
      rng=rng,
      precision=precision,
  )
