"""Shared test setup: CPU only, the command lines' XLA flags, quiet TensorFlow."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One persistent compilation cache for the whole run (workers and the
# command lines the tests start inherit it), outside the user's home.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      tempfile.mkdtemp(prefix="cbl_jax_test_jax_cache_"))

# pylint: disable=g-import-not-at-top,wrong-import-position
from cbl_jax import xla_cpu

# Before any test starts JAX: in-process results then match those of the
# command lines the tests run as subprocesses, which set the same flags.
xla_cpu.use_tuned_flags()
