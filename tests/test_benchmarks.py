"""Benchmarks are scripts, not tests: here they only have to run, tiny."""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_train_step_benchmark_runs_tiny_with_both_xla_options():
  result = subprocess.run(
      [sys.executable, "benchmarks/train_step.py", "--tiny", "--repeats=2",
       "--xla_cpu_options=both"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in result.stdout.splitlines() if "| test |" in l]
  # Both stages, each under both settings, in that order.
  assert [(r[0], r[2][0]) for r in rows] == [
      ("tuned", "1"), ("tuned", "2"), ("xla_default", "1"),
      ("xla_default", "2")]
  assert all(float(r[5]) > 0 and float(r[8]) > 0 for r in rows)
  headers = [l for l in result.stdout.splitlines() if "XLA_FLAGS" in l]
  assert "ynn_fusion_type" in headers[0]
  assert "ynn_fusion_type" not in headers[1]


def test_inference_benchmark_runs_tiny():
  result = subprocess.run(
      [sys.executable, "benchmarks/inference.py", "--tiny"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  out = result.stdout
  assert "Reference: a float32 matmul (256^2" in out
  assert "peaks at" in out  # The baseline process's memory.
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in out.splitlines() if l.startswith("| test |")]
  assert len(rows) == 2  # The whole image and one tile size.
  whole, tiled = rows
  assert whole[1] == "whole image"
  assert tiled[1] == "32 x 32, overlap 16: 6 tiles in 3 calls of 2"
  for row in rows:
    compile_s, seconds, peak_mib, gflop, gflops, _, matmul = (
        float(c.rstrip("%")) for c in row[2:5] + row[6:])
    assert min(compile_s, seconds, gflop, gflops, matmul) > 0, row
    assert 100 < peak_mib < 4096, row
  # Tiles overlap, and the overlaps are computed twice.
  assert float(tiled[6]) > float(whole[6])
  # The FLOP comparison: XLA agrees with the analytic count (no WARNING).
  assert "| Jin-style: one network per frame pair | 4 | 4 |" in out
  assert "| Jin et al.'s released networks (analytic only) | 5 | 7 |" in out
  assert "WARNING" not in out
  # The latency comparison: both designs ran.
  assert out.count("| one network for 7 frames") == 1
  assert out.count("| Jin-style: one network per frame pair | 4 |") == 2


def test_inference_benchmark_flop_counts():
  from benchmarks import backbone  # pylint: disable=g-import-not-at-top
  from benchmarks import inference  # pylint: disable=g-import-not-at-top
  # Table 1 by hand: L1 3->16, L2 16->64, 26 x 64->64, 64->256, 256->256,
  # 256->21, each 2 x 9 x in x out per pixel.
  table1 = dict(stem_features=16, features=64, num_blocks=13,
                head_features=256)
  layers = backbone.layers(table1, 3, 21)
  assert len(layers) == 31
  assert sum(2 * 9 * a * b for a, b in layers) == 3_507_552
  assert inference.design_flops("single", table1, 1) == 3_507_552
  # Jin et al.'s networks by hand, per pixel: centerEsti 1,991,648; N8_IN
  # 962,708.48 (twice); N9_IN 663,864.32 (four evaluations).
  assert abs(inference.jin2018_flops_per_pixel() - 6_572_522.24) < 1e-3


def test_conv_formulations_benchmark_runs_tiny_and_agrees():
  result = subprocess.run(
      [sys.executable, "benchmarks/conv_formulations.py", "--tiny"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  # A non-zero exit code means a formulation's gradients disagreed.
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in result.stdout.splitlines()[4:] if l.startswith("| ")]
  assert [r[0] for r in rows] == [
      "xla_conv", "im2col", "row_taps", "shifted_matmuls", "output_taps",
      "xla_conv_tap_kernel_grad"]
  assert all(float(r[6]) < 1e-4 for r in rows)


def _memory(*args):
  result = subprocess.run(
      [sys.executable, "benchmarks/memory.py", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout


def test_memory_benchmark_paper_state_on_8_devices_is_sharded():
  """The paper's discriminator is split over 8 devices, not replicated."""
  out = _memory("--config=configs/gopro.py", "--devices=8", "--state_only")
  line = out.strip().splitlines()[-1]
  match = re.fullmatch(r"per-device train state: ([\d.]+) GiB \(replicated:"
                       r" ([\d.]+) GiB\)", line)
  assert match, out
  per_device, replicated = map(float, match.groups())
  assert per_device <= replicated / 4
  assert "global batch of 8" in out  # The batch rule on 8 devices.


def test_memory_benchmark_compiles_both_stages_tiny():
  out = _memory("--config=configs/test.py", "--devices=2",
                "--dtypes=float32")
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in out.splitlines() if l.startswith("| 1 |")
          or l.startswith("| 2 |")]
  assert [r[0] for r in rows] == ["1", "2"]
  for row in rows:
    peak = float(row[-1].split()[0])
    assert peak > 0


def test_accelerator_benchmark_runs_tiny_on_the_cpu(tmp_path):
  result = subprocess.run(
      [sys.executable, "benchmarks/accelerator.py", "--tiny",
       "--dtypes=float32", f"--data_dir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  out = result.stdout
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in out.splitlines() if re.match(r"\| [12] \|", l)]
  assert [(r[0], r[1]) for r in rows] == [("1", "float32"), ("2", "float32")]
  for row in rows:
    assert float(row[3]) > 0 and float(row[4]) > 0  # Step time, TFLOP/s.
    assert row[5] == "n/a"  # No known peak for a CPU.
  assert re.search(r"input pipeline .*: [\d.]+ examples/s", out)
  assert re.search(r"contextual \(contiguous\) loss alone [\d.]+ s = \d+% "
                   r"of the stage-2 step's time", out)


def test_frame_store_benchmark_runs_tiny():
  result = subprocess.run(
      [sys.executable, "benchmarks/frame_store.py", "--tiny",
       "--chunks=16,64", "--codecs=raw,zstd1", "--repeats=1", "--windows=2",
       "--batch=4", "--reads=8", "--cache_bytes=0"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [json.loads(l) for l in result.stdout.splitlines()
          if l.startswith("{")]
  assert [(r["chunk"], r["codec"]) for r in rows] == [
      (16, "raw"), (16, "zstd1"), (64, "raw"), (64, "zstd1")]
  for row in rows:
    assert row["bytes_per_image"] > 0 and row["write_cpu_ms_per_example"] > 0
    assert min(row["read_16_cpu_ms"], row["read_32_cpu_ms"],
               row["read_8_cpu_ms"], row["read_full_cpu_ms"]) >= 0
  # Noisy GoPro-like frames: zstd stores less than the raw pixels.
  assert rows[1]["bytes_per_image"] < rows[0]["bytes_per_image"]
  result = subprocess.run(
      [sys.executable, "benchmarks/frame_store.py", "--tiny", "--codecs=png"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 1
  assert "Unknown --codecs png; choose from raw, zstd1" in result.stderr
