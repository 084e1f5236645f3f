"""The ResNet-based generator of Table 1: one blurry image to T sharp frames.

Layer names follow Table 1 of the paper: `L1`, `L2`, then 13 residual blocks
(`block1` holds L3/L4, ..., `block13` holds L27/L28), then `L29`-`L31`.
Reading note 1 settles the depth: 31 convolutions, with (L27, L28) as the
13th residual block and a long skip from L2 added at L28. Reading note 2: the
"3x3x1" kernels are 2D 3x3 convolutions. There is no down- or up-sampling, so
any H x W works, odd sizes included.

An option that is not in the paper, `space_to_depth` = s > 1, runs the same
layers on s x s blocks of pixels folded into channels (pixel unshuffle) and
unfolds L31's output again (pixel shuffle, as in ESPCN): the receptive field
grows s-fold and the work per pixel shrinks about s^2-fold, which is what
blur tens of pixels long needs on a CPU budget. Inputs whose sides are not
multiples of s are padded at the bottom and right by edge replication and
the output is cropped back, so any H x W still works, and a pixel's output
depends only on its position modulo s and its neighbourhood.
"""

import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from cbl_jax import color
from cbl_jax.models import precision

COLOR_MODES = ("rgb", "y")


def layer_count(num_blocks: int) -> int:
  """Convolutions of a generator with `num_blocks` residual blocks.

  L1, L2, two per block and three head layers: 31 for Table 1. Layers are
  numbered from L1, so the last one, the output layer, is `L{count}`.
  """
  return 2 + 2 * num_blocks + 3


def receptive_radius(num_blocks: int, space_to_depth: int = 1) -> int:
  """Input pixels by which one output pixel's window reaches out each way.

  Every layer is a 3x3 'SAME' convolution (reading note 2), adding one
  (folded) pixel; with `space_to_depth` = s a folded pixel is s pixels wide
  and an output pixel sits anywhere in its s x s block, so the reach is
  s * layers + s - 1. That is 31 for Table 1 (s = 1).

  Args:
    num_blocks: residual blocks.
    space_to_depth: the fold factor s.

  Returns:
    The radius in input pixels.
  """
  return space_to_depth * layer_count(num_blocks) + space_to_depth - 1


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


def _pad_edge(x: jnp.ndarray, rows: int, cols: int) -> jnp.ndarray:
  """Repeats the last row `rows` times and the last column `cols` times."""
  # Concatenation of slices of x (rather than jnp.pad, whose zero-size
  # pieces carry no sharding) keeps a batch sharded over devices as it is.
  if rows:
    x = jnp.concatenate([x, jnp.repeat(x[:, -1:], rows, axis=1)], axis=1)
  if cols:
    x = jnp.concatenate([x, jnp.repeat(x[:, :, -1:], cols, axis=2)], axis=2)
  return x


def _reshape(x: jnp.ndarray, shape: tuple[int, ...]) -> jnp.ndarray:
  """`jnp.reshape` that keeps a batch sharded over an explicit mesh axis.

  Under explicit sharding (what `jax.make_mesh` gives) JAX cannot infer the
  sharding of a reshape that splits several axes, so the result's is given:
  the batch axis as the input's, the others replicated.
  """
  sharding = getattr(jax.typeof(x), "sharding", None)
  if not isinstance(sharding, NamedSharding) or sharding.mesh.empty:
    return jnp.reshape(x, shape)
  spec = sharding.spec
  batch_spec = spec[0] if len(spec) else None
  return jnp.reshape(x, shape,
                     out_sharding=NamedSharding(sharding.mesh, P(batch_spec)))


def _space_to_depth(x: jnp.ndarray, s: int) -> jnp.ndarray:
  """(B, H, W, C) -> (B, H/s, W/s, s*s*C); channel (i*s + j)*C + c."""
  b, h, w, c = x.shape
  x = _reshape(x, (b, h // s, s, w // s, s, c))
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return _reshape(x, (b, h // s, w // s, s * s * c))


def _depth_to_space(x: jnp.ndarray, s: int) -> jnp.ndarray:
  """The inverse of `_space_to_depth`."""
  b, h, w, sc = x.shape
  c = sc // (s * s)
  x = _reshape(x, (b, h, w, s, s, c)).transpose(0, 1, 3, 2, 4, 5)
  return _reshape(x, (b, h * s, w * s, c))


def check_rgb_batch(blurry: jnp.ndarray) -> None:
  """Raises unless `blurry` is a (batch, H, W, 3) batch (one line)."""
  if blurry.ndim != 4 or blurry.shape[-1] != 3:
    raise ValueError(
        "Generator expects RGB images of shape (batch, H, W, 3), got "
        f"{blurry.shape}.")


def finish_frames(residuals: jnp.ndarray, x: jnp.ndarray, input_skip: bool,
                  zero_mean: bool, deadzone: float) -> jnp.ndarray:
  """What every generator does to its (B, T, H, W, C) output layer.

  Args:
    residuals: the output layer's frames, float32.
    x: the (B, H, W, C) input the frames are residuals of.
    input_skip: add `x` to every frame.
    zero_mean: subtract the mean over the frames first.
    deadzone: soft-threshold the residuals by this much (0: off).

  Returns:
    The frames.
  """
  if zero_mean:
    residuals = residuals - jnp.mean(residuals, axis=1, keepdims=True)
  if deadzone:
    residuals = jnp.sign(residuals) * jnp.maximum(
        jnp.abs(residuals) - deadzone, 0.0)
  return residuals + x[:, None] if input_skip else residuals


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
    zero_mean_residual: with `input_skip`, subtract from every frame's
      residual the mean residual over the frames, so that the frames always
      average to the input: Eq. 2 with a linear response holds by
      construction, and a model that sees no motion cannot drift from the
      photo as a whole, only move its frames apart. Not in the paper.
    residual_deadzone: with `input_skip`, residuals smaller than this (on
      [0, 1] frames; 2/255 is two 8-bit levels) become zero and larger ones
      shrink by it (soft thresholding), so that a photo the model sees no
      motion in comes back as it is rather than with a faint pattern, which
      costs dB on sharp photos. A rule for inference: the training steps
      (cbl_jax/training/steps.py) run the module without it, so that
      residuals that start at zero can grow. Not in the paper.
    space_to_depth: s; 1 (the paper) runs every layer at full resolution,
      s > 1 on s x s pixel blocks folded into channels (see the module
      docstring). L31 then has s^2 times Table 1's outputs.
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
  zero_mean_residual: bool = False
  space_to_depth: int = 1
  residual_deadzone: float = 0.0
  dtype: Any = jnp.float32

  def receptive_radius(self) -> int:
    """Input pixels by which one output pixel's window reaches each way."""
    return receptive_radius(self.num_blocks, self.space_to_depth)

  def pixel_alignment(self) -> int:
    """The period of the output in pixels: `space_to_depth`."""
    return self.space_to_depth

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
    check_rgb_batch(blurry)
    if self.space_to_depth < 1:
      raise ValueError(
          f"space_to_depth must be >= 1, got {self.space_to_depth}.")
    blurry = blurry.astype(jnp.float32)
    if self.color_mode == "y":
      ycbcr = color.rgb_to_ycbcr(blurry)
      x = ycbcr[..., :1]
    else:
      x = blurry
    channels = x.shape[-1]
    dtype = precision.compute_dtype(self.dtype)
    conv = functools.partial(_conv3x3, stddev=self.init_stddev, dtype=dtype)
    s = self.space_to_depth
    batch, height, width, _ = x.shape
    h = x
    if s > 1:
      h = _space_to_depth(_pad_edge(h, -height % s, -width % s), s)

    h = nn.relu(conv(self.stem_features, name="L1")(h))
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
    out = conv(self.num_frames * channels * s * s, name=f"L{last + 2}",
               zero_init=self.init_stddev is None)(h)
    if s > 1:
      out = _depth_to_space(out, s)[:, :height, :width]

    # Channels are frame-major: frame t owns channels [t*C, (t+1)*C).
    out = out.astype(jnp.float32).reshape(
        batch, height, width, self.num_frames, channels)
    out = finish_frames(jnp.moveaxis(out, 3, 1), x, self.input_skip,
                        self.zero_mean_residual, self.residual_deadzone)
    if self.color_mode == "y":
      chroma = jnp.broadcast_to(
          ycbcr[:, None, ..., 1:], out.shape[:-1] + (2,))
      out = color.ycbcr_to_rgb(jnp.concatenate([out, chroma], axis=-1))
    return out
