"""Helpers for inference tests: tiny generators, real images, CLI runs.

The real photographs are in `../shared/data/real` next to the repository
(see its README for their sources: DeepDeblur / GoPro of Nah et al., Jin et
al. CVPR 2018, and BiT's Adobe240 demo). Tests that need them skip, with the
reason, when the folder is absent.
"""

import json
import pathlib

from absl import flags
from absl.testing import flagsaver
import numpy as np
from PIL import Image
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real"

# A generator small enough to run in milliseconds. input_skip and a large
# init scale make every output depend visibly on its whole receptive field,
# so tiling errors would show.
TINY = dict(num_frames=7, color_mode="rgb", stem_features=4, features=8,
            num_blocks=1, head_features=8, input_skip=True, init_stddev=0.3)


def real_path(*parts: str) -> pathlib.Path:
  """A file under the real-images folder; skips the test if it is absent."""
  path = REAL_DIR.joinpath(*parts)
  if not path.exists():
    pytest.skip(f"Real test images not found at {path} (expected the shared"
                " data folder next to the repository).")
  return path


def real_crop(dest: pathlib.Path, *parts: str, box=(0, 0, 96, 64)) -> (
    pathlib.Path):
  """Saves a crop (left, top, right, bottom) of a real image as `dest`."""
  with Image.open(real_path(*parts)) as image:
    image.crop(box).save(dest)
  return dest


def run_cli(module, args: list[str]) -> int:
  """Runs a CLI's `main` in this process with `args` as its flags."""
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["prog", *args])
    return module.main(["prog"])


def workdir_generator_config(workdir: pathlib.Path) -> dict:
  return json.loads((workdir / "config.json").read_text())["generator"]


def gradient_image(height: int, width: int) -> np.ndarray:
  """A smooth colour image in [0, 1], float32."""
  y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
  x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
  x, y = np.broadcast_arrays(x, y)
  return np.stack([0.5 * (x + y), x * y, 1.0 - x], axis=-1)
