r"""Can a recipe fit a few fixed training batches? Its own step, from scratch.

  python benchmarks/fit_check.py --config=release --steps=200
  python benchmarks/fit_check.py --config=default --batches=4 --steps=400
  python benchmarks/fit_check.py --tiny --data_dir=/tmp/tfds   # for the tests

Takes `--batches` batches of the config's train split (a fixed seed) and
runs the config's own stage-1 step (`cbl_jax.training.steps`: its
generator, initialisation, content loss and optimizer schedule) on them,
cycled, for `--steps` steps. Every `--report_every` steps it prints the
gain over the blurry input on those same crops, from squared errors pooled
over the crops: the middle frame, and all 7 frames in the better time
order.

A recipe whose model, loss and optimizer work fits them by several dB in a
few hundred steps: the release recipe gained +1.7 dB on the middle frame
and +2.6 dB on all frames of 16 crops in 200 steps, still warming up its
rate (docs/curves/README.md).
One that cannot fit 16 crops cannot learn from the stream either; one that
fits them and still does not gain on fresh crops is short of data or
steps, not broken. This measures fitting, not generalisation.
"""

import argparse
import functools
import os
import sys
import time

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from benchmarks import backbone  # pylint: disable=g-import-not-at-top
from benchmarks import machine  # pylint: disable=g-import-not-at-top
from cbl_jax import losses  # pylint: disable=g-import-not-at-top
from cbl_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from cbl_jax.training import state as state_lib  # pylint: disable=g-import-not-at-top
from cbl_jax.training import steps as steps_lib  # pylint: disable=g-import-not-at-top

_NAMES = ("default", "release", "paper")
_TINY_NAME = "test_unet"
_SEED = 123


def fixed_batches(config, count: int) -> list[dict[str, np.ndarray]]:
  """`count` training batches of the config's pipeline, always the same."""
  dataset = pipeline.train_dataset(
      config.data, seed=_SEED, global_batch_size=config.batch_size,
      start_step=0, process_index=0, process_count=1)
  return [{k: np.asarray(v) for k, v in dataset[i].items()}
          for i in range(count)]


def pooled_gains(generator, params, batches, time_order: str
                 ) -> tuple[float, float]:
  """Gain over the input (dB): middle frame and all frames, pooled MSE."""
  errors = np.zeros(4)  # model middle, input middle, model all, input all.
  for batch in batches:
    blurry = jnp.asarray(batch["blurry"], jnp.float32) / 255
    sharp = jnp.asarray(batch["sharp"], jnp.float32) / 255
    frames = _apply(generator, params, blurry)
    copies = jnp.broadcast_to(blurry[:, None], sharp.shape)
    middle = sharp.shape[1] // 2
    errors += np.array([
        jnp.mean((frames[:, middle] - sharp[:, middle]) ** 2),
        jnp.mean((blurry - sharp[:, middle]) ** 2),
        losses.content_loss(frames, sharp, order=time_order),
        losses.content_loss(copies, sharp, order=time_order)])
  return (10 * np.log10(errors[1] / errors[0]),
          10 * np.log10(errors[3] / errors[2]))


@functools.partial(jax.jit, static_argnums=0)
def _apply(generator, params, blurry):
  return generator.apply({"params": params}, blurry)


def fit(config, batches, steps: int, report_every: int):
  """Runs the stage-1 step on `batches` cycled; yields (step, gains, s)."""
  generator = state_lib.create_generator(config)
  discriminator = state_lib.create_discriminator(config)
  g_tx, d_tx = state_lib.create_optimizers(config)
  state = jax.jit(lambda k: state_lib.init_train_state(
      config, k, generator, g_tx))(jax.random.key(config.seed))
  content_step, _ = steps_lib.make_steps(config, generator, discriminator,
                                         g_tx, d_tx)
  content_step = jax.jit(content_step, donate_argnums=0)
  # Scored without the dead zone: the step trains the raw residuals.
  scored = generator.clone(residual_deadzone=0.0) if hasattr(
      generator, "residual_deadzone") else generator
  start = time.perf_counter()
  for step in range(steps + 1):
    if step % report_every == 0 or step == steps:
      yield (step, pooled_gains(scored, state.g_params, batches,
                                config.loss.time_order),
             time.perf_counter() - start)
    if step < steps:
      state, _ = content_step(state, batches[step % len(batches)],
                              jax.random.key(step))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="release",
                      help="one of " + ", ".join(_NAMES))
  parser.add_argument("--batches", type=int, default=2)
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--report_every", type=int, default=25)
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data directory (default: TFDS's own)")
  parser.add_argument("--tiny", action="store_true",
                      help="the release U-Net at the test sizes")
  args = parser.parse_args(argv)
  if args.config not in _NAMES:
    parser.error(f"--config takes {', '.join(_NAMES)}, got {args.config!r}.")
  for name in ("batches", "steps", "report_every"):
    if getattr(args, name) < 1:
      parser.error(f"--{name} must be at least 1, got {getattr(args, name)}.")
  config = backbone.get_config(_TINY_NAME if args.tiny else args.config)
  if args.data_dir:
    config.data.data_dir = args.data_dir
  try:
    batches = fixed_batches(config, args.batches)
  except (ValueError, OSError) as error:
    # A data directory that cannot be read or made: one line, as
    # cbl_jax.main gives it.
    parser.exit(2, f"fit_check.py: error: the training data of "
                f"{config.data.name}: {error}\n")
  print(f"Machine: {machine.describe()}; jax {jax.__version__}; "
        f"{_TINY_NAME if args.tiny else args.config}: {args.batches} fixed "
        f"batches of {config.batch_size} crops of {config.data.crop_size}",
        flush=True)
  print("| step | middle frame gain (dB) | all frames gain (dB) | seconds |")
  print("|---|---|---|---|")
  for step, (middle, every), seconds in fit(config, batches, args.steps,
                                            args.report_every):
    print(f"| {step} | {middle:+.2f} | {every:+.2f} | {seconds:.0f} |",
          flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
