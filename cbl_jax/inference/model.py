"""Loading a trained generator: from a workdir, a checkpoint or a weights file.

Three sources give the same `LoadedGenerator`:

* a training workdir: `<workdir>/config.json` (written by
  `cbl_jax.training.loop.train_and_evaluate`) says how to build the
  generator, and the orbax checkpoints `<workdir>/best/<step>/default` or
  `<workdir>/checkpoints/<step>/default` hold the train state, of which only
  `g_params` is read (the discriminator and optimizer states are not loaded);
* one step folder of such a workdir (its `config.json` is found two levels
  up);
* a msgpack weights file with its JSON sidecar (`cbl_jax.weights`), such as
  the shipped default.

Every source is checked against the generator its config describes, so a
checkpoint of another model size fails with one line naming the first
parameter that does not fit, not with a shape error deep inside a
convolution.
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from cbl_jax import weights
from cbl_jax import models
from cbl_jax.models import Generator
from cbl_jax.models import generator as generator_lib

WHICH = ("best", "latest")


@dataclasses.dataclass(frozen=True)
class LoadedGenerator:
  """A generator module, its parameters and a jitted forward pass.

  Attributes:
    module: the `Generator`.
    params: its parameters, on the default device.
    source: where they came from, for messages and reports.
    metadata: the generator config and, where known, provenance.
    apply_fn: jitted `(params, images (B, H, W, 3), blend (B, H, W) or
      None) -> (B, T, H, W, 3)`, the frames times `blend` if given (tiled
      inference weights its tiles on the device); it compiles once per
      input shape, so callers keep shapes fixed.
  """

  module: nn.Module
  params: Any
  source: str
  metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  apply_fn: Callable[..., jax.Array] = dataclasses.field(
      init=False, repr=False, compare=False)

  def __post_init__(self):
    module = self.module

    def apply_fn(params, images, blend=None):
      frames = module.apply({"params": params}, images)
      if blend is not None:
        frames = frames * blend[:, None, :, :, None]
      return frames

    object.__setattr__(self, "apply_fn", jax.jit(apply_fn))

  @property
  def num_frames(self) -> int:
    return self.module.num_frames

  @property
  def receptive_radius(self) -> int:
    return receptive_radius(self.module)

  def __call__(self, images: np.ndarray | jax.Array,
               blend: np.ndarray | None = None) -> jax.Array:
    """Runs the generator on a batch.

    Args:
      images: (B, H, W, 3) RGB in [0, 1].
      blend: optional (B, H, W) factors for the frames.

    Returns:
      (B, T, H, W, 3) frames, not clipped, times `blend` if given. The
      result is computed asynchronously (JAX dispatch).
    """
    if blend is not None:
      blend = jnp.asarray(blend, jnp.float32)
    return self.apply_fn(self.params, jnp.asarray(images, jnp.float32),
                         blend)


def receptive_radius(module: nn.Module) -> int:
  """Pixels by which one output pixel's input window reaches out each way.

  Every layer of Table 1 is a 3x3 'SAME' convolution (reading note 2) and
  nothing resamples, so each adds one pixel: L1, L2, two per residual block
  and L29-L31, i.e. 31 for the paper's 13 blocks; a folding or multi-scale
  generator reaches further (its own `receptive_radius`). Outputs at least
  this far from a tile's cut edge equal those of the whole image; tiled
  inference relies on it.

  Args:
    module: the generator.

  Returns:
    The radius in input pixels.
  """
  return module.receptive_radius()


def generator_from_config(generator_config: Mapping[str, Any],
                          source: str = "the config") -> nn.Module:
  """Builds the generator a config's `generator` section describes.

  Args:
    generator_config: the generator's `name` ("table1" if absent) and field
      values.
    source: named in the error message.

  Returns:
    The module.

  Raises:
    ValueError: unknown name or fields, or invalid values (one line).
  """
  module = models.create_generator(generator_config, source)
  if module.color_mode not in ("rgb", "y"):
    raise ValueError(
        f"The generator config of {source} has color_mode="
        f"{module.color_mode!r}; expected 'rgb' or 'y'.")
  return module


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(tree, Mapping):
    out = {}
    for key, value in tree.items():
      out.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return out
  return {prefix: tree}


def check_params(module: nn.Module, params: Any, source: str) -> Any:
  """Checks that `params` fit `module`, parameter by parameter.

  Args:
    module: the generator the config describes.
    params: loaded parameters (nested dicts of arrays).
    source: named in the error message.

  Returns:
    `params` as float32 arrays on the default device.

  Raises:
    ValueError: a parameter is missing, extra or of another shape (one line
      naming the first).
  """
  expected = jax.eval_shape(
      lambda: module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3))))[
          "params"]
  want, got = _flatten(expected), _flatten(params)
  config = ", ".join(
      f"{k}={getattr(module, k)}"
      for k in ("num_frames", "color_mode", "stem_features", "features",
                "num_blocks", "head_features", "blocks_per_level",
                "bottleneck_blocks", "stem_fold") if hasattr(module, k))
  problem = None
  for name in sorted(set(want) | set(got)):
    if name not in got:
      problem = f"parameter {name} is missing"
    elif name not in want:
      problem = f"it has parameter {name}, which the config's generator lacks"
    elif tuple(np.shape(got[name])) != tuple(want[name].shape):
      problem = (f"{name} has shape {tuple(np.shape(got[name]))}, the config"
                 f" expects {tuple(want[name].shape)}")
    if problem:
      break
  if problem:
    raise ValueError(
        f"The weights of {source} do not fit the generator of its config"
        f" ({config}): {problem}.")
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32),
                                params)


def _steps(folder: pathlib.Path) -> list[int]:
  # Orbax writes into temporary folders and renames them to the bare step
  # number when complete, so only all-digit names are finished checkpoints.
  if not folder.is_dir():
    return []
  return sorted(int(p.name) for p in folder.iterdir()
                if p.name.isdigit() and (p / "default").is_dir())


def find_checkpoint(workdir: str | pathlib.Path,
                    which: str = "best") -> pathlib.Path:
  """The step folder of a workdir to load.

  Args:
    workdir: a training workdir.
    which: 'best' for the checkpoint with the best evaluation PSNR
      (`best/`), falling back to the latest when the run never evaluated;
      'latest' for the newest of `checkpoints/`.

  Returns:
    `<workdir>/best/<step>` or `<workdir>/checkpoints/<step>`.

  Raises:
    FileNotFoundError: the workdir or its checkpoints are missing.
    ValueError: unknown `which`.
  """
  if which not in WHICH:
    raise ValueError(f"which must be one of {WHICH}, got {which!r}.")
  workdir = pathlib.Path(workdir)
  if not workdir.is_dir():
    raise FileNotFoundError(f"Workdir {workdir} does not exist.")
  if which == "best":
    best = _steps(workdir / "best")
    if best:
      return workdir / "best" / str(best[-1])
    logging.info("%s has no best/ checkpoint; using the latest one.", workdir)
  latest = _steps(workdir / "checkpoints")
  if not latest:
    raise FileNotFoundError(
        f"Workdir {workdir} has no checkpoint in best/ or checkpoints/; train"
        f" first (python -m cbl_jax.main --workdir={workdir} ...).")
  return workdir / "checkpoints" / str(latest[-1])


def _find_config(step_dir: pathlib.Path) -> pathlib.Path:
  for parent in list(step_dir.parents)[:3]:
    if (parent / "config.json").is_file():
      return parent / "config.json"
  raise FileNotFoundError(
      f"No config.json found above checkpoint {step_dir}; expected"
      " <workdir>/config.json next to <workdir>/checkpoints/ (pass a step"
      " folder of a training workdir, or a .msgpack weights file).")


def _restore_g_params(item_dir: pathlib.Path) -> Any | None:
  """Reads only `g_params` of a StandardSave'd train state, as NumPy.

  Returns None when the checkpoint holds no `g_params`.
  """
  # Orbax reads no metadata from a relative path (and then reports no
  # g_params), so `--workdir=workdirs/default` is made absolute here.
  item_dir = item_dir.absolute()
  checkpointer = ocp.PyTreeCheckpointer()
  # Orbax warns about a missing step-level metadata file when it is handed
  # the item folder directly; that is expected here.
  absl_logger = std_logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(std_logging.ERROR)
  try:
    tree = checkpointer.metadata(item_dir)
    tree = getattr(tree, "item_metadata", tree)
    tree = getattr(tree, "tree", tree)
    if not isinstance(tree, Mapping) or "g_params" not in tree:
      return None
    g_tree = tree["g_params"]
    restore_args = jax.tree_util.tree_map(
        lambda _: ocp.RestoreArgs(restore_type=np.ndarray), g_tree)
    restored = checkpointer.restore(
        item_dir,
        args=ocp.args.PyTreeRestore(
            item={"g_params": g_tree},
            restore_args={"g_params": restore_args},
            partial_restore=True))
  finally:
    absl_logger.setLevel(level)
  return restored["g_params"]


def load_checkpoint(path: str | pathlib.Path) -> LoadedGenerator:
  """Loads the generator of one step folder of a training workdir.

  Args:
    path: `<workdir>/{best,checkpoints}/<step>` or its `default` subfolder.

  Returns:
    The generator with the checkpoint's `g_params`.

  Raises:
    FileNotFoundError: the folder or the workdir's config.json is missing.
    ValueError: the checkpoint cannot be read or does not fit the config.
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"Checkpoint {path} does not exist.")
  item_dir = path if path.name == "default" else path / "default"
  step_dir = item_dir.parent
  if not item_dir.is_dir():
    raise FileNotFoundError(
        f"{path} is not a checkpoint step folder (no default/ inside); pass"
        " <workdir>/best/<step>, <workdir>/checkpoints/<step> or a .msgpack"
        " weights file.")
  config_path = _find_config(step_dir)
  try:
    config = json.loads(config_path.read_text())
  except (OSError, ValueError) as e:
    raise ValueError(f"Cannot read {config_path}: {e}") from e
  if not isinstance(config.get("generator"), Mapping):
    raise ValueError(f"{config_path} has no generator section.")
  module = generator_from_config(config["generator"], str(config_path))
  try:
    params = _restore_g_params(item_dir)
  except Exception as e:  # pylint: disable=broad-except
    # Orbax raises many types (tensorstore, msgpack, OS) for damaged data.
    first = str(e).splitlines()[0] if str(e) else ""
    raise ValueError(
        f"Cannot read checkpoint {step_dir}: {type(e).__name__}: {first}"
    ) from e
  if params is None:
    raise ValueError(
        f"Checkpoint {step_dir} holds no g_params (is it a cbl_jax train"
        " state?).")
  params = check_params(module, params, str(step_dir))
  metadata = {
      "generator": dict(config["generator"]),
      "provenance": _provenance(step_dir, config_path, config),
  }
  return LoadedGenerator(module, params, str(step_dir), metadata)


def _provenance(step_dir: pathlib.Path, config_path: pathlib.Path,
                config: Mapping[str, Any]) -> dict[str, Any]:
  data = config.get("data") or {}
  provenance = {
      "workdir": str(config_path.parent.resolve()),
      "checkpoint": str(step_dir.resolve()),
      "kind": step_dir.parent.name,  # 'best' or 'checkpoints'.
      "step": int(step_dir.name) if step_dir.name.isdigit() else None,
      "data": {k: data.get(k) for k in ("name", "builder_config")},
  }
  metrics = step_dir / "metrics" / "metrics"
  if metrics.is_file():
    # The best/ manager stores the evaluation metrics that ranked the step.
    try:
      provenance["metrics"] = json.loads(metrics.read_text())
    except ValueError:
      pass
  return provenance


def load_workdir(workdir: str | pathlib.Path,
                 which: str = "best") -> LoadedGenerator:
  """Loads a training workdir's best or latest generator.

  Args:
    workdir: the folder given to training as `--workdir`.
    which: 'best' or 'latest'; see `find_checkpoint`.

  Returns:
    The loaded generator.
  """
  return load_checkpoint(find_checkpoint(workdir, which))


def load_weights_file(path: str | pathlib.Path) -> LoadedGenerator:
  """Loads a msgpack weights file with its JSON sidecar.

  Args:
    path: the `.msgpack` file (see `cbl_jax.weights`).

  Returns:
    The loaded generator.
  """
  params, metadata = weights.read_weights(path)
  module = generator_from_config(metadata["generator"], str(path))
  params = check_params(module, params, str(path))
  return LoadedGenerator(module, params, str(path), metadata)


def load_generator(workdir: str | None = None,
                   checkpoint: str | None = None,
                   which: str = "best") -> LoadedGenerator:
  """Loads a generator from whichever source is given.

  Args:
    workdir: a training workdir (see `load_workdir`).
    checkpoint: a step folder or a `.msgpack` weights file.
    which: with `workdir`, 'best' or 'latest'.

  Returns:
    The loaded generator; the shipped weights when neither source is given.

  Raises:
    ValueError: both sources given, or a source that does not load.
    FileNotFoundError: a missing source (or missing shipped weights).
  """
  if workdir and checkpoint:
    raise ValueError("Give --workdir or --checkpoint, not both.")
  if workdir:
    return load_workdir(workdir, which)
  if checkpoint:
    path = pathlib.Path(checkpoint)
    if path.suffix == ".msgpack" or path.is_file():
      return load_weights_file(path)
    return load_checkpoint(path)
  params, metadata = weights.load_default()
  module = generator_from_config(metadata["generator"],
                                 str(weights.DEFAULT_WEIGHTS))
  params = check_params(module, params, str(weights.DEFAULT_WEIGHTS))
  return LoadedGenerator(module, params, str(weights.DEFAULT_WEIGHTS),
                         metadata)


def random_params(module: nn.Module, seed: int = 0) -> Any:
  """Parameters drawn as the generator's initialisers draw them, on the host.

  Kernels are N(0, init_stddev) and biases zero, as `Generator.init` makes
  them, but drawn with NumPy: compiling `init` takes seconds on a CPU,
  which tests and benchmarks need not pay. With `init_stddev=None` (He
  initialisation, as in configs/default.py) kernels are normal with
  variance 2 / fan_in, truncated at two standard deviations like Flax's
  `variance_scaling(2.0, "fan_in", "truncated_normal")`, and the last layer
  is zero, as `Generator.init` makes it then.

  Args:
    module: the generator.
    seed: NumPy seed.

  Returns:
    Nested dicts of float32 NumPy arrays, the structure of `init`'s params.
  """
  shapes = jax.eval_shape(
      lambda: module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3))))[
          "params"]
  rng = np.random.default_rng(seed)
  if not isinstance(module, models.Generator):
    # Layers that start at zero (the U-Net's block outputs and head) get
    # small He draws instead, so that a random U-Net is not the identity.
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    leaves = [
        _he_truncated_normal(rng, leaf.shape) *
        (0.1 if getattr(path[-2], "key", "") in ("conv2", "head") else 1.0)
        if getattr(path[-1], "key", None) == "kernel"
        else np.zeros(leaf.shape, np.float32) for path, leaf in flat]
    return jax.tree_util.tree_unflatten(treedef, leaves)
  last_layer = f"L{generator_lib.layer_count(module.num_blocks)}"
  flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  leaves = []
  for path, leaf in flat:
    keys = [getattr(k, "key", None) for k in path]
    if keys[-1] != "kernel" or (module.init_stddev is None and
                                keys[0] == last_layer):
      leaves.append(np.zeros(leaf.shape, np.float32))
    elif module.init_stddev is not None:
      leaves.append((rng.standard_normal(leaf.shape) *
                     module.init_stddev).astype(np.float32))
    else:
      leaves.append(_he_truncated_normal(rng, leaf.shape))
  return jax.tree_util.tree_unflatten(treedef, leaves)


def _he_truncated_normal(rng: np.random.Generator,
                         shape: tuple[int, ...]) -> np.ndarray:
  # A (3, 3, in, out) kernel has fan-in 9 * in. Flax divides the standard
  # deviation by that of a unit normal truncated to [-2, 2], so that the
  # truncated draws keep the variance 2 / fan_in.
  fan_in = int(np.prod(shape[:-1]))
  draws = rng.standard_normal(shape)
  outside = np.abs(draws) > 2
  while outside.any():
    draws[outside] = rng.standard_normal(int(outside.sum()))
    outside = np.abs(draws) > 2
  stddev = np.sqrt(2.0 / fan_in) / 0.87962566103423978
  return (draws * stddev).astype(np.float32)


def random_generator(generator_config: Mapping[str, Any],
                     seed: int = 0) -> LoadedGenerator:
  """A generator with freshly drawn weights (tests and benchmarks).

  Args:
    generator_config: `Generator` fields.
    seed: seed of `random_params`.

  Returns:
    The generator with random parameters.
  """
  module = generator_from_config(generator_config)
  params = check_params(module, random_params(module, seed), "random")
  return LoadedGenerator(module, params, f"random (seed {seed})",
                         {"generator": dict(generator_config)})
