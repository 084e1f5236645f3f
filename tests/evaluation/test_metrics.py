"""Tests for the evaluation metrics: 8-bit scoring and the time order."""

import numpy as np
import pytest

from cbl_jax.evaluation import metrics


def _hand_psnr(pred_levels: np.ndarray, target_levels: np.ndarray) -> float:
  mse = np.mean(((pred_levels.astype(np.float64) - target_levels) / 255) ** 2)
  return float(10 * np.log10(1.0 / mse))


def test_psnr_scores_the_saved_8_bit_frames():
  rng = np.random.default_rng(0)
  target_levels = rng.integers(0, 256, size=(1, 3, 8, 8, 3))
  # Predictions off the 8-bit grid, some outside [0, 1].
  pred = target_levels / 255 + rng.normal(0, 0.02, target_levels.shape)
  pred[0, 0, 0, 0] = [-0.3, 1.4, 0.5]
  saved = np.clip(np.round(np.clip(pred, 0, 1) * 255), 0, 255)
  scores = metrics.sequence_metrics(pred.astype(np.float32),
                                    (target_levels / 255).astype(np.float32))
  for t in range(3):
    assert float(scores["psnr"][0, t]) == pytest.approx(
        _hand_psnr(saved[0, t], target_levels[0, t]), abs=1e-3)
  # Not the unquantised number.
  unquantised = 10 * np.log10(1 / np.mean(
      (np.clip(pred[0, 1], 0, 1) - target_levels[0, 1] / 255) ** 2))
  assert abs(float(scores["psnr"][0, 1]) - unquantised) > 1e-3


def test_quantize_rounds_to_levels():
  values = np.array([-0.1, 0.0, 0.4999 / 255, 0.5001 / 255, 0.5, 1.0, 1.2],
                    np.float32)
  np.testing.assert_allclose(np.asarray(metrics.quantize(values)) * 255,
                             [0, 0, 0, 1, 128, 255, 255], atol=1e-4)


def test_reversed_prediction_is_scored_in_the_better_order():
  rng = np.random.default_rng(1)
  target = (rng.integers(0, 256, (2, 7, 8, 8, 3)) / 255).astype(np.float32)
  pred = target.copy()
  pred[1] = target[1, ::-1]
  scores = metrics.sequence_metrics(pred, target)
  np.testing.assert_array_equal(np.asarray(scores["reversed"]), [False, True])
  assert np.all(np.asarray(scores["psnr"]) > 100)  # Exact both times.
  summary = metrics.summarize({"psnr": np.array([[20.0, 30.0, 40.0]]),
                               "ssim": np.array([[0.5, 0.6, 0.7]])})
  assert summary["psnr"] == pytest.approx(30.0)
  assert summary["psnr_middle"] == pytest.approx(30.0)
  assert summary["psnr_frame2"] == pytest.approx(40.0)
