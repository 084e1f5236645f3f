r"""The generator's stage-1 training step in PyTorch on the CPU, for reference.

  python benchmarks/torch_twin.py                    # default, paper, release
  python benchmarks/torch_twin.py --configs=release --repeats=10
  python benchmarks/torch_twin.py --tiny             # seconds, for the tests
  python benchmarks/train_step.py --torch_twin       # beside JAX's step

Needs `pip install torch`, which the project itself does not depend on.
BENCHMARKS.md ("Convolution speed on a CPU") sets JAX's generator step
against what oneDNN's convolutions reach in PyTorch; this script measures
that reference on the same machine and the same network.

The twin is built from the same `config.generator` dict as the JAX model
(`cbl_jax.models.create_generator` reads it, with its defaults and its
checks) and has the same layers:

* "unet" (cbl_jax/models/unet.py): pixel unshuffle by `stem_fold`, a 3x3
  stem, per level `blocks_per_level` residual blocks (conv3x3 - ReLU -
  conv3x3, plus the input), down = pixel unshuffle by 2 + conv1x1, the
  bottleneck blocks, up = conv1x1 to 4C + pixel shuffle by 2 + the skip,
  then ReLU, a 3x3 head to T x 3 x stem_fold^2 channels, pixel shuffle,
  the frames' mean residual subtracted and the input added.
* "table1" (cbl_jax/models/generator.py): L1, L2, `num_blocks` residual
  blocks, the long skip from L2, two head convolutions and the output
  convolution, with the same input skip and zero-mean residual options.

Its parameter count must equal the JAX model's (`measure` raises
otherwise): a check that the twin is the same network. Pixel (un)shuffle
orders the channels of a block differently from the JAX model's
space-to-depth, a fixed relabelling of channels that changes neither the
work nor the function the network can learn.

One step: forward, the content loss against a fixed target in the
config's time order ("forward" or "best_of_both", chosen by the squared
errors without gradient, as cbl_jax/losses/content.py does), Charbonnier
where the config's `content_form` says so and the squared error otherwise
(its other forms cost the same elementwise pass), backward, and a
`torch.optim.Adam` update. It runs on every core
(`torch.set_num_threads(os.cpu_count())`), once with the network and its
input in channels_last memory format and once contiguous (NCHW); the faster
is reported and named. Times are the median of --repeats steps after two
warm-up steps. What JAX's step does besides (uint8 to float, the
finiteness guard, the learning-rate schedule) is small next to the
convolutions.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

import ml_collections  # pylint: disable=g-import-not-at-top
import torch  # pylint: disable=g-import-not-at-top
from torch import nn  # pylint: disable=g-import-not-at-top
from torch.nn import functional as F  # pylint: disable=g-import-not-at-top

from benchmarks import backbone  # pylint: disable=g-import-not-at-top

# Charbonnier's epsilon, as in cbl_jax/losses/content.py: a tenth of an
# 8-bit level on [0, 1] frames.
_CHARBONNIER_EPS = 1e-3 / 2.55
LAYOUTS = ("channels_last", "contiguous")
_MEMORY_FORMATS = {"channels_last": torch.channels_last,
                   "contiguous": torch.contiguous_format}
TIME_ORDERS = ("forward", "best_of_both")
WARMUP_STEPS = 2


def _conv(c_in: int, c_out: int, kernel: int, stddev: float | None = None,
          zero_init: bool = False) -> nn.Conv2d:
  """A 'SAME' convolution, initialised as the JAX models initialise theirs.

  Args:
    c_in: input channels.
    c_out: output channels.
    kernel: odd kernel size.
    stddev: None for He initialisation (the JAX models draw it truncated,
      at the same scale), else the standard deviation of a normal one.
    zero_init: kernel at zero (the layers that start the residuals).

  Returns:
    The layer, bias at zero.
  """
  conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
  with torch.no_grad():
    if zero_init:
      conv.weight.zero_()
    elif stddev is None:
      nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    else:
      conv.weight.normal_(0.0, stddev)
    conv.bias.zero_()
  return conv


def _pad_edge(x: torch.Tensor, align: int) -> torch.Tensor:
  """Edge replication at the bottom and right to a multiple of `align`."""
  rows, cols = -x.shape[2] % align, -x.shape[3] % align
  if rows or cols:
    x = F.pad(x, (0, cols, 0, rows), mode="replicate")
  return x


def _frames(out: torch.Tensor, blurry: torch.Tensor, num_frames: int,
            zero_mean_residual: bool, input_skip: bool) -> torch.Tensor:
  """(B, T*3, H, W) outputs to (B, T, 3, H, W) frames, as the JAX models."""
  batch, _, height, width = out.shape
  # Frame-major channels, as in the JAX models.
  out = out.reshape(batch, num_frames, 3, height, width)
  if zero_mean_residual:
    out = out - out.mean(dim=1, keepdim=True)
  if input_skip:
    out = out + blurry[:, None]
  return out


class _ResidualBlock(nn.Module):
  """conv3x3 - ReLU - conv3x3, plus the input."""

  def __init__(self, features: int, stddev: float | None = None,
               zero_second: bool = False):
    super().__init__()
    self.conv1 = _conv(features, features, 3, stddev)
    self.conv2 = _conv(features, features, 3, stddev, zero_init=zero_second)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return x + self.conv2(F.relu(self.conv1(x)))


class UNetTwin(nn.Module):
  """`cbl_jax.models.UNet` in PyTorch, NCHW: (B, 3, H, W) to (B, T, 3, H, W).

  Attributes:
    num_frames: frames predicted per image.
  """

  def __init__(self, unet: Any):
    """Builds the layers of a JAX `UNet` module (its fields are read)."""
    super().__init__()
    if unet.color_mode != "rgb":
      raise ValueError(
          f"The unet generator is RGB only, got {unet.color_mode!r}.")
    features, s = tuple(unet.features), unet.stem_fold
    self.num_frames = unet.num_frames
    self._stem_fold = s
    self._alignment = unet.pixel_alignment()
    self._zero_mean_residual = unet.zero_mean_residual
    self._input_skip = unet.input_skip

    def blocks(width: int, count: int) -> nn.Sequential:
      return nn.Sequential(*[_ResidualBlock(width, zero_second=True)
                             for _ in range(count)])

    self.stem = _conv(3 * s * s, features[0], 3)
    self.down = nn.ModuleList(
        [_conv(4 * features[i - 1], features[i], 1)
         for i in range(1, len(features))])
    self.encoder = nn.ModuleList(
        [blocks(width, unet.blocks_per_level) for width in features])
    self.bottleneck = blocks(features[-1], unet.bottleneck_blocks)
    # up[i] leaves level i + 1 for level i, as the JAX model's `up{i + 1}`.
    self.up = nn.ModuleList(
        [_conv(features[i + 1], 4 * features[i], 1)
         for i in range(len(features) - 1)])
    self.decoder = nn.ModuleList(
        [blocks(width, unet.blocks_per_level) for width in features[:-1]])
    self.head = _conv(features[0], self.num_frames * 3 * s * s, 3,
                      zero_init=unet.input_skip)

  def forward(self, blurry: torch.Tensor) -> torch.Tensor:
    height, width = blurry.shape[2:]
    h = _pad_edge(blurry, self._alignment)
    if self._stem_fold > 1:
      h = F.pixel_unshuffle(h, self._stem_fold)
    h = F.relu(self.stem(h))
    skips = []
    for level, encoder in enumerate(self.encoder):
      if level:
        h = self.down[level - 1](F.pixel_unshuffle(h, 2))
      h = encoder(h)
      skips.append(h)
    h = self.bottleneck(h) + skips[-1]
    for level in range(len(self.decoder) - 1, -1, -1):
      h = F.pixel_shuffle(self.up[level](h), 2) + skips[level]
      h = self.decoder[level](h)
    out = self.head(F.relu(h))
    if self._stem_fold > 1:
      out = F.pixel_shuffle(out, self._stem_fold)
    out = out[:, :, :height, :width]
    return _frames(out, blurry, self.num_frames, self._zero_mean_residual,
                   self._input_skip)


class Table1Twin(nn.Module):
  """`cbl_jax.models.Generator` (Table 1) in PyTorch, NCHW, RGB only.

  Attributes:
    num_frames: frames predicted per image.
  """

  def __init__(self, generator: Any):
    """Builds the layers of a JAX `Generator` module (its fields are read)."""
    super().__init__()
    if generator.color_mode != "rgb":
      raise ValueError("The PyTorch twin runs color_mode='rgb' only, got"
                       f" {generator.color_mode!r}.")
    s, stddev = generator.space_to_depth, generator.init_stddev
    width, head = generator.features, generator.head_features
    self.num_frames = generator.num_frames
    self._space_to_depth = s
    self._zero_mean_residual = generator.zero_mean_residual
    self._input_skip = generator.input_skip
    self.l1 = _conv(3 * s * s, generator.stem_features, 3, stddev)
    self.l2 = _conv(generator.stem_features, width, 3, stddev)
    self.blocks = nn.Sequential(*[_ResidualBlock(width, stddev)
                                  for _ in range(generator.num_blocks)])
    self.head1 = _conv(width, head, 3, stddev)
    self.head2 = _conv(head, head, 3, stddev)
    self.output = _conv(head, self.num_frames * 3 * s * s, 3, stddev,
                        zero_init=stddev is None)

  def forward(self, blurry: torch.Tensor) -> torch.Tensor:
    height, width = blurry.shape[2:]
    s = self._space_to_depth
    h = blurry
    if s > 1:
      h = F.pixel_unshuffle(_pad_edge(h, s), s)
    h = F.relu(self.l1(h))
    long_skip = h = F.relu(self.l2(h))
    h = self.blocks(h) + long_skip
    h = F.relu(self.head1(h))
    h = F.relu(self.head2(h))
    out = self.output(h)
    if s > 1:
      out = F.pixel_shuffle(out, s)[:, :, :height, :width]
    return _frames(out, blurry, self.num_frames, self._zero_mean_residual,
                   self._input_skip)


def build(generator_config: Mapping[str, Any]) -> nn.Module:
  """The twin of the generator a config's `generator` section describes.

  Args:
    generator_config: as `cbl_jax.models.create_generator` takes it.

  Returns:
    A `UNetTwin` or a `Table1Twin`, float32, contiguous.

  Raises:
    ValueError: a config the JAX models refuse, or a colour mode the twin
      does not run.
  """
  from cbl_jax import models  # pylint: disable=g-import-not-at-top
  module = models.create_generator(dict(generator_config))
  if isinstance(module, models.UNet):
    return UNetTwin(module)
  if isinstance(module, models.Generator):
    return Table1Twin(module)
  raise ValueError(f"No PyTorch twin of {type(module).__name__}.")


def parameter_count(model: nn.Module) -> int:
  """Scalars in the twin's parameters."""
  return sum(p.numel() for p in model.parameters())


def jax_parameter_count(generator_config: Mapping[str, Any]) -> int:
  """Scalars in the JAX generator's parameters, from shapes alone."""
  # pylint: disable=g-import-not-at-top
  import jax
  import jax.numpy as jnp
  from cbl_jax import models
  module = models.create_generator(dict(generator_config))
  side = module.pixel_alignment()  # The smallest input without padding.
  shapes = jax.eval_shape(
      module.init, jax.random.key(0),
      jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32))
  return sum(math.prod(leaf.shape)
             for leaf in jax.tree.leaves(shapes["params"]))


def check_parameter_count(model: nn.Module, expected: int) -> int:
  """The twin's parameter count, if it is `expected`.

  Raises:
    ValueError: the counts differ, so the twin is not the same network.
  """
  count = parameter_count(model)
  if count != expected:
    raise ValueError(
        f"The PyTorch twin has {count:,} parameters and the JAX generator"
        f" {expected:,}: they are not the same network.")
  return count


def content_loss(pred: torch.Tensor, target: torch.Tensor,
                 order: str = "forward", form: str = "mse") -> torch.Tensor:
  """The stage-1 loss of (B, T, 3, H, W) frames (module docstring).

  Args:
    pred: predicted frames.
    target: sharp frames.
    order: "forward" or "best_of_both" (per example, the better of the
      forward and the reversed target by squared error, without gradient).
    form: "charbonnier" (mean of sqrt(d^2 + eps^2)); any other form of the
      config is timed as the squared error.

  Returns:
    The scalar loss.
  """
  if order not in TIME_ORDERS:
    raise ValueError(f"The PyTorch twin runs time orders {TIME_ORDERS},"
                     f" got {order!r}.")
  if order == "best_of_both":
    reverse = target.flip(1)
    with torch.no_grad():
      forward_error = (pred - target).square().mean(dim=(1, 2, 3, 4))
      reverse_error = (pred - reverse).square().mean(dim=(1, 2, 3, 4))
      use_reverse = (reverse_error < forward_error).view(-1, 1, 1, 1, 1)
    target = torch.where(use_reverse, reverse, target)
  diff = pred - target
  if form == "charbonnier":
    return torch.sqrt(diff * diff + _CHARBONNIER_EPS ** 2).mean()
  return (diff * diff).mean()


def measure(config: ml_collections.ConfigDict, repeats: int,
            expected_params: int | None = None,
            layouts: Sequence[str] = LAYOUTS) -> dict[str, Any]:
  """Times the twin's stage-1 step at the config's batch and crop.

  Args:
    config: the experiment configuration (generator, batch, crop, loss and
      stage-1 optimizer are read).
    repeats: timed steps per layout, after two warm-up steps.
    expected_params: the JAX generator's parameter count; checked if given.
    layouts: memory formats to try, from LAYOUTS.

  Returns:
    'params', 'layout' (the faster), its 'step_s' (median seconds) and
    'images_s', and 'layout_step_s': the median of every layout tried.

  Raises:
    ValueError: the parameter counts differ, or the config asks for what
      the twin does not run.
  """
  if repeats < 1:
    raise ValueError(f"repeats must be >= 1, got {repeats}.")
  unknown = sorted(set(layouts) - set(LAYOUTS))
  if unknown or not layouts:
    raise ValueError(f"layouts are {', '.join(LAYOUTS)}; got {layouts}.")
  torch.set_num_threads(os.cpu_count() or 1)
  batch, crop = config.batch_size, config.data.crop_size
  order = config.loss.time_order
  form = config.loss.get("content_form", "mse")
  optimizer_config = config.optimizer
  times, params = {}, 0
  for layout in layouts:
    torch.manual_seed(0)
    model = build(config.generator.to_dict())
    params = parameter_count(model)
    if expected_params is not None:
      check_parameter_count(model, expected_params)
    memory_format = _MEMORY_FORMATS[layout]
    model = model.to(memory_format=memory_format)
    blurry = torch.rand(batch, 3, crop, crop).contiguous(
        memory_format=memory_format)
    target = torch.rand(batch, model.num_frames, 3, crop, crop)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=optimizer_config.stage1.g_learning_rate,
        betas=(optimizer_config.adam_b1, optimizer_config.adam_b2))
    samples = []
    for i in range(WARMUP_STEPS + repeats):
      start = time.perf_counter()
      optimizer.zero_grad(set_to_none=True)
      content_loss(model(blurry), target, order, form).backward()
      optimizer.step()
      # PyTorch's CPU operations are synchronous: the step is done here.
      if i >= WARMUP_STEPS:
        samples.append(time.perf_counter() - start)
    times[layout] = statistics.median(samples)
  best = min(times, key=times.get)
  return {"params": params, "layout": best, "step_s": times[best],
          "images_s": batch / times[best], "layout_step_s": times}


_TINY_CONFIGS = ("test", "test_unet")


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="default,paper,release",
                      help=f"comma-separated, from {backbone.CONFIG_NAMES}")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--tiny", action="store_true",
                      help="the test configs (Table 1 and U-Net), 2 repeats")
  args = parser.parse_args(argv)
  names = list(_TINY_CONFIGS) if args.tiny else args.configs.split(",")
  repeats = 2 if args.tiny else args.repeats
  unknown = sorted(set(names) - set(backbone.CONFIG_NAMES))
  if unknown:
    parser.error(f"--configs: unknown {', '.join(unknown)}; choose from"
                 f" {', '.join(backbone.CONFIG_NAMES)}.")
  # JAX only counts the parameters of the JAX model here.
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  torch.set_num_threads(os.cpu_count() or 1)
  print(f"PyTorch {torch.__version__} on {os.cpu_count()} cores"
        f" ({torch.get_num_threads()} threads); median of {repeats} steps"
        f" after {WARMUP_STEPS} warm-up steps", flush=True)
  print("| config | generator | batch x crop | parameters |"
        " channels_last step s | contiguous step s | images/s (faster) |\n"
        "|---|---|---|---|---|---|---|")
  for name in names:
    config = backbone.get_config(name)
    expected = jax_parameter_count(config.generator.to_dict())
    row = measure(config, repeats, expected)
    by_layout = row["layout_step_s"]
    print(f"| {name} | {config.generator.get('name', 'table1')} |"
          f" {config.batch_size} x {config.data.crop_size} |"
          f" {row['params']:,} (= JAX) |"
          f" {by_layout['channels_last']:.3f} |"
          f" {by_layout['contiguous']:.3f} |"
          f" {row['images_s']:.2f} ({row['layout']}) |", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
