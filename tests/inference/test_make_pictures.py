"""scripts/make_pictures.py writes the README's pictures from any weights."""

import importlib.util
import pathlib

from PIL import Image

from tests.inference.helpers import real_path

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _script():
  spec = importlib.util.spec_from_file_location(
      "make_pictures", ROOT / "scripts" / "make_pictures.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_pictures_from_tiny_weights(tiny_weights, tmp_path):
  real_path("gopro", "Flower_blur1.png")  # Skips without the shared images.
  script = _script()
  out = tmp_path / "docs"
  assert script.main([f"--checkpoint={tiny_weights}", f"--out={out}",
                      f"--data_dir={tmp_path / 'tfds'}",
                      "--builder_config=tiny"]) == 0
  sizes = {p.name: Image.open(p).size for p in out.glob("*.png")}
  # Each row: the input, a gap of 4, then 7 frames.
  assert sizes["synthetic_motion_example.png"] == (8 * 32 + 4, 3 * 32 + 8)
  assert sizes["gopro_flower_prediction.png"] == (8 * 120 + 4, 120)
  assert sizes["real_photo_predictions.png"] == (8 * 160 + 4, 3 * 160 + 8)
  assert sizes["heldout_examples.png"] == (8 * 160 + 4, 6 * 160 + 20)
