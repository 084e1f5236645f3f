"""Fixtures for data tests: a tiny synthetic_motion build shared by the tests."""

from __future__ import annotations

import ml_collections
import pytest
import tensorflow_datasets as tfds

from tests.data import fake_data

tfds.disable_progress_bar()


@pytest.fixture(scope='session')
def tiny_data_dir(tmp_path_factory) -> str:
  """A TFDS data dir holding `synthetic_motion/tiny`, built once."""
  from cbl_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  data_dir = str(tmp_path_factory.mktemp('tfds_tiny'))
  pipeline.get_builder(fake_data.data_config(data_dir=data_dir))
  return data_dir


@pytest.fixture
def tiny_config(tiny_data_dir) -> ml_collections.ConfigDict:
  return fake_data.data_config(data_dir=tiny_data_dir)
