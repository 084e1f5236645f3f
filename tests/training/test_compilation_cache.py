"""A restart reuses the persistent compilation cache."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _train(workdir, data_dir, cache_dir):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("JAX_COMPILATION_CACHE_DIR", None)  # The test suite's own cache.
  result = subprocess.run(
      [sys.executable, "-m", "cbl_jax.main",
       f"--config={ROOT / 'configs' / 'test.py'}", f"--workdir={workdir}",
       f"--config.data.data_dir={data_dir}", "--config.stage2_steps=0",
       f"--config.compilation_cache_dir={cache_dir}",
       "--config.compilation_cache_min_compile_secs=0"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  counts = re.findall(r"Compilation cache \S+: (\d+) hits, (\d+) misses",
                      result.stderr)
  assert counts, result.stderr[-3000:]
  return tuple(map(int, counts[-1]))


def test_restart_reuses_compiled_programs(tiny_data_dir, tmp_path):
  cache = tmp_path / "cache"
  hits, misses = _train(tmp_path / "first", tiny_data_dir, cache)
  assert hits == 0 and misses > 0
  assert any(cache.iterdir())
  # A new run of the same configuration compiles nothing it has compiled.
  hits, misses = _train(tmp_path / "second", tiny_data_dir, cache)
  assert hits > 0 and misses == 0
