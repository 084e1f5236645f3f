"""Benchmarks are scripts, not tests: here they only have to run, tiny."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_train_step_benchmark_runs_tiny():
  result = subprocess.run(
      [sys.executable, "benchmarks/train_step.py", "--tiny", "--repeats=2"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [l for l in result.stdout.splitlines() if l.startswith("| test")]
  assert len(rows) == 2  # Both stages.
  assert "GFLOP/s" in result.stdout
