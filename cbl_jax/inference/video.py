"""Blurry video in, slow motion out: every frame becomes N sharp frames.

`slow_motion` streams a clip through the generator with PyAV: it decodes
one frame, predicts its N frames (7, or more with recursive interpolation),
puts them in time order and encodes them before it decodes further, so
memory holds three input frames and one group of outputs whatever the
clip's length.

Timing. Input frame t, shown from t_t until the next frame's t_{t+1},
becomes N frames at t_t + k (t_{t+1} - t_t) / N, k = 0..N-1: a clip at F
frames per second gives one at N * F, and variable frame rates keep their
rhythm (each output timestamp is exact: the output time base is the input's
divided by N). The last frame lasts as long as the one before it.

Rotation. Phones store portrait video as landscape frames plus a display
matrix. Frames are turned upright first (`VideoFrame.rotation`, degrees
counter-clockwise, applied as browsers apply it), so the model sees the
scene as people do and the output needs no rotation metadata.

Time order. One blurry frame does not say which way time ran, so the
generator may return a group forwards or backwards, and a clip whose groups
disagree flickers back and forth. `orient_group` chooses each group's order
so that its frames run from the previous input frame towards the next one:
the group's temporal slope (the least-squares change per frame,
sum_k (k - (N-1)/2) f_k) is correlated with the clip's own change across
the frame (next input minus previous input), and the group is reversed when
they disagree. The last frame of one group then leads into the first of the
next. Comparing frame endpoints directly (is the next group's first frame
nearer to this group's last than its last is?) is not robust: the mean
absolute difference of two textured images saturates with the shift
between them, and on clips made from `synthetic_motion` it flipped more
groups than it fixed (see tests/inference/test_video.py for the measured
numbers).

The clip's audio, if any, is not copied: it would not fit a clip N times
slower.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable, Iterator
from fractions import Fraction

import av
import numpy as np

from cbl_jax import visualization
from cbl_jax.inference import image_io

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
OUTPUT_NAME = "slow_motion.mp4"

PredictFn = Callable[[np.ndarray], np.ndarray]


def is_video(path: str | os.PathLike[str]) -> bool:
  """Whether a file is taken as a video (by its suffix, any case)."""
  return pathlib.Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclasses.dataclass(frozen=True)
class VideoFrame:
  """One decoded frame.

  Attributes:
    image: (H, W, 3) uint8 RGB, upright.
    pts: timestamp in units of the clip's `time_base`.
  """

  image: np.ndarray
  pts: int


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  """What a clip's header and first frame say.

  Attributes:
    width: upright width in pixels (after rotation).
    height: upright height.
    rotation: degrees counter-clockwise that make the stored frames
      upright (0, 90, 180 or -90).
    num_frames: frame count from the header; 0 if the container does not
      store one.
    rate: average frames per second; None if unknown.
    time_base: seconds per timestamp unit.
    duration: seconds, or None if unknown.
  """

  width: int
  height: int
  rotation: int
  num_frames: int
  rate: Fraction | None
  time_base: Fraction
  duration: float | None


def _open(path: pathlib.Path):
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such file.")
  try:
    container = av.open(os.fspath(path))
  except (OSError, av.error.FFmpegError) as e:
    raise ValueError(f"Cannot read video {path}: {_reason(e, path)}") from e
  if not container.streams.video:
    container.close()
    raise ValueError(f"Cannot read video {path}: it has no video stream.")
  return container


def _reason(error: Exception, path: pathlib.Path) -> str:
  # FFmpeg errors repeat the file name; the message names it once.
  text = str(error).replace(f"'{path}'", "").replace(str(path), "")
  return text.strip(" :;") or type(error).__name__


def _rotation(frame: av.VideoFrame) -> int:
  """The frame's display rotation rounded to a multiple of 90 degrees."""
  degrees = getattr(frame, "rotation", 0) or 0
  return int(90 * round(float(degrees) / 90)) % 360 if degrees else 0


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
  # np.rot90 turns counter-clockwise for positive k, as the display matrix
  # angle counts (checked against Chromium's playback of such a file).
  return np.ascontiguousarray(np.rot90(image, k=rotation // 90))


def read_frames(path: str | os.PathLike[str]) -> Iterator[VideoFrame]:
  """Decodes a clip frame by frame, upright, with timestamps.

  Args:
    path: the video file.

  Yields:
    Frames in presentation order. Frames without a timestamp get the
    previous one plus one frame at the average rate.

  Raises:
    FileNotFoundError: no such file.
    ValueError: not a video, no video stream, or a decoding error (one
      line naming the file).
  """
  path = pathlib.Path(path)
  container = _open(path)
  with container:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    step = _frame_step(stream)
    last_pts = None
    try:
      for frame in container.decode(stream):
        pts = frame.pts
        if pts is None or (last_pts is not None and pts <= last_pts):
          pts = 0 if last_pts is None else last_pts + step
        last_pts = pts
        image = frame.to_ndarray(format="rgb24")
        yield VideoFrame(_upright(image, _rotation(frame)), int(pts))
    except av.error.FFmpegError as e:
      raise ValueError(f"Cannot decode video {path}: {_reason(e, path)}"
                       ) from e


def _frame_step(stream) -> int:
  """One frame's duration in the stream's time base (at least 1)."""
  rate = stream.average_rate or stream.base_rate or stream.guessed_rate
  if not rate or not stream.time_base:
    return 1
  return max(1, round(1 / (Fraction(rate) * Fraction(stream.time_base))))


def probe(path: str | os.PathLike[str]) -> VideoInfo:
  """Reads a clip's header and decodes its first frame.

  Args:
    path: the video file.

  Returns:
    Its size (upright), rotation, frame count, rate and time base.

  Raises:
    FileNotFoundError: no such file.
    ValueError: not a readable video, or one without frames (one line).
  """
  path = pathlib.Path(path)
  container = _open(path)
  with container:
    stream = container.streams.video[0]
    try:
      first = next(container.decode(stream), None)
    except av.error.FFmpegError as e:
      raise ValueError(f"Cannot decode video {path}: {_reason(e, path)}"
                       ) from e
    if first is None:
      raise ValueError(f"Cannot read video {path}: it has no frames.")
    rotation = _rotation(first)
    width, height = first.width, first.height
    if rotation in (90, 270):
      width, height = height, width
    rate = stream.average_rate or stream.guessed_rate
    duration = (float(stream.duration * stream.time_base)
                if stream.duration and stream.time_base else None)
    if duration is None and container.duration:
      duration = container.duration / av.time_base
    return VideoInfo(
        width=width, height=height, rotation=rotation,
        num_frames=int(stream.frames or 0),
        rate=Fraction(rate) if rate else None,
        time_base=Fraction(stream.time_base or Fraction(1, 1000)),
        duration=duration)


def temporal_slope(frames: np.ndarray) -> np.ndarray:
  """Least-squares change per frame of a group: sum_k (k - c) f_k.

  Args:
    frames: (N, H, W, C) frames in their current order.

  Returns:
    (H, W, C) float32; reversing the frames negates it.
  """
  frames = np.asarray(frames, np.float32)
  weights = np.arange(len(frames), dtype=np.float32) - (len(frames) - 1) / 2
  return np.tensordot(weights, frames, axes=(0, 0))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
  a = a - a.mean()
  b = b - b.mean()
  norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
  return float(np.sum(a * b)) / norm if norm > 0 else 0.0


def order_score(group: np.ndarray, before: np.ndarray,
                after: np.ndarray) -> float:
  """How well a group's order agrees with the clip around it.

  Args:
    group: (N, H, W, 3) frames predicted from one input frame, in [0, 1].
    before: the previous input frame (or the frame itself at the start),
      same size, in [0, 1].
    after: the next input frame (or the frame itself at the end).

  Returns:
    The correlation, in [-1, 1], of the group's temporal slope with
    `after - before`: positive when the group runs forwards in the clip's
    time, negative when reversed, 0 with no evidence (a still clip, or a
    single frame).
  """
  change = np.asarray(after, np.float32) - np.asarray(before, np.float32)
  return _correlation(temporal_slope(group), change)


def orient_group(group: np.ndarray, before: np.ndarray,
                 after: np.ndarray) -> tuple[np.ndarray, bool]:
  """Puts a group in the time order of the clip (see the module docstring).

  Args:
    group: (N, H, W, 3) frames of one input frame.
    before: the previous input frame, or the frame itself at the start.
    after: the next input frame, or the frame itself at the end.

  Returns:
    (the group in clip order, whether it was reversed). Without evidence
    (score 0) the group keeps the generator's order.
  """
  if order_score(group, before, after) < 0:
    return group[::-1], True
  return group, False


@dataclasses.dataclass
class SlowMotionResult:
  """What `slow_motion` wrote.

  Attributes:
    path: the MP4.
    input_frames: frames read.
    output_frames: frames written.
    frames_per_input: N.
    input_rate: the clip's average frames per second (None if unknown).
    output_rate: the nominal rate of the output, N times the input's.
    reversed_groups: groups put in reverse of the generator's order.
    size: (height, width) of the output frames (upright).
    padded: the MP4 was padded to even sizes.
  """

  path: pathlib.Path
  input_frames: int
  output_frames: int
  frames_per_input: int
  input_rate: Fraction | None
  output_rate: Fraction
  reversed_groups: int
  size: tuple[int, int]
  padded: bool


# Called once per input frame: (index, input (H, W, 3) in [0, 1], its N
# frames in the order written, in [0, 1]).
GroupCallback = Callable[[int, np.ndarray, np.ndarray], None]


def slow_motion(predict_fn: PredictFn, path: str | os.PathLike[str],
                output: str | os.PathLike[str], align: bool = True,
                max_frames: int | None = None,
                on_group: GroupCallback | None = None,
                crf: int = 18) -> SlowMotionResult:
  """Turns every frame of a clip into N frames and writes them as an MP4.

  Args:
    predict_fn: maps an (H, W, 3) image in [0, 1] to (N, H, W, 3) frames,
      e.g. `functools.partial(cbl_jax.predict.predict_image, model)`.
    path: the input clip.
    output: the `.mp4` to write.
    align: choose each group's order with `orient_group`; False keeps the
      generator's order (the unaligned baseline).
    max_frames: refuse clips with more frames than this (checked against
      the header, and while decoding when the header has no count).
    on_group: called after each group is written, e.g. for progress.
    crf: x264 quality of the output.

  Returns:
    What was written.

  Raises:
    FileNotFoundError, ValueError: an unreadable clip, or one over
      `max_frames` (one line).
  """
  path = pathlib.Path(path)
  info = probe(path)
  if max_frames is not None and info.num_frames > max_frames:
    raise ValueError(
        f"{path.name} has {info.num_frames} frames; the limit is"
        f" {max_frames}.")
  frames = read_frames(path)
  current = next(frames)
  start = current.pts  # The output starts at 0.
  previous = None
  writer = None
  count = written = reversed_groups = 0
  per_input = 0
  step = None
  padded = False
  try:
    while current is not None:
      upcoming = next(frames, None)
      count += 1
      if max_frames is not None and count > max_frames:
        raise ValueError(
            f"{path.name} has more than {max_frames} frames; the limit is"
            f" {max_frames}.")
      image = current.image.astype(np.float32) / 255.0
      group = np.clip(np.asarray(predict_fn(image), np.float32), 0.0, 1.0)
      if align:
        before = previous.image if previous is not None else current.image
        after = upcoming.image if upcoming is not None else current.image
        group, flipped = orient_group(group, before.astype(np.float32) / 255,
                                      after.astype(np.float32) / 255)
        reversed_groups += flipped
      if writer is None:
        per_input = len(group)
        rate = (info.rate or Fraction(30)) * per_input
        writer = image_io.Mp4Writer(output, fps=rate,
                                    time_base=info.time_base / per_input,
                                    crf=crf)
      elif len(group) != per_input:
        raise ValueError(
            f"The generator gave {len(group)} frames for frame {count - 1},"
            f" {per_input} before.")
      if upcoming is not None:
        step = upcoming.pts - current.pts
      elif step is None:  # A single frame: one nominal frame long.
        step = max(1, round(1 / ((info.rate or Fraction(30)) *
                                 info.time_base)))
      frames8 = visualization.to_uint8(group)
      for k, frame in enumerate(frames8):
        # Exact in the output time base (the input's divided by N).
        writer.write(frame, pts=(current.pts - start) * per_input + k * step)
      written += len(frames8)
      if on_group is not None:
        on_group(count - 1, image, group)
      previous, current = current, upcoming
  finally:
    frames.close()
    if writer is not None:
      writer.close()
      padded = writer.padded
  return SlowMotionResult(
      path=pathlib.Path(output), input_frames=count, output_frames=written,
      frames_per_input=per_input, input_rate=info.rate,
      output_rate=(info.rate or Fraction(30)) * per_input,
      reversed_groups=reversed_groups, size=(info.height, info.width),
      padded=padded)
