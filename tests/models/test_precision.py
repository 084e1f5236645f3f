"""Mixed precision: bfloat16 computation, float32 parameters and outputs."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from cbl_jax.models import Discriminator
from cbl_jax.models import Generator
from cbl_jax.models import precision
from configs import gopro

REAL = (pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" /
        "real" / "gopro" / "Flower_blur1.png")


def test_compute_dtype_names():
  assert precision.compute_dtype("float32") == jnp.float32
  assert precision.compute_dtype("bfloat16") == jnp.bfloat16
  assert precision.compute_dtype(jnp.float16) == jnp.float16
  # The tests run on the CPU, where bfloat16 gains nothing.
  assert precision.compute_dtype("auto") == jnp.float32
  with pytest.raises(ValueError, match="float32.*bfloat16.*auto"):
    precision.compute_dtype("float8")


def _photo_crop(size=64):
  if REAL.exists():
    image = np.asarray(Image.open(REAL).convert("RGB"))[300:300 + size,
                                                        600:600 + size]
  else:  # Without ../shared: a smooth synthetic image.
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([np.sin(6 * x), np.cos(5 * y), x * y], -1) * 120 + 128
  return image[None].astype(np.float32) / 255


def test_table1_generator_in_bfloat16_agrees_with_float32():
  """The paper's generator: bfloat16 frames within 35 dB of float32's.

  Random weights in the regime of a trained network: He initialisation, the
  residual branches damped (as training, or Fixup-style initialisation,
  leaves them; undamped, 13 blocks multiply the signal by about 2**6.5), and
  an output layer that moves the frames well away from the input.
  """
  fields = dict(gopro.get_config().generator)
  fields.update(init_stddev=None, input_skip=True)
  fields.pop("dtype")
  blurry = _photo_crop()
  params = Generator(**fields).init(jax.random.key(0), blurry)["params"]
  for block in range(1, fields["num_blocks"] + 1):
    second = params[f"block{block}"][f"L{2 * block + 2}"]
    second["kernel"] = 0.1 * second["kernel"]
  params["L31"]["kernel"] = 0.01 * jax.random.normal(
      jax.random.key(1), params["L31"]["kernel"].shape)
  full = Generator(**fields, dtype="float32").apply({"params": params},
                                                    blurry)
  half = Generator(**fields, dtype="bfloat16").apply({"params": params},
                                                     blurry)
  assert full.dtype == half.dtype == jnp.float32
  assert float(jnp.std(full - blurry[:, None])) > 0.1  # Far from identity.
  mse = float(jnp.mean((jnp.clip(full, 0, 1) - jnp.clip(half, 0, 1)) ** 2))
  assert 10 * np.log10(1 / mse) >= 35


def test_parameters_stay_float32_in_bfloat16():
  for module, args in (
      (Generator(features=8, num_blocks=1, head_features=8,
                 dtype="bfloat16"), {}),
      (Discriminator(group_features=(4, 4, 8, 8), group_depths=(1, 1, 1, 1),
                     fc_features=(8,), dtype="bfloat16"), {"train": False})):
    variables = module.init(jax.random.key(0), jnp.ones((2, 16, 16, 3)),
                            **args)
    dtypes = {x.dtype for x in jax.tree_util.tree_leaves(variables)}
    assert dtypes == {jnp.dtype(jnp.float32)}
    out = module.apply(variables, jnp.ones((2, 16, 16, 3)), **args)
    assert out.dtype == jnp.float32
