"""Tests for the evaluation reports: headline, per video, CSV files."""

import numpy as np
import pytest

from cbl_jax.evaluation import report
from cbl_jax.evaluation import scoring


def _score(sequence, psnr, frames=7):
  values = np.full(frames, psnr, np.float32)
  return scoring.Score(
      name=f"{sequence}#0", sequence=sequence, size=(4, 4), psnr=values,
      ssim=values / 100, input_psnr=values - 3, input_ssim=values / 200,
      reversed=False if frames > 1 else None, reblur_psnr=40.0,
      reblur_ssim=0.99, motion=2.0)


def test_per_video_rows_like_table3():
  scores = [_score("IMG_0003", 30), _score("IMG_0021", 24),
            _score("IMG_0003", 32)]
  rows = report.per_sequence(scores)
  assert [(r["sequence"], r["examples"]) for r in rows] == [
      ("IMG_0003", 2), ("IMG_0021", 1)]
  assert rows[0]["psnr_middle"] == pytest.approx(31)
  assert rows[0]["input_psnr_middle"] == pytest.approx(28)
  markdown = report.markdown_report(scores, "DVD", "model",
                                    video_rows=True)
  assert "| IMG_0003 | 2 | 28.00 | 31.00 | 31.00 |" in markdown
  assert "| Model | 28.67 |" in markdown
  # Middle-frame ground truth (DVD `quantitative`): no per-frame table.
  single = [_score("IMG_0003", 30, frames=1)]
  markdown = report.markdown_report(single, "DVD", "model",
                                    video_rows=True)
  assert "Per frame index" not in markdown and "middle frame only" in markdown
  assert set(report.csv_tables(single)) == {
      "summary.csv", "per_example.csv", "per_frame.csv", "per_sequence.csv"}


def test_middle_frame_is_the_headline():
  scores = [_score("a", 30), _score("b", 20)]
  scores[0].psnr = np.array([20, 20, 20, 35, 20, 20, 20], np.float32)
  markdown = report.markdown_report(scores, "set", "model")
  lines = markdown.splitlines()
  header = next(line for line in lines if "PSNR, middle frame" in line)
  assert header.index("PSNR, middle frame") < header.index("PSNR, all frames")
  # Middle: (35 + 20) / 2; all frames: (155 / 7 + 20) / 2.
  assert "| Model | 27.50 |" in markdown
  assert "| 21.07 |" in markdown
  assert "8 bits" in markdown
