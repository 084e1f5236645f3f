"""Pure train and eval steps: `(state, batch, rng) -> (state, metrics)`.

Stage 1 (`content_step`) trains the generator alone with the content loss
(Eq. 4), as the paper's ResNet-based model. Stage 2 (`gan_step`) first
updates the discriminator with Eq. 13, then the generator with the total loss
of Eq. 11: content + alpha * adversarial + beta * contiguous.

Time order. `config.loss.time_order` picks, per example, which target frame
each predicted frame is compared with ("forward": frame t with frame t, as
Eq. 4 is written; "best_of_both" and "pairwise": see `losses.content`). The
content loss makes that choice, and the contiguous loss compares each frame
with the same target frame, so that the two terms never pull towards
different orders.

Batch norm in G's adversarial term. D is trained in train mode on one batch
of real and generated frames, so its batch norm normalises with the
statistics of both. With `config.loss.adversarial_batch_stats` =
"real_and_fake" (default), G's adversarial term runs the updated D the same
way, on the same real frames next to G's frames, and keeps the logits of G's
frames: G is judged by the function D was trained as. "running" uses D's
running averages instead (inference mode). The statistics of G's pass are
never kept.

Learning rates come from `schedules.learning_rates` (the global step), and
are returned as metrics.

Both steps guard against non-finite values without a host round trip: a step
whose loss or gradient is not finite leaves the networks and optimizers as
they were and records the step and the term in the state; the loop reads
that record when it logs or saves, and stops or carries on as configured.
"""

import functools
from typing import Any, Callable

import flax.linen as nn

import jax
import jax.numpy as jnp
import ml_collections
import optax

from cbl_jax import losses
from cbl_jax.training import schedules
from cbl_jax.training.state import GUARDED_TERMS, TrainState

Batch = dict[str, jax.Array]
Step = Callable[[TrainState, Batch, jax.Array], tuple[TrainState, dict]]

ADVERSARIAL_BATCH_STATS = ("real_and_fake", "running")


def _frames_to_float(batch: Batch) -> tuple[jax.Array, jax.Array]:
  # The pipeline ships uint8 to keep host-to-device traffic 4x smaller.
  return (batch["blurry"].astype(jnp.float32) / 255.0,
          batch["sharp"].astype(jnp.float32) / 255.0)


def _all_finite(tree: Any) -> jax.Array:
  leaves = jax.tree_util.tree_leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _guard(old: TrainState, new: TrainState,
           checks: dict[str, jax.Array]) -> tuple[TrainState, jax.Array]:
  """Keeps `new` only if every check passed; records the first failure."""
  ok_per_term = jnp.stack(
      [checks.get(name, jnp.array(True)) for name in GUARDED_TERMS])
  ok = jnp.all(ok_per_term)
  kept = jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new, old)
  first_time = jnp.logical_and(~ok, old.first_bad_step < 0)
  return kept.replace(
      step=old.step + 1,
      skipped_steps=old.skipped_steps + (~ok).astype(jnp.int32),
      first_bad_step=jnp.where(first_time, old.step, old.first_bad_step),
      first_bad_term=jnp.where(first_time, jnp.argmin(ok_per_term),
                               old.first_bad_term),
  ), ok


def make_steps(config: ml_collections.ConfigDict, generator: nn.Module,
               discriminator: nn.Module, g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation) -> tuple[Step, Step]:
  """Builds the stage-1 and stage-2 train steps.

  Args:
    config: the experiment configuration (`config.loss`, `config.optimizer`
      and the stage lengths are read).
    generator: the generator module.
    discriminator: the discriminator module.
    g_tx: generator optimizer (Adam without a rate; see `schedules`).
    d_tx: discriminator optimizer, likewise.

  Returns:
    `(content_step, gan_step)`, both pure and ready for `jax.jit`.
  """
  loss_cfg = config.loss
  if getattr(generator, "residual_deadzone", 0.0):
    # The dead zone is a rule for inference and evaluation: the losses see
    # the raw residuals, so that residuals that start at zero can grow.
    generator = generator.clone(residual_deadzone=0.0)
  contiguous_kwargs = loss_cfg.contiguous.to_dict()
  # The VGG weights are read once here, not at every trace.
  vgg_weights = contiguous_kwargs.pop("vgg_weights")
  contiguous_kwargs["vgg_params"] = (
      losses.load_vgg19_params(vgg_weights) if vgg_weights else None)
  content_form = loss_cfg.get("content_form", "mse")
  content_floor = loss_cfg.get("content_floor")

  def content_loss(frames, target, blurry, *, order="forward",
                   form=content_form, floor=content_floor):
    """Eq. 4 in the configured form; `blurry` is relative_mse's reference."""
    return losses.content_loss(frames, target, order=order, form=form,
                               reference=blurry, floor=floor)

  # Stage 1's phases, each (first step, form, floor): plain MSE for
  # `content_mse_steps`, then `content_form`, then `content_late_form` from
  # `content_late_step` on (0: never).
  mse_steps = loss_cfg.get("content_mse_steps", 0)
  phases = [(0, content_form, content_floor)]
  if content_form != "mse" and mse_steps:
    phases = [(0, "mse", None), (mse_steps, content_form, content_floor)]
  late_step = loss_cfg.get("content_late_step", 0)
  if late_step:  # validate_config: after content_mse_steps.
    phases.append((late_step, loss_cfg.content_late_form,
                   loss_cfg.get("content_late_floor")))

  def input_frames(blurry, sharp):
    """7 copies of the input: the identity the content loss is measured by."""
    return jnp.broadcast_to(blurry[:, None], sharp.shape)

  def content_step(state: TrainState, batch: Batch, rng: jax.Array):
    del rng  # Stage 1 is deterministic given the batch.
    blurry, sharp = _frames_to_float(batch)
    g_rate, d_rate = schedules.learning_rates(config, state.step)

    def content_of(frames):
      content = functools.partial(content_loss, frames, sharp, blurry,
                                  order=loss_cfg.time_order)
      branches = [functools.partial(content, form=form, floor=floor)
                  for _, form, floor in phases]
      if len(branches) == 1:
        return branches[0]()
      # Plain MSE first: it moves the frames apart, which a loss that
      # weighs still scenes heavily does not do from the identity.
      phase = sum((state.step >= start).astype(jnp.int32)
                  for start, _, _ in phases[1:])
      return jax.lax.switch(phase, branches)

    def loss_fn(g_params):
      return content_of(generator.apply({"params": g_params}, blurry))

    content, grads = jax.value_and_grad(loss_fn)(state.g_params)
    # The same loss for 7 copies of the input: a run whose content_loss
    # stays near it fits its own training crops no better than the identity.
    content_of_input = content_of(input_frames(blurry, sharp))
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state,
                                       state.g_params)
    updates = schedules.scale_by_rate(updates, g_rate)
    new = state.replace(g_params=optax.apply_updates(state.g_params, updates),
                        g_opt_state=g_opt_state)
    new, ok = _guard(state, new, {
        "content": jnp.isfinite(content),
        "generator_gradients": _all_finite(grads),
    })
    return new, {"content_loss": content,
                 "content_loss_of_input": content_of_input,
                 "g_grad_norm": optax.global_norm(grads), "finite": ok,
                 "g_learning_rate": g_rate, "d_learning_rate": d_rate}

  def discriminate(d_params, batch_stats, frames, train=True):
    # Every frame of every sequence is one example for D (Table 2 classifies
    # single frames).
    flat = frames.reshape((-1,) + frames.shape[2:])
    variables = {"params": d_params, "batch_stats": batch_stats}
    if not train:
      return discriminator.apply(variables, flat, train=False), batch_stats
    logits, updates = discriminator.apply(variables, flat, train=True,
                                          mutable=["batch_stats"])
    return logits, updates["batch_stats"]

  def generator_adversarial_logits(d_params, batch_stats, sharp, frames):
    """D's logits for G's frames, as configured (see the module docstring)."""
    if loss_cfg.adversarial_batch_stats == "running":
      logits, _ = discriminate(d_params, batch_stats, frames, train=False)
      return logits
    both = jnp.concatenate([sharp, frames], axis=0)
    logits, _ = discriminate(d_params, batch_stats, both)
    return jnp.split(logits, 2, axis=0)[1]

  def gan_step(state: TrainState, batch: Batch, rng: jax.Array):
    blurry, sharp = _frames_to_float(batch)
    g_rate, d_rate = schedules.learning_rates(config, state.step)
    # One generator forward pass serves both updates: D sees its frames as
    # constants, and G's gradient is pulled back through the same pass.
    pred, generator_vjp = jax.vjp(
        lambda g_params: generator.apply({"params": g_params}, blurry),
        state.g_params)

    # Discriminator update (Eq. 13): real sharp frames against generated
    # ones, in one batch so that batch norm sees both.
    def d_loss_fn(d_params):
      both = jnp.concatenate([sharp, jax.lax.stop_gradient(pred)], axis=0)
      logits, batch_stats = discriminate(d_params, state.d_batch_stats, both)
      real_logits, fake_logits = jnp.split(logits, 2, axis=0)
      loss = losses.discriminator_loss(real_logits, fake_logits)
      return loss, batch_stats

    (d_loss, d_batch_stats), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_updates, d_opt_state = d_tx.update(d_grads, state.d_opt_state,
                                         state.d_params)
    d_updates = schedules.scale_by_rate(d_updates, d_rate)
    d_params = optax.apply_updates(state.d_params, d_updates)

    # Generator update (Eq. 11) against the updated discriminator.
    def g_loss_fn(frames):
      # Both terms compare each frame with the same target frame.
      target = losses.match_time_order(frames, sharp, loss_cfg.time_order)
      content = content_loss(frames, target, blurry)
      fake_logits = generator_adversarial_logits(d_params, d_batch_stats,
                                                 sharp, frames)
      adversarial = losses.generator_adversarial_loss(
          fake_logits, form=loss_cfg.adversarial_form)
      if loss_cfg.beta:
        contiguous = losses.frames_contiguous_loss(
            frames, target, rng=rng, **contiguous_kwargs)
      else:
        contiguous = jnp.zeros((), jnp.float32)
      return losses.total_generator_loss(
          content, adversarial, contiguous, alpha=loss_cfg.alpha,
          beta=loss_cfg.beta)

    (_, terms), pred_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(pred)
    (g_grads,) = generator_vjp(pred_grads)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state,
                                         state.g_params)
    g_updates = schedules.scale_by_rate(g_updates, g_rate)
    new = state.replace(
        g_params=optax.apply_updates(state.g_params, g_updates),
        g_opt_state=g_opt_state, d_params=d_params,
        d_batch_stats=d_batch_stats, d_opt_state=d_opt_state)
    new, ok = _guard(state, new, {
        "content": jnp.isfinite(terms["content"]),
        "adversarial": jnp.isfinite(terms["adversarial"]),
        "contiguous": jnp.isfinite(terms["contiguous"]),
        "discriminator": jnp.isfinite(d_loss),
        "generator_gradients": _all_finite(g_grads),
        "discriminator_gradients": _all_finite(d_grads),
    })
    out = {f"{k}_loss": v for k, v in terms.items()}
    out["content_loss_of_input"] = content_loss(
        input_frames(blurry, sharp), sharp, blurry, order=loss_cfg.time_order)
    out.update(discriminator_loss=d_loss, finite=ok,
               g_grad_norm=optax.global_norm(g_grads),
               d_grad_norm=optax.global_norm(d_grads),
               g_learning_rate=g_rate, d_learning_rate=d_rate)
    return new, out

  return content_step, gan_step
