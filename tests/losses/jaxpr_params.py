"""Reads a parameter of every use of a primitive in a function's jaxpr."""

import jax


def primitive_params(fn, args, primitive: str, param: str) -> list:
  """``param`` of each ``primitive`` equation in fn's jaxpr, nested ones too.

  Args:
    fn: the function, traced with `jax.make_jaxpr`.
    args: its positional arguments.
    primitive: e.g. "dot_general" or "conv_general_dilated".
    param: e.g. "precision".

  Returns:
    The values in the order the equations appear (depth first).
  """
  found = []

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == primitive:
        found.append(eqn.params[param])
      for value in eqn.params.values():
        for sub in value if isinstance(value, (list, tuple)) else [value]:
          if isinstance(sub, jax.extend.core.ClosedJaxpr):
            visit(sub.jaxpr)
          elif isinstance(sub, jax.extend.core.Jaxpr):
            visit(sub)

  visit(jax.make_jaxpr(fn)(*args).jaxpr)
  return found
