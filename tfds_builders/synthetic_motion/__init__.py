"""synthetic_motion TFDS builder, the embedded default (see README.md)."""

# Relative, so that `tfds build tfds_builders/synthetic_motion` (which
# imports this package as `synthetic_motion`) registers the builder once.
from .synthetic_motion_dataset_builder import Builder
from .synthetic_motion_dataset_builder import SyntheticMotionConfig
from .synthetic_motion_dataset_builder import builder_config_for

__all__ = ['Builder', 'SyntheticMotionConfig', 'builder_config_for']
