"""End-to-end tests of train_and_evaluate on the tiny config."""

import shutil

import jax
import numpy as np
import pytest

from cbl_jax.training import checkpoints
from cbl_jax.training import loop
from tests.training import event_files


def _read_state(path):
  return checkpoints.read_as_numpy(path)


def test_tiny_run_writes_everything(tiny_run):
  tmp_path, summary = tiny_run
  for key in ("psnr", "ssim", "psnr_middle", "psnr_frame0", "ssim_frame6",
              "baseline_psnr", "baseline_psnr_middle"):
    assert np.isfinite(summary[key]), key
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()
                 if p.name.isdigit())
  assert steps[-1] == 5 and 4 in steps  # Periodic (every 2) and final.
  assert any((tmp_path / "best").iterdir())
  assert list((tmp_path / "samples").glob("predicted_*.gif"))
  assert list(tmp_path.glob("events.out.tfevents.*"))
  assert (tmp_path / "config.json").exists()
  state = _read_state(tmp_path / "checkpoints" / "5" / "default")
  assert int(state["step"]) == 5
  assert int(state["skipped_steps"]) == 0


def test_resume_continues_exactly(tiny_config, tiny_run, tmp_path):
  straight, _ = tiny_run
  # Simulate a crash after the step-2 checkpoint: drop the later ones and
  # run the same command again; it must reach the same parameters.
  resumed = tmp_path / "resumed"
  shutil.copytree(straight, resumed)
  for step in ("4", "5"):
    shutil.rmtree(resumed / "checkpoints" / step)
  shutil.rmtree(resumed / "best")
  loop.train_and_evaluate(tiny_config, str(resumed))
  a = _read_state(straight / "checkpoints" / "5" / "default")
  b = _read_state(resumed / "checkpoints" / "5" / "default")
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def test_finished_workdir_only_evaluates(tiny_config, tiny_run, tmp_path):
  workdir, first = tiny_run
  shutil.copytree(workdir, tmp_path / "copy")
  again = loop.train_and_evaluate(tiny_config, str(tmp_path / "copy"))
  assert again["psnr"] == pytest.approx(first["psnr"], abs=1e-4)


def test_stage2_from_stage1_workdir(tiny_config, tmp_path):
  stage1 = tiny_config.copy_and_resolve_references()
  stage1.stage2_steps = 0
  loop.train_and_evaluate(stage1, str(tmp_path / "stage1"))
  stage2 = tiny_config.copy_and_resolve_references()
  stage2.stage1_steps = 0
  stage2.init_from = str(tmp_path / "stage1")
  loop.train_and_evaluate(stage2, str(tmp_path / "stage2"))
  s1 = _read_state(tmp_path / "stage1" / "checkpoints" / "3" / "default")
  s2 = _read_state(tmp_path / "stage2" / "checkpoints" / "2" / "default")
  # Stage 2 moved the generator away from where stage 1 left it, and its
  # discriminator was trained.
  assert not np.allclose(s1["g_params"]["L1"]["kernel"],
                         s2["g_params"]["L1"]["kernel"])
  with pytest.raises(ValueError, match="config.init_from=.* has no "
                     "checkpoints/ folder"):
    missing = stage2.copy_and_resolve_references()
    missing.init_from = str(tmp_path / "nothing_here")
    loop.train_and_evaluate(missing, str(tmp_path / "stage2b"))


def test_nonfinite_loss_stops_with_step_and_term(tiny_config, tmp_path):
  tiny_config.optimizer.stage1.g_learning_rate = 1e30
  with pytest.raises(loop.NonFiniteLossError,
                     match=r"Non-finite \w+ at step \d+"):
    loop.train_and_evaluate(tiny_config, str(tmp_path))
  # Whatever was saved before the stop holds finite parameters only.
  for step_dir in (tmp_path / "checkpoints").iterdir():
    if step_dir.name.isdigit():
      state = _read_state(step_dir / "default")
      for leaf in jax.tree_util.tree_leaves(state["g_params"]):
        assert np.isfinite(leaf).all()


def test_nonfinite_skip_counts_steps(tiny_config, tmp_path):
  tiny_config.optimizer.stage1.g_learning_rate = 1e30
  tiny_config.on_nonfinite = "skip"
  loop.train_and_evaluate(tiny_config, str(tmp_path))
  state = _read_state(tmp_path / "checkpoints" / "5" / "default")
  assert int(state["skipped_steps"]) >= 1
  assert int(state["first_bad_step"]) >= 0
  for leaf in jax.tree_util.tree_leaves(state["g_params"]):
    assert np.isfinite(leaf).all()


def test_workdir_of_another_model_is_refused(tiny_config, tiny_run):
  tmp_path, _ = tiny_run
  other = tiny_config.copy_and_resolve_references()
  other.generator.features = 16
  with pytest.raises(ValueError, match=r"another generator \(different "
                     r"features\): use a new --workdir"):
    loop.train_and_evaluate(other, str(tmp_path))
  # The good checkpoints are untouched.
  assert (tmp_path / "checkpoints" / "5").exists()


def test_crop_larger_than_data_fails_before_anything_is_written(
    tiny_config, tmp_path):
  tiny_config.data.crop_size = 64  # The tiny frames are 32 x 32.
  with pytest.raises(ValueError, match="crop") as info:
    loop.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert "\n" not in str(info.value)
  assert not (tmp_path / "run").exists()


def test_bad_shift_blur_option_fails_before_anything_is_written(
    tiny_config, tmp_path):
  tiny_config.data.shift_blur_prob = 1.5
  with pytest.raises(ValueError, match="shift_blur_prob") as info:
    loop.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert "\n" not in str(info.value)
  assert not (tmp_path / "run").exists()


def test_damaged_latest_checkpoint_falls_back_to_previous(
    tiny_config, tiny_run, tmp_path, caplog):
  source, _ = tiny_run
  workdir = tmp_path / "run"
  shutil.copytree(source, workdir)
  shutil.rmtree(workdir / "best")
  # The machine died while the step-5 checkpoint was on its way to disk:
  # every array file of it is cut short.
  damaged = workdir / "checkpoints" / "5"
  for path in damaged.rglob("*"):
    if path.is_file() and path.stat().st_size > 0 and "metadata" not in (
        path.name):
      path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
  with caplog.at_level("WARNING"):
    loop.train_and_evaluate(tiny_config, str(workdir))
  assert "could not be read" in caplog.text
  # Moved aside, not deleted, and the good one was used to redo step 5.
  assert (workdir / "damaged_checkpoints" / "5").exists()
  assert (workdir / "checkpoints" / "4").exists()
  a = _read_state(source / "checkpoints" / "5" / "default")
  b = _read_state(workdir / "checkpoints" / "5" / "default")
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def _logged_scalars(workdir, name):
  """{step: value} of one scalar from the workdir's TensorBoard files."""
  return event_files.scalars(workdir).get(name, {})


def test_stage2_learning_rates_do_not_depend_on_how_it_starts(
    tiny_config, tiny_run, tmp_path):
  """One command for both stages, or stage 2 from init_from: same rates."""
  both, _ = tiny_run
  stage2 = tiny_config.copy_and_resolve_references()
  stage2.stage1_steps = 0
  # Rates do not depend on the weights, so any finished run will do as the
  # stage-1 workdir.
  stage2.init_from = str(both)
  loop.train_and_evaluate(stage2, str(tmp_path / "stage2"))
  offset = tiny_config.stage1_steps
  for name in ("train/g_learning_rate", "train/d_learning_rate"):
    one_command = _logged_scalars(both, name)
    alone = _logged_scalars(tmp_path / "stage2", name)
    assert sorted(alone) == [1, 2]  # Logged after every step.
    for done, rate in alone.items():
      assert one_command[done + offset] == pytest.approx(rate, rel=1e-6)
  g_rates = _logged_scalars(both, "train/g_learning_rate")
  d_rates = _logged_scalars(both, "train/d_learning_rate")
  rates = tiny_config.optimizer
  # Stage 1 at G's rate, D idle; stage 2 warms both up over 2 steps.
  for done in range(1, offset + 1):
    assert g_rates[done] == pytest.approx(rates.stage1.g_learning_rate)
    assert d_rates[done] == 0
  for done, factor in ((offset + 1, 0.5), (offset + 2, 1.0)):
    assert g_rates[done] == pytest.approx(
        factor * rates.stage2.g_learning_rate, rel=1e-6)
    assert d_rates[done] == pytest.approx(
        factor * rates.stage2.d_learning_rate, rel=1e-6)


def test_bfloat16_trains_both_stages_with_float32_parameters(
    tiny_config, tmp_path):
  tiny_config.generator.dtype = "bfloat16"
  tiny_config.discriminator.dtype = "bfloat16"
  summary = loop.train_and_evaluate(tiny_config, str(tmp_path))
  assert all(np.isfinite(v) for v in summary.values())
  state = _read_state(tmp_path / "checkpoints" / "5" / "default")
  assert int(state["skipped_steps"]) == 0
  for network in ("g_params", "d_params"):
    dtypes = {leaf.dtype for leaf in jax.tree_util.tree_leaves(
        state[network])}
    assert dtypes == {np.dtype(np.float32)}, network
  # The stage-1 checkpoint holds no discriminator; the best one only G.
  stage1 = _read_state(tmp_path / "checkpoints" / "2" / "default")
  assert stage1["d_params"] is None and stage1["d_opt_state"] is None
  best_step = next((tmp_path / "best").iterdir()).name
  best = _read_state(tmp_path / "best" / best_step / "default")
  assert set(best) == {"step", "g_params"}
