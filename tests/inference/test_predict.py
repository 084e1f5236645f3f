"""`python -m cbl_jax.predict` on real photos, odd inputs and bad inputs."""

import os
import subprocess
import sys

import av
import numpy as np
from PIL import Image
import pytest

from cbl_jax import predict
from cbl_jax import weights
from cbl_jax.inference import image_io
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling
from tests.inference.helpers import REPO_ROOT
from tests.inference.helpers import real_crop
from tests.inference.helpers import run_cli

FRAMES = [f"frame_{i}.png" for i in range(7)]


@pytest.fixture
def real_folder(tmp_path):
  """Crops of three real blurry photos (GoPro, Jin et al., Adobe240)."""
  folder = tmp_path / "in"
  folder.mkdir()
  real_crop(folder / "flower.png", "gopro", "Flower_blur1.png",
            box=(600, 300, 696, 364))
  real_crop(folder / "street.png", "jin_examples", "image_1_blurry.png",
            box=(400, 300, 496, 364))
  # Odd size: the MP4 gets padded, the PNG frames not.
  real_crop(folder / "adobe.png", "adobe240_blurry", "00785.png",
            box=(200, 100, 295, 163))
  return folder


def _frames(folder, names=FRAMES):
  return np.stack([np.asarray(Image.open(folder / n)) for n in names])


def test_predict_a_folder_of_real_photos(real_folder, tiny_weights, tmp_path,
                                         capsys):
  out = tmp_path / "out"
  rc = run_cli(predict, [f"--checkpoint={tiny_weights}",
                         f"--input={real_folder}", f"--output={out}"])
  assert rc == 0
  assert "3 of 3 image(s) -> 7 frames each" in capsys.readouterr().out
  assert sorted(p.name for p in out.iterdir()) == ["adobe", "flower",
                                                   "street"]
  model = model_lib.load_weights_file(tiny_weights)
  for name, (height, width) in (("flower", (64, 96)), ("adobe", (63, 95))):
    folder = out / name
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        FRAMES + ["sequence.gif", "sequence.mp4", "strip.png"])
    frames = _frames(folder)
    assert frames.shape == (7, height, width, 3)
    # The PNGs are the model's frames, rounded to 8 bits.
    image = image_io.read_image(real_folder / f"{name}.png")
    expected = tiling.predict_frames(model, image)
    assert np.abs(frames / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    assert Image.open(folder / "strip.png").size == (8 * width, height)
    gif = Image.open(folder / "sequence.gif")
    assert gif.n_frames == 7 and gif.size == (width, height)
    with av.open(str(folder / "sequence.mp4")) as container:
      stream = container.streams.video[0]
      assert (stream.codec_context.width, stream.codec_context.height) == (
          width + width % 2, height + height % 2)
      assert sum(1 for _ in container.decode(stream)) == 7


def test_predict_flags(real_folder, tiny_workdir, tmp_path):
  photo = real_folder / "street.png"
  # --workdir uses best/ (step 2); --which=latest the step-4 checkpoint.
  runs = {
      "best": [f"--workdir={tiny_workdir}"],
      "latest": [f"--workdir={tiny_workdir}", "--which=latest"],
      "tiled": [f"--workdir={tiny_workdir}", "--tile_size=40",
                "--tile_overlap=16", "--tile_batch_size=3"],
      "levels": [f"--workdir={tiny_workdir}", "--levels=2", "--fps=20"],
  }
  for name, args in runs.items():
    assert run_cli(predict, args + [f"--input={photo}",
                                    f"--output={tmp_path / name}"]) == 0
  best = _frames(tmp_path / "best" / "street")
  assert not np.array_equal(best, _frames(tmp_path / "latest" / "street"))
  # Tiles of 40 with overlap 16 >= 2 * 7 (the test model's receptive
  # radius) reproduce the whole-image frames (up to 8-bit rounding ties).
  tiled = _frames(tmp_path / "tiled" / "street")
  assert np.abs(tiled.astype(int) - best).max() <= 1
  levels = tmp_path / "levels" / "street"
  names = [f"frame_{i:02d}.png" for i in range(42)]
  assert sorted(p.name for p in levels.glob("frame_*.png")) == names
  assert Image.open(levels / "sequence.gif").info["duration"] == 50
  with av.open(str(levels / "sequence.mp4")) as container:
    assert container.streams.video[0].average_rate == 20


def test_predict_odd_inputs_and_a_bad_file(tiny_weights, tmp_path, capsys):
  folder = tmp_path / "in"
  folder.mkdir()
  y, x = np.mgrid[:21, :33]
  rgb = np.stack([x * 7, y * 12, (x + y) * 4], -1).astype(np.uint8)
  rgba = np.dstack([rgb, np.full((21, 33), 128, np.uint8)])
  Image.fromarray(rgba).save(folder / "rgba.png")
  Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
  Image.fromarray((y * 3000 + x).astype(np.uint16)).save(folder / "deep.png")
  exif = Image.Exif()
  exif[0x0112] = 8  # Viewers rotate it 90 degrees counter-clockwise.
  Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif)
  (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
  out = tmp_path / "out"
  rc = run_cli(predict, [f"--checkpoint={tiny_weights}", f"--input={folder}",
                         f"--output={out}"])
  assert rc == 1
  err = capsys.readouterr().err
  assert "FAILED" in err and "broken.png" in err
  assert "4 of 5 image(s)" in err
  assert "1 failed (reasons above): broken.png" in err
  # Nothing half-written: no folder for the broken file, no temporaries.
  assert sorted(p.name for p in out.iterdir()) == ["deep", "gray", "rgba",
                                                   "rotated"]
  for name in ("rgba", "gray", "deep"):
    assert Image.open(out / name / "frame_6.png").size == (33, 21)
  assert Image.open(out / "rotated" / "frame_0.png").size == (21, 33)


def test_predict_bad_inputs_give_one_line_messages(tiny_model, tiny_weights,
                                                   tmp_path, capsys,
                                                   monkeypatch):
  (tmp_path / "notes.txt").write_text("hello")
  (tmp_path / "empty").mkdir()
  photo = tmp_path / "p.png"
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
  wrong = tmp_path / "wrong.msgpack"
  weights.write_weights(
      wrong, tiny_model.params,
      dict(tiny_model.metadata["generator"], num_blocks=3), {})
  monkeypatch.setattr(weights, "DEFAULT_WEIGHTS", tmp_path / "no.msgpack")
  model = f"--checkpoint={tiny_weights}"
  cases = {
      "does not exist": [model, f"--input={tmp_path / 'missing.png'}"],
      "Cannot read image": [model, f"--input={tmp_path / 'notes.txt'}"],
      "No images": [model, f"--input={tmp_path / 'empty'}"],
      "do not fit the generator": [f"--checkpoint={wrong}",
                                   f"--input={photo}"],
      "shipped weights": [f"--input={photo}"],
      "Give --workdir or --checkpoint": [model, f"--workdir={tmp_path}",
                                         f"--input={photo}"],
  }
  for expected, args in cases.items():
    rc = run_cli(predict, args + [f"--output={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert rc == 1, expected
    assert expected in err and err.count("\n") == 1, err
  assert run_cli(predict, [model, f"--input={photo}"]) == 1
  assert "--output" in capsys.readouterr().err
  assert not (tmp_path / "out").exists() or not any(
      (tmp_path / "out").iterdir())


def test_predict_runs_as_a_module(real_folder, tiny_weights, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run(
      [sys.executable, "-m", "cbl_jax.predict", f"--checkpoint={tiny_weights}",
       f"--input={real_folder / 'flower.png'}", f"--output={tmp_path}"],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
      check=False)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "flower" / "sequence.mp4").is_file()
