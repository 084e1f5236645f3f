"""What a benchmark's numbers are relative to: this machine and its matmul."""

import platform
import statistics
import time


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
  import os  # pylint: disable=g-import-not-at-top
  return f"{model}, {os.cpu_count()} cores"


def matmul_gflops(size: int = 4096, repeats: int = 5) -> float:
  """This machine's float32 matmul speed: the median of size x size jnp.dot."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  a = jax.random.normal(jax.random.key(1), (size, size))
  dot = jax.jit(lambda m: jnp.dot(m, m, precision=jax.lax.Precision.HIGHEST))
  jax.block_until_ready(dot(a))
  times = []
  for _ in range(max(repeats, 3)):
    start = time.perf_counter()
    jax.block_until_ready(dot(a))
    times.append(time.perf_counter() - start)
  return 2 * size**3 / statistics.median(times) / 1e9
