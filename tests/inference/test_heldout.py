"""`python -m cbl_jax.evaluation.heldout`: the held-out report."""

import csv

import numpy as np
import pytest

from cbl_jax import weights
from cbl_jax.data import heldout_motion
from cbl_jax.evaluation import heldout
from cbl_jax.inference import model as model_lib
from cbl_jax.models import generator as generator_lib
from tests.inference.helpers import TINY
from tests.inference.helpers import run_cli


def _identity_weights(tmp_path, config):
  module = model_lib.generator_from_config(config)
  params = model_lib.random_params(module)
  last = f"L{generator_lib.layer_count(config['num_blocks'])}"  # Output.
  params[last]["kernel"] = np.zeros_like(params[last]["kernel"])
  path = tmp_path / "identity.msgpack"
  weights.write_weights(path, params, config, {"note": "identity"})
  return path


def test_cli_report_and_csv(tiny_weights, tmp_path, capsys):
  out = tmp_path / "report"
  assert run_cli(heldout, [f"--checkpoint={tiny_weights}", "--num_scenes=4",
                           "--image_size=24", f"--output={out}"]) == 0
  printed = capsys.readouterr().out
  assert "Held-out scenes (4)" in printed and "Worst scene" in printed
  assert (out / "report.md").read_text().strip() == printed.strip()
  with open(out / "per_scene.csv") as f:
    rows = list(csv.DictReader(f))
  assert [r["name"].split("/")[-1] for r in rows] == ["000", "001", "002",
                                                      "003"]
  for row in rows:
    assert float(row["gain"]) == pytest.approx(
        float(row["psnr"]) - float(row["input_psnr"]), abs=1e-6)
  # Four consecutive scenes cover the four motion classes.
  assert {r["motion_class"] for r in rows} == {
      name for name, _, _ in heldout_motion.MOTION_CLASSES}


def test_identity_model_scores_the_input(tmp_path):
  path = _identity_weights(tmp_path, TINY)
  model = model_lib.load_weights_file(path)
  scores = heldout.evaluate(
      model, heldout_motion.HeldoutConfig(num_scenes=4, image_size=24))
  for score in scores:
    assert score.psnr == pytest.approx(score.input_psnr, abs=1e-4)
    assert score.psnr_middle == pytest.approx(score.input_psnr_middle,
                                              abs=1e-4)
  numbers = heldout.summarize(scores)
  assert abs(numbers["gain"]) < 1e-4 and numbers["worse_than_1db"] == 0


def _score(name, motion_class, psnr, input_psnr):
  return heldout.SceneScore(name=name, motion_class=motion_class, psnr=psnr,
                            input_psnr=input_psnr, psnr_middle=psnr + 1,
                            input_psnr_middle=input_psnr)


def test_summary_counts_losses():
  scores = [_score("a/near_static/0", "near_static", 40.0, 42.5),
            _score("b/large/1", "large", 25.0, 22.0),
            _score("c/large/2", "large", 24.0, 24.5),
            _score("d/moderate/3", "moderate", 30.0, 28.0)]
  numbers = heldout.summarize(scores)
  assert numbers["gain"] == pytest.approx((-2.5 + 3 - 0.5 + 2) / 4)
  assert numbers["worst_gain"] == pytest.approx(-2.5)
  assert numbers["worse_fraction"] == pytest.approx(0.5)
  assert numbers["worse_mean_loss"] == pytest.approx(-1.5)
  assert numbers["worse_than_1db"] == 1
  assert numbers["gain_large"] == pytest.approx(1.25)
  assert "gain_object_only" not in numbers
  report = heldout.markdown_report(scores, "test")
  assert report.index("a/near_static/0") < report.index("c/large/2")


def test_cli_errors(tmp_path, capsys):
  assert run_cli(heldout, [f"--checkpoint={tmp_path / 'missing.msgpack'}",
                           "--num_scenes=1"]) == 1
  error = capsys.readouterr().err.strip().splitlines()
  assert error[-1].startswith("heldout: ")
