"""Tiled prediction equals whole-image prediction, in bounded memory."""

import time
import tracemalloc

import numpy as np
import pytest

from cbl_jax.inference import image_io
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling
from tests.inference.helpers import TINY
from tests.inference.helpers import gradient_image
from tests.inference.helpers import real_path


@pytest.mark.parametrize("length,tile,overlap", [
    (100, 100, 10), (101, 32, 14), (640, 256, 64), (3000, 256, 16),
    (17, 10, 4), (257, 256, 0)])
def test_tile_starts_cover_with_enough_overlap(length, tile, overlap):
  starts = tiling.tile_starts(length, tile, overlap)
  assert starts[0] == 0 and starts[-1] + tile == length
  steps = np.diff(starts)
  assert np.all(steps >= 1) and np.all(steps <= tile - overlap)
  # The fewest tiles that can do it.
  assert len(starts) == (1 if tile >= length else
                         -(-(length - tile) // (tile - overlap)) + 1)


@pytest.mark.parametrize("overlap,margin", [(64, 7), (14, 7), (9, 4), (0, 0)])
def test_neighbour_weights_sum_to_one(overlap, margin):
  size = 80
  before = tiling.axis_weights(size, False, True, overlap, margin)
  after = tiling.axis_weights(size, True, False, overlap, margin)
  # Overlaid at the nominal overlap, the two tiles' weights add to one...
  total = np.zeros(2 * size - overlap)
  total[:size] += before
  total[size - overlap:] += after
  np.testing.assert_allclose(total, 1.0, atol=1e-6)
  # ...and each is zero within `margin` of its cut edge.
  assert not after[:margin].any() and not before[size - margin:].any()
  assert tiling.axis_weights(size, False, False, overlap, margin).min() == 1


def test_tiled_equals_untiled_on_a_real_image(tiny_model):
  # 2 * receptive radius = 14 for the tiny generator: with an overlap of 16
  # every blended pixel comes from tiles at least 7 pixels from their cuts,
  # where a tile sees exactly what the whole image sees. What remains is
  # float rounding of convolutions over differently shaped inputs (~1e-7).
  image = image_io.read_image(real_path("adobe240_blurry", "00777.png"))
  image = image[:200, :300]
  whole = tiling.predict_frames(tiny_model, image)
  assert whole.shape == (7, 200, 300, 3)
  assert whole.std() > 0.05  # The test model's output is not trivial.
  for options in (tiling.TileOptions(64, 16, 4), tiling.TileOptions(80, 30, 3),
                  tiling.TileOptions(128, 14, 1)):
    tiled = tiling.predict_tiled(tiny_model, image, options)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, err_msg=str(options))


def test_small_overlap_blends_seams(tiny_model):
  # Below 2 * radius the seam cannot be exact; it goes in the middle of the
  # overlap, and only pixels within the radius of a cut edge differ. Two
  # tiles side by side: columns [0, 48) and [40, 88), cut edges at 47 and
  # 40, the seam at 44.
  image = gradient_image(40, 88) * 0.8 + 0.1
  image[:, ::5] = 0.2  # Texture, so that the boundary error is not zero.
  whole = tiling.predict_frames(tiny_model, image)
  tiled = tiling.predict_tiled(tiny_model, image, tiling.TileOptions(48, 8, 2))
  error = np.abs(tiled - whole).max(axis=(0, 1, 3))
  assert error.max() > 1e-3
  assert set(np.nonzero(error > 1e-5)[0]) <= set(range(41, 47))
  np.testing.assert_array_equal(
      tiling.predict_tiled(tiny_model, image, tiling.TileOptions(0)), whole)


def test_tile_options_are_checked():
  for kwargs in (dict(tile_size=-1), dict(tile_size=64, tile_overlap=64),
                 dict(batch_size=0)):
    with pytest.raises(ValueError):
      tiling.TileOptions(**kwargs)


def test_huge_image_compiles_once_and_stays_in_bounded_memory():
  # A 12-megapixel photo through 256-pixel tiles. The cheapest generator
  # (receptive radius 5) keeps this to seconds on a CPU; the point is the
  # tiling: the generator only ever sees one input shape (one compilation,
  # device memory of one batch of tiles), and host memory holds little more
  # than the float32 result itself.
  model = model_lib.random_generator(
      dict(TINY, stem_features=1, features=1, num_blocks=0, head_features=1))
  shapes = set()
  apply_fn = model.apply_fn

  def spy(params, x, blend=None):
    shapes.add(x.shape)
    return apply_fn(params, x, blend)

  object.__setattr__(model, "apply_fn", spy)
  height, width = 3000, 4000
  image = np.empty((height, width, 3), np.float32)
  image[:] = (np.linspace(0, 0.5, height, dtype=np.float32)[:, None, None] +
              np.linspace(0, 0.5, width, dtype=np.float32)[None, :, None])
  tracemalloc.start()
  start = time.perf_counter()
  try:
    frames = tiling.predict_tiled(model, image, tiling.TileOptions(256, 16, 8))
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  elapsed = time.perf_counter() - start
  assert frames.shape == (7, height, width, 3) and frames.dtype == np.float32
  assert np.isfinite(frames).all()
  assert shapes == {(8, 256, 256, 3)}
  # The result, one (H, W) weight map, one batch of tiles: a float64 or
  # an extra full-size copy anywhere would break this.
  assert peak < 1.25 * frames.nbytes, (peak, frames.nbytes)
  assert elapsed < 120, elapsed


def test_tiled_equals_untiled_for_a_folding_generator():
  # With space_to_depth = 4 tiles start on multiples of 4 of the image
  # padded like the generator pads it, so that each tile sees its pixels at
  # the same positions modulo 4 as the whole image does.
  config = dict(TINY, space_to_depth=4)
  model = model_lib.random_generator(config, seed=0)
  assert model.receptive_radius == 4 * 7 + 3
  image = gradient_image(101, 157) * 0.8 + 0.1
  image[:, ::3] = 0.2
  whole = tiling.predict_frames(model, image)
  assert whole.std() > 0.05
  tiled = tiling.predict_tiled(model, image, tiling.TileOptions(96, 64, 2))
  np.testing.assert_allclose(tiled, whole, atol=1e-5)
  rough = tiling.predict_tiled(model, image, tiling.TileOptions(96, 8, 2))
  assert np.abs(rough - whole).max() > 1e-3
