"""GoPro TFDS builder (see README.md)."""

# Relative, so that `tfds build tfds_builders/gopro` (which imports this
# package as `gopro`) registers the builder once.
from .gopro_dataset_builder import Builder
from .gopro_dataset_builder import GoproConfig

__all__ = ['Builder', 'GoproConfig']
