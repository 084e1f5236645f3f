"""The global batch on any device count, and the paper config on 8 devices."""

import os
import subprocess
import sys

import numpy as np
import pytest

from cbl_jax.training import batch_rule
from configs import gopro
from tests import conftest
from tests.data import fake_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.mark.parametrize("devices,batch,scale", [
    (1, 4, 1), (2, 4, 1), (4, 4, 1), (8, 8, 2), (3, 6, 1.5)])
def test_paper_batch_on_any_device_count(devices, batch, scale):
  config = gopro.get_config()
  resolved, message = batch_rule.resolve(config, devices)
  assert resolved.batch_size == batch
  assert resolved.eval_batch_size == devices  # 1, rounded up.
  rates = resolved.optimizer
  assert rates.stage1.g_learning_rate == pytest.approx(1e-4 * scale)
  assert rates.stage2.g_learning_rate == pytest.approx(1e-5 * scale)
  assert rates.stage2.d_learning_rate == pytest.approx(1e-4 * scale)
  assert config.batch_size == 4  # The caller's config is left alone.
  assert (message is None) == (scale == 1)
  if message:
    assert f"global batch of {batch}" in message and "\n" not in message


def test_exact_rule_and_divisible_batches_are_used_as_they_are():
  config = gopro.get_config()
  config.batch_size = 16
  resolved, message = batch_rule.resolve(config, 8)
  assert resolved.batch_size == 16 and message is None
  assert resolved.optimizer.stage1.g_learning_rate == pytest.approx(1e-4)
  config.batch_size = 4
  config.batch_size_rule = "exact"
  with pytest.raises(ValueError, match=r"batch_size=4 is not divisible by "
                     r"the 8 devices: set --config.batch_size") as info:
    batch_rule.resolve(config, 8)
  assert "\n" not in str(info.value)


def _gopro_tree(root, size=136):
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    for number in range(7):
      fake_data.write_png(
          os.path.join(root, "GOPRO_Large_all", split, "GOPR0001_07_00",
                       f"{number + 1:06d}.png"),
          rng.integers(0, 256, (size, size, 3), np.uint8))


def test_paper_config_runs_a_step_on_8_devices(tmp_path):
  """configs/gopro.py's shapes, unchanged, on 8 devices (a TPU v3-8).

  Also: its stage-1 checkpoint is small enough for a free Google Drive.
  """
  _gopro_tree(str(tmp_path / "manual"))
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=8 "
             + conftest.TEST_XLA_FLAGS)
  result = subprocess.run(
      [sys.executable, "-m", "cbl_jax.main", "--config=configs/gopro.py",
       f"--workdir={tmp_path / 'run'}",
       f"--config.data.manual_dir={tmp_path / 'manual'}",
       f"--config.data.data_dir={tmp_path / 'tfds'}",
       # One step of stage 1 only, read in this process; shapes unchanged.
       "--config.stage1_steps=1", "--config.stage2_steps=0",
       "--config.data.worker_count=0"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert ("config.batch_size=4 on 8 devices: training with a global batch "
          "of 8 (1 per device) and every learning rate scaled by 2"
          in result.stderr)
  # A stage-1 checkpoint holds the generator and its optimizer only (the
  # paper's discriminator alone would be 2 GB), best/ only the generator.
  size = lambda folder: sum(f.stat().st_size for f in folder.rglob("*")
                            if f.is_file())
  assert size(tmp_path / "run" / "checkpoints" / "1") <= 100 * 2**20
  best = next((tmp_path / "run" / "best").iterdir())
  assert size(best) <= 40 * 2**20
