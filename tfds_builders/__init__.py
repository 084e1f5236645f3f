"""TFDS dataset builders: `gopro`, `dvd` and `synthetic_motion`.

Each is a dataset-as-folder (`<name>/<name>_dataset_builder.py`, class
`Builder`), buildable with `tfds build tfds_builders/<name>` or from Python;
importing `tfds_builders.<name>` registers it with TFDS. See each folder's
README.md. The input pipeline (`cbl_jax.data.pipeline`) imports them by name.
"""

NAMES = ('gopro', 'dvd', 'synthetic_motion')
