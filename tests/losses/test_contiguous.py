"""Tests for the contiguous blurry loss (Eqs. 9-10, bilateral reading)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax.losses import contextual_loss
from cbl_jax.losses import contiguous_loss
from cbl_jax.losses import frames_contiguous_loss
from cbl_jax.losses import patch_features
from tests.losses import jaxpr_params
from tests.losses import numpy_reference

_STATIC = ("band_width", "eps", "chunk_size", "num_samples")
contiguous_fn = jax.jit(contiguous_loss, static_argnames=_STATIC)
contextual_fn = jax.jit(contextual_loss, static_argnames=_STATIC)


def _pair(shape, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=shape).astype(np.float32),
          rng.normal(size=shape).astype(np.float32))


@pytest.mark.parametrize("shape,chunk_size,weight", [
    ((2, 5, 7, 6), None, 0.1), ((1, 6, 4, 3), 5, 1.0),
    ((2, 4, 4, 32), 3, 0.3)])
def test_matches_numpy_reference(shape, chunk_size, weight):
  x, y = _pair(shape)
  got = contiguous_fn(x, y, spatial_weight=weight, chunk_size=chunk_size)
  want = numpy_reference.contextual_loss(x, y, spatial_weight=weight)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_zero_spatial_weight_is_exactly_the_contextual_loss():
  # (a): the same computation, bit for bit, values and gradients.
  x, y = _pair((2, 5, 6, 8), seed=1)
  a = jax.jit(jax.value_and_grad(
      lambda u, v: contiguous_loss(u, v, spatial_weight=0.0, chunk_size=7)))
  b = jax.jit(jax.value_and_grad(
      lambda u, v: contextual_loss(u, v, chunk_size=7)))
  (value_a, grad_a), (value_b, grad_b) = a(x, y), b(x, y)
  np.testing.assert_array_equal(value_a, value_b)
  np.testing.assert_array_equal(grad_a, grad_b)
  assert float(jnp.abs(grad_a).max()) > 0
  # A traced zero weight adds exact zeros to the distances.
  traced = jax.jit(lambda w: contiguous_loss(x, y, spatial_weight=w))(0.0)
  np.testing.assert_allclose(traced, value_b, rtol=1e-6)


def _smooth_image(size=40, seed=0):
  """Gaussian-blurred noise: neighbouring patches look alike, as in photos."""
  img = np.random.default_rng(seed).uniform(size=(1, size, size, 3))
  taps = np.exp(-np.arange(-4, 5) ** 2 / 8.0)
  taps /= taps.sum()
  for axis in (1, 2):
    img = np.apply_along_axis(np.convolve, axis, img, taps, "same")
  return img.astype(np.float32)


@pytest.mark.parametrize("weight", [0.1, 1.0])
def test_smallest_when_prediction_equals_target(weight):
  # (b): CX <= 1, so the loss is >= 0, and it is ~0 at pred == target.
  img = _smooth_image()
  target = patch_features(img[:, 8:24, 8:24])
  assert abs(float(contiguous_fn(target, target, spatial_weight=weight))) < 1e-3
  noise = np.random.default_rng(1).normal(size=img.shape).astype(np.float32)
  others = [img[:, 8:24, 9:25], img[:, 10:26, 8:24],
            img[:, 8:24, 8:24] + 0.05 * noise[:, 8:24, 8:24],
            img[:, 20:36, 20:36]]
  for other in others:
    value = float(contiguous_fn(patch_features(other), target,
                                spatial_weight=weight))
    assert value > 0.01, value


def test_grows_as_features_move_away():
  # (c): the prediction is the target's crop moved s pixels to the side.
  img = _smooth_image()
  target = patch_features(img[:, 8:24, 8:24])
  cobi, cx = [], []
  for s in (0, 1, 2, 3, 4, 6):
    pred = patch_features(img[:, 8:24, 8 + s:24 + s])
    cobi.append(float(contiguous_fn(pred, target, spatial_weight=0.1)))
    cx.append(float(contextual_fn(pred, target)))
  assert all(a < b for a, b in zip(cobi, cobi[1:])), cobi
  # Content entering at the border moves the contextual loss a little; the
  # displacement itself is what the spatial term adds on top.
  gains = [a - b for a, b in zip(cobi, cx)]
  assert all(a < b for a, b in zip(gains, gains[1:])), gains
  # Rolling the locations of a feature map is a pure permutation: the
  # contextual loss cannot see it, the contiguous loss can.
  rolled = np.roll(np.asarray(target), 3, axis=2)
  np.testing.assert_allclose(contextual_fn(rolled, target), 0, atol=1e-5)
  assert float(contiguous_fn(rolled, target, spatial_weight=0.1)) > 0.1


def test_permutation_changes_only_the_spatial_version():
  x, y = _pair((2, 5, 6, 7), seed=4)
  perm = np.random.default_rng(1).permutation(30)
  xp = x.reshape(2, 30, 7)[:, perm].reshape(x.shape)
  np.testing.assert_allclose(contextual_fn(xp, y), contextual_fn(x, y),
                             rtol=1e-6)
  moved = float(contiguous_fn(xp, y, spatial_weight=0.2))
  kept = float(contiguous_fn(x, y, spatial_weight=0.2))
  assert abs(moved - kept) > 1e-2


def test_chunked_gradient_with_spatial_term():
  x, y = _pair((2, 7, 5, 6), seed=5)
  grad = jax.jit(jax.grad(contiguous_loss), static_argnames="chunk_size")
  full = grad(x, y, chunk_size=None)
  chunked = grad(x, y, chunk_size=8)  # 35 rows: the last chunk is padded.
  assert bool(jnp.all(jnp.isfinite(full))) and float(jnp.abs(full).max()) > 0
  np.testing.assert_allclose(chunked, full, rtol=1e-4, atol=1e-8)
  same = grad(y, y, chunk_size=8)
  assert bool(jnp.all(jnp.isfinite(same)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_chunked_gradients_with_ties_match_unchunked(dtype):
  # Flat regions: few distinct feature vectors, repeated at many places.
  rng = np.random.default_rng(8)
  palette = rng.normal(size=(3, 5))
  x = jnp.asarray(palette[rng.integers(0, 3, size=(2, 6, 5))], dtype)
  y = jnp.asarray((palette + 0.5 * rng.normal(size=(3, 5)))[
      rng.integers(0, 3, size=(2, 6, 5))], dtype)
  # A traced spatial weight gets a gradient too.
  grad = jax.jit(jax.value_and_grad(
      lambda a, b, w, chunk: contiguous_loss(a, b, spatial_weight=w,
                                             chunk_size=chunk),
      argnums=(0, 1, 2)), static_argnames="chunk")
  want_value, want = grad(x, y, 0.3, None)
  value, got = grad(x, y, 0.3, 7)  # 30 rows: the last chunk is padded.
  np.testing.assert_allclose(value, want_value, rtol=1e-6)
  for g, w in zip(got, want):
    assert g.dtype == w.dtype
    g, w = np.asarray(g, np.float32), np.asarray(w, np.float32)
    assert np.abs(w).max() > 1e-4
    tol = 1e-4 if dtype == jnp.float32 else 1e-2
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol * np.abs(w).max())


def test_precision_reaches_the_cosine_matmul():
  pred, target = _pair((1, 2, 6, 7, 3), seed=9)
  dots = lambda **kw: jaxpr_params.primitive_params(
      lambda p: frames_contiguous_loss(p, target, chunk_size=8, **kw), [pred],
      "dot_general", "precision")
  assert dots() == [(jax.lax.Precision.HIGHEST,) * 2]
  assert dots(precision="default") == [(jax.lax.Precision.DEFAULT,) * 2]
  assert dots(precision=jax.lax.Precision.HIGH) == [
      (jax.lax.Precision.HIGH,) * 2]
  with pytest.raises(ValueError, match="frames_contiguous_loss: precision="):
    frames_contiguous_loss(pred, target, precision="float16")
  with pytest.raises(ValueError, match="contiguous_loss: precision="):
    contiguous_loss(pred[0], target[0], precision="float16")


def test_sampling_moves_coordinates_with_features():
  x, y = _pair((1, 6, 6, 4), seed=6)
  key = jax.random.key(0)
  got = contiguous_fn(x, y, spatial_weight=0.5, num_samples=36, rng=key)
  np.testing.assert_allclose(
      got, numpy_reference.contextual_loss(x, y, spatial_weight=0.5),
      rtol=1e-5)
  # Identical inputs still match perfectly under sampling.
  assert abs(float(contiguous_fn(y, y, spatial_weight=0.5, num_samples=10,
                                 rng=key))) < 1e-3


def test_frames_loss_folds_time_into_batch():
  rng = np.random.default_rng(7)
  pred = rng.uniform(size=(2, 3, 8, 9, 3)).astype(np.float32)
  target = rng.uniform(size=(2, 3, 8, 9, 3)).astype(np.float32)
  # The keyword arguments the training configuration passes.
  loss = jax.jit(jax.value_and_grad(lambda p, t: frames_contiguous_loss(
      p, t, rng=jax.random.key(0), features="patches", patch_size=3,
      spatial_weight=0.1, band_width=0.5)))
  got, grad = loss(pred, target)
  patches = jax.jit(patch_features)
  want = numpy_reference.contextual_loss(
      np.asarray(patches(pred.reshape(6, 8, 9, 3))),
      np.asarray(patches(target.reshape(6, 8, 9, 3))), spatial_weight=0.1)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert grad.shape == pred.shape and bool(jnp.all(jnp.isfinite(grad)))
  assert float(jnp.abs(grad).max()) > 0
  assert abs(float(loss(target, target)[0])) < 1e-3


def test_frames_loss_errors():
  frames = np.zeros((1, 2, 8, 8, 3), np.float32)
  with pytest.raises(ValueError, match="same shape"):
    frames_contiguous_loss(frames, frames[:, :1])
  with pytest.raises(ValueError, match="patches"):
    frames_contiguous_loss(frames, frames, features="sift")
  with pytest.raises(ValueError, match="vgg_params"):
    frames_contiguous_loss(frames, frames, features="vgg19")
  with pytest.raises(ValueError, match="same shape"):
    contiguous_loss(frames[0], frames[0, :, :4])
