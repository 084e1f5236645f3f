"""Shared test setup: CPU only, the command lines' XLA flags, quiet TensorFlow."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
from cbl_jax import xla_cpu

# Before any test starts JAX: in-process results then match those of the
# command lines the tests run as subprocesses, which set the same flags.
xla_cpu.use_tuned_flags()
