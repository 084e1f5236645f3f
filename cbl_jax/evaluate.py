r"""Scores a generator: PSNR/SSIM against ground truth, and reblur consistency.

Three modes, one per run:

  # A built dataset split (TFDS builders in tfds_builders/):
  python -m cbl_jax.evaluate --workdir=workdirs/dvd --dataset=dvd \
      --manual_dir=/data/DVD --output=eval/dvd
  # Real GoPro-style pairs *_blur*.png / *_sharp*.png (middle frame only):
  python -m cbl_jax.evaluate --pairs_dir=../shared/data/real/gopro
  # Any blurry photos, no ground truth: reblur consistency only:
  python -m cbl_jax.evaluate --input=photos/

The numbers (`cbl_jax.evaluation.scoring`): PSNR and SSIM of the predicted
frames as saved in 8 bits, the middle frame first (comparable with
single-image deblurring), then all frames in the better time order and per
frame index, next to the blurry input scored the same way; and reblur
consistency, which needs no ground truth. Table 3 was computed "without
aligning" (reading note 11): the columns comparable with it are the
middle-frame ones, which no choice of order affects.

Reports: markdown on stdout (a summary like the paper's Table 4, per frame
index, and for DVD and GoPro per video like Table 3, grouped by the
examples' `sequence` field), and with --output the same as `report.md`
plus CSV files `summary.csv`, `per_example.csv`, `per_frame.csv` and
`per_sequence.csv`. Large images run through the same tiled inference as
`cbl_jax.predict` (--tile_size, --tile_overlap).
"""

from __future__ import annotations

import contextlib
import pathlib
import sys
from collections.abc import Sequence

from absl import app
from absl import flags
from absl import logging

from cbl_jax import xla_cpu
from cbl_jax.evaluation import report
from cbl_jax.evaluation import scoring
from cbl_jax.inference import cli_flags
from cbl_jax.inference import errors
from cbl_jax.inference import image_io
from cbl_jax.inference import model as model_lib

# Datasets whose `sequence` field names a video: these get Table 3 rows.
_VIDEO_DATASETS = ("gopro", "dvd")

flags.adopt_module_key_flags(cli_flags)
DATASET = flags.DEFINE_enum(
    "dataset", None, scoring.DATASETS, "Evaluate on this dataset's --split.")
BUILDER_CONFIG = flags.DEFINE_string(
    "builder_config", None,
    "Builder config, e.g. all_frames or pairs (gopro), original_videos or "
    "quantitative (dvd), default or tiny (synthetic_motion); default: "
    + ", ".join(f"{k}={v}"
                for k, v in scoring.DEFAULT_BUILDER_CONFIGS.items()) + ".")
SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate.")
DATA_DIR = flags.DEFINE_string("data_dir", None,
                               "TFDS data dir (default: TFDS's).")
MANUAL_DIR = flags.DEFINE_string(
    "manual_dir", None,
    "Where the GoPro/DVD download was unzipped, if the split is not built "
    "yet.")
NUM_EXAMPLES = flags.DEFINE_integer(
    "num_examples", None, "Only N examples of the split, spread evenly over"
    " all its sequences.",
    lower_bound=1)
PAIRS_DIR = flags.DEFINE_string(
    "pairs_dir", None,
    "Folder of real pairs NAME_blur*.png / NAME_sharp*.png (sharp = the "
    "middle frame), e.g. ../shared/data/real/gopro.")


def _score_selected_mode() -> tuple[list[scoring.Score],
                                     list[tuple[pathlib.Path, str]], str,
                                     model_lib.LoadedGenerator]:
  """Runs the mode the flags select: (scores, failures, title, model)."""
  tiles = cli_flags.tile_options()
  if DATASET.value:
    config = scoring.data_config(DATASET.value, BUILDER_CONFIG.value,
                                 SPLIT.value, DATA_DIR.value,
                                 MANUAL_DIR.value, NUM_EXAMPLES.value)
    model = cli_flags.load_model()
    title = (f"Evaluation of {config.name}/{config.builder_config},"
             f" split {config.eval_split}")
    return scoring.evaluate_dataset(model, config, tiles), [], title, model
  if PAIRS_DIR.value:
    # Fail on a bad folder before loading the model.
    scoring.find_pairs(PAIRS_DIR.value)
    model = cli_flags.load_model()
    scores, failed = scoring.evaluate_pairs(model, PAIRS_DIR.value, tiles)
    return (scores, failed, f"Evaluation on the pairs of {PAIRS_DIR.value}",
            model)
  paths = image_io.list_images(cli_flags.INPUT.value)
  model = cli_flags.load_model()
  scores, failed = scoring.evaluate_images(model, paths, tiles)
  return (scores, failed, f"Reblur consistency of {cli_flags.INPUT.value}",
          model)


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  xla_cpu.use_tuned_flags()  # Before JAX starts its backends.
  modes = [name for name, value in (("--dataset", DATASET.value),
                                    ("--pairs_dir", PAIRS_DIR.value),
                                    ("--input", cli_flags.INPUT.value))
           if value]
  if len(modes) != 1:
    print("evaluate: give exactly one of --dataset, --pairs_dir or --input"
          + (f" (got {', '.join(modes)})." if modes else "."),
          file=sys.stderr)
    return 1
  try:
    # TFDS prints progress to stdout when it builds a split; stdout is for
    # the report alone, so that it can be redirected to a file.
    with contextlib.redirect_stdout(sys.stderr):
      scores, failed, title, model = _score_selected_mode()
  except (ValueError, FileNotFoundError) as e:
    print(f"evaluate: {errors.one_line(e)}", file=sys.stderr)
    return 1
  if not scores:
    print("evaluate: nothing could be scored; " + ", ".join(
        f"{p.name} ({r})" for p, r in failed), file=sys.stderr)
    return 1
  markdown = report.markdown_report(
      scores, title, model.source, failed,
      video_rows=DATASET.value in _VIDEO_DATASETS or bool(PAIRS_DIR.value))
  print(markdown)
  if cli_flags.OUTPUT.value:
    report.write_report(cli_flags.OUTPUT.value, markdown,
                        report.csv_tables(scores))
    logging.info("Wrote the report to %s.", cli_flags.OUTPUT.value)
  if failed:
    print(f"evaluate: {len(failed)} input(s) failed: " + ", ".join(
        f"{p.name} ({r})" for p, r in failed), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
