"""Several processes on localhost: preemption of one host, data prepared once."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests import conftest

SCRIPT = os.path.join(os.path.dirname(__file__), "multihost_run.py")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(tmp_path, mode, workdir, data_dir, *overrides, tag=""):
  """Two processes (1 CPU device each); output goes to files, since a full
  pipe would block one process inside a collective."""
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  # The command lines add the tuned flags themselves; the tests' level stays.
  env["XLA_FLAGS"] = conftest.TEST_XLA_FLAGS
  procs, logs = [], []
  for i in range(2):
    log_path = tmp_path / f"{mode}{tag}_{i}.log"
    logs.append(log_path)
    procs.append(subprocess.Popen(
        [sys.executable, SCRIPT, mode, str(i), "2", str(port), str(workdir),
         str(data_dir), *overrides],
        env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
        text=True))
  return procs, logs


def _steps(workdir):
  folder = pathlib.Path(workdir) / "checkpoints"
  if not folder.exists():
    return []
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


@pytest.fixture
def processes():
  """Processes a test starts; any still running at its end are killed."""
  started = []
  yield started
  for proc in started:
    if proc.poll() is None:
      proc.kill()
      proc.wait()


def test_sigterm_to_one_process_saves_one_step_everywhere(
    tiny_data_dir, tmp_path, processes):
  # The signal goes to process 1, not the coordinator: the stop reaches
  # process 0 only through the agreement every process takes part in (the
  # same code runs in both, so one signalled process shows it).
  signalled = 1
  workdir = tmp_path / "run"
  long_run = ("--config.stage1_steps=100000", "--config.stage2_steps=0",
              "--config.checkpoint_every_steps=100000",
              "--config.eval_every_steps=100000")
  procs, logs = _start(tmp_path, "train", workdir, tiny_data_dir, *long_run)
  processes.extend(procs)
  deadline = time.time() + 300
  while "train/content_loss" not in logs[0].read_text():
    assert all(p.poll() is None for p in procs), logs[0].read_text()[-3000:]
    assert time.time() < deadline, "training did not start"
    time.sleep(0.1)
  procs[signalled].send_signal(signal.SIGTERM)
  start = time.time()
  for proc, log in zip(procs, logs):
    assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
  assert time.time() - start < 90
  # Both processes saved the same step, together.
  saved = _steps(workdir)
  assert len(saved) == 1 and 0 < saved[0] < 100000, saved
  for log in logs:
    assert (f"Saved the checkpoint of step {saved[0]} after SIGTERM"
            in log.read_text())
  # Both, run again, resume from that step.
  procs, logs = _start(tmp_path, "train", workdir, tiny_data_dir,
                       f"--config.stage1_steps={saved[0] + 1}",
                       "--config.stage2_steps=0", tag="again")
  processes.extend(procs)
  for proc, log in zip(procs, logs):
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert f"Resuming at step {saved[0]}" in log.read_text()
  assert saved[0] + 1 in _steps(workdir)


def test_two_processes_prepare_shared_data_once(tmp_path, processes):
  data_dir = tmp_path / "shared_tfds"
  procs, logs = _start(tmp_path, "prepare", tmp_path / "unused", data_dir)
  processes.extend(procs)
  results = []
  for proc, log in zip(procs, logs):
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    results.append(json.loads(log.read_text().strip().splitlines()[-1]))
  by_process = {r["process"]: r for r in results}
  assert by_process[0]["prepared_here"] and by_process[0]["calls"] == 1
  assert not by_process[1]["prepared_here"] and by_process[1]["calls"] == 0
  assert by_process[0]["train_examples"] == by_process[1]["train_examples"] > 0
