"""DVD, the "Video Blurred Database" of Su et al. (CVPR 2017).

Both configs use the standard split of Su et al., which the paper follows
(Section 4.1): the ten videos of `TEST_VIDEOS` are the test split, all others
(61 in the release) the training split.

* ``quantitative``: the released pairs
  ``quantitative_datasets/<VIDEO>/{input,GT}/<5-digit>.jpg``; ``blurry`` is
  ``input``, ``sharp`` holds ONE frame, the released middle-frame ground
  truth, shape (1, H, W, 3) (Table 3 of the paper). The JPEG files are
  decoded once, as everything the builders store (see
  `cbl_jax.data.builder_lib`).
* ``original_videos`` (default): decodes the 240 fps videos
  ``original_high_fps_videos/<VIDEO>.{MOV,mov,mp4,MP4,m4v}`` with PyAV, cuts
  them into non-overlapping windows of M = 7 frames from the first frame and
  makes the blurry image by Eq. 2 (`cbl_jax.data.blur`, linear response by
  default). Videos shorter than one window are skipped and counted in the
  log. Rotation metadata of phone videos is not applied.
"""

from __future__ import annotations

import dataclasses
import itertools

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from cbl_jax.data import blur
from cbl_jax.data import builder_lib
from cbl_jax.data import frames_io

# Su et al.'s test videos (the names of their folders and video files).
TEST_VIDEOS = (
    '720p_240fps_2',
    'IMG_0003',
    'IMG_0021',
    'IMG_0030',
    'IMG_0031',
    'IMG_0032',
    'IMG_0033',
    'IMG_0037',
    'IMG_0039',
    'IMG_0049',
)
_VIDEO_SUFFIXES = ('.mov', '.mp4', '.m4v', '.avi')
_SOURCE = (
    'DeepVideoDeblurring_Dataset.zip and'
    ' DeepVideoDeblurring_Dataset_Original_High_FPS_Videos.zip from'
    ' http://www.cs.ubc.ca/labs/imager/tr/2017/DeepVideoDeblurring/'
)
_QUANTITATIVE_LAYOUT = 'quantitative_datasets/<VIDEO>/{input,GT}/<5-digit>.jpg'
_VIDEOS_LAYOUT = 'original_high_fps_videos/<VIDEO>.MOV|.mp4'


@dataclasses.dataclass(eq=False)
class DvdConfig(tfds.core.BuilderConfig):
  """DVD builder config.

  Attributes:
    layout: 'quantitative' (released pairs) or 'original_videos'.
    frames_per_window: M, frames per blurry image (>= 7); videos only.
    response: camera response for Eq. 2; videos only.
    max_windows_per_video: keep at most this many windows of each video
      (None: all); videos only.
  """

  layout: str = 'original_videos'
  frames_per_window: int = 7
  response: str = 'linear'
  max_windows_per_video: int | None = None


class Builder(tfds.core.GeneratorBasedBuilder):
  """DVD middle-frame pairs, or 7-frame windows of the 240 fps videos."""

  VERSION = tfds.core.Version('2.0.0')
  RELEASE_NOTES = {
      '1.0.0': 'Initial release.',
      '2.0.0': 'Pixels decoded once into a chunked zarr store (frames/),'
               ' records point at them; prepare again from the manual'
               ' download (see cbl_jax/data/builder_lib.py).',
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Download {_SOURCE} and unzip both into --manual_dir, giving
    <manual_dir>/{_QUANTITATIVE_LAYOUT}   (config quantitative)
    <manual_dir>/{_VIDEOS_LAYOUT}   (config original_videos)
  Each of these folders may also sit one level deeper (e.g. inside the
  archive's own top folder), or be --manual_dir itself; for original_videos
  a --manual_dir holding the video files directly works too.
  """
  BUILDER_CONFIGS = [
      DvdConfig(
          name='original_videos',
          description='7-frame windows of the 240 fps videos, linear Eq. 2.',
      ),
      DvdConfig(
          name='quantitative',
          layout='quantitative',
          description='Released input/GT pairs (middle-frame ground truth).',
      ),
  ]
  def __init__(self, *, file_format=None, **kwargs):
    # ArrayRecord gives the random access that grain's MapDataset needs.
    super().__init__(
        file_format=file_format or tfds.core.FileFormat.ARRAY_RECORD, **kwargs
    )

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    if config.layout == 'quantitative':
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
        homepage='http://www.cs.ubc.ca/labs/imager/tr/2017/DeepVideoDeblurring/',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    if config.layout == 'quantitative':
      root = builder_lib.find_manual_subdir(
          dl_manager,
          'quantitative_datasets',
          layout=_QUANTITATIVE_LAYOUT,
          source=_SOURCE,
      )
      videos = {p.name: p for p in root.iterdir() if p.is_dir()}
      layout, make = _QUANTITATIVE_LAYOUT, self._generate_pairs
    elif config.layout == 'original_videos':
      blur.get_response(config.response)
      blur.group_bounds(config.frames_per_window)
      if config.max_windows_per_video is not None and (
          config.max_windows_per_video < 1):
        raise ValueError(
            'DvdConfig.max_windows_per_video must be None or >= 1, got'
            f' {config.max_windows_per_video}.'
        )
      manual_dir = epath.Path(dl_manager._manual_dir)  # pylint: disable=protected-access
      if manual_dir.is_dir() and any(
          p.suffix.lower() in _VIDEO_SUFFIXES for p in manual_dir.iterdir()):
        # Videos straight in the manual dir: accept whatever folder name the
        # archive unpacked them to.
        root = manual_dir
      else:
        root = builder_lib.find_manual_subdir(
            dl_manager,
            'original_high_fps_videos',
            layout=_VIDEOS_LAYOUT,
            source=_SOURCE,
        )
      videos = {
          p.stem: p
          for p in root.iterdir()
          if p.suffix.lower() in _VIDEO_SUFFIXES
      }
      layout, make = _VIDEOS_LAYOUT, self._generate_examples
    else:
      raise ValueError(
          "DvdConfig.layout must be 'quantitative' or 'original_videos', got"
          f' {config.layout!r}.'
      )
    if not videos:
      raise FileNotFoundError(
          f'No videos in {root}: expected {layout} (download: {_SOURCE}).'
      )
    missing = [name for name in TEST_VIDEOS if name not in videos]
    if missing:
      logging.warning(
          'DVD: %d of the %d standard test videos are missing from %s: %s',
          len(missing), len(TEST_VIDEOS), root, ', '.join(missing),
      )
    test = [videos[name] for name in sorted(videos) if name in TEST_VIDEOS]
    train = [videos[name] for name in sorted(videos) if name not in TEST_VIDEOS]
    for split, names in (('train', train), ('test', test)):
      if not names:
        raise FileNotFoundError(
            f'No {split} videos in {root}: the test split is'
            f' {", ".join(TEST_VIDEOS)}, the train split all other videos;'
            f' expected {layout}.'
        )
    if len(train) != 61:
      logging.warning('DVD: %d training videos (the release has 61).', len(train))
    return {'train': make('train', train), 'test': make('test', test)}

  def _generate_examples(self, split: str, videos: list[epath.Path]):
    config = self.builder_config
    response = blur.get_response(config.response)
    window = config.frames_per_window
    key = 0
    skipped = []
    with builder_lib.frame_writer(self, split) as writer:
      for video in videos:
        frames = frames_io.iter_video_frames(video)
        limit = config.max_windows_per_video
        num_windows = 0
        while limit is None or num_windows < limit:
          chunk = list(itertools.islice(frames, window))
          if len(chunk) < window:
            break
          numbers = list(
              range(num_windows * window, (num_windows + 1) * window))
          yield key, builder_lib.window_example(
              writer,
              chunk,
              names=[f'{video} frame {n}' for n in numbers],
              frame_indices=numbers,
              sequence=video.stem,
              response=response,
          )
          key += 1
          num_windows += 1
        frames.close()
        if num_windows == 0:
          skipped.append(f'{video.name}')
    builder_lib.log_skipped(skipped, window, split, key)

  def _generate_pairs(self, split: str, videos: list[epath.Path]):
    key = 0
    with builder_lib.frame_writer(self, split) as writer:
      for video in videos:
        input_dir, gt_dir = video / 'input', video / 'GT'
        if not input_dir.is_dir() or not gt_dir.is_dir():
          raise FileNotFoundError(
              f'{video} lacks input/ or GT/: expected {_QUANTITATIVE_LAYOUT}.'
          )
        for number, path in builder_lib.numbered_files(
            input_dir, ('.jpg', '.jpeg', '.png')
        ):
          gt_path = gt_dir / path.name
          if not gt_path.exists():
            raise FileNotFoundError(f'{path} has no ground truth {gt_path}.')
          blurry, sharp = frames_io.read_images([path, gt_path])
          frames_io.check_same_size([blurry, sharp], [str(path), str(gt_path)])
          yield key, builder_lib.stored_example(
              writer,
              blurry,
              sharp[None],
              sequence=video.name,
              frame_indices=[number],
          )
          key += 1
