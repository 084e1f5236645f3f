"""A multi-scale generator: pixel-unshuffle down, pixel-shuffle up (U-Net).

Not in the paper. Table 1 runs every layer at full resolution, so on a CPU
budget its receptive field stays small (31 pixels for the paper's depth,
13 for a CPU-sized one) next to blur tens of pixels long. This network sees
the same blur at a fraction of the work: the input is folded into channels
by pixel unshuffle (`stem_fold` x `stem_fold` blocks), then each level
halves the resolution the same way (space-to-depth followed by a 1x1
convolution, which loses nothing) and doubles the width; the decoder
unfolds again (1x1 convolution, then depth-to-space, as in ESPCN) and adds
the encoder's features of the same scale. A 3x3 convolution at a scale of
f pixels per cell reaches f pixels further, so most of the reach comes from
the cheap coarse levels.

Contract as `Generator`: (B, H, W, 3) in [0, 1] to (B, T, H, W, 3), float32;
``input_skip``, ``zero_mean_residual`` and ``residual_deadzone`` mean the
same. Any H x W works: sides that are not multiples of
`pixel_alignment()` are padded at the bottom and right by edge replication
and the output is cropped back, so a pixel's output depends only on its
position modulo that alignment and on its neighbourhood within
`receptive_radius()` (tiled prediction relies on both).

Every residual block's second convolution and the output layer start at
zero: the untrained network returns the blurry input as every frame, each
block starts as the identity, and no normalisation is needed to train at
Adam's usual rates.
"""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cbl_jax.models import generator as table1
from cbl_jax.models import precision

_HE = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


def _conv(features: int, kernel: int, name: str, dtype: Any,
          zero_init: bool = False) -> nn.Conv:
  return nn.Conv(features, kernel_size=(kernel, kernel), padding="SAME",
                 kernel_init=nn.initializers.zeros if zero_init else _HE,
                 dtype=dtype, name=name)


class _ResidualBlock(nn.Module):
  """conv3x3 - ReLU - conv3x3 (starting at zero), plus the input."""

  features: int
  dtype: Any

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    y = nn.relu(_conv(self.features, 3, "conv1", self.dtype)(x))
    return x + _conv(self.features, 3, "conv2", self.dtype, zero_init=True)(y)


class UNet(nn.Module):
  """Blurry RGB image to `num_frames` sharp frames through a U of scales.

  Attributes:
    num_frames: frames predicted per blurry image (7 in the paper).
    features: channels per level, finest first; level i works at
      `stem_fold * 2**i` pixels per cell.
    blocks_per_level: residual blocks on each side of every level.
    bottleneck_blocks: extra residual blocks at the coarsest level.
    stem_fold: pixel-unshuffle factor of the input (1 keeps full
      resolution for the first level).
    input_skip: add the blurry input to every frame (the network predicts
      residuals).
    zero_mean_residual: with `input_skip`, the frames' residuals average to
      zero, so the frames average to the input (Eq. 2 with a linear
      response).
    residual_deadzone: with `input_skip`, soft-thresholds the residuals at
      inference (see `Generator`); the training steps run without it.
    color_mode: "rgb" only (kept so that code written for `Generator` can
      ask).
    dtype: computation dtype ("float32", "bfloat16", "auto" or a dtype);
      parameters and frames stay float32.
  """

  num_frames: int = 7
  features: Sequence[int] = (32, 64, 128)
  blocks_per_level: int = 1
  bottleneck_blocks: int = 2
  stem_fold: int = 2
  input_skip: bool = True
  zero_mean_residual: bool = True
  residual_deadzone: float = 0.0
  color_mode: str = "rgb"
  dtype: Any = jnp.float32

  def pixel_alignment(self) -> int:
    """Pixels per cell at the coarsest level: the period of the output."""
    return self.stem_fold * 2 ** (len(self.features) - 1)

  def receptive_radius(self) -> int:
    """Input pixels by which one output pixel's window reaches each way.

    Each 3x3 convolution at `f` pixels per cell adds f; a pixel may sit
    anywhere in its coarsest cell, which adds `pixel_alignment() - 1`. An
    upper bound, which is what exact tiling needs.
    """
    levels = len(self.features)
    convs_per_side = 2 * self.blocks_per_level
    radius = 2 * self.stem_fold  # The stem and head convolutions.
    for level in range(levels):
      scale = self.stem_fold * 2 ** level
      sides = 1 if level == levels - 1 else 2
      radius += scale * convs_per_side * sides
    radius += (self.stem_fold * 2 ** (levels - 1)) * 2 * self.bottleneck_blocks
    return radius + self.pixel_alignment() - 1

  @nn.compact
  def __call__(self, blurry: jnp.ndarray) -> jnp.ndarray:
    """Predicts the sharp frames.

    Args:
      blurry: (batch, H, W, 3) RGB in [0, 1].

    Returns:
      (batch, num_frames, H, W, 3) RGB frames, float32, not clipped.
    """
    if self.color_mode != "rgb":
      raise ValueError(
          f"The unet generator supports color_mode='rgb' only, got "
          f"{self.color_mode!r}.")
    table1.check_rgb_batch(blurry)
    if not self.features or self.stem_fold < 1:
      raise ValueError(
          "The unet generator needs at least one level and stem_fold >= 1, "
          f"got features={tuple(self.features)}, stem_fold={self.stem_fold}.")
    x = blurry.astype(jnp.float32)
    batch, height, width, _ = x.shape
    dtype = precision.compute_dtype(self.dtype)
    conv = functools.partial(_conv, dtype=dtype)
    block = functools.partial(_ResidualBlock, dtype=dtype)
    align = self.pixel_alignment()
    h = table1._pad_edge(x, -height % align, -width % align)
    if self.stem_fold > 1:
      h = table1._space_to_depth(h, self.stem_fold)
    h = nn.relu(conv(self.features[0], 3, "stem")(h))

    skips = []
    for level, width_i in enumerate(self.features):
      if level:
        h = table1._space_to_depth(h, 2)
        h = conv(width_i, 1, f"down{level}")(h)
      for i in range(self.blocks_per_level):
        h = block(width_i, name=f"enc{level}_{i}")(h)
      skips.append(h)
    for i in range(self.bottleneck_blocks):
      h = block(self.features[-1], name=f"bottleneck{i}")(h)
    h = h + skips[-1]
    for level in range(len(self.features) - 2, -1, -1):
      width_i = self.features[level]
      h = conv(4 * width_i, 1, f"up{level + 1}")(h)
      h = table1._depth_to_space(h, 2) + skips[level]
      for i in range(self.blocks_per_level):
        h = block(width_i, name=f"dec{level}_{i}")(h)

    s = self.stem_fold
    out = conv(self.num_frames * 3 * s * s, 3, "head",
               zero_init=self.input_skip)(nn.relu(h))
    if s > 1:
      out = table1._depth_to_space(out, s)
    out = out[:, :height, :width].astype(jnp.float32)
    # Channels are frame-major: frame t owns channels [3t, 3t + 3).
    out = jnp.moveaxis(out.reshape(batch, height, width, self.num_frames, 3),
                       3, 1)
    return table1.finish_frames(out, x, self.input_skip,
                                self.zero_mean_residual,
                                self.residual_deadzone)
