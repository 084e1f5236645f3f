r"""Training-step speed, both stages, against this machine's matmul speed.

  python benchmarks/train_step.py          # default, paper and release configs
  python benchmarks/train_step.py --configs=default --repeats=10
  python benchmarks/train_step.py --configs=release --torch_twin
  python benchmarks/train_step.py --tiny             # seconds, for the tests
  python benchmarks/train_step.py --xla_cpu_options=both   # tuned vs XLA's

For each configuration and stage: compile time, the median step time after
warm-up, images/s, the step's FLOPs from XLA's cost analysis of the compiled
computation, and the achieved FLOP/s as a fraction of a float32 matmul
measured in the same run. "paper" is Table 1/Table 2 at the paper's batch 4
and 128x128 crops (with the pooled discriminator head; the flattened one
only adds one large FC layer). "release" is the shipped U-Net
(configs/release.py), whose recipe has no stage 2: only its stage 1 is
measured. --tiny runs each named config at the test sizes (configs/test.py
for default and paper, its U-Net twin "test_unet" for release).

--torch_twin times the same generator's stage-1 step in PyTorch
(benchmarks/torch_twin.py) right after each config's JAX measurement, in
the same process, and adds its step time, the faster memory format and
JAX's step time divided by PyTorch's. It needs `pip install torch`; without
it the script says so in one line and leaves those columns out.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from benchmarks import backbone  # pylint: disable=g-import-not-at-top
from benchmarks import machine  # pylint: disable=g-import-not-at-top
from cbl_jax.training import state as state_lib  # pylint: disable=g-import-not-at-top
from cbl_jax.training import steps as steps_lib  # pylint: disable=g-import-not-at-top


# The configs --configs takes, and what each is at --tiny.
_TINY_NAMES = {"default": "test", "paper": "test", "release": "test_unet"}
# The release recipe trains with the content loss alone (stage2_steps=0);
# its GAN step at 128 x 128 would take minutes here for a number no run
# uses.
_STAGE1_ONLY = ("release", "test_unet")


def _configs(names, tiny):
  out = {}
  for name in names:
    if name not in _TINY_NAMES:
      raise ValueError(f"--configs takes {', '.join(_TINY_NAMES)}, got"
                       f" {name!r}.")
    key = _TINY_NAMES[name] if tiny else name
    out[key] = backbone.get_config(key)
  # The pooled head; the flattened one only adds one large FC layer.
  if "paper" in out:
    out["paper"].discriminator.head_pooling = "avg"
  return out


def bench(config, repeats: int, stages=(1, 2)) -> list[dict]:
  """Times stage 1 and stage 2 steps of one configuration."""
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  init_rng = jax.random.key(0)
  stage1_state = jax.jit(lambda k: state_lib.init_train_state(
      config, k, generator, g_tx))(init_rng)
  states = {1: stage1_state}
  if 2 in stages:
    states[2] = jax.jit(lambda s, k: state_lib.begin_stage2(
        config, s, k, discriminator, g_tx, d_tx))(stage1_state, init_rng)
  size, batch = config.data.crop_size, config.batch_size
  rng = np.random.default_rng(0)
  data = {
      "blurry": rng.integers(0, 256, (batch, size, size, 3), np.uint8),
      "sharp": rng.integers(0, 256, (batch, 7, size, size, 3), np.uint8),
  }
  params = sum(x.size for x in jax.tree.leaves(stage1_state.g_params))
  content_step, gan_step = steps_lib.make_steps(config, generator,
                                                discriminator, g_tx, d_tx)
  rows = []
  for number, stage, fn in ((1, "1 (content)", content_step),
                            (2, "2 (GAN)", gan_step)):
    if number not in stages:
      continue
    jitted = jax.jit(fn, donate_argnums=0)
    state = states[number]
    start = time.perf_counter()
    compiled = jitted.lower(state, data, jax.random.key(1)).compile()
    compile_s = time.perf_counter() - start
    times = []
    for i in range(repeats + 2):
      start = time.perf_counter()
      state, metrics = compiled(state, data, jax.random.key(i))
      jax.block_until_ready(metrics)
      if i >= 2:  # Two warm-up steps.
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = machine.compiled_flops(compiled)
    rows.append({"stage": stage, "batch": batch, "crop": size,
                 "compile_s": compile_s, "step_s": seconds,
                 "images_s": batch / seconds, "gflop": flops / 1e9,
                 "gflops": flops / seconds / 1e9, "params": params})
  return rows


def _load_twin():
  """benchmarks/torch_twin.py, or None (said in one line) without torch."""
  try:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    print("--torch_twin: the PyTorch twin needs `pip install torch`; its"
          " columns are left out.", flush=True)
    return None
  from benchmarks import torch_twin  # pylint: disable=g-import-not-at-top
  return torch_twin


def _header(twin: bool) -> str:
  names = ["XLA CPU options", "config", "stage", "batch x crop", "compile s",
           "step s", "images/s", "GFLOP/step", "GFLOP/s", "of matmul"]
  if twin:
    names += ["PyTorch step s", "PyTorch layout", "JAX/PyTorch step s"]
  return "| " + " | ".join(names) + " |\n" + "|---" * len(names) + "|"


def _twin_cells(row: dict, twin_row) -> str:
  """The --torch_twin columns of one row: stage 1 only, the twin's stage."""
  if twin_row is None or not row["stage"].startswith("1"):
    return " - | - | - |"
  return (f" {twin_row['step_s']:.3f} | {twin_row['layout']} |"
          f" {row['step_s'] / twin_row['step_s']:.2f} |")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="default,paper,release",
                      help="comma-separated, from " + ", ".join(_TINY_NAMES))
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--stages", default="1,2",
                      help="1 (content), 2 (GAN), or both")
  parser.add_argument("--tiny", action="store_true")
  parser.add_argument("--torch_twin", action="store_true",
                      help="also time the generator's stage-1 step in"
                      " PyTorch (benchmarks/torch_twin.py; needs torch)")
  machine.add_xla_cpu_options_flag(parser, with_both=True)
  parser.add_argument("--no_header", action="store_true",
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  try:
    configs = _configs(args.configs.split(","), args.tiny)
  except ValueError as error:
    parser.error(str(error))
  stages = tuple(s for s in (1, 2) if str(s) in args.stages.split(","))
  if not stages or set(args.stages.split(",")) - {"1", "2"}:
    parser.error(f"--stages takes 1, 2 or 1,2, got {args.stages!r}.")
  twin = _load_twin() if args.torch_twin else None
  if args.xla_cpu_options == "both":
    # XLA reads its flags once per process: one child process per setting.
    print(_header(twin is not None), flush=True)
    argv = [a for a in (sys.argv[1:] if argv is None else argv)
            if not a.startswith("--xla_cpu_options")]
    if twin is None:  # Said once, here.
      argv = [a for a in argv if a != "--torch_twin"]
    for option in machine.XLA_CPU_OPTIONS:
      child = subprocess.run(
          [sys.executable, os.path.abspath(__file__), *argv,
           f"--xla_cpu_options={option}", "--no_header"], check=False)
      if child.returncode:
        return child.returncode
    return 0

  xla_flags = machine.apply_xla_cpu_options(args.xla_cpu_options)
  matmul = machine.matmul_gflops(512 if args.tiny else 4096, args.repeats)
  print(f"Machine: {machine.describe()}; jax {jax.__version__}; XLA_FLAGS"
        f" {xla_flags}; float32 matmul {matmul:.0f} GFLOP/s", flush=True)
  for name in configs:
    if name in _STAGE1_ONLY and 2 in stages:
      print(f"{name}: stage 2 is off in its recipe and is not measured.")
  if not args.no_header:
    print(_header(twin is not None))
  for name, config in configs.items():
    config_stages = tuple(s for s in stages
                          if s == 1 or name not in _STAGE1_ONLY)
    rows = bench(config, args.repeats, config_stages) if config_stages else []
    twin_row = None
    if twin is not None and rows and rows[0]["stage"].startswith("1"):
      # The twin asserts it is the same network: the same parameter count.
      twin_row = twin.measure(config, args.repeats,
                              expected_params=rows[0]["params"])
    for row in rows:
      print(f"| {args.xla_cpu_options} | {name} | {row['stage']} |"
            f" {row['batch']} x {row['crop']} | {row['compile_s']:.1f} |"
            f" {row['step_s']:.3f} | {row['images_s']:.2f} |"
            f" {row['gflop']:.1f} | {row['gflops']:.0f} |"
            f" {row['gflops'] / matmul:.0%} (matmul {matmul:.0f}) |" +
            (_twin_cells(row, twin_row) if twin is not None else ""),
            flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
