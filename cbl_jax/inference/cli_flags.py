"""Flags and helpers shared by the predict, evaluate and export CLIs.

absl flags are process-global and may be defined once, so the flags that
several command lines share live here. Each CLI imports this module and
declares the ones it uses as its key flags (`flags.adopt_module_key_flags`
or `flags.declare_key_flag`), so that --helpshort shows them.
"""

from absl import flags

from cbl_jax.inference import model as model_lib
from cbl_jax.inference import tiling

# cbl_jax.main (training) defines --workdir too. The two never run in one
# process except under a test runner, where allow_override keeps the second
# definition from raising; both are plain strings defaulting to None.
WORKDIR = flags.DEFINE_string(
    "workdir", None,
    "Training workdir to load the generator from: its best/ checkpoint if "
    "there is one, else its latest (see --which).", allow_override=True)
WHICH = flags.DEFINE_enum(
    "which", "best", model_lib.WHICH,
    "With --workdir: 'best' (highest evaluation PSNR; falls back to latest) "
    "or 'latest' checkpoint.")
CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None,
    "A checkpoint step folder (<workdir>/best/<step>) or a .msgpack weights "
    "file with its .json sidecar. Without --workdir and --checkpoint the "
    "shipped weights (cbl_jax/weights/default_generator.msgpack) are used.")
INPUT = flags.DEFINE_string(
    "input", None,
    "An image file, or a folder whose image files (.png, .jpg, ...) are all "
    "processed; predict also takes videos (.mp4, .mov, ...), alone or in the "
    "folder.")
OUTPUT = flags.DEFINE_string(
    "output", None,
    "Where results go: a folder (predict, evaluate) or the .msgpack file "
    "(export_weights).")
TILE_SIZE = flags.DEFINE_integer(
    "tile_size", tiling.TileOptions.tile_size,
    "Images larger than this (pixels, either side) are predicted in "
    "overlapping tiles of this size, so memory does not grow with the image; "
    "0 runs every image whole.", lower_bound=0)
TILE_OVERLAP = flags.DEFINE_integer(
    "tile_overlap", tiling.TileOptions.tile_overlap,
    "Minimum overlap of neighbouring tiles in pixels; at least twice the "
    "generator's receptive radius (2 * 31 for the paper's network) makes "
    "tiled results equal whole-image ones. Default: exactly that, with "
    "tiles of at least twice the overlap.", lower_bound=0)
TILE_BATCH_SIZE = flags.DEFINE_integer(
    "tile_batch_size", tiling.TileOptions.batch_size,
    "Tiles per generator call.", lower_bound=1)


def load_model() -> model_lib.LoadedGenerator:
  """The generator that --workdir / --which / --checkpoint select."""
  return model_lib.load_generator(workdir=WORKDIR.value,
                                  checkpoint=CHECKPOINT.value,
                                  which=WHICH.value)


def tile_options() -> tiling.TileOptions:
  """The tiling that --tile_size / --tile_overlap / --tile_batch_size set."""
  return tiling.TileOptions(tile_size=TILE_SIZE.value,
                            tile_overlap=TILE_OVERLAP.value,
                            batch_size=TILE_BATCH_SIZE.value)
