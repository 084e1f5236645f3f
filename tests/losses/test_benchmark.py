"""Runs the contextual-loss benchmark script in its quick mode."""

import os
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_benchmark_tiny_prints_a_table():
  proc = subprocess.run(
      [sys.executable, os.path.join("benchmarks", "contextual_loss.py"),
       "--tiny"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"}, check=False)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  out = proc.stdout
  assert re.search(r"float32 matmul \(256\^2.*\): \d+ GFLOP/s", out), out
  assert "| N (H x W) | C | chunked s | full s |" in out
  row = re.search(r"^\| 64 \(8 x 8\) \| 8 \| (.*) \|$", out, re.M)
  assert row, out
  cells = [c.strip() for c in row.group(1).split("|")]
  assert len(cells) == 8
  seconds, peak_mib = cells[:2], cells[3:5]
  assert all(float(s) > 0 for s in seconds), cells
  assert all(100 < float(m) < 4096 for m in peak_mib), cells
  assert "WARNING" not in out  # Chunked and full-matrix losses agree.
