"""Tests for the Table 1 generator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax import color
from cbl_jax.models import Generator


def _count(params) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(params))


def _conv_params(cin: int, cout: int) -> int:
  return 3 * 3 * cin * cout + cout


@pytest.mark.parametrize("color_mode,cin", [("rgb", 3), ("y", 1)])
def test_parameter_count_matches_table1(color_mode, cin):
  # By hand from Table 1: L1 (16), L2 (64), 26 convs of 64 (13 blocks),
  # L29 and L30 (256), L31 (7 frames x input channels).
  expected = (_conv_params(cin, 16) + _conv_params(16, 64) +
              26 * _conv_params(64, 64) + _conv_params(64, 256) +
              _conv_params(256, 256) + _conv_params(256, 7 * cin))
  model = Generator(color_mode=color_mode)
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          jnp.zeros((1, 16, 16, 3)))
  assert _count(shapes["params"]) == expected
  if color_mode == "rgb":
    assert expected == 1_756_053  # 21 output channels, as in Table 1.
  # 31 convolutions, named as in Table 1.
  names = set()
  for path, _ in jax.tree_util.tree_flatten_with_path(shapes["params"])[0]:
    names.update(k.key for k in path if k.key.startswith("L"))
  assert names == {f"L{i}" for i in range(1, 32)}


@pytest.mark.parametrize("color_mode", ["rgb", "y"])
@pytest.mark.parametrize("size", [(32, 48), (127, 65), (5, 3)])
def test_output_shape_any_size(color_mode, size):
  model = Generator(color_mode=color_mode, features=8, stem_features=4,
                    num_blocks=2, head_features=8)
  x = jnp.ones((2, *size, 3)) * 0.5
  params = jax.jit(model.init)(jax.random.key(0), x)
  out = jax.jit(model.apply)(params, x)
  assert out.shape == (2, 7, *size, 3)
  assert out.dtype == jnp.float32


def test_full_size_model_runs_jitted():
  model = Generator()
  x = jax.random.uniform(jax.random.key(1), (1, 20, 24, 3))
  params = jax.jit(model.init)(jax.random.key(0), x)
  out = jax.jit(model.apply)(params, x)
  assert out.shape == (1, 7, 20, 24, 3)
  assert np.isfinite(np.asarray(out)).all()


def test_initialisation_is_normal_001():
  model = Generator()
  params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))["params"]
  kernel = np.asarray(params["block5"]["L12"]["kernel"])
  assert abs(kernel.std() - 0.01) < 0.0005
  assert abs(kernel.mean()) < 0.0005
  assert not np.asarray(params["L31"]["bias"]).any()


@pytest.mark.parametrize("color_mode", ["rgb", "y"])
def test_gradients_reach_every_parameter(color_mode):
  model = Generator(color_mode=color_mode, features=8, stem_features=4,
                    num_blocks=3, head_features=8, init_stddev=0.1)
  x = jax.random.uniform(jax.random.key(1), (2, 9, 11, 3))
  target = jax.random.uniform(jax.random.key(2), (2, 7, 9, 11, 3))
  params = jax.jit(model.init)(jax.random.key(0), x)["params"]

  def loss(p):
    return jnp.mean((model.apply({"params": p}, x) - target) ** 2)

  grads = jax.jit(jax.grad(loss))(params)
  for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
    assert np.abs(np.asarray(g)).max() > 0, jax.tree_util.keystr(path)


def test_y_mode_keeps_input_chroma():
  model = Generator(color_mode="y", features=8, stem_features=4,
                    num_blocks=1, head_features=8, init_stddev=0.1)
  x = jax.random.uniform(jax.random.key(1), (1, 6, 7, 3))
  params = jax.jit(model.init)(jax.random.key(0), x)
  frames = jax.jit(model.apply)(params, x)
  chroma_in = np.asarray(color.rgb_to_ycbcr(x))[..., 1:]
  chroma_out = np.asarray(color.rgb_to_ycbcr(frames))[..., 1:]
  for t in range(7):
    np.testing.assert_allclose(chroma_out[:, t], chroma_in, atol=1e-5)


def test_input_skip_predicts_blurry_input_at_zero_weights():
  model = Generator(features=8, stem_features=4, num_blocks=1,
                    head_features=8, input_skip=True)
  x = jax.random.uniform(jax.random.key(1), (1, 6, 7, 3))
  params = jax.jit(model.init)(jax.random.key(0), x)
  zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
  frames = model.apply(zeros, x)
  np.testing.assert_allclose(np.asarray(frames),
                             np.broadcast_to(x[:, None], frames.shape))


def test_bad_input_messages():
  model = Generator(features=8, stem_features=4, num_blocks=1,
                    head_features=8)
  with pytest.raises(ValueError, match=r"\(batch, H, W, 3\)"):
    model.init(jax.random.key(0), jnp.zeros((8, 8, 3)))
  with pytest.raises(ValueError, match="color_mode must be one of"):
    Generator(color_mode="lab").init(jax.random.key(0),
                                     jnp.zeros((1, 8, 8, 3)))


def test_he_initialisation_option():
  model = Generator(init_stddev=None, input_skip=True)
  x = jax.random.uniform(jax.random.key(1), (1, 12, 12, 3))
  params = jax.jit(model.init)(jax.random.key(0), x)["params"]
  kernel = np.asarray(params["block5"]["L12"]["kernel"])
  # He: std sqrt(2 / fan_in), fan_in = 3 * 3 * 64.
  assert abs(kernel.std() - np.sqrt(2 / 576)) < 0.1 * np.sqrt(2 / 576)
  assert not np.asarray(params["L31"]["kernel"]).any()
  # Zero last layer + input skip: the untrained model repeats its input.
  frames = model.apply({"params": params}, x)
  np.testing.assert_allclose(np.asarray(frames),
                             np.broadcast_to(x[:, None], frames.shape),
                             atol=1e-6)


@pytest.mark.parametrize("size", [(16, 16), (13, 22)])
def test_space_to_depth_any_size_and_zero_weights(size):
  model = Generator(features=8, stem_features=4, num_blocks=1,
                    head_features=8, input_skip=True, space_to_depth=4)
  x = jax.random.uniform(jax.random.key(1), (2, *size, 3))
  params = model.init(jax.random.key(0), x)
  # L7 (the output layer) predicts 7 frames x 3 colours for each of the
  # 4 x 4 pixels of a block.
  assert params["params"]["L7"]["kernel"].shape == (3, 3, 8, 7 * 3 * 16)
  frames = model.apply(params, x)
  assert frames.shape == (2, 7, *size, 3)
  zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
  np.testing.assert_allclose(np.asarray(model.apply(zeros, x)),
                             np.broadcast_to(x[:, None], frames.shape))


def test_space_to_depth_reach_matches_receptive_radius():
  from cbl_jax.models import generator as generator_lib  # pylint: disable=g-import-not-at-top
  model = Generator(features=8, stem_features=4, num_blocks=1,
                    head_features=8, input_skip=False, init_stddev=0.3,
                    space_to_depth=4)
  size = 64
  x = jnp.zeros((1, size, size, 3))
  params = model.init(jax.random.key(0), x)
  centre = 33  # Position 1 within its 4 x 4 block.
  bumped = x.at[0, centre, centre].set(1.0)
  changed = np.abs(np.asarray(model.apply(params, bumped) -
                              model.apply(params, x))).max(axis=(0, 1, 4))
  reach = np.nonzero(changed.max(axis=0) > 0)[0]
  radius = generator_lib.receptive_radius(1, 4)
  assert radius == 4 * 7 + 3  # 7 layers of 4-pixel blocks.
  # An input pixel reaches output pixels up to `radius` away, not further.
  assert reach.min() >= centre - radius and reach.max() <= centre + radius
  assert reach.max() - reach.min() > 2 * 4 * 5  # Far beyond 7 pixels.
  with pytest.raises(ValueError, match="space_to_depth must be >= 1"):
    Generator(space_to_depth=0).init(jax.random.key(0),
                                     jnp.zeros((1, 8, 8, 3)))


def test_zero_mean_residual_frames_average_to_the_input():
  model = Generator(features=8, stem_features=4, num_blocks=1,
                    head_features=8, input_skip=True, init_stddev=0.3,
                    zero_mean_residual=True, space_to_depth=2)
  x = jax.random.uniform(jax.random.key(1), (2, 10, 12, 3))
  params = model.init(jax.random.key(0), x)
  frames = np.asarray(model.apply(params, x))
  assert np.abs(frames - np.asarray(x)[:, None]).max() > 0.05  # They move.
  np.testing.assert_allclose(frames.mean(axis=1), np.asarray(x), atol=1e-5)


def test_residual_deadzone_soft_thresholds_the_residuals():
  kwargs = dict(features=8, stem_features=4, num_blocks=1, head_features=8,
                input_skip=True, init_stddev=0.05)
  plain = Generator(**kwargs)
  x = jax.random.uniform(jax.random.key(1), (2, 10, 12, 3))
  params = plain.init(jax.random.key(0), x)
  residual = np.asarray(plain.apply(params, x)) - np.asarray(x)[:, None]
  # A threshold that half of the residuals fall below.
  threshold = float(np.median(np.abs(residual)))
  dead = Generator(**kwargs, residual_deadzone=threshold)
  shrunk = np.asarray(dead.apply(params, x)) - np.asarray(x)[:, None]
  small = np.abs(residual) <= threshold
  # Small residuals vanish (the photo comes back as it is there); larger
  # ones shrink by the threshold and keep their sign.
  assert np.all(shrunk[small] == 0)
  np.testing.assert_allclose(
      shrunk[~small],
      residual[~small] - threshold * np.sign(residual[~small]), atol=1e-6)
