"""`python -m cbl_jax.evaluate`: dataset splits, real pairs, reblur."""

import csv
import io

import numpy as np
from PIL import Image
import pytest

from cbl_jax import evaluate
from cbl_jax import weights
from cbl_jax.inference import model as model_lib
from tests.inference.helpers import TINY
from tests.inference.helpers import real_crop
from tests.inference.helpers import run_cli


def _csv(path):
  return list(csv.DictReader(io.StringIO(path.read_text())))


def _summary(folder):
  return {row["metric"]: float(row["value"])
          for row in _csv(folder / "summary.csv")}


@pytest.fixture
def identity_weights(tmp_path):
  """A generator whose frames are all exactly the input (zero residual)."""
  module = model_lib.generator_from_config(TINY)
  params = model_lib.random_params(module)
  params["L7"]["kernel"] = np.zeros_like(params["L7"]["kernel"])  # Last conv.
  path = tmp_path / "identity.msgpack"
  weights.write_weights(path, params, TINY, {"note": "identity"})
  return path


def test_evaluate_a_dataset_split(tiny_weights, tmp_path, capsys):
  common = [f"--checkpoint={tiny_weights}", "--dataset=synthetic_motion",
            "--builder_config=tiny", "--split=test",
            f"--data_dir={tmp_path / 'tfds'}", "--num_examples=3"]
  assert run_cli(evaluate, common + [f"--output={tmp_path / 'whole'}"]) == 0
  markdown = capsys.readouterr().out
  assert "synthetic_motion/tiny, split test" in markdown
  for heading in ("## Summary (Table 4)", "## Per frame index",
                  "| Input (blurry) |", "Reblur consistency"):
    assert heading in markdown
  whole = tmp_path / "whole"
  assert (whole / "report.md").read_text().strip() == markdown.strip()
  numbers = _summary(whole)
  assert numbers["examples"] == 3
  for key in ("psnr", "ssim", "psnr_middle", "ssim_frame6", "input_psnr",
              "input_psnr_middle", "reblur_psnr", "motion"):
    assert np.isfinite(numbers[key]), key
  assert len(_csv(whole / "per_example.csv")) == 3
  assert [r["frame"] for r in _csv(whole / "per_frame.csv")] == [
      str(t) for t in range(7)]
  assert len(_csv(whole / "per_sequence.csv")) == 3
  # The same numbers through tiles (32x32 frames, 16-pixel tiles).
  assert run_cli(evaluate, common + [
      "--tile_size=24", "--tile_overlap=16", "--tile_batch_size=2",
      f"--output={tmp_path / 'tiled'}"]) == 0
  tiled = _summary(tmp_path / "tiled")
  for key in ("psnr", "ssim", "reblur_psnr"):
    assert tiled[key] == pytest.approx(numbers[key], abs=1e-3), key


def test_evaluate_missing_manual_download(tiny_weights, tmp_path, capsys):
  (tmp_path / "manual").mkdir()
  rc = run_cli(evaluate, [f"--checkpoint={tiny_weights}", "--dataset=gopro",
                          f"--data_dir={tmp_path / 'tfds'}",
                          f"--manual_dir={tmp_path / 'manual'}"])
  # TFDS announces the build (on stderr: stdout is for the report); the
  # error is then one line.
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert rc == 1 and last.startswith("evaluate: ")
  assert "manual" in last.lower() and str(tmp_path / "manual") in last


def test_evaluate_real_gopro_pairs(tiny_weights, tmp_path, capsys):
  pairs = tmp_path / "pairs"
  pairs.mkdir()
  for name, box in (("Flower", (500, 300, 596, 364)),
                    ("Istanbul", (600, 200, 696, 264))):
    for kind in ("blur", "sharp"):
      real_crop(pairs / f"{name}_{kind}1.png", "gopro", f"{name}_{kind}1.png",
                box=box)
  assert run_cli(evaluate, [f"--checkpoint={tiny_weights}",
                            f"--pairs_dir={pairs}",
                            f"--output={tmp_path / 'out'}"]) == 0
  markdown = capsys.readouterr().out
  assert "middle frame only" in markdown
  assert "## Per video (Table 3)" in markdown
  assert "| Flower | 1 |" in markdown and "| Istanbul | 1 |" in markdown
  rows = {r["sequence"]: r for r in _csv(tmp_path / "out" /
                                         "per_sequence.csv")}
  # Real blur against its real sharp middle frame: a typical GoPro gap.
  assert 15 < float(rows["Flower"]["input_psnr"]) < 40
  # A blur file without its sharp partner is reported, the others scored.
  (pairs / "Lonely_blur1.png").write_bytes((pairs / "Flower_blur1.png")
                                           .read_bytes())
  assert run_cli(evaluate, [f"--checkpoint={tiny_weights}",
                            f"--pairs_dir={pairs}"]) == 1
  captured = capsys.readouterr()
  assert "Lonely_blur1.png" in captured.err
  assert "no Lonely_sharp1.png" in captured.out


def test_evaluate_reblur_on_real_photos(identity_weights, tiny_workdir,
                                        tmp_path, capsys):
  photos = tmp_path / "photos"
  photos.mkdir()
  real_crop(photos / "street.png", "jin_examples", "00011-blurry.png",
            box=(300, 200, 380, 260))
  real_crop(photos / "adobe.png", "adobe240_blurry", "00793.png",
            box=(100, 100, 180, 160))
  # Frames equal to the input add up to it exactly: reblur consistency is
  # perfect although nothing was deblurred, which `motion` (0) exposes.
  assert run_cli(evaluate, [f"--checkpoint={identity_weights}",
                            f"--input={photos}",
                            f"--output={tmp_path / 'identity'}"]) == 0
  assert "## Reblur consistency" in capsys.readouterr().out
  rows = _csv(tmp_path / "identity" / "per_example.csv")
  assert [r["name"] for r in rows] == ["adobe.png", "street.png"]
  for row in rows:
    assert float(row["reblur_psnr"]) > 60 and float(row["motion"]) == 0
  assert run_cli(evaluate, [f"--workdir={tiny_workdir}", "--which=latest",
                            f"--input={photos / 'street.png'}",
                            f"--output={tmp_path / 'tiny'}"]) == 0
  assert "checkpoints/4" in capsys.readouterr().out
  row, = _csv(tmp_path / "tiny" / "per_example.csv")
  assert float(row["motion"]) > 1 and float(row["reblur_psnr"]) < 60


def test_evaluate_needs_exactly_one_mode(tiny_weights, tmp_path, capsys):
  model = f"--checkpoint={tiny_weights}"
  assert run_cli(evaluate, [model]) == 1
  assert "exactly one of" in capsys.readouterr().err
  assert run_cli(evaluate, [model, "--dataset=dvd",
                            f"--pairs_dir={tmp_path}"]) == 1
  assert "got --dataset, --pairs_dir" in capsys.readouterr().err
  assert run_cli(evaluate, [model, f"--pairs_dir={tmp_path}"]) == 1
  err = capsys.readouterr().err
  assert "No *_blur* images" in err and err.count("\n") == 1
  Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "x.png")
  assert run_cli(evaluate, [f"--checkpoint={tmp_path / 'nope.msgpack'}",
                            f"--input={tmp_path / 'x.png'}"]) == 1
  assert "does not exist" in capsys.readouterr().err
