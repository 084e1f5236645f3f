r"""Benchmarks the chunked contextual loss: speed, host memory, compiled memory.

Three tables (``--tables``, all by default):

* ``speed``: forward+backward time (median after a warm-up) and peak memory
  for each map size N = H * W and channel count C, for
  `cbl_jax.losses.contextual_loss` (chunked, default chunk size) and for a
  straightforward version that builds every N x N matrix, plus the FLOP/s
  that the distance matmuls reach next to this machine's own float32 matmul
  speed. Each configuration runs in a fresh subprocess, so its peak resident
  set size (ru_maxrss) is its own. The parent never imports JAX (see
  `benchmarks/machine.py`); the first worker describes the machine.
* ``compare``: the loss against its previous chunked version (autodiff
  through a checkpointed scan, kept here as `previous_contextual_loss`),
  both timed in one process, alternating, so that a busy machine slows both
  alike; the ratio is the median of the per-pair ratios. It also checks that
  values and gradients agree.
* ``memory``: what XLA's compiled memory analysis plans (temp + argument +
  output bytes; compiled, never run) for the paper's stage-2 batch, 4 x 7
  frames of 27-channel patch features, at 126 x 126 and 256 x 256 maps: the
  previous version, and this one with the CPU rule and with the accelerator
  rule for the chunk size. And the live (B, chunk, N) temporaries per chunk
  that the accelerator rule assumes.
* ``precision``: the loss and gradient error of the cosine matmul at each
  accelerator's cheaper matmul arithmetic (one or three bfloat16 passes,
  TensorFloat-32), emulated exactly on the CPU, on real GoPro crops.

The gradient is taken with respect to the generated features only, as in
training (the target is data).

  python benchmarks/contextual_loss.py
  python benchmarks/contextual_loss.py --sizes 1024 4096 --channels 64
  python benchmarks/contextual_loss.py --tables compare --sizes 4096 16384 --channels 27
  python benchmarks/contextual_loss.py --tables memory
  python benchmarks/contextual_loss.py --tables precision
  python benchmarks/contextual_loss.py --tiny   # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import functools
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
TABLES = ("speed", "compare", "memory", "precision")
WORKERS = MODES + ("baseline", "compare", "memory", "precision")
# Matmul arithmetic of accelerators, emulated exactly on a CPU (whose XLA
# computes every precision in float32): the rounding of each operand and the
# passes, with float32 accumulation.
EMULATED_PRECISIONS = {
    "bf16": "BF16_BF16_F32: one bfloat16 pass (a TPU's DEFAULT)",
    "bf16_3x": "BF16_BF16_F32_X3: three bfloat16 passes (a TPU's HIGH)",
    "tf32": "TF32_TF32_F32: TensorFloat-32 (a GPU's DEFAULT for float32)",
}
_GOPRO_PAIR = os.path.join(_REPO_ROOT, os.pardir, "shared", "data", "real",
                           "gopro", "Flower_{}1.png")


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


def previous_contextual_loss(x, y, band_width=0.5, eps=1e-5,
                             chunk_size=None):
  """The chunked loss as it was before its custom gradient.

  The same chunked forward pass, differentiated by autodiff through a
  `jax.checkpoint`-ed `lax.scan`: the backward pass keeps the running
  maximum before every chunk, B * N * ceil(N / chunk) floats, and a tied
  maximum's gradient is split by `jnp.maximum` (half each) rather than
  equally. `chunk_size` None is the CPU rule, 2**20 / N rows.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jax import lax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  batch, height, width, channels = x.shape
  n = height * width
  x = x.astype(jnp.float32).reshape(batch, n, channels)
  y = y.astype(jnp.float32).reshape(batch, n, channels)
  mean = y.mean(axis=(0, 1))
  normalise = lambda v: v * lax.rsqrt(
      jnp.maximum(jnp.sum(v * v, axis=-1, keepdims=True), 1e-12))
  x, y = normalise(x - mean), normalise(y - mean)
  y_t = jnp.swapaxes(y, 1, 2)
  chunk = chunk_size or min(max(8, 2**20 // n), n)
  num_chunks = -(-n // chunk)
  pad = num_chunks * chunk - n
  rows = jnp.moveaxis(jnp.pad(x, ((0, 0), (0, pad), (0, 0))).reshape(
      batch, num_chunks, chunk, channels), 1, 0)
  valid = (jnp.arange(num_chunks * chunk) < n).reshape(num_chunks, chunk)

  @jax.checkpoint
  def body(running_max, chunk_in):
    x_rows, row_valid = chunk_in
    cos = jnp.einsum("bic,bcj->bij", x_rows, y_t,
                     precision=lax.Precision.HIGHEST)
    dist = jnp.maximum((1.0 - cos) * 0.5, 0.0)
    dmin = jnp.min(dist, axis=-1, keepdims=True)
    logits = (dmin - dist) / ((dmin + eps) * band_width)
    log_cx = logits - jnp.log(jnp.sum(jnp.exp(logits), axis=-1,
                                      keepdims=True))
    log_cx = jnp.where(row_valid[None, :, None], log_cx, -jnp.inf)
    return jnp.maximum(running_max, jnp.max(log_cx, axis=1)), None

  init = jnp.full((batch, n), -jnp.inf, jnp.float32)
  log_cx_max, _ = lax.scan(body, init, (rows, valid))
  return -jnp.mean(jax.nn.logsumexp(log_cx_max, axis=-1) - math.log(n))


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


def _compare_worker(n: int, channels: int, batch: int, repeats: int,
                    chunk: int | None) -> dict:
  """Times the loss and its previous version alternately in this process."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from cbl_jax import losses  # pylint: disable=g-import-not-at-top

  height, width = _grid(n)
  kx, ky = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (batch, height, width, channels))
  y = jax.random.normal(ky, (batch, height, width, channels))
  chunk = chunk or losses.auto_chunk_size(n, batch, backend="cpu")
  steps = {
      "previous": jax.jit(jax.value_and_grad(
          lambda a, b: previous_contextual_loss(a, b, chunk_size=chunk))),
      "chunked": jax.jit(jax.value_and_grad(
          lambda a, b: losses.contextual_loss(a, b, chunk_size=chunk))),
  }
  results = {k: jax.block_until_ready(f(x, y)) for k, f in steps.items()}
  times = {k: [] for k in steps}
  for _ in range(repeats):
    for name, step in steps.items():
      start = time.perf_counter()
      jax.block_until_ready(step(x, y))
      times[name].append(time.perf_counter() - start)
  (prev_loss, prev_grad), (loss, grad) = results["previous"], results["chunked"]
  return {
      "chunk": chunk,
      "previous_s": statistics.median(times["previous"]),
      "chunked_s": statistics.median(times["chunked"]),
      "ratio": statistics.median(
          c / p for c, p in zip(times["chunked"], times["previous"])),
      "loss_diff": abs(float(loss) - float(prev_loss)) / abs(float(loss)),
      "grad_diff": float(jnp.abs(grad - prev_grad).max()
                         / jnp.abs(prev_grad).max()),
  }


def _memory_worker(side: int, batch: int, channels: int,
                   budget: int) -> dict:
  """XLA's planned bytes for forward + backward, compiled only."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from cbl_jax import losses  # pylint: disable=g-import-not-at-top

  n = side * side
  shape = jax.ShapeDtypeStruct((batch, side, side, channels), jnp.float32)

  def planned(loss_fn, chunk):
    step = jax.value_and_grad(lambda a, b: loss_fn(a, b, chunk_size=chunk))
    stats = jax.jit(step).lower(shape, shape).compile().memory_analysis()
    return {"temp": stats.temp_size_in_bytes,
            "total": stats.temp_size_in_bytes + stats.argument_size_in_bytes
                     + stats.output_size_in_bytes}

  cpu_chunk = losses.auto_chunk_size(n, batch, backend="cpu")
  # The accelerator rule, by default with its fixed budget (a device that
  # reports no memory statistics; an eighth of a 16 GiB TPU v5e).
  acc_chunk = losses.auto_chunk_size(n, batch, memory_budget=budget)
  contiguous = lambda a, b, chunk_size: losses.contiguous_loss(
      a, b, spatial_weight=0.1, chunk_size=chunk_size)
  out = {"cpu_chunk": cpu_chunk, "acc_chunk": acc_chunk,
         "previous": planned(previous_contextual_loss, cpu_chunk),
         "cpu": planned(losses.contextual_loss, cpu_chunk),
         "accelerator": planned(losses.contextual_loss, acc_chunk)}
  # Live (B, chunk, N) float32 temporaries per row of chunk: the slope of
  # the planned temporaries between two chunk sizes.
  row_bytes = batch * n * 4
  for name, fn in (("contextual", losses.contextual_loss),
                   ("contiguous", contiguous)):
    small, big = planned(fn, acc_chunk), planned(fn, 2 * acc_chunk)
    out[f"{name}_per_chunk"] = (big["temp"] - small["temp"]) / (
        acc_chunk * row_bytes)
    out[f"{name}_accelerator"] = small
  return out


def _emulated_matmul(kind: str):
  """A `_cosine_matmul` that rounds and splits as ``kind``'s hardware does.

  The gradient's two matmuls use the same arithmetic (the cotangent is an
  operand like any other), as they do on the hardware.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jax import lax  # pylint: disable=g-import-not-at-top

  def bf16(v):
    return v.astype(jnp.bfloat16).astype(jnp.float32)

  def tf32(v):
    # Round to nearest (ties to even) on 10 explicit mantissa bits.
    bits = lax.bitcast_convert_type(v, jnp.uint32)
    bits = bits + 0xFFF + ((bits >> 13) & 1)
    return lax.bitcast_convert_type(bits & ~jnp.uint32(0x1FFF), jnp.float32)

  def product(spec, a, b):
    exact = functools.partial(jnp.einsum, spec, precision="highest")
    if kind == "tf32":
      return exact(tf32(a), tf32(b))
    a_hi, b_hi = bf16(a), bf16(b)
    if kind == "bf16":
      return exact(a_hi, b_hi)
    a_lo, b_lo = bf16(a - a_hi), bf16(b - b_hi)
    return exact(a_hi, b_hi) + (exact(a_hi, b_lo) + exact(a_lo, b_hi))

  @jax.custom_vjp
  def cosines(x_rows, y_t):
    return product("bic,bcj->bij", x_rows, y_t)

  def forward(x_rows, y_t):
    return cosines(x_rows, y_t), (x_rows, y_t)

  def backward(operands, g):
    x_rows, y_t = operands
    return (product("bij,bcj->bic", g, y_t),
            product("bic,bij->bcj", x_rows, g))

  cosines.defvjp(forward, backward)

  def emulated(x_rows, y_t, precision=None):
    del precision  # The emulation is the precision.
    return cosines(x_rows, y_t)
  return emulated


def _frame_pairs(side: int, batch: int, seed: int = 0):
  """(blurry, sharp) float32 crops of a real GoPro pair, or noise without one.

  Real frames matter here: the precision of the cosine matmul counts where
  patches are nearly parallel (cosines near 1), as in flat and repeated
  regions of photographs, which random features almost never are.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(seed)
  size = side + 2  # 3 x 3 patches at stride 1 give side x side maps.
  if os.path.exists(_GOPRO_PAIR.format("blur")):
    blurry, sharp = (np.asarray(Image.open(_GOPRO_PAIR.format(kind)),
                                np.float32)[..., :3] / 255.0
                     for kind in ("blur", "sharp"))
    tops = rng.integers(0, blurry.shape[0] - size, batch)
    lefts = rng.integers(0, blurry.shape[1] - size, batch)
    crop = lambda a: np.stack([a[t:t + size, l:l + size]
                               for t, l in zip(tops, lefts)])
    return crop(blurry), crop(sharp), "GoPro Flower crops"
  shape = (batch, size, size, 3)
  return (rng.uniform(size=shape).astype(np.float32),
          rng.uniform(size=shape).astype(np.float32), "uniform noise")


def _precision_worker(side: int, batch: int) -> dict:
  """Loss and gradient of each emulated precision against exact float32."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cbl_jax import losses  # pylint: disable=g-import-not-at-top
  from cbl_jax.losses import contextual  # pylint: disable=g-import-not-at-top

  blurry, sharp, source = _frame_pairs(side, batch)
  x = losses.patch_features(jnp.asarray(blurry))
  y = losses.patch_features(jnp.asarray(sharp))
  out = {"source": source, "channels": int(x.shape[-1])}
  for name, loss_fn in (
      ("contextual", losses.contextual_loss),
      ("contiguous", lambda a, b: losses.contiguous_loss(
          a, b, spatial_weight=0.1))):
    exact_loss, exact_grad = jax.jit(jax.value_and_grad(loss_fn))(x, y)
    original = contextual._cosine_matmul  # pylint: disable=protected-access
    for kind in EMULATED_PRECISIONS:
      contextual._cosine_matmul = _emulated_matmul(kind)  # pylint: disable=protected-access
      try:
        loss, grad = jax.jit(jax.value_and_grad(loss_fn))(x, y)
      finally:
        contextual._cosine_matmul = original  # pylint: disable=protected-access
      # Norms and the cosine in float64: float32 sums over the whole
      # gradient would be off by more than the smallest errors measured.
      g, g0 = (np.asarray(v, np.float64).ravel() for v in (grad, exact_grad))
      out[f"{name}/{kind}"] = {
          "loss": float(loss), "exact": float(exact_loss),
          "loss_diff": abs(float(loss - exact_loss)) / abs(float(exact_loss)),
          "grad_diff": float(np.linalg.norm(g - g0) / np.linalg.norm(g0)),
          "grad_cos": float(g @ g0 / (np.linalg.norm(g) * np.linalg.norm(g0))),
      }
  return out


def _run_worker(mode: str, n: int, channels: int, repeats: int,
                timeout: float, matmul_size: int = 0, batch: int = 1,
                chunk: int = 0, budget_mib: float = 2048) -> dict:
  cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode,
         "--sizes", str(n), "--channels", str(channels),
         "--repeats", str(repeats), "--matmul-size", str(matmul_size),
         "--batch", str(batch), "--chunk", str(chunk),
         "--memory-budget-mib", str(budget_mib)]
  return machine.run_worker(cmd, timeout)


def _bytes(value: float) -> str:
  if value >= 2**30:
    return f"{value / 2**30:.2f} GiB"
  return f"{value / 2**20:.1f} MiB"


def _matmul_flops(mode: str, n: int, channels: int) -> float:
  # One N x N x C matmul for the cosines and one for the gradient of x;
  # the chunked loss recomputes the cosines in the backward pass.
  count = 3 if mode == "chunked" else 2
  return count * 2.0 * n * n * channels


def _speed_table(args, baseline: dict) -> int:
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
  return failures


def _compare_table(args) -> int:
  print(f"Against the previous chunked version: forward + backward, batch"
        f" {args.batch}, both in one process, alternating, {args.repeats}"
        " pairs after a warm-up; medians.")
  print()
  print("| N (H x W) | C | B | rows per chunk | previous s | chunked s |"
        " chunked / previous | loss rel. diff | grad rel. diff |")
  print("|---|---|---|---|---|---|---|---|---|")
  failures = 0
  for n in args.sizes:
    for channels in args.channels:
      res = _run_worker("compare", n, channels, args.repeats, args.timeout,
                        batch=args.batch, chunk=args.chunk)
      h, w = _grid(n)
      if "error" in res:
        print(f"| {n} ({h} x {w}) | {channels} | {args.batch} |"
              f" {res['error']} | | | | | |")
        failures += 1
        continue
      if res["loss_diff"] > 1e-5 or res["grad_diff"] > 1e-4:
        print(f"WARNING: the versions disagree at N={n}, C={channels}.")
        failures += 1
      print(f"| {n} ({h} x {w}) | {channels} | {args.batch} | {res['chunk']}"
            f" | {res['previous_s']:.3g} | {res['chunked_s']:.3g} |"
            f" {res['ratio']:.2f} | {res['loss_diff']:.1e} |"
            f" {res['grad_diff']:.1e} |")
  return failures


def _memory_table(args) -> int:
  frames = (" (4 x 7 frames of 3 x 3 RGB patches, as in the paper's stage 2)"
            if (args.memory_batch, args.memory_channels) == (28, 27) else "")
  print(f"Forward + backward as XLA plans it (compiled, never run): temp +"
        f" argument + output bytes, batch {args.memory_batch} maps of"
        f" {args.memory_channels} channels{frames}. The accelerator rule with"
        f" a {_bytes(args.memory_budget_mib * 2**20)} budget for the chunk's"
        " temporaries.")
  print()
  print("| map | previous, CPU rule | CPU rule | accelerator rule |"
        " temporaries per chunk (contextual, contiguous) |")
  print("|---|---|---|---|---|")
  failures = 0
  for side in args.memory_sides:
    res = _run_worker("memory", side * side, args.memory_channels, 1,
                      args.timeout, batch=args.memory_batch,
                      budget_mib=args.memory_budget_mib)
    if "error" in res:
      print(f"| {side} x {side} | {res['error']} | | | |")
      failures += 1
      continue
    print(f"| {side} x {side} |"
          f" {_bytes(res['previous']['total'])} ({res['cpu_chunk']} rows) |"
          f" {_bytes(res['cpu']['total'])} ({res['cpu_chunk']} rows) |"
          f" {_bytes(res['accelerator']['total'])} ({res['acc_chunk']} rows) |"
          f" {res['contextual_per_chunk']:.1f},"
          f" {res['contiguous_per_chunk']:.1f} |")
  return failures


def _precision_table(args) -> int:
  print("Precision of the cosine matmul, against the exact default"
        " (\"highest\"): each accelerator's matmul arithmetic emulated"
        " exactly in float32 on this CPU (operands rounded and split as the"
        " hardware does; float32 accumulation). Forward + backward, 3 x 3"
        f" RGB patch features (27 channels) of {args.precision_batch}"
        " blurry crops against their sharp crops.")
  print()
  print("| map | matmul | loss rel. error (contextual, contiguous) |"
        " gradient rel. L2 error (contextual, contiguous) |"
        " gradient cosine (contextual, contiguous) |")
  print("|---|---|---|---|---|")
  failures = 0
  for side in args.precision_sides:
    res = _run_worker("precision", side * side, 27, 1, args.timeout,
                      batch=args.precision_batch)
    if "error" in res:
      print(f"| {side} x {side} | {res['error']} | | | |")
      failures += 1
      continue
    for kind, label in EMULATED_PRECISIONS.items():
      cells = [res[f"{name}/{kind}"] for name in ("contextual", "contiguous")]
      print(f"| {side} x {side} ({res['source']}) | {label} |"
            f" {cells[0]['loss_diff']:.1e}, {cells[1]['loss_diff']:.1e} |"
            f" {cells[0]['grad_diff']:.1e}, {cells[1]['grad_diff']:.1e} |"
            f" {cells[0]['grad_cos']:.6f}, {cells[1]['grad_cos']:.6f} |")
  return failures


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tables", nargs="+", choices=TABLES,
                      default=list(TABLES), help="which tables to print")
  parser.add_argument("--sizes", type=int, nargs="+",
                      default=[1024, 4096, 16384],
                      help="map sizes N = H * W (square-ish grids)")
  parser.add_argument("--channels", type=int, nargs="+", default=[64, 256])
  parser.add_argument("--batch", type=int, default=1,
                      help="feature maps per call in the compare table")
  parser.add_argument("--chunk", type=int, default=0,
                      help="rows per chunk in the compare table (0: the CPU"
                      " rule)")
  parser.add_argument("--memory-sides", type=int, nargs="+",
                      default=[126, 256],
                      help="map sides for the memory table")
  parser.add_argument("--memory-batch", type=int, default=28)
  parser.add_argument("--memory-channels", type=int, default=27)
  parser.add_argument("--memory-budget-mib", type=float, default=2048,
                      help="the accelerator rule's budget in the memory table"
                      " (2048: its default without memory statistics)")
  parser.add_argument("--precision-sides", type=int, nargs="+",
                      default=[64, 126],
                      help="map sides for the precision table")
  parser.add_argument("--precision-batch", type=int, default=4,
                      help="crops per call in the precision table")
  parser.add_argument("--repeats", type=int, default=5,
                      help="timed runs per configuration, after a warm-up")
  parser.add_argument("--matmul-size", type=int, default=4096,
                      help="side of the reference float32 matmul")
  parser.add_argument("--timeout", type=float, default=900,
                      help="seconds allowed per configuration")
  parser.add_argument("--tiny", action="store_true",
                      help="tiny configurations, for the test suite")
  machine.add_xla_cpu_options_flag(parser)
  parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)

  if args.worker == "compare":
    result = _compare_worker(args.sizes[0], args.channels[0], args.batch,
                             args.repeats, args.chunk or None)
  elif args.worker == "memory":
    result = _memory_worker(math.isqrt(args.sizes[0]), args.batch,
                            args.channels[0],
                            int(args.memory_budget_mib * 2**20))
  elif args.worker == "precision":
    result = _precision_worker(math.isqrt(args.sizes[0]), args.batch)
  elif args.worker:  # XLA_FLAGS come from the parent's environment.
    result = _worker(args.worker, args.sizes[0], args.channels[0],
                     args.repeats, args.matmul_size)
  if args.worker:
    print(json.dumps(result))
    return 0
  xla_flags = machine.apply_xla_cpu_options(args.xla_cpu_options)
  if args.tiny:
    args.sizes, args.channels, args.repeats = [64], [8], 1
    args.matmul_size, args.chunk = 256, 24
    args.memory_sides, args.memory_batch = [32], 2
    args.memory_budget_mib = 1.0
    args.precision_sides, args.precision_batch = [16], 1

  baseline = _run_worker("baseline", args.sizes[0], args.channels[0],
                         args.repeats, args.timeout, args.matmul_size)
  print(f"Machine: {baseline.get('machine')}; jax"
        f" {baseline.get('jax')}, backend {baseline.get('backend')};"
        f" XLA_FLAGS {xla_flags}.")
  failures = 0
  for table in args.tables:
    print()
    failures += {"speed": lambda: _speed_table(args, baseline),
                 "compare": lambda: _compare_table(args),
                 "memory": lambda: _memory_table(args),
                 "precision": lambda: _precision_table(args)}[table]()
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
