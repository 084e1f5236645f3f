"""Feature extractors for the contextual and contiguous losses, chosen by name.

The contextual loss compares sets of feature vectors; what a "feature" is
decides what the loss sees. Two extractors:

* ``"patches"`` (default, no weights): every k x k patch of pixels, flattened
  to a ``k * k * C`` vector, optionally with the centre pixel's colour
  appended. Section 3.2 says the contiguous loss integrates "pixel-level RGB
  information" into the features; raw patches are that information.
* ``"vgg19"``: activations of a VGG19 trunk (after the ReLU, which is what
  the reference code of Mechrez et al. calls ``conv3_2`` and ``conv4_2``),
  from ImageNet weights in a local ``.npz`` file. Nothing is downloaded at
  run time; `load_vgg19_params` documents how to make the file.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

FEATURE_EXTRACTORS = ("patches", "vgg19")

# The VGG19 convolutions up to conv4_2, with their output widths. A 2x2 max
# pool precedes the first convolution of every block after the first.
VGG19_WIDTHS = {
    "conv1_1": 64, "conv1_2": 64,
    "conv2_1": 128, "conv2_2": 128,
    "conv3_1": 256, "conv3_2": 256, "conv3_3": 256, "conv3_4": 256,
    "conv4_1": 512, "conv4_2": 512,
}
VGG19_LAYERS = tuple(VGG19_WIDTHS)
DEFAULT_VGG19_LAYERS = ("conv3_2", "conv4_2")

# torchvision's ImageNet normalisation, applied to RGB in [0, 1]: the weights
# that the snippet in `load_vgg19_params` converts were trained with it.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg19_shapes() -> dict[str, tuple[int, ...]]:
  shapes, in_width = {}, 3
  for name, width in VGG19_WIDTHS.items():
    shapes[f"{name}/kernel"] = (3, 3, in_width, width)
    shapes[f"{name}/bias"] = (width,)
    in_width = width
  return shapes


VGG19_SHAPES = _vgg19_shapes()


def patch_features(
    images: jax.Array,
    *,
    patch_size: int = 3,
    stride: int = 1,
    append_rgb: bool = False,
) -> jax.Array:
  """Flattened ``patch_size x patch_size`` pixel patches at every location.

  Only whole patches are taken ("VALID"), so no zero padding enters the
  comparison. The cost of the loss grows with the square of the number of
  locations; ``stride=2`` makes it 16 times cheaper.

  Args:
    images: (B, H, W, C) images.
    patch_size: k, the side of a patch.
    stride: step between patch centres.
    append_rgb: also append the centre pixel's C values, which doubles their
      weight in the cosine distance.

  Returns:
    (B, H', W', C * k * k [+ C]) with ``H' = (H - k) // stride + 1``; the
    patch vector is ordered (channel, row, column).
  """
  if patch_size < 1 or stride < 1:
    raise ValueError(
        f"patch_size and stride must be >= 1; got {patch_size}, {stride}."
    )
  _, height, width, _ = images.shape
  if height < patch_size or width < patch_size:
    raise ValueError(
        f"images of {height}x{width} are smaller than patch_size={patch_size}."
    )
  # The patch extraction is a convolution with a 0/1 filter; at default
  # precision accelerators would round the pixels to bfloat16. Patches are
  # the pixels themselves, exactly, and this convolution is cheap.
  patches = lax.conv_general_dilated_patches(
      images,
      filter_shape=(patch_size, patch_size),
      window_strides=(stride, stride),
      padding="VALID",
      dimension_numbers=("NHWC", "OIHW", "NHWC"),
      precision=lax.Precision.HIGHEST,
  )
  if append_rgb:
    half = patch_size // 2
    centres = images[:, half::stride, half::stride, :]
    centres = centres[:, : patches.shape[1], : patches.shape[2], :]
    patches = jnp.concatenate([patches, centres.astype(patches.dtype)], -1)
  return patches


class VGG19Trunk(nn.Module):
  """VGG19 up to the deepest requested layer, without the classifier.

  Attributes:
    output_layers: names from `VGG19_LAYERS` whose activations (after the
      ReLU) are returned, in this order.
    precision: of the convolutions; None is the backend's default (one
      bfloat16 pass on a TPU, TF32 on a recent NVIDIA GPU, float32 on a
      CPU). Default precision is enough here, unlike in the loss: the
      trunk is a fixed feature extractor applied alike to the prediction
      and the target, so its rounding changes slightly *which* features
      are compared (identical inputs still give identical features), not
      how exactly they are compared. What needs float32 is the comparison,
      Eq. 5's cosine distances divided by numbers near eps, and the
      contextual loss computes that from these features at its own
      precision. HIGHEST would cost six bfloat16 passes per convolution on
      a TPU, and up to conv4_2 the trunk is about 9 GFLOP per 128 x 128
      image, several times the loss on its features.
  """

  output_layers: Sequence[str] = DEFAULT_VGG19_LAYERS
  precision: Any = None

  @nn.compact
  def __call__(self, images: jax.Array) -> list[jax.Array]:
    """Returns the activations of `output_layers`.

    Args:
      images: (B, H, W, 3) RGB in [0, 1]; normalised here with
        `IMAGENET_MEAN` and `IMAGENET_STD`.

    Returns:
      One (B, H / s, W / s, width) array per output layer, s = 1, 2, 4 or 8
      for blocks 1-4.
    """
    unknown = [n for n in self.output_layers if n not in VGG19_WIDTHS]
    if unknown or not self.output_layers:
      raise ValueError(
          f"VGG19 output layers must be among {VGG19_LAYERS}; got"
          f" {tuple(self.output_layers)}."
      )
    last = max(VGG19_LAYERS.index(n) for n in self.output_layers)
    x = (images.astype(jnp.float32) - jnp.asarray(IMAGENET_MEAN)) / (
        jnp.asarray(IMAGENET_STD)
    )
    found = {}
    for name in VGG19_LAYERS[: last + 1]:
      if name.endswith("_1") and name != "conv1_1":
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
      conv = nn.Conv(VGG19_WIDTHS[name], (3, 3), padding="SAME", name=name,
                     precision=self.precision)
      x = nn.relu(conv(x))
      found[name] = x
    return [found[n] for n in self.output_layers]


def load_vgg19_params(path: str | os.PathLike[str]) -> dict[str, Any]:
  """Loads VGG19 weights (conv1_1 ... conv4_2) from a local ``.npz`` file.

  The file holds one array per key ``"<layer>/kernel"`` (3, 3, in, out) HWIO
  and ``"<layer>/bias"`` (out,) for the ten layers in `VGG19_LAYERS`; extra
  keys are ignored. The weights must expect RGB in [0, 1] normalised with
  torchvision's ImageNet mean and std, which `VGG19Trunk` applies. To make
  the file from torchvision's ImageNet VGG19 (on a machine with internet)::

    import numpy as np, torch, torchvision
    net = torchvision.models.vgg19(weights="IMAGENET1K_V1").features
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)][:10]
    names = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1",
             "conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2"]
    arrays = {}
    for name, conv in zip(names, convs):
      # PyTorch stores OIHW; Flax wants HWIO.
      arrays[f"{name}/kernel"] = conv.weight.detach().numpy().transpose(
          2, 3, 1, 0)
      arrays[f"{name}/bias"] = conv.bias.detach().numpy()
    np.savez("vgg19_conv4_2.npz", **arrays)

  Keras' ``VGG19(weights="imagenet")`` kernels are HWIO already, but they
  expect BGR input with Caffe's mean subtraction and no scaling, so they do
  not fit `VGG19Trunk`'s normalisation without folding that into conv1_1.

  Args:
    path: the ``.npz`` file.

  Returns:
    Flax variables ``{"params": {layer: {"kernel": ..., "bias": ...}}}``,
    float32 numpy arrays.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: a key is missing or an array has the wrong shape.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"VGG19 weights file {path!r} not found: convert torchvision's"
        " ImageNet VGG19 to .npz with the snippet in"
        " cbl_jax.losses.features.load_vgg19_params, or use"
        " features='patches'."
    )
  params = {}
  with np.load(path) as data:
    for key, shape in VGG19_SHAPES.items():
      layer, kind = key.split("/")
      if key not in data:
        raise ValueError(f"VGG19 weights file {path!r} has no {key!r}.")
      array = data[key]
      if array.shape != shape:
        raise ValueError(
            f"VGG19 layer {layer} {kind} has shape {array.shape} in {path!r};"
            f" expected {shape}."
        )
      params.setdefault(layer, {})[kind] = np.asarray(array, np.float32)
  return {"params": params}


# Holds numpy arrays, never JAX values: a path given inside a jitted function
# is read while tracing, and a cached tracer would leak out of that trace.
_load_vgg19_params_cached = functools.lru_cache(maxsize=4)(load_vgg19_params)


def vgg19_features(
    vgg_params: Mapping[str, Any] | str | os.PathLike[str],
    images: jax.Array,
    *,
    layers: Sequence[str] = DEFAULT_VGG19_LAYERS,
) -> list[jax.Array]:
  """VGG19 activations of RGB images in [0, 1].

  Args:
    vgg_params: variables from `load_vgg19_params`, or the path of the
      ``.npz`` file (read once and cached).
    images: (B, H, W, 3) RGB in [0, 1]; H and W at least 8 for block 4.
    layers: layer names from `VGG19_LAYERS`.

  Returns:
    One (B, h, w, width) array per layer.
  """
  if isinstance(vgg_params, (str, os.PathLike)):
    vgg_params = _load_vgg19_params_cached(os.fspath(vgg_params))
  # The feature network is fixed: no gradient is wanted for its weights.
  vgg_params = jax.lax.stop_gradient(vgg_params)
  return VGG19Trunk(tuple(layers)).apply(vgg_params, images)


def extract_features(
    images: jax.Array,
    name: str = "patches",
    *,
    patch_size: int = 3,
    patch_stride: int = 1,
    append_rgb: bool = False,
    vgg_params: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    vgg_layers: Sequence[str] = DEFAULT_VGG19_LAYERS,
) -> list[jax.Array]:
  """Feature maps of ``images`` from the extractor called ``name``.

  Args:
    images: (B, H, W, C) images in [0, 1] (C = 3 for "vgg19").
    name: one of `FEATURE_EXTRACTORS`.
    patch_size: "patches": side of a patch.
    patch_stride: "patches": step between patches.
    append_rgb: "patches": append the centre pixel's colour.
    vgg_params: "vgg19": variables from `load_vgg19_params`, or the file.
    vgg_layers: "vgg19": the layers to return.

  Returns:
    A list of (B, h, w, c) feature maps: one for "patches", one per layer for
    "vgg19".

  Raises:
    ValueError: unknown name, or "vgg19" without weights.
  """
  if name == "patches":
    return [patch_features(images, patch_size=patch_size, stride=patch_stride,
                           append_rgb=append_rgb)]
  if name == "vgg19":
    if vgg_params is None:
      raise ValueError(
          "features='vgg19' needs vgg_params: the .npz path or"
          " cbl_jax.losses.load_vgg19_params(path) (see its docstring)."
      )
    return vgg19_features(vgg_params, images, layers=vgg_layers)
  raise ValueError(
      f"Unknown feature extractor {name!r}; choose from {FEATURE_EXTRACTORS}."
  )
