"""Tests for the Table 2 discriminator."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cbl_jax.models import Discriminator

SMALL = dict(group_features=(4, 8, 8, 16), fc_features=(32,))


def _count(tree) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(tree))


def test_paper_shape_parameter_count():
  # Table 2 on a 128x128 input with the flattened head: 16 convs (no bias,
  # each followed by BN scale+offset), FC 4096 on 16x16x512, FC 2.
  depths, widths = (2, 4, 5, 5), (64, 128, 256, 512)
  conv = 0
  cin = 3
  for depth, width in zip(depths, widths):
    for _ in range(depth):
      conv += 9 * cin * width + 2 * width
      cin = width
  fc = (16 * 16 * 512 * 4096 + 4096) + (4096 * 2 + 2)
  model = Discriminator(head_pooling="flatten")
  shapes = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 128, 128, 3)),
                         train=False))
  assert _count(shapes["params"]) == conv + fc
  names = [k for k in shapes["params"] if k.startswith("conv")]
  assert len(names) == 16
  # Batch statistics: mean and var of every BN.
  assert _count(shapes["batch_stats"]) == 2 * sum(
      w * d for w, d in zip(widths, depths))


@pytest.mark.parametrize("pooling", ["flatten", "avg", "max"])
def test_logits_shape(pooling):
  model = Discriminator(head_pooling=pooling, **SMALL)
  x = jax.ShapeDtypeStruct((3, 32, 24, 3), jnp.float32)
  # Shapes only: nothing to compile (the initialisers alone take seconds).
  logits = jax.eval_shape(
      lambda key, x: model.apply(model.init(key, x, train=False), x,
                                 train=False), jax.random.key(1), x)
  assert logits.shape == (3, 2)


def test_batch_norm_train_and_eval_modes():
  model = Discriminator(**SMALL)
  x = jax.random.uniform(jax.random.key(0), (4, 16, 16, 3))
  variables = jax.jit(functools.partial(model.init, train=False))(
      jax.random.key(1), x)
  _, updates = jax.jit(functools.partial(
      model.apply, train=True, mutable=["batch_stats"]))(variables, x)
  before = jax.tree_util.tree_leaves(variables["batch_stats"])
  after = jax.tree_util.tree_leaves(updates["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  # Eval mode uses the running averages: one example's logits do not depend
  # on the rest of the batch.
  eval_fn = lambda v, x: model.apply(v, x, train=False)
  alone = eval_fn(variables, x[:1])
  together = eval_fn(variables, x)[:1]
  np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)
  # Train mode uses batch statistics, so it does depend on the batch.
  train_fn = lambda v, x: model.apply(v, x, train=True,
                                      mutable=["batch_stats"])[0]
  assert not np.allclose(train_fn(variables, x[:2])[:1],
                         train_fn(variables, x)[:1], atol=1e-6)


def test_bad_head_pooling():
  with pytest.raises(ValueError, match="head_pooling must be one of"):
    Discriminator(head_pooling="sum", **SMALL).init(
        jax.random.key(0), jnp.zeros((1, 16, 16, 3)), train=False)
