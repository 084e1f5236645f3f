"""Scoring a generator on data: PSNR/SSIM against ground truth, and reblur.

Used by `python -m cbl_jax.evaluate` (the command line) and by anything else
that scores a loaded generator: a dataset split, real blur/sharp pairs, or
photos without ground truth.

Numbers, on the predicted frames as saved in 8 bits (`metrics.quantize`):

* PSNR and SSIM over all frames, of the middle frame and per frame index,
  each example scored in the better of forward and reversed time order
  (a blurry image does not say which way time ran; the middle frame does
  not depend on the order). Data with middle-frame ground truth only (GoPro
  `pairs`, DVD `quantitative`, real pairs) is scored on the middle predicted
  frame.
* The blurry-input baseline (the paper's Table 3 "INPUT"): the input image
  scored as if it were every frame.
* Reblur consistency, which needs no ground truth: the predicted frames are
  blurred again by Eq. 2 (their mean; linear camera response, as GoPro's
  `blur` images) and compared with the input. It checks that the frames
  add up to the photo, not that they are sharp: returning the input seven
  times would score perfectly. `motion`, the mean absolute difference
  between the first and last frame in 8-bit levels, shows whether the
  frames differ at all.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from cbl_jax.data import pipeline
from cbl_jax.evaluation import metrics
from cbl_jax.inference import errors
from cbl_jax.inference import image_io
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling

DATASETS = ("gopro", "dvd", "synthetic_motion")
DEFAULT_BUILDER_CONFIGS = {"gopro": "all_frames", "dvd": "original_videos",
                           "synthetic_motion": "default"}


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
  # Eq. 2 with a linear response: the blurry image is the frames' mean.
  reblur = _metrics(frames.mean(axis=0)[None], blurry[None])
  return Score(
      name=name, sequence=sequence, size=blurry.shape[:2], psnr=psnr,
      ssim=ssim, input_psnr=input_psnr, input_ssim=input_ssim,
      reversed=reversed_, reblur_psnr=float(reblur["psnr"][0]),
      reblur_ssim=float(reblur["ssim"][0]),
      motion=float(np.mean(np.abs(frames[0] - frames[-1])) * 255.0))


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
    num_examples: N examples spread evenly over all sequences; None for
      all.

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
      failed.append((path, errors.one_line(e)))
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
