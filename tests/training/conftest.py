"""Fixtures for training tests: the tiny config on a tiny synthetic dataset."""

import pytest

from configs import test as test_config


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A TFDS data dir with `synthetic_motion/tiny` built once per worker."""
  from cbl_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  data_dir = tmp_path_factory.mktemp("tfds")
  config = test_config.get_config()
  config.data.data_dir = str(data_dir)
  pipeline.get_builder(config.data)
  return str(data_dir)


@pytest.fixture
def tiny_config(tiny_data_dir):
  config = test_config.get_config()
  config.data.data_dir = tiny_data_dir
  return config


@pytest.fixture(scope="session")
def tiny_run(tiny_data_dir, tmp_path_factory):
  """One finished tiny training run: (workdir, summary). Copy before writing."""
  from cbl_jax.training import loop  # pylint: disable=g-import-not-at-top
  config = test_config.get_config()
  config.data.data_dir = tiny_data_dir
  workdir = tmp_path_factory.mktemp("tiny_run")
  summary = loop.train_and_evaluate(config, str(workdir))
  return workdir, summary

