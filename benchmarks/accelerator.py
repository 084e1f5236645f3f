r"""The one script to run when a GPU or TPU is lent: the paper's run, measured.

  python benchmarks/accelerator.py            # paper shapes (configs/gopro.py)
  python benchmarks/accelerator.py --tiny     # configs/test.py, CPU, seconds
  python benchmarks/accelerator.py --dtypes=bfloat16 --repeats=20

For the paper's shapes (Table 1 generator, Table 2 discriminator with its
flattened head, 128x128 crops, batch 4 rounded up to the device count by the
batch rule, the contiguous loss at stride 1), both stages, in float32 and
bfloat16, it prints a markdown table of:

* step time (median of `--repeats` steps after two warm-up steps; the
  compile time separately);
* achieved TFLOP/s (XLA's FLOP count of the compiled step over its time) and
  the fraction of the device's peak dense rate for that dtype (a table of
  known peaks by device kind; float32 is compared with the TF32 rate on
  NVIDIA GPUs, which is what XLA's default precision runs, and with the
  bfloat16 rate on TPUs);
* the images per second the step consumes, next to what the input pipeline
  delivers on this host (`--data`);
* peak device memory (the runtime's `peak_bytes_in_use`, where it reports
  it, else XLA's compiled estimate);
* the contextual loss's share of the stage-2 step: the contiguous loss
  alone (forward and backward, at the step's shapes) timed and counted the
  same way.

Everything runs through `cbl_jax.training.loop.build`, so what is measured
is what trains. It finishes in a few minutes on one GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

from benchmarks import machine  # pylint: disable=g-import-not-at-top

# Peak dense rates in TFLOP/s per chip: (bfloat16, float32 as XLA runs it by
# default: TF32 tensor cores on NVIDIA, bfloat16 passes on TPUs). From the
# vendors' data sheets (SXM parts for NVIDIA).
PEAK_TFLOPS = {
    "H200": (989.0, 494.7),
    "H100": (989.0, 494.7),
    "A100": (312.0, 156.0),
    "L4": (121.0, 60.0),
    "TPU v6 lite": (918.0, 918.0),
    "TPU v5 lite": (197.0, 197.0),
    "TPU v5e": (197.0, 197.0),
    "TPU v5p": (459.0, 459.0),
    "TPU v5": (459.0, 459.0),
    "TPU v4": (275.0, 275.0),
    "TPU v3": (123.0, 123.0),
    "TPU v2": (45.0, 45.0),
}


def peak_tflops(device_kind: str, dtype: str) -> float | None:
  """The known peak for a device kind, or None (CPUs, unknown devices)."""
  for name, (bf16, f32) in PEAK_TFLOPS.items():
    if name.lower() in device_kind.lower():
      return bf16 if dtype == "bfloat16" else f32
  return None


def _time(fn: Callable[[], Any], repeats: int) -> float:
  """Median seconds of `fn` after two warm-up calls."""
  import jax  # pylint: disable=g-import-not-at-top
  for _ in range(2):
    jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _batch(config, sharding):
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  size, batch = config.data.crop_size, config.batch_size
  frames = config.generator.num_frames
  host = {"blurry": rng.integers(0, 256, (batch, size, size, 3), np.uint8),
          "sharp": rng.integers(0, 256, (batch, frames, size, size, 3),
                                np.uint8)}
  return {k: jax.device_put(v, sharding) for k, v in host.items()}


def _device_peak_mib() -> float | None:
  return machine.peak_memory()["device_peak_mib"]


def measure_steps(config, dtype: str, repeats: int) -> list[dict]:
  """Both stages' step time, FLOPs, memory, and the contextual loss alone."""
  import jax  # pylint: disable=g-import-not-at-top
  from cbl_jax import losses  # pylint: disable=g-import-not-at-top
  from cbl_jax.training import loop  # pylint: disable=g-import-not-at-top
  from cbl_jax.training import sharding  # pylint: disable=g-import-not-at-top

  config = config.copy_and_resolve_references()
  config.generator.dtype = dtype
  config.discriminator.dtype = dtype
  mesh = sharding.make_mesh()
  training = loop.build(config, mesh)
  batch = _batch(config, training.batch_sharding)
  rng = jax.random.key(1)
  rows = []
  state = training.init(training.init_rng)
  for stage in (1, 2):
    if stage == 2:
      state = training.begin_stage2(state, training.init_rng)
    step = training.content_step if stage == 1 else training.gan_step
    start = time.perf_counter()
    compiled = step.lower(state, batch, rng).compile()
    compile_s = time.perf_counter() - start
    flops = machine.compiled_flops(compiled)
    analysis = compiled.memory_analysis()
    holder = {"state": state}

    def run():
      holder["state"], metrics = compiled(holder["state"], batch, rng)
      return metrics

    seconds = _time(run, repeats)
    state = holder["state"]
    estimate = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)
    rows.append({"stage": stage, "dtype": dtype, "compile_s": compile_s,
                 "step_s": seconds, "tflops": flops / seconds / 1e12,
                 "images_s": config.batch_size / seconds,
                 "device_peak_mib": _device_peak_mib(),
                 "compiled_peak_mib": estimate / 2**20})

  # The contiguous loss alone, at the stage-2 step's shapes: predicted
  # frames against targets, gradient with respect to the predictions.
  contiguous = config.loss.contiguous.to_dict()
  contiguous.pop("vgg_weights")
  frames = jax.random.uniform(jax.random.key(2), batch["sharp"].shape)
  target = batch["sharp"].astype("float32") / 255.0

  def loss_and_grad(pred, target):
    return jax.value_and_grad(
        lambda p: losses.frames_contiguous_loss(p, target, rng=rng,
                                                **contiguous))(pred)

  loss_fn = jax.jit(loss_and_grad).lower(frames, target).compile()
  loss_s = _time(lambda: loss_fn(frames, target), repeats)
  loss_flops = machine.compiled_flops(loss_fn)
  rows[-1]["contiguous_s"] = loss_s
  rows[-1]["contiguous_share"] = loss_s / rows[-1]["step_s"]
  rows[-1]["contiguous_flop_share"] = (
      loss_flops / max(machine.compiled_flops(compiled), 1.0))
  return rows


def measure_input(config, seconds: float) -> float:
  """Examples per second the training input pipeline delivers here."""
  from cbl_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  batches = pipeline.create_train_dataset(
      config.data, seed=0, global_batch_size=config.batch_size)
  next(batches)  # Opening, first decode.
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    count += len(next(batches)["blurry"])
  return count / (time.perf_counter() - start)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tiny", action="store_true",
                      help="configs/test.py on the tiny data: a CPU smoke "
                      "run in seconds.")
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--repeats", type=int, default=None,
                      help="timed steps (default 10, 2 with --tiny).")
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data dir of the dataset the input pipeline"
                      " is timed on (default: TFDS's).")
  parser.add_argument("--input_seconds", type=float, default=None,
                      help="how long the input pipeline is timed (default"
                      " 20 s, 2 s with --tiny).")
  args = parser.parse_args(argv)
  dtypes = [d for d in args.dtypes.split(",") if d]
  if not dtypes or any(d not in ("float32", "bfloat16") for d in dtypes):
    parser.error(f"--dtypes takes float32 and bfloat16, got {args.dtypes!r}.")
  repeats = args.repeats or (2 if args.tiny else 10)
  if repeats < 1:
    parser.error(f"--repeats must be at least 1, got {repeats}.")
  machine.apply_xla_cpu_options("tuned")
  import jax  # pylint: disable=g-import-not-at-top
  from cbl_jax.training import batch_rule  # pylint: disable=g-import-not-at-top
  from benchmarks import backbone  # pylint: disable=g-import-not-at-top

  config = backbone.get_config("test" if args.tiny else "paper")
  # The embedded dataset stands in for GoPro where no GoPro is prepared.
  config.data.name = "synthetic_motion"
  config.data.builder_config = "tiny" if args.tiny else "default"
  config.data.data_dir = args.data_dir
  config.data.worker_count = 0
  config, message = batch_rule.resolve(config, jax.device_count())
  device = jax.devices()[0]
  print(f"# {machine.describe()}; {jax.device_count()} device(s), "
        f"{'configs/test.py' if args.tiny else 'configs/gopro.py'} shapes: "
        f"batch {config.batch_size}, crop {config.data.crop_size}")
  if message:
    print(f"# {message}")
  input_rate = measure_input(config, args.input_seconds or
                             (2.0 if args.tiny else 20.0))
  print(f"# input pipeline ({config.data.name}/{config.data.builder_config},"
        f" {config.data.crop_size}x{config.data.crop_size} crops, this "
        f"host): {input_rate:.1f} examples/s")
  print("| stage | dtype | compile s | step s | TFLOP/s | of peak | images/s"
        " consumed | input covers | device peak MiB | compiled peak MiB |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for dtype in dtypes:
    rows = measure_steps(config, dtype, repeats)
    for row in rows:
      peak = peak_tflops(device.device_kind, dtype)
      fraction = f"{row['tflops'] / peak:.0%}" if peak else "n/a"
      device_peak = (f"{row['device_peak_mib']:.0f}"
                     if row["device_peak_mib"] is not None else "n/a")
      print(f"| {row['stage']} | {dtype} | {row['compile_s']:.1f} | "
            f"{row['step_s']:.4f} | {row['tflops']:.3f} | {fraction} | "
            f"{row['images_s']:.1f} | {input_rate / row['images_s']:.2f}x | "
            f"{device_peak} | {row['compiled_peak_mib']:.0f} |")
    last = rows[-1]
    print(f"# {dtype}: contextual (contiguous) loss alone "
          f"{last['contiguous_s']:.4f} s = {last['contiguous_share']:.0%} of "
          f"the stage-2 step's time, {last['contiguous_flop_share']:.0%} of "
          "its FLOPs")
  return 0


if __name__ == "__main__":
  sys.exit(main())
