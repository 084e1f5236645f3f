"""Bad input across the command lines: one line that says what to change,
no traceback, and nothing written."""

import os
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (command, what one line of stderr must contain)
CASES = [
    (["cbl_jax.main", "--config=configs/gopro.py",
      "--config.data.manual_dir={tmp}/nothing", "--config.data.data_dir={tmp}/tfds",
      "--workdir={tmp}/out"],
     "Manual dir is missing or empty: expected GOPRO_Large_all"),
    (["cbl_jax.main", "--config=configs/default.py",
      "--config.generator.num_frames=6", "--workdir={tmp}/out"],
     "num_frames=6 must be odd"),
    (["cbl_jax.main", "--config=configs/default.py", "--config.batch_size=0",
      "--workdir={tmp}/out"],
     "batch_size=0 must be at least 1"),
    (["cbl_jax.main", "--config=configs/default.py",
      "--config.batch_size=eight", "--workdir={tmp}/out"],
     "config.batch_size"),
    (["cbl_jax.predict", "--input={tmp}/photo.png", "--output={tmp}/out",
      "--levels=two"],
     "--levels"),
    (["cbl_jax.predict", "--input={tmp}/missing.png", "--output={tmp}/out"],
     "does not exist"),
    (["cbl_jax.predict", "--input={tmp}/empty", "--output={tmp}/out"],
     "No images"),
    (["cbl_jax.predict", "--input={tmp}/photo.png", "--output={tmp}/out",
      "--checkpoint={tmp}/no_checkpoint"],
     "Checkpoint"),
    (["cbl_jax.evaluate", "--output={tmp}/out"],
     "give exactly one of --dataset, --pairs_dir or --input"),
    (["cbl_jax.data.build", "--name=imagenet", "--data_dir={tmp}/out"],
     "imagenet"),
]


@pytest.mark.parametrize("command,message", CASES,
                         ids=[" ".join(c[:2]) for c, _ in CASES])
def test_bad_input_gets_one_line(command, message, tmp_path):
  (tmp_path / "empty").mkdir()
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photo.png")
  args = [a.format(tmp=tmp_path) for a in command]
  env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180,
                          check=False)
  assert result.returncode != 0
  # The message is on one line of its own (absl's flag errors add a hint
  # line after it).
  assert any(message in line for line in result.stderr.splitlines()), (
      result.stderr[-2000:])
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "out").exists()
