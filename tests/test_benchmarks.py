"""Benchmarks are scripts, not tests: here they only have to run, tiny."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_train_step_benchmark_runs_tiny_with_both_xla_options():
  result = subprocess.run(
      # Stage 2 only (the release U-Net's test below runs stage 1).
      [sys.executable, "benchmarks/train_step.py", "--tiny", "--repeats=2",
       "--xla_cpu_options=both", "--configs=default", "--stages=2"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in result.stdout.splitlines() if "| test |" in l]
  # Stage 2 under both settings, in that order.
  assert [(r[0], r[2][0]) for r in rows] == [("tuned", "2"),
                                             ("xla_default", "2")]
  assert all(float(r[5]) > 0 and float(r[8]) > 0 for r in rows)
  headers = [l for l in result.stdout.splitlines() if "XLA_FLAGS" in l]
  assert "ynn_fusion_type" in headers[0]
  assert "ynn_fusion_type" not in headers[1]


def _release_step_tiny(env=None):
  """The tiny release U-Net's step benchmark, with --torch_twin."""
  result = subprocess.run(
      [sys.executable, "benchmarks/train_step.py", "--tiny",
       "--configs=release", "--repeats=2", "--torch_twin"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
      env=env)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in result.stdout.splitlines() if "| test_unet |" in l]
  # Stage 1 only: the release recipe has no stage 2.
  assert [r[2] for r in rows] == ["1 (content)"], result.stdout
  assert "test_unet: stage 2 is off in its recipe" in result.stdout
  # Step s and images/s (the tiny step's GFLOP round to 0.0).
  assert float(rows[0][5]) > 0 and float(rows[0][6]) > 0
  return result.stdout, rows[0]


def test_train_step_benchmark_runs_the_release_unet_tiny_without_torch(
    tmp_path):
  # A `torch` that fails to import, first on the path: the benchmark says
  # so once and leaves the twin's columns out, whether or not torch is
  # installed.
  (tmp_path / "torch").mkdir()
  (tmp_path / "torch" / "__init__.py").write_text(
      "raise ImportError('hidden by the test')\n")
  path = os.pathsep.join(
      p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
  out, row = _release_step_tiny({**os.environ, "PYTHONPATH": path})
  assert out.count("the PyTorch twin needs `pip install torch`") == 1
  assert len(row) == 10
  assert "PyTorch step s" not in out


def test_train_step_benchmark_times_the_torch_twin_tiny():
  pytest.importorskip("torch")
  out, row = _release_step_tiny()
  assert "| PyTorch step s | PyTorch layout | JAX/PyTorch step s |" in out
  assert len(row) == 13
  assert float(row[10]) > 0 and float(row[12]) > 0
  assert row[11] in ("channels_last", "contiguous")


def test_torch_twin_is_the_same_network():
  torch = pytest.importorskip("torch")
  from benchmarks import backbone  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_twin  # pylint: disable=g-import-not-at-top
  for name in ("release", "default", "paper", "test", "test_unet"):
    generator = backbone.get_config(name).generator.to_dict()
    model = torch_twin.build(generator)
    expected = torch_twin.jax_parameter_count(generator)
    assert torch_twin.check_parameter_count(model, expected) == expected
    with pytest.raises(ValueError, match="not the same network"):
      torch_twin.check_parameter_count(model, expected + 1)
  # The release U-Net's size, as configs/release.py gives it.
  release = backbone.get_config("release").generator.to_dict()
  assert 4.5e6 < torch_twin.jax_parameter_count(release) < 5e6
  # Untrained, both twins return the input as every frame, as the JAX
  # models do (zero-initialised last layers, input skip); 20 x 20 is not a
  # multiple of the U-Net's alignment (8), so its padding runs too.
  x = torch.rand(2, 3, 20, 20)
  for name in ("test", "test_unet"):
    model = torch_twin.build(backbone.get_config(name).generator.to_dict())
    out = model(x)
    assert out.shape == (2, 7, 3, 20, 20)
    torch.testing.assert_close(out, x[:, None].expand_as(out))
  config = backbone.get_config("test_unet")
  with pytest.raises(ValueError, match="not the same network"):
    torch_twin.measure(config, 1, expected_params=1)
  row = torch_twin.measure(config, 1, layouts=("contiguous",))
  assert row["layout"] == "contiguous" and row["step_s"] > 0
  assert row["images_s"] == pytest.approx(config.batch_size / row["step_s"])


def test_torch_twin_benchmark_runs_tiny():
  pytest.importorskip("torch")
  for args in (["--tiny"], ["--configs=test_unet", "--repeats=1"]):
    result = subprocess.run(
        [sys.executable, "benchmarks/torch_twin.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [[c.strip() for c in l.strip("|").split("|")]
            for l in result.stdout.splitlines() if l.startswith("| test")]
    assert [r[:2] for r in rows] == (
        [["test", "table1"], ["test_unet", "unet"]] if args == ["--tiny"]
        else [["test_unet", "unet"]])
    for row in rows:
      assert row[3].endswith("(= JAX)")
      assert float(row[4]) > 0 and float(row[5]) > 0
      assert row[6].endswith("(channels_last)") or row[6].endswith(
          "(contiguous)")
  result = subprocess.run(
      [sys.executable, "benchmarks/torch_twin.py", "--configs=nope"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 2 and "unknown nope" in result.stderr


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
    peak, gflop = float(row[-2].split()[0]), float(row[-1])
    assert peak > 0 and gflop > 0


# benchmarks/accelerator.py --tiny runs, and is checked, as a step of the
# lent GPU's dry run (tests/scripts/test_device_session.py).


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


def test_fit_check_fits_its_fixed_batches_tiny(tmp_path):
  """The tiny release U-Net starts as its input and fits two fixed batches."""
  from benchmarks import backbone  # pylint: disable=g-import-not-at-top
  from benchmarks import fit_check  # pylint: disable=g-import-not-at-top
  config = backbone.get_config("test_unet")
  config.data.data_dir = str(tmp_path)
  batches = fit_check.fixed_batches(config, 2)
  again = fit_check.fixed_batches(config, 2)
  for a, b in zip(batches, again):  # The same crops every time.
    np.testing.assert_array_equal(a["blurry"], b["blurry"])
  rows = list(fit_check.fit(config, batches, steps=20, report_every=10))
  assert [step for step, _, _ in rows] == [0, 10, 20]
  np.testing.assert_allclose(rows[0][1], (0.0, 0.0), atol=1e-6)
  middle, every = rows[-1][1]
  assert middle > 0.05 and every > 0.1, rows


def test_fit_check_refuses_an_unknown_config(capsys):
  from benchmarks import fit_check  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit):
    fit_check.main(["--config=gopro"])
  assert "--config takes default, release, paper, got 'gopro'" in (
      capsys.readouterr().err)


def test_fit_check_says_in_one_line_when_the_data_dir_is_unusable(
    tmp_path, capsys):
  from benchmarks import fit_check  # pylint: disable=g-import-not-at-top
  not_a_folder = tmp_path / "data.txt"
  not_a_folder.write_text("not a folder")
  with pytest.raises(SystemExit):
    fit_check.main(["--tiny", f"--data_dir={not_a_folder}", "--steps=1"])
  err = capsys.readouterr().err.strip()
  assert err.startswith("fit_check.py: error: the training data of "
                        "synthetic_motion:") and "\n" not in err, err
  assert not_a_folder.read_text() == "not a folder"
