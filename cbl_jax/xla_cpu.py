"""XLA options that make this network's convolutions faster on a CPU.

jaxlib 0.10's XLA:CPU hands dots to the YNNPACK library by default. With
that default, this network's 3x3 convolutions, most of all their kernel
gradients, run much slower than with YNNPACK off, when XLA's own (Eigen)
convolutions do all the work: a stage-1 training step of the default
configuration runs 1.25x faster, and one of the paper's network 1.65x
faster, with YNNPACK off (`benchmarks/train_step.py --xla_cpu_options=both`;
numbers in BENCHMARKS.md). Results differ only by float32 rounding
(tests/models/test_xla_cpu.py compares the two).

XLA reads `XLA_FLAGS` once, when JAX starts its first backend, so
`use_tuned_flags()` must run before the first computation: the command-line
entry points call it first thing. It adds the flag only when JAX will run on
the CPU (`cpu_is_the_backend`: JAX_PLATFORMS names only the CPU, or no GPU
or TPU plugin is installed), leaves a user's own setting of the same flag
alone, and does nothing on jaxlib versions where the effect has not been
measured (XLA aborts on flags it does not know, and the option is
experimental).
"""

import importlib.metadata
import importlib.util
import os
import sys

from absl import logging

# Turning every YNNPACK fusion type off: an empty list.
_FLAG_NAME = "--xla_cpu_experimental_ynn_fusion_type"
TUNED_FLAGS = (f"{_FLAG_NAME}=",)
# The jaxlib series on which TUNED_FLAGS exist and were measured.
_MEASURED_JAXLIB_SERIES = ((0, 10),)


def _jaxlib_series() -> tuple[int, int]:
  # From the package metadata: importing jaxlib would load XLA.
  major, minor = importlib.metadata.version("jaxlib").split(".")[:2]
  return int(major), int(minor)


# Modules whose presence means JAX will pick an accelerator by default:
# PJRT plugins (jax[cuda12], jax[cuda13], ROCm) and Cloud TPU's libtpu.
_ACCELERATOR_MODULES = ("libtpu", "jax_cuda12_plugin", "jax_cuda13_plugin",
                        "jax_rocm60_plugin", "jax_rocm7_plugin")


def _accelerator_plugin_installed() -> bool:
  if any(importlib.util.find_spec(name) is not None
         for name in _ACCELERATOR_MODULES):
    return True
  # Other PJRT plugins register under this entry-point group.
  plugins = importlib.metadata.entry_points(group="jax_plugins")
  return any(plugin.name != "cpu" for plugin in plugins)


def cpu_is_the_backend() -> bool:
  """Whether JAX will run on the CPU, decided without starting JAX.

  Returns:
    True if JAX_PLATFORMS lists only "cpu", or if it is unset and no GPU or
    TPU plugin is installed.
  """
  platforms = os.environ.get("JAX_PLATFORMS", "").strip()
  if platforms:
    return {p.strip() for p in platforms.split(",") if p.strip()} == {"cpu"}
  return not _accelerator_plugin_installed()


def _backends_started() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
    return xla_bridge.backends_are_initialized()
  except (ImportError, AttributeError):  # A JAX without that helper.
    return False


def use_tuned_flags() -> bool:
  """Adds TUNED_FLAGS to XLA_FLAGS, if that is safe and still has an effect.

  Returns:
    True if the flags were added (or were already there), False if they were
    not: JAX will run on a GPU or TPU, another jaxlib series, the user set the
    flag, or JAX had already started (then a warning says so).
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if all(flag in flags.split() for flag in TUNED_FLAGS):
    return True
  if _FLAG_NAME in flags:
    return False  # The user's own choice.
  if not cpu_is_the_backend():
    return False
  if _jaxlib_series() not in _MEASURED_JAXLIB_SERIES:
    return False
  if _backends_started():
    logging.warning(
        "JAX has already started: XLA_FLAGS %s would have no effect. Call "
        "cbl_jax.xla_cpu.use_tuned_flags() before the first JAX computation.",
        " ".join(TUNED_FLAGS))
    return False
  os.environ["XLA_FLAGS"] = " ".join([flags, *TUNED_FLAGS]).strip()
  return True
