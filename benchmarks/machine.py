"""What a benchmark's numbers are relative to: this machine and its matmul.

Also the plumbing that lets a benchmark give each measurement its own fresh
process (`run_worker`) and read that process's peak memory (`peak_memory`).
The parent of such workers must not import JAX itself: Linux carries a
parent's RSS over fork and exec into the child's ru_maxrss, so a parent
holding JAX would put a floor under every child's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any


XLA_CPU_OPTIONS = ("tuned", "xla_default")


def add_xla_cpu_options_flag(parser: argparse.ArgumentParser,
                             with_both: bool = False) -> None:
  """--xla_cpu_options: the XLA flags a benchmark's computations run with.

  Args:
    parser: the benchmark's parser.
    with_both: also offer "both", for benchmarks that can run one fresh
      process per setting.
  """
  parser.add_argument(
      "--xla_cpu_options",
      choices=XLA_CPU_OPTIONS + (("both",) if with_both else ()),
      default="tuned",
      help="tuned: cbl_jax.xla_cpu's flags, as the command lines use them;"
      " xla_default: XLA's own settings" +
      ("; both: one fresh process for each, in turn" if with_both else ""))


def apply_xla_cpu_options(option: str) -> str:
  """Sets XLA_FLAGS for this process and the workers it starts.

  Call it before JAX starts (it does not import JAX).

  Args:
    option: one of XLA_CPU_OPTIONS.

  Returns:
    The XLA_FLAGS in effect, for the benchmark's header.
  """
  from cbl_jax import xla_cpu  # pylint: disable=g-import-not-at-top
  if option == "tuned":
    xla_cpu.use_tuned_flags()
  else:  # XLA's defaults, even where the environment carries the tuned flags.
    kept = [flag for flag in os.environ.get("XLA_FLAGS", "").split()
            if flag not in xla_cpu.TUNED_FLAGS]
    os.environ.pop("XLA_FLAGS", None)
    if kept:
      os.environ["XLA_FLAGS"] = " ".join(kept)
  return os.environ.get("XLA_FLAGS", "").strip() or "(none)"


def describe() -> str:
  """The processor (or accelerator) the numbers were measured on."""
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  if device.platform != "cpu":
    return f"{device.device_kind} ({jax.device_count()} x {device.platform})"
  model = platform.processor() or "unknown CPU"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  return f"{model}, {os.cpu_count()} cores"


def timed_runs(fn: Callable[[], Any], warmup: int,
               repeats: int) -> list[float]:
  """Seconds of each of `repeats` calls of `fn`, after `warmup` calls.

  Each call is waited for with `jax.block_until_ready`, so the times are
  of the computation, not of its dispatch.
  """
  import jax  # pylint: disable=g-import-not-at-top
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return times


def matmul_gflops(size: int = 4096, repeats: int = 5) -> float:
  """This machine's float32 matmul speed: the median of size x size jnp.dot."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  a = jax.random.normal(jax.random.key(1), (size, size))
  dot = jax.jit(lambda m: jnp.dot(m, m, precision=jax.lax.Precision.HIGHEST))
  times = timed_runs(lambda: dot(a), warmup=1, repeats=max(repeats, 3))
  return 2 * size**3 / statistics.median(times) / 1e9


def compiled_flops(compiled: Any) -> float:
  """FLOPs of a compiled computation by XLA's cost analysis (0 if unknown).

  Args:
    compiled: the result of `jax.jit(f).lower(...).compile()`.

  Returns:
    The 'flops' entry of `compiled.cost_analysis()`.
  """
  cost = compiled.cost_analysis()
  # Older JAX versions return one dict per device program.
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", 0.0))


def peak_rss_mib() -> float:
  """This process's peak resident set size so far, in MiB."""
  # ru_maxrss is in KiB on Linux.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory() -> dict[str, float | None]:
  """This process's peak host memory and, where JAX knows it, device memory.

  Returns:
    'peak_rss_mib': peak RSS of this process (on a CPU backend this is
    where the arrays live); 'device_peak_mib': the first device's
    `memory_stats()['peak_bytes_in_use']` in MiB on backends that report it
    (GPU, TPU), else None.
  """
  import jax  # pylint: disable=g-import-not-at-top
  device_peak = None
  device = jax.devices()[0]
  if device.platform != "cpu":
    try:
      stats = device.memory_stats() or {}
    except Exception:  # pylint: disable=broad-except
      # Some runtimes do not implement memory_stats at all.
      stats = {}
    if "peak_bytes_in_use" in stats:
      device_peak = stats["peak_bytes_in_use"] / 2**20
  return {"peak_rss_mib": peak_rss_mib(), "device_peak_mib": device_peak}


def run_worker(cmd: list[str], timeout: float) -> dict[str, Any]:
  """Runs one measurement in a fresh process and reads its JSON result.

  Args:
    cmd: the command line; the process prints a JSON object as the last
      line of its standard output.
    timeout: seconds before the process is killed.

  Returns:
    The parsed object, or {'error': short reason} when the process timed
    out, failed or printed no JSON.
  """
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, check=False)
  except subprocess.TimeoutExpired:
    return {"error": f"timeout {timeout:.0f}s"}
  if proc.returncode != 0:
    tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return {"error": f"rc {proc.returncode}: {tail[:80]}"}
  try:
    return json.loads((proc.stdout.strip().splitlines() or [""])[-1])
  except ValueError:
    return {"error": "no result printed"}
