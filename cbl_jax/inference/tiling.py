"""Whole-image and tiled prediction: one blurry image to T sharp frames.

The generator is fully convolutional, so a photo of any size can be cut into
overlapping tiles, each predicted on its own and the results blended. Memory
then depends on the tile, not the photo: a 4000x3000 picture runs in the
same device memory as a 512x512 one.

Why the blend is exact. Every layer is a 3x3 'SAME' convolution, so the
boundary effect of cutting a tile (zero padding where the photo continues)
moves one pixel inward per layer: after the generator's r convolutions
(`receptive_radius`, 31 for Table 1) an output pixel at distance >= r from a
cut edge equals the whole-image output (edges that are the photo's own
border are no cut: there the tile pads exactly as the whole image does).
Each tile's blending weight is therefore zero within `margin` = min(r,
overlap // 2) pixels of its cut edges, rises as a raised cosine over the
next `overlap - 2 * margin` pixels, and is one elsewhere; the blend divides
by the sum of the weights (neighbours' ramps are mirror images, so at the
nominal overlap they already sum to one). With
`overlap >= 2 * r` no pixel takes anything from a tile within r pixels of
its cut: the tiled result equals the whole-image one up to float rounding.
With a smaller overlap the seams sit in the middle of each overlap, where
both tiles are as far from their cuts as they can be, and differ from the
whole-image result by the (small) boundary error at that distance.

Tiles all have one shape, (min(tile_size, H), min(tile_size, W)): they are
spread evenly over the photo so that the last one ends on its border (never
padded with invented content, which would change the result near the
border), and a batch with fewer tiles than `batch_size` is filled up with
copies whose results are dropped. The jitted generator therefore compiles
once per tile shape and batch size, i.e. once for all photos larger than a
tile. Photos no larger than a tile run whole, in one call.

Host memory holds the float32 result, 4 * T * 3 * H * W bytes (about 1 GB
for 7 frames of 4000x3000), plus one weight map.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from absl import logging
import numpy as np

from cbl_jax.inference.model import LoadedGenerator


@dataclasses.dataclass(frozen=True)
class TileOptions:
  """How to cut large images.

  Attributes:
    tile_size: side of the square tiles in pixels; images no larger than
      this in both directions run whole. 0 disables tiling.
    tile_overlap: minimum overlap of neighbouring tiles in pixels; at least
      twice the generator's receptive radius makes tiling exact. None (the
      default) takes exactly that, and then tiles grow to at least twice
      the overlap, so that a generator of any reach tiles exactly.
    batch_size: tiles per generator call.
  """

  tile_size: int = 512
  tile_overlap: int | None = None
  batch_size: int = 2

  def __post_init__(self):
    if self.tile_size < 0:
      raise ValueError(f"tile_size must be >= 0, got {self.tile_size}.")
    if self.tile_size and self.tile_overlap is not None and not (
        0 <= self.tile_overlap < self.tile_size):
      raise ValueError(
          f"tile_overlap must be in [0, tile_size={self.tile_size}), got"
          f" {self.tile_overlap}.")
    if self.batch_size < 1:
      raise ValueError(f"tile batch size must be >= 1, got {self.batch_size}.")


def _check_image(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image, np.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"Expected an (H, W, 3) image, got {image.shape}.")
  return image


def predict_frames(model: LoadedGenerator, image: np.ndarray) -> np.ndarray:
  """Predicts the frames of a whole image in one generator call.

  Args:
    model: the generator.
    image: (H, W, 3) RGB float in [0, 1].

  Returns:
    (T, H, W, 3) float32 frames, clipped to [0, 1].
  """
  image = _check_image(image)
  frames = np.asarray(model(image[None]))[0]
  return np.clip(frames, 0.0, 1.0)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
  """Start offsets of tiles of side `tile` covering `length` pixels.

  Uses the fewest tiles whose neighbours overlap by at least `overlap`, and
  spreads them evenly so that the first starts at 0 and the last ends at
  `length`.

  Args:
    length: image size along the axis.
    tile: tile size along the axis, at most `length`.
    overlap: minimum overlap, less than `tile`.

  Returns:
    Increasing start offsets.
  """
  if tile >= length:
    return [0]
  stride = tile - overlap
  count = math.ceil((length - tile) / stride) + 1
  span = length - tile
  # i * span / (count - 1) rounded half up: the exact steps are <= stride
  # (an integer), so the rounded ones are too, and overlaps stay >= overlap.
  return [(2 * i * span + count - 1) // (2 * (count - 1))
          for i in range(count)]


def axis_weights(size: int, cut_before: bool, cut_after: bool, overlap: int,
                 margin: int) -> np.ndarray:
  """1D blending weights of one tile along one axis (see module docstring).

  Args:
    size: tile size along the axis.
    cut_before: the tile's first edge is a cut (not the image border).
    cut_after: its last edge is a cut.
    overlap: the nominal overlap of neighbours.
    margin: pixels next to a cut that get weight zero.

  Returns:
    (size,) float32 weights in [0, 1].
  """
  weights = np.ones(size, np.float64)
  ramp = overlap - 2 * margin
  distance = np.arange(size, dtype=np.float64)  # From the first edge.
  if ramp > 0:
    # Raised cosine over [margin, margin + ramp): the mirror-image ramp of
    # the neighbour adds up with it to exactly one.
    t = np.clip((distance - margin + 0.5) / ramp, 0.0, 1.0)
    rise = 0.5 - 0.5 * np.cos(np.pi * t)
  else:
    rise = (distance >= margin).astype(np.float64)
  if cut_before:
    weights *= rise
  if cut_after:
    weights *= rise[::-1]
  return weights.astype(np.float32)


# Told (tiles done, tiles in all) after each generator call.
ProgressFn = Callable[[int, int], None]


def predict_tiled(model: LoadedGenerator, image: np.ndarray,
                  options: TileOptions = TileOptions(),
                  progress: ProgressFn | None = None) -> np.ndarray:
  """Predicts the frames of an image of any size through blended tiles.

  Args:
    model: the generator.
    image: (H, W, 3) RGB float in [0, 1].
    options: tile size, overlap and batch size.
    progress: called with (tiles done, tiles in all) as tiles finish; an
      image that runs whole counts as one tile.

  Returns:
    (T, H, W, 3) float32 frames, clipped to [0, 1]; equal to
    `predict_frames` up to float rounding when the overlap is at least
    twice the generator's receptive radius (see the module docstring).
  """
  image = _check_image(image)
  height, width = image.shape[:2]
  if options.tile_size and options.tile_overlap is None:
    overlap = 2 * model.receptive_radius
    options = dataclasses.replace(
        options, tile_overlap=overlap,
        tile_size=max(options.tile_size, 2 * overlap))
  if not options.tile_size or (height <= options.tile_size and
                               width <= options.tile_size):
    frames = predict_frames(model, image)
    if progress is not None:
      progress(1, 1)
    return frames
  fold = model.module.pixel_alignment()
  if fold > 1:
    # A folding generator (space_to_depth = s, or a U-Net whose coarsest
    # cells are s pixels wide) treats pixels by their position modulo s and
    # pads the bottom and right edges. Tiles of the
    # image padded the same way, starting and ending on multiples of s, see
    # what the whole image would.
    padded = np.pad(image, ((0, -height % fold), (0, -width % fold), (0, 0)),
                    mode="edge")
    coarse = TileOptions(
        tile_size=max(1, options.tile_size // fold),
        tile_overlap=-(-options.tile_overlap // fold),
        batch_size=options.batch_size)
    return _predict_tiles(model, padded, coarse, fold,
                          progress)[:, :height, :width]
  return _predict_tiles(model, image, options, 1, progress)


def _predict_tiles(model: LoadedGenerator, image: np.ndarray,
                   options: TileOptions, fold: int,
                   progress: ProgressFn | None) -> np.ndarray:
  """`predict_tiled`'s blend; tile sizes and offsets in units of `fold`."""
  height, width = image.shape[:2]
  tile_h = min(options.tile_size * fold, height)
  tile_w = min(options.tile_size * fold, width)
  overlap = options.tile_overlap * fold
  radius = model.receptive_radius
  margin = min(radius, overlap // 2)
  if overlap < 2 * radius:
    logging.log_first_n(
        logging.WARNING,
        "tile_overlap=%d is less than 2 x the generator's receptive radius"
        " %d: tile seams will differ slightly from whole-image prediction.",
        1, overlap, radius)

  ys = [fold * y for y in tile_starts(height // fold, tile_h // fold,
                                      overlap // fold)]
  xs = [fold * x for x in tile_starts(width // fold, tile_w // fold,
                                      overlap // fold)]
  wy = [axis_weights(tile_h, i > 0, i < len(ys) - 1, overlap, margin)
        for i in range(len(ys))]
  wx = [axis_weights(tile_w, j > 0, j < len(xs) - 1, overlap, margin)
        for j in range(len(xs))]
  tiles = [(i, j) for i in range(len(ys)) for j in range(len(xs))]

  frames = np.zeros((model.num_frames, height, width, 3), np.float32)
  total = np.zeros((height, width), np.float32)
  batch = options.batch_size

  def dispatch(first):
    chunk = tiles[first:first + batch]
    crops = [image[ys[i]:ys[i] + tile_h, xs[j]:xs[j] + tile_w]
             for i, j in chunk]
    weights = [wy[i][:, None] * wx[j][None, :] for i, j in chunk]
    # Fill the last batch up to the fixed batch size: one compiled shape.
    crops += [crops[-1]] * (batch - len(crops))
    weights += [weights[-1]] * (batch - len(weights))
    # The device weights the frames; the host only adds them up.
    return chunk, weights, model(np.stack(crops), np.stack(weights))

  pending = dispatch(0)
  for first in range(0, len(tiles), batch):
    chunk, weights, result = pending
    if first + batch < len(tiles):
      # JAX runs the next batch while this one is added on the host.
      pending = dispatch(first + batch)
    for (i, j), weight, pred in zip(chunk, weights, np.asarray(result)):
      rows = slice(ys[i], ys[i] + tile_h)
      cols = slice(xs[j], xs[j] + tile_w)
      frames[:, rows, cols] += pred
      total[rows, cols] += weight
    if progress is not None:
      progress(min(first + batch, len(tiles)), len(tiles))
  # Every pixel has a positive total: see `axis_weights` and the overlap.
  frames /= total[None, :, :, None]
  np.clip(frames, 0.0, 1.0, out=frames)
  return frames
