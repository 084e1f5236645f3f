"""Networks: the generators (Table 1's and a U-Net) and the discriminator.

`config.generator.name` picks the generator, as MAXIM picks its variants:
"table1" (the paper's, the default when the field is absent) or "unet"
(`cbl_jax/models/unet.py`). Every generator maps (B, H, W, 3) to
(B, T, H, W, 3) and answers `receptive_radius()` and `pixel_alignment()`,
which tiled prediction needs.
"""

import dataclasses
from typing import Any, Mapping

import flax.linen as nn

from cbl_jax.models.discriminator import Discriminator
from cbl_jax.models.generator import Generator
from cbl_jax.models.unet import UNet

GENERATORS: dict[str, type[nn.Module]] = {"table1": Generator, "unet": UNet}
DEFAULT_GENERATOR = "table1"


def generator_fields(name: str) -> set[str]:
  """The configurable fields of the generator called `name`."""
  return {f.name for f in dataclasses.fields(GENERATORS[name])} - {
      "parent", "name"}


def create_generator(generator_config: Mapping[str, Any],
                     source: str = "the config") -> nn.Module:
  """Builds the generator a config's `generator` section describes.

  Args:
    generator_config: a `name` ("table1" if absent) and that module's fields.
    source: named in the error messages.

  Returns:
    The module.

  Raises:
    ValueError: an unknown name or unknown fields (one line).
  """
  fields = dict(generator_config)
  name = fields.pop("name", DEFAULT_GENERATOR)
  if name not in GENERATORS:
    raise ValueError(
        f"generator.name={name!r} in {source} is not a generator; set it to"
        f" one of {', '.join(sorted(GENERATORS))}.")
  unknown = sorted(set(fields) - generator_fields(name))
  if unknown:
    raise ValueError(
        f"The generator config of {source} has fields the {name} generator"
        f" does not know: {', '.join(unknown)}.")
  if "features" in fields and isinstance(fields["features"], list):
    fields["features"] = tuple(fields["features"])
  return GENERATORS[name](**fields)


__all__ = ["DEFAULT_GENERATOR", "Discriminator", "GENERATORS", "Generator",
           "UNet", "create_generator", "generator_fields"]
