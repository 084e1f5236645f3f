"""scripts/device_wheels.py: what a lent GPU machine needs (no network)."""

import importlib.util
import pathlib
import re
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
  spec = importlib.util.spec_from_file_location(
      "device_wheels", ROOT / "scripts" / "device_wheels.py")
  module = importlib.util.module_from_spec(spec)
  # Its dataclasses look their module up while the module runs.
  sys.modules[spec.name] = module
  spec.loader.exec_module(module)
  yield module
  del sys.modules[spec.name]


# A small index: name -> Requires-Dist, as METADATA spells them.
INDEX = {
    "tensorflow-datasets": [
        "absl-py", 'array_record>=0.5.0; platform_system == "Linux"',
        "dm-tree", 'etils[epath,epy]>=1.9.1; python_version >= "3.11"',
        'etils[edc]>=1.6.0; python_version < "3.11"', "promise",
        'importlib_resources; python_version < "3.9"',
        'tensorflow>=2.1; extra == "tensorflow"', 'pytest; extra == "dev"'],
    "array-record": ["absl-py", "etils[epath]",
                     'tensorflow>=2.20.0; extra == "beam"'],
    "dm-tree": ["absl-py>=0.6.1", "attrs>=18.2.0", "wrapt>=1.11.2"],
    "promise": ['typing>=3.6.4; python_version < "3.5"', "six"],
    "etils": ['fsspec ; extra == "epath"', 'importlib_resources ; extra == '
              '"epath"', 'etils[epy] ; extra == "epath"',
              'typing_extensions ; extra == "epy"',
              'tensorflow ; extra == "etree-tf"'],
    "importlib-resources": ['zipp>=3.1.0; python_version < "3.10"'],
    "clu": ["absl-py", "jax", "jaxlib", "tensorflow ; extra == 'test'"],
    "imgviz": ["cmap>=0.1.0", "numpy"],
    "six": [],
}
IMAGE = {"absl-py", "attrs", "wrapt", "etils", "fsspec", "typing-extensions",
         "numpy", "jax", "jaxlib", "six"}


def _requires_of(name):
  return INDEX.get(name)


def test_names_are_canonical(script):
  assert script.canonical("Array_Record") == "array-record"
  assert script.canonical("PyWavelets") == "pywavelets"


def test_never_carried(script):
  for name in ("tensorflow", "TensorFlow-CPU", "jax", "jaxlib",
               "jax-cuda13-plugin", "jax_cuda12_pjrt"):
    assert script.never_reason(name), name
  for name in ("tensorflow-datasets", "tensorflow-metadata", "jaxtyping"):
    assert script.never_reason(name) is None, name


def test_requirements_for_the_target_and_extras(script):
  reqs = INDEX["tensorflow-datasets"]
  base = [r.name for r in script.needed_requirements(reqs, [""])]
  # Python 3.12 on Linux: the >= 3.11 etils line, array_record, no extras.
  assert base == ["absl-py", "array_record", "dm-tree", "etils", "promise"]
  etils = script.needed_requirements(reqs, [""])[3]
  assert etils.extras == {"epath", "epy"}
  # An extra gives only what it adds.
  assert [r.name for r in script.needed_requirements(
      reqs, ["tensorflow"])] == ["tensorflow"]
  assert [r.name for r in script.needed_requirements(
      INDEX["etils"], ["epath"])] == ["fsspec", "importlib_resources",
                                      "etils"]
  # Another platform's marker.
  linux_only = ['array_record; platform_system == "Linux"']
  assert not script.needed_requirements(
      linux_only, [""], {**script.TARGET_ENV, "platform_system": "Darwin"})


def test_resolve_walks_requirements_and_extras_of_image_packages(script):
  roots = [script.Root("tensorflow-datasets", "imported by cbl_jax")]
  result = script.resolve(roots, image=IMAGE, requires_of=_requires_of)
  assert set(result.carry) == {"tensorflow-datasets", "array-record",
                               "dm-tree", "promise", "importlib-resources"}
  # etils is in the image, but etils[epath] adds importlib_resources.
  assert result.carry["importlib-resources"] == "required by etils"
  assert result.carry["promise"] == "required by tensorflow-datasets"
  assert result.carry["tensorflow-datasets"] == "imported by cbl_jax"
  assert result.skipped["etils"] == "in the image"
  # Extras nobody asks for are not walked: no tensorflow, no pytest.
  assert "tensorflow" not in result.skipped
  assert not result.unknown and not result.files_only


def test_resolve_never_carries_tensorflow_or_jax(script):
  roots = [script.Root("clu", "declared"), script.Root("tensorflow-cpu",
                                                       "declared")]
  result = script.resolve(roots, image=IMAGE, requires_of=_requires_of)
  assert set(result.carry) == {"clu"}
  assert "TensorFlow" in result.skipped["tensorflow-cpu"]
  assert "JAX" in result.skipped["jax"]


def test_files_only_roots_keep_their_requirements_behind(script):
  files = script.Root("imgviz", "files read by cbl_jax.data", expand=False)
  result = script.resolve([files], image=IMAGE, requires_of=_requires_of)
  assert set(result.carry) == {"imgviz"}
  assert result.files_only == {"imgviz"}
  # Something that imports it needs the whole wheel and its requirements.
  result = script.resolve([files, script.Root("imgviz", "imported")],
                          image=IMAGE, requires_of=_requires_of)
  assert set(result.carry) == {"imgviz", "cmap"}
  assert not result.files_only
  assert result.unknown == {"cmap"}  # Not in the index: looked up later.


def test_unknown_metadata_is_reported_not_guessed(script):
  result = script.resolve([script.Root("not-indexed", "imported")],
                          image=IMAGE, requires_of=_requires_of)
  assert result.carry == {"not-indexed": "imported"}
  assert result.unknown == {"not-indexed"}


def test_traced_roots(script):
  trace = {"modules": [
      {"distribution": "grain", "module": "grain", "imported": True,
       "importer": "cbl_jax.data.pipeline"},
      {"distribution": "PyWavelets", "module": "pywt", "imported": False,
       "importer": "cbl_jax.data.synthetic_motion"},
      # Looked up by a library probing for it, never imported: not needed.
      {"distribution": "torch", "module": "torch", "imported": False,
       "importer": "etils.epy"},
  ]}
  roots = script.traced_roots(trace)
  assert [(r.name, r.expand) for r in roots] == [("grain", True),
                                                  ("PyWavelets", False)]
  assert roots[0].why == "imported by cbl_jax.data.pipeline (grain)"


def test_declared_roots(script, tmp_path):
  pyproject = tmp_path / "pyproject.toml"
  pyproject.write_text("""
[project]
name = "x"
dependencies = [
  "grain>=0.2",
  "mediapy>=1.2",
  "tensorflow-cpu>=2.17; sys_platform == 'linux'",
  "tensorflow>=2.17; sys_platform != 'linux'",
  "PyWavelets>=1.4",
]
[project.optional-dependencies]
heldout = ["mahotas>=1.4"]
demo = ["gradio"]
""")
  roots = script.declared_roots(pyproject, files_only=["pywavelets"])
  # mediapy is not needed; the target is Linux; demo is not asked for.
  assert [(r.name, r.expand) for r in roots] == [
      ("grain", True), ("tensorflow-cpu", True), ("PyWavelets", False),
      ("mahotas", True)]


def test_the_real_pyproject_resolves_without_tensorflow(script):
  roots = script.declared_roots(ROOT / "pyproject.toml")
  names = {script.canonical(r.name) for r in roots}
  assert {"tensorflow-datasets", "grain", "array-record",
          "ml-collections", "dm-pix", "importlib-resources",
          "scikit-video", "mahotas"} <= names
  # Nothing here needs TensorFlow (nor clu, whose writers import it).
  assert not {"tensorflow", "tensorflow-cpu", "clu"} & names
  assert "mediapy" not in names and "gradio" not in names
  image = script.read_image_packages(script.IMAGE_PACKAGES)
  result = script.resolve(roots, image=image, requires_of=_requires_of)
  assert not any(n.startswith(("tensorflow-cpu", "jax")) or n == "tensorflow"
                 for n in result.carry)


def test_image_package_list(script, tmp_path):
  listing = tmp_path / "image.txt"
  listing.write_text("# comment\nJAX==0.11.2\nflax\n\nopt_einsum  # note\n")
  assert script.read_image_packages(listing) == {
      "jax": "0.11.2", "flax": None, "opt-einsum": None}
  # The checked-in list: what the image has, what it lacks.
  image = script.read_image_packages(script.IMAGE_PACKAGES)
  assert {"jax", "flax", "optax", "orbax-checkpoint", "tensorstore",
          "etils", "scikit-image", "tensorboard"} <= set(image)
  assert not {"tensorflow", "tensorflow-datasets", "grain", "clu",
              "array-record", "ml-collections", "dm-pix", "av"} & set(image)
  assert image["jax"] == "0.11.2"


def test_image_conflicts(script):
  image = {"protobuf": "5.29.0", "numpy": "2.5.2", "absl-py": None}
  lines = script.image_conflicts(
      {"googleapis-common-protos": ["protobuf<8.0.0,>=6.33.5",
                                    'grpcio; extra == "grpc"'],
       "dm-tree": ["numpy>=1.26.0", "absl-py>=0.6.1"]}, image)
  assert lines == ["googleapis-common-protos wants protobuf<8.0.0,>=6.33.5,"
                   " the image has 5.29.0"]


def _wheel(folder, filename, metadata):
  path = folder / filename
  with zipfile.ZipFile(path, "w") as wheel:
    dist_info = "-".join(filename.split("-")[:2]) + ".dist-info"
    wheel.writestr(f"{dist_info}/METADATA", metadata)
    wheel.writestr("pkg/__init__.py", "")
  return path


def test_wheel_metadata_and_folder(script, tmp_path):
  path = _wheel(tmp_path, "dm_tree-0.1.10-cp312-cp312-manylinux_2_28_x86_64"
                ".whl", "Metadata-Version: 2.1\nName: dm-tree\nVersion: 0.1.10"
                "\nRequires-Dist: absl-py>=0.6.1\nRequires-Dist: numpy>=1.26;"
                ' python_version >= "3.12"\n\nRequires-Dist: in the body\n')
  assert script.wheel_metadata(path) == (
      "dm-tree", "0.1.10", ["absl-py>=0.6.1",
                            'numpy>=1.26; python_version >= "3.12"'])
  _wheel(tmp_path, "dm_tree-0.1.9-cp312-cp312-manylinux_2_28_x86_64.whl",
         "Name: dm-tree\nVersion: 0.1.9\n")
  (tmp_path / "notes.whl").write_text("not a wheel name")
  assert [p.name for p in script.wheels_in(tmp_path)["dm-tree"]] == [
      "dm_tree-0.1.10-cp312-cp312-manylinux_2_28_x86_64.whl",
      "dm_tree-0.1.9-cp312-cp312-manylinux_2_28_x86_64.whl"]
  assert list(script.wheels_in(tmp_path)) == ["dm-tree"]


def test_copy_files_lays_out_namespace_packages(script, tmp_path):
  source = tmp_path / "site" / "pywt" / "data" / "ascent.npz"
  source.parent.mkdir(parents=True)
  source.write_bytes(b"pixels")
  other = tmp_path / "site" / "skimage" / "data" / "astronaut.png"
  other.parent.mkdir(parents=True)
  other.write_bytes(b"image")
  folder = tmp_path / "files"
  (folder / "stale").mkdir(parents=True)
  read = [{"module": "pywt", "path": "data/ascent.npz", "file": str(source)},
          {"module": "pywt", "path": "data/ascent.npz", "file": str(source)},
          {"module": "skimage", "path": "data/astronaut.png",
           "file": str(other)}]
  copies = script.copy_files(read, {"pywt"}, folder)
  assert copies == [folder / "pywt" / "data" / "ascent.npz"]
  assert copies[0].read_bytes() == b"pixels"
  assert sorted(p.name for p in folder.iterdir()) == ["pywt"]


def test_main_lists_without_downloading(script, tmp_path, monkeypatch,
                                        capsys):
  trace = {"errors": [], "files_read": [], "blocked": [], "modules": [
      {"distribution": "grain", "module": "grain", "imported": True,
       "importer": "cbl_jax.data.pipeline"},
      {"distribution": "PyWavelets", "module": "pywt", "imported": False,
       "importer": "cbl_jax.data.synthetic_motion"}]}
  monkeypatch.setattr(script, "run_import_check", lambda **_: trace)
  downloads = []
  monkeypatch.setattr(script, "pip_download",
                      lambda *a: downloads.append(a))
  image = tmp_path / "image.txt"
  image.write_text("absl-py\njax\njaxlib\nnumpy\n")
  dest = tmp_path / "wheels"
  assert script.main([f"--dest={dest}", f"--image_packages={image}",
                      "--no_download"]) == 0
  printed = capsys.readouterr().out
  assert not downloads
  rows = {line.split("|")[1].strip(): line for line in printed.splitlines()
          if line.startswith("| ") and "---" not in line}
  assert "grain" in rows and "tensorflow-datasets" in rows
  assert "not the wheel" in rows["pywavelets"]
  assert "left behind: jax" in printed
  assert "left behind: mediapy" in printed
  assert not {"tensorflow", "tensorflow-cpu", "clu", "jax"} & set(rows)


def test_import_check_hides_tensorflow_and_notes_importers(script):
  recorder = script._Recorder(("tensorflow",), stub=False)
  assert recorder.find_spec("tensorflow.compat") is None
  assert recorder.blocked_by == {"tensorflow.compat": __name__}
  assert recorder.first_importer == {"tensorflow": __name__}
  # Absent, as where it is not installed: found by no path entry.
  hidden = script._PathFinderWithout
  assert hidden.find_spec("tensorflow") is None
  assert hidden.find_spec("tensorflow.python") is None
  assert hidden.find_spec("json") is not None
  # The stand-in, for a path that cannot run without it.
  spec = script._Recorder(("tensorflow",), stub=True).find_spec("tensorflow")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.__path__ == [] and module.summary.create_file_writer("x")


@pytest.mark.parametrize("args,message", [
    (["--image_packages={tmp}/none.txt"], "--image_packages=.* is not a file"),
    (["--dest={tmp}/a_file"], "--dest=.* is a file: give a folder"),
])
def test_bad_paths_get_one_line(script, tmp_path, capsys, args, message):
  (tmp_path / "a_file").write_text("")
  with pytest.raises(SystemExit) as info:
    script.main([a.format(tmp=tmp_path) for a in args] + ["--no_download"])
  assert info.value.code == 2
  error = capsys.readouterr().err.strip().splitlines()[-1]
  assert re.search(message, error), error
  assert not (tmp_path / "a_file").read_text()
