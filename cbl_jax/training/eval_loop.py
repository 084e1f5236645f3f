"""Evaluation during training, sharded over every device of every host.

The evaluation split is cut into global batches of `config.eval_batch_size`
examples (a multiple of the device count; see `batch_rule`), in stored order.
Process p reads and decodes only its rows of each batch, the batch is split
over the devices like a training batch, and the per-example scores come
back to every process. The last batch is padded with masked rows. The
summary is the same as evaluating one example at a time on one device, up
to float rounding.

Frames of one global batch must share a shape to form one array; DVD's
videos differ in size. The processes exchange the shapes of their rows
(a few integers), and a batch that mixes shapes runs once per shape, each
time with the rows of the other shapes masked: every example is scored on
its own full frame, as on one device.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import flax.linen as nn
import grain
import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from cbl_jax import visualization
from cbl_jax.data import pipeline
from cbl_jax.evaluation import metrics as metrics_lib
from cbl_jax.training import sharding as sharding_lib

_READ_THREADS = 4


def _eval_step(generator: nn.Module) -> Callable:
  """`(g_params, blurry, sharp) -> (scores, baseline scores, first frames)`."""

  def step(g_params, blurry_u8, sharp_u8):
    blurry = blurry_u8.astype(jnp.float32) / 255.0
    sharp = sharp_u8.astype(jnp.float32) / 255.0
    pred = generator.apply({"params": g_params}, blurry)
    baseline = jnp.broadcast_to(blurry[:, None], sharp.shape)
    scores = metrics_lib.sequence_metrics(pred, sharp)
    base = metrics_lib.sequence_metrics(baseline, sharp)
    keep = ("psnr", "ssim")
    return ({k: scores[k] for k in keep}, {k: base[k] for k in keep},
            pred[0])

  return step


class ShardedEvaluator:
  """Scores the generator on the evaluation split (see module docstring).

  Args:
    config: the experiment configuration (`data`, `eval_batch_size`; the
      batch must be a multiple of the device count).
    generator: the generator module.
    mesh: the device mesh of `sharding.make_mesh`.
  """

  def __init__(self, config: ml_collections.ConfigDict, generator: nn.Module,
               mesh: jax.sharding.Mesh):
    self._examples = pipeline.eval_dataset(config.data, batch_size=1)
    self._batch = config.eval_batch_size
    if self._batch % jax.device_count():
      raise ValueError(
          f"config.eval_batch_size={self._batch} is not a multiple of the "
          f"{jax.device_count()} devices.")
    self._rows = self._batch // jax.process_count()
    self._rows_sharding = sharding_lib.batch_sharding(mesh)
    replicated = sharding_lib.replicated(mesh)
    self._step = jax.jit(_eval_step(generator),
                         out_shardings=(replicated, replicated, replicated))

  def __len__(self) -> int:
    return len(self._examples)

  def _my_rows(self) -> Iterator[tuple[np.ndarray, list[Optional[dict]]]]:
    """(global indices of this process's rows, their examples) per batch."""
    count = len(self._examples)
    num_batches = -(-count // self._batch)
    start = jax.process_index() * self._rows
    indices = np.arange(num_batches * self._batch).reshape(num_batches,
                                                          self._batch)
    mine = indices[:, start:start + self._rows]
    valid = mine[mine < count]
    options = grain.ReadOptions(num_threads=_READ_THREADS,
                                prefetch_buffer_size=_READ_THREADS)
    read = (grain.MapDataset.source(valid.tolist())
            .map(lambda i: self._examples[i])
            .to_iter_dataset(options))
    examples = iter(read)
    for rows in mine:
      yield rows, [next(examples) if i < count else None for i in rows]

  def _shapes(self, examples: list[Optional[dict]]) -> np.ndarray:
    """(global batch, 4) frame shapes of every row; 0 for padding rows."""
    local = np.array([
        e["sharp"].shape[1:] if e is not None else (0, 0, 0, 0)
        for e in examples], np.int32)
    if jax.process_count() == 1:
      return local
    return np.asarray(multihost_utils.process_allgather(local)).reshape(
        self._batch, 4)

  def _global(self, local: np.ndarray) -> jax.Array:
    return jax.make_array_from_process_local_data(self._rows_sharding, local)

  def __call__(self, g_params: Any) -> tuple[dict[str, float],
                                             Optional[dict[str, np.ndarray]]]:
    """The summary and, for pictures, the first example's frames.

    Args:
      g_params: generator parameters (replicated).

    Returns:
      `metrics.summarize` of the model and, prefixed `baseline_`, of the
      blurry input repeated as every frame; and the first example's
      `blurry`, `sharp` and `pred` (uint8) frames.

    Raises:
      ValueError: the evaluation split is empty.
    """
    if not len(self._examples):
      raise ValueError("The evaluation split is empty: check "
                       "config.data.eval_split and "
                       "config.data.num_eval_examples.")
    results: dict[int, tuple[dict, dict]] = {}
    first = None
    offset = jax.process_index() * self._rows
    for rows, examples in self._my_rows():
      shapes = self._shapes(examples)
      for shape in dict.fromkeys(map(tuple, shapes[shapes[:, 0] > 0])):
        match = np.all(shapes == shape, axis=1)
        frames, height, width, channels = shape
        blurry = np.zeros((self._rows, height, width, channels), np.uint8)
        sharp = np.zeros((self._rows,) + tuple(shape), np.uint8)
        for r, example in enumerate(examples):
          if match[offset + r]:
            blurry[r] = example["blurry"][0]
            sharp[r] = example["sharp"][0]
        scores, base, pred0 = self._step(g_params, self._global(blurry),
                                         self._global(sharp))
        scores, base = jax.device_get((scores, base))
        all_rows = np.arange(rows[0] - offset, rows[0] - offset + self._batch)
        for r in np.flatnonzero(match):
          results[int(all_rows[r])] = (
              {k: v[r] for k, v in scores.items()},
              {k: v[r] for k, v in base.items()})
        if first is None and match[0]:
          first = {"blurry": blurry[0], "sharp": sharp[0],
                   "pred": visualization.to_uint8(np.asarray(pred0))}
    ordered = [results[i] for i in sorted(results)]
    stack = lambda part: {k: np.stack([r[part][k] for r in ordered])
                          for k in ("psnr", "ssim")}
    summary = metrics_lib.summarize(stack(0))
    summary.update(metrics_lib.summarize(stack(1), prefix="baseline_"))
    if jax.process_index() != 0:
      first = None  # Only process 0 writes pictures.
    return summary, first
