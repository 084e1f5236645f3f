"""scripts/device_session.sh --dry_run: a lent-GPU visit, tiny, on the CPU.

Every step runs as it would on the machine (set-up, dataset, benchmark,
training, held-out scenes, export), with TensorFlow unimportable, and what
would come back must fit: at most 8 files of at most 16 MiB.
"""

import os
import pathlib
import re
import subprocess
import sys

from tests import conftest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_dry_run_leaves_what_comes_back(tmp_path):
  out = tmp_path / "out"
  env = dict(os.environ)
  env.update(OUT=str(out), WORK=str(tmp_path / "work"),
             PYTHON=sys.executable, JAX_PLATFORMS="cpu")
  # The command lines set their own XLA flags (as in test_main).
  # The command lines add the tuned flags themselves; the tests' level stays.
  env["XLA_FLAGS"] = conftest.TEST_XLA_FLAGS
  # The persistent compilation cache of the test run (tests/conftest.py)
  # is inherited, as by the other command-line tests.
  result = subprocess.run(
      ["bash", "scripts/device_session.sh", "--dry_run"], cwd=ROOT, env=env,
      capture_output=True, text=True, timeout=420, check=False)
  assert result.returncode == 0, (result.stdout[-4000:] +
                                  result.stderr[-4000:])
  files = {p.relative_to(out).as_posix(): p.stat().st_size
           for p in out.rglob("*") if p.is_file()}
  assert 2 <= len(files) <= 8, files
  assert all(size <= 16 * 2**20 for size in files.values()), files
  assert {"summary.md", "session.log", "benchmark.md", "train.log",
          "heldout.md", "heldout_per_scene.csv", "generator.msgpack",
          "generator.json"} == set(files)
  assert files["generator.msgpack"] > 0 and files["train.log"] > 0

  summary = (out / "summary.md").read_text()
  assert "(dry run)" in summary
  assert "tensorflow: not importable" in summary
  cells = [[c.strip() for c in line.strip("|").split("|")]
           for line in summary.splitlines() if line.startswith("| ")]
  exits = {row[0]: row[2] for row in cells if len(row) == 3}
  steps = ("setup", "data", "benchmark", "train_data", "train", "heldout",
           "export")
  assert {s: exits.get(s) for s in steps} == dict.fromkeys(steps, "0"), summary
  # The benchmark's own checks (its tiny run is this step's command).
  benchmark = (out / "benchmark.md").read_text()
  rows = [[c.strip() for c in l.strip("|").split("|")]
          for l in benchmark.splitlines() if re.match(r"\| [12] \|", l)]
  assert [(r[0], r[1]) for r in rows] == [("1", "float32"), ("2", "float32")]
  for row in rows:
    assert float(row[3]) > 0 and float(row[4]) > 0  # Step time, TFLOP/s.
    assert row[5] == "n/a"  # No known peak for a CPU.
  assert re.search(r"input pipeline .*: [\d.]+ examples/s", benchmark)
  assert re.search(r"contextual \(contiguous\) loss alone [\d.]+ s = \d+% "
                   r"of the stage-2 step's time", benchmark)
  assert "Held-out scenes (1)" in (out / "heldout.md").read_text()
  assert f"OUT={out}" in result.stdout
