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


def _tiny_benchmark(tmp_path, *flags):
  """Runs the pipeline benchmark on the tiny set: (its result, report)."""
  result = _run('benchmarks/input_pipeline.py', '--tiny',
                f'--data_dir={tmp_path}', '--batch_size=2', '--crop_size=8',
                '--num_batches=3', '--repeats=2', '--warmup=1', *flags)
  assert result.returncode == 0, result.stderr
  return result, json.loads(result.stdout.strip().splitlines()[-1])


def test_benchmark_tiny(tmp_path):
  result, report = _tiny_benchmark(tmp_path, '--worker_count=0')
  assert report['dataset'] == 'synthetic_motion/tiny'
  assert report['batch_size'] == 2 and report['crop_size'] == 8
  assert report['batches_per_run'] == 3
  assert len(report['examples_per_second_runs']) == 2
  assert report['examples_per_second_median'] > 0
  assert 'examples/s (median of 2 runs of 3 batches of 2' in result.stdout


def test_benchmark_times_shift_blur_scenes(tmp_path):
  _, report = _tiny_benchmark(tmp_path, '--shift_blur_prob=1.0')
  assert report['shift_blur_prob'] == 1.0
  assert report['examples_per_second_median'] > 0


def test_benchmark_refuses_bad_data_flags_in_one_line(tmp_path):
  for flag, message in (
      ('--shift_blur_prob=2', 'config.data.shift_blur_prob must be in'
       ' [0, 1], got 2.0.'),
      ('--builder_config=huge', "config.data.builder_config='huge' is not a"
       ' config of synthetic_motion')):
    result = _run('benchmarks/input_pipeline.py', f'--data_dir={tmp_path}',
                  flag)
    assert result.returncode != 0
    assert message in result.stderr
    assert 'Traceback' not in result.stderr


def test_benchmark_gopro_mode(tmp_path):
  work_dir = tmp_path / 'bench'
  args = ['benchmarks/input_pipeline.py', '--gopro', f'--work_dir={work_dir}',
          '--gopro_size=64x48', '--gopro_sequences=2', '--gopro_frames=14',
          '--batch_size=2', '--crop_size=16', '--worker_count=0',
          '--num_batches=2', '--repeats=2', '--warmup=1']
  result = _run(*args)
  assert result.returncode == 0, result.stderr
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['dataset'] == 'gopro/all_frames'
  assert report['crop_size'] == 16 and report['worker_count'] == 0
  # 2 x 14 training frames and 14 test frames, from the real GoPro images.
  assert report['source_frames'] == 42
  assert report['train_windows'] == 4
  assert report['stored_bytes_per_frame'] > 0
  assert report['source_png_bytes_per_frame'] > 0
  assert report['peak_rss_mib'] > 0
  assert report['eval_full_example_ms'] > 0
  assert len(report['examples_per_second_runs']) == 2
  tree = json.loads((work_dir / 'tree.json').read_text())
  assert tree['shape']['size'] == [64, 48]
  # A second run reuses the tree and the prepared data, then cleans up.
  result = _run(*args, '--clean')
  assert result.returncode == 0, result.stderr
  assert json.loads(result.stdout.strip().splitlines()[-1])[
      'build_or_open_seconds'] < report['build_or_open_seconds']
  assert not work_dir.exists()
  result = _run('benchmarks/input_pipeline.py', '--gopro',
                f'--work_dir={work_dir}', '--gopro_size=64by48')
  assert result.returncode == 1
  assert "--gopro_size='64by48' is not WIDTHxHEIGHT" in result.stderr
  (tmp_path / 'empty').mkdir()
  result = _run('benchmarks/input_pipeline.py', '--gopro',
                f'--work_dir={work_dir}', f'--gopro_images={tmp_path}/empty')
  assert result.returncode == 1
  assert f'No *_sharp1.png GoPro frames in {tmp_path}/empty' in result.stderr


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
