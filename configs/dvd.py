"""The paper's settings on the DVD "Video Blurred Database" (Su et al. 2017).

  python -m cbl_jax.main --config=configs/dvd.py --workdir=workdirs/dvd \
      --config.data.manual_dir=/path/to/DeepVideoDeblurring_Dataset_Original_High_FPS_Videos

Same networks, losses and schedule as configs/gopro.py; 61 training and 10
test videos (the standard split), 7-frame windows of the 240 fps videos.
"""

import ml_collections

from configs import gopro


def get_config() -> ml_collections.ConfigDict:
  """Returns the configuration."""
  config = gopro.get_config()
  config.data.name = "dvd"
  config.data.builder_config = "original_videos"
  return config
