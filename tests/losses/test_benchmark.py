"""Runs the contextual-loss benchmark script in its quick mode."""

import os
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _row(out, start, cells):
  """The cells of the table row that starts with ``start``."""
  row = re.search(rf"^\| {re.escape(start)} \| (.*) \|$", out, re.M)
  assert row, out
  values = [c.strip() for c in row.group(1).split("|")]
  assert len(values) == cells, values
  return values


def test_benchmark_tiny_prints_its_tables():
  proc = subprocess.run(
      [sys.executable, os.path.join("benchmarks", "contextual_loss.py"),
       "--tiny"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"}, check=False)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  out = proc.stdout
  assert re.search(r"float32 matmul \(256\^2.*\): \d+ GFLOP/s", out), out
  assert "WARNING" not in out  # All versions of the loss agree.

  assert "| N (H x W) | C | chunked s | full s |" in out
  cells = _row(out, "64 (8 x 8) | 8", 8)
  seconds, peak_mib = cells[:2], cells[3:5]
  assert all(float(s) > 0 for s in seconds), cells
  assert all(100 < float(m) < 4096 for m in peak_mib), cells

  # The previous version, in the same process, chunked like this one.
  chunk, *seconds, ratio, loss_diff, grad_diff = _row(
      out, "64 (8 x 8) | 8 | 1", 6)
  assert chunk == "24" and min(map(float, seconds + [ratio])) > 0
  assert float(loss_diff) < 1e-5 and float(grad_diff) < 1e-4

  # Compiled memory: the accelerator rule's small budget makes small chunks.
  previous, cpu, accelerator, per_chunk = _row(out, "32 x 32", 4)
  assert previous.endswith("(1024 rows)") and cpu.endswith("(1024 rows)")
  assert accelerator.endswith("(24 rows)")
  mib = lambda cell: float(cell.split(" MiB")[0])
  assert mib(accelerator) < mib(cpu) / 4
  assert all(3 < float(v) < 8 for v in per_chunk.split(",")), per_chunk

  # Precision: three bfloat16 passes stay close to exact float32, one pass
  # does not (the reason the exact matmul is the default).
  rows = re.findall(r"^\| 16 x 16 \((?:GoPro Flower crops|uniform noise)\)"
                    r" \| (\w+): .*? \| (.*) \| (.*) \| (.*) \|$", out, re.M)
  errors = {kind: [float(v) for v in grad.split(",")]
            for kind, _, grad, _ in rows}
  assert set(errors) == {"BF16_BF16_F32", "BF16_BF16_F32_X3", "TF32_TF32_F32"}
  assert max(errors["BF16_BF16_F32_X3"]) < 0.05
  assert max(errors["BF16_BF16_F32"]) > 10 * max(errors["BF16_BF16_F32_X3"])
