"""The losses package stands alone: users import it without the rest."""

import ast
import pathlib

import cbl_jax.losses as losses

PACKAGE = pathlib.Path(losses.__file__).parent


def test_imports_nothing_else_from_cbl_jax():
  for path in PACKAGE.glob("*.py"):
    for node in ast.walk(ast.parse(path.read_text())):
      names = []
      if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module:
        names = [node.module]
      for name in names:
        if name.split(".")[0] == "cbl_jax":
          assert name.startswith("cbl_jax.losses"), (path.name, name)


def test_public_names():
  for name in losses.__all__:
    assert callable(getattr(losses, name)) or isinstance(
        getattr(losses, name), tuple), name
  for name in ("contextual_loss", "contiguous_loss", "frames_contiguous_loss",
               "content_loss", "generator_adversarial_loss",
               "discriminator_loss", "total_generator_loss",
               "load_vgg19_params"):
    assert name in losses.__all__
