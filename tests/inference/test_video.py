"""Blurry clips to slow motion: frame counts, rates, rotation, streaming and
the time order of neighbouring groups."""

from fractions import Fraction

import av
import numpy as np
from PIL import Image
import pytest

from cbl_jax import predict
from cbl_jax.data import blur
from cbl_jax.data import synthetic_motion
from cbl_jax.inference import image_io
from cbl_jax.inference import video
from tests.inference.helpers import run_cli

# Clips of CLIP_FRAMES frames, each the blur of WINDOW = 7 * K consecutive
# sub-frames of one long synthetic_motion rendering: consecutive sequences
# of one continuous camera and object motion, as a video camera whose
# exposure spans the whole frame interval records them.
CLIP_FRAMES = 9
K = 3
CLIP_SIZE = 64


def synthetic_clip(index: int, frames: int = CLIP_FRAMES,
                   size: int = CLIP_SIZE) -> tuple[np.ndarray, np.ndarray]:
  """A blurry clip and the 7 sharp instants of each of its frames.

  Args:
    index: the synthetic_motion test example whose scene and paths are used.
    frames: clip length (odd: the rendering needs an odd sub-frame count
      per target).
    size: frame side.

  Returns:
    (blurry (T, S, S, 3) uint8, sharp (T, 7, S, S, 3) uint8 in time order).
  """
  # The paths span the whole clip, so each frame's motion is half the
  # per-example range of the default config (3 to 15 pixels).
  config = synthetic_motion.MotionConfig(
      image_size=size, subframes_per_group=K * frames,
      min_camera_motion=1.5 * frames, max_camera_motion=7.5 * frames,
      max_object_motion=7.5 * frames, max_rotation_deg=2.0 * frames,
      max_zoom=0.0)
  subframes, _ = synthetic_motion.render_subframes(index, "test", config)
  window = 7 * K
  blurry, sharp = [], []
  for start, stop in blur.non_overlapping_windows(len(subframes), window):
    blurry.append(blur.synthesize_blur(subframes[start:stop]))
    sharp.append(subframes[start:stop][np.arange(7) * K + K // 2])
  return np.stack(blurry), np.stack(sharp)


def write_clip(path, frames, fps=30):
  with image_io.Mp4Writer(path, fps=fps) as writer:
    for frame in frames:
      writer.write(frame)


def decode(path):
  with av.open(str(path)) as container:
    stream = container.streams.video[0]
    rate = stream.average_rate
    frames = [(f.to_ndarray(format="rgb24"), f.time)
              for f in container.decode(stream)]
  return rate, np.stack([f for f, _ in frames]), [t for _, t in frames]


def true_directions(groups: np.ndarray, sharp: np.ndarray) -> list[int]:
  """+1 where a group runs forwards in true time, -1 where reversed.

  The sign of the inner product of the group's temporal slope with that of
  the true frames: it does not depend on how sharp the frames are.
  """
  out = []
  for group, truth in zip(groups, sharp):
    a = video.temporal_slope(group)
    b = video.temporal_slope(truth)
    out.append(1 if np.sum((a - a.mean()) * (b - b.mean())) >= 0 else -1)
  return out


def flips(directions: list[int]) -> int:
  """Neighbouring groups that run in opposite directions."""
  return sum(a != b for a, b in zip(directions[:-1], directions[1:]))


def test_clip_becomes_7x_through_the_command_line(tmp_path, capsys,
                                                   monkeypatch):
  """The README's claim, end to end through the command line.

  Six clips of 9 frames (the shipped weights, as a user runs them): the
  output has 7 frames per input frame at 7x the rate, aligned unless
  --noalign_order says otherwise. Whether the alignment finds the true
  order is the next test's: the shipped weights' 7 frames differ by less
  than the codec's noise, so the true direction of their groups is a coin
  toss that changes from one CPU to another.
  """
  folder = tmp_path / "clips"
  folder.mkdir()
  for index in range(6):
    blurry, _ = synthetic_clip(index)
    write_clip(folder / f"clip{index}.mp4", blurry, fps=30)
  aligned = []
  real_slow_motion = video.slow_motion

  def recording_slow_motion(*args, **kwargs):
    aligned.append(kwargs["align"])
    return real_slow_motion(*args, **kwargs)

  monkeypatch.setattr(video, "slow_motion", recording_slow_motion)
  for name, args in (("aligned", []), ("unaligned", ["--noalign_order"])):
    out = tmp_path / name
    assert run_cli(predict, [f"--input={folder}", f"--output={out}"] +
                   args) == 0
    assert ("6 of 6 input(s) -> 7 frames per image or video frame"
            in capsys.readouterr().out)
    for index in range(6):
      rate, frames, times = decode(out / f"clip{index}" / video.OUTPUT_NAME)
      assert rate == 210 and len(frames) == 7 * CLIP_FRAMES
      assert frames.shape[1:] == (CLIP_SIZE, CLIP_SIZE, 3)
      np.testing.assert_allclose(np.diff(times), 1 / 210, atol=1e-4)
  assert aligned == [True] * 6 + [False] * 6


def test_alignment_orders_an_order_blind_generator(tmp_path):
  """A generator that gets every frame right but picks the order by chance.

  That is what the contiguous loss trains for (a blurry frame does not say
  which way time ran). Unaligned, about half the neighbours disagree (the
  baseline); aligned, none do.
  """
  rng = np.random.default_rng(0)
  counts = {"aligned": 0, "unaligned": 0}
  for index in range(4):
    blurry, sharp = synthetic_clip(index)
    clip = tmp_path / f"clip{index}.mp4"
    write_clip(clip, blurry)
    reverse = rng.uniform(size=len(sharp)) < 0.5
    for name in counts:
      calls = iter(range(len(sharp)))

      def oracle(image, calls=calls):
        del image
        t = next(calls)
        truth = sharp[t].astype(np.float32) / 255
        return truth[::-1] if reverse[t] else truth

      groups = []
      video.slow_motion(oracle, clip, tmp_path / f"{name}{index}.mp4",
                        align=name == "aligned",
                        on_group=lambda t, image, g: groups.append(g))
      counts[name] += flips(true_directions(np.stack(groups), sharp))
  # Measured here: 14 of the 32 neighbouring pairs unaligned, 0 aligned.
  assert counts["aligned"] == 0, counts
  assert counts["unaligned"] >= 8, counts


def identity_predict(image):
  """7 copies of the input: the output shows what the generator was given."""
  return np.repeat(image[None], 7, axis=0)


def _pattern(height, width, seed=0):
  rng = np.random.default_rng(seed)
  small = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8)
  return small.repeat(8, axis=0).repeat(8, axis=1)


def test_variable_frame_rate_and_rotation(tmp_path):
  if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
    pytest.skip("This PyAV cannot write a display rotation.")
  # A portrait phone clip: landscape 48x32 frames, displayed rotated 90
  # degrees counter-clockwise, with irregular frame intervals.
  stored = [_pattern(32, 48, seed) for seed in range(4)]
  intervals = [100, 250, 40]  # In units of 1/1000 s.
  path = tmp_path / "phone.mp4"
  with av.open(str(path), "w") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    stream.options = {"crf": "0"}
    stream.set_display_rotation(90)
    pts = 0
    for frame, step in zip(stored, intervals + [100]):
      video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
      video_frame.pts, video_frame.time_base = pts, Fraction(1, 1000)
      container.mux(stream.encode(video_frame))
      pts += step
    container.mux(stream.encode())
  info = video.probe(path)
  assert (info.width, info.height, info.rotation) == (32, 48, 90)
  result = video.slow_motion(identity_predict, path, tmp_path / "out.mp4")
  assert (result.input_frames, result.output_frames) == (4, 28)
  _, frames, times = decode(tmp_path / "out.mp4")
  assert frames.shape == (28, 48, 32, 3)
  # Upright as a browser shows it (np.rot90 by the display angle, checked
  # against Chromium), up to the chroma subsampling of H.264.
  for t, frame in enumerate(stored):
    error = np.abs(frames[7 * t].astype(int) - np.rot90(frame)).mean()
    assert error < 12, (t, error)
  # Frame k of input t at t_t + k (t_{t+1} - t_t) / 7; the last input
  # frame lasts as long as the one before it.
  starts = np.cumsum([0] + intervals + [intervals[-1]]) / 1000
  expected = [starts[t] + k * (starts[t + 1] - starts[t]) / 7
              for t in range(4) for k in range(7)]
  np.testing.assert_allclose(times, expected, atol=1e-4)


def test_frames_are_streamed(tmp_path, monkeypatch):
  """Each frame is predicted and written before the one after next is read."""
  path = tmp_path / "clip.mp4"
  write_clip(path, [_pattern(32, 32, seed) for seed in range(12)])
  decoded = []
  real_read = video.read_frames

  def counting_read(*args):
    for frame in real_read(*args):
      decoded.append(frame)
      yield frame

  monkeypatch.setattr(video, "read_frames", counting_read)
  written = []
  real_write = image_io.Mp4Writer.write
  monkeypatch.setattr(image_io.Mp4Writer, "write",
                      lambda self, *a, **k: (written.append(1),
                                             real_write(self, *a, **k)))
  seen = []

  def predict_fn(image):
    seen.append((len(decoded), len(written)))
    return identity_predict(image)

  result = video.slow_motion(predict_fn, path, tmp_path / "out.mp4",
                             max_frames=12)
  assert result.output_frames == 84
  # Frame t is predicted with frames t and t + 1 decoded (one look-ahead
  # for the order) and all earlier groups already encoded.
  assert seen == [(min(t + 2, 12), 7 * t) for t in range(12)]


def test_video_limits_and_bad_files(tmp_path):
  path = tmp_path / "clip.mp4"
  write_clip(path, [_pattern(16, 16, seed) for seed in range(6)])
  with pytest.raises(ValueError, match="clip.mp4 has 6 frames; the limit"
                     " is 5"):
    video.slow_motion(identity_predict, path, tmp_path / "out.mp4",
                      max_frames=5)
  (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 junk")
  with pytest.raises(ValueError, match="Cannot read video .*junk.mp4"):
    video.probe(tmp_path / "junk.mp4")
  with pytest.raises(FileNotFoundError):
    video.probe(tmp_path / "missing.mp4")
  # A clip whose encoder never got a frame.
  with av.open(str(tmp_path / "none.mp4"), "w") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
    container.start_encoding()
  with pytest.raises(ValueError, match="Cannot read video .*none.mp4: it has"
                     " no (video stream|frames)"):
    video.probe(tmp_path / "none.mp4")


def test_video_flags_through_the_command_line(tmp_path, tiny_weights, capsys):
  folder = tmp_path / "in"
  folder.mkdir()
  write_clip(folder / "clip.mov", [_pattern(24, 40, s) for s in range(3)],
             fps=25)
  Image.fromarray(_pattern(24, 40)).save(folder / "photo.png")
  out = tmp_path / "out"
  assert run_cli(predict, [f"--checkpoint={tiny_weights}", f"--input={folder}",
                           f"--output={out}", "--levels=2"]) == 0
  assert ("2 of 2 input(s) -> 42 frames per image or video frame"
          in capsys.readouterr().out)
  rate, frames, _ = decode(out / "clip" / video.OUTPUT_NAME)
  assert rate == 25 * 42 and len(frames) == 3 * 42
  assert len(list((out / "photo").glob("frame_*.png"))) == 42
