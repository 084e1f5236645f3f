"""The learning-curve comparison: one budget, one data set, two generators.

  python -m cbl_jax.main --config=configs/learning_curve.py:unet \
      --workdir=workdirs/curve_unet --config.train_minutes=35
  python -m cbl_jax.main --config=configs/learning_curve.py:table1 \
      --workdir=workdirs/curve_table1 --config.train_minutes=35
  python -m cbl_jax.evaluation.curve --workdir=workdirs/curve_table1 \
      --output=docs/curves/table1.csv

`unet` is `configs/release.py` itself (its first steps are the release
run's); `table1` is the same run with the Table 1 generator at the CPU size
of `configs/default.py` (32 features, 4 blocks, 64 head features, He
initialisation, input skip, zero-mean residuals). Data, crops, batch, loss,
rates and seed are the same, so the curves differ by the generator alone.
"""

import ml_collections

from configs import default
from configs import release


def get_config(generator: str = "unet") -> ml_collections.ConfigDict:
  """Returns the configuration of one arm: "unet" or "table1"."""
  config = release.get_config()
  # The comparison ran Eq. 4 alone (the release run switches its loss
  # after it).
  config.loss.content_form = "mse"
  config.loss.content_mse_steps = 0
  if generator == "table1":
    table1 = default.get_config().generator
    table1.residual_deadzone = 0.0
    config.generator = table1
  elif generator != "unet":
    raise ValueError(
        f"configs/learning_curve.py takes unet or table1, got {generator!r}.")
  return config
