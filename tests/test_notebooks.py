"""The Colab notebooks: they run as shipped, and are committed clean.

Each notebook runs on the CPU in a fresh kernel of this interpreter, from
colab/ (where Jupyter runs it in a checkout). As papermill does, a cell
injected after the one tagged "parameters" overrides its values with tiny
settings and temporary folders; a last injected cell prints, as JSON, the
values that the assertions check.
"""

import json
import os
import pathlib
import re
import sys
import tomllib

from jupyter_client import kernelspec
from jupyter_client import manager
import nbclient
import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLAB = ROOT / "colab"
NOTEBOOKS = sorted(path.name for path in COLAB.glob("*.ipynb"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())[
    "project"]["urls"]["Repository"]
_KERNEL = "cbl_jax_tests"
_REPORT = "NOTEBOOK-TEST-REPORT "


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
  """A kernelspec that runs this interpreter, whatever else is installed."""
  folder = tmp_path_factory.mktemp("kernels")
  (folder / _KERNEL).mkdir()
  (folder / _KERNEL / "kernel.json").write_text(json.dumps({
      "argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
               "{connection_file}"],
      "display_name": "cbl_jax tests",
      "language": "python",
  }))
  return kernelspec.KernelSpecManager(kernel_dirs=[str(folder)])


def _execute(name, kernel_specs, parameters, report, env=None):
  """Runs a notebook with `parameters` injected.

  Args:
    name: the notebook's file name in colab/.
    kernel_specs: the `kernel_specs` fixture.
    parameters: name -> value, assigned after the "parameters" cell.
    report: a Python expression, evaluated in the kernel at the end, whose
      JSON-able value is returned.
    env: extra environment variables of the kernel.

  Returns:
    (the executed notebook, the report's value).
  """
  notebook = nbformat.read(COLAB / name, as_version=4)
  if parameters:
    index = next(i for i, cell in enumerate(notebook.cells)
                 if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{key} = {value!r}"
                       for key, value in parameters.items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
  notebook.cells.append(nbformat.v4.new_code_cell(
      f"import json as _json, sys as _sys\n"
      f"print({_REPORT!r} + _json.dumps({{'prefix': _sys.prefix,"
      f" 'report': {report}}}))"))
  kernel = manager.KernelManager(kernel_name=_KERNEL,
                                 kernel_spec_manager=kernel_specs)
  client = nbclient.NotebookClient(
      notebook, km=kernel, timeout=300,
      resources={"metadata": {"path": str(COLAB)}})
  client.execute(env={**os.environ, **(env or {})})
  printed = _text(notebook.cells[-1])
  result = json.loads(printed.split(_REPORT, 1)[1])
  # The kernel ran this test's virtualenv, not some other Python.
  assert result["prefix"] == sys.prefix
  return notebook, result["report"]


def _cell(notebook, cell_id):
  return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def _text(cell):
  """Everything a cell printed, stdout and stderr."""
  return "".join(output.get("text", "") for output in cell.outputs
                 if output.output_type == "stream")


def test_quickstart_predicts_seven_frames(kernel_specs, tmp_path):
  notebook, report = _execute(
      "quickstart.ipynb", kernel_specs,
      {"OUTPUT_DIR": str(tmp_path)},
      "{'image': image.shape, 'frames': frames.shape,"
      " 'range': [float(frames.min()), float(frames.max())],"
      " 'motion': float(frames.std(axis=0).mean()),"
      " 'weights': model.source}")
  assert "Not in Colab: skipping the install" in _text(
      _cell(notebook, "install"))
  assert report["image"] == [180, 320, 3]  # The photo shipped in colab/data.
  assert report["frames"] == [7, 180, 320, 3]
  assert 0.0 <= report["range"][0] < report["range"][1] <= 1.0
  # The frames are not copies of one image. How much they move is the
  # model's quality, which the held-out evaluation measures: the shipped
  # weights move this photo little.
  assert report["motion"] > 0
  assert report["weights"].endswith("default_generator.msgpack")
  # The figure shows the input and 7 frames; the animation shows something.
  figure = _cell(notebook, "show").outputs
  assert [o.output_type for o in figure] == ["display_data"]
  assert figure[0].data["text/html"].count("<img") == 8
  assert _cell(notebook, "animate").outputs
  written = sorted(p.name for p in (tmp_path / "gopro_flower_blur").iterdir())
  assert written == [f"frame_{i}.png" for i in range(7)] + [
      "sequence.gif", "sequence.mp4", "strip.png"]


def test_contiguous_loss_notebook(kernel_specs):
  _, report = _execute(
      "contiguous_loss.ipynb", kernel_specs, {},
      "{'table': table, 'history': history,"
      " 'offset': [float(v) for v in offset],"
      " 'offset_contextual': [float(v) for v in offset_contextual]}")
  table = report["table"]
  for loss in ("contextual", "contiguous"):
    assert abs(table["aligned"][loss]) < 1e-3, loss
    assert table["aligned"][loss] < table["shifted"][loss] < table[
        "unrelated"][loss], loss
  # The spatial term penalises the misaligned copy more.
  assert (table["shifted"]["contiguous"] - table["aligned"]["contiguous"] >
          2 * (table["shifted"]["contextual"] -
               table["aligned"]["contextual"]))
  # The optax loop: the loss falls and the window slides back into place;
  # without the spatial term it stays about where it began, (6, -4).
  history = report["history"]
  assert history[-1] < 0.5 * history[0]
  assert max(abs(v) for v in report["offset"]) < 1.5
  assert max(abs(v) for v in report["offset_contextual"]) > 3.0


def test_train_notebook_resumes_from_its_checkpoint(kernel_specs, tmp_path):
  workdir = tmp_path / "workdir"
  # Two CPU devices, so that the batch is really split over "all cores".
  notebook, report = _execute(
      "train_tpu.ipynb", kernel_specs,
      {"CONFIG": "test", "STAGE1_STEPS": 3, "STAGE2_STEPS": 2,
       "MORE_STAGE2_STEPS": 2, "WORKDIR": str(workdir),
       "DATA_DIR": str(tmp_path / "tfds")},
      "{'devices': jax.device_count(), 'resumed_from': resumed_from,"
      " 'steps': checkpoint_steps(WORKDIR), 'psnr': summary['psnr'],"
      " 'sample': str(samples[-1])}",
      env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  assert "No TPU found: falling back to CPU (2 device(s))" in _text(
      _cell(notebook, "devices"))
  assert f"tensorboard --logdir {workdir}" in _text(
      _cell(notebook, "tensorboard"))
  assert "Checkpoints before training: none" in _text(
      _cell(notebook, "train"))
  assert report["devices"] == 2
  # The first run ended at step 3 + 2 with a checkpoint; the second restored
  # it and trained only the 2 new steps.
  assert report["resumed_from"] == 5
  assert "Resuming at step 5 of 7" in _text(_cell(notebook, "train-more"))
  assert report["steps"][-1] == 7 and 5 in report["steps"]
  assert report["psnr"] > 0
  assert list(workdir.glob("events.out.tfevents.*"))
  assert (workdir / "best").is_dir()
  assert pathlib.Path(report["sample"]).parent == workdir / "samples"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean(name):
  """No outputs or execution counts: small diffs, nothing stale.

  The pictures a reader sees on GitHub come from markdown images of files in
  the repository (checked below), not from stored outputs.
  """
  notebook = nbformat.read(COLAB / name, as_version=4)
  nbformat.validate(notebook)
  for cell in notebook.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None, (
          f"{name}, cell {cell.id}: clear all outputs (Jupyter or Colab: Edit"
          " menu) before committing.")
  tags = [tag for cell in notebook.cells
          for tag in cell.metadata.get("tags", [])]
  assert tags.count("parameters") <= 1


def _repository_links(text):
  """The URLs in `text` that point into this project's GitHub repository."""
  name = REPOSITORY.rstrip("/").rsplit("/", 1)[1]
  return re.findall(
      rf"https://github\.com/[\w.-]+/{re.escape(name)}\b[^\s)\"']*", text)


def test_links_use_the_repository_url_of_pyproject():
  """Moving the repository is one change in pyproject.toml, then these."""
  assert REPOSITORY.startswith("https://github.com/")
  readme = (ROOT / "README.md").read_text()
  for name in NOTEBOOKS:
    notebook = nbformat.read(COLAB / name, as_version=4)
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert f'REPO_URL = "{REPOSITORY}"' in sources, name
    for text, where in ((sources, name), (readme, "README.md")):
      for link in _repository_links(text):
        assert link.startswith(REPOSITORY), (
            f"{where} links to {link}, but pyproject.toml's Repository is"
            f" {REPOSITORY}")
        # Links to files of the repository name files that exist.
        path = re.match(re.escape(REPOSITORY) + r"/blob/main/([^?#]+)", link)
        if path:
          assert (ROOT / path.group(1)).is_file(), link


def test_readme_has_a_colab_badge_per_notebook():
  readme = (ROOT / "README.md").read_text()
  badge = re.escape(
      "[![Open In Colab]"
      "(https://colab.research.google.com/assets/colab-badge.svg)]")
  targets = re.findall(badge + r"\((\S+?)\)", readme)
  project = REPOSITORY.removeprefix("https://github.com/").rstrip("/")
  expected = [f"https://colab.research.google.com/github/{project}/blob/main/"
              f"colab/{name}" for name in NOTEBOOKS]
  assert sorted(targets) == expected, (
      "README's Open In Colab badges must open colab/*.ipynb of the"
      f" repository in pyproject.toml ({REPOSITORY}).")
