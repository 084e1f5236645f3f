r"""Benchmarks the chunked contextual loss against a full-matrix version.

Prints a markdown table: forward+backward time (median after a warm-up) and
peak memory for each map size N = H * W and channel count C, for
`cbl_jax.losses.contextual_loss` (chunked, default chunk size) and for a
straightforward version that builds every N x N matrix, plus the FLOP/s that
the distance matmuls reach next to this machine's own float32 matmul speed.

Each configuration runs in a fresh subprocess, so its peak resident set size
(ru_maxrss) is its own. The parent never imports JAX (see
`benchmarks/machine.py`); the first worker describes the machine. The gradient
is taken with respect to the generated features only, as in training (the
target is data).

  python benchmarks/contextual_loss.py
  python benchmarks/contextual_loss.py --sizes 1024 4096 --channels 64
  python benchmarks/contextual_loss.py --tiny   # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

from benchmarks import machine  # pylint: disable=g-import-not-at-top

MODES = ("chunked", "full")
WORKERS = MODES + ("baseline",)


def full_matrix_contextual_loss(x, y, band_width=0.5, eps=1e-5):
  """Eqs. 5-8 written the obvious way: every N x N matrix materialised."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  batch, height, width, channels = x.shape
  x = x.reshape(batch, height * width, channels)
  y = y.reshape(batch, height * width, channels)
  mean = y.mean(axis=(0, 1))
  normalise = lambda v: v / jnp.linalg.norm(v, axis=-1, keepdims=True)
  x, y = normalise(x - mean), normalise(y - mean)
  cos = jnp.einsum("bic,bjc->bij", x, y,
                   precision=jax.lax.Precision.HIGHEST)
  dist = (1.0 - cos) / 2.0
  rel = dist / (dist.min(axis=-1, keepdims=True) + eps)
  cx = jax.nn.softmax((1.0 - rel) / band_width, axis=-1)
  return -jnp.mean(jnp.log(cx.max(axis=1).mean(axis=-1)))


def _grid(n: int) -> tuple[int, int]:
  height = math.isqrt(n)
  while n % height:
    height -= 1
  return height, n // height


def _worker(mode: str, n: int, channels: int, repeats: int,
            matmul_size: int) -> dict:
  """Times one configuration in this (fresh) process."""
  import jax  # pylint: disable=g-import-not-at-top
  from cbl_jax import losses  # pylint: disable=g-import-not-at-top

  height, width = _grid(n)
  kx, ky = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (1, height, width, channels))
  y = jax.random.normal(ky, (1, height, width, channels))
  if mode == "chunked":
    loss_fn = losses.contextual_loss
  elif mode == "full":
    loss_fn = full_matrix_contextual_loss
  else:
    loss_fn = None
  if loss_fn is None:
    # "baseline": the RSS of JAX and the inputs alone, then the matmul speed.
    jax.block_until_ready(jax.jit(lambda a: a * 2)(x))
    return {"peak_rss_mib": machine.peak_rss_mib(), "jax": jax.__version__,
            "backend": jax.default_backend(), "machine": machine.describe(),
            "gflops": machine.matmul_gflops(matmul_size, repeats)}
  step = jax.jit(jax.value_and_grad(loss_fn))
  loss, _ = jax.block_until_ready(step(x, y))  # Warm-up and compilation.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(step(x, y))
    times.append(time.perf_counter() - start)
  return {"seconds": statistics.median(times), "loss": float(loss),
          "peak_rss_mib": machine.peak_rss_mib()}


def _run_worker(mode: str, n: int, channels: int, repeats: int,
                timeout: float, matmul_size: int = 0) -> dict:
  cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode,
         "--sizes", str(n), "--channels", str(channels),
         "--repeats", str(repeats), "--matmul-size", str(matmul_size)]
  return machine.run_worker(cmd, timeout)


def _matmul_flops(mode: str, n: int, channels: int) -> float:
  # One N x N x C matmul for the cosines and one for the gradient of x;
  # the chunked loss recomputes the cosines in the backward pass.
  count = 3 if mode == "chunked" else 2
  return count * 2.0 * n * n * channels


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", type=int, nargs="+",
                      default=[1024, 4096, 16384],
                      help="map sizes N = H * W (square-ish grids)")
  parser.add_argument("--channels", type=int, nargs="+", default=[64, 256])
  parser.add_argument("--repeats", type=int, default=5,
                      help="timed runs per configuration, after a warm-up")
  parser.add_argument("--matmul-size", type=int, default=4096,
                      help="side of the reference float32 matmul")
  parser.add_argument("--timeout", type=float, default=900,
                      help="seconds allowed per configuration")
  parser.add_argument("--tiny", action="store_true",
                      help="one tiny configuration, for the test suite")
  machine.add_xla_cpu_options_flag(parser)
  parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)

  if args.worker:  # XLA_FLAGS come from the parent's environment.
    print(json.dumps(_worker(args.worker, args.sizes[0], args.channels[0],
                             args.repeats, args.matmul_size)))
    return 0
  xla_flags = machine.apply_xla_cpu_options(args.xla_cpu_options)
  if args.tiny:
    args.sizes, args.channels, args.repeats = [64], [8], 1
    args.matmul_size = 256

  baseline = _run_worker("baseline", args.sizes[0], args.channels[0],
                         args.repeats, args.timeout, args.matmul_size)
  print(f"Machine: {baseline.get('machine')}; jax"
        f" {baseline.get('jax')}, backend {baseline.get('backend')};"
        f" XLA_FLAGS {xla_flags}.")
  print(f"float32 matmul ({args.matmul_size}^2, HIGHEST precision):"
        f" {baseline.get('gflops', float('nan')):.0f} GFLOP/s. Peak RSS of a"
        " process that only imports JAX and makes the inputs:"
        f" {baseline.get('peak_rss_mib', float('nan')):.0f} MiB.")
  print(f"Forward + backward (gradient w.r.t. x), batch 1, median of"
        f" {args.repeats} after a warm-up; each cell a fresh process.")
  print()
  print("| N (H x W) | C | chunked s | full s | speed-up | chunked MiB |"
        " full MiB | memory ratio | chunked GFLOP/s | full GFLOP/s |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  failures = 0
  for n in args.sizes:
    for channels in args.channels:
      res = {m: _run_worker(m, n, channels, args.repeats, args.timeout)
             for m in MODES}
      cells = []
      for key in ("seconds", "peak_rss_mib"):
        for m in MODES:
          v = res[m].get(key)
          cells.append(res[m]["error"] if v is None else
                       f"{v:.3g}" if key == "seconds" else f"{v:.0f}")
      chunked, full = res["chunked"], res["full"]
      ok = "error" not in chunked and "error" not in full
      failures += "error" in chunked
      if ok and not math.isclose(chunked["loss"], full["loss"], rel_tol=1e-4):
        print(f"WARNING: losses differ at N={n}, C={channels}:"
              f" {chunked['loss']} vs {full['loss']}")
        failures += 1
      speedup = (f"{full['seconds'] / chunked['seconds']:.1f}x" if ok
                 else "-")
      ratio = (f"1/{full['peak_rss_mib'] / chunked['peak_rss_mib']:.1f}"
               if ok else "-")
      flops = [f"{_matmul_flops(m, n, channels) / res[m]['seconds'] / 1e9:.0f}"
               if "seconds" in res[m] else "-" for m in MODES]
      h, w = _grid(n)
      print(f"| {n} ({h} x {w}) | {channels} | {cells[0]} | {cells[1]} |"
            f" {speedup} | {cells[2]} | {cells[3]} | {ratio} | {flops[0]} |"
            f" {flops[1]} |")
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
