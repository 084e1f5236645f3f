"""Where the train state and the batches live on the device mesh.

One 1-D mesh, axis `data`, spans every device of every host. Batches are
split along it. The state is placed leaf by leaf:

* The discriminator's large leaves (its kernels and their Adam moments) are
  sharded over the mesh, FSDP-style: each is split along its largest axis
  that the device count divides, so each device holds 1/n of it and XLA
  gathers a kernel for the layer that uses it and reduce-scatters its
  gradient. The paper's flattened head alone has 537M parameters at 128x128
  crops (6.4 GB with Adam's moments): replicated, it would fill a 16 GB
  accelerator; sharded over 8 devices, 0.8 GB each.
* Everything else is replicated: the generator (1.7M parameters at the
  paper's size; gathering it for every layer would cost more than it saves),
  batch-norm statistics, counters.

The same rule runs on one device (every split is then trivial), and the
shardings are part of the restore target, so a checkpoint written on one
device count restores onto another.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = "data"
# Leaves smaller than this many elements are replicated (1 MiB of float32).
DEFAULT_MIN_SHARDED_ELEMENTS = 2**18
# The state's fields that are sharded (see the module docstring).
_SHARDED_FIELDS = ("d_params", "d_opt_state")


def make_mesh() -> Mesh:
  """The 1-D mesh over every device of every process, in process order.

  Its axis is of the Auto type: XLA propagates the shardings through the
  steps and inserts the all-gathers and reduce-scatters of the sharded
  discriminator itself, so the model code holds no sharding annotations.
  """
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))


def fsdp_spec(shape: tuple[int, ...], num_devices: int,
              min_elements: int) -> P:
  """The PartitionSpec of one large leaf: its largest divisible axis split.

  Args:
    shape: the leaf's shape.
    num_devices: size of the mesh axis.
    min_elements: leaves with fewer elements stay replicated.

  Returns:
    `P()` (replicated), or a spec naming `data` on one axis.
  """
  if int(np.prod(shape, dtype=np.int64)) < min_elements:
    return P()
  candidates = [axis for axis, size in enumerate(shape)
                if size % num_devices == 0]
  if not candidates:
    return P()
  axis = max(candidates, key=lambda a: (shape[a], -a))
  spec = [None] * len(shape)
  spec[axis] = DATA_AXIS
  return P(*spec)


def state_shardings(abstract_state: Any, mesh: Mesh,
                    min_elements: int = DEFAULT_MIN_SHARDED_ELEMENTS) -> Any:
  """NamedShardings for every leaf of a train state (see module docstring).

  Args:
    abstract_state: a `TrainState` of arrays or ShapeDtypeStructs.
    mesh: the mesh from `make_mesh`.
    min_elements: smallest leaf that is sharded.

  Returns:
    A TrainState of NamedShardings.
  """
  num_devices = mesh.shape[DATA_AXIS]
  replicated = NamedSharding(mesh, P())
  shardings = jax.tree_util.tree_map(lambda _: replicated, abstract_state)
  updates = {}
  for field in _SHARDED_FIELDS:
    subtree = getattr(abstract_state, field)
    if subtree is None:
      continue
    updates[field] = jax.tree_util.tree_map(
        lambda x: NamedSharding(mesh, fsdp_spec(x.shape, num_devices,
                                                min_elements)), subtree)
  return shardings.replace(**updates)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Batches: the leading axis split over the mesh."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def per_device_bytes(abstract_state: Any, shardings: Any) -> int:
  """Bytes of the state that each device holds under `shardings`.

  Args:
    abstract_state: arrays or ShapeDtypeStructs.
    shardings: their NamedShardings.

  Returns:
    The largest per-device total (devices hold equal shares here).
  """
  total = 0
  for leaf, sharding in zip(jax.tree_util.tree_leaves(abstract_state),
                            jax.tree_util.tree_leaves(shardings)):
    shard = sharding.shard_shape(leaf.shape)
    total += int(np.prod(shard, dtype=np.int64)) * np.dtype(leaf.dtype).itemsize
  return total
