"""Learning curves: held-out rows per saved step, with the run's compute."""

import csv
import subprocess
import sys

from cbl_jax.data import heldout_motion
from cbl_jax.evaluation import curve
from tests.inference.helpers import REPO_ROOT

SCENES = heldout_motion.HeldoutConfig(num_scenes=2, image_size=24)


def test_curve_scores_each_saved_step_once(tiny_run, tmp_path):
  workdir, _ = tiny_run
  output = tmp_path / "curve.csv"
  steps = curve.kept_steps(workdir)
  assert len(steps) >= 2
  rows = curve.update_curve(workdir, output, max_step=steps[-2],
                            scenes=SCENES)
  assert [r["step"] for r in rows] == steps[:-1]
  # The ledger gives every saved step its compute so far.
  assert all(r["cpu_hours"] > 0 and r["wall_hours"] > 0 for r in rows)
  assert rows[0]["cpu_hours"] <= rows[-1]["cpu_hours"]
  for row in rows:
    assert set(row) == set(curve.COLUMNS)
    assert row["worst_gain"] <= row["gain"] + 1e-9
    assert row["mean_abs_residual"] >= 0
  # Run again: only the step it did not have yet.
  again = curve.update_curve(workdir, output, scenes=SCENES)
  assert [r["step"] for r in again] == steps[-1:]
  with open(output, newline="") as f:
    assert [int(r["step"]) for r in csv.DictReader(f)] == steps

  picture = tmp_path / "curves.png"
  result = subprocess.run(
      [sys.executable, "scripts/plot_curves.py", str(output),
       f"--output={picture}"], cwd=REPO_ROOT, capture_output=True, text=True,
      check=False)
  assert result.returncode == 0, result.stderr
  assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_nth_step_is_a_grid_over_the_whole_run(tiny_run, tmp_path):
  workdir, _ = tiny_run
  output = tmp_path / "curve.csv"
  steps = curve.kept_steps(workdir)
  assert len(steps) >= 3
  first = curve.update_curve(workdir, output, every=2, max_step=steps[0],
                             scenes=SCENES)
  assert [r["step"] for r in first] == steps[:1]
  # Later: the grid's points after it (steps[2], ...: not steps[1], which
  # thinning only the unscored steps would give) and the last step.
  later = curve.update_curve(workdir, output, every=2, scenes=SCENES)
  grid = [s for i, s in enumerate(steps) if i % 2 == 0 or i == len(steps) - 1]
  assert [r["step"] for r in later] == grid[1:]
  assert steps[1] not in grid
  # From a step on: only that part of the run, on its own grid.
  tail = curve.update_curve(workdir, tmp_path / "tail.csv", every=2,
                            min_step=steps[1], scenes=SCENES)
  assert [r["step"] for r in tail] == [
      s for i, s in enumerate(steps[1:]) if i % 2 == 0 or s == steps[-1]]


def test_curve_of_a_folder_without_checkpoints_fails_in_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "cbl_jax.evaluation.curve",
       f"--workdir={tmp_path}", f"--output={tmp_path / 'c.csv'}"],
      cwd=REPO_ROOT, capture_output=True, text=True, check=False)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"curve: {tmp_path} has no checkpoints/ folder.")
