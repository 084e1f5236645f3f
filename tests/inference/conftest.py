"""Fixtures for inference tests: tiny random generators and workdirs."""

import functools
import pathlib

import jax
import numpy as np
import pytest

from cbl_jax import weights
from cbl_jax.inference import model as model_lib
from cbl_jax.training import checkpoints
from cbl_jax.training import state as state_lib
from configs import test as test_config
from tests.inference.helpers import TINY


@pytest.fixture(scope="session")
def tiny_model():
  return model_lib.random_generator(TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_model) -> pathlib.Path:
  """The tiny generator as a msgpack weights file with its sidecar."""
  path = tmp_path_factory.mktemp("weights") / "tiny.msgpack"
  weights.write_weights(path, tiny_model.params, TINY, {"note": "random"})
  return path


def _train_state(config, seed: int):
  """A real TrainState without compiling its init (seconds on a CPU).

  The structure and shapes come from `jax.eval_shape` of the training
  code's own `init_train_state`; the generator gets random weights, the
  rest zeros.
  """
  generator = state_lib.create_generator(config)
  init = functools.partial(
      state_lib.init_train_state, config, generator=generator,
      g_tx=state_lib.create_optimizers(config)[0])
  abstract = jax.eval_shape(init, jax.random.key(0))
  state = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype),
                                 abstract)
  return state.replace(g_params=model_lib.random_params(generator, seed))


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory) -> pathlib.Path:
  """A training workdir as `train_and_evaluate` leaves it, without training.

  `config.json` is configs/test.py's config; `checkpoints/` holds steps 2
  and 4, `best/` step 2. The states are real `TrainState`s written by the
  training code's `Checkpoints`; step 4 has other generator weights than
  step 2, so tests can tell which one was loaded.
  """
  workdir = tmp_path_factory.mktemp("workdir")
  config = test_config.get_config()
  config.generator.init_stddev = 0.3
  (workdir / "config.json").write_text(
      config.to_json_best_effort(indent=2, sort_keys=True))
  manager = checkpoints.Checkpoints(workdir)
  try:
    state2 = _train_state(config, seed=0)
    manager.save(2, state2)
    manager.save_if_best(2, state2, score=20.0)
    manager.save(4, _train_state(config, seed=1))
    manager.wait()
  finally:
    manager.close()
  return workdir
