"""The demo's work without the page: results, limits and messages."""

import dataclasses
import zipfile

import av
import numpy as np
from PIL import Image
import pytest

from cbl_jax.demo import runner as runner_lib
from cbl_jax.inference import image_io
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling
from cbl_jax.inference import video
from tests.inference.helpers import TINY
from tests.inference.helpers import real_crop


@pytest.fixture(scope="module")
def tiny():
  return model_lib.random_generator(TINY, seed=0)


@pytest.fixture
def runner(tiny, tmp_path):
  return runner_lib.DemoRunner(
      tiny, tiling.TileOptions(tile_size=48, tile_overlap=16),
      runner_lib.Limits(max_megapixels=0.01, max_video_frames=5,
                        max_video_megapixels=0.005),
      root=tmp_path / "results")


def _clip(path, frames, fps=24):
  with image_io.Mp4Writer(path, fps=fps) as writer:
    for frame in frames:
      writer.write(frame)
  return path


def _frames(count, height=32, width=48):
  rng = np.random.default_rng(0)
  base = rng.integers(0, 256, (height, width + count, 3), np.uint8)
  return [base[:, t:t + width] for t in range(count)]


def test_photo(runner, tiny, tmp_path):
  photo = real_crop(tmp_path / "flower.png", "gopro", "Flower_blur1.png",
                    box=(600, 300, 696, 364))
  seen = []
  result = runner.run(photo, progress=lambda f, text: seen.append((f, text)))
  assert result.kind == "photo" and result.folder.parent == runner.root
  assert [p.name for p in result.frames] == [f"frame_{i}.png"
                                             for i in range(7)]
  # The frames are the tiled prediction (96x64 in tiles of 48).
  image = image_io.read_image(photo)
  expected = tiling.predict_tiled(tiny, image, runner.tiles)
  got = np.stack([np.asarray(Image.open(p)) for p in result.frames])
  assert np.abs(got / 255 - expected).max() <= 0.5 / 255 + 1e-6
  assert [p.name for p in result.downloads] == [
      "frames.zip", "sequence.gif", "sequence.mp4", "strip.png"]
  with zipfile.ZipFile(result.downloads[0]) as zf:
    assert sorted(zf.namelist()) == [p.name for p in result.frames]
  assert Image.open(result.downloads[1]).n_frames == 7
  with av.open(str(result.animation)) as container:
    assert container.streams.video[0].average_rate == 7
  assert np.array_equal(np.asarray(Image.open(result.input_preview)),
                        np.asarray(Image.open(photo).convert("RGB")))
  # Reblur consistency of the 7 frames, and its map at the photo's size.
  mean = expected.mean(axis=0)
  psnr = 10 * np.log10(1 / np.mean((mean - image) ** 2))
  assert result.reblur["psnr"] == pytest.approx(psnr, abs=0.05)
  assert 0 < result.reblur["ssim"] <= 1 and result.reblur["motion"] > 0
  assert Image.open(result.error_map).size == (96, 64)
  assert "flower.png" in result.summary and "96x64" in result.summary
  assert "PSNR" in result.summary
  # Progress: tiles of the generator call, then writing and scoring.
  fractions = [f for f, _ in seen]
  assert fractions == sorted(fractions) and 0.9 < fractions[-1] <= 1
  texts = [t for _, t in seen]
  # Two tiles per generator call (the default tile batch).
  assert texts == ["Tile 2 of 6", "Tile 4 of 6", "Tile 6 of 6",
                   "Writing the frames, GIF and MP4",
                   "Scoring reblur consistency"]


def test_levels_and_speed(runner, tmp_path):
  photo = tmp_path / "p.png"
  Image.fromarray(_frames(1, 24, 40)[0]).save(photo)
  seen = []
  result = runner.run(photo, levels=2, fps=5,
                      progress=lambda f, text: seen.append(text))
  assert len(result.frames) == 42
  # 1 call for the photo, 6 for the pairs of its frames.
  assert "Generator call 7 of 7" in seen
  faster = runner.rerender(result, 14)
  assert faster.animation.name == "sequence_14fps.mp4"
  with av.open(str(faster.animation)) as container:
    stream = container.streams.video[0]
    assert stream.average_rate == 14
    assert sum(1 for _ in container.decode(stream)) == 42
  # GIF frame times are whole hundredths of a second.
  assert Image.open(faster.downloads[1]).info["duration"] == pytest.approx(
      1000 / 14, abs=2)


def test_video(runner, tmp_path, monkeypatch):
  clip = _clip(tmp_path / "clip.mp4", _frames(4), fps=24)
  seen = []
  result = runner.run(clip, progress=lambda f, text: seen.append((f, text)))
  assert result.kind == "video"
  assert result.animation.name == video.OUTPUT_NAME
  with av.open(str(result.animation)) as container:
    stream = container.streams.video[0]
    assert stream.average_rate == 24 * 7
    assert sum(1 for _ in container.decode(stream)) == 28
  assert len(result.frames) == 7 and result.downloads == [result.animation]
  assert "4 frames at 24 fps -> 28 frames at 168 fps" in result.summary
  assert set(result.reblur) == {"psnr", "ssim", "motion", "map_scale"}
  assert seen[0][1].startswith("Video frame 1 of 4")
  assert seen[-1][1].startswith("Video frame 4 of 4")
  real_probe = video.probe
  # A clip whose header gives no frame count is held to the limit as it
  # is decoded, and leaves no folder behind.
  monkeypatch.setattr(video, "probe", lambda p: dataclasses.replace(
      real_probe(p), num_frames=0))
  long = _clip(tmp_path / "long.mp4", _frames(6))
  with pytest.raises(runner_lib.UploadError,
                     match="^long.mp4 has more than 5 frames"):
    runner.run(long)
  assert [p.name for p in runner.root.iterdir()] == [result.folder.name]
  monkeypatch.undo()
  # A video under a name no suffix gives away is found by PyAV.
  renamed = clip.rename(tmp_path / "clip.data")
  assert runner.run(renamed).kind == "video"


def test_bad_uploads_get_one_line_messages(runner, tmp_path):
  (tmp_path / "notes.txt").write_text("hello")
  photo = tmp_path / "big.png"
  Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(photo)
  small = tmp_path / "small.png"
  Image.fromarray(_frames(1, 40, 50)[0]).save(small)
  cut = tmp_path / "cut.png"
  cut.write_bytes(small.read_bytes()[:-200])
  (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 junk")
  long = _clip(tmp_path / "long.mp4", _frames(6))
  wide = _clip(tmp_path / "wide.mp4", _frames(2, 64, 96))
  cases = {
      "notes.txt is not an image or a video": tmp_path / "notes.txt",
      "big.png is 120x100 (0.0 megapixels); this demo takes photos up to"
      " 0.01 megapixels": photo,
      "cut.png cannot be read: it may be damaged or cut short": cut,
      "junk.mp4 cannot be read as a video": tmp_path / "junk.mp4",
      "long.mp4 has 6 frames; this demo takes videos up to 5 frames": long,
      "wide.mp4 has 96x64 frames (0.0 megapixels); this demo takes video"
      " frames up to 0.005 megapixels": wide,
      "missing.png: no such file": tmp_path / "missing.png",
  }
  for message, path in cases.items():
    with pytest.raises(runner_lib.UploadError) as info:
      runner.run(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
  with pytest.raises(runner_lib.UploadError, match="levels must be 1, 2 or"):
    runner.run(photo, levels=4)
  # Nothing was written for any of them.
  assert not list(runner.root.iterdir())


def test_old_results_are_removed(runner, tmp_path, monkeypatch):
  monkeypatch.setattr(runner_lib, "KEEP_RESULTS", 2)
  photo = tmp_path / "p.png"
  Image.fromarray(_frames(1, 16, 16)[0]).save(photo)
  folders = [runner.run(photo).folder for _ in range(3)]
  assert sorted(runner.root.iterdir()) == folders[1:]


def test_limits_are_stated():
  text = runner_lib.Limits(max_megapixels=12, max_video_frames=90,
                           max_video_megapixels=1, max_upload_mb=50).describe()
  assert text == ("Photos up to 12 megapixels; videos up to 90 frames of up"
                  " to 1 megapixels; files up to 50 MB.")
