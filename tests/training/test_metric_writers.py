"""The metric writer and progress report: TensorBoard files read back."""

import re
import time

import numpy as np
import pytest

from cbl_jax.training import metric_writers
from tests.training import event_files


def test_scalars_round_trip(tmp_path):
  with metric_writers.create_default_writer(tmp_path) as writer:
    writer.write_scalars(1, {"train/content_loss": np.float32(0.25),
                             "train/stage": 1})
    writer.write_scalars(2, {"train/content_loss": 0.125,
                             "eval/psnr": np.array(31.5),
                             "eval/ssim": np.array([0.75])})
  [path] = event_files.event_paths(tmp_path)
  assert re.fullmatch(r"events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+\.v2",
                      path.rsplit("/", 1)[-1])
  assert event_files.read_events(path)[0].file_version == "brain.Event:2"
  assert event_files.scalars(tmp_path) == {
      "train/content_loss": {1: 0.25, 2: 0.125},
      "train/stage": {1: 1.0},
      "eval/psnr": {2: 31.5},
      "eval/ssim": {2: 0.75},
  }


def test_images_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
  grey = rng.integers(0, 256, (1, 4, 6, 1), dtype=np.uint8)
  floats = np.array([[[[-0.5, 0.0, 0.5, 1.0, 2.0, np.nan]]]]).reshape(
      1, 1, 2, 3)
  with metric_writers.create_default_writer(tmp_path) as writer:
    writer.write_images(3, {"predicted_frames": rgb, "grey": grey,
                            "floats": floats})
    writer.write_images(4, {"true_frames": rgb[0]})  # (H, W, C) alone.
  found = event_files.images(tmp_path)
  assert sorted(found) == ["floats", "grey", "predicted_frames",
                           "true_frames"]
  np.testing.assert_array_equal(np.stack(found["predicted_frames"][3]), rgb)
  np.testing.assert_array_equal(np.stack(found["grey"][3]), grey)
  np.testing.assert_array_equal(found["true_frames"][4][0], rgb[0])
  # Floats in [0, 1], clipped and rounded; NaN becomes 0.
  np.testing.assert_array_equal(found["floats"][3][0].ravel(),
                                [0, 0, 128, 255, 255, 0])


def test_a_crash_loses_nothing_written(tmp_path):
  writer = metric_writers.create_default_writer(tmp_path)
  writer.write_scalars(7, {"train/content_loss": 0.5})
  writer.write_images(7, {"true_frames": np.zeros((1, 2, 2, 3), np.uint8)})
  # Read while the writer is still open: every call is flushed.
  assert event_files.scalars(tmp_path) == {"train/content_loss": {7: 0.5}}
  assert list(event_files.images(tmp_path)) == ["true_frames"]
  writer.close()
  writer.close()  # Idempotent.
  with pytest.raises(ValueError, match="closed"):
    writer.write_scalars(8, {"train/content_loss": 0.5})


def test_two_writers_in_one_folder_write_two_files(tmp_path):
  with metric_writers.MetricWriter(tmp_path) as a, (
      metric_writers.MetricWriter(tmp_path)) as b:
    a.write_scalars(1, {"x": 1.0})
    b.write_scalars(2, {"x": 2.0})
  assert len(event_files.event_paths(tmp_path)) == 2
  assert event_files.scalars(tmp_path) == {"x": {1: 1.0, 2: 2.0}}


def test_just_logging_logs_and_writes_no_file(tmp_path, caplog):
  with caplog.at_level("INFO", logger="absl"):
    with metric_writers.create_default_writer(
        tmp_path / "logs", just_logging=True) as writer:
      writer.write_scalars(5, {"train/content_loss": 0.0123456789,
                               "train/stage": 2})
      writer.write_images(5, {"predicted_frames": np.zeros((1, 2, 4, 3),
                                                           np.uint8)})
  assert not (tmp_path / "logs").exists() and writer.path is None
  with pytest.raises(ValueError, match="closed"):
    writer.write_images(6, {"true_frames": np.zeros((2, 2, 3), np.uint8)})
  assert "[5] train/content_loss=0.0123457, train/stage=2" in caplog.text
  assert "[5] Images: predicted_frames (1, 2, 4, 3)" in caplog.text


@pytest.mark.parametrize("images, message", [
    (np.zeros((1, 2, 2, 5), np.uint8), "shape"),
    (np.zeros((2, 2), np.uint8), "shape"),
    (np.zeros((1, 2, 2, 3), np.int32), "int32"),
])
def test_unusable_images_are_refused(tmp_path, images, message):
  with metric_writers.MetricWriter(tmp_path) as writer:
    with pytest.raises(ValueError, match=message):
      writer.write_images(1, {"x": images})


def test_a_scalar_is_one_value(tmp_path):
  with metric_writers.MetricWriter(tmp_path) as writer:
    with pytest.raises(ValueError, match="'x' has shape"):
      writer.write_scalars(1, {"x": np.zeros(2)})


def test_report_progress_writes_speed_and_uptime(tmp_path, caplog):
  writer = metric_writers.MetricWriter(tmp_path)
  report = metric_writers.ReportProgress(num_train_steps=6011, writer=writer,
                                         every_secs=60.0)
  t0 = time.monotonic()
  with caplog.at_level("INFO", logger="absl"):
    assert not report(1, t0)  # Starts the measurement.
    assert not report(2, t0 + 30)  # Not yet a minute.
    with report.timed("eval"):
      pass
    assert report(61, t0 + 61)  # 60 steps in 61 s.
    assert not report(62, t0 + 62)
    assert report(6011, t0 + 62 + 5949)  # The last step always reports.
  writer.close()
  logged = event_files.scalars(tmp_path)
  assert sorted(logged) == ["steps_per_sec", "uptime"]
  assert sorted(logged["steps_per_sec"]) == [61, 6011]
  assert logged["steps_per_sec"][61] == pytest.approx(60 / 61)
  assert logged["steps_per_sec"][6011] == pytest.approx(1.0)
  # Seconds since the report was made; t0 was read just after.
  assert logged["uptime"][6011] == pytest.approx(62 + 5949, abs=1.0)
  # 5950 steps left at 60/61 steps/s: 6049 s.
  assert "1.0 steps/s, 1.0% (61/6011), ETA 1h40m (1m: 0.0% eval)" in (
      caplog.text)
  assert "(6011/6011), ETA 0m" in caplog.text


def test_report_progress_without_writer_only_logs(caplog):
  report = metric_writers.ReportProgress(every_secs=0.0)
  t0 = time.monotonic()
  with caplog.at_level("INFO", logger="absl"):
    report(10, t0)
    with report.timed("checkpoint"):
      time.sleep(0.01)
    assert report(20, t0 + 5)
  assert "Progress: 2.0 steps/s" in caplog.text
  assert "% checkpoint)" in caplog.text
