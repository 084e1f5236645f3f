"""Evaluation reports: markdown tables like the paper's, and CSV files.

The summary puts the middle frame first: it is the number comparable with
single-image deblurring (one sharp image per blurry one, no choice of
order). The all-frame number, each example in the better of the two time
orders, is the video task's (the paper's Table 4). Per frame index and, for
videos, per sequence (Table 3) follow.
"""

from __future__ import annotations

import csv
import io
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cbl_jax.evaluation import metrics
from cbl_jax.evaluation.scoring import Score


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
    parts += ["", "## Summary (Table 4)", "",
              "Predicted frames are scored as saved in 8 bits. The middle"
              " frame is the number comparable with single-image"
              " deblurring.", ""]
    if frames > 1:
      header = ["", "PSNR, middle frame", "SSIM, middle frame",
                "PSNR, all frames", "SSIM, all frames"]
      keys = ["psnr_middle", "ssim_middle", "psnr", "ssim"]
    else:
      header = ["", "PSNR, middle frame", "SSIM, middle frame"]
      keys = ["psnr", "ssim"]
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
