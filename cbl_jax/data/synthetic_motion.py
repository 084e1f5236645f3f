"""Procedural motion-blur examples from photographs that ship with a package.

This is the embedded default data set: nothing is downloaded. A scene is a
background plus a few foreground objects. The background is a real photograph
from scikit-image's wheel (`skimage/data/`) or a procedural texture; each
object is a shape (ellipse, rounded rectangle or star-like blob) cut from
another photograph, a tinted texture photograph or a procedural texture.
During the exposure the camera follows a smooth random path (translation with
curvature and acceleration, a small rotation and zoom) and every object moves
along its own path, so motion differs across the image, as in GoPro and DVD.

The exposure is rendered at ``7 * K`` instants (``K = subframes_per_group``,
odd) by inverse warping with bilinear sampling, in NumPy. Each rendered
sub-frame is rounded to uint8, as a 240 fps camera would store it, and the
blurry image is Eq. 2 over all ``7 * K`` sub-frames (`blur.synthesize_blur`).
The seven sharp targets are, with ``sharp_target='instant'`` (default), the
sub-frames at the centres of the seven groups of K, i.e. truly sharp instants
at times (k + 1/2) / 7 of the exposure; with ``sharp_target='average'`` they
are Eq. 2 over each group (`blur.sub_averages`), so their mean is exactly the
blurry image's signal.

Every example is a pure function of (seed, split, index): its NumPy Generator
is seeded with ``SeedSequence([seed, split_id, index])``, so any example can be
regenerated alone and results do not depend on worker scheduling. The train
and test splits draw from disjoint photographs and disjoint seed streams.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from cbl_jax.data import blur
from cbl_jax.data import frames_io

# Disjoint photo pools per split. "photos" are colour (or grey) scenes used as
# backgrounds and object textures; "textures" are grey material photos, tinted
# when used on objects. All are files inside the scikit-image wheel, so they
# load without network access (scikit-image fetches its other images with
# pooch).
SOURCE_IMAGES = {
    'train': {
        'photos': (
            'astronaut.png',
            'coffee.png',
            'rocket.jpg',
            'motorcycle_left.png',
            'ihc.png',
            'hubble_deep_field.jpg',
        ),
        'textures': ('brick.png', 'grass.png', 'coins.png', 'page.png'),
    },
    'test': {
        'photos': ('chelsea.png', 'camera.png', 'retina.jpg', 'color.png'),
        'textures': ('gravel.png', 'text.png'),
    },
}
SPLIT_IDS = {'train': 0, 'test': 1}

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
    response: camera response for Eq. 2; see `blur.get_response`.
    sharp_target: 'instant' or 'average', see the module docstring.
    seed: base seed of every example's Generator.
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

  @property
  def num_subframes(self) -> int:
    return blur.NUM_TARGET_FRAMES * self.subframes_per_group


@dataclasses.dataclass(frozen=True)
class _Source:
  name: str
  pixels: np.ndarray  # (H, W, 3) float32 codes in [0, 255].


def _skimage_data_dir():
  try:
    return importlib.resources.files('skimage') / 'data'
  except ModuleNotFoundError as e:
    raise ModuleNotFoundError(
        'The synthetic_motion data set renders photographs shipped inside'
        ' scikit-image; install it with `pip install scikit-image`.'
    ) from e


@functools.lru_cache(maxsize=8)
def load_sources(split: str, image_size: int) -> dict[str, tuple[_Source, ...]]:
  """Loads a split's photos, resized so the shorter side is 2 * image_size.

  Resizing once with Lanczos filtering keeps the per-frame bilinear sampling
  (near unit zoom) free of aliasing.

  Args:
    split: 'train' or 'test'.
    image_size: output frame side.

  Returns:
    {'photos': ..., 'textures': ...} tuples of sources.
  """
  if split not in SOURCE_IMAGES:
    raise ValueError(f'Unknown split {split!r}; use one of {list(SOURCE_IMAGES)}.')
  data_dir = _skimage_data_dir()
  target = 2 * image_size
  pools = {}
  for kind, names in SOURCE_IMAGES[split].items():
    sources = []
    for name in names:
      with Image.open(data_dir / name) as image:
        image = image.convert('RGB')
        scale = target / min(image.size)
        size = (max(target, round(image.width * scale)),
                max(target, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        sources.append(_Source(name.rsplit('.', 1)[0],
                               np.asarray(image, dtype=np.float32)))
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


def _path(rng: np.random.Generator, t: np.ndarray, length: float) -> np.ndarray:
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
) -> dict:
  """Draws one object's shape, texture and motion parameters.

  Args:
    rng: the example's generator.
    config: rendering parameters.
    sources: the split's photo pools.
    exclude: name of the background photo, not reused as a texture.

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
  photos = [s for s in sources['photos'] if s.name != exclude]
  if choice < 0.4:
    source = photos[rng.integers(len(photos))]
    params['texture'], params['texture_name'] = source.pixels, source.name
  elif choice < 0.7:
    source = sources['textures'][rng.integers(len(sources['textures']))]
    tint = rng.uniform(0.35, 1.0, size=3).astype(np.float32)
    params['texture'] = source.pixels * tint
    params['texture_name'] = source.name
  else:
    params['texture'] = _procedural_texture(rng, size)
    params['texture_name'] = 'procedural'
  tex_h, tex_w = params['texture'].shape[:2]
  reach = math.hypot(a, b)
  params['texture_centre'] = (
      rng.uniform(reach, max(reach, tex_w - reach)),
      rng.uniform(reach, max(reach, tex_h - reach)),
  )
  params['motion'] = rng.uniform(0.0, config.max_object_motion)
  params['rotation'] = math.radians(
      rng.uniform(-1, 1) * config.max_object_rotation_deg
  )
  params['angle0'] = rng.uniform(0, 2 * math.pi)
  params['screen_centre'] = rng.uniform(-0.35, 0.35, size=2) * size
  return params


def render_subframes(
    index: int, split: str, config: MotionConfig
) -> tuple[np.ndarray, str]:
  """Renders the 7 * K uint8 sub-frames of one example.

  Args:
    index: example index within the split.
    split: 'train' or 'test'.
    config: rendering parameters.

  Returns:
    (sub-frames (7K, S, S, 3) uint8 in time order, description of the scene's
    sources for provenance).
  """
  rng = np.random.default_rng(
      np.random.SeedSequence([config.seed, SPLIT_IDS[split], index])
  )
  sources = load_sources(split, config.image_size)
  size = config.image_size
  num = config.num_subframes
  t = (np.arange(num) + 0.5) / num

  # Background: a photo, or a procedural texture large enough for the view.
  if rng.uniform() < config.procedural_background_prob:
    background = _procedural_texture(rng, 2 * size)
    background_name = 'procedural'
  else:
    source = sources['photos'][rng.integers(len(sources['photos']))]
    background, background_name = source.pixels, source.name

  # Camera: world (background pixel) coordinates of output pixel p at time t
  # are  w = c(t) + z(t) R(theta(t)) p,  p centred on the frame.
  length = rng.uniform(config.min_camera_motion, config.max_camera_motion)
  centre_path = _path(rng, t, length)
  theta = math.radians(rng.uniform(-5, 5)) + math.radians(
      rng.uniform(-1, 1) * config.max_rotation_deg
  ) * (t - 0.5)
  zoom = rng.uniform(0.85, 1.2) * np.exp(
      rng.uniform(-1, 1) * config.max_zoom * (t - 0.5)
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

  objects = [
      _draw_object(rng, config, sources, background_name)
      for _ in range(rng.integers(1, config.max_objects + 1))
  ]
  for obj in objects:
    # Object pose in world coordinates: centre o(t), rotation phi(t). It is
    # placed so that it is on screen at mid exposure.
    z0 = float(zoom[num // 2])
    c0, s0 = float(cos_t[num // 2]), float(sin_t[num // 2])
    sx, sy = obj['screen_centre']
    mid = centre + z0 * np.array([c0 * sx - s0 * sy, s0 * sx + c0 * sy])
    o = (mid + _path(rng, t, obj['motion'])).astype(np.float32)
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

  names = [background_name] + [obj['texture_name'] for obj in objects]
  subframes = np.clip(np.floor(frames + 0.5), 0, 255).astype(np.uint8)
  return subframes, f'{split}/{index:05d}/' + '+'.join(names)


def target_indices(config: MotionConfig) -> np.ndarray:
  """Sub-frame index of each target instant: k * K + K // 2, k = 0..6."""
  k = config.subframes_per_group
  return np.arange(blur.NUM_TARGET_FRAMES) * k + k // 2


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
  response = blur.get_response(config.response)
  blurry = blur.synthesize_blur(subframes, response)
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


__all__: Sequence[str] = (
    'MotionConfig',
    'SOURCE_IMAGES',
    'load_sources',
    'render_encoded_example',
    'render_example',
    'render_subframes',
    'target_indices',
)
