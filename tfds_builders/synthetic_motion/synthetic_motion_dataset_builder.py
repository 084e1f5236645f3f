"""synthetic_motion: the embedded default data set, generated with no download.

Photographs shipped inside scikit-image's wheel (and procedural textures)
are moved along random smooth camera paths, with independently moving
foreground objects, rendered at 7 x K instants and blurred by Eq. 2; see
`cbl_jax.data.synthetic_motion` for the exact model. Example i of a split is
a pure function of (config seed, split, i). Train and test use disjoint
photographs and seed streams.

Configs:

* ``default``: 128 x 128 frames, 600 train / 48 test examples, camera paths
  of 3 to 15 px and object paths up to 15 px per exposure.
* ``tiny``: 32 x 32 frames, 16 train / 4 test, paths of 2 to 6 px; builds in
  seconds, for tests.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from cbl_jax.data import blur
from cbl_jax.data import builder_lib
from cbl_jax.data import synthetic_motion

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

  VERSION = tfds.core.Version('2.0.0')
  RELEASE_NOTES = {
      '1.0.0': 'Initial release.',
      '2.0.0': 'Pixels in a chunked zarr store (frames/), records point at'
               ' them (see cbl_jax/data/builder_lib.py).',
  }
  BUILDER_CONFIGS = [
      SyntheticMotionConfig(
          name='default',
          description='128x128 frames, 600 train / 48 test examples.',
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
    blur.get_response(config.motion.response)  # Fail early on a bad curve.
    return {
        'train': self._generate_examples('train', config.num_train),
        'test': self._generate_examples('test', config.num_test),
    }

  def _generate_examples(self, split: str, num_examples: int):
    # Serial on purpose: about 60 ms an example at 128 x 128; threads gain
    # nothing (NumPy's small ops hold the GIL) and a process pool would need
    # callers' scripts to guard `__main__` under the 'spawn' start method that
    # JAX requires.
    motion = self.builder_config.motion
    with builder_lib.frame_writer(self, split) as writer:
      for index in range(num_examples):
        example = synthetic_motion.render_example(index, split, motion)
        yield index, builder_lib.stored_example(
            writer,
            example['blurry'],
            example['sharp'],
            sequence=example['sequence'],
            frame_indices=example['frame_indices'],
        )
