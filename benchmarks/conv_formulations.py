r"""Ways to write the generator's 3x3 convolutions, timed in a training step.

  python benchmarks/conv_formulations.py                       # default config
  python benchmarks/conv_formulations.py --config=paper --repeats=3
  python benchmarks/conv_formulations.py --xla_cpu_options=xla_default
  python benchmarks/conv_formulations.py --tiny                # for the tests

Each formulation computes the same 'SAME' 3x3 cross-correlation as
`flax.linen.Conv`; the script checks that every one's loss and gradients
agree with XLA's convolution ("xla_conv", what the library uses) before it
times them. The computation timed is the generator's forward and backward
pass with a mean-squared-error loss (the content step without the optimizer),
written as plain functions so that only the convolution changes. Times are
medians after two warm-up calls, all formulations in one process, so their
ratios are measured under the same load.

The formulations:
  xla_conv: lax.conv_general_dilated, NHWC / HWIO.
  im2col: the 9 shifted copies of the padded input concatenated along the
    channels, then one (pixels, 9 C) x (9 C, C') matmul.
  row_taps: the 3 horizontal shifts concatenated, then 3 matmuls over
    vertically shifted rows, summed.
  shifted_matmuls: 9 matmuls, one per kernel tap, over shifted views, summed.
  output_taps: one (pixels, C) x (C, 9 C') matmul, then the 9 output slices
    shifted into place and summed.
  xla_conv_tap_kernel_grad: XLA's convolution forward and for the input
    gradient, and the kernel gradient as 9 per-tap matmuls (custom VJP).
"""

import argparse
import os
import statistics
import sys
import time

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

from benchmarks import backbone  # pylint: disable=g-import-not-at-top
from benchmarks import machine  # pylint: disable=g-import-not-at-top

FORMULATIONS = ("xla_conv", "im2col", "row_taps", "shifted_matmuls",
                "output_taps", "xla_conv_tap_kernel_grad")


def _formulations():
  """name -> conv(x (B, H, W, C), kernel (3, 3, C, C')) -> (B, H, W, C')."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  xla_conv = backbone.xla_conv

  def pad(x):
    return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))

  def taps(x):
    """The 9 shifted views of x, tap (i, j) at index 3 i + j."""
    _, height, width, _ = x.shape
    padded = pad(x)
    return [padded[:, i:i + height, j:j + width] for i in range(3)
            for j in range(3)]

  def im2col(x, kernel):
    columns = jnp.concatenate(taps(x), axis=-1)
    return columns @ kernel.reshape(-1, kernel.shape[-1])

  def row_taps(x, kernel):
    height, width = x.shape[1:3]
    padded = pad(x)
    rows = jnp.concatenate([padded[:, :, j:j + width] for j in range(3)],
                           axis=-1)
    return sum(rows[:, i:i + height] @ kernel[i].reshape(-1, kernel.shape[-1])
               for i in range(3))

  def shifted_matmuls(x, kernel):
    return sum(view @ kernel[t // 3, t % 3] for t, view in enumerate(taps(x)))

  def output_taps(x, kernel):
    _, height, width, channels = x.shape
    out_channels = kernel.shape[-1]
    # Column block t of the product is tap t's contribution before shifting.
    products = x @ kernel.reshape(9, channels, out_channels).transpose(
        1, 0, 2).reshape(channels, 9 * out_channels)
    padded = pad(products)
    out = 0
    for t in range(9):
      i, j = divmod(t, 3)
      # Output pixel p takes tap (i, j) of input pixel p + (i - 1, j - 1),
      # which sits at p + (i, j) in the padded products.
      out = out + padded[:, i:i + height, j:j + width,
                         t * out_channels:(t + 1) * out_channels]
    return out

  @jax.custom_vjp
  def xla_conv_tap_kernel_grad(x, kernel):
    return xla_conv(x, kernel)

  def forward(x, kernel):
    return xla_conv(x, kernel), (x, kernel)

  def backward(residuals, grad_out):
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda x_: xla_conv(x_, kernel), x)
    kernel_grad = jnp.stack([
        jnp.einsum("bhwc,bhwo->co", view, grad_out) for view in taps(x)
    ]).reshape(kernel.shape)
    return input_vjp(grad_out)[0], kernel_grad

  xla_conv_tap_kernel_grad.defvjp(forward, backward)
  return {"xla_conv": xla_conv, "im2col": im2col, "row_taps": row_taps,
          "shifted_matmuls": shifted_matmuls, "output_taps": output_taps,
          "xla_conv_tap_kernel_grad": xla_conv_tap_kernel_grad}


def bench(config_name: str, repeats: int, names: list[str]) -> list[dict]:
  """Times each formulation's forward + backward pass."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  config = backbone.get_config(config_name)
  generator = config.generator
  in_ch, out_ch = 3, 3 * generator.num_frames
  params = backbone.he_params(backbone.layers(generator, in_ch, out_ch))
  batch, size = config.batch_size, config.data.crop_size
  blurry = jax.random.uniform(jax.random.key(1), (batch, size, size, in_ch))
  sharp = jax.random.uniform(jax.random.key(2), (batch, size, size, out_ch))
  formulations = _formulations()
  rows, reference = [], None
  for name in names:
    step = jax.jit(jax.value_and_grad(
        lambda p, conv=formulations[name]: jnp.mean(
            (backbone.apply(p, blurry, conv) - sharp) ** 2)))
    compiled = step.lower(params).compile()
    out = jax.block_until_ready(compiled(params))
    leaves = [np.asarray(v) for v in jax.tree.leaves(out)]
    if reference is None:
      reference = leaves
    # Largest difference from the first formulation, relative to each
    # array's largest magnitude.
    error = max(float(np.abs(a - b).max() / (np.abs(b).max() + 1e-30))
                for a, b in zip(leaves, reference))
    jax.block_until_ready(compiled(params))
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      jax.block_until_ready(compiled(params))
      times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = machine.compiled_flops(compiled)
    rows.append({"name": name, "seconds": seconds, "gflop": flops / 1e9,
                 "gflops": flops / seconds / 1e9, "error": error})
  return rows


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", choices=backbone.TABLE1_CONFIG_NAMES,
                      default="default")
  parser.add_argument("--formulations", default=",".join(FORMULATIONS),
                      help="comma-separated; the first is the reference the"
                      " others are compared with")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--tiny", action="store_true",
                      help="the test architecture on 16 x 16 crops")
  machine.add_xla_cpu_options_flag(parser)
  args = parser.parse_args(argv)
  names = args.formulations.split(",")
  unknown = sorted(set(names) - set(FORMULATIONS))
  if unknown:
    parser.error(f"--formulations: unknown {', '.join(unknown)}")
  if args.tiny:
    args.config, args.repeats = "test", 2
  xla_flags = machine.apply_xla_cpu_options(args.xla_cpu_options)
  matmul = machine.matmul_gflops(512 if args.tiny else 4096, 5)
  config = backbone.get_config(args.config)
  batch, size = config.batch_size, config.data.crop_size
  print(f"Machine: {machine.describe()}; XLA_FLAGS {xla_flags}; float32 "
        f"matmul {matmul:.0f} GFLOP/s")
  print(f"Generator forward + backward, {args.config} architecture, batch "
        f"{batch} x {size} x {size}; median of {args.repeats}")
  print("| formulation | s | x xla_conv | GFLOP | GFLOP/s | of matmul |"
        " max relative difference |")
  print("|---|---|---|---|---|---|---|")
  rows = bench(args.config, args.repeats, names)
  for row in rows:
    print(f"| {row['name']} | {row['seconds']:.3f} |"
          f" {row['seconds'] / rows[0]['seconds']:.2f} | {row['gflop']:.1f} |"
          f" {row['gflops']:.0f} | {row['gflops'] / matmul:.0%} |"
          f" {row['error']:.1e} |")
  return 0 if all(row["error"] < 1e-3 for row in rows) else 1


if __name__ == "__main__":
  sys.exit(main())
