"""Shared test setup: CPU only, the command lines' XLA flags, quiet TensorFlow."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One persistent compilation cache for the whole run (workers and the
# command lines the tests start inherit it), outside the user's home.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      tempfile.mkdtemp(prefix="cbl_jax_test_jax_cache_"))
# Every program, however quick to compile: the tests and the processes they
# start compile the same small programs many times over.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

# LLVM at optimisation level 1, not XLA's default 2: the tests' programs are
# tiny and compiling them was most of the suite's time (710 s at level 2,
# 563 s at level 1, beside a training run on 2 cores). Level 0 is faster
# still but turned some gradients into NaN. The command lines the tests
# start inherit the level (tests that drop XLA_FLAGS add it back with
# TEST_XLA_FLAGS), so in-process and subprocess results stay bit-identical.
# Users' runs keep XLA's default, and tests/models/test_xla_cpu.py runs its
# processes at that default.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=1"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = " ".join(
      filter(None, [os.environ.get("XLA_FLAGS", ""), TEST_XLA_FLAGS]))

# pylint: disable=g-import-not-at-top,wrong-import-position
from cbl_jax import xla_cpu

# Before any test starts JAX: in-process results then match those of the
# command lines the tests run as subprocesses, which set the same flags.
xla_cpu.use_tuned_flags()
