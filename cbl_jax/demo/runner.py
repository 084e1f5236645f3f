"""What the demo does with an upload, without the web page.

`DemoRunner.run` checks an uploaded file against the demo's `Limits`, runs
the generator (tiled, reporting progress), and writes everything the page
shows or offers for download into a fresh folder per request. The Gradio
page (`cbl_jax.demo.app`) only lays the results out, so this module is
tested without a browser and imports no Gradio.

A photo gives its frames as PNGs, a looping GIF and an H.264 MP4 (the
files of `cbl_jax.predict`), the PNGs again as one zip, and the reblur
consistency of the 7 frames with its error map. A video gives the slow-
motion MP4 of `cbl_jax.inference.video`, with the first frame's 7 frames
and the reblur consistency averaged over all frames.

Problems with the file itself (not an image, damaged, too large) raise
`UploadError`, whose one-line message the page shows as it is.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import itertools
import pathlib
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable

import numpy as np
from PIL import Image

from cbl_jax import visualization
from cbl_jax.evaluation import metrics
from cbl_jax.inference import image_io
from cbl_jax.inference import interpolation
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling
from cbl_jax.inference import video

# Told (fraction done in [0, 1], what is running) as work proceeds.
ProgressFn = Callable[[float, str], None]
# Result folders kept on disk; older ones are removed as new ones come.
KEEP_RESULTS = 32


class UploadError(ValueError):
  """A problem with the user's file; its message is shown in the page."""


@dataclasses.dataclass(frozen=True)
class Limits:
  """What the demo accepts.

  Attributes:
    max_megapixels: largest photo, in millions of pixels. Photos larger
      than a tile run tiled, so memory is not the limit; time is (about 4 s
      per megapixel with the shipped weights on a 2-core CPU).
    max_video_frames: longest video, in frames.
    max_video_megapixels: largest video frame (1920x1080 is 2.07).
    max_upload_mb: largest file the server takes, in MB (enforced by
      Gradio before anything here runs).
  """

  max_megapixels: float = 24.0
  max_video_frames: int = 240
  max_video_megapixels: float = 2.1
  max_upload_mb: int = 500

  def describe(self) -> str:
    """The limits, as the page states them."""
    return (f"Photos up to {self.max_megapixels:g} megapixels; videos up to"
            f" {self.max_video_frames} frames of up to"
            f" {self.max_video_megapixels:g} megapixels; files up to"
            f" {self.max_upload_mb} MB.")


@dataclasses.dataclass
class Result:
  """What one request produced.

  Attributes:
    kind: 'photo' or 'video'.
    folder: where the files are.
    input_preview: PNG of the input as the model saw it (a video's first
      frame).
    animation: the MP4 to play.
    frames: PNGs for the gallery and the frame slider (a video: its first
      frame's group).
    downloads: files offered for download.
    reblur: `metrics.reblur_consistency` numbers (a video: means over its
      frames), and `map_scale`, the error map's full scale in 8-bit levels.
    error_map: PNG heat map of |mean of the frames - input| (a video: of its
      first frame).
    summary: one-paragraph markdown for the page.
    fps: the animation's frame rate.
  """

  kind: str
  folder: pathlib.Path
  input_preview: pathlib.Path
  animation: pathlib.Path
  frames: list[pathlib.Path]
  downloads: list[pathlib.Path]
  reblur: dict[str, float]
  error_map: pathlib.Path
  summary: str
  fps: float


def check_photo(path: pathlib.Path, limits: Limits) -> tuple[int, int]:
  """Checks an uploaded photo's header before anything is decoded.

  Args:
    path: the file.
    limits: the demo's limits.

  Returns:
    (width, height).

  Raises:
    UploadError: not an image, a damaged header, or over the size limit.
  """
  name = path.name
  try:
    with Image.open(path) as image:
      width, height = image.size
  except Image.UnidentifiedImageError as e:
    raise UploadError(
        f"{name} is not an image or a video this demo can read. Upload a"
        " photo (PNG, JPEG, BMP, TIFF, WebP) or a video (MP4, MOV, WebM,"
        " MKV, AVI).") from e
  except Image.DecompressionBombError as e:
    raise UploadError(
        f"{name} has more pixels than Pillow opens safely; this demo takes"
        f" photos up to {limits.max_megapixels:g} megapixels.") from e
  except (OSError, SyntaxError, ValueError) as e:
    raise UploadError(
        f"{name} cannot be read: it may be damaged or cut short"
        f" ({type(e).__name__}).") from e
  megapixels = width * height / 1e6
  if megapixels > limits.max_megapixels:
    raise UploadError(
        f"{name} is {width}x{height} ({megapixels:.1f} megapixels); this demo"
        f" takes photos up to {limits.max_megapixels:g} megapixels. Crop or"
        " shrink it, or start the demo with a larger --max_megapixels.")
  return width, height


def load_photo(path: pathlib.Path, limits: Limits) -> np.ndarray:
  """Checks and reads an uploaded photo.

  Args:
    path: the file.
    limits: the demo's limits.

  Returns:
    (H, W, 3) float32 RGB in [0, 1], upright (`image_io.read_image`).

  Raises:
    UploadError: see `check_photo`; also pixel data that does not decode.
  """
  check_photo(path, limits)
  try:
    return image_io.read_image(path)
  except ValueError as e:
    raise UploadError(
        f"{path.name} cannot be read: it may be damaged or cut short"
        f" ({str(e).rpartition(': ')[2]}).") from e


def check_video(path: pathlib.Path, limits: Limits) -> video.VideoInfo:
  """Checks an uploaded video's header and first frame.

  Args:
    path: the file.
    limits: the demo's limits.

  Returns:
    What `video.probe` says.

  Raises:
    UploadError: unreadable, too many frames or too large frames.
  """
  name = path.name
  try:
    info = video.probe(path)
  except ValueError as e:
    reason = str(e).rpartition(": ")[2]
    raise UploadError(f"{name} cannot be read as a video: {reason}") from e
  if info.num_frames > limits.max_video_frames:
    raise UploadError(
        f"{name} has {info.num_frames} frames; this demo takes videos up to"
        f" {limits.max_video_frames} frames. Trim it, or start the demo with"
        " a larger --max_video_frames.")
  megapixels = info.width * info.height / 1e6
  if megapixels > limits.max_video_megapixels:
    raise UploadError(
        f"{name} has {info.width}x{info.height} frames ({megapixels:.1f}"
        f" megapixels); this demo takes video frames up to"
        f" {limits.max_video_megapixels:g} megapixels. Scale it down, or"
        " start the demo with a larger --max_video_megapixels.")
  return info


def _is_video(path: pathlib.Path) -> bool:
  """A video by its suffix, or any file PyAV decodes that Pillow cannot."""
  if video.is_video(path):
    return True
  try:
    with Image.open(path):
      return False
  except Exception:  # pylint: disable=broad-except
    pass
  try:
    video.probe(path)
  except Exception:  # pylint: disable=broad-except
    return False
  return True


class DemoRunner:
  """Runs the generator for the demo and keeps the results on disk.

  Attributes:
    model: the generator.
    tiles: tiling of large photos and video frames.
    limits: what uploads may be.
    root: folder of the result folders; by default a temporary one that
      is removed when the process ends.
  """

  def __init__(self, model: model_lib.LoadedGenerator,
               tiles: tiling.TileOptions = tiling.TileOptions(),
               limits: Limits = Limits(),
               root: str | pathlib.Path | None = None):
    self.model = model
    self.tiles = tiles
    self.limits = limits
    if root is None:
      root = tempfile.mkdtemp(prefix="cbl_jax_demo_")
      # A folder of its own making goes when the server stops.
      atexit.register(functools.partial(shutil.rmtree, root,
                                        ignore_errors=True))
    self.root = pathlib.Path(root).resolve()
    self.root.mkdir(parents=True, exist_ok=True)
    self._counter = itertools.count()
    self._lock = threading.Lock()

  def _new_folder(self, stem: str) -> pathlib.Path:
    with self._lock:
      folder = self.root / f"{next(self._counter):05d}_{stem}"
      folder.mkdir(parents=True)
      old = sorted(p for p in self.root.iterdir() if p.is_dir())
      for stale in old[:-KEEP_RESULTS]:
        shutil.rmtree(stale, ignore_errors=True)
    return folder

  def _predict_fn(self, total_calls: int, progress: ProgressFn | None):
    """A predict function for `interpolation.interpolate` that reports."""
    calls = itertools.count()

    def predict(image):
      index = next(calls)

      def report(done, tiles):
        if progress is None:
          return
        parts = []
        if total_calls > 1:
          parts.append(f"generator call {index + 1} of {total_calls}")
        if tiles > 1:
          parts.append(f"tile {done} of {tiles}")
        text = ", ".join(parts) or "predicting"
        progress((index + done / tiles) / total_calls, text.capitalize())

      return tiling.predict_tiled(self.model, image, self.tiles, report)

    return predict

  def run(self, path: str | pathlib.Path, levels: int = 1, fps: float = 7.0,
          progress: ProgressFn | None = None) -> Result:
    """Checks an upload and runs the generator on it.

    Args:
      path: the uploaded photo or video.
      levels: recursive interpolation levels (1 to 3).
      fps: frame rate of a photo's animation.
      progress: told the fraction done.

    Returns:
      The result.

    Raises:
      UploadError: a problem with the file, in one line.
    """
    path = pathlib.Path(path)
    if not 1 <= levels <= 3:
      raise UploadError(f"levels must be 1, 2 or 3, got {levels}.")
    if not path.is_file():
      raise UploadError(f"{path.name}: no such file (upload it again).")
    if _is_video(path):
      return self.run_video(path, levels, progress)
    return self.run_photo(path, levels, fps, progress)

  def run_photo(self, path: pathlib.Path, levels: int = 1, fps: float = 7.0,
                progress: ProgressFn | None = None) -> Result:
    """Predicts a photo's frames; see `run`."""
    image = load_photo(path, self.limits)
    num_frames = self.model.num_frames
    # One call for the photo, then one per adjacent pair at each level.
    total_calls = 1 + sum(
        interpolation.num_frames_at_level(k, num_frames) - 1
        for k in range(1, levels))
    # The generator's share of the time; writing and scoring the rest.
    predicting = (lambda f, text: progress(0.9 * f, text)) if progress else None
    predict = self._predict_fn(total_calls, predicting)
    first = []

    def predict_keeping_first(x):
      frames = predict(x)
      if not first:
        first.append(frames)  # The photo's own 7 frames.
      return frames

    frames = interpolation.interpolate(predict_keeping_first, image, levels)
    if progress is not None:
      progress(0.9, "Writing the frames, GIF and MP4")
    folder = self._new_folder(path.stem)
    notes = image_io.write_sequence(folder, image, frames, fps=fps)
    pngs = sorted(folder.glob("frame_*.png"))
    archive = folder / "frames.zip"
    with zipfile.ZipFile(archive, "w") as zf:
      for png in pngs:
        zf.write(png, png.name)
    preview = folder / "input.png"
    image_io.write_png(preview, visualization.to_uint8(image))
    if progress is not None:
      progress(0.97, "Scoring reblur consistency")
    reblur = metrics.reblur_consistency(first[0], image)
    error = folder / "reblur_error.png"
    reblur["map_scale"] = write_error_map(error, first[0], image)
    height, width = image.shape[:2]
    summary = (
        f"**{path.name}**, {width}x{height}: {len(frames)} frames"
        + (f" ({levels} interpolation levels)" if levels > 1 else "")
        + f". {_reblur_text(reblur)}"
        + "".join(f" Note: {n}." for n in notes))
    return Result(
        kind="photo", folder=folder, input_preview=preview,
        animation=folder / "sequence.mp4", frames=pngs,
        downloads=[archive, folder / "sequence.gif", folder / "sequence.mp4",
                   folder / "strip.png"],
        reblur=reblur, error_map=error, summary=summary, fps=fps)

  def run_video(self, path: pathlib.Path, levels: int = 1,
                progress: ProgressFn | None = None) -> Result:
    """Turns a video into slow motion; see `run`."""
    info = check_video(path, self.limits)
    num_frames = self.model.num_frames
    calls_per_frame = 1 + sum(
        interpolation.num_frames_at_level(k, num_frames) - 1
        for k in range(1, levels))
    folder = self._new_folder(path.stem)
    expected = info.num_frames or None
    state = {"frame": 0}

    def report(fraction, text):
      if progress is None:
        return
      frame = state["frame"]
      total = f" of {expected}" if expected else ""
      done = (frame + fraction) / expected if expected else 0.0
      progress(min(done, 1.0), f"Video frame {frame + 1}{total}: {text}")

    scores = []
    first = {}
    own = []  # The current frame's own 7 frames (its first generator call).

    def predict(image):
      predict_fn = self._predict_fn(calls_per_frame, report)

      def keep_own(x):
        frames = predict_fn(x)
        if not own:
          own.append(frames)
        return frames

      own.clear()
      return interpolation.interpolate(keep_own, image, levels)

    def on_group(index, image, group):
      state["frame"] = index + 1
      frames = own[0]
      if index == 0:
        first.update(image=image, group=group, own=frames)
      scores.append(metrics.reblur_consistency(frames, image))

    try:
      result = video.slow_motion(
          predict, path, folder / video.OUTPUT_NAME, align=True,
          max_frames=self.limits.max_video_frames, on_group=on_group)
    except BaseException as e:
      shutil.rmtree(folder, ignore_errors=True)  # No half-written video.
      if isinstance(e, ValueError):
        # Frames past the header's count, or a decoding error mid-file.
        raise UploadError(str(e).replace(str(path), path.name)) from e
      raise
    reblur = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    preview = folder / "input.png"
    image_io.write_png(preview, visualization.to_uint8(first["image"]))
    group8 = visualization.to_uint8(first["group"])
    digits = len(str(len(group8) - 1))
    pngs = []
    for k, frame in enumerate(group8):
      pngs.append(folder / f"frame_{k:0{digits}d}.png")
      image_io.write_png(pngs[-1], frame)
    error = folder / "reblur_error.png"
    reblur["map_scale"] = write_error_map(error, first["own"], first["image"])
    rate = (f" at {float(result.input_rate):g} fps" if result.input_rate
            else "")
    summary = (
        f"**{path.name}**, {info.width}x{info.height}, {result.input_frames}"
        f" frames{rate} -> {result.output_frames} frames at"
        f" {float(result.output_rate):g} fps ({result.frames_per_input} per"
        f" frame; {result.reversed_groups} group(s) put in reverse order to"
        " agree with their neighbours). The frames below are those of the"
        f" first video frame. Mean over the video: {_reblur_text(reblur)}")
    return Result(
        kind="video", folder=folder, input_preview=preview,
        animation=result.path, frames=pngs, downloads=[result.path],
        reblur=reblur, error_map=error, summary=summary,
        fps=float(result.output_rate))

  def rerender(self, result: Result, fps: float) -> Result:
    """A photo result's GIF and MP4 again, at another frame rate.

    Args:
      result: a photo result of this runner.
      fps: the new frame rate.

    Returns:
      The result with the new animation and downloads.
    """
    if result.kind != "photo":
      return result
    frames = np.stack([np.asarray(Image.open(p).convert("RGB"))
                       for p in result.frames])
    # New names: browsers and Gradio's cache would keep showing the old.
    gif = result.folder / f"sequence_{fps:g}fps.gif"
    mp4 = result.folder / f"sequence_{fps:g}fps.mp4"
    visualization.write_gif(gif, frames, fps=fps)
    image_io.write_mp4(mp4, frames, fps=fps)
    downloads = [result.downloads[0], gif, mp4, result.downloads[-1]]
    return dataclasses.replace(result, animation=mp4, downloads=downloads,
                               fps=fps)


def write_error_map(path: pathlib.Path, frames: np.ndarray,
                    image: np.ndarray) -> float:
  """Writes the reblur error map of a photo's frames; returns its scale.

  The scale adapts to the photo (the 99.5th percentile of the difference,
  at least one 8-bit level), so that a well-fitting model still shows where
  its small errors are; the page states it.

  Args:
    path: the PNG to write.
    frames: (T, H, W, 3) the photo's own frames in [0, 1].
    image: (H, W, 3) the photo in [0, 1].

  Returns:
    The difference shown at full brightness, in 8-bit levels.
  """
  reblurred = np.asarray(frames, np.float32).mean(axis=0)
  difference = np.abs(reblurred - image).mean(axis=-1)
  scale = max(float(np.percentile(difference, 99.5)), 1 / 255)
  image_io.write_png(path, visualization.error_map(reblurred, image,
                                                   full_scale=scale))
  return scale * 255


def _reblur_text(reblur: dict[str, float]) -> str:
  text = (f"Reblur consistency (the mean of the 7 frames against the input):"
          f" PSNR {reblur['psnr']:.2f} dB, SSIM {reblur['ssim']:.4f};"
          f" motion (first vs last frame) {reblur['motion']:.1f} levels.")
  if "map_scale" in reblur:
    text += (f" Error map: black is no difference; yellow is a difference"
             f" of {reblur['map_scale']:.2g} (of 255) or more.")
  return text
