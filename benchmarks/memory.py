r"""Per-device memory of the train state and of the compiled train steps.

  python benchmarks/memory.py --config=configs/gopro.py --devices=8
  python benchmarks/memory.py --config=configs/gopro.py --devices=8 --state_only
  python benchmarks/memory.py --config=configs/test.py --devices=2  # seconds

For both stages and both computation dtypes (float32 and bfloat16 for the
generator and the discriminator), prints what each device holds of the
train state under the sharding rule of `cbl_jax/training/sharding.py` next
to a fully replicated state, and XLA's memory analysis of the compiled step
(arguments, outputs, temporaries, and the donated bytes that outputs reuse),
with its peak estimate: arguments + outputs + temporaries - donated. Nothing
is allocated or run: states are shapes, steps are compiled for them, so the
paper's configuration can be sized on any machine; `--devices` fakes that
many host devices (it must be set before JAX starts, so it is a flag here).
The batch follows the configuration's batch rule on that many devices.

The last line is the stage-2 state (the larger one) in float32:
`per-device train state: X GiB (replicated: Y GiB)`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

GIB = 2**30
MIB = 2**20


def _load_config(path: str):
  spec = importlib.util.spec_from_file_location("benchmark_config", path)
  if spec is None or not os.path.isfile(path):
    raise SystemExit(f"memory.py: --config={path} is not a config file.")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _abstract_batch(config, sharding):
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  size, batch = config.data.crop_size, config.batch_size
  frames = config.generator.num_frames
  return {
      "blurry": jax.ShapeDtypeStruct((batch, size, size, 3), np.uint8,
                                     sharding=sharding),
      "sharp": jax.ShapeDtypeStruct((batch, frames, size, size, 3), np.uint8,
                                    sharding=sharding),
  }


def measure(config, dtype: str, compile_steps: bool) -> list[dict]:
  """One row per stage: state bytes per device, and the compiled step's."""
  import jax  # pylint: disable=g-import-not-at-top
  from cbl_jax.training import loop  # pylint: disable=g-import-not-at-top
  from cbl_jax.training import sharding  # pylint: disable=g-import-not-at-top

  config = config.copy_and_resolve_references()
  config.generator.dtype = dtype
  config.discriminator.dtype = dtype
  mesh = sharding.make_mesh()
  training = loop.build(config, mesh)
  replicated = sharding.replicated(mesh)
  rng = jax.ShapeDtypeStruct(jax.eval_shape(lambda: jax.random.key(0)).shape,
                             jax.eval_shape(lambda: jax.random.key(0)).dtype,
                             sharding=replicated)
  batch = _abstract_batch(config, training.batch_sharding)
  rows = []
  for stage, has_d, step in ((1, False, training.content_step),
                             (2, True, training.gan_step)):
    state = training.abstract[has_d]
    everything_replicated = jax.tree_util.tree_map(lambda _: replicated,
                                                   state)
    row = {
        "stage": stage, "dtype": dtype, "batch": config.batch_size,
        "crop": config.data.crop_size,
        "state": sharding.per_device_bytes(state, training.shardings[has_d]),
        "state_replicated": sharding.per_device_bytes(
            state, everything_replicated),
    }
    if compile_steps:
      analysis = step.lower(training.targets[has_d], batch,
                            rng).compile().memory_analysis()
      row.update(
          arguments=analysis.argument_size_in_bytes,
          outputs=analysis.output_size_in_bytes,
          temporaries=analysis.temp_size_in_bytes,
          donated=analysis.alias_size_in_bytes)
      row["peak"] = (row["arguments"] + row["outputs"] + row["temporaries"]
                     - row["donated"])
    rows.append(row)
  return rows


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/gopro.py",
                      help="a config file (get_config()).")
  parser.add_argument("--devices", type=int, default=None,
                      help="fake this many CPU devices (default: the"
                      " machine's devices).")
  parser.add_argument("--dtypes", default="float32,bfloat16",
                      help="computation dtypes to measure, comma-separated.")
  parser.add_argument("--state_only", action="store_true",
                      help="state sizes only; compile nothing (seconds).")
  args = parser.parse_args(argv)
  dtypes = [d for d in args.dtypes.split(",") if d]
  bad = [d for d in dtypes if d not in ("float32", "bfloat16")]
  if bad or not dtypes:
    parser.error(f"--dtypes takes float32 and bfloat16, got {args.dtypes!r}.")
  if args.devices is not None:
    if args.devices < 1:
      parser.error(f"--devices must be at least 1, got {args.devices}.")
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = " ".join(
        [f for f in os.environ.get("XLA_FLAGS", "").split()
         if "device_count" not in f] +
        [f"--xla_force_host_platform_device_count={args.devices}"])
  config = _load_config(args.config)
  import jax  # pylint: disable=g-import-not-at-top
  from cbl_jax.training import batch_rule  # pylint: disable=g-import-not-at-top
  config, message = batch_rule.resolve(config, jax.device_count())
  print(f"# {args.config} on {jax.device_count()} {jax.devices()[0].platform}"
        f" devices ({jax.devices()[0].device_kind})")
  if message:
    print(f"# {message}")
  print("| stage | dtype | batch x crop | state / device | state replicated |"
        + ("" if args.state_only else
           " arguments | outputs | temporaries | donated | peak estimate |"))
  print("|---|---|---|---|---|" + ("" if args.state_only else "---|" * 5))
  summary = None
  for dtype in dtypes:
    for row in measure(config, dtype, not args.state_only):
      cells = [str(row["stage"]), dtype, f"{row['batch']} x {row['crop']}",
               f"{row['state'] / MIB:.1f} MiB",
               f"{row['state_replicated'] / MIB:.1f} MiB"]
      if not args.state_only:
        cells += [f"{row[k] / MIB:.1f} MiB" for k in
                  ("arguments", "outputs", "temporaries", "donated", "peak")]
      print("| " + " | ".join(cells) + " |")
      if row["stage"] == 2 and (summary is None or dtype == "float32"):
        summary = row
  print(f"per-device train state: {summary['state'] / GIB:.4f} GiB "
        f"(replicated: {summary['state_replicated'] / GIB:.4f} GiB)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
