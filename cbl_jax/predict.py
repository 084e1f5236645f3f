r"""One blurry photo in, a short sharp video out.

  python -m cbl_jax.predict --input=photo.jpg --output=out/
  python -m cbl_jax.predict --workdir=workdirs/gopro --input=photos/ \
      --output=out/ --levels=2

For every input image `<stem>` this writes `out/<stem>/`:

* `frame_0.png` ... `frame_6.png`: the 7 frames at the input's size
  (zero-padded numbers when there are more than 10, e.g. with --levels);
* `sequence.gif` and `sequence.mp4`: the frames as a looping animation and
  as an H.264 video that browsers play (padded to even sizes if the input
  has an odd side; the PNGs are not);
* `strip.png`: input | frames side by side.

The model is the shipped weights, or the one --workdir or --checkpoint
names. Images larger than --tile_size run in overlapping tiles (see
`cbl_jax.inference.tiling`), so a 4000x3000 photo needs no more memory than
a tile. --levels=N > 1 recursively re-deblurs averages of adjacent frames
(Section 4.6.2; exact procedure and frame count in
`cbl_jax.inference.interpolation`: 7, 42, 287 frames for N = 1, 2, 3).

Inputs can be PNG, JPEG, BMP, TIFF, WebP or GIF, grayscale or colour, 8 or
16 bits; EXIF orientation is applied and transparent pixels are composited
over white (`cbl_jax.inference.image_io.read_image`). Outputs are RGB.

A folder is processed image by image with a progress bar. A file that
fails is reported by name and the others still run; the exit code is 1 if
any failed. Each output folder appears only when complete.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import sys
from collections.abc import Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tqdm

from cbl_jax import xla_cpu
from cbl_jax.inference import cli_flags
from cbl_jax.inference import errors
from cbl_jax.inference import image_io
from cbl_jax.inference import interpolation
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling

flags.adopt_module_key_flags(cli_flags)
LEVELS = flags.DEFINE_integer(
    "levels", 1,
    "Recursive interpolation levels (Section 4.6.2): 1 gives the 7 frames; "
    "each further level re-deblurs the average of every adjacent pair, "
    "giving 7 * (N - 1) frames from N (42 at level 2, 287 at level 3).",
    lower_bound=1, upper_bound=3)
FPS = flags.DEFINE_float("fps", 7.0, "Frame rate of the GIF and the MP4.",
                         lower_bound=0.1)


def predict_image(model: model_lib.LoadedGenerator, image: np.ndarray,
                  levels: int = 1,
                  tiles: tiling.TileOptions = tiling.TileOptions(),
                  ) -> np.ndarray:
  """The frames of one image, tiled as needed, with optional interpolation.

  Args:
    model: the generator.
    image: (H, W, 3) float RGB in [0, 1].
    levels: interpolation levels; 1 is the plain prediction.
    tiles: tiling of large images.

  Returns:
    (N, H, W, 3) float32 frames in [0, 1], N =
    `interpolation.num_frames_at_level(levels)`.
  """
  predict_fn = functools.partial(tiling.predict_tiled, model, options=tiles)
  return interpolation.interpolate(predict_fn, image, levels)


def predict_file(model: model_lib.LoadedGenerator, path: pathlib.Path,
                 folder: pathlib.Path, levels: int = 1,
                 tiles: tiling.TileOptions = tiling.TileOptions(),
                 fps: float = 7.0) -> list[str]:
  """Predicts one image file and writes its outputs folder atomically.

  Args:
    model: the generator.
    path: the image file.
    folder: the output folder to create (replaced if it exists).
    levels: interpolation levels.
    tiles: tiling of large images.
    fps: frame rate of the GIF and MP4.

  Returns:
    Notes for the user about the outputs.
  """
  image = image_io.read_image(path)
  frames = predict_image(model, image, levels, tiles)
  with image_io.atomic_dir(folder) as tmp:
    return image_io.write_sequence(tmp, image, frames, fps=fps)


@dataclasses.dataclass
class RunResult:
  """What a run over several inputs did.

  Attributes:
    written: output folders, one per successful input.
    failed: (input, one-line reason) per failed input.
  """

  written: list[pathlib.Path] = dataclasses.field(default_factory=list)
  failed: list[tuple[pathlib.Path, str]] = dataclasses.field(
      default_factory=list)


def predict_paths(model: model_lib.LoadedGenerator,
                  paths: Sequence[pathlib.Path], output: pathlib.Path,
                  levels: int = 1,
                  tiles: tiling.TileOptions = tiling.TileOptions(),
                  fps: float = 7.0) -> RunResult:
  """Predicts every input, carrying on past failures.

  Args:
    model: the generator.
    paths: image files.
    output: folder that receives one subfolder per input.
    levels: interpolation levels.
    tiles: tiling of large images.
    fps: frame rate of the GIF and MP4.

  Returns:
    The folders written and the inputs that failed, with reasons.
  """
  result = RunResult()
  names = image_io.output_names(paths)
  bar = tqdm.tqdm(list(zip(paths, names)), desc="predict", unit="image",
                  disable=len(paths) < 2, file=sys.stderr)
  for path, name in bar:
    folder = output / name
    try:
      notes = predict_file(model, path, folder, levels, tiles, fps)
    except Exception as e:  # pylint: disable=broad-except
      # One unreadable or odd file must not cost the user the others.
      reason = errors.one_line(e)
      if str(path) not in reason:
        reason = f"{path}: {reason}"
      result.failed.append((path, reason))
      if len(paths) > 1:  # A single input's failure is the summary itself.
        tqdm.tqdm.write(f"FAILED {reason}", file=sys.stderr)
      continue
    for note in notes:
      logging.info("%s: %s", folder, note)
    result.written.append(folder)
  return result


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  xla_cpu.use_tuned_flags()  # Before JAX starts its backends.
  if not cli_flags.INPUT.value or not cli_flags.OUTPUT.value:
    print("predict: give --input=IMAGE_OR_FOLDER and --output=FOLDER.",
          file=sys.stderr)
    return 1
  try:
    paths = image_io.list_images(cli_flags.INPUT.value)
    tiles = cli_flags.tile_options()
    model = cli_flags.load_model()
  except (ValueError, FileNotFoundError) as e:
    print(f"predict: {errors.one_line(e)}", file=sys.stderr)
    return 1
  logging.info("Generator: %s", model.source)
  output = pathlib.Path(cli_flags.OUTPUT.value)
  result = predict_paths(model, paths, output, levels=LEVELS.value,
                         tiles=tiles, fps=FPS.value)
  frames = interpolation.num_frames_at_level(LEVELS.value, model.num_frames)
  summary = (f"predict: {len(result.written)} of {len(paths)} image(s) ->"
             f" {frames} frames each in {output}")
  if len(paths) == 1 and result.failed:
    print(f"predict: {result.failed[0][1]}", file=sys.stderr)
    return 1
  if result.failed:
    names = ", ".join(p.name for p, _ in result.failed)
    print(f"{summary}; {len(result.failed)} failed (reasons above): {names}",
          file=sys.stderr)
    return 1
  print(summary)
  return 0


def run():
  """Console-script entry point."""
  app.run(main)


if __name__ == "__main__":
  run()
