r"""A local web app: drop in a blurry photo or video, watch the sharp frames.

  python -m cbl_jax.demo                          # http://127.0.0.1:7860
  python -m cbl_jax.demo --workdir=workdirs/gopro --port=8080
  python -m cbl_jax.demo --host=0.0.0.0           # reachable on your network
  python -m cbl_jax.demo --share                  # and a public gradio.live link

Needs the `demo` extra (`pip install 'cbl_jax[demo]'`, Gradio). The page
shows the input, the 7 frames as a looping video with a speed slider, a
gallery and a frame slider, the reblur consistency with its error map, and
downloads (frame PNGs as a zip, GIF, MP4, strip); videos become slow motion
(`cbl_jax.inference.video`). Nothing leaves the machine unless --share is
given: Gradio's analytics are off and the page loads nothing from the
internet.

Modules: `runner` (checks uploads, runs the generator, writes results; no
Gradio), `app` (the page), `__main__` (flags and launch).
"""

import pathlib

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parent / "examples"


def example_photos() -> list[pathlib.Path]:
  """The real blurry photos shipped for the page's examples."""
  return sorted(EXAMPLES_DIR.glob("*.png"))
