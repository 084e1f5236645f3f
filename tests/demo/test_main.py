"""`python -m cbl_jax.demo`: every flag reaches the page or the server."""

import sys

import pytest

gradio = pytest.importorskip(
    "gradio", reason="the demo extra is not installed: pip install"
    " 'cbl_jax[demo]'")

# pylint: disable=g-import-not-at-top,wrong-import-position
from cbl_jax import demo
from cbl_jax.demo import __main__ as demo_main
from cbl_jax.demo import app as app_lib
from tests.inference.helpers import run_cli


@pytest.fixture
def launched(monkeypatch):
  """Runs the demo's main with `launch` replaced; records what it got."""
  record = {}

  def build_app(runner, examples):
    record.update(runner=runner, examples=examples)
    return real_build(runner, examples)

  real_build = app_lib.build_app
  monkeypatch.setattr(app_lib, "build_app", build_app)
  monkeypatch.setattr(gradio.Blocks, "launch",
                      lambda self, **kwargs: record.update(launch=kwargs))
  return record


def test_flags(launched, tiny_weights):
  rc = run_cli(demo_main, [
      "--host=0.0.0.0", "--port=7999", "--share", f"--checkpoint={tiny_weights}",
      "--tile_size=300", "--tile_overlap=20", "--tile_batch_size=3",
      "--max_megapixels=3", "--max_video_frames=9",
      "--max_video_megapixels=0.4", "--max_upload_mb=7"])
  assert rc == 0
  kwargs = launched["launch"]
  assert (kwargs["server_name"], kwargs["server_port"], kwargs["share"]) == (
      "0.0.0.0", 7999, True)
  assert kwargs["max_file_size"] == "7mb"
  runner = launched["runner"]
  assert kwargs["allowed_paths"][0] == str(runner.root)
  assert kwargs["ssr_mode"] is False
  assert runner.model.source == str(tiny_weights)
  assert (runner.tiles.tile_size, runner.tiles.tile_overlap,
          runner.tiles.batch_size) == (300, 20, 3)
  assert (runner.limits.max_megapixels, runner.limits.max_video_frames,
          runner.limits.max_video_megapixels,
          runner.limits.max_upload_mb) == (3, 9, 0.4, 7)
  assert [p.name for p in launched["examples"]] == [
      "adobe240_00785_crop.png", "gopro_flower_crop.png",
      "gopro_istanbul_crop.png", "jin_image_1_crop.png"]


def test_defaults_serve_this_machine_only(launched, tiny_workdir):
  assert run_cli(demo_main, [f"--workdir={tiny_workdir}", "--which=latest"]
                 ) == 0
  kwargs = launched["launch"]
  assert (kwargs["server_name"], kwargs["server_port"], kwargs["share"]) == (
      "127.0.0.1", 7860, False)
  assert launched["runner"].model.source.endswith("checkpoints/4")
  assert launched["runner"].limits == demo_main.runner_lib.Limits()


def test_one_line_errors(tiny_weights, tmp_path, monkeypatch, capsys):
  assert run_cli(demo_main, [f"--checkpoint={tmp_path / 'none'}"]) == 1
  assert capsys.readouterr().err.startswith("demo: Checkpoint")

  def busy(self, **kwargs):
    raise OSError("Cannot find empty port in range: 7860-7860.")

  monkeypatch.setattr(gradio.Blocks, "launch", busy)
  assert run_cli(demo_main, [f"--checkpoint={tiny_weights}"]) == 1
  assert ("demo: cannot serve on 127.0.0.1:7860 (Cannot find empty port"
          in capsys.readouterr().err)
  # Without Gradio installed, the page cannot be built.
  monkeypatch.delitem(sys.modules, "cbl_jax.demo.app")
  monkeypatch.delattr(demo, "app")
  monkeypatch.setitem(sys.modules, "gradio", None)
  assert run_cli(demo_main, [f"--checkpoint={tiny_weights}"]) == 1
  assert "pip install 'cbl_jax[demo]'" in capsys.readouterr().err
