"""Table 1's generator as plain functions, for the benchmarks.

`cbl_jax.models.Generator` fixes its input at 3 channels and writes its
convolutions with `nn.Conv`. The benchmarks also need the same topology
with other channel counts (the networks of Jin et al.'s several-network
design) and with the convolution swapped (benchmarks/conv_formulations.py),
so this module writes it once with `lax.conv` and a `conv` argument.
It also names the configurations the benchmarks measure (`get_config`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import ml_collections

# Benchmark names of the configurations: "paper" is Table 1/2
# (configs/gopro.py), "release" the shipped U-Net (configs/release.py),
# "test_unet" that U-Net at the test sizes.
CONFIG_NAMES = ("default", "paper", "release", "test", "test_unet")
# Those whose generator is Table 1's, which `layers` and `apply` describe.
TABLE1_CONFIG_NAMES = ("default", "paper", "test")


def get_config(name: str) -> ml_collections.ConfigDict:
  """The configuration a benchmark name stands for."""
  # pylint: disable=g-import-not-at-top
  if name == "default":
    from configs import default as module
  elif name == "paper":
    from configs import gopro as module
  elif name == "release":
    from configs import release as module
  elif name in ("test", "test_unet"):
    from configs import test as module
  else:
    raise ValueError(
        f"configs are {', '.join(CONFIG_NAMES)}; got {name!r}.")
  config = module.get_config()
  if name == "test_unet":
    config = _release_at_test_size(config)
  return config


def _release_at_test_size(
    config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """configs/test.py's sizes with the release's U-Net and content loss.

  Three levels of 4 to 8 channels: a pixel alignment of 8, which the test
  crops (16) are a multiple of, so the tiny run takes the release's path
  without padding, as its 128 x 128 crops do.
  """
  from configs import release  # pylint: disable=g-import-not-at-top
  shipped = release.get_config()
  config.generator = ml_collections.ConfigDict(shipped.generator.to_dict())
  config.generator.update(dict(features=(4, 8, 8), bottleneck_blocks=1))
  for key in ("time_order", "content_form", "content_mse_steps"):
    config.loss[key] = shipped.loss[key]
  config.stage2_steps = shipped.stage2_steps
  return config


def layers(generator: Any, in_channels: int,
           out_channels: int) -> list[tuple[int, int]]:
  """(in, out) channels of Table 1's 3x3 convolutions, in order.

  Args:
    generator: the generator config (stem_features, features, num_blocks,
      head_features).
    in_channels: channels of the first layer's input.
    out_channels: channels of the last layer's output.

  Returns:
    L1, L2, two per residual block, and the three head layers.
  """
  stem, width = generator["stem_features"], generator["features"]
  head = generator["head_features"]
  return ([(in_channels, stem), (stem, width)] +
          [(width, width)] * (2 * generator["num_blocks"]) +
          [(width, head), (head, head), (head, out_channels)])


def conv_flops(conv_layers: Sequence[tuple[int, int]], pixels: int) -> float:
  """2 x 9 x in x out per output pixel, summed over 3x3 convolutions."""
  return sum(2 * 9 * c_in * c_out * pixels for c_in, c_out in conv_layers)


def he_params(conv_layers: Sequence[tuple[int, int]],
              seed: int = 0) -> list[tuple[Any, Any]]:
  """(kernel (3, 3, in, out), zero bias) per layer, drawn with NumPy.

  He-scaled, so activations stay near 1 through the layers (tiny values
  could turn into slow denormals on a CPU).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  return [((rng.standard_normal((3, 3, a, b)) *
            math.sqrt(2 / (9 * a))).astype(np.float32),
           np.zeros(b, np.float32)) for a, b in conv_layers]


def xla_conv(x, kernel):
  """'SAME' 3x3 cross-correlation, NHWC / HWIO, as `nn.Conv` computes it."""
  import jax  # pylint: disable=g-import-not-at-top
  return jax.lax.conv_general_dilated(
      x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def apply(params: Sequence[tuple[Any, Any]], x,
          conv: Callable[[Any, Any], Any] = xla_conv):
  """Table 1's topology with any input and output channel counts.

  The same layers, ReLUs and skips as `cbl_jax.models.Generator` (without
  its optional input skip).

  Args:
    params: (kernel (3, 3, in, out), bias (out,)) per layer, as `layers`
      lists them.
    x: (batch, H, W, in) inputs.
    conv: the 3x3 convolution, (x, kernel) -> output.

  Returns:
    (batch, H, W, out) outputs of the last, linear layer.
  """
  import jax  # pylint: disable=g-import-not-at-top

  def layer(h, index):
    kernel, bias = params[index]
    return conv(h, kernel) + bias

  relu = jax.nn.relu
  h = relu(layer(x, 0))
  h = long_skip = relu(layer(h, 1))
  for block in range((len(params) - 5) // 2):
    h = h + layer(relu(layer(h, 2 + 2 * block)), 3 + 2 * block)
  h = h + long_skip
  h = relu(layer(h, -3))
  h = relu(layer(h, -2))
  return layer(h, -1)
