"""A run's compute: a wall-clock budget per invocation and a ledger of it.

* `TimeBudget` ends an invocation cleanly after `config.train_minutes`, at
  a step every process agrees on, so that a run longer than a session (or a
  lent accelerator's minutes) goes on by running the same command again.
* `ComputeLedger` keeps, in `<workdir>/compute.json`, the process CPU
  seconds and wall seconds that training has cost up to each saved step,
  summed over every invocation that resumed the run. A learning curve
  against CPU-hours reads it (`cbl_jax.evaluation.curve`). Its entries
  after the step a run resumes from are dropped, as that work is redone.
"""

from __future__ import annotations

import json
import os
import time

from absl import logging
from etils import epath
import jax
from jax.experimental import multihost_utils
import numpy as np


class TimeBudget:
  """Says, on every process at the same step, that the minutes are spent.

  Attributes:
    minutes: the budget; 0 or None means none.
  """

  def __init__(self, minutes: float | None, check_every: int = 10):
    """Starts the clock.

    Args:
      minutes: wall-clock minutes for this invocation; 0 or None for no
        limit.
      check_every: with several processes, steps between agreements (each
        is a collective); with one the clock is read every step.
    """
    self.minutes = minutes or 0.0
    self._start = time.monotonic()
    self._check_every = max(1, check_every)

  def elapsed_minutes(self) -> float:
    return (time.monotonic() - self._start) / 60

  def spent(self, step: int) -> bool:
    """Whether to stop after `step` steps; the same answer on all processes.

    Args:
      step: steps done so far; the same on every process.

    Returns:
      True once the budget is spent (at a multiple of `check_every` when
      there are several processes).
    """
    if not self.minutes:
      return False
    if jax.process_count() == 1:
      return self.elapsed_minutes() >= self.minutes
    if step % self._check_every:
      return False
    # Process 0's clock decides, so that hosts whose clocks differ agree.
    over = multihost_utils.broadcast_one_to_all(
        np.int32(self.elapsed_minutes() >= self.minutes),
        is_source=jax.process_index() == 0)
    return bool(int(over))


def _cpu_seconds() -> float:
  times = os.times()
  return times.user + times.system


class ComputeLedger:
  """CPU and wall seconds spent training, per saved step, across restarts."""

  FILE = "compute.json"

  def __init__(self, workdir: epath.Path, start_step: int):
    """Opens the ledger of `workdir` for a run that resumes at `start_step`.

    Args:
      workdir: the training workdir.
      start_step: the step training (re)starts from.
    """
    self._path = workdir / self.FILE
    entries = []
    if self._path.exists():
      try:
        entries = json.loads(self._path.read_text())["entries"]
      except (ValueError, KeyError, TypeError):
        logging.warning("%s is unreadable; starting a new ledger.",
                        self._path)
    # Work after the restored step is redone: only what led to it counts.
    self._entries = [e for e in entries if e["step"] <= start_step]
    base = self._entries[-1] if self._entries else {
        "cpu_seconds": 0.0, "wall_seconds": 0.0}
    self._base_cpu = base["cpu_seconds"]
    self._base_wall = base["wall_seconds"]
    self._cpu0 = _cpu_seconds()
    self._wall0 = time.monotonic()

  def totals(self) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the run so far."""
    return (self._base_cpu + _cpu_seconds() - self._cpu0,
            self._base_wall + time.monotonic() - self._wall0)

  def record(self, step: int) -> None:
    """Notes the totals at a saved step (process 0 writes the file)."""
    cpu, wall = self.totals()
    self._entries = [e for e in self._entries if e["step"] < step]
    self._entries.append({"step": int(step), "cpu_seconds": round(cpu, 1),
                          "wall_seconds": round(wall, 1),
                          "cpu_count": os.cpu_count()})
    if jax.process_index() == 0:
      tmp = self._path.parent / (self._path.name + ".tmp")
      tmp.write_text(json.dumps({"entries": self._entries}, indent=1))
      tmp.replace(self._path)
