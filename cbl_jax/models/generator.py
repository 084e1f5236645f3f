"""The ResNet-based generator of Table 1: one blurry image to T sharp frames.

Layer names follow Table 1 of the paper: `L1`, `L2`, then 13 residual blocks
(`block1` holds L3/L4, ..., `block13` holds L27/L28), then `L29`-`L31`.
Reading note 1 settles the depth: 31 convolutions, with (L27, L28) as the
13th residual block and a long skip from L2 added at L28. Reading note 2: the
"3x3x1" kernels are 2D 3x3 convolutions. There is no down- or up-sampling, so
any H x W works, odd sizes included.
"""

import functools
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from cbl_jax import color
from cbl_jax.models import precision

COLOR_MODES = ("rgb", "y")


def layer_count(num_blocks: int) -> int:
  """Convolutions of a generator with `num_blocks` residual blocks.

  L1, L2, two per block and three head layers: 31 for Table 1. Layers are
  numbered from L1, so the last one, the output layer, is `L{count}`.
  """
  return 2 + 2 * num_blocks + 3


def _kernel_init(stddev: Optional[float]) -> nn.initializers.Initializer:
  # Section 4.2 draws every weight from N(0, 0.01). Through 31 layers without
  # normalisation that shrinks signals and gradients by about 5x per layer,
  # which only a very long schedule overcomes; `None` selects He
  # initialisation, which keeps their scale.
  if stddev is None:
    return nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")
  return nn.initializers.normal(stddev)


def _conv3x3(features: int, name: str, stddev: Optional[float], dtype: Any,
             zero_init: bool = False) -> nn.Conv:
  # Biases start at zero.
  return nn.Conv(
      features,
      kernel_size=(3, 3),
      padding="SAME",
      kernel_init=(nn.initializers.zeros if zero_init else
                   _kernel_init(stddev)),
      dtype=dtype,
      name=name,
  )


class ResidualBlock(nn.Module):
  """Two 3x3 convolutions, ReLU after the first only, plus the block's input.

  Attributes:
    features: channels of both convolutions.
    first_layer: the Table 1 index of the first convolution (3, 5, ..., 27).
    init_stddev: standard deviation of the normal kernel initialiser, or None
      for He initialisation.
    dtype: computation dtype.
  """

  features: int
  first_layer: int
  init_stddev: Optional[float] = 0.01
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = functools.partial(
        _conv3x3, self.features, stddev=self.init_stddev,
        dtype=precision.compute_dtype(self.dtype))
    y = nn.relu(conv(name=f"L{self.first_layer}")(x))
    y = conv(name=f"L{self.first_layer + 1}")(y)
    return x + y


class Generator(nn.Module):
  """Maps a blurry RGB image to `num_frames` sharp RGB frames (Table 1).

  Attributes:
    num_frames: frames predicted per blurry image (7 in the paper).
    color_mode: "rgb" deblurs the three colour channels (L31 then has
      3 * num_frames = 21 outputs, the count of Table 1); "y" deblurs the
      BT.601 luma only (Section 3.3.1) and gives every frame the input's
      Cb/Cr back.
    stem_features: channels of L1 (16).
    features: channels of L2 and of every residual block (64).
    num_blocks: residual blocks (13).
    head_features: channels of L29 and L30 (256).
    input_skip: add the blurry input to every predicted frame, so the network
      learns the residual from the blurry image to each frame. Not in the
      paper; it makes small models on short schedules train much faster.
    init_stddev: standard deviation of the normal kernel initialiser (0.01,
      Section 4.2), or None for He initialisation with the last layer (L31)
      starting at zero: with `input_skip` the untrained model then returns
      the blurry input as every frame, and training starts from there.
    dtype: computation dtype: "float32", "bfloat16", "auto" (bfloat16 on
      GPUs and TPUs) or a dtype; parameters stay float32 and the frames come
      out float32 (`precision`).
  """

  num_frames: int = 7
  color_mode: str = "rgb"
  stem_features: int = 16
  features: int = 64
  num_blocks: int = 13
  head_features: int = 256
  input_skip: bool = False
  init_stddev: Optional[float] = 0.01
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, blurry: jnp.ndarray) -> jnp.ndarray:
    """Predicts the sharp frames.

    Args:
      blurry: (batch, H, W, 3) RGB in [0, 1].

    Returns:
      (batch, num_frames, H, W, 3) RGB frames, float32, not clipped.
    """
    if self.color_mode not in COLOR_MODES:
      raise ValueError(
          f"color_mode must be one of {COLOR_MODES}, got {self.color_mode!r}.")
    if blurry.ndim != 4 or blurry.shape[-1] != 3:
      raise ValueError(
          "Generator expects RGB images of shape (batch, H, W, 3), got "
          f"{blurry.shape}.")
    blurry = blurry.astype(jnp.float32)
    if self.color_mode == "y":
      ycbcr = color.rgb_to_ycbcr(blurry)
      x = ycbcr[..., :1]
    else:
      x = blurry
    channels = x.shape[-1]
    dtype = precision.compute_dtype(self.dtype)
    conv = functools.partial(_conv3x3, stddev=self.init_stddev, dtype=dtype)

    h = nn.relu(conv(self.stem_features, name="L1")(x))
    long_skip = h = nn.relu(conv(self.features, name="L2")(h))
    for block in range(self.num_blocks):
      h = ResidualBlock(
          self.features,
          first_layer=3 + 2 * block,
          init_stddev=self.init_stddev,
          dtype=dtype,
          name=f"block{block + 1}",
      )(h)
    h = h + long_skip
    last = layer_count(self.num_blocks) - 2  # L29 when there are 13 blocks.
    h = nn.relu(conv(self.head_features, name=f"L{last}")(h))
    h = nn.relu(conv(self.head_features, name=f"L{last + 1}")(h))
    out = conv(self.num_frames * channels, name=f"L{last + 2}",
               zero_init=self.init_stddev is None)(h)

    # Channels are frame-major: frame t owns channels [t*C, (t+1)*C).
    batch, height, width, _ = out.shape
    out = out.astype(jnp.float32).reshape(
        batch, height, width, self.num_frames, channels)
    out = jnp.moveaxis(out, 3, 1)
    if self.input_skip:
      out = out + x[:, None]
    if self.color_mode == "y":
      chroma = jnp.broadcast_to(
          ycbcr[:, None, ..., 1:], out.shape[:-1] + (2,))
      out = color.ycbcr_to_rgb(jnp.concatenate([out, chroma], axis=-1))
    return out
