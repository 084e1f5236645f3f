"""`train_and_evaluate`: the two-stage training of Section 4.2, end to end.

Read top to bottom: checks, data, logging, mesh, model and state, checkpoint
restore, input, compiled steps, evaluation, and the loop. One code path
serves one CPU, several GPUs and a TPU pod: the batch is split over a 1-D
device mesh (`data` axis), the discriminator's large leaves are sharded over
it and the rest of the state is replicated (`sharding`). A batch the device
count does not divide follows `batch_rule`. Resuming is exact: the state
comes from the latest checkpoint, the input pipeline restarts at that step,
the step's random key is `fold_in(key, step)`, and the discriminator, which
stage-1 checkpoints do not hold, is created from the seed at the first step
of stage 2. On several hosts, process 0 prepares the data and preemption is
agreed by all processes (`multihost`).
"""

import dataclasses
import functools
import json
import os
from typing import Any, Callable, Optional

from absl import logging
from etils import epath
import jax
import ml_collections
import numpy as np

from cbl_jax import models
from cbl_jax import visualization
from cbl_jax.data import pipeline
from cbl_jax.training import batch_rule
from cbl_jax.training import budget
from cbl_jax.training import checkpoints as checkpoints_lib
from cbl_jax.training import compilation_cache
from cbl_jax.training import eval_loop
from cbl_jax.training import metric_writers
from cbl_jax.training import multihost
from cbl_jax.training import sharding as sharding_lib
from cbl_jax.training import state as state_lib
from cbl_jax.training import steps as steps_lib
from cbl_jax.training.validation import validate_config


class NonFiniteLossError(FloatingPointError):
  """A loss or gradient was not finite and `on_nonfinite` is "stop"."""


def _check_finite(state: state_lib.TrainState, policy: str) -> None:
  """Raises if a step was not finite and the policy is to stop."""
  bad_step = int(state.first_bad_step)
  if bad_step < 0 or policy == "skip":
    return
  term = state_lib.GUARDED_TERMS[int(state.first_bad_term)]
  raise NonFiniteLossError(
      f"Non-finite {term} at step {bad_step}: training stopped and the last "
      "good checkpoint kept (set --config.on_nonfinite=skip to skip such "
      "steps instead).")


def _absolute(path: str) -> epath.Path:
  # Orbax's tensorstore writer wants absolute paths; "gs://..." already is.
  if "://" in str(path):
    return epath.Path(path)
  return epath.Path(os.path.abspath(os.path.expanduser(str(path))))


def _write_atomically(path: epath.Path, text: str) -> None:
  tmp = path.parent / (path.name + ".tmp")
  tmp.write_text(text)
  tmp.replace(path)


_NOT_NETWORK_SHAPE = ("dtype",)


def _check_same_networks(previous: epath.Path, config_json: str) -> None:
  """Refuses to resume a workdir whose networks were configured otherwise.

  Without this, restoring would fail on mismatched shapes deep inside orbax,
  or worse, silently mix two experiments in one workdir.
  """
  if not previous.exists():
    return
  old, new = json.loads(previous.read_text()), json.loads(config_json)
  for section in ("generator", "discriminator"):
    # The computation dtype may change between runs (e.g. a CPU run resumed
    # on a GPU): parameters are float32 either way.
    old_fields = {k: v for k, v in old.get(section, {}).items()
                  if k not in _NOT_NETWORK_SHAPE}
    if section == "generator":
      # Workdirs from before generators had names hold Table 1's.
      old_fields.setdefault("name", models.DEFAULT_GENERATOR)
    new_fields = {k: v for k, v in new[section].items()
                  if k not in _NOT_NETWORK_SHAPE}
    if old_fields != new_fields:
      changed = sorted(k for k in set(old_fields) | set(new_fields)
                       if old_fields.get(k) != new_fields.get(k))
      raise ValueError(
          f"{previous.parent} holds a run with another {section} "
          f"(different {', '.join(changed)}): use a new --workdir, or the "
          "same configuration as before.")


def _write_pictures(writer, workdir: epath.Path, step: int,
                    example: dict[str, np.ndarray]) -> None:
  predicted = visualization.sequence_strip(example["blurry"],
                                          example["pred"])
  true = visualization.sequence_strip(example["blurry"], example["sharp"])
  writer.write_images(step, {
      "predicted_frames": predicted[None],
      "true_frames": true[None],
  })
  visualization.write_gif(workdir / "samples" / f"predicted_{step:08d}.gif",
                      example["pred"])


def _log_cache_use(cache_dir: Optional[str]) -> None:
  if cache_dir:
    counts = compilation_cache.stats()
    logging.info("Compilation cache %s: %d hits, %d misses so far.",
                 cache_dir, counts["hits"], counts["misses"])


@dataclasses.dataclass(frozen=True)
class Training:
  """The networks, optimizers, state layouts and compiled steps of a config.

  Attributes:
    generator: the generator module.
    discriminator: the discriminator module.
    init_rng: the initialisation key (G at step 0, D at stage 2).
    train_rng: the key every step's key is folded from.
    abstract: the state's shapes: `abstract[False]` in stage 1 (no D),
      `abstract[True]` in stage 2.
    shardings: their NamedShardings, likewise.
    targets: ShapeDtypeStructs with shardings, to restore checkpoints into.
    init: `(rng) -> stage-1 state`, placed on the mesh.
    begin_stage2: `(stage-1 state, rng) -> stage-2 state` (donates).
    content_step: the stage-1 step (donates the state).
    gan_step: the stage-2 step (donates the state).
    batch_sharding: how batches are placed.
  """

  generator: Any
  discriminator: Any
  init_rng: jax.Array
  train_rng: jax.Array
  abstract: dict[bool, Any]
  shardings: dict[bool, Any]
  targets: dict[bool, Any]
  init: Callable
  begin_stage2: Callable
  content_step: Callable
  gan_step: Callable
  batch_sharding: Any


def build(config: ml_collections.ConfigDict,
          mesh: jax.sharding.Mesh) -> Training:
  """Everything `train_and_evaluate` compiles, for a resolved config.

  Nothing is allocated: the states exist as shapes until `init` runs. The
  benchmarks build the same objects, so that what they measure is what
  trains.

  Args:
    config: the configuration after `batch_rule.resolve`.
    mesh: the device mesh (`sharding.make_mesh`).

  Returns:
    The Training.
  """
  replicated = sharding_lib.replicated(mesh)
  batch_sharding = sharding_lib.batch_sharding(mesh)
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  init_fn = functools.partial(state_lib.init_train_state, config,
                              generator=generator, g_tx=g_tx)
  stage2_fn = functools.partial(state_lib.begin_stage2, config,
                                discriminator=discriminator, g_tx=g_tx,
                                d_tx=d_tx)
  abstract = {False: jax.eval_shape(init_fn, init_rng)}
  abstract[True] = jax.eval_shape(stage2_fn, abstract[False], init_rng)
  min_sharded = config.get("shard_min_elements",
                           sharding_lib.DEFAULT_MIN_SHARDED_ELEMENTS)
  shardings = {has_d: sharding_lib.state_shardings(a, mesh, min_sharded)
               for has_d, a in abstract.items()}
  targets = {has_d: checkpoints_lib.abstract_with_sharding(
      abstract[has_d], shardings[has_d]) for has_d in abstract}
  content_step, gan_step = steps_lib.make_steps(config, generator,
                                                discriminator, g_tx, d_tx)
  jit_step = lambda fn, has_d: jax.jit(
      fn, in_shardings=(shardings[has_d], batch_sharding, replicated),
      out_shardings=(shardings[has_d], replicated), donate_argnums=0)
  return Training(
      generator=generator,
      discriminator=discriminator,
      init_rng=init_rng,
      train_rng=train_rng,
      abstract=abstract,
      shardings=shardings,
      targets=targets,
      init=jax.jit(init_fn, out_shardings=shardings[False]),
      begin_stage2=jax.jit(stage2_fn,
                           in_shardings=(shardings[False], replicated),
                           out_shardings=shardings[True], donate_argnums=0),
      content_step=jit_step(content_step, False),
      gan_step=jit_step(gan_step, True),
      batch_sharding=batch_sharding,
  )


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, float]:
  """Trains (stage 1, then stage 2) and evaluates; resumes from `workdir`.

  Args:
    config: the experiment configuration (see configs/).
    workdir: folder for checkpoints, TensorBoard logs and samples.

  Returns:
    The final evaluation summary (PSNR/SSIM of the model and the baseline).
  """
  # --- Checks, before anything is compiled or written. ---
  validate_config(config, jax.device_count())
  config, batch_message = batch_rule.resolve(config, jax.device_count())
  cache_dir = compilation_cache.enable(
      config.get("compilation_cache_dir", ""),
      config.get("compilation_cache_min_compile_secs", 1.0))
  # Builds the embedded dataset on first use, or fails at once on a missing
  # manual download; on several hosts, process 0 does it while the others
  # wait, then they open it.
  multihost.prepare_once(lambda: pipeline.get_builder(config.data),
                         lambda: pipeline.get_builder(config.data))
  pipeline.check_train_crop(config.data)
  pipeline.check_shift_blur(config.data)
  workdir = _absolute(workdir)

  # --- Mesh, model and state layouts, steps: nothing allocated yet. ---
  mesh = sharding_lib.make_mesh()
  training = build(config, mesh)
  # The weights a new run starts from, read before anything is written, so
  # that a wrong file leaves no half-made workdir behind (a run that
  # resumes has them in its checkpoint already).
  read_init_from = lambda: checkpoints_lib.restore_generator_params(
      _absolute(config.init_from), training.targets[False].g_params)
  init_params = None
  if config.init_from and not checkpoints_lib.has_checkpoints(workdir):
    init_params = read_init_from()

  workdir.mkdir(parents=True, exist_ok=True)
  # The configuration that runs, after the batch rule.
  config_json = config.to_json_best_effort(indent=2, sort_keys=True)
  _check_same_networks(workdir / "config.json", config_json)
  if jax.process_index() == 0:
    # predict/evaluate rebuild the generator from this file.
    _write_atomically(workdir / "config.json", config_json)
  total_steps = config.stage1_steps + config.stage2_steps

  # --- Logging: process 0 writes, the others only log. ---
  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0)
  logging.info("Devices: %d (%s), processes: %d.", jax.device_count(),
               jax.devices()[0].platform, jax.process_count())
  if batch_message:
    logging.warning(batch_message)

  logging.info(
      "Per-device train state: %.3f GiB in stage 1, %.3f GiB in stage 2.",
      *(sharding_lib.per_device_bytes(training.abstract[has_d],
                                      training.shardings[has_d]) / 2**30
        for has_d in (False, True)))

  # --- Checkpoints: resume if this workdir has one. ---
  checkpoints = checkpoints_lib.Checkpoints(
      workdir, max_to_keep=config.max_checkpoints_to_keep)
  state = checkpoints.restore_latest(training.targets.__getitem__)
  start_step = 0 if state is None else int(state.step)
  if start_step:
    logging.info("Resuming at step %d of %d.", start_step, total_steps)

  # --- Input: this process's share of each global batch. Built before the
  # first compilation so that a crop larger than the data fails at once. ---
  train_iter = pipeline.create_train_dataset(
      config.data, seed=config.seed, global_batch_size=config.batch_size,
      start_step=start_step, process_index=jax.process_index(),
      process_count=jax.process_count())
  evaluator = eval_loop.ShardedEvaluator(config, training.generator, mesh)

  if state is None:
    state = training.init(training.init_rng)
    if config.init_from:
      g_params, source_step = init_params or read_init_from()
      state = state.replace(g_params=g_params)
      logging.info("Generator initialised from %s (step %d).",
                   config.init_from, source_step)

  def run_eval(step: int) -> dict[str, float]:
    summary, example = evaluator(state.g_params)
    writer.write_scalars(step, {f"eval/{k}": v for k, v in summary.items()})
    if example is not None:
      _write_pictures(writer, workdir, step, example)
    logging.info(
        "Eval at step %d: middle frame PSNR %.2f dB (blurry input %.2f); all "
        "frames, better order, PSNR %.2f dB (input %.2f), SSIM %.4f (input "
        "%.4f).", step, summary["psnr_middle"],
        summary["baseline_psnr_middle"], summary["psnr"],
        summary["baseline_psnr"], summary["ssim"], summary["baseline_ssim"])
    return summary

  # --- The loop. ---
  report = metric_writers.ReportProgress(num_train_steps=total_steps,
                                         writer=writer)
  pending_metrics = []
  summary = None
  preempted = out_of_time = False
  time_budget = budget.TimeBudget(config.get("train_minutes", 0.0),
                                  check_every=config.log_every_steps)
  ledger = budget.ComputeLedger(workdir, start_step)
  with multihost.Preemption() as preemption:
    for step in range(start_step, total_steps):
      stage_fn = (training.content_step if step < config.stage1_steps
                  else training.gan_step)
      if step == config.stage1_steps and not state_lib.has_discriminator(
          state):
        # D is born, and both optimizers start afresh (state.py).
        state = training.begin_stage2(state, training.init_rng)
      batch = pipeline.to_global_batch(next(train_iter),
                                       training.batch_sharding)
      state, metrics = stage_fn(state, batch,
                                jax.random.fold_in(training.train_rng, step))
      pending_metrics.append(metrics)
      done = step + 1
      report(done)
      if step == start_step:
        _log_cache_use(cache_dir)
      # Every process asks at every step, so all agree on the step to save.
      preempted = preemption.reached(done)
      # The budget's last step is evaluated and saved like the run's last.
      out_of_time = not preempted and time_budget.spent(done)
      last = done == total_steps or out_of_time

      if done % config.log_every_steps == 0 or last:
        _check_finite(state, config.on_nonfinite)
        # Stage boundaries change the metric names: average per name.
        by_name = {}
        for m in pending_metrics:
          for k, v in m.items():
            by_name.setdefault(k, []).append(v)
        # Rates are reported as they were at the logged step; everything
        # else as its mean since the last log.
        scalars = {f"train/{k}": float(
            jax.device_get(v[-1]) if k.endswith("learning_rate")
            else np.mean(jax.device_get(v))) for k, v in by_name.items()}
        scalars["train/skipped_steps"] = int(state.skipped_steps)
        scalars["train/stage"] = 1 if step < config.stage1_steps else 2
        cpu_seconds, wall_seconds = ledger.totals()
        scalars["train/cpu_hours"] = cpu_seconds / 3600
        scalars["train/wall_hours"] = wall_seconds / 3600
        writer.write_scalars(done, scalars)
        pending_metrics = []

      if not preempted and (done % config.eval_every_steps == 0 or last):
        with report.timed("eval"):
          summary = run_eval(done)
        _check_finite(state, config.on_nonfinite)
        checkpoints.save_if_best(done, state, summary[config.best_metric])

      if (done % config.checkpoint_every_steps == 0 or last or preempted):
        _check_finite(state, config.on_nonfinite)
        with report.timed("checkpoint"):
          checkpoints.save(done, state)
        ledger.record(done)
      if preempted:
        logging.warning("Saved the checkpoint of step %d after SIGTERM; "
                        "run the same command again to resume.", done)
        break
      if out_of_time:
        logging.warning(
            "Stopped after step %d of %d: the %.4g-minute budget "
            "(train_minutes) is spent. Run the same command again to go on.",
            done, total_steps, time_budget.minutes)
        break

  if summary is None and not preempted:
    # Nothing left to train (a finished workdir): report where it stands.
    summary = run_eval(int(state.step))
  checkpoints.wait()
  checkpoints.close()
  _log_cache_use(cache_dir)
  writer.close()
  return summary or {}
