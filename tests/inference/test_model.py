"""Loading generators from workdirs, step folders and weights files."""

import json
import shutil

import jax
import numpy as np
import pytest

from cbl_jax import weights
from cbl_jax.inference import export_weights
from cbl_jax.inference import model as model_lib
from tests.inference.helpers import TINY
from tests.inference.helpers import run_cli
from tests.inference.helpers import workdir_generator_config


def _assert_same_params(a, b):
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def _differ(a, b) -> bool:
  return any(not np.array_equal(x, y) for x, y in zip(
      jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_receptive_radius_counts_convolutions():
  # Table 1: L1, L2, 13 blocks of two, L29-L31.
  assert model_lib.receptive_radius(model_lib.Generator()) == 31
  assert model_lib.receptive_radius(model_lib.Generator(num_blocks=1)) == 7


def test_weights_file_round_trip(tiny_model, tiny_weights):
  loaded = model_lib.load_weights_file(tiny_weights)
  _assert_same_params(loaded.params, tiny_model.params)
  assert loaded.module == tiny_model.module
  sidecar = json.loads(weights.sidecar_path(tiny_weights).read_text())
  assert sidecar["format"] == weights.FORMAT
  assert sidecar["provenance"]["sha256"] == weights.sha256(tiny_weights)
  # --checkpoint accepts weights files too.
  via_checkpoint = model_lib.load_generator(checkpoint=str(tiny_weights))
  _assert_same_params(via_checkpoint.params, tiny_model.params)


def test_workdir_best_and_latest(tiny_workdir):
  best = model_lib.load_workdir(tiny_workdir, "best")
  latest = model_lib.load_workdir(tiny_workdir, "latest")
  assert best.source.endswith("best/2") and latest.source.endswith(
      "checkpoints/4")
  assert _differ(best.params, latest.params)
  assert best.metadata["provenance"]["metrics"] == {"score": 20.0}
  assert best.module.features == workdir_generator_config(
      tiny_workdir)["features"]
  # A step folder, or its default/ item, loads the same weights.
  step = model_lib.load_checkpoint(tiny_workdir / "checkpoints" / "2")
  item = model_lib.load_checkpoint(tiny_workdir / "best" / "2" / "default")
  _assert_same_params(step.params, best.params)
  _assert_same_params(item.params, best.params)


def test_relative_workdir_paths_load(tiny_workdir, monkeypatch):
  monkeypatch.chdir(tiny_workdir.parent)
  relative = model_lib.load_workdir(tiny_workdir.name, "best")
  _assert_same_params(relative.params,
                      model_lib.load_workdir(tiny_workdir, "best").params)


def test_best_falls_back_to_latest(tiny_workdir, tmp_path):
  workdir = tmp_path / "w"
  shutil.copytree(tiny_workdir, workdir)
  shutil.rmtree(workdir / "best")
  assert model_lib.load_workdir(workdir, "best").source.endswith(
      "checkpoints/4")


def test_missing_sources_give_one_line_errors(tiny_workdir, tmp_path,
                                              monkeypatch):
  cases = {
      "does not exist": lambda: model_lib.load_workdir(tmp_path / "nope"),
      "no checkpoint in best/": lambda: model_lib.load_workdir(tmp_path),
      "not a checkpoint step folder": lambda: model_lib.load_checkpoint(
          tiny_workdir),
      "has no sidecar": lambda: model_lib.load_weights_file(junk),
  }
  junk = tmp_path / "junk.msgpack"
  junk.write_bytes(b"not msgpack")
  monkeypatch.setattr(weights, "DEFAULT_WEIGHTS", tmp_path / "none.msgpack")
  cases["shipped weights"] = model_lib.load_generator
  for expected, load in cases.items():
    with pytest.raises((FileNotFoundError, ValueError)) as error:
      load()
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_wrong_checkpoint_for_config(tiny_model, tmp_path):
  # Weights of the tiny generator with a sidecar describing a wider one.
  path = tmp_path / "wrong.msgpack"
  weights.write_weights(path, tiny_model.params, dict(TINY, features=16), {})
  with pytest.raises(ValueError, match=r"do not fit .*features=16.*: L2/bias"
                     r" has shape \(8,\), the config expects \(16,\)"):
    model_lib.load_weights_file(path)
  weights.write_weights(path, tiny_model.params, dict(TINY, num_blocks=2), {})
  with pytest.raises(ValueError, match="it has parameter L5/bias, which the"
                     " config's generator lacks"):
    model_lib.load_weights_file(path)


def test_wrong_workdir_config(tiny_workdir, tmp_path):
  workdir = tmp_path / "w"
  shutil.copytree(tiny_workdir, workdir)
  config = json.loads((workdir / "config.json").read_text())
  config["generator"]["head_features"] = 12
  (workdir / "config.json").write_text(json.dumps(config))
  with pytest.raises(ValueError, match="do not fit the generator"):
    model_lib.load_workdir(workdir)
  config["generator"]["colour"] = "rgb"
  (workdir / "config.json").write_text(json.dumps(config))
  with pytest.raises(ValueError, match="does not know: colour"):
    model_lib.load_workdir(workdir)


def test_export_weights_cli(tiny_workdir, tmp_path, capsys):
  best = tmp_path / "best.msgpack"
  assert run_cli(export_weights, [f"--workdir={tiny_workdir}",
                                  f"--output={best}"]) == 0
  assert "best/2" in capsys.readouterr().out
  loaded = model_lib.load_weights_file(best)
  _assert_same_params(loaded.params,
                      model_lib.load_workdir(tiny_workdir).params)
  provenance = loaded.metadata["provenance"]
  assert provenance["step"] == 2 and provenance["kind"] == "best"
  assert provenance["data"]["name"] == "synthetic_motion"
  assert provenance["num_params"] > 0 and "exported_at" in provenance

  latest = tmp_path / "latest.msgpack"
  assert run_cli(export_weights, [f"--workdir={tiny_workdir}",
                                  "--which=latest", f"--output={latest}"]) == 0
  assert model_lib.load_weights_file(latest).metadata["provenance"][
      "step"] == 4

  step = tmp_path / "step.msgpack"
  assert run_cli(export_weights, [
      f"--checkpoint={tiny_workdir / 'checkpoints' / '4'}",
      f"--output={step}"]) == 0
  _assert_same_params(model_lib.load_weights_file(step).params,
                      model_lib.load_weights_file(latest).params)


def test_export_weights_cli_errors(tmp_path, capsys):
  assert run_cli(export_weights, [f"--output={tmp_path / 'x.msgpack'}"]) == 1
  assert "give --workdir" in capsys.readouterr().err
  assert run_cli(export_weights, [f"--workdir={tmp_path}"]) == 1
  err = capsys.readouterr().err
  assert "no checkpoint" in err and err.count("\n") == 1


def test_random_params_with_he_initialisation():
  # configs/default.py uses init_stddev=None: He-scaled kernels and a zero
  # last layer, as Generator.init draws them.
  module = model_lib.Generator(stem_features=4, features=8, num_blocks=1,
                               head_features=8, init_stddev=None)
  params = model_lib.random_params(module, seed=0)
  assert not np.any(params["L7"]["kernel"])
  kernel = params["block1"]["L3"]["kernel"]  # Fan-in 3 * 3 * 8 = 72.
  assert abs(kernel.std() - np.sqrt(2 / 72)) < 0.2 * np.sqrt(2 / 72)
  assert np.abs(kernel).max() <= 2 * np.sqrt(2 / 72) / 0.8796 + 1e-6
  expected = module.init(jax.random.key(0), np.zeros((1, 8, 8, 3)))["params"]
  assert (jax.tree_util.tree_structure(params) ==
          jax.tree_util.tree_structure(expected))
