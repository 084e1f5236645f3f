"""Tests for the loss feature extractors: pixel patches and VGG19."""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax.losses import contiguous_loss
from cbl_jax.losses import extract_features
from cbl_jax.losses import frames_contiguous_loss
from cbl_jax.losses import load_vgg19_params
from cbl_jax.losses import patch_features
from cbl_jax.losses import vgg19_features
from cbl_jax.losses import features as features_lib
from tests.losses import jaxpr_params


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
  """Random weights of the real VGG19 shapes (conv1_1 ... conv4_2)."""
  rng = np.random.default_rng(0)
  arrays = {}
  for key, shape in features_lib.VGG19_SHAPES.items():
    fan_in = np.prod(shape[:-1]) if key.endswith("kernel") else 1
    arrays[key] = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(
        np.float32)
  arrays["fc6/kernel"] = np.zeros((2, 2), np.float32)  # Extra keys: ignored.
  path = tmp_path_factory.mktemp("vgg") / "vgg19.npz"
  np.savez(path, **arrays)
  return path, arrays


def test_patches_match_numpy():
  rng = np.random.default_rng(1)
  images = rng.uniform(size=(2, 7, 9, 3)).astype(np.float32)
  got = np.asarray(patch_features(images, patch_size=3, stride=2,
                                  append_rgb=True))
  assert got.shape == (2, 3, 4, 3 * 9 + 3)
  for r in range(3):
    for c in range(4):
      patch = images[:, 2 * r:2 * r + 3, 2 * c:2 * c + 3, :]  # (B, k, k, C)
      want = patch.transpose(0, 3, 1, 2).reshape(2, -1)   # (channel, row, col)
      np.testing.assert_array_equal(got[:, r, c, :27], want)
      np.testing.assert_array_equal(got[:, r, c, 27:],
                                    images[:, 2 * r + 1, 2 * c + 1])


def test_patch_errors():
  images = np.zeros((1, 4, 4, 3), np.float32)
  with pytest.raises(ValueError, match="smaller than patch_size"):
    patch_features(images, patch_size=5)
  with pytest.raises(ValueError, match=">= 1"):
    patch_features(images, stride=0)
  with pytest.raises(ValueError, match="patches.*vgg19"):
    extract_features(images, "sift")
  with pytest.raises(ValueError, match="vgg_params"):
    extract_features(images, "vgg19")


def test_vgg19_conv1_1_is_normalise_conv_relu(vgg_file):
  path, arrays = vgg_file
  params = load_vgg19_params(path)
  assert set(params["params"]) == set(features_lib.VGG19_LAYERS)
  images = np.random.default_rng(2).uniform(size=(2, 6, 5, 3))
  (got,) = vgg19_features(params, images.astype(np.float32),
                          layers=("conv1_1",))
  norm = (images - np.array(features_lib.IMAGENET_MEAN)) / np.array(
      features_lib.IMAGENET_STD)
  conv = lax.conv_general_dilated(
      jnp.asarray(norm, jnp.float32), arrays["conv1_1/kernel"], (1, 1),
      "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=lax.Precision.HIGHEST)
  want = np.maximum(conv + arrays["conv1_1/bias"], 0)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_vgg19_default_layers_and_loss(vgg_file):
  path, _ = vgg_file
  images = np.random.default_rng(3).uniform(size=(2, 16, 24, 3))
  images = images.astype(np.float32)

  @jax.jit
  def run(pred, target):
    # A path works as well as loaded variables (read once, then cached).
    layers = vgg19_features(str(path), target)
    pred_layers = vgg19_features(load_vgg19_params(path), pred)
    total = frames_contiguous_loss(pred[None], target[None], features="vgg19",
                                   vgg_params=path)
    per_layer = [contiguous_loss(p, t) for p, t in zip(pred_layers, layers)]
    return layers, total, per_layer

  (conv3_2, conv4_2), total, per_layer = run(images[::-1] + 0.1, images)
  assert conv3_2.shape == (2, 4, 6, 256) and conv4_2.shape == (2, 2, 3, 512)
  # Frames fold into the batch; the layers' losses are summed.
  np.testing.assert_allclose(total, sum(per_layer), rtol=1e-5)
  assert float(total) > 0
  _, same, _ = run(images, images)
  assert abs(float(same)) < 1e-3


def test_vgg19_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="load_vgg19_params") as info:
    load_vgg19_params(tmp_path / "nope.npz")
  assert "\n" not in str(info.value)


def test_vgg19_wrong_shape_names_layer(vgg_file, tmp_path):
  _, arrays = vgg_file
  bad = dict(arrays)
  bad["conv3_2/kernel"] = np.zeros((3, 3, 256, 128), np.float32)
  np.savez(tmp_path / "bad.npz", **bad)
  with pytest.raises(ValueError, match="conv3_2 kernel") as info:
    load_vgg19_params(tmp_path / "bad.npz")
  assert "\n" not in str(info.value)
  del bad["conv3_2/kernel"]
  np.savez(tmp_path / "missing.npz", **bad)
  with pytest.raises(ValueError, match="conv3_2/kernel"):
    load_vgg19_params(tmp_path / "missing.npz")


def test_vgg19_unknown_layer(vgg_file):
  path, _ = vgg_file
  with pytest.raises(ValueError, match="conv4_2"):
    vgg19_features(path, np.zeros((1, 8, 8, 3), np.float32),
                   layers=("conv5_1",))


def _conv_precisions(fn, *args):
  return jaxpr_params.primitive_params(fn, args, "conv_general_dilated",
                                       "precision")


def test_patches_exact_and_vgg_trunk_at_default_precision(vgg_file):
  path, _ = vgg_file
  images = np.zeros((1, 16, 16, 3), np.float32)
  highest = (lax.Precision.HIGHEST, lax.Precision.HIGHEST)
  # The pixels at HIGHEST; the 0/1 filter is exact at any precision.
  ((pixels, _),) = _conv_precisions(patch_features, images)
  assert pixels == lax.Precision.HIGHEST
  params = load_vgg19_params(path)
  # Ten convolutions up to conv4_2, all at the backend's default.
  assert _conv_precisions(
      lambda x: vgg19_features(params, x), images) == [None] * 10
  exact = features_lib.VGG19Trunk(("conv1_2",), precision="highest")
  assert _conv_precisions(
      lambda x: exact.apply(params, x), images) == [highest] * 2
