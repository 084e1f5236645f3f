"""JAX's persistent compilation cache: a restarted run reuses its programs.

Compiling the paper's GAN step takes minutes on an accelerator host; a
preempted or restarted job would pay that again at every start. With the
cache on, XLA's executables are written to a folder and read back by any
later process compiling the same program on the same kind of machine.

`config.compilation_cache_dir` names the folder ("" turns the cache off).
A cache folder set by the user for JAX itself (JAX_COMPILATION_CACHE_DIR, or
`jax.config.update("jax_compilation_cache_dir", ...)`) takes precedence.
The cache serves the first folder a process sets; `stats()` counts hits and
misses since `enable`, for the log.
"""

from __future__ import annotations

import os
import threading

from absl import logging
import jax

_HIT = "/jax/compilation_cache/cache_hits"
_MISS = "/jax/compilation_cache/cache_misses"

_lock = threading.Lock()
_counts = {"hits": 0, "misses": 0}
_listening = False


def _count(event: str, **kwargs) -> None:
  del kwargs
  with _lock:
    if event == _HIT:
      _counts["hits"] += 1
    elif event == _MISS:
      _counts["misses"] += 1


def enable(cache_dir: str, min_compile_seconds: float) -> str | None:
  """Turns the persistent cache on, unless the user already chose a folder.

  Args:
    cache_dir: the folder; "~" is expanded; "" turns nothing on.
    min_compile_seconds: programs that compile faster are not cached.

  Returns:
    The folder in use, or None when the cache is off.
  """
  global _listening
  with _lock:
    if not _listening:
      jax.monitoring.register_event_listener(_count)
      _listening = True
  current = jax.config.jax_compilation_cache_dir
  if current:
    return current
  if not cache_dir:
    return None
  path = os.path.abspath(os.path.expanduser(cache_dir))
  os.makedirs(path, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs",
                    float(min_compile_seconds))
  logging.info("Persistent compilation cache: %s.", path)
  return path


def stats() -> dict[str, int]:
  """Cache hits and misses of this process so far."""
  with _lock:
    return dict(_counts)
