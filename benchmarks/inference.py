r"""Inference speed, memory and FLOPs: one 1280x720 photo to 7 frames.

  python benchmarks/inference.py               # 3 tables; 25 min on 2 cores
  python benchmarks/inference.py --configs=default --tile_sizes=512
  python benchmarks/inference.py --flops_only  # table 2 only; runs nothing
  python benchmarks/inference.py --tiny        # seconds; used by the tests

The same command runs on a CPU, a GPU or a TPU. Weights are random (drawn
as each config's initialiser draws them): the time and memory of a forward
pass do not depend on their values.

1. Inference. For each configuration ("default": configs/default.py;
   "paper": Table 1, configs/gopro.py) the whole image in one generator call
   (`cbl_jax.inference.predict_frames`) and through tiles
   (`predict_tiled` with the default `TileOptions`, and smaller tiles).
   Each cell runs in a fresh process and reports: the compile time of the
   generator call (`lower().compile()`), the median time of --repeats calls
   after --warmup (the library call, from a host image to host frames, so
   the tiled cells include the blending on the host), the peak memory
   (CPU: the process's peak RSS, ru_maxrss; GPU/TPU: the device's
   `peak_bytes_in_use`), and the forward FLOPs by XLA's cost analysis of
   the compiled call, times the number of calls. Tiles overlap, and the
   overlaps are computed twice: tiled FLOPs are what runs, more than
   untiled. GFLOP/s divides those FLOPs by the median time, and is compared
   with a float32 matmul timed in the same process right after (so that on
   a shared machine both see about the same load).
2. FLOPs of this single network for 7 frames against the several-network
   design of Jin, Meishvili and Favaro (CVPR 2018, "Learning to Extract a
   Video Sequence from a Single Motion-Blurred Image"), counted by XLA on
   the compiled forward pass and analytically (2 x k^2 x Cin x Cout x H x W
   summed over the convolutions): the same Table 1 backbone in Jin's
   arrangement (a network for the middle frame, then one per symmetric pair
   fed the blurry image and earlier frames), the same backbone evaluated
   once per frame as Jin's released code runs its networks, and Jin's
   released networks themselves (analytic only).
3. Latency of the single network against Jin's arrangement with the same
   backbone at the default configuration's (small) width, in fresh
   processes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

from benchmarks import backbone  # pylint: disable=g-import-not-at-top
from benchmarks import machine  # pylint: disable=g-import-not-at-top

# The parent process never imports JAX (see benchmarks/machine.py): every
# measurement runs in a worker process started with --worker.

# An evaluation of one network: (network index, frames fed in besides the
# blurry image, frames it outputs, frames its outputs are residuals to).
# Frames are numbered 1-7; 4 is the middle one.
Evaluation = tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]

DESIGNS: dict[str, tuple[str, tuple[Evaluation, ...]]] = {
    "single": (
        "one network for 7 frames (this library's design)",
        ((0, (), (1, 2, 3, 4, 5, 6, 7), ()),)),
    # Jin et al.'s arrangement: one network predicts the middle frame from
    # the blurry image, then one per symmetric pair (3/5, 2/6, 1/7) from
    # the blurry image and the frames already predicted. The input sets are
    # those of their demo.py, which calls the pair stages with (blurry, 4),
    # (blurry, 3, 4, 5) and (blurry, 2, 3, 5, 6).
    "jin_pairs": (
        "Jin-style: one network per frame pair",
        ((0, (), (4,), ()),
         (1, (4,), (3, 5), ()),
         (2, (3, 4, 5), (2, 6), ()),
         (3, (2, 3, 5, 6), (1, 7), ()))),
    # How Jin et al.'s released code (model.py, demo.py) evaluates them:
    # every frame is its own evaluation of a one-frame network fed the
    # blurry image and two neighbouring frames, as a residual to the nearer
    # one; frames 3 and 5 have separate networks, 2/6 and 1/7 share one.
    "jin_frames": (
        "Jin-style: one evaluation per frame (as Jin's code runs)",
        ((0, (), (4,), ()),
         (1, (4, 4), (3,), (4,)),
         (2, (3, 4), (5,), (4,)),
         (3, (4, 3), (2,), (3,)),
         (3, (4, 5), (6,), (5,)),
         (4, (3, 2), (1,), (2,)),
         (4, (5, 6), (7,), (6,)))),
}

# Jin et al.'s released networks, as facts read from their PyTorch code
# (github.com/MeiguangJin/Learning-to-Extract-a-Video-Sequence-from-a-
# Single-Motion-Blurred-Image, model.py at commit c1e4775, classes
# centerEsti, N8_IN, N9_IN, F35_N8, F26_N9, F17_N9, and demo.py). Each
# network reshuffles every colour channel of its inputs space-to-depth
# (4x4 for the middle frame, 5x5 for the others), runs the three colour
# channels separately through shared weights at that lower resolution,
# shuffles back and fuses the three channels with a few full-resolution
# convolutions. A residual block there is a 1x1 and two 3x3 convolutions
# (dilated in some blocks, which costs the same).
#   (space-to-depth factor, [(kernel side, in, out, count) at low
#   resolution, per colour channel], [... at full resolution]).
_JIN2018_NETWORKS = {
    # centerEsti: 5x5 16->144, 12 residual blocks of 144 channels, four
    # fusion blocks (1x1 and 3x3, 144->16); then 3x3 3->64, one residual
    # block of 64, 3x3 64->3.
    "center": (4, [(5, 16, 144, 1), (1, 144, 144, 12), (3, 144, 144, 24),
                   (1, 144, 16, 4), (3, 144, 16, 4)],
               [(3, 3, 64, 1), (1, 64, 64, 1), (3, 64, 64, 2),
                (3, 64, 3, 1)]),
    # N8_IN (frames 3 and 5, two networks): 5x5 convolutions 25->64 for the
    # blurry image and 25->32 for each of two frames, 12 residual blocks of
    # 128, three fusion blocks (1x1 and 3x3, 128->25); then 3x3 3->32, a
    # 1x1 plus 3x3 block of 32, 3x3 32->3.
    "n8": (5, [(5, 25, 64, 1), (5, 25, 32, 2), (1, 128, 128, 12),
               (3, 128, 128, 24), (1, 128, 25, 3), (3, 128, 25, 3)],
           [(3, 3, 32, 1), (1, 32, 32, 1), (3, 32, 32, 1), (3, 32, 3, 1)]),
    # N9_IN (frames 2/6 and 1/7, one network each, evaluated twice): as
    # N8_IN with 8 residual blocks.
    "n9": (5, [(5, 25, 64, 1), (5, 25, 32, 2), (1, 128, 128, 8),
               (3, 128, 128, 16), (1, 128, 25, 3), (3, 128, 25, 3)],
           [(3, 3, 32, 1), (1, 32, 32, 1), (3, 32, 32, 1), (3, 32, 3, 1)]),
}
# demo.py: centerEsti once, F35_N8's two N8_IN once each, F26_N9's and
# F17_N9's N9_IN twice each.
_JIN2018_EVALUATIONS = {"center": 1, "n8": 2, "n9": 4}


def jin2018_flops_per_pixel() -> float:
  """Convolution FLOPs per image pixel of Jin et al.'s 7 frames.

  Counts 2 x k^2 x Cin x Cout per output pixel of every convolution; the
  instance normalisations, ReLUs and additions are left out.

  Returns:
    FLOPs per pixel of the blurry image.
  """
  total = 0.0
  for name, evaluations in _JIN2018_EVALUATIONS.items():
    factor, low, full = _JIN2018_NETWORKS[name]
    # Three colour channels, each at 1 / factor^2 of the pixels.
    per_pixel = sum(2 * k * k * c_in * c_out * n
                    for k, c_in, c_out, n in low) * 3 / factor**2
    per_pixel += sum(2 * k * k * c_in * c_out * n
                     for k, c_in, c_out, n in full)
    total += evaluations * per_pixel
  return total


def design_networks(design: str) -> list[tuple[int, int]]:
  """(input, output) channels of each network of a design (RGB frames)."""
  channels = {}
  for net, inputs, outputs, _ in DESIGNS[design][1]:
    channels[net] = (3 * (1 + len(inputs)), 3 * len(outputs))
  return [channels[net] for net in sorted(channels)]


def run_design(design: str, params: Sequence[Any], blurry):
  """Predicts 7 frames with a design's networks, in their order.

  Args:
    design: a key of DESIGNS.
    params: per network, the `backbone` parameters.
    blurry: (batch, H, W, 3) images.

  Returns:
    (batch, 7, H, W, 3) frames.
  """
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  frames = {}
  for net, inputs, outputs, residual_to in DESIGNS[design][1]:
    x = jnp.concatenate([blurry] + [frames[f] for f in inputs], axis=-1)
    y = backbone.apply(params[net], x)
    for i, frame in enumerate(outputs):
      # Channels are frame-major, as in Generator.
      frames[frame] = y[..., 3 * i:3 * i + 3]
      if residual_to:
        frames[frame] = frames[frame] + frames[residual_to[i]]
  return jnp.stack([frames[f] for f in range(1, 8)], axis=1)


def design_flops(design: str, generator: Any, pixels: int) -> float:
  """Analytic convolution FLOPs of a design with a config's backbone."""
  total = 0.0
  for net, _, _, _ in DESIGNS[design][1]:
    c_in, c_out = design_networks(design)[net]
    total += backbone.conv_flops(
        backbone.layers(generator, c_in, c_out), pixels)
  return total


def _design_params(design: str, generator: Any) -> list[Any]:
  """Per network of a design, He-scaled `backbone` parameters."""
  return [backbone.he_params(backbone.layers(generator, c_in, c_out))
          for c_in, c_out in design_networks(design)]


def _image(height: int, width: int):
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.random.default_rng(0).random((height, width, 3), np.float32)


def _baseline_worker(spec: dict[str, Any]) -> dict[str, Any]:
  """What JAX, the library, the parameters and the input alone take."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from cbl_jax import inference  # pylint: disable=g-import-not-at-top

  model = inference.random_generator(_generator(spec))
  image = _image(spec["height"], spec["width"])
  jax.block_until_ready(jax.jit(lambda a: a * 2)(jnp.asarray(image)))
  return {**machine.peak_memory(), "jax": jax.__version__,
          "backend": jax.default_backend(), "machine": machine.describe(),
          "params": sum(p.size for p in jax.tree_util.tree_leaves(
              model.params))}


def _predict_worker(spec: dict[str, Any]) -> dict[str, Any]:
  """Times the library's whole-image or tiled prediction of one image."""
  import jax  # pylint: disable=g-import-not-at-top
  from cbl_jax import inference  # pylint: disable=g-import-not-at-top
  from cbl_jax.inference import tiling  # pylint: disable=g-import-not-at-top

  height, width = spec["height"], spec["width"]
  model = inference.random_generator(_generator(spec))
  image = _image(height, width)
  # None takes the library's default (the parent cannot import it).
  defaults = inference.TileOptions()
  options = inference.TileOptions(
      spec["tile_size"],
      defaults.tile_overlap if spec["tile_overlap"] is None else
      spec["tile_overlap"],
      spec["tile_batch"] or defaults.batch_size)
  if options.tile_size and (height > options.tile_size or
                            width > options.tile_size):
    tile_h = min(options.tile_size, height)
    tile_w = min(options.tile_size, width)
    tiles = (len(tiling.tile_starts(height, tile_h, options.tile_overlap)) *
             len(tiling.tile_starts(width, tile_w, options.tile_overlap)))
    batch = options.batch_size
    calls = math.ceil(tiles / batch)
    blend = jax.ShapeDtypeStruct((batch, tile_h, tile_w), "float32")
    run = lambda: tiling.predict_tiled(model, image, options)
  else:
    tile_h, tile_w, tiles, batch, calls, blend = height, width, 1, 1, 1, None
    run = lambda: tiling.predict_frames(model, image)
  start = time.perf_counter()
  compiled = model.apply_fn.lower(
      model.params,
      jax.ShapeDtypeStruct((batch, tile_h, tile_w, 3), "float32"),
      blend).compile()
  compile_s = time.perf_counter() - start
  # The library's own jitted call compiles again in the warm-up: an
  # ahead-of-time executable does not fill jit's cache.
  times = machine.timed_runs(run, spec["warmup"], spec["repeats"])
  return {"compile_s": compile_s, "seconds": statistics.median(times),
          "times": times, "flops": machine.compiled_flops(compiled) * calls,
          "tiles": tiles, "calls": calls, "batch": batch,
          "tile": [tile_h, tile_w], "overlap": options.tile_overlap,
          **_matmul_and_memory(spec)}


def _design_worker(spec: dict[str, Any]) -> dict[str, Any]:
  """Times one design (DESIGNS) on one image, jitted as one computation."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  design = spec["design"]
  params = jax.device_put(_design_params(design, _generator(spec)))
  x = jnp.asarray(_image(spec["height"], spec["width"])[None])
  start = time.perf_counter()
  compiled = jax.jit(lambda p, x: run_design(design, p, x)).lower(
      params, x).compile()
  compile_s = time.perf_counter() - start
  times = machine.timed_runs(lambda: compiled(params, x), spec["warmup"],
                           spec["repeats"])
  return {"compile_s": compile_s, "seconds": statistics.median(times),
          "times": times, "flops": machine.compiled_flops(compiled),
          **_matmul_and_memory(spec)}


def _flops_worker(spec: dict[str, Any]) -> dict[str, Any]:
  """Counts the FLOPs of every design; compiles only, runs nothing.

  Nothing runs, so the paper-size networks at 1280x720 take seconds.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from cbl_jax.inference import model as model_lib  # pylint: disable=g-import-not-at-top

  generator = _generator(spec)
  pixels = spec["height"] * spec["width"]
  x = jax.ShapeDtypeStruct((1, spec["height"], spec["width"], 3), "float32")
  module = model_lib.generator_from_config(generator)
  channels = 1 if module.color_mode == "y" else 3
  g_params = jax.eval_shape(
      lambda: module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3))))[
          "params"]
  library = jax.jit(lambda p, x: module.apply({"params": p}, x)).lower(
      g_params, x).compile()
  rows = [{"design": "library", "xla": machine.compiled_flops(library),
           "analytic": backbone.conv_flops(backbone.layers(
               generator, channels, module.num_frames * channels), pixels),
           "networks": 1, "evaluations": 1,
           "channels": f"{channels} -> {module.num_frames * channels}"}]
  for design, (_, evaluations) in DESIGNS.items():
    params = jax.eval_shape(lambda d=design: _design_params(d, generator))
    compiled = jax.jit(lambda p, x, d=design: run_design(d, p, x)).lower(
        params, x).compile()
    nets = design_networks(design)
    rows.append({
        "design": design, "xla": machine.compiled_flops(compiled),
        "analytic": design_flops(design, generator, pixels),
        "networks": len(nets), "evaluations": len(evaluations),
        "channels": _channels([nets[e[0]] for e in evaluations])})
  rows.append({"design": "jin2018", "xla": None,
               "analytic": jin2018_flops_per_pixel() * pixels,
               "networks": 5, "evaluations": 7, "channels": "-"})
  return {"rows": rows, "machine": machine.describe(),
          "jax": jax.__version__}


_WORKERS = {"baseline": _baseline_worker, "predict": _predict_worker,
            "design": _design_worker, "flops": _flops_worker}


def _generator(spec: dict[str, Any]) -> dict[str, Any]:
  return backbone.get_config(spec["config"]).generator.to_dict()


def _matmul_and_memory(spec: dict[str, Any]) -> dict[str, Any]:
  # The peak first: the reference matmul's own buffers must not count. The
  # matmul runs in the same process right after the timed calls, so that
  # on a shared machine both see about the same load.
  memory = machine.peak_memory()
  return {**memory, "matmul_gflops": machine.matmul_gflops(
      spec["matmul_size"], 3)}


def _channels(evaluations: Sequence[tuple[int, int]]) -> str:
  """'3 -> 3, 9 -> 3 x 6': channels of each evaluation, repeats grouped."""
  groups = []
  for channels in evaluations:
    if groups and groups[-1][0] == channels:
      groups[-1][1] += 1
    else:
      groups.append([channels, 1])
  return ", ".join(f"{a} -> {b}" + (f" x {n}" if n > 1 else "")
                   for (a, b), n in groups)


def _run(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
  cmd = [sys.executable, os.path.abspath(__file__), "--worker",
         json.dumps(spec)]
  return machine.run_worker(cmd, timeout)


def _memory(res: dict[str, Any]) -> float:
  """The peak that matters: the device's where JAX reports it, else RSS."""
  device = res.get("device_peak_mib")
  return res["peak_rss_mib"] if device is None else device


def _fmt(value: float) -> str:
  """Seconds and GFLOP with three significant digits, no exponent."""
  if value >= 100:
    return f"{value:.0f}"
  return f"{value:.3g}"


def _speed(res: dict[str, Any]) -> str:
  """'GFLOP/s | of matmul | matmul GFLOP/s' cells of a timed cell."""
  gflops = res["flops"] / res["seconds"] / 1e9
  return (f"{gflops:.0f} | {gflops / res['matmul_gflops']:.0%} |"
          f" {res['matmul_gflops']:.0f}")


def _inference_table(args: argparse.Namespace,
                     baselines: dict[str, dict[str, Any]]) -> int:
  """Prints table 1; returns the number of cells that failed."""
  failures = 0
  print("| config | tiles | compile s | s/image | peak MiB | above baseline |"
        " GFLOP | GFLOP/s | of matmul | matmul GFLOP/s |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for name in args.configs:
    for tile_size in [0] + args.tile_sizes:
      res = _run({"kind": "predict", "config": name, "height": args.height,
                  "width": args.width, "tile_size": tile_size,
                  "tile_overlap": args.tile_overlap,
                  "tile_batch": args.tile_batch, "repeats": args.repeats,
                  "warmup": args.warmup, "matmul_size": args.matmul_size},
                 args.timeout)
      if "error" in res:
        failures += 1
        print(f"| {name} | {tile_size or 'whole image'} | {res['error']} |"
              " | | | | | | |")
        continue
      if res["tiles"] == 1:
        tiles = "whole image" + (f" (tile {tile_size} >= image)"
                                 if tile_size else "")
      else:
        tiles = (f"{res['tile'][0]} x {res['tile'][1]}, overlap"
                 f" {res['overlap']}: {res['tiles']} tiles in"
                 f" {res['calls']} calls of {res['batch']}")
      base = baselines.get(name, {"error": "none"})
      above = (f"{_memory(res) - _memory(base):.0f}" if "error" not in base
               else "-")
      print(f"| {name} | {tiles} | {res['compile_s']:.2f} |"
            f" {_fmt(res['seconds'])} | {_memory(res):.0f} | {above} |"
            f" {_fmt(res['flops'] / 1e9)} | {_speed(res)} |")
  return failures


def _flops_table(args: argparse.Namespace) -> int:
  """Prints table 2; returns 1 if it failed or the counts disagree."""
  res = _run({"kind": "flops", "config": args.flops_config,
              "height": args.height, "width": args.width}, args.timeout)
  if "error" in res:
    print(f"FLOP count failed: {res['error']}")
    return 1
  pixels = args.height * args.width
  rows = {row["design"]: row for row in res["rows"]}
  single = rows["library"]["xla"] or rows["library"]["analytic"]
  labels = {"library": f"cbl_jax Generator, `{args.flops_config}` config",
            **{d: label for d, (label, _) in DESIGNS.items()},
            "single": "the same network with `benchmarks/backbone.py`",
            "jin2018": "Jin et al.'s released networks (analytic only)"}
  print(f"Backbone: the `{args.flops_config}` config's generator;"
        f" {args.width} x {args.height} RGB input; forward pass. Machine:"
        f" {res['machine']}; jax {res['jax']}.")
  print()
  print("| design | networks | evaluations | channels in -> out | GFLOP (XLA)"
        " | GFLOP (analytic) | XLA / analytic | MFLOP/pixel | x single |")
  print("|---|---|---|---|---|---|---|---|---|")
  failures = 0
  for design, row in rows.items():
    flops = row["xla"] or row["analytic"]
    if row["xla"]:
      agreement = row["xla"] / row["analytic"]
      failures += not 0.97 < agreement < 1.03
      xla, ratio = _fmt(row["xla"] / 1e9), f"{agreement:.4f}"
    else:
      xla = ratio = "-"
    print(f"| {labels[design]} | {row['networks']} | {row['evaluations']} |"
          f" {row['channels']} | {xla} | {_fmt(row['analytic'] / 1e9)} |"
          f" {ratio} | {flops / pixels / 1e6:.3g} | {flops / single:.2f} |")
  if failures:
    print("WARNING: XLA's count and the analytic count differ by more than"
          " 3%.")
  return failures


def _latency_table(args: argparse.Namespace) -> int:
  """Prints table 3; returns the number of cells that failed."""
  print(f"Backbone: the `{args.latency_config}` config's generator (RGB),"
        f" {args.width} x {args.height}; every design is jitted as one"
        " computation with `benchmarks/backbone.py`.")
  print()
  print("| design | evaluations | compile s | s/image | x single | GFLOP |"
        " GFLOP/s | of matmul | matmul GFLOP/s | peak MiB |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  failures, single = 0, None
  for design in args.latency_designs:
    res = _run({"kind": "design", "config": args.latency_config,
                "design": design, "height": args.height,
                "width": args.width, "repeats": args.repeats,
                "warmup": args.warmup, "matmul_size": args.matmul_size},
               args.timeout)
    label = DESIGNS[design][0]
    if "error" in res:
      failures += 1
      print(f"| {label} | {res['error']} | | | | | | | | |")
      continue
    if design == "single":
      single = res["seconds"]
    ratio = f"{res['seconds'] / single:.2f}" if single else "-"
    print(f"| {label} | {len(DESIGNS[design][1])} | {res['compile_s']:.2f} |"
          f" {_fmt(res['seconds'])} | {ratio} | {_fmt(res['flops'] / 1e9)} |"
          f" {_speed(res)} | {_memory(res):.0f} |")
  return failures


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  split = lambda s: [v for v in s.split(",") if v]
  parser.add_argument("--configs", type=split, default=["default", "paper"],
                      help="table 1 configs: default, paper (Table 1), test")
  parser.add_argument("--height", type=int, default=720)
  parser.add_argument("--width", type=int, default=1280)
  parser.add_argument("--tile_sizes", type=lambda s: [int(v) for v in
                                                      split(s)],
                      default=[512, 256],
                      help="tile sides to run besides the whole image (512"
                      " is the library's default)")
  parser.add_argument("--tile_overlap", type=int, default=None,
                      help="default: the library's TileOptions default")
  parser.add_argument("--tile_batch", type=int, default=None,
                      help="tiles per call; default: TileOptions default")
  parser.add_argument("--flops_config", default="paper",
                      help="backbone of table 2 ('' skips the table)")
  parser.add_argument("--latency_config", default="default",
                      help="backbone of table 3 ('' skips the table)")
  parser.add_argument("--latency_designs", type=split,
                      default=["single", "jin_pairs"],
                      help=f"table 3 designs, of {', '.join(DESIGNS)}")
  parser.add_argument("--flops_only", action="store_true",
                      help="table 2 only (compiles, never runs a network)")
  parser.add_argument("--repeats", type=int, default=3,
                      help="timed calls per cell, after --warmup")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--matmul_size", type=int, default=4096,
                      help="side of the reference float32 matmul")
  parser.add_argument("--timeout", type=float, default=1800,
                      help="seconds allowed per cell")
  parser.add_argument("--tiny", action="store_true",
                      help="a 64 x 48 image and the test config, seconds")
  machine.add_xla_cpu_options_flag(parser)
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)

  if args.worker:  # XLA_FLAGS come from the parent's environment.
    spec = json.loads(args.worker)
    print(json.dumps(_WORKERS[spec["kind"]](spec)))
    return 0
  xla_flags = machine.apply_xla_cpu_options(args.xla_cpu_options)
  if args.tiny:
    args.configs, args.height, args.width = ["test"], 48, 64
    args.tile_sizes, args.tile_overlap = [32], 16
    args.flops_config = args.latency_config = "test"
    args.repeats, args.warmup, args.matmul_size = 2, 1, 256
  for design in args.latency_designs:
    if design not in DESIGNS:
      parser.error(f"--latency_designs: unknown {design!r}")

  if args.flops_only:
    return 1 if _flops_table(args) else 0

  baselines = {name: _run({"kind": "baseline", "config": name,
                           "height": args.height, "width": args.width},
                          args.timeout)
               for name in args.configs}
  first = next((b for b in baselines.values() if "error" not in b), None)
  if first is None:
    print(f"Baseline failed: {baselines}")
    return 1
  memory = ("device peak (peak_bytes_in_use)" if first["device_peak_mib"]
            is not None else "process peak RSS (ru_maxrss)")
  print(f"Machine: {first['machine']}; jax {first['jax']}, backend"
        f" {first['backend']}; XLA_FLAGS {xla_flags}.")
  print(f"Reference: a float32 matmul ({args.matmul_size}^2, HIGHEST"
        " precision) timed in each cell's process right after its timed"
        " calls (column 'matmul GFLOP/s').")
  print(f"Memory: {memory}, each cell a fresh process. A process that"
        " imports JAX and cbl_jax and makes the parameters and the input"
        " peaks at " + ", ".join(
            f"{_memory(b):.0f} MiB ({n})" if "error" not in b else
            f"- ({n}: {b['error']})" for n, b in baselines.items()) + ".")
  print()
  print(f"## Inference: {args.width} x {args.height} RGB -> 7 frames, random"
        f" weights; median of {args.repeats} calls after {args.warmup}"
        " warm-up")
  print()
  failures = _inference_table(args, baselines)
  if args.flops_config:
    print()
    print("## FLOPs for 7 frames: one network against Jin et al. 2018's"
          " several")
    print()
    failures += _flops_table(args)
  if args.latency_config:
    print()
    print(f"## Latency: one network against Jin-style networks; median of"
          f" {args.repeats} after {args.warmup} warm-up")
    print()
    failures += _latency_table(args)
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
