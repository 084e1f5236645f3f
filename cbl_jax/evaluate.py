r"""Scores a generator: PSNR/SSIM against ground truth, and reblur consistency.

Three modes, one per run:

  # A built dataset split (TFDS builders in tfds_builders/):
  python -m cbl_jax.evaluate --workdir=workdirs/dvd --dataset=dvd \
      --manual_dir=/data/DVD --output=eval/dvd
  # Real GoPro-style pairs *_blur*.png / *_sharp*.png (middle frame only):
  python -m cbl_jax.evaluate --pairs_dir=../shared/data/real/gopro
  # Any blurry photos, no ground truth: reblur consistency only:
  python -m cbl_jax.evaluate --input=photos/

Numbers, all on images in [0, 1] (`cbl_jax.evaluation.metrics`):

* PSNR and SSIM over all frames, of the middle frame and per frame index,
  each example scored in the better of forward and reversed time order
  (a blurry image does not say which way time ran; the middle frame does
  not depend on the order). Data with middle-frame ground truth only (GoPro
  `pairs`, DVD `quantitative`, --pairs_dir) is scored on the middle
  predicted frame.
* The blurry-input baseline ("Input" row, the paper's Table 3 "INPUT"): the
  input image scored as if it were every frame.
* Table 3 was computed "without aligning" (reading note 11): the columns
  comparable with it are the middle-frame ones, which no choice of order
  affects.
* Reblur consistency, which needs no ground truth: the predicted frames are
  blurred again by Eq. 2 (their mean; linear camera response, as GoPro's
  `blur` images) and compared with the input. It checks that the frames
  add up to the photo, not that they are sharp: returning the input seven
  times would score perfectly. `motion`, the mean absolute difference
  between the first and last frame in 8-bit levels, shows whether the
  frames differ at all.

Reports: markdown on stdout (a summary like the paper's Table 4, per frame
index, and for DVD and GoPro per video like Table 3, grouped by the
examples' `sequence` field), and with --output the same as `report.md`
plus CSV files `summary.csv`, `per_example.csv`, `per_frame.csv` and
`per_sequence.csv`. Large images run through the same tiled inference as
`cbl_jax.predict` (--tile_size, --tile_overlap).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import pathlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from cbl_jax.data import pipeline
from cbl_jax.evaluation import metrics
from cbl_jax import xla_cpu
from cbl_jax.inference import cli_flags
from cbl_jax.inference import image_io
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling

DATASETS = ("gopro", "dvd", "synthetic_motion")
DEFAULT_BUILDER_CONFIGS = {"gopro": "all_frames", "dvd": "original_videos",
                           "synthetic_motion": "default"}
# Datasets whose `sequence` field names a video: these get Table 3 rows.
_VIDEO_DATASETS = ("gopro", "dvd")

flags.adopt_module_key_flags(cli_flags)
DATASET = flags.DEFINE_enum(
    "dataset", None, DATASETS, "Evaluate on this dataset's --split.")
BUILDER_CONFIG = flags.DEFINE_string(
    "builder_config", None,
    "Builder config, e.g. all_frames or pairs (gopro), original_videos or "
    "quantitative (dvd), default or tiny (synthetic_motion); default: "
    + ", ".join(f"{k}={v}" for k, v in DEFAULT_BUILDER_CONFIGS.items()) + ".")
SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate.")
DATA_DIR = flags.DEFINE_string("data_dir", None,
                               "TFDS data dir (default: TFDS's).")
MANUAL_DIR = flags.DEFINE_string(
    "manual_dir", None,
    "Where the GoPro/DVD download was unzipped, if the split is not built "
    "yet.")
NUM_EXAMPLES = flags.DEFINE_integer(
    "num_examples", None, "Only the first N examples of the split.",
    lower_bound=1)
PAIRS_DIR = flags.DEFINE_string(
    "pairs_dir", None,
    "Folder of real pairs NAME_blur*.png / NAME_sharp*.png (sharp = the "
    "middle frame), e.g. ../shared/data/real/gopro.")


@dataclasses.dataclass
class Score:
  """The numbers of one example.

  Attributes:
    name: the example (file name, or sequence and index).
    sequence: the group it belongs to (video, or the file's stem).
    size: (height, width).
    psnr: (T,) per frame against the ground truth, in the chosen order; None
      without ground truth. T = 1 for middle-frame ground truth.
    ssim: (T,) likewise.
    input_psnr: (T,) of the blurry input against the ground truth.
    input_ssim: (T,) likewise.
    reversed: the reversed order scored better.
    reblur_psnr: PSNR of the mean of the predicted frames against the input.
    reblur_ssim: SSIM of the same.
    motion: mean |first frame - last frame| in 8-bit levels.
  """

  name: str
  sequence: str
  size: tuple[int, int]
  psnr: np.ndarray | None
  ssim: np.ndarray | None
  input_psnr: np.ndarray | None
  input_ssim: np.ndarray | None
  reversed: bool | None
  reblur_psnr: float
  reblur_ssim: float
  motion: float


def _metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
  out = metrics.sequence_metrics(jnp.asarray(pred[None]),
                                 jnp.asarray(target[None]))
  return {k: np.asarray(v)[0] for k, v in out.items()}


def score_example(model: model_lib.LoadedGenerator, blurry: np.ndarray,
                  sharp: np.ndarray | None, name: str, sequence: str,
                  tiles: tiling.TileOptions = tiling.TileOptions()) -> Score:
  """Predicts one blurry image and scores the frames.

  Args:
    model: the generator.
    blurry: (H, W, 3) float in [0, 1].
    sharp: (T, H, W, 3) float ground truth in [0, 1]: all T frames, or
      T = 1 for the middle frame only; None for reblur consistency only.
    name: the example's name.
    sequence: its group.
    tiles: tiling of large images.

  Returns:
    The example's numbers.
  """
  frames = tiling.predict_tiled(model, blurry, tiles)
  psnr = ssim = input_psnr = input_ssim = reversed_ = None
  if sharp is not None:
    if sharp.shape[1:] != blurry.shape:
      raise ValueError(
          f"{name}: ground truth {sharp.shape[1:3]} and input"
          f" {blurry.shape[:2]} differ in size.")
    if sharp.shape[0] == 1:
      pred = frames[len(frames) // 2][None]
    elif sharp.shape[0] == len(frames):
      pred = frames
    else:
      raise ValueError(
          f"{name}: {sharp.shape[0]} ground-truth frames, but the generator"
          f" predicts {len(frames)}.")
    model_scores = _metrics(pred, sharp)
    input_scores = _metrics(np.broadcast_to(blurry, sharp.shape), sharp)
    psnr, ssim = model_scores["psnr"], model_scores["ssim"]
    input_psnr, input_ssim = input_scores["psnr"], input_scores["ssim"]
    reversed_ = bool(model_scores["reversed"]) if sharp.shape[0] > 1 else None
  reblur = metrics.reblur_consistency(frames, blurry)
  return Score(
      name=name, sequence=sequence, size=blurry.shape[:2], psnr=psnr,
      ssim=ssim, input_psnr=input_psnr, input_ssim=input_ssim,
      reversed=reversed_, reblur_psnr=reblur["psnr"],
      reblur_ssim=reblur["ssim"], motion=reblur["motion"])


def data_config(dataset: str, builder_config: str | None = None,
                split: str = "test", data_dir: str | None = None,
                manual_dir: str | None = None,
                num_examples: int | None = None,
                ) -> ml_collections.ConfigDict:
  """The `config.data` that `cbl_jax.data.pipeline` reads, for one split.

  Args:
    dataset: 'gopro', 'dvd' or 'synthetic_motion'.
    builder_config: builder config name; None for the dataset's default.
    split: the split to evaluate.
    data_dir: TFDS data dir.
    manual_dir: the manual download.
    num_examples: first N examples only; None for all.

  Returns:
    The data config, full frames.
  """
  if dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}.")
  return ml_collections.ConfigDict(dict(
      name=dataset,
      builder_config=builder_config or DEFAULT_BUILDER_CONFIGS[dataset],
      data_dir=data_dir, manual_dir=manual_dir, train_split="train",
      eval_split=split, eval_crop_size=None, num_eval_examples=num_examples,
      worker_count=0))


def evaluate_dataset(model: model_lib.LoadedGenerator,
                     config: ml_collections.ConfigDict,
                     tiles: tiling.TileOptions = tiling.TileOptions(),
                     ) -> list[Score]:
  """Scores every example of a dataset split.

  Args:
    model: the generator.
    config: a data config (see `data_config`).
    tiles: tiling of large images.

  Returns:
    One score per example, in the split's order.
  """
  batches = pipeline.create_eval_dataset(config, batch_size=1)
  scores = []
  counts: dict[str, int] = {}
  for batch in tqdm.tqdm(batches, desc="evaluate", unit="example",
                         total=config.num_eval_examples, file=sys.stderr):
    sequence = str(batch["sequence"][0])
    index = counts.get(sequence, 0)
    counts[sequence] = index + 1
    scores.append(score_example(
        model, batch["blurry"][0].astype(np.float32) / 255.0,
        batch["sharp"][0].astype(np.float32) / 255.0,
        name=f"{sequence}#{index}", sequence=sequence, tiles=tiles))
  return scores


def find_pairs(folder: str | pathlib.Path,
               ) -> tuple[list[tuple[pathlib.Path, pathlib.Path]],
                          list[tuple[pathlib.Path, str]]]:
  """GoPro-style pairs: `NAME_blur<k>.<ext>` with `NAME_sharp<k>.<ext>`.

  Args:
    folder: the folder to search (not recursively).

  Returns:
    ((blur, sharp) pairs sorted by name, (blur file, reason) for blur
    files without a sharp partner).

  Raises:
    FileNotFoundError: no such folder.
    ValueError: no `*_blur*` images in it.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise FileNotFoundError(f"Pairs folder {folder} does not exist.")
  blurs = sorted(p for p in folder.iterdir()
                 if "_blur" in p.stem
                 and p.suffix.lower() in image_io.IMAGE_SUFFIXES)
  if not blurs:
    raise ValueError(f"No *_blur* images in {folder}.")
  pairs, missing = [], []
  for blur in blurs:
    head, _, tail = blur.name.rpartition("_blur")
    sharp = blur.with_name(f"{head}_sharp{tail}")
    if sharp.is_file():
      pairs.append((blur, sharp))
    else:
      missing.append((blur, f"no {sharp.name} next to it"))
  return pairs, missing


def _run_files(items: Sequence[Any], score_fn, desc: str,
               ) -> tuple[list[Score], list[tuple[pathlib.Path, str]]]:
  """Scores files one by one, carrying on past failures."""
  scores, failed = [], []
  for item in tqdm.tqdm(items, desc=desc, unit="image",
                        disable=len(items) < 2, file=sys.stderr):
    path = item[0] if isinstance(item, tuple) else item
    try:
      scores.append(score_fn(item))
    except Exception as e:  # pylint: disable=broad-except
      # One bad file must not cost the user the others.
      failed.append((path, cli_flags.one_line(e)))
      tqdm.tqdm.write(f"FAILED {path}: {failed[-1][1]}", file=sys.stderr)
  return scores, failed


def evaluate_pairs(model: model_lib.LoadedGenerator,
                   folder: str | pathlib.Path,
                   tiles: tiling.TileOptions = tiling.TileOptions(),
                   ) -> tuple[list[Score], list[tuple[pathlib.Path, str]]]:
  """Scores the middle predicted frame of real blur/sharp pairs.

  Args:
    model: the generator.
    folder: see `find_pairs`.
    tiles: tiling of large images.

  Returns:
    (scores, failures with one-line reasons).
  """
  pairs, missing = find_pairs(folder)

  def score(pair):
    blur, sharp = pair
    return score_example(
        model, image_io.read_image(blur), image_io.read_image(sharp)[None],
        name=blur.name, sequence=blur.name.rpartition("_blur")[0],
        tiles=tiles)

  scores, failed = _run_files(pairs, score, "evaluate")
  return scores, missing + failed


def evaluate_images(model: model_lib.LoadedGenerator,
                    paths: Sequence[pathlib.Path],
                    tiles: tiling.TileOptions = tiling.TileOptions(),
                    ) -> tuple[list[Score], list[tuple[pathlib.Path, str]]]:
  """Reblur consistency of photos without ground truth.

  Args:
    model: the generator.
    paths: image files.
    tiles: tiling of large images.

  Returns:
    (scores, failures with one-line reasons).
  """
  def score(path):
    return score_example(model, image_io.read_image(path), None,
                         name=path.name, sequence=path.stem, tiles=tiles)

  return _run_files(list(paths), score, "evaluate")


# --- Reports. ---


def _has_truth(scores: Sequence[Score]) -> bool:
  return bool(scores) and scores[0].psnr is not None


def summary(scores: Sequence[Score]) -> dict[str, float]:
  """Mean numbers over examples (`metrics.summarize` keys and more).

  Args:
    scores: per-example scores, all with or all without ground truth.

  Returns:
    `psnr`, `ssim`, `psnr_middle`, ..., `psnr_frame{t}` (model),
    the same with prefix `input_` (blurry baseline) when there is ground
    truth, and `reblur_psnr`, `reblur_ssim`, `motion`, `examples`.
  """
  out: dict[str, float] = {"examples": float(len(scores))}
  if not scores:
    return out
  if _has_truth(scores):
    out.update(metrics.summarize(
        {"psnr": np.stack([s.psnr for s in scores]),
         "ssim": np.stack([s.ssim for s in scores])}))
    out.update(metrics.summarize(
        {"psnr": np.stack([s.input_psnr for s in scores]),
         "ssim": np.stack([s.input_ssim for s in scores])}, prefix="input_"))
  for key in ("reblur_psnr", "reblur_ssim", "motion"):
    out[key] = float(np.mean([getattr(s, key) for s in scores]))
  return out


def per_sequence(scores: Sequence[Score]) -> list[dict[str, Any]]:
  """Mean numbers per `sequence`, in order of first appearance (Table 3).

  Args:
    scores: per-example scores.

  Returns:
    One row per sequence: `sequence`, `examples` and the `summary` keys
    without the per-frame ones.
  """
  groups: dict[str, list[Score]] = {}
  for score in scores:
    groups.setdefault(score.sequence, []).append(score)
  rows = []
  for sequence, members in groups.items():
    numbers = summary(members)
    row = {"sequence": sequence, "examples": len(members)}
    row.update({k: v for k, v in numbers.items()
                if "_frame" not in k and k != "examples"})
    rows.append(row)
  return rows


def _fmt(value: Any, key: str = "") -> str:
  if isinstance(value, float):
    return f"{value:.4f}" if "ssim" in key else f"{value:.2f}"
  return str(value)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def markdown_report(scores: Sequence[Score], title: str, model_source: str,
                    failed: Sequence[tuple[pathlib.Path, str]] = (),
                    video_rows: bool = False) -> str:
  """The report as markdown.

  Args:
    scores: per-example scores.
    title: what was evaluated.
    model_source: where the generator came from.
    failed: inputs that could not be scored, with reasons.
    video_rows: add the per-sequence table (Table 3 layout, one row per
      video).

  Returns:
    Markdown text.
  """
  numbers = summary(scores)
  parts = [f"# {title}", "",
           f"Generator: `{model_source}`. Examples: {len(scores)}."]
  if _has_truth(scores):
    frames = len(scores[0].psnr)
    if frames == 1:
      parts.append("Ground truth: the middle frame only; the middle"
                   " predicted frame is scored.")
    else:
      reversed_count = sum(bool(s.reversed) for s in scores)
      parts.append(
          f"All {frames} frames scored, each example in the better of"
          f" forward and reversed order ({reversed_count} of {len(scores)}"
          " reversed); the middle frame does not depend on the order.")
    parts += ["", "## Summary (Table 4)", ""]
    header = ["", "PSNR", "SSIM"]
    keys = ["psnr", "ssim"]
    if frames > 1:
      header += ["PSNR (middle)", "SSIM (middle)"]
      keys += ["psnr_middle", "ssim_middle"]
    parts.append(_md_table(header, [
        ["Input (blurry)"] + [_fmt(numbers["input_" + k], k) for k in keys],
        ["Model"] + [_fmt(numbers[k], k) for k in keys],
    ]))
    if frames > 1:
      parts += ["", "## Per frame index", ""]
      parts.append(_md_table(
          ["frame", "PSNR", "SSIM", "input PSNR", "input SSIM"],
          [[t] + [_fmt(numbers[f"{p}{m}_frame{t}"], m)
                  for p, m in (("", "psnr"), ("", "ssim"),
                               ("input_", "psnr"), ("input_", "ssim"))]
           for t in range(frames)]))
    if video_rows:
      parts += ["", "## Per video (Table 3)", ""]
      middle = "" if frames == 1 else " (middle)"
      header = ["video", "examples", f"input PSNR{middle}",
                f"PSNR{middle}"]
      keys = (["input_psnr", "psnr"] if frames == 1 else
              ["input_psnr_middle", "psnr_middle"])
      if frames > 1:
        header += ["PSNR (all)", "SSIM (all)"]
        keys += ["psnr", "ssim"]
      header.append("reblur PSNR")
      keys.append("reblur_psnr")
      parts.append(_md_table(header, [
          [row["sequence"], row["examples"]] + [_fmt(row[k], k) for k in keys]
          for row in per_sequence(scores)]))
    parts += ["", f"Reblur consistency (mean of the predicted frames vs the"
              f" input): PSNR {_fmt(numbers['reblur_psnr'])} dB, SSIM"
              f" {_fmt(numbers['reblur_ssim'], 'ssim')}; motion (first vs"
              f" last frame) {_fmt(numbers['motion'])} levels."]
  elif scores:
    parts += ["", "## Reblur consistency", "",
              "The mean of the predicted frames (Eq. 2, linear) against the"
              " input. High PSNR says the frames add up to the photo, not"
              " that they are sharp; `motion` (mean |first - last frame|,"
              " 8-bit levels) shows whether the frames differ at all.", ""]
    rows = [[s.name, f"{s.size[1]}x{s.size[0]}", _fmt(s.reblur_psnr),
             _fmt(s.reblur_ssim, "ssim"), _fmt(s.motion)] for s in scores]
    rows.append(["**mean**", "", _fmt(numbers["reblur_psnr"]),
                 _fmt(numbers["reblur_ssim"], "ssim"),
                 _fmt(numbers["motion"])])
    parts.append(_md_table(
        ["image", "size", "reblur PSNR", "reblur SSIM", "motion"], rows))
  if failed:
    parts += ["", f"## Failed ({len(failed)})", ""]
    parts += [f"- `{path}`: {reason}" for path, reason in failed]
  return "\n".join(parts) + "\n"


def _csv(header: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(header),
                          lineterminator="\n", extrasaction="ignore")
  writer.writeheader()
  for row in rows:
    writer.writerow(row)
  return buffer.getvalue()


def csv_tables(scores: Sequence[Score]) -> dict[str, str]:
  """The report as CSV files: name -> contents.

  Args:
    scores: per-example scores.

  Returns:
    `summary.csv` (metric, value) and `per_example.csv` always;
    `per_frame.csv` and `per_sequence.csv` with ground truth.
  """
  numbers = summary(scores)
  tables = {"summary.csv": _csv(
      ["metric", "value"],
      [{"metric": k, "value": v} for k, v in numbers.items()])}
  truth = _has_truth(scores)
  example_rows = []
  frames = len(scores[0].psnr) if truth else 0
  for s in scores:
    row = {"name": s.name, "sequence": s.sequence, "height": s.size[0],
           "width": s.size[1], "reblur_psnr": s.reblur_psnr,
           "reblur_ssim": s.reblur_ssim, "motion": s.motion}
    if truth:
      row.update(reversed=s.reversed, psnr=float(np.mean(s.psnr)),
                 ssim=float(np.mean(s.ssim)),
                 psnr_middle=float(s.psnr[frames // 2]),
                 input_psnr=float(np.mean(s.input_psnr)))
      row.update({f"psnr_frame{t}": float(v) for t, v in enumerate(s.psnr)})
    example_rows.append(row)
  header = ["name", "sequence", "height", "width"]
  if truth:
    header += ["reversed", "psnr", "ssim", "psnr_middle", "input_psnr"]
    header += [f"psnr_frame{t}" for t in range(frames)]
  header += ["reblur_psnr", "reblur_ssim", "motion"]
  tables["per_example.csv"] = _csv(header, example_rows)
  if truth:
    tables["per_frame.csv"] = _csv(
        ["frame", "psnr", "ssim", "input_psnr", "input_ssim"],
        [{"frame": t, "psnr": numbers[f"psnr_frame{t}"],
          "ssim": numbers[f"ssim_frame{t}"],
          "input_psnr": numbers[f"input_psnr_frame{t}"],
          "input_ssim": numbers[f"input_ssim_frame{t}"]}
         for t in range(frames)])
    rows = per_sequence(scores)
    tables["per_sequence.csv"] = _csv(list(rows[0]), rows)
  return tables


def write_report(folder: str | pathlib.Path, markdown: str,
                 tables: Mapping[str, str]) -> None:
  """Writes `report.md` and the CSV files into `folder`.

  Each file is written under a temporary name and renamed, so none is ever
  half-written; other files in `folder` are left alone.

  Args:
    folder: the output folder, created if needed.
    markdown: the report.
    tables: CSV file name -> contents.
  """
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  for name, text in {"report.md": markdown, **tables}.items():
    tmp = folder / f".{name}.tmp"
    tmp.write_text(text)
    tmp.replace(folder / name)


def _score_selected_mode() -> tuple[list[Score],
                                     list[tuple[pathlib.Path, str]], str,
                                     model_lib.LoadedGenerator]:
  """Runs the mode the flags select: (scores, failures, title, model)."""
  tiles = cli_flags.tile_options()
  if DATASET.value:
    config = data_config(DATASET.value, BUILDER_CONFIG.value, SPLIT.value,
                         DATA_DIR.value, MANUAL_DIR.value, NUM_EXAMPLES.value)
    model = cli_flags.load_model()
    title = (f"Evaluation of {config.name}/{config.builder_config},"
             f" split {config.eval_split}")
    return evaluate_dataset(model, config, tiles), [], title, model
  if PAIRS_DIR.value:
    find_pairs(PAIRS_DIR.value)  # Fail on a bad folder before loading.
    model = cli_flags.load_model()
    scores, failed = evaluate_pairs(model, PAIRS_DIR.value, tiles)
    return (scores, failed, f"Evaluation on the pairs of {PAIRS_DIR.value}",
            model)
  paths = image_io.list_images(cli_flags.INPUT.value)
  model = cli_flags.load_model()
  scores, failed = evaluate_images(model, paths, tiles)
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
    print(f"evaluate: {cli_flags.one_line(e)}", file=sys.stderr)
    return 1
  if not scores:
    print("evaluate: nothing could be scored; " + ", ".join(
        f"{p.name} ({r})" for p, r in failed), file=sys.stderr)
    return 1
  markdown = markdown_report(
      scores, title, model.source, failed,
      video_rows=DATASET.value in _VIDEO_DATASETS or bool(PAIRS_DIR.value))
  print(markdown)
  if cli_flags.OUTPUT.value:
    write_report(cli_flags.OUTPUT.value, markdown, csv_tables(scores))
    logging.info("Wrote the report to %s.", cli_flags.OUTPUT.value)
  if failed:
    print(f"evaluate: {len(failed)} input(s) failed: " + ", ".join(
        f"{p.name} ({r})" for p, r in failed), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
