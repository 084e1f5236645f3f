r"""Builds (prepares) one of the TFDS data sets of `tfds_builders/`.

  python -m cbl_jax.data.build --name=synthetic_motion --builder_config=default
  python -m cbl_jax.data.build --name=gopro --builder_config=all_frames \
      --manual_dir=/data/GOPRO_Large_all --data_dir=/data/tensorflow_datasets

This is what `cbl_jax.data.pipeline.get_builder` does on first use, as a
command: it prepares the data only if it is not there yet, then prints where
it is and the size of each split. (`tfds build tfds_builders/<name>` does the
same, but TFDS 4.9's command line needs apache-beam installed.) Bad input
ends with a one-line error and exit status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import ml_collections
from absl import app
from absl import flags

from cbl_jax.data import pipeline

_NAME = flags.DEFINE_enum(
    'name', 'synthetic_motion', list(pipeline.DATASETS), 'Data set to build.'
)
_BUILDER_CONFIG = flags.DEFINE_string(
    'builder_config', 'default', 'Builder config, e.g. default, tiny,'
    ' all_frames, pairs, original_videos, quantitative.'
)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'TFDS data dir (default: TFDS_DATA_DIR or'
    ' ~/tensorflow_datasets).'
)
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', None, 'Folder holding the manual download (gopro, dvd).'
)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  data_config = ml_collections.ConfigDict({
      'name': _NAME.value,
      'builder_config': _BUILDER_CONFIG.value,
      'data_dir': _DATA_DIR.value,
      'manual_dir': _MANUAL_DIR.value,
  })
  try:
    builder = pipeline.get_builder(data_config)
  except (ValueError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(f'{builder.name}/{_BUILDER_CONFIG.value} is ready in {builder.data_dir}')
  for split, info in sorted(builder.info.splits.items()):
    print(f'  {split}: {info.num_examples} examples')


if __name__ == '__main__':
  app.run(main)
