"""The tuned XLA CPU flags: when they are set, and that they change no result.

XLA reads XLA_FLAGS once per process, so every comparison runs fresh
processes; this test process's own JAX has long started.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from cbl_jax import xla_cpu

ROOT = pathlib.Path(__file__).resolve().parents[2]
_FLAG = xla_cpu.TUNED_FLAGS[0]


def _python(code: str, xla_flags: str | None,
            *args: str) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=300,
                        check=False)


_SET_FLAGS = """
import os
from cbl_jax import xla_cpu
print(xla_cpu.use_tuned_flags())
print(os.environ.get("XLA_FLAGS", ""))
"""


@pytest.mark.skipif(
    xla_cpu._jaxlib_series() not in xla_cpu._MEASURED_JAXLIB_SERIES,  # pylint: disable=protected-access
    reason="the flags apply to the jaxlib series they were measured on")
@pytest.mark.parametrize("before,applied,after", [
    (None, True, _FLAG),
    ("--xla_force_host_platform_device_count=2", True,
     f"--xla_force_host_platform_device_count=2 {_FLAG}"),
    # A user's own choice of the same flag wins.
    (f"{_FLAG}individual_dot", False, f"{_FLAG}individual_dot"),
    (_FLAG, True, _FLAG),  # Idempotent.
])
def test_flags_are_added_to_what_the_user_set(before, applied, after):
  result = _python(_SET_FLAGS, before)
  assert result.returncode == 0, result.stderr[-2000:]
  printed, flags = result.stdout.splitlines()
  assert printed == str(applied)
  assert flags == after


def test_nothing_is_set_after_jax_started(monkeypatch):
  import jax  # pylint: disable=g-import-not-at-top
  jax.devices()  # This process's backends have started.
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setattr(xla_cpu, "_jaxlib_series", lambda: (0, 10))
  assert not xla_cpu.use_tuned_flags()
  assert "XLA_FLAGS" not in os.environ


def test_nothing_is_set_on_an_unmeasured_jaxlib(monkeypatch):
  # XLA aborts on flags it does not know: other series keep XLA's defaults.
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setattr(xla_cpu, "_jaxlib_series", lambda: (0, 99))
  monkeypatch.setattr(xla_cpu, "_backends_started", lambda: False)
  assert not xla_cpu.use_tuned_flags()
  assert "XLA_FLAGS" not in os.environ


@pytest.mark.parametrize("platforms,plugin,applied", [
    ("cpu", True, True),         # The user asked for the CPU.
    ("cuda", False, False),      # A GPU run.
    ("tpu,cpu", False, False),
    ("", True, False),           # jax[cuda12] or libtpu is installed.
    ("", False, True),           # A CPU-only machine.
])
def test_flags_only_when_the_backend_is_the_cpu(monkeypatch, platforms,
                                                plugin, applied):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("JAX_PLATFORMS", platforms)
  monkeypatch.setattr(xla_cpu, "_jaxlib_series", lambda: (0, 10))
  monkeypatch.setattr(xla_cpu, "_backends_started", lambda: False)
  monkeypatch.setattr(xla_cpu, "_accelerator_plugin_installed",
                      lambda: plugin)
  assert xla_cpu.cpu_is_the_backend() == applied
  assert xla_cpu.use_tuned_flags() == applied
  assert (_FLAG in os.environ.get("XLA_FLAGS", "")) == applied


# The generator's and discriminator's losses and gradients, and the
# contextual loss's, computed in a process that first calls use_tuned_flags()
# (or not), printed as JSON.
_GRADIENTS = """
import json, os, sys
from cbl_jax import xla_cpu
if sys.argv[1] == "tuned":
  assert xla_cpu.use_tuned_flags()
import jax, jax.numpy as jnp
from cbl_jax import losses
from cbl_jax.training import state
from configs import default, test

import numpy as np
key = jax.random.key(0)
blurry = jax.random.uniform(jax.random.key(1), (2, 24, 24, 3))
sharp = jax.random.uniform(jax.random.key(2), (2, 7, 24, 24, 3))
def numpy_init(init, *args):
  # Parameters from numpy, shaped by the module: the initialisers' programs
  # take seconds to compile and are not what this test compares.
  rng = np.random.default_rng(0)
  def leaf(path, shape):
    name = jax.tree_util.keystr(path)
    if "'var'" in name:
      return jnp.asarray(rng.uniform(0.5, 1.5, shape.shape), jnp.float32)
    fan_in = np.prod(shape.shape[:-1]) if len(shape.shape) > 1 else 1
    return jnp.asarray(rng.normal(0, 1 / np.sqrt(fan_in), shape.shape),
                       jnp.float32)
  return jax.tree_util.tree_map_with_path(leaf, jax.eval_shape(init, *args))
gen = state.create_generator(default.get_config())
g_params = numpy_init(gen.init, key, blurry)
def g_loss(p):
  return jnp.mean((gen.apply(p, blurry) - sharp) ** 2)
disc = state.create_discriminator(test.get_config())
frames = sharp.reshape(14, 24, 24, 3)
d_params = numpy_init(lambda k, f: disc.init(k, f, train=False), key, frames)
def d_loss(p):
  return jnp.mean(disc.apply(p, frames, train=False) ** 2)
features = jax.random.normal(jax.random.key(3), (1, 16, 16, 32))
def cx_loss(x):
  return losses.contextual_loss(x, features[:, ::-1])
out = {}
for name, fn, arg in (("generator", g_loss, g_params),
                      ("discriminator", d_loss, d_params),
                      ("contextual", cx_loss, features)):
  value, grads = jax.jit(jax.value_and_grad(fn))(arg)
  out[name] = [float(value)] + [
      jnp.ravel(g).tolist() for g in jax.tree.leaves(grads)]
print("XLA_FLAGS=" + os.environ.get("XLA_FLAGS", ""))
print(json.dumps(out))
"""


@pytest.mark.skipif(
    xla_cpu._jaxlib_series() not in xla_cpu._MEASURED_JAXLIB_SERIES,  # pylint: disable=protected-access
    reason="the flags apply to the jaxlib series they were measured on")
def test_tuned_flags_change_results_only_by_rounding():
  runs = {}
  for option in ("tuned", "xla_default"):
    result = _python(_GRADIENTS, None, option)
    assert result.returncode == 0, result.stderr[-2000:]
    flags, values = result.stdout.strip().splitlines()[-2:]
    assert (_FLAG in flags) == (option == "tuned")
    runs[option] = json.loads(values)
  for name, tuned in runs["tuned"].items():
    reference = runs["xla_default"][name]
    np.testing.assert_allclose(tuned[0], reference[0], rtol=1e-5,
                               err_msg=f"{name} loss")
    for index, (a, b) in enumerate(zip(tuned[1:], reference[1:])):
      a, b = np.asarray(a), np.asarray(b)
      scale = np.abs(b).max() + 1e-12
      assert np.abs(a - b).max() <= 1e-4 * scale, f"{name} gradient {index}"
