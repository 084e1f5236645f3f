"""DVD (Su et al. 2017) TFDS builder (see README.md)."""

# Relative, so that `tfds build tfds_builders/dvd` (which imports this
# package as `dvd`) registers the builder once.
from .dvd_dataset_builder import Builder
from .dvd_dataset_builder import DvdConfig
from .dvd_dataset_builder import TEST_VIDEOS

__all__ = ['Builder', 'DvdConfig', 'TEST_VIDEOS']
