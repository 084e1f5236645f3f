"""Evaluation during training: sharded over devices, exact per example."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from cbl_jax.data import pipeline
from cbl_jax.training import batch_rule
from cbl_jax.training import eval_loop
from cbl_jax.training import sharding
from cbl_jax.training import state as state_lib
from tests import conftest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Scores the tiny config's generator (seed 0) on 6 evaluation examples with
# an evaluation batch of 3, rounded up to the device count; prints the
# summary as JSON.
_EVALUATE = """
import json, sys
import jax
from cbl_jax.training import batch_rule, eval_loop, sharding
from cbl_jax.training import state as state_lib
from configs import test as test_config
config = test_config.get_config()
config.data.data_dir = sys.argv[1]
config.data.num_eval_examples = 6
config.eval_batch_size = 3
config, _ = batch_rule.resolve(config, jax.device_count())
generator = state_lib.create_generator(config)
params = jax.jit(generator.init)(jax.random.key(0),
                                  jax.numpy.zeros((1, 16, 16, 3)))
evaluator = eval_loop.ShardedEvaluator(config, generator, sharding.make_mesh())
summary, first = evaluator(params["params"])
print(json.dumps({"devices": jax.device_count(), "batch": config.eval_batch_size,
                  "summary": summary, "first": first is not None}))
"""


def _evaluate(devices: int, data_dir: str) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} "
             + conftest.TEST_XLA_FLAGS)
  result = subprocess.run([sys.executable, "-c", _EVALUATE, data_dir],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_sharded_evaluation_equals_one_device(tiny_data_dir):
  one, four = _evaluate(1, tiny_data_dir), _evaluate(4, tiny_data_dir)
  assert (one["devices"], one["batch"]) == (1, 3)
  assert (four["devices"], four["batch"]) == (4, 4)  # 6 = 4 + 2 + padding.
  assert one["first"] and four["first"]
  assert one["summary"].keys() == four["summary"].keys()
  for key, value in one["summary"].items():
    assert four["summary"][key] == pytest.approx(value, abs=1e-4), key


def test_batches_of_mixed_frame_sizes_score_every_example_alone(
    tiny_config, monkeypatch):
  """DVD's videos differ in size: each example is scored on its own frame."""
  rng = np.random.default_rng(0)
  sizes = [(16, 16), (16, 16), (24, 16), (16, 16), (24, 16)]
  examples = []
  for height, width in sizes:
    sharp = rng.integers(0, 256, (1, 7, height, width, 3), np.uint8)
    examples.append({"blurry": sharp.mean(axis=1).astype(np.uint8),
                     "sharp": sharp})
  monkeypatch.setattr(pipeline, "eval_dataset",
                      lambda data_config, batch_size: examples)
  generator = state_lib.create_generator(tiny_config)
  params = jax.jit(generator.init)(
      jax.random.key(0), np.zeros((1, 16, 16, 3), np.float32))["params"]
  mesh = sharding.make_mesh()

  def summary(batch_size):
    config = tiny_config.copy_and_resolve_references()
    config.eval_batch_size = batch_size
    config, _ = batch_rule.resolve(config, jax.device_count())
    return eval_loop.ShardedEvaluator(config, generator, mesh)(params)[0]

  one_by_one, mixed = summary(1), summary(4)
  for key, value in one_by_one.items():
    assert mixed[key] == pytest.approx(value, abs=1e-5), key
