r"""Draws learning curves (held-out gain against CPU-hours) from curve CSVs.

  python scripts/plot_curves.py docs/curves/unet.csv docs/curves/table1.csv \
      --output=docs/learning_curves.png

Each CSV is one run, as `python -m cbl_jax.evaluation.curve` writes it; its
file name (without .csv) labels it. Left: gain over the blurry input on the
middle frame; right: on all 7 frames in the better time order; both against
the process CPU-hours the run had spent at that step (every core's time
counts).
"""

import argparse
import csv
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position


def read_curve(path: pathlib.Path) -> dict[str, list[float]]:
  """The columns of a curve CSV as float lists, sorted by step."""
  with open(path, newline="") as f:
    rows = sorted(csv.DictReader(f), key=lambda r: int(r["step"]))
  if not rows:
    raise ValueError(f"{path} has no rows.")
  return {key: [float(r[key]) for r in rows] for key in rows[0]}


def plot(curves: dict[str, dict[str, list[float]]],
         output: pathlib.Path) -> None:
  """Writes the two-panel figure of `curves` (label -> columns)."""
  figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
  for label, columns in curves.items():
    for ax, key in zip(axes, ("gain_middle", "gain")):
      ax.plot(columns["cpu_hours"], columns[key], marker="o", markersize=3,
              label=label)
  for ax, title in zip(axes, ("middle frame", "all 7 frames, better order")):
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("CPU-hours of training (all cores)")
    ax.set_ylabel("held-out gain over the input, dB")
    ax.set_title(title)
    ax.grid(alpha=0.3)
  axes[0].legend()
  figure.tight_layout()
  output.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(output, dpi=110)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("csvs", nargs="+", type=pathlib.Path)
  parser.add_argument("--output", type=pathlib.Path, required=True)
  args = parser.parse_args(argv)
  try:
    curves = {path.stem: read_curve(path) for path in args.csvs}
  except (OSError, ValueError, KeyError) as e:
    print(f"plot_curves: {e}", file=sys.stderr)
    return 1
  plot(curves, args.output)
  print(f"Wrote {args.output}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
