"""Content loss, Eq. 4 of Niu et al. (2021), and order-aware variants.

Eq. 4 is the mean squared error of one frame,
``1/(WH) sum_{x,y} (I^sharp_{x,y} - G(I^blur)_{x,y})^2``. With T frames and C
colour channels it is averaged over frames and channels too, so its scale
does not depend on T or on the colour mode.

A blurry image is an average over the exposure and does not say which way
time ran: a sequence and its reverse blur to the same image. Penalising the
forward order alone asks the generator to guess. Two variants remove the
guess:

* ``"best_of_both"``: per example, the smaller of the forward error and the
  error against the time-reversed target.
* ``"pairwise"``: the pairwise order-invariant loss of Jin et al., "Learning
  to Extract a Video Sequence from a Single Motion-Blurred Image" (CVPR
  2018). Frames t and T-1-t are symmetric around the middle; each such pair
  may be matched either way round, independently of the other pairs:

    ``e(a, b) = mean_{x,y,c} (G_a - I^sharp_b)^2``
    ``pair_t = min(e(t, t) + e(T-1-t, T-1-t), e(t, T-1-t) + e(T-1-t, t))``
    ``loss = (sum_{t < T-1-t} pair_t + e(m, m)) / T``, ``m = (T-1)/2`` for
    odd T (the middle frame has no partner; even T has no middle term).

  Jin et al. use L1 errors; squared errors keep Eq. 4's scale, so that
  ``pairwise <= best_of_both <= forward`` always holds and all three are
  equal when the forward order is best everywhere.

All three return the batch mean of per-example losses.

The order a loss settles on is also needed by the other terms of Eq. 11:
`match_time_order` returns the target with its frames rearranged, per
example, into the order the content loss chose, so that the contiguous loss
compares every predicted frame with the same target frame as Eq. 4 does.
``content_loss(pred, target, order=o)`` equals
``content_loss(pred, match_time_order(pred, target, o))``.

Form. ``form="mse"`` is Eq. 4. ``form="log_mse"`` replaces each frame's
squared error e by ``log10(e + 1e-6)`` after the order is resolved (by the
squared errors), i.e.
minus a tenth of the frame's PSNR (capped at 60 dB): the quantity that
PSNR tables average. Under plain MSE an example with little motion, whose
errors are small in absolute terms, hardly counts, so a model may add a
few levels of invented motion to every nearly static photo, which costs
little squared error but many dB; the log form weighs every example by its
own error scale. ``form="charbonnier"`` is the mean of
``sqrt(d^2 + eps^2)`` over pixels (eps a tenth of an 8-bit level), a
smooth L1 norm, as deblurring networks are commonly trained (Lai et al.'s
LapSRN, MPRNet): its gradient does not shrink with the error, so an example
with little motion still pulls its frames all the way to the target (to
the input, where nothing moved), while blurred examples are not outweighed
by the nearly perfect ones as under ``log_mse``; and where the model cannot
tell the motion it predicts the median rather than the mean, which leaves
the photo as it is more often than it smears it. Its order is resolved by
the squared errors too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CONTENT_ORDERS = ("forward", "best_of_both", "pairwise")
CONTENT_FORMS = ("mse", "log_mse", "charbonnier", "relative_mse")
# The floor of log_mse: 60 dB, below what 8-bit targets resolve.
_LOG_FLOOR = 1e-6
# Charbonnier's epsilon: a tenth of an 8-bit level on [0, 1] frames.
_CHARBONNIER_EPS = 1e-3 / 2.55
# The floor of relative_mse's divisor: 50 dB.
_RELATIVE_FLOOR = 1e-5


def _frame_errors(pred: jax.Array, target: jax.Array) -> jax.Array:
  """(B, T) mean squared error of each frame: Eq. 4 per frame."""
  diff = pred.astype(jnp.float32) - target.astype(jnp.float32)
  return jnp.mean(diff * diff, axis=tuple(range(2, diff.ndim)))


def _check(pred: jax.Array, target: jax.Array, order: str, name: str) -> None:
  if order not in CONTENT_ORDERS:
    raise ValueError(
        f"Unknown time order {order!r}; choose from {CONTENT_ORDERS}."
    )
  if pred.ndim != 5 or pred.shape != target.shape:
    raise ValueError(
        f"{name} expects pred and target of the same shape"
        f" (B, T, H, W, C); got {pred.shape} and {target.shape}."
    )


def time_order_permutation(
    pred: jax.Array,
    target: jax.Array,
    order: str = "forward",
) -> jax.Array:
  """Per example, the target frame each predicted frame is matched with.

  Args:
    pred: (B, T, H, W, C) generated frames.
    target: (B, T, H, W, C) sharp frames.
    order: "forward", "best_of_both" or "pairwise" (module docstring).

  Returns:
    (B, T) int32: predicted frame t is compared with target frame
    ``perm[b, t]``. The choice is a constant for autodiff: gradients flow
    through the errors of the chosen matching, as they do through a min.

  Raises:
    ValueError: unknown order, or mismatched shapes.
  """
  _check(pred, target, order, "time_order_permutation")
  batch, num_frames = pred.shape[:2]
  identity = jnp.broadcast_to(jnp.arange(num_frames, dtype=jnp.int32),
                              (batch, num_frames))
  if order == "forward":
    return identity
  pred = jax.lax.stop_gradient(pred)
  forward = _frame_errors(pred, target)
  # reverse[:, t] = e(t, T-1-t): frame t against the mirrored target frame.
  reverse = _frame_errors(pred, target[:, ::-1])
  mirrored = identity[:, ::-1]
  if order == "best_of_both":
    use_reverse = reverse.mean(1) < forward.mean(1)
    return jnp.where(use_reverse[:, None], mirrored, identity)
  # Pairwise: frames t and T-1-t swap targets when that costs less. Both
  # members of a pair read the same decision, so the result is a
  # permutation; the middle frame (odd T) is its own mirror and stays.
  pair_same = forward + forward[:, ::-1]
  pair_swapped = reverse + reverse[:, ::-1]
  return jnp.where(pair_swapped < pair_same, mirrored, identity)


def match_time_order(
    pred: jax.Array,
    target: jax.Array,
    order: str = "forward",
) -> jax.Array:
  """The target with its frames in the order ``order`` matches to ``pred``.

  Args:
    pred: (B, T, H, W, C) generated frames.
    target: (B, T, H, W, C) sharp frames.
    order: "forward", "best_of_both" or "pairwise" (module docstring).

  Returns:
    (B, T, H, W, C): frame t is the target frame matched with predicted
    frame t, per example; ``target`` itself for "forward".

  Raises:
    ValueError: unknown order, or mismatched shapes.
  """
  if order == "forward":
    _check(pred, target, order, "match_time_order")
    return target
  perm = time_order_permutation(pred, target, order)
  return jnp.take_along_axis(
      target, perm.reshape(perm.shape + (1,) * (target.ndim - 2)), axis=1)


def content_loss(
    pred: jax.Array,
    target: jax.Array,
    *,
    order: str = "forward",
    form: str = "mse",
    reference: jax.Array | None = None,
    floor: float | None = None,
) -> jax.Array:
  """Content loss, Eq. 4, with optional invariance to the temporal order.

  Args:
    pred: (B, T, H, W, C) generated frames.
    target: (B, T, H, W, C) sharp frames.
    order: "forward" (Eq. 4 as written), "best_of_both" (per example, the
      better of forward and reversed order) or "pairwise" (Jin et al.'s
      pairwise order-invariant form); see the module docstring.
    form: "mse" (Eq. 4), "log_mse" (log10 of each frame's error, the
      PSNR scale) or "charbonnier" (a smooth L1 norm); see the module
      docstring.
    reference: (B, H, W, C) blurry inputs, needed by "relative_mse" only:
      each example's error is divided by the input's own error against its
      sharp frames (plus a floor of 50 dB).
    floor: the floor of "log_mse" (1e-6) and of "relative_mse"'s divisor
      (1e-5), as a mean squared error on [0, 1] frames; None for those.

  Returns:
    Scalar float32 loss.

  Raises:
    ValueError: unknown order, or mismatched shapes.
  """
  _check(pred, target, order, "content_loss")
  if form not in CONTENT_FORMS:
    raise ValueError(
        f"Unknown content loss form {form!r}; choose from {CONTENT_FORMS}."
    )
  matched = match_time_order(pred, target, order)
  if form == "charbonnier":
    diff = pred.astype(jnp.float32) - matched.astype(jnp.float32)
    return jnp.mean(jnp.sqrt(diff * diff + _CHARBONNIER_EPS ** 2))
  errors = _frame_errors(pred, matched)
  if form == "relative_mse":
    if reference is None or reference.shape != pred.shape[:1] + pred.shape[2:]:
      raise ValueError(
          "content_loss(form='relative_mse') needs reference=the (B, H, W, C)"
          f" blurry inputs; got {None if reference is None else reference.shape}"
          f" for frames of shape {pred.shape}.")
    baseline = _frame_errors(
        jnp.broadcast_to(reference[:, None], target.shape), target)
    baseline = jax.lax.stop_gradient(baseline.mean(1))
    floor = _RELATIVE_FLOOR if floor is None else floor
    # Weights normalised over the batch: a weighted Eq. 4 whose scale stays
    # that of a squared error, so that Adam's statistics carry over from a
    # phase of plain MSE.
    weights = 1.0 / (baseline + floor)
    return jnp.sum(weights * errors.mean(1)) / jnp.sum(weights)
  if form == "log_mse":
    errors = jnp.log10(errors + (_LOG_FLOOR if floor is None else floor))
  return jnp.mean(errors)
