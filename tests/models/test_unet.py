"""The U-Net generator: contract, reach, tiling and the generator registry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax import models
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling

# Small enough for milliseconds; three levels and a bottleneck, so that
# every resampling path runs.
TINY_UNET = dict(name="unet", num_frames=7, features=(4, 8, 8),
                 blocks_per_level=1, bottleneck_blocks=1, stem_fold=2)


def _random(config=TINY_UNET, seed=0):
  return model_lib.random_generator(config, seed)


def test_untrained_unet_returns_the_input_for_any_size():
  module = models.create_generator(TINY_UNET)
  # Sides that are not multiples of the alignment (8) pad and crop back.
  for shape in ((2, 17, 9, 3),):
    x = jax.random.uniform(jax.random.key(1), shape)
    # Under jit: op by op, a U-Net's init compiles dozens of programs.
    params = jax.jit(module.init)(jax.random.key(0), x)["params"]
    out = jax.jit(module.apply)({"params": params}, x)
    assert out.shape == (shape[0], 7) + shape[1:] and out.dtype == jnp.float32
    # The head starts at zero: every frame is the input.
    np.testing.assert_array_equal(out, jnp.broadcast_to(x[:, None], out.shape))


def test_zero_mean_residual_keeps_the_frames_mean_at_the_input():
  model = _random()
  x = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype(np.float32)
  out = np.asarray(model(x))
  assert np.abs(out - x[:, None]).max() > 1e-3  # Not the identity.
  np.testing.assert_allclose(out.mean(1), x, atol=1e-5)


def test_outputs_beyond_the_receptive_radius_ignore_a_changed_pixel():
  model = _random()
  radius = model.receptive_radius
  assert radius == model.module.receptive_radius() > 0
  size = 2 * radius + 48
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(1, size, size, 3)).astype(np.float32)
  changed = x.copy()
  # A pixel on the coarsest grid's corner, as far from the border as can be.
  centre = (size // 2) // 8 * 8
  changed[0, centre, centre] += 0.5
  diff = np.abs(np.asarray(model(changed)) - np.asarray(model(x))).max(
      axis=(0, 1, 4))
  rows, cols = np.nonzero(diff > 0)
  assert len(rows)  # The change shows somewhere...
  # ...and nowhere farther than the radius.
  assert np.abs(rows - centre).max() <= radius
  assert np.abs(cols - centre).max() <= radius


def test_tiled_prediction_equals_whole_image_prediction():
  model = _random()
  image = np.random.default_rng(1).uniform(size=(150, 230, 3)).astype(
      np.float32)
  whole = tiling.predict_frames(model, image)
  # The default overlap follows the generator's reach; tiles grow to fit.
  options = tiling.TileOptions(tile_size=64, batch_size=2)
  tiled = tiling.predict_tiled(model, image, options)
  np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_registry_names_and_fields_fail_in_one_line():
  with pytest.raises(ValueError, match="is not a generator; set it to one of "
                     "table1, unet"):
    models.create_generator({"name": "resnet"})
  with pytest.raises(ValueError, match="the unet generator does not know: "
                     "num_blocks"):
    models.create_generator({"name": "unet", "num_blocks": 3})
  # Configs without a name (workdirs and weights from before) are Table 1's.
  assert isinstance(models.create_generator({"features": 8}),
                    models.Generator)


def test_release_config_builds_the_unet_with_a_wide_reach():
  from configs import release  # pylint: disable=g-import-not-at-top
  module = models.create_generator(release.get_config().generator.to_dict())
  assert isinstance(module, models.UNet)
  assert module.pixel_alignment() == 16
  # Blur of 40 px and more fits inside one output pixel's window.
  assert module.receptive_radius() > 100


def test_bfloat16_unet_keeps_float32_parameters_and_frames():
  x = np.random.default_rng(2).uniform(size=(1, 32, 32, 3)).astype(np.float32)
  f32 = _random()
  bf16 = model_lib.LoadedGenerator(
      models.create_generator({**TINY_UNET, "dtype": "bfloat16"}),
      f32.params, "bf16")
  out = np.asarray(bf16(x))
  assert out.dtype == np.float32
  assert all(p.dtype == np.float32 for p in jax.tree.leaves(bf16.params))
  np.testing.assert_allclose(out, np.asarray(f32(x)), atol=0.05)
