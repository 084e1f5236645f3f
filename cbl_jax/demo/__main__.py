"""`python -m cbl_jax.demo`: flags, then the page (see `cbl_jax.demo`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

# Before Gradio is imported: no usage statistics, version checks or model
# hub calls; the demo works offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging

from cbl_jax import demo
from cbl_jax import xla_cpu
from cbl_jax.demo import runner as runner_lib
from cbl_jax.inference import cli_flags
from cbl_jax.inference import errors

for _name in ("workdir", "which", "checkpoint", "tile_size", "tile_overlap",
              "tile_batch_size"):
  flags.declare_key_flag(_name)
_LIMITS = runner_lib.Limits()
HOST = flags.DEFINE_string(
    "host", "127.0.0.1",
    "Address to serve on: 127.0.0.1 (this machine only), or 0.0.0.0 to let "
    "other machines on your network connect.")
PORT = flags.DEFINE_integer("port", 7860, "Port to serve on.",
                            lower_bound=1, upper_bound=65535)
SHARE = flags.DEFINE_bool(
    "share", False,
    "Also make a temporary public link through Gradio's share servers "
    "(needs internet access; anyone with the link can use the demo).")
MAX_MEGAPIXELS = flags.DEFINE_float(
    "max_megapixels", _LIMITS.max_megapixels,
    "Largest photo the page takes, in millions of pixels.", lower_bound=0.001)
MAX_VIDEO_FRAMES = flags.DEFINE_integer(
    "max_video_frames", _LIMITS.max_video_frames,
    "Longest video the page takes, in frames.", lower_bound=1)
MAX_VIDEO_MEGAPIXELS = flags.DEFINE_float(
    "max_video_megapixels", _LIMITS.max_video_megapixels,
    "Largest video frame the page takes, in millions of pixels.",
    lower_bound=0.001)
MAX_UPLOAD_MB = flags.DEFINE_integer(
    "max_upload_mb", _LIMITS.max_upload_mb,
    "Largest file the server accepts, in MB.", lower_bound=1)


def limits() -> runner_lib.Limits:
  """The limits the flags set."""
  return runner_lib.Limits(max_megapixels=MAX_MEGAPIXELS.value,
                           max_video_frames=MAX_VIDEO_FRAMES.value,
                           max_video_megapixels=MAX_VIDEO_MEGAPIXELS.value,
                           max_upload_mb=MAX_UPLOAD_MB.value)


def launch_kwargs(runner: runner_lib.DemoRunner) -> dict[str, Any]:
  """Arguments of `gradio.Blocks.launch` from the flags."""
  return dict(
      server_name=HOST.value, server_port=PORT.value, share=SHARE.value,
      max_file_size=f"{runner.limits.max_upload_mb}mb",
      # Results and the shipped examples are the only files served.
      allowed_paths=[str(runner.root), str(demo.EXAMPLES_DIR)],
      # Server-side rendering would start a Node.js server; the page needs
      # none, nor the footer's links to the API docs and run history.
      ssr_mode=False, footer_links=[], run_history=False,
      show_error=True, inbrowser=False)


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  xla_cpu.use_tuned_flags()  # Before JAX starts its backends.
  try:
    from cbl_jax.demo import app as app_lib  # Gradio: the `demo` extra.
  except ImportError as e:
    print(f"demo: needs Gradio ({e.name} is missing): pip install"
          " 'cbl_jax[demo]'", file=sys.stderr)
    return 1
  try:
    tiles = cli_flags.tile_options()
    model = cli_flags.load_model()
  except (ValueError, FileNotFoundError) as e:
    print(f"demo: {errors.one_line(e)}", file=sys.stderr)
    return 1
  logging.info("Generator: %s", model.source)
  runner = runner_lib.DemoRunner(model, tiles, limits())
  page = app_lib.build_app(runner, demo.example_photos())
  # One request at a time: they share the generator and the CPU.
  page.queue(default_concurrency_limit=1)
  try:
    page.launch(**launch_kwargs(runner))
  except OSError as e:
    print(f"demo: cannot serve on {HOST.value}:{PORT.value} ({e}); give"
          " another --port or --host.", file=sys.stderr)
    return 1
  return 0


def run():
  """Console-script entry point."""
  app.run(main)


if __name__ == "__main__":
  run()
