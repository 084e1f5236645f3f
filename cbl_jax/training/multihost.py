"""What the processes of a multi-host run must agree on.

* Data preparation: process 0 prepares the dataset (renders it, or reads
  the manual download); the others wait for it, then only open it. Hosts
  that share a data dir never race to write it.
* Preemption: SIGTERM reaches one host of a slice, not all of them. Every
  process must save the same step, then all exit; a host that saved alone
  would leave the others blocked in the next step's collectives. With
  several processes this uses JAX's preemption sync point (the coordination
  service's notice of SIGTERM on any task, and an agreed step after it);
  with one process a SIGTERM handler sets a flag.
"""

from __future__ import annotations

import signal
from typing import Any, Callable

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np


def prepare_once(prepare: Callable[[], Any],
                 open_prepared: Callable[[], Any]) -> tuple[Any, bool]:
  """Runs `prepare` on process 0 and `open_prepared` on the others after it.

  Args:
    prepare: prepares the data if needed and returns the result (e.g. a
      builder); may raise for a bad download.
    open_prepared: opens what `prepare` made, without preparing.

  Returns:
    `(result, prepared_here)`: the callable's result on this process, and
    whether this process ran `prepare`.

  Raises:
    Whatever `prepare` raised, on process 0; on the others a RuntimeError
    saying that process 0 failed, so that no process waits forever.
  """
  if jax.process_count() == 1:
    return prepare(), True
  result, error = None, None
  if jax.process_index() == 0:
    try:
      result = prepare()
    except Exception as e:  # pylint: disable=broad-except
      error = e
  # A collective every process reaches: the others wait here for process 0,
  # and learn whether it succeeded.
  ok = multihost_utils.broadcast_one_to_all(
      np.int32(error is None), is_source=jax.process_index() == 0)
  if jax.process_index() == 0:
    if error is not None:
      raise error
    return result, True
  if not int(ok):
    raise RuntimeError(
        "Process 0 failed to prepare the dataset; its log says why.")
  return open_prepared(), False


def _sync_point_available() -> bool:
  # `jax.distributed.initialize` starts the preemption sync manager unless
  # this option is off.
  return bool(jax.config.jax_enable_preemption_service)


class Preemption:
  """Tells every process at the same step that it is time to save and stop.

  Use as a context manager around the loop and call `reached(step)` once
  per step, on every process, with the same step numbers.
  """

  def __init__(self):
    self._flag = False
    self._previous = None
    self._sync_point = False

  def __enter__(self) -> "Preemption":
    self._sync_point = jax.process_count() > 1 and _sync_point_available()
    if self._sync_point:
      # JAX's coordination service catches SIGTERM itself; a Python handler
      # installed now would replace it and hide the notice.
      return self
    if jax.process_count() > 1:
      logging.warning(
          "JAX's preemption service is off (jax_enable_preemption_service): "
          "SIGTERM is agreed on by a collective every step instead.")
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread (e.g. some notebook runners).
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: saving a checkpoint and exiting.")
    self._flag = True

  def reached(self, step: int) -> bool:
    """Whether every process should save `step` now and stop.

    Args:
      step: the number of steps done; the same on every process.

    Returns:
      True on every process at the same step once any of them got SIGTERM.
    """
    if self._sync_point:
      reached = multihost_utils.reached_preemption_sync_point(step)
      if reached:
        logging.warning("Preemption notice: every process saves step %d and "
                        "exits.", step)
      return reached
    if jax.process_count() == 1:
      return self._flag
    flags = multihost_utils.process_allgather(np.int32(self._flag))
    return bool(np.any(flags))

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
