"""Inference: load a trained generator, predict frames of any image.

    from cbl_jax import inference

    model = inference.load_generator(workdir="workdirs/default")
    image = inference.read_image("photo.jpg")            # (H, W, 3) in [0, 1]
    frames = inference.predict_tiled(model, image)       # (7, H, W, 3)
    more = inference.interpolate(
        lambda x: inference.predict_tiled(model, x), image, levels=2)  # 42
    inference.slow_motion(lambda x: inference.predict_tiled(model, x),
                          "clip.mp4", "slow.mp4")  # 7 frames per frame

The command lines are `python -m cbl_jax.predict`, `python -m
cbl_jax.evaluate` and `python -m cbl_jax.inference.export_weights`.
"""

from cbl_jax.inference.image_io import list_images
from cbl_jax.inference.image_io import read_image
from cbl_jax.inference.image_io import write_sequence
from cbl_jax.inference.interpolation import interpolate
from cbl_jax.inference.interpolation import num_frames_at_level
from cbl_jax.inference.model import LoadedGenerator
from cbl_jax.inference.model import load_checkpoint
from cbl_jax.inference.model import load_generator
from cbl_jax.inference.model import load_weights_file
from cbl_jax.inference.model import load_workdir
from cbl_jax.inference.model import random_generator
from cbl_jax.inference.model import receptive_radius
from cbl_jax.inference.tiling import TileOptions
from cbl_jax.inference.tiling import predict_frames
from cbl_jax.inference.tiling import predict_tiled
from cbl_jax.inference.video import slow_motion

__all__ = [
    "LoadedGenerator",
    "TileOptions",
    "interpolate",
    "list_images",
    "load_checkpoint",
    "load_generator",
    "load_weights_file",
    "load_workdir",
    "num_frames_at_level",
    "predict_frames",
    "predict_tiled",
    "random_generator",
    "read_image",
    "receptive_radius",
    "slow_motion",
    "write_sequence",
]
