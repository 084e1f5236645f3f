"""GoPro (Nah et al., CVPR 2017) as (blurry, 7 sharp frames) examples.

Configs:

* ``all_frames`` (default), ``all_frames_gamma``, ``all_frames_13``: read the
  240 fps frames of ``GOPRO_Large_all/{train,test}/<SEQ>/<number>.png``
  (sorted by number, which need not start at 1), cut each sequence into
  non-overlapping windows of M frames from its first frame, and make the
  blurry image by Eq. 2 (`cbl_jax.data.blur`) with the config's camera
  response. With M = 7 the seven frames are the targets; with M > 7 the
  targets are the seven sub-averages of `blur.group_bounds`. Frames after the
  last full window are dropped; sequences shorter than one window are skipped
  and counted in the log.
* ``pairs``, ``pairs_gamma``: the released pairs of
  ``GOPRO_Large/{train,test}/<SEQ>/{blur,blur_gamma,sharp}/<name>.png``,
  for middle-frame comparisons. ``blurry`` is from ``blur`` (``pairs``) or
  ``blur_gamma`` (``pairs_gamma``); ``sharp`` holds ONE frame, the released
  centre frame, shape (1, H, W, 3), so all configs share the same keys.

A custom config can be passed directly, e.g.
``Builder(config=GoproConfig(name='m11_gamma', frames_per_window=11,
response='gamma'))``; ``response`` may also be a path to a g^-1 table (see
`cbl_jax.data.blur`).
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from cbl_jax.data import blur
from cbl_jax.data import builder_lib
from cbl_jax.data import frames_io

_SOURCE = (
    'GOPRO_Large_all.zip / GOPRO_Large.zip from the DeepDeblur project page,'
    ' https://seungjunnah.github.io/Datasets/gopro'
)
_ALL_FRAMES_LAYOUT = 'GOPRO_Large_all/{train,test}/<SEQ>/<6-digit>.png'
_PAIRS_LAYOUT = 'GOPRO_Large/{train,test}/<SEQ>/{blur,blur_gamma,sharp}/*.png'


@dataclasses.dataclass(eq=False)
class GoproConfig(tfds.core.BuilderConfig):
  """GoPro builder config.

  Attributes:
    layout: 'all_frames' (240 fps frames, blur made here) or 'pairs'
      (released blurry/sharp pairs).
    frames_per_window: M, sharp frames averaged per blurry image (>= 7);
      'all_frames' only.
    response: camera response for Eq. 2 ('linear', 'gamma' or a table path);
      'all_frames' only.
    blur_folder: 'blur' or 'blur_gamma'; 'pairs' only.
  """

  layout: str = 'all_frames'
  frames_per_window: int = 7
  response: str = 'linear'
  blur_folder: str = 'blur'


class Builder(tfds.core.GeneratorBasedBuilder):
  """GoPro windows of 7 sharp frames, or released middle-frame pairs."""

  VERSION = tfds.core.Version('2.0.0')
  RELEASE_NOTES = {
      '1.0.0': 'Initial release.',
      '2.0.0': 'Pixels decoded once into a chunked zarr store (frames/),'
               ' records point at them; prepare again from the manual'
               ' download (see cbl_jax/data/builder_lib.py).',
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Download {_SOURCE} and unzip into --manual_dir, giving
    <manual_dir>/{_ALL_FRAMES_LAYOUT}   (configs all_frames*)
    <manual_dir>/{_PAIRS_LAYOUT}   (configs pairs*)
  --manual_dir may also be the GOPRO_Large_all (or GOPRO_Large) folder
  itself, or a folder one level above it.
  """
  BUILDER_CONFIGS = [
      GoproConfig(
          name='all_frames',
          description='7-frame windows of the 240 fps frames, linear Eq. 2.',
      ),
      GoproConfig(
          name='all_frames_gamma',
          response='gamma',
          description='7-frame windows, Eq. 2 after undoing gamma 2.2.',
      ),
      GoproConfig(
          name='all_frames_13',
          frames_per_window=13,
          description='13-frame windows, linear Eq. 2, 7 sub-averages.',
      ),
      GoproConfig(
          name='pairs',
          layout='pairs',
          description='Released blur/ images with their centre sharp frame.',
      ),
      GoproConfig(
          name='pairs_gamma',
          layout='pairs',
          blur_folder='blur_gamma',
          description='Released blur_gamma/ images with the centre frame.',
      ),
  ]
  def __init__(self, *, file_format=None, **kwargs):
    # ArrayRecord gives the random access that grain's MapDataset needs.
    super().__init__(
        file_format=file_format or tfds.core.FileFormat.ARRAY_RECORD, **kwargs
    )

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    if config.layout == 'pairs':
      features = builder_lib.features(num_source_frames=1)
    else:
      features = builder_lib.features(
          num_source_frames=config.frames_per_window
      )
    return self.dataset_info_from_configs(
        # Keys are running example numbers: stored order is generation
        # order ((sequence, frame) or index), so evaluation reads in that
        # order; training shuffles in the input pipeline.
        disable_shuffling=True,
        features=features,
        homepage='https://seungjunnah.github.io/Datasets/gopro',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    if config.layout not in ('all_frames', 'pairs'):
      raise ValueError(
          f"GoproConfig.layout must be 'all_frames' or 'pairs', got"
          f' {config.layout!r}.'
      )
    if config.layout == 'pairs':
      root = builder_lib.find_manual_subdir(
          dl_manager, 'GOPRO_Large', layout=_PAIRS_LAYOUT, source=_SOURCE
      )
      make = self._generate_pairs
    else:
      # Fail before any work on a bad response or window length.
      blur.get_response(config.response)
      blur.group_bounds(config.frames_per_window)
      root = builder_lib.find_manual_subdir(
          dl_manager,
          'GOPRO_Large_all',
          layout=_ALL_FRAMES_LAYOUT,
          source=_SOURCE,
      )
      make = self._generate_examples
    layout = _PAIRS_LAYOUT if config.layout == 'pairs' else _ALL_FRAMES_LAYOUT
    splits = {}
    for split in ('train', 'test'):
      split_dir = root / split
      sequences = (
          sorted(p for p in split_dir.iterdir() if p.is_dir())
          if split_dir.is_dir()
          else []
      )
      if not sequences:
        raise FileNotFoundError(
            f'No sequences in {split_dir}: expected {layout} (download:'
            f' {_SOURCE}).'
        )
      splits[split] = make(split, sequences)
    return splits

  def _generate_examples(self, split: str, sequences: list[epath.Path]):
    config = self.builder_config
    response = blur.get_response(config.response)
    window = config.frames_per_window
    key = 0
    skipped = []
    with builder_lib.frame_writer(self, split) as writer:
      for sequence in sequences:
        files = builder_lib.numbered_files(sequence, ('.png',))
        windows = blur.non_overlapping_windows(len(files), window)
        if not windows:
          skipped.append(f'{sequence.name} ({len(files)} frames)')
          continue
        for start, stop in windows:
          numbers = [number for number, _ in files[start:stop]]
          if numbers[-1] - numbers[0] != window - 1:
            logging.warning(
                'GoPro %s: window %d..%d has missing frame numbers.',
                sequence.name, numbers[0], numbers[-1],
            )
          paths = [path for _, path in files[start:stop]]
          yield key, builder_lib.window_example(
              writer,
              frames_io.read_images(paths),
              names=[str(path) for path in paths],
              frame_indices=numbers,
              sequence=sequence.name,
              response=response,
          )
          key += 1
    builder_lib.log_skipped(skipped, window, split, key)

  def _generate_pairs(self, split: str, sequences: list[epath.Path]):
    blur_folder = self.builder_config.blur_folder
    key = 0
    with builder_lib.frame_writer(self, split) as writer:
      for sequence in sequences:
        blur_dir, sharp_dir = sequence / blur_folder, sequence / 'sharp'
        if not blur_dir.is_dir() or not sharp_dir.is_dir():
          raise FileNotFoundError(
              f'{sequence} lacks {blur_folder}/ or sharp/: expected'
              f' {_PAIRS_LAYOUT}.'
          )
        for name in sorted(p.name for p in blur_dir.iterdir()
                           if p.suffix.lower() == '.png'):
          sharp_path = sharp_dir / name
          if not sharp_path.exists():
            raise FileNotFoundError(
                f'{blur_dir / name} has no sharp counterpart {sharp_path}.'
            )
          blurry, sharp = frames_io.read_images([blur_dir / name, sharp_path])
          frames_io.check_same_size(
              [blurry, sharp], [str(blur_dir / name), str(sharp_path)]
          )
          stem = name.rsplit('.', 1)[0]
          yield key, builder_lib.stored_example(
              writer,
              blurry,
              sharp[None],
              sequence=sequence.name,
              frame_indices=[int(stem) if stem.isdigit() else -1],
          )
          key += 1
