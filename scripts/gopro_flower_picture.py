r"""Regenerates docs/gopro_flower_prediction.png, the README's picture.

  .venv/bin/python scripts/gopro_flower_picture.py [--workdir=workdirs/default]

Predicts the 7 frames of the real GoPro photo `Flower_blur1.png` (from
`../shared/data/real/gopro`) at full resolution with the shipped weights (or
a workdir's best checkpoint), cuts the same 240 x 240 region out of the input
and every frame, and lays them out shrunk to half size: input | 7 frames.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from PIL import Image

from cbl_jax import xla_cpu

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = REPO_ROOT.parent / "shared" / "data" / "real" / "gopro" / "Flower_blur1.png"
# (top, left, side) of the region, in full-resolution pixels.
REGION = (200, 560, 240)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", default=None,
                      help="a training workdir (default: the shipped weights)")
  parser.add_argument("--output", default=str(
      REPO_ROOT / "docs" / "gopro_flower_prediction.png"))
  args = parser.parse_args()
  xla_cpu.use_tuned_flags()  # Before JAX starts its backends.
  # pylint: disable=g-import-not-at-top
  from cbl_jax.inference import image_io
  from cbl_jax.inference import model as model_lib
  from cbl_jax.inference import tiling
  from cbl_jax import visualization

  model = model_lib.load_generator(workdir=args.workdir)
  image = image_io.read_image(SOURCE)
  frames = tiling.predict_tiled(model, image)
  top, left, side = REGION
  to_uint8 = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
  half = lambda x: np.asarray(Image.fromarray(
      to_uint8(x[top:top + side, left:left + side])).resize(
          (side // 2, side // 2), Image.Resampling.LANCZOS))
  strip = visualization.sequence_strip(half(image),
                                       np.stack([half(f) for f in frames]))
  Image.fromarray(strip).save(args.output)
  print(f"wrote {args.output} from {model.source}")


if __name__ == "__main__":
  main()
