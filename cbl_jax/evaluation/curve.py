r"""Learning curves: held-out gain of every saved step against CPU-hours.

  python -m cbl_jax.evaluation.curve --workdir=workdirs/release \
      --output=docs/curves/release.csv

Scores each checkpoint a workdir keeps (`<workdir>/checkpoints/<step>`) on
the held-out scenes of `cbl_jax.evaluation.heldout` and appends one row per
step to a CSV: the compute spent up to that step from the run's ledger
(`<workdir>/compute.json`: process CPU-hours and wall-hours, summed over
every invocation), the gains over the blurry input on all 7 frames and on
the middle frame, the worst scene, the share of scenes below -1 dB, the
mean |prediction - input| in 8-bit levels and the gain per motion class.
Steps already in the CSV are skipped, so the command can run again as a
long run goes on. These numbers are for reporting only: which checkpoint
ships is chosen on the validation split during training (`best/`), never
here.
"""

from __future__ import annotations

import contextlib
import csv
import json
import pathlib
import sys
from collections.abc import Sequence

from absl import app
from absl import flags

from cbl_jax import xla_cpu
from cbl_jax.data import heldout_motion
from cbl_jax.evaluation import heldout
from cbl_jax.inference import cli_flags
from cbl_jax.inference import errors
from cbl_jax.inference import model as model_lib

for _name in ("workdir", "output"):
  flags.declare_key_flag(_name)
_MAX_STEP = flags.DEFINE_integer(
    "max_step", None, "Score only steps up to this one (e.g. the end of a "
    "comparison that a longer run went on from).", lower_bound=0)
_MIN_STEP = flags.DEFINE_integer(
    "min_step", None, "Score only steps from this one on (e.g. the start of"
    " the latest invocation).", lower_bound=0)
_EVERY = flags.DEFINE_integer(
    "every", 1, "Score every Nth kept checkpoint (and always the last).",
    lower_bound=1)

COLUMNS = ("step", "cpu_hours", "wall_hours", "gain", "gain_middle",
           "worst_gain", "below_1db_fraction", "mean_abs_residual") + tuple(
               f"gain_{name}" for name, _, _ in heldout_motion.MOTION_CLASSES)


def ledger(workdir: pathlib.Path) -> dict[int, dict[str, float]]:
  """The compute ledger of a workdir by step (empty if it has none)."""
  path = workdir / "compute.json"
  if not path.exists():
    return {}
  return {e["step"]: e for e in json.loads(path.read_text())["entries"]}


def kept_steps(workdir: pathlib.Path) -> list[int]:
  """Steps with a checkpoint under `<workdir>/checkpoints`, in order."""
  folder = workdir / "checkpoints"
  if not folder.is_dir():
    raise FileNotFoundError(f"{workdir} has no checkpoints/ folder.")
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def read_rows(path: pathlib.Path) -> list[dict[str, str]]:
  if not path.exists():
    return []
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def curve_row(workdir: pathlib.Path, step: int,
              scenes: heldout_motion.HeldoutConfig,
              compute: dict[int, dict[str, float]]) -> dict[str, float]:
  """Scores one step's generator on the held-out scenes.

  Args:
    workdir: the training workdir.
    step: a step with a checkpoint.
    scenes: the held-out set.
    compute: the workdir's ledger (`ledger`).

  Returns:
    The row, with every field of `COLUMNS` (compute NaN if unrecorded).
  """
  model = model_lib.load_checkpoint(workdir / "checkpoints" / str(step))
  numbers = heldout.summarize(heldout.evaluate(model, scenes))
  entry = compute.get(step, {})
  row = {
      "step": step,
      "cpu_hours": entry.get("cpu_seconds", float("nan")) / 3600,
      "wall_hours": entry.get("wall_seconds", float("nan")) / 3600,
      "gain": numbers["gain"],
      "gain_middle": numbers["gain_middle"],
      "worst_gain": numbers["worst_gain"],
      "below_1db_fraction": numbers["worse_than_1db"] / numbers["scenes"],
      "mean_abs_residual": numbers["mean_abs_residual"],
  }
  for column in COLUMNS:
    row.setdefault(column, numbers.get(column, float("nan")))
  return row


def update_curve(workdir: str | pathlib.Path, output: str | pathlib.Path,
                 every: int = 1, max_step: int | None = None,
                 min_step: int | None = None,
                 scenes: heldout_motion.HeldoutConfig = (
                     heldout_motion.HeldoutConfig())) -> list[dict]:
  """Appends the rows of the steps `output` does not have yet.

  Args:
    workdir: the training workdir.
    output: the CSV.
    every: score every Nth kept step of the range (counted over all of
      them, scored or not) and its last, where `output` has no row yet.
    max_step: score no step after this one (None: all).
    min_step: score no step before this one (None: all).
    scenes: the held-out set.

  Returns:
    The new rows.
  """
  workdir, output = pathlib.Path(workdir), pathlib.Path(output)
  done = {int(r["step"]) for r in read_rows(output)}
  kept = [s for s in kept_steps(workdir)
          if (max_step is None or s <= max_step)
          and (min_step is None or s >= min_step)]
  # A grid of every Nth kept step of the range, scored or not: it does not
  # move as rows are added, and `min_step` starts one on a new invocation.
  steps = [s for i, s in enumerate(kept)
           if (i % every == 0 or i == len(kept) - 1) and s not in done]
  compute = ledger(workdir)
  output.parent.mkdir(parents=True, exist_ok=True)
  new_file = not output.exists()
  rows = []
  with open(output, "a", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    if new_file:
      writer.writeheader()
    for step in steps:
      row = curve_row(workdir, step, scenes, compute)
      writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v)
                       for k, v in row.items()})
      f.flush()
      print(f"step {step}: {row['cpu_hours']:.2f} CPU-h, held-out"
            f" {row['gain']:+.2f} dB all frames, {row['gain_middle']:+.2f}"
            f" dB middle, worst {row['worst_gain']:+.2f} dB,"
            f" |residual| {row['mean_abs_residual']:.2f}", file=sys.stderr)
      rows.append(row)
  return rows


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  workdir, output = cli_flags.WORKDIR.value, cli_flags.OUTPUT.value
  if not workdir or not output:
    print("curve: give --workdir=DIR (a training workdir) and"
          " --output=FILE.csv", file=sys.stderr)
    return 1
  xla_cpu.use_tuned_flags()
  try:
    with contextlib.redirect_stdout(sys.stderr):
      update_curve(workdir, output, _EVERY.value, _MAX_STEP.value,
                   _MIN_STEP.value)
  except (ValueError, FileNotFoundError) as e:
    print(f"curve: {errors.one_line(e)}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
