"""The data commands: `python -m cbl_jax.data.build` and the pipeline benchmark."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _run(*args):
  # The repository on the path, so the commands run from a checkout too.
  path = os.pathsep.join(filter(None, [REPO, os.environ.get('PYTHONPATH')]))
  env = dict(os.environ, JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=path)
  return subprocess.run([sys.executable, *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120,
                        check=False)


def test_benchmark_tiny(tmp_path):
  result = _run('benchmarks/input_pipeline.py', '--tiny',
                f'--data_dir={tmp_path}', '--batch_size=2', '--crop_size=8',
                '--worker_count=0', '--num_batches=3', '--repeats=2',
                '--warmup=1')
  assert result.returncode == 0, result.stderr
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['dataset'] == 'synthetic_motion/tiny'
  assert report['batch_size'] == 2 and report['crop_size'] == 8
  assert report['batches_per_run'] == 3
  assert len(report['examples_per_second_runs']) == 2
  assert report['examples_per_second_median'] > 0
  assert 'examples/s (median of 2 runs of 3 batches of 2' in result.stdout


def test_build_command(tmp_path):
  result = _run('-m', 'cbl_jax.data.build', '--name=synthetic_motion',
                '--builder_config=tiny', f'--data_dir={tmp_path}')
  assert result.returncode == 0, result.stderr
  assert 'synthetic_motion/tiny is ready in' in result.stdout
  assert '  train: 16 examples' in result.stdout
  assert '  test: 4 examples' in result.stdout


def test_build_command_errors_are_one_line(tmp_path):
  result = _run('-m', 'cbl_jax.data.build', '--name=gopro',
                '--builder_config=all_frames', f'--data_dir={tmp_path}',
                f'--manual_dir={tmp_path / "missing"}')
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: Manual dir is missing or empty: expected'
                         ' GOPRO_Large_all/')
  result = _run('-m', 'cbl_jax.data.build', '--name=dvd',
                '--builder_config=all_frames')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "error: config.data.builder_config='all_frames' is not a config of dvd;"
      ' set it to one of original_videos, quantitative.')
