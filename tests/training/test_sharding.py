"""One code path for 1 device, several devices and several processes."""

import json
import os
import socket
import subprocess
import sys

from etils import epath
import jax
import numpy as np

from cbl_jax.training import checkpoints
from cbl_jax.training import loop

SCRIPT = os.path.join(os.path.dirname(__file__), "tiny_run.py")


def _env(devices: int) -> dict[str, str]:
  env = dict(os.environ)
  # Keep this process's XLA flags (tests/conftest.py's tuned ones): the runs
  # are compared with tiny_run, made here, and the tuned flags change results
  # by rounding, which training steps can amplify past the tolerance.
  env["XLA_FLAGS"] = " ".join(filter(None, [
      env.get("XLA_FLAGS", ""),
      f"--xla_force_host_platform_device_count={devices}"]))
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _params(workdir):
  path = epath.Path(workdir) / "checkpoints" / "5" / "default"
  return checkpoints.read_as_numpy(path)


def _assert_close(a, b):
  jax.tree_util.tree_map(
      lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5),
      a, b)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_on_four_devices_match_one(tiny_config, tiny_run,
                                                 tmp_path):
  workdir = tmp_path / "two"
  port = _free_port()
  # Output goes to files: a pipe that fills up would block one process
  # inside a collective while the other waits for it.
  logs = [open(tmp_path / f"process{i}.log", "w+") for i in range(2)]
  procs = [
      subprocess.Popen(
          [sys.executable, SCRIPT, str(workdir), tiny_config.data.data_dir,
           str(i), "2", str(port)],
          env=_env(2), stdout=logs[i], stderr=subprocess.STDOUT, text=True)
      for i in range(2)
  ]
  outputs = []
  for p, log in zip(procs, logs):
    p.wait(timeout=300)
    log.seek(0)
    outputs.append(log.read())
    log.close()
    assert p.returncode == 0, outputs[-1][-3000:]
  results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
  assert {r["process"] for r in results} == {0, 1}
  assert all(r["devices"] == 4 for r in results)
  assert results[0]["psnr"] == results[1]["psnr"]
  # Same global batches as a single process with 1 device: same result, the
  # discriminator's kernels sharded over the 4 devices included.
  single, _ = tiny_run
  a, b = _params(single), _params(workdir)
  _assert_close(a["g_params"], b["g_params"])
  _assert_close(a["d_params"], b["d_params"])
  # A checkpoint written by 2 processes on 4 devices resumes on 1.
  tiny_config.stage2_steps += 1
  loop.train_and_evaluate(tiny_config, str(workdir))
  assert (workdir / "checkpoints" / "6").exists()
