"""The command line: `python -m cbl_jax.main`, preemption and crashes."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from cbl_jax.training import checkpoints
from cbl_jax.training import loop
from tests import conftest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _main(workdir, data_dir, *overrides):
  return [sys.executable, "-m", "cbl_jax.main",
          f"--config={ROOT / 'configs' / 'test.py'}",
          f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
          *overrides]


def _env():
  env = dict(os.environ)
  # Run from another folder (relative --workdir below), as a user would.
  env["PYTHONPATH"] = str(ROOT)
  env["JAX_PLATFORMS"] = "cpu"
  # main.py adds the tuned flags itself; the tests' optimisation level stays,
  # so that its runs match the ones made in this process bit for bit.
  env["XLA_FLAGS"] = conftest.TEST_XLA_FLAGS
  return env


def _wait_for(predicate, proc, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    assert proc.poll() is None, "training ended before the signal was sent"
    time.sleep(0.05)
  raise TimeoutError("condition not reached")


def _steps(workdir):
  folder = pathlib.Path(workdir) / "checkpoints"
  if not folder.exists():
    return []
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def test_unknown_config_field_is_refused(tiny_data_dir, tmp_path):
  result = subprocess.run(
      _main(tmp_path, tiny_data_dir, "--config.no_such_field=1"),
      cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
      check=False)
  assert result.returncode != 0
  assert "no_such_field" in result.stderr
  assert not (tmp_path / "checkpoints").exists()


def test_sigterm_saves_and_resumes(tiny_data_dir, tmp_path):
  log_path = tmp_path / "log.txt"
  log = open(log_path, "w+")
  # A relative --workdir, resolved against the current folder.
  proc = subprocess.Popen(
      _main("run", tiny_data_dir, "--config.stage1_steps=100000",
            "--config.stage2_steps=0", "--config.checkpoint_every_steps=1000",
            "--config.eval_every_steps=100000"),
      cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT)
  # Wait until training runs (no periodic checkpoint before step 1000).
  _wait_for(lambda: "train/content_loss" in log_path.read_text(), proc)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=120) == 0
  tmp_path = tmp_path / "run"
  steps = _steps(tmp_path)
  assert len(steps) == 1 and 0 < steps[0] < 1000, steps
  assert "SIGTERM" in log_path.read_text()
  # The same command resumes from there (shortened so that it ends).
  saved = steps[0]
  result = subprocess.run(
      _main(tmp_path, tiny_data_dir, f"--config.stage1_steps={saved + 2}",
            "--config.stage2_steps=0"),
      cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Resuming at step {saved}" in result.stderr
  assert _steps(tmp_path)[-1] == saved + 2


def test_kill_9_then_restart_matches_uninterrupted(tiny_config, tmp_path):
  total = 40
  overrides = [f"--config.stage1_steps={total}", "--config.stage2_steps=0",
               "--config.checkpoint_every_steps=4",
               "--config.eval_every_steps=1000"]
  crashed = tmp_path / "crashed"
  proc = subprocess.Popen(_main(crashed, tiny_config.data.data_dir,
                                *overrides),
                          cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  _wait_for(lambda: any(s >= 8 for s in _steps(crashed)), proc)
  proc.kill()  # SIGKILL: no chance to save anything.
  proc.wait()
  assert _steps(crashed)[-1] < total
  result = subprocess.run(_main(crashed, tiny_config.data.data_dir,
                                *overrides),
                          cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=240, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Resuming at step" in result.stderr

  tiny_config.stage1_steps, tiny_config.stage2_steps = total, 0
  tiny_config.checkpoint_every_steps, tiny_config.eval_every_steps = 4, 1000
  loop.train_and_evaluate(tiny_config, str(tmp_path / "straight"))
  a = checkpoints.read_as_numpy(crashed / "checkpoints" / str(total) /
                                "default")
  b = checkpoints.read_as_numpy(tmp_path / "straight" / "checkpoints" /
                                str(total) / "default")
  # Bit-identical on the CPU: same batches, same keys, same state.
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
