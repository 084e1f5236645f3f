"""Tests for the chunked contextual loss (Eqs. 5-8)."""

import json
import os
import subprocess
import sys
import textwrap

import unittest.mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax.losses import auto_chunk_size
from cbl_jax.losses import contextual
from cbl_jax.losses import contextual_loss
from cbl_jax.losses import frames_contiguous_loss
from tests.losses import jaxpr_params
from tests.losses import numpy_reference

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# One compiled function per distinct shape and setting keeps the suite fast.
_STATIC = ("band_width", "eps", "chunk_size", "num_samples", "precision")
loss_fn = jax.jit(contextual_loss, static_argnames=_STATIC)
grad_fn = jax.jit(jax.value_and_grad(contextual_loss, argnums=(0, 1)),
                  static_argnames=_STATIC)


def _pair(shape, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=shape).astype(np.float32),
          rng.normal(size=shape).astype(np.float32))


def _jnp_full_loss(x, y, band_width=0.5, eps=1e-5):
  """Eqs. 5-8 in jnp with the full matrix: an autodiff reference."""
  b, h, w, c = x.shape
  x, y = x.reshape(b, h * w, c), y.reshape(b, h * w, c)
  mean = y.mean(axis=(0, 1))
  norm = lambda v: v / jnp.linalg.norm(v, axis=-1, keepdims=True)
  x, y = norm(x - mean), norm(y - mean)
  d = (1 - jnp.einsum("bic,bjc->bij", x, y, precision="highest")) / 2
  d_rel = d / (d.min(-1, keepdims=True) + eps)
  cx = jax.nn.softmax((1 - d_rel) / band_width, axis=-1)
  return -jnp.mean(jnp.log(cx.max(1).mean(-1)))


def _run_clean(code, env=None, timeout=120):
  """Runs python code in a grandchild, so ru_maxrss is its own.

  Linux carries a parent's peak RSS into a child's ru_maxrss across fork and
  exec; an intermediate small python process keeps pytest's out of it.
  """
  launcher = ("import subprocess, sys;"
              " sys.exit(subprocess.run(sys.argv[1:]).returncode)")
  proc = subprocess.run(
      [sys.executable, "-c", launcher, sys.executable, "-c",
       textwrap.dedent(code)],
      capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT,
      env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("shape,chunk_size", [
    ((1, 4, 6, 3), None), ((2, 5, 7, 3), 5), ((1, 6, 4, 512), "auto"),
    ((3, 4, 9, 64), 7), ((2, 3, 3, 17), 4)])
def test_matches_numpy_reference(shape, chunk_size):
  x, y = _pair(shape)
  got = loss_fn(x, y, chunk_size=chunk_size)
  want = numpy_reference.contextual_loss(x, y)
  assert got.dtype == jnp.float32 and got.shape == ()
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("band_width,eps", [(0.1, 1e-5), (1.0, 1e-3)])
def test_matches_numpy_reference_other_parameters(band_width, eps):
  x, y = _pair((2, 5, 6, 8), seed=1)
  got = loss_fn(x, y, band_width=band_width, eps=eps, chunk_size=4)
  want = numpy_reference.contextual_loss(x, y, band_width=band_width, eps=eps)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_chunked_equals_unchunked_value_and_gradient():
  # N = 99 is divisible by none of 8, 16 or 64: the last chunk is padded.
  x, y = _pair((2, 9, 11, 16), seed=2)
  want_value, (want_gx, want_gy) = grad_fn(x, y, chunk_size=None)
  assert float(jnp.abs(want_gx).max()) > 1e-4  # A gradient worth comparing.
  for chunk_size in (1, 16):
    value, (gx, gy) = grad_fn(x, y, chunk_size=chunk_size)
    np.testing.assert_allclose(value, want_value, rtol=1e-6)
    np.testing.assert_allclose(gx, want_gx, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(gy, want_gy, rtol=1e-4, atol=1e-8)


def test_gradient_matches_full_matrix_autodiff():
  x, y = _pair((2, 6, 7, 12), seed=3)
  _, got = grad_fn(x, y, chunk_size=8)
  want = jax.jit(jax.grad(_jnp_full_loss, argnums=(0, 1)))(x, y)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-7)


def test_padding_rows_never_win_the_max():
  # Every generated feature is nearly the same vector, so most targets get a
  # similarity below 1/N from every real row. A zero padding row has a
  # uniform softmax, 1/N for every target: unmasked, it would win there.
  rng = np.random.default_rng(4)
  x = (np.ones((1, 2, 5, 6)) + 1e-3 * rng.normal(size=(1, 2, 5, 6)))
  x = x.astype(np.float32)
  y = rng.normal(size=(1, 2, 5, 6)).astype(np.float32)
  assert np.sum(numpy_reference.column_max_cx(x, y) < 1 / 10) >= 5
  want = numpy_reference.contextual_loss(x, y)
  for chunk_size in (3, 7):  # 10 rows: 2 and 4 padding rows.
    np.testing.assert_allclose(
        loss_fn(x, y, chunk_size=chunk_size), want, rtol=1e-5)


def test_jit_and_vmap():
  x, y = _pair((3, 2, 4, 5, 6), seed=5)  # A leading axis to map over.
  loss = jax.jit(jax.vmap(lambda a, b: contextual_loss(a, b, chunk_size=3)))
  got = loss(x, y)
  want = [numpy_reference.contextual_loss(a, b) for a, b in zip(x, y)]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  grads = jax.jit(jax.vmap(jax.grad(contextual_loss)))(x, y)
  _, (want_grad, _) = grad_fn(x[1], y[1])
  np.testing.assert_allclose(grads[1], want_grad, rtol=1e-5, atol=1e-8)


def test_bfloat16_inputs_accumulate_in_float32():
  x, y = _pair((2, 4, 5, 8), seed=6)
  xb, yb = jnp.asarray(x, jnp.bfloat16), jnp.asarray(y, jnp.bfloat16)
  got = loss_fn(xb, yb, chunk_size=6)
  assert got.dtype == jnp.float32
  want = numpy_reference.contextual_loss(np.asarray(xb, np.float32),
                                         np.asarray(yb, np.float32))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  _, (grad, _) = grad_fn(xb, yb, chunk_size=6)
  assert grad.dtype == jnp.bfloat16
  assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).max()) > 0


def test_identical_inputs_give_zero_loss_and_finite_gradient():
  _, y = _pair((2, 3, 4, 5), seed=7)
  loss, (gx, gy) = grad_fn(y, y, chunk_size=4)
  assert abs(float(loss)) < 1e-3
  assert bool(jnp.all(jnp.isfinite(gx))) and bool(jnp.all(jnp.isfinite(gy)))
  # Location (0, 0, 0) equal to the target mean centres to a zero vector,
  # where the reference's normalisation divides by 0. Here it is a vector
  # with no direction (cosine 0 to everything) and all stays finite.
  y[0, 0, 0] = 0
  y[0, 0, 0] = y.reshape(-1, 5).sum(0) / (y.size // 5 - 1)
  loss, (gx, gy) = grad_fn(y, y, chunk_size=4)
  assert 0 < float(loss) < 0.1
  assert bool(jnp.all(jnp.isfinite(gx))) and bool(jnp.all(jnp.isfinite(gy)))
  # A constant map centres to all-zero vectors: degenerate but finite.
  const = np.ones((1, 3, 3, 4), np.float32)
  value, (grad, _) = grad_fn(const, const, chunk_size=4)
  assert np.isfinite(float(value)) and bool(jnp.all(jnp.isfinite(grad)))


def test_loss_is_invariant_to_permuting_locations():
  x, y = _pair((2, 4, 6, 7), seed=8)
  perm = np.random.default_rng(0).permutation(24)
  xp = x.reshape(2, 24, 7)[:, perm].reshape(x.shape)
  np.testing.assert_allclose(loss_fn(xp, y, chunk_size=5),
                             loss_fn(x, y, chunk_size=5), rtol=1e-6)


def test_random_sampling_uses_shared_indices():
  x, y = _pair((2, 6, 6, 5), seed=9)
  key = jax.random.key(3)
  got = loss_fn(x, y, num_samples=20, rng=key, chunk_size=6)
  idx = np.asarray(jax.random.choice(key, 36, (20,), replace=False))
  pick = lambda v: v.reshape(2, 36, 5)[:, idx].reshape(2, 4, 5, 5)
  want = numpy_reference.contextual_loss(pick(x), pick(y))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # All locations (or more) is the unsampled loss.
  np.testing.assert_allclose(
      loss_fn(x, y, num_samples=36, rng=key), loss_fn(x, y), rtol=1e-6)
  with pytest.raises(ValueError, match="rng"):
    contextual_loss(x, y, num_samples=20)


def test_bad_arguments_raise():
  x, y = _pair((1, 3, 4, 5))
  with pytest.raises(ValueError, match="same shape"):
    contextual_loss(x, y[:, :2])
  with pytest.raises(ValueError, match="same shape"):
    contextual_loss(x[0], y[0])
  for bad in (0, -3, "big"):
    with pytest.raises(ValueError, match="chunk_size"):
      contextual_loss(x, y, chunk_size=bad)


def test_auto_chunk_size():
  assert auto_chunk_size(16384) == 64   # 128 x 128: 4 MiB per temporary.
  assert auto_chunk_size(1024) == 1024  # Small maps: one chunk.
  assert auto_chunk_size(10) == 10
  assert auto_chunk_size(10**6) == 8    # Never below 8 rows.
  # The CPU rule is the cache rule, whatever the batch.
  assert auto_chunk_size(16384, 28, backend="cpu") == 64


@pytest.mark.parametrize("n,batch,budget", [
    (15876, 28, 2 * 2**30), (65536, 28, 2 * 2**30), (65536, 4, 10 * 2**30),
    (16384, 28, 17 * 2**30), (1000, 3, 2**20)])
def test_auto_chunk_size_fills_a_memory_budget(n, batch, budget):
  chunk = auto_chunk_size(n, batch, memory_budget=budget)
  per_row = contextual._TEMPORARIES_PER_CHUNK * batch * n * 4
  assert chunk % 8 == 0 and 8 <= chunk < n
  assert chunk * per_row <= budget < (chunk + 8) * per_row * 2
  # Chunks are even: the last one is not mostly padding.
  num_chunks = -(-n // chunk)
  assert num_chunks * chunk - n < 8 * num_chunks
  # A budget that holds everything gives one chunk.
  assert auto_chunk_size(n, batch, memory_budget=2**50) == n


def test_auto_chunk_size_on_accelerators_uses_their_memory():
  # No TPU here: the rule falls back to its fixed 2 GiB budget.
  default = auto_chunk_size(65536, 28, memory_budget=2 * 2**30)
  assert auto_chunk_size(65536, 28, backend="tpu") == default
  assert (default, auto_chunk_size(65536, 28, backend="cpu")) == (56, 16)
  with unittest.mock.patch.object(
      contextual, "_device_memory_budget",
      side_effect=lambda backend: {"gpu": 10 * 2**30}[backend]):
    assert auto_chunk_size(65536, 28, backend="gpu") == auto_chunk_size(
        65536, 28, memory_budget=10 * 2**30)
  stats = {"bytes_limit": 80 * 2**30, "bytes_in_use": 0}
  device = unittest.mock.Mock(**{"memory_stats.return_value": stats})
  with unittest.mock.patch.object(jax, "local_devices",
                                  return_value=[device]):
    assert contextual._device_memory_budget("gpu") == 10 * 2**30


def _tied_pair(shape, seed=0, distinct=4):
  """Features of flat image regions: few distinct vectors, repeated.

  Identical generated rows tie for every column's maximum, identical
  targets for a row's minimum distance.
  """
  rng = np.random.default_rng(seed)
  palette = rng.normal(size=(distinct, shape[-1]))
  x = palette[rng.integers(0, distinct, size=shape[:-1])]
  # Targets near the same colours, so that the softmax is not saturated.
  near = palette + 0.5 * rng.normal(size=palette.shape)
  y = near[rng.integers(0, distinct, size=shape[:-1])]
  y[:, 0] = rng.normal(size=y[:, 0].shape)  # And some unique targets.
  return x.astype(np.float32), y.astype(np.float32)


def _copies(x):
  """(B, N): how many rows of each map equal each row (itself included)."""
  rows = x.reshape(x.shape[0], -1, x.shape[-1])
  return np.sum(np.all(rows[:, :, None] == rows[:, None], -1), -1)


@pytest.mark.parametrize("chunk_size", [4, 29])  # N = 30: neither divides.
def test_gradient_with_ties_matches_unchunked(chunk_size):
  x, y = _tied_pair((2, 5, 6, 6))
  # Every generated row has copies, so every column's maximum is tied.
  assert _copies(x).min() >= 2 and _copies(y).max() >= 2
  want_value, (want_gx, want_gy) = grad_fn(x, y, chunk_size=None)
  assert float(jnp.abs(want_gx).max()) > 1e-4
  value, (gx, gy) = grad_fn(x, y, chunk_size=chunk_size)
  np.testing.assert_allclose(value, want_value, rtol=1e-6)
  np.testing.assert_allclose(gx, want_gx, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(gy, want_gy, rtol=1e-4, atol=1e-6)
  # jnp.max splits a tied maximum's gradient equally, so identical rows get
  # identical gradients, whichever chunks they fall in.
  flat_x, flat_g = x.reshape(2, 30, 6), np.asarray(gx).reshape(2, 30, 6)
  same = np.all(flat_x[:, :, None] == flat_x[:, None], -1)
  for b, i, k in zip(*np.nonzero(same)):
    np.testing.assert_allclose(flat_g[b, i], flat_g[b, k], rtol=1e-5,
                               atol=1e-7)


def test_gradient_of_sampled_loss_matches_unchunked():
  x, y = _tied_pair((2, 6, 7, 5), seed=1)
  key = jax.random.key(4)
  want = grad_fn(x, y, num_samples=31, rng=key, chunk_size=None)
  got = grad_fn(x, y, num_samples=31, rng=key, chunk_size=6)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
  for g, w in zip(got[1], want[1]):
    assert float(jnp.abs(w).max()) > 1e-4
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_bfloat16_gradient_matches_unchunked():
  x, y = _tied_pair((2, 4, 5, 8), seed=2)
  x = jnp.asarray(x + 0.01 * np.random.default_rng(0).normal(size=x.shape),
                  jnp.bfloat16)
  y = jnp.asarray(y, jnp.bfloat16)
  want = grad_fn(x, y, chunk_size=None)
  got = grad_fn(x, y, chunk_size=7)
  assert got[1][0].dtype == jnp.bfloat16 and got[1][1].dtype == jnp.bfloat16
  np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
  for g, w in zip(got[1], want[1]):
    # bfloat16 gradients: equal up to the last bit of a few entries.
    np.testing.assert_allclose(np.asarray(g, np.float32),
                               np.asarray(w, np.float32), rtol=1e-2,
                               atol=1e-2 * float(jnp.abs(w).max()))


def _compiled_bytes(fn, *shapes):
  """XLA's compiled memory analysis: temp, argument and output bytes."""
  args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
  stats = jax.jit(fn).lower(*args).compile().memory_analysis()
  return (stats.temp_size_in_bytes, stats.argument_size_in_bytes,
          stats.output_size_in_bytes)


def test_gradient_memory_shrinks_with_the_chunk():
  # Differentiating the scan itself would keep the running maximum of every
  # chunk: B * N * N / chunk floats, 8 MiB at 8 rows here against 1 MiB at
  # 64 (XLA planned 9.1 and 6.5 MiB in all for that version). The custom
  # gradient keeps no per-chunk state, so smaller chunks need less memory.
  shape = (1, 64, 64, 8)
  temp = {chunk: _compiled_bytes(jax.grad(
      lambda a, b, chunk=chunk: contextual_loss(a, b, chunk_size=chunk)),
                                 shape, shape)[0]
          for chunk in (8, 64)}
  assert temp[8] < 2 * 2**20 and 2 * temp[8] < temp[64] < 6 * 2**20, temp


def test_256x256_frames_forward_and_backward_fit_in_8_gib():
  # The paper's batch of 4 x 7 frames at 256 x 256 (258 x 258 crops give
  # 256 x 256 maps of 3 x 3 RGB patches, 27 channels, at stride 1), with
  # the accelerator rule for the chunk size. Compiled, never run.
  frames = (4, 7, 258, 258, 3)
  chunk = auto_chunk_size(256 * 256, 28, memory_budget=2 * 2**30)
  assert chunk == auto_chunk_size(256 * 256, 28, backend="tpu")
  step = jax.value_and_grad(lambda pred, target: frames_contiguous_loss(
      pred, target, features="patches", patch_size=3, patch_stride=1,
      spatial_weight=0.1, chunk_size=chunk))
  temp, args, out = _compiled_bytes(step, frames, frames)
  # One (28, 256 * 256, 27) float32 map is 189 MiB.
  assert args + out < 2**30
  assert temp + args + out <= 8 * 2**30, (temp, args, out)


def test_cosine_matmul_precision():
  x, y = _pair((1, 4, 5, 6), seed=10)
  dots = lambda **kw: jaxpr_params.primitive_params(
      jax.grad(lambda a: contextual_loss(a, y, chunk_size=7, **kw)), [x],
      "dot_general", "precision")
  highest = (jax.lax.Precision.HIGHEST,) * 2
  # Forward, recomputation and both gradient matmuls.
  assert dots() == [highest] * 4
  assert dots(precision="default") == [(jax.lax.Precision.DEFAULT,) * 2] * 4
  preset = jax.lax.DotAlgorithmPreset.BF16_BF16_F32
  assert dots(precision="BF16_BF16_F32") == [preset] * 4
  # A CPU computes every precision in float32.
  np.testing.assert_allclose(loss_fn(x, y, precision="default"),
                             loss_fn(x, y), rtol=1e-6)
  for bad in ("bf16", 3, "HIGHEST"):
    with pytest.raises(ValueError, match="not a matmul precision") as info:
      contextual_loss(x, y, precision=bad)
    assert "\n" not in str(info.value)


def test_128x128_map_with_gradient_fits_in_well_under_2gib():
  # Peak RSS of a fresh process: JAX itself takes ~0.3 GiB. One full-matrix
  # temporary at N = 16384 would take 1 GiB, and autodiff keeps several.
  out = _run_clean("""
      import json, resource
      import jax
      from cbl_jax.losses import contextual_loss
      kx, ky = jax.random.split(jax.random.key(0))
      x = jax.random.normal(kx, (1, 128, 128, 4))
      y = jax.random.normal(ky, (1, 128, 128, 4))
      loss, grad = jax.jit(jax.value_and_grad(contextual_loss))(x, y)
      ok = bool(jax.numpy.all(jax.numpy.isfinite(grad)))
      rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
      print(json.dumps({"loss": float(loss), "ok": ok, "rss_mib": rss}))
  """)
  assert out["ok"] and np.isfinite(out["loss"]) and out["loss"] > 0
  assert out["rss_mib"] < 1024, out


def test_sharded_over_batch_matches_unsharded():
  out = _run_clean("""
      import json
      import jax, jax.numpy as jnp, numpy as np
      from jax.sharding import NamedSharding, PartitionSpec as P
      from cbl_jax.losses import contextual_loss
      assert jax.device_count() == 4, jax.devices()
      mesh = jax.make_mesh((4,), ("data",))
      kx, ky = jax.random.split(jax.random.key(0))
      x = jax.random.normal(kx, (8, 5, 6, 16))
      y = jax.random.normal(ky, (8, 5, 6, 16))
      step = jax.jit(jax.value_and_grad(
          lambda a, b: contextual_loss(a, b, chunk_size=7)))
      want, want_grad = step(x, y)
      shard = NamedSharding(mesh, P("data"))
      xs, ys = jax.device_put(x, shard), jax.device_put(y, shard)
      got, grad = step(xs, ys)
      print(json.dumps({
          "value_err": abs(float(got) - float(want)),
          "grad_err": float(jnp.abs(grad - want_grad).max()),
          "grad_scale": float(jnp.abs(want_grad).max()),
          "input_sharded": xs.sharding.spec == P("data"),
          "grad_devices": len(grad.sharding.device_set),
      }))
  """, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
  assert out["input_sharded"]
  assert out["grad_devices"] == 4
  assert out["value_err"] < 1e-5
  assert out["grad_err"] < 1e-5 * out["grad_scale"]
