"""The VGG-like discriminator of Table 2.

Sixteen 3x3 convolutions with batch norm and ReLU in four groups of 64, 128,
256 and 512 channels (2, 4, 5 and 5 layers), 2x2 max-pooling between groups
(the paper does not say how it downsamples; VGG pools, reading note 4), then
fully connected layers and a two-class output (real sharp frame vs.
generated frame).

The head is a configuration choice because the paper's shape is huge: on a
128x128 input, flattening the 16x16x512 map into an FC-4096 layer alone takes
537M parameters. `head_pooling="flatten"` keeps that shape; "avg" and "max"
pool the last map globally first (2.1M parameters for the FC-4096), which is
what the default configuration uses. Table 2 lists FC layers "17-18"; the
text speaks of one 4096-channel top layer. `fc_features=(4096,)` is the
text's reading, `(4096, 4096)` the table's literal one (VGG's fc6/fc7).
Hidden FC layers get a ReLU: without one, stacked linear layers would collapse
into a single linear map.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cbl_jax.models import precision

HEAD_POOLINGS = ("flatten", "avg", "max")


class Discriminator(nn.Module):
  """Classifies frames as real sharp (class 1) or generated (class 0).

  Attributes:
    group_features: channels of each convolution group.
    group_depths: convolutions in each group (16 in all).
    fc_features: widths of the hidden fully connected layers.
    head_pooling: "flatten" (the paper's shape), "avg" or "max" (global
      pooling of the last feature map before the FC layers).
    num_classes: outputs of the last layer (2: Table 2's soft-max).
    bn_momentum: decay of the batch-norm running statistics.
    dtype: computation dtype: "float32", "bfloat16", "auto" (bfloat16 on
      GPUs and TPUs) or a dtype; parameters stay float32, logits come out
      float32 (`precision`).
  """

  group_features: Sequence[int] = (64, 128, 256, 512)
  group_depths: Sequence[int] = (2, 4, 5, 5)
  fc_features: Sequence[int] = (4096,)
  head_pooling: str = "avg"
  num_classes: int = 2
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, frames: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    """Returns logits.

    Args:
      frames: (N, H, W, 3) RGB in [0, 1].
      train: use batch statistics and update the running averages (the
        `batch_stats` collection must then be mutable); otherwise use the
        running averages.

    Returns:
      (N, num_classes) logits.
    """
    if self.head_pooling not in HEAD_POOLINGS:
      raise ValueError(f"head_pooling must be one of {HEAD_POOLINGS}, got "
                       f"{self.head_pooling!r}.")
    if len(self.group_features) != len(self.group_depths):
      raise ValueError("group_features and group_depths must have the same "
                       "length.")
    dtype = precision.compute_dtype(self.dtype)
    # Centre the input so the first layer sees zero-mean data.
    h = (frames.astype(jnp.float32) * 2.0 - 1.0).astype(dtype)
    layer = 0
    for group, (features, depth) in enumerate(
        zip(self.group_features, self.group_depths)):
      if group > 0:
        h = nn.max_pool(h, (2, 2), strides=(2, 2), padding="SAME")
      for _ in range(depth):
        layer += 1
        # No bias: the batch norm that follows has its own offset.
        h = nn.Conv(features, (3, 3), padding="SAME", use_bias=False,
                    dtype=dtype, name=f"conv{layer}")(h)
        h = nn.BatchNorm(use_running_average=not train,
                         momentum=self.bn_momentum, dtype=dtype,
                         name=f"bn{layer}")(h)
        h = nn.relu(h)
    if self.head_pooling == "flatten":
      h = h.reshape(h.shape[0], -1)
    elif self.head_pooling == "avg":
      h = jnp.mean(h, axis=(1, 2))
    else:
      h = jnp.max(h, axis=(1, 2))
    for features in self.fc_features:
      layer += 1
      h = nn.relu(nn.Dense(features, dtype=dtype, name=f"fc{layer}")(h))
    logits = nn.Dense(self.num_classes, dtype=dtype,
                      name=f"fc{layer + 1}")(h)
    return logits.astype(jnp.float32)
