r"""Regenerates the README's pictures in docs/ from a generator.

  .venv/bin/python scripts/make_pictures.py              # shipped weights
  .venv/bin/python scripts/make_pictures.py --checkpoint=workdirs/release/best/4000

Writes, each row an input and then its 7 frames:

* `docs/synthetic_motion_example.png`: training examples and their true
  frames (train split of `synthetic_motion/default`, examples 2, 4, 5).
* `docs/gopro_flower_prediction.png`: a crop of the real GoPro image
  `Flower_blur1.png`, predicted whole at 1280x720 (tiled) and then cropped.
* `docs/real_photo_predictions.png`: crops of real blurry photos without
  ground truth (Jin et al.'s street scenes, an Adobe240 frame).
* `docs/heldout_examples.png`: held-out scenes: input, predicted frames,
  then the true frames on the row below.

The real images come from ../shared/data/real (see its README for their
sources, which the README repeats next to the pictures).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
  sys.path.insert(0, str(_ROOT))

from cbl_jax import xla_cpu  # pylint: disable=g-import-not-at-top

xla_cpu.use_tuned_flags()

import numpy as np  # pylint: disable=g-import-not-at-top

from cbl_jax import visualization  # pylint: disable=g-import-not-at-top
from cbl_jax.data import frame_store  # pylint: disable=g-import-not-at-top
from cbl_jax.data import heldout_motion  # pylint: disable=g-import-not-at-top
from cbl_jax.inference import image_io  # pylint: disable=g-import-not-at-top
from cbl_jax.inference import model as model_lib  # pylint: disable=g-import-not-at-top
from cbl_jax.inference import tiling  # pylint: disable=g-import-not-at-top

REAL = _ROOT.parent / "shared" / "data" / "real"
# (file under REAL, crop box (left, top, right, bottom) after prediction).
GOPRO_CROP = ("gopro/Flower_blur1.png", (560, 240, 680, 360))
REAL_CROPS = (
    ("jin_examples/image_1_blurry.png", (300, 250, 460, 410)),
    ("jin_examples/image_4_blurry.png", (380, 200, 540, 360)),
    ("adobe240_blurry/00777.png", (240, 96, 400, 256)),
)
HELDOUT_SCENES = (3, 9, 26)


def _predict_crop(model, relative: str, box) -> tuple[np.ndarray, np.ndarray]:
  image = image_io.read_image(REAL / relative)
  frames = tiling.predict_tiled(model, image)
  left, top, right, bottom = box
  return (visualization.to_uint8(image[top:bottom, left:right]),
          visualization.to_uint8(frames[:, top:bottom, left:right]))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--checkpoint", default=None,
                      help="weights file or checkpoint step folder; default:"
                      " the shipped weights")
  parser.add_argument("--out", default=str(_ROOT / "docs"))
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data dir of synthetic_motion (built if"
                      " missing)")
  parser.add_argument("--builder_config", default="default",
                      help="synthetic_motion config of the data picture")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  model = model_lib.load_generator(checkpoint=args.checkpoint)

  import tfds_builders.synthetic_motion  # pylint: disable=g-import-not-at-top
  builder = tfds_builders.synthetic_motion.Builder(
      config=args.builder_config, data_dir=args.data_dir)
  builder.download_and_prepare()
  source = frame_store.data_source(builder, "train")
  visualization.save_strips(
      out / "synthetic_motion_example.png",
      [(source[i]["blurry"], np.stack(source[i]["sharp"])) for i in (2, 4, 5)])

  blurry, frames = _predict_crop(model, *GOPRO_CROP)
  visualization.save_strips(out / "gopro_flower_prediction.png",
                            [(blurry, frames)])

  visualization.save_strips(out / "real_photo_predictions.png",
                            [_predict_crop(model, *c) for c in REAL_CROPS])

  rows = []
  for index in HELDOUT_SCENES:
    scene = heldout_motion.render_scene(index)
    predicted = tiling.predict_tiled(model, scene["blurry"] / 255.0)
    rows.append((scene["blurry"], visualization.to_uint8(predicted)))
    rows.append((np.full_like(scene["blurry"], 255), scene["sharp"]))
  visualization.save_strips(out / "heldout_examples.png", rows)
  for name in ("synthetic_motion_example", "gopro_flower_prediction",
               "real_photo_predictions", "heldout_examples"):
    print(os.fspath(out / f"{name}.png"))
  return 0


if __name__ == "__main__":
  sys.exit(main())
