"""Training, evaluation and TensorBoard logs where TensorFlow is missing.

Some accelerator machines have TensorBoard, JAX and the rest, but not
TensorFlow. The commands run here in processes for which TensorFlow is not
installed: a `sitecustomize` first on PYTHONPATH hides `tensorflow` from
every import finder, so `import tensorflow` fails and
`importlib.util.find_spec("tensorflow")` is None, as on such a machine.
The training run also builds its dataset, so TFDS preparation is covered.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests import conftest
from tests.training import event_files

ROOT = pathlib.Path(__file__).resolve().parents[2]

_MARK = "tensorflow-check:"
_HIDE_TENSORFLOW = textwrap.dedent(f"""\
    import atexit
    import sys


    def _hidden(name):
      return name == "tensorflow" or name.startswith("tensorflow.")


    class _Hide:
      # Wraps a finder; answers "not found" for TensorFlow's modules.

      def __init__(self, finder):
        self._finder = finder

      def find_spec(self, name, path=None, target=None):
        if _hidden(name):
          return None
        find = getattr(self._finder, "find_spec", None)
        return None if find is None else find(name, path, target)

      def __getattr__(self, attribute):
        return getattr(self._finder, attribute)


    sys.meta_path[:] = [_Hide(finder) for finder in sys.meta_path]
    atexit.register(lambda: sys.stderr.write(
        "{_MARK} " + str(any(_hidden(m) for m in sys.modules)) + "\\n"))
    """)


@pytest.fixture(scope="module")
def no_tensorflow_env(tmp_path_factory):
  """The environment of a process that cannot import TensorFlow."""
  hook = tmp_path_factory.mktemp("no_tensorflow")
  (hook / "sitecustomize.py").write_text(_HIDE_TENSORFLOW)
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join([str(hook), str(ROOT)])
  env["JAX_PLATFORMS"] = "cpu"
  # The command lines set their own XLA flags (as in test_main).
  # The command lines add the tuned flags themselves; the tests' level stays.
  env["XLA_FLAGS"] = conftest.TEST_XLA_FLAGS
  check = subprocess.run(
      [sys.executable, "-c", "import importlib.util as u; "
       "assert u.find_spec('tensorflow') is None; import tensorflow"],
      env=env, capture_output=True, text=True, timeout=60, check=False)
  assert check.returncode != 0
  assert "No module named 'tensorflow'" in check.stderr, check.stderr
  return env


def _run(env, *args, timeout=300):
  result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"{_MARK} False" in result.stderr, result.stderr[-3000:]
  return result


def test_train_and_evaluate_without_tensorflow(no_tensorflow_env, tmp_path):
  workdir, data_dir = tmp_path / "run", tmp_path / "tfds"
  # Both stages (3 + 2 steps), building synthetic_motion/tiny first.
  train = _run(no_tensorflow_env, "cbl_jax.main",
               f"--config={ROOT / 'configs' / 'test.py'}",
               f"--workdir={workdir}", f"--config.data.data_dir={data_dir}")
  assert "train/content_loss=" in train.stderr
  assert (data_dir / "synthetic_motion" / "tiny").is_dir()

  assert len(event_files.event_paths(workdir)) == 1
  scalars = event_files.scalars(workdir)
  assert sorted(scalars["train/content_loss"]) == [1, 2, 3, 4, 5]
  assert sorted(scalars["train/contiguous_loss"]) == [4, 5]  # Stage 2.
  assert scalars["train/stage"] == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2}
  for tag in ("eval/psnr", "eval/psnr_middle", "eval/ssim",
              "eval/baseline_psnr", "steps_per_sec", "uptime"):
    assert sorted(scalars[tag]) == [5], tag
  images = event_files.images(workdir)
  [predicted], [true] = images["predicted_frames"][5], images["true_frames"][5]
  # The blurry image, then 7 frames, side by side.
  assert predicted.shape == true.shape and predicted.shape[1] % 8 == 0
  assert predicted.shape[2] == 3

  report_dir = tmp_path / "eval"
  evaluate = _run(no_tensorflow_env, "cbl_jax.evaluate",
                  f"--workdir={workdir}", "--dataset=synthetic_motion",
                  "--builder_config=tiny", f"--data_dir={data_dir}",
                  "--num_examples=2", f"--output={report_dir}")
  assert "Examples: 2." in evaluate.stdout
  assert (report_dir / "summary.csv").exists()
