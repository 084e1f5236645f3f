"""Orbax checkpoints: periodic and final saves, the best by eval PSNR, and a
restore that survives a damaged latest checkpoint.

`<workdir>/checkpoints/` keeps the most recent states (periodic and final):
in stage 1 what stage 1 changes (the generator and its optimizer; the
discriminator does not exist yet), in stage 2 everything. `<workdir>/best/`
keeps the generator (and the step) with the highest evaluation score
(`config.best_metric`, the middle frame's PSNR by default): what predict,
evaluate and `init_from` read. Orbax
writes each checkpoint to a temporary folder and renames it when complete,
so a crash during a save leaves the previous ones intact. A checkpoint that
was damaged afterwards (a truncated file, a bad disk) is moved aside to
`<workdir>/damaged_checkpoints/` and the previous one is restored instead;
good checkpoints are never deleted by that.
"""

from typing import Any, Callable, Optional

from absl import logging
from etils import epath
import jax
import numpy as np
import orbax.checkpoint as ocp

from cbl_jax import weights

SCORE_KEY = "score"
# Workdirs written before the score was configurable stored it as "psnr".
_OLD_SCORE_KEY = "psnr"


def abstract_with_sharding(abstract_tree: Any, shardings: Any) -> Any:
  """Shape/dtype structs that carry the shardings to restore into."""
  return jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      abstract_tree, shardings)


class Checkpoints:
  """The workdir's checkpoint managers.

  Args:
    workdir: the experiment's folder.
    max_to_keep: how many recent checkpoints to keep.
  """

  def __init__(self, workdir: epath.PathLike, max_to_keep: int = 3):
    self._workdir = epath.Path(workdir)
    self._max_to_keep = max_to_keep
    self._open()

  def _open(self) -> None:
    # Both managers may save the same step at once (the final step is also
    # evaluated). On several processes their save barriers are named after
    # the step, so each manager gets its own prefix or they would collide.
    self.latest = ocp.CheckpointManager(
        self._workdir / "checkpoints",
        options=ocp.CheckpointManagerOptions(
            max_to_keep=self._max_to_keep, create=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix="latest")))
    self.best = ocp.CheckpointManager(
        self._workdir / "best",
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, best_fn=lambda m: m.get(SCORE_KEY, m.get(_OLD_SCORE_KEY)),
            best_mode="max",
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix="best")))

  def save(self, step: int, state: Any) -> None:
    """Saves `state` as the checkpoint of `step` (no-op if it exists)."""
    if step in self.latest.all_steps():
      return
    self.latest.save(step, args=ocp.args.StandardSave(state))

  def save_if_best(self, step: int, state: Any, score: float) -> None:
    """Saves the generator into `best/` when `score` (higher wins) is best."""
    if step in self.best.all_steps():
      return
    generator = {"step": state.step, "g_params": state.g_params}
    self.best.save(step, args=ocp.args.StandardSave(generator),
                   metrics={SCORE_KEY: float(score)})

  def wait(self) -> None:
    """Blocks until every pending save is on disk."""
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()

  def restore_latest(self, target_for: Callable[[bool], Any]
                     ) -> Optional[Any]:
    """Restores the newest readable checkpoint, or returns None if none.

    Args:
      target_for: gives the abstract state (`jax.ShapeDtypeStruct`s with
        shardings, so the restore works on any device count) of a stage-2
        checkpoint (True: it holds the discriminator) or of a stage-1 one.

    Returns:
      The restored state, or None when the workdir has no checkpoint.
    """
    for step in sorted(self.latest.all_steps(), reverse=True):
      try:
        tree = _tree_metadata(self._workdir / "checkpoints" / str(step) /
                              "default")
        target = target_for(tree.get("d_params") is not None)
        state = self.latest.restore(step, args=ocp.args.StandardRestore(target))
      except Exception as error:  # pylint: disable=broad-except
        # Any failure to read means this checkpoint is unusable; an older
        # one is better than none.
        logging.warning(
            "Checkpoint at step %d in %s could not be read (%s: %s); moving "
            "it to damaged_checkpoints/ and falling back to the previous one.",
            step, self._workdir / "checkpoints", type(error).__name__,
            str(error).splitlines()[0] if str(error) else "")
        self._quarantine(step)
        continue
      logging.info("Restored the checkpoint of step %d.", step)
      return state
    return None

  def _quarantine(self, step: int) -> None:
    if jax.process_index() == 0:
      damaged = self._workdir / "damaged_checkpoints"
      damaged.mkdir(parents=True, exist_ok=True)
      (self._workdir / "checkpoints" / str(step)).rename(damaged / str(step))
    # The managers cache the list of steps: reopen them to forget this one.
    self.close()
    self._open()


def has_checkpoints(workdir: epath.PathLike) -> bool:
  """Whether `workdir`/checkpoints holds a saved step (a run to resume)."""
  directory = epath.Path(workdir) / "checkpoints"
  return directory.is_dir() and any(
      child.name.isdigit() for child in directory.iterdir())


def restore_generator_params(workdir: epath.PathLike,
                             g_target: Any) -> tuple[Any, int]:
  """Reads only the generator of another workdir's newest checkpoint.

  Stage 2 can start from a stage-1 run this way (`config.init_from`). The
  discriminator and optimizer states are never read.

  Args:
    workdir: the stage-1 workdir.
    g_target: abstract generator parameters with shardings.

  Returns:
    `(g_params, step)` of that checkpoint.

  Raises:
    FileNotFoundError: the workdir has no checkpoint.
  """
  if str(workdir).endswith(".msgpack"):
    return _generator_params_from_weights(workdir, g_target), 0
  directory = epath.Path(workdir) / "checkpoints"
  manager = ocp.CheckpointManager(directory) if directory.exists() else None
  try:
    step = manager.latest_step() if manager else None
    if step is None:
      raise FileNotFoundError(
          f"config.init_from={str(workdir)!r} has no checkpoint under "
          "checkpoints/: point it at the workdir of a finished stage-1 run.")
    restore_args = jax.tree_util.tree_map(
        lambda x: ocp.ArrayRestoreArgs(sharding=x.sharding, dtype=x.dtype),
        g_target)
    restored = manager.restore(step, args=ocp.args.PyTreeRestore(
        item={"g_params": g_target},
        restore_args={"g_params": restore_args}, partial_restore=True))
  finally:
    if manager:
      manager.close()
  return restored["g_params"], step


def _generator_params_from_weights(path: epath.PathLike, g_target: Any) -> Any:
  """Exported weights (`export_weights`) placed as `g_target` says.

  A run that lost its workdir goes on from the shipped weights this way;
  the optimizer starts afresh.
  """
  params, _ = weights.read_weights(path)
  want = jax.tree_util.tree_map(lambda x: x.shape, g_target)
  got = jax.tree_util.tree_map(lambda x: x.shape, params)
  if want != got:
    raise ValueError(
        f"config.init_from={str(path)!r} holds another generator's weights "
        "than config.generator describes: give the generator section they "
        "were exported with (their .json sidecar).")
  return jax.tree_util.tree_map(
      lambda x, t: jax.device_put(np.asarray(x, t.dtype), t.sharding),
      params, g_target)


def _tree_metadata(item_dir: epath.PathLike) -> Any:
  """The saved tree's structure and array metadata, without reading arrays."""
  tree = ocp.PyTreeCheckpointer().metadata(epath.Path(item_dir).resolve())
  tree = getattr(tree, "item_metadata", tree)
  return getattr(tree, "tree", tree)


def read_as_numpy(item_dir: epath.PathLike) -> Any:
  """Reads a saved train state as NumPy arrays, on any device count.

  Restoring without a target keeps the saved shardings, which fails when the
  checkpoint was written on another device count; NumPy restore types avoid
  that, for inspecting a checkpoint or comparing runs.

  Args:
    item_dir: `<workdir>/checkpoints/<step>/default` (or `best/...`).

  Returns:
    The state as a nested dict of NumPy arrays.
  """
  item_dir = epath.Path(item_dir).resolve()
  checkpointer = ocp.PyTreeCheckpointer()
  tree = _tree_metadata(item_dir)
  restore_args = jax.tree_util.tree_map(
      lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return checkpointer.restore(
      item_dir, args=ocp.args.PyTreeRestore(item=tree,
                                            restore_args=restore_args))
