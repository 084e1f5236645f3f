"""Reading whatever image a user has, and writing frames, GIFs, MP4s, strips.

Reading (`read_image`) gives (H, W, 3) float32 RGB in [0, 1] for:

* PNG, JPEG, BMP, TIFF, WebP and GIF (the first frame), in any Pillow mode;
* EXIF orientation: the image is turned upright first
  (`PIL.ImageOps.exif_transpose`), so outputs match what viewers show;
* grayscale: copied to the three channels (outputs are RGB);
* 16-bit grayscale PNG/TIFF: scaled by 1/65535, keeping its precision
  (Pillow reduces 16-bit *colour* PNGs to 8 bits when it opens them);
  32-bit float grayscale TIFF: taken as [0, 1] and clipped;
* transparency (RGBA, LA, palette or colour-key transparency): composited
  over white, as a browser shows it on a white page. Dropping alpha instead
  would reveal whatever colour the transparent pixels happen to hold, often
  black.

Writing: `write_sequence` puts the frames as PNGs, an animated GIF, an
H.264 MP4 and a strip (input | frames) into one folder. Folders appear
atomically (`atomic_dir`): they are written under a temporary name and
renamed when complete, so an error leaves no half-written output.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np
from PIL import Image
from PIL import ImageOps

from cbl_jax import visualization

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp",
                  ".gif")
# The strip is shrunk to at most this width: 7 frames of a 4000-pixel photo
# side by side would be 32000 pixels wide, more than viewers like.
MAX_STRIP_WIDTH = 16384
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
  """Reads an image file as upright RGB float32 in [0, 1].

  Args:
    path: the image file; see the module docstring for what is accepted.

  Returns:
    (H, W, 3) float32 array, H x W as the image is displayed.

  Raises:
    FileNotFoundError: no such file.
    ValueError: not an image Pillow can decode (one line naming the file).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such file.")
  try:
    with Image.open(path) as image:
      image.load()
      upright = ImageOps.exif_transpose(image)
      return _to_rgb(upright if upright is not None else image)
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    # Pillow reports non-image and truncated files as OSError subclasses
    # (UnidentifiedImageError among them) or ValueError.
    message = str(e).replace(str(path), "").strip(" :'") or type(e).__name__
    raise ValueError(f"Cannot read image {path}: {message}") from e


def _to_rgb(image: Image.Image) -> np.ndarray:
  mode = image.mode
  if mode in _SIXTEEN_BIT_MODES:
    # Pillow's own conversion of these modes to RGB clips at 255 instead of
    # scaling; 'I' is how some Pillow versions open 16-bit PNGs.
    gray = np.asarray(image, np.float32) / 65535.0
    return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=-1)
  if mode == "F":
    # Float images (32-bit TIFF) hold linear values in [0, 1] by convention;
    # Pillow's RGB conversion would truncate them to 0 or 1 of 255.
    gray = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    return np.repeat(gray[..., None], 3, axis=-1)
  if mode == "1":
    image = image.convert("L")
  has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
  if has_alpha:
    rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + (1.0 - alpha)  # Over white.
  return np.asarray(image.convert("RGB"), np.float32) / 255.0


def list_images(path: str | os.PathLike[str],
                suffixes: Sequence[str] = IMAGE_SUFFIXES,
                ) -> list[pathlib.Path]:
  """The files to process: one file, or a folder's image files.

  Args:
    path: a file (taken whatever its suffix), or a folder, of which the
      files with one of `suffixes` (any case) are taken, not recursively,
      hidden files excluded, sorted by name.
    suffixes: what a folder's files may end with; `IMAGE_SUFFIXES` by
      default (predict adds video suffixes).

  Returns:
    The files.

  Raises:
    FileNotFoundError: the path does not exist.
    ValueError: a folder without such files.
  """
  path = pathlib.Path(path)
  if path.is_file():
    return [path]
  if not path.exists():
    raise FileNotFoundError(f"Input {path} does not exist.")
  if not path.is_dir():
    raise ValueError(f"Input {path} is neither a file nor a folder.")
  files = sorted(
      p for p in path.iterdir()
      if p.is_file() and p.suffix.lower() in suffixes
      and not p.name.startswith("."))
  if not files:
    kinds = ("images" if set(suffixes) <= set(IMAGE_SUFFIXES) else
             "images or videos")
    raise ValueError(f"No {kinds} ({', '.join(suffixes)}) in folder {path}.")
  return files


def output_names(paths: Sequence[pathlib.Path]) -> list[str]:
  """One output folder name per input: its stem, made unique.

  `a.png` and `a.jpg` would both be `a`; such clashes get the suffix
  appended (`a_png`, `a_jpg`).

  Args:
    paths: input files.

  Returns:
    Names in the order of `paths`.
  """
  stems = [p.stem for p in paths]
  clashes = {s for s in stems if stems.count(s) > 1}
  return [f"{p.stem}_{p.suffix.lstrip('.').lower()}" if p.stem in clashes
          else p.stem for p in paths]


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
  """Yields a temporary folder that becomes `final` when the block succeeds.

  On an exception the temporary folder is removed and `final` is left as it
  was. An existing `final` is replaced.

  Args:
    final: the folder to create.

  Yields:
    The temporary folder, a hidden sibling of `final`.
  """
  final = pathlib.Path(final)
  final.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}.",
                                      suffix=".tmp", dir=final.parent))
  # mkdtemp makes the folder private (0700); outputs get the usual mode.
  tmp.chmod(0o777 & ~_umask())
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if final.exists():
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
  else:
    tmp.rename(final)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
  """Writes an (H, W, 3) uint8 image as PNG."""
  Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG")


class Mp4Writer:
  """Writes RGB frames one at a time as an H.264 MP4 that browsers play.

  Frames go to the encoder as they come, so memory does not depend on the
  number of frames, and the same frames give the same bytes (one encoder
  thread). H.264 in yuv420p (the format browsers decode) halves
  the chroma resolution and needs even sizes: an odd height or width is
  padded by one row or column repeating the last one (`padded` tells). The
  file starts with its index (`movflags=faststart`) so that it streams.

  Timestamps are either implicit (frame i at i / fps) or given per frame in
  units of `time_base`, for variable frame rates; `fps` is then the nominal
  rate players show.

  Usage:

    with Mp4Writer("out.mp4", fps=30) as writer:
      for frame in frames:
        writer.write(frame)
  """

  def __init__(self, path: str | os.PathLike[str], fps: float | Fraction,
               time_base: Fraction | None = None, crf: int = 18):
    """Opens the file.

    Args:
      path: the `.mp4` file.
      fps: frames per second (nominal when timestamps are given).
      time_base: seconds per timestamp unit of `write`'s `pts`; None for
        implicit timestamps.
      crf: x264 quality (0 lossless, 18 visually lossless, 51 worst).
    """
    self._rate = Fraction(fps).limit_denominator(1000)
    if self._rate <= 0:
      raise ValueError(f"fps must be positive, got {fps}.")
    self._time_base = time_base
    self._crf = crf
    # PyAV only where videos are written: training, evaluation and weight
    # export run without it (e.g. on an accelerator image that lacks it).
    import av  # pylint: disable=g-import-not-at-top
    self._av = av
    self._container = av.open(os.fspath(path), mode="w", format="mp4",
                              options={"movflags": "+faststart"})
    self._stream = None
    self._size: tuple[int, int] | None = None
    self._count = 0
    self.padded = False

  def _open_stream(self, height: int, width: int) -> None:
    # Some PyAV builds lack libx264; MPEG-4 Part 2 still plays in most
    # players, though not in browsers.
    codec = "libx264" if "libx264" in self._av.codecs_available else "mpeg4"
    stream = self._container.add_stream(codec, rate=self._rate)
    stream.width, stream.height = width + width % 2, height + height % 2
    stream.pix_fmt = "yuv420p"
    if self._time_base is not None:
      stream.codec_context.time_base = self._time_base
    # x264's threads make the bytes (and so the decoded pixels) differ from
    # run to run; one thread keeps outputs reproducible, and encoding costs
    # little next to the generator.
    stream.codec_context.thread_count = 1
    if codec == "libx264":
      stream.options = {"crf": str(self._crf), "preset": "medium"}
    self._stream = stream
    self._size = (height, width)
    self.padded = bool(height % 2 or width % 2)

  def write(self, frame: np.ndarray, pts: int | None = None) -> None:
    """Encodes one frame.

    Args:
      frame: (H, W, 3) uint8 RGB, the same size for every frame.
      pts: timestamp in units of `time_base` (required if it was given,
        increasing); None for frame count / fps.
    """
    frame = np.asarray(frame, np.uint8)
    if self._stream is None:
      self._open_stream(*frame.shape[:2])
    if frame.shape[:2] != self._size:
      raise ValueError(
          f"Frame {self._count} is {frame.shape[1]}x{frame.shape[0]}, the"
          f" first was {self._size[1]}x{self._size[0]}.")
    if self.padded:
      frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2),
                             (0, 0)), mode="edge")
    video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                             format="rgb24")
    if self._time_base is not None:
      if pts is None:
        raise ValueError("Give pts for every frame when time_base is set.")
      video_frame.pts = int(pts)
      video_frame.time_base = self._time_base
    else:
      video_frame.pts = self._count
    self._container.mux(self._stream.encode(video_frame))
    self._count += 1

  @property
  def frames_written(self) -> int:
    return self._count

  def close(self) -> None:
    """Flushes the encoder and finishes the file."""
    if self._container is None:
      return
    try:
      if self._stream is not None:
        self._container.mux(self._stream.encode())
    finally:
      self._container.close()
      self._container = None

  def __enter__(self) -> "Mp4Writer":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def write_mp4(path: str | os.PathLike[str], frames: np.ndarray,
              fps: float = 7.0) -> bool:
  """Writes frames as an H.264 MP4 that browsers play (see `Mp4Writer`).

  Args:
    path: the `.mp4` file.
    frames: (N, H, W, 3) uint8.
    fps: frames per second.

  Returns:
    True if the frames were padded to even sizes.
  """
  with Mp4Writer(path, fps) as writer:
    for frame in np.asarray(frames, np.uint8):
      writer.write(frame)
  return writer.padded


def make_strip(image: np.ndarray, frames: np.ndarray,
               max_width: int = MAX_STRIP_WIDTH) -> np.ndarray:
  """Lays out `input | frame 0 | ... | frame N-1`, shrunk to `max_width`.

  Args:
    image: (H, W, 3) uint8 input.
    frames: (N, H, W, 3) uint8 frames.
    max_width: largest width of the result; panels are shrunk (Lanczos)
      to fit, never enlarged.

  Returns:
    (h, (N + 1) * w, 3) uint8, with w = min(W, max_width // (N + 1)).
  """
  height, width = image.shape[:2]
  panels = len(frames) + 1
  panel_width = max(1, min(width, max_width // panels))
  if panel_width < width:
    panel_height = max(1, round(height * panel_width / width))
    shrink = lambda x: np.asarray(Image.fromarray(x).resize(
        (panel_width, panel_height), Image.Resampling.LANCZOS))
    image = shrink(image)
    frames = np.stack([shrink(f) for f in frames])
  return visualization.sequence_strip(image, frames)


def write_sequence(folder: str | os.PathLike[str], image: np.ndarray,
                   frames: np.ndarray, fps: float = 7.0) -> list[str]:
  """Writes a prediction: frame PNGs, GIF, MP4 and strip.

  Files, in `folder`: `frame_<i>.png` (i zero-padded to the width of the
  last index, so `frame_0` ... `frame_6` for 7 frames, `frame_00` ...
  `frame_41` for 42), `sequence.gif`, `sequence.mp4` (padded to even sizes
  if needed, see `write_mp4`) and `strip.png` (see `make_strip`).

  Args:
    folder: an existing folder.
    image: (H, W, 3) float input in [0, 1].
    frames: (N, H, W, 3) float frames in [0, 1].
    fps: frame rate of the GIF and the MP4.

  Returns:
    Notes for the user (e.g. that the MP4 was padded); empty if none.
  """
  folder = pathlib.Path(folder)
  image8 = visualization.to_uint8(image)
  frames8 = visualization.to_uint8(frames)
  digits = len(str(len(frames8) - 1))
  for index, frame in enumerate(frames8):
    write_png(folder / f"frame_{index:0{digits}d}.png", frame)
  visualization.write_gif(folder / "sequence.gif", frames8, fps=fps)
  notes = []
  if write_mp4(folder / "sequence.mp4", frames8, fps=fps):
    height, width = frames8.shape[1:3]
    notes.append(
        f"sequence.mp4 is padded to an even size, {width + width % 2}x"
        f"{height + height % 2} (H.264 in browsers needs it); the PNG frames"
        " keep the input's size")
  write_png(folder / "strip.png", make_strip(image8, frames8))
  return notes
