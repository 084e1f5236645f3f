"""The wall-clock budget per invocation and the run's compute ledger."""

import json

import numpy as np
import pytest

from cbl_jax.inference import model as model_lib
from cbl_jax.training import budget
from cbl_jax.training import loop


def test_time_budget_spends_only_when_set(monkeypatch):
  clock = [100.0]
  monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
  none, one_minute = budget.TimeBudget(0), budget.TimeBudget(1.0)
  clock[0] += 59
  assert not none.spent(1) and not one_minute.spent(1)
  clock[0] += 1
  assert one_minute.spent(2) and not none.spent(2)


def test_budget_stops_a_run_that_the_same_command_continues(tiny_config,
                                                            tmp_path):
  tiny_config.stage1_steps = 50
  tiny_config.stage2_steps = 0
  tiny_config.checkpoint_every_steps = 100
  tiny_config.eval_every_steps = 100
  # Spent as soon as the first step is done.
  tiny_config.train_minutes = 1e-9
  workdir = tmp_path / "run"
  first = loop.train_and_evaluate(tiny_config, str(workdir))
  # The budget's last step is evaluated and saved like a run's last.
  assert "psnr_middle" in first
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["1"]
  ledger = json.loads((workdir / "compute.json").read_text())["entries"]
  assert [e["step"] for e in ledger] == [1] and ledger[0]["cpu_seconds"] > 0

  loop.train_and_evaluate(tiny_config, str(workdir))
  assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [
      1, 2]
  again = json.loads((workdir / "compute.json").read_text())["entries"]
  # Compute adds up over invocations.
  assert [e["step"] for e in again] == [1, 2]
  assert again[1]["cpu_seconds"] > again[0]["cpu_seconds"]
  assert again[1]["wall_seconds"] > again[0]["wall_seconds"]


def test_negative_budget_is_refused(tiny_config, tmp_path):
  tiny_config.train_minutes = -1.0
  with pytest.raises(ValueError, match="train_minutes=-1.0 must be >= 0"):
    loop.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_a_run_goes_on_from_exported_weights(tiny_config, tiny_run, tmp_path):
  from cbl_jax.inference import export_weights  # pylint: disable=g-import-not-at-top
  from tests.inference.helpers import run_cli  # pylint: disable=g-import-not-at-top
  workdir, _ = tiny_run
  exported = tmp_path / "weights.msgpack"
  assert run_cli(export_weights, [f"--workdir={workdir}", "--which=latest",
                                  f"--output={exported}"]) == 0
  tiny_config.init_from = str(exported)
  tiny_config.stage1_steps, tiny_config.stage2_steps = 1, 0
  loop.train_and_evaluate(tiny_config, str(tmp_path / "continued"))
  # The step-0 generator of the new run is the exported one, so one step
  # later its parameters are near them, not near a fresh initialisation.
  start = model_lib.load_weights_file(exported).params
  after = model_lib.load_workdir(str(tmp_path / "continued"), "latest").params
  import jax  # pylint: disable=g-import-not-at-top
  gap = max(jax.tree.leaves(jax.tree.map(
      lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()),
      start, after)))
  assert gap < 0.05


def test_missing_weights_file_is_refused(tiny_config, tmp_path):
  tiny_config.init_from = str(tmp_path / "nope.msgpack")
  with pytest.raises(ValueError, match="is not a file: give an exported"):
    loop.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_weights_of_another_generator_leave_no_workdir(tiny_config, tmp_path):
  # The shipped weights are the default config's generator, not the tiny one.
  from cbl_jax import weights  # pylint: disable=g-import-not-at-top
  tiny_config.init_from = str(weights.DEFAULT_WEIGHTS)
  with pytest.raises(ValueError, match="holds another generator's weights"):
    loop.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
