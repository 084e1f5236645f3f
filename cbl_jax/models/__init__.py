"""Networks of the paper: the generator (Table 1) and discriminator (Table 2)."""

from cbl_jax.models.discriminator import Discriminator
from cbl_jax.models.generator import Generator

__all__ = ["Discriminator", "Generator"]
