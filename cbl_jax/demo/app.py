"""The demo's web page: Gradio components around a `DemoRunner`.

Layout: the upload, the interpolation levels and the examples on the left;
on the right the input, the frames as a looping video with a speed slider,
a gallery of the frames, a frame slider with the chosen frame, the reblur
consistency with its error map, and the downloads. A problem with an upload
is a message in the page (`#status`); the server keeps serving.

Stable element ids (`elem_id`) name every part the browser test reads.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence

import gradio as gr

from cbl_jax.demo import runner as runner_lib

_log = logging.getLogger(__name__)

ATTRIBUTION = (
    "Examples: crops of real blurry photos from the GoPro dataset (Nah, Kim"
    " and Lee, CVPR 2017, via the DeepDeblur_release repository), from the"
    " examples of Jin, Meishvili and Favaro (CVPR 2018), and an Adobe240/DVD"
    " frame from the BiT repository (MIT licence). Sources and crops:"
    " `cbl_jax/demo/examples/README.md`.")

HEADER = """# cbl_jax: one blurry photo in, seven sharp frames out

Upload a motion-blurred photo (or pick an example) and the generator turns
it into the 7 sharp frames the exposure saw, in one order or the other (a
blurry photo does not say which way time ran). A video becomes slow motion
at 7 times its frame rate. Model: `{source}`. {limits} Photos larger than
{tile} pixels run in tiles.
"""

SCORE_HELP = (
    "*Reblur consistency* averages the frames back into one blurry image"
    " (Eq. 2 of the paper) and compares it with your photo, so it needs no"
    " ground truth. High PSNR means the frames add up to the photo; it does"
    " not prove that they are sharp (`motion` shows whether they differ at"
    " all). The error map shows where they do not add up.")


def _outputs_for(result: runner_lib.Result | None, status: str):
  """The values of every output component, in `OUTPUTS` order."""
  if result is None:
    return (status, None, None, gr.update(value=[], visible=True),
            gr.update(value=0, maximum=6, visible=True), None, "", None,
            None, None, gr.update(visible=True))
  last = len(result.frames) - 1
  gallery = [(str(p), f"frame {k}") for k, p in enumerate(result.frames)]
  return (status, str(result.input_preview), str(result.animation),
          gr.update(value=gallery, visible=True),
          gr.update(value=0, maximum=max(last, 1), visible=last > 0),
          str(result.frames[0]),
          result.summary + "\n\n" + SCORE_HELP, str(result.error_map),
          [str(p) for p in result.downloads], result,
          gr.update(visible=result.kind == "photo"))


def build_app(runner: runner_lib.DemoRunner,
              examples: Sequence[pathlib.Path] = ()) -> gr.Blocks:
  """Builds the page.

  Args:
    runner: does the work.
    examples: example photos offered under the upload.

  Returns:
    The Gradio app; `launch` it.
  """
  header = HEADER.format(source=pathlib.Path(runner.model.source).name,
                         limits=runner.limits.describe(),
                         tile=runner.tiles.tile_size or "any")
  with gr.Blocks(title="cbl_jax demo", delete_cache=(3600, 3600)) as app:
    gr.Markdown(header)
    result_state = gr.State(None)
    with gr.Row():
      with gr.Column(scale=1, min_width=280):
        upload = gr.File(label="Blurry photo or video", file_count="single",
                         type="filepath", elem_id="upload")
        levels = gr.Radio(
            [1, 2, 3], value=1, label="Recursive interpolation levels",
            info="1: the 7 frames; 2: 42 frames; 3: 287 (Section 4.6.2)."
            " Press Deblur after changing it.", elem_id="levels")
        run_button = gr.Button("Deblur", variant="primary", elem_id="run")
        status = gr.Markdown(elem_id="status")
        if examples:
          gr.Examples(examples=[[str(p)] for p in examples], inputs=[upload],
                      label="Real blurry photos",
                      example_labels=[p.stem for p in examples])
          gr.Markdown(ATTRIBUTION, elem_id="attribution")
      with gr.Column(scale=3):
        with gr.Row():
          input_view = gr.Image(label="Input", type="filepath",
                                interactive=False, elem_id="input-view")
          animation = gr.Video(label="The frames, looping", autoplay=True,
                               loop=True, interactive=False,
                               elem_id="animation")
        speed = gr.Slider(1, 30, value=7, step=1,
                          label="Speed (frames per second)",
                          elem_id="speed")
        gallery = gr.Gallery(label="Frames", columns=7, rows=1, height=170,
                             object_fit="contain", allow_preview=True,
                             elem_id="frames")
        with gr.Row():
          with gr.Column():
            frame_slider = gr.Slider(0, 6, value=0, step=1, label="Frame",
                                     elem_id="frame-slider")
            frame_view = gr.Image(label="Frame", type="filepath",
                                  interactive=False, elem_id="frame-view")
          with gr.Column():
            error_map = gr.Image(label="Reblur error map", type="filepath",
                                 interactive=False, elem_id="error-map")
            score = gr.Markdown(elem_id="score")
        downloads = gr.File(label="Downloads", file_count="multiple",
                            interactive=False, elem_id="downloads")
    outputs = [status, input_view, animation, gallery, frame_slider,
               frame_view, score, error_map, downloads, result_state, speed]

    def process(path, level, fps, progress=gr.Progress()):
      if not path:
        return _outputs_for(None, "")
      name = pathlib.Path(path).name
      report = lambda fraction, text: progress(fraction, desc=text)
      try:
        result = runner.run(path, levels=int(level), fps=float(fps),
                            progress=report)
      except runner_lib.UploadError as e:
        return _outputs_for(None, f"**Cannot use this file.** {e}")
      except Exception as e:  # pylint: disable=broad-except
        # Whatever went wrong, the page says so and the server carries on.
        _log.exception("The demo failed on %s", path)
        return _outputs_for(
            None, f"**Something went wrong with {name}:**"
            f" {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
      return _outputs_for(result, f"Done: {name}.")

    def respeed(result, fps):
      if result is None or result.kind != "photo":
        return gr.update(), gr.update(), result
      result = runner.rerender(result, float(fps))
      return (str(result.animation), [str(p) for p in result.downloads],
              result)

    def show_frame(result, index):
      if result is None or not result.frames:
        return None
      index = min(max(int(index), 0), len(result.frames) - 1)
      return str(result.frames[index])

    run_inputs = [upload, levels, speed]
    # Progress (tiles, generator calls, video frames) shows over the
    # results, not over each of the eleven outputs.
    progress_on = [animation, gallery]
    upload.change(process, run_inputs, outputs, show_progress_on=progress_on)
    run_button.click(process, run_inputs, outputs,
                     show_progress_on=progress_on)
    speed.release(respeed, [result_state, speed],
                  [animation, downloads, result_state])
    frame_slider.change(show_frame, [result_state, frame_slider],
                        [frame_view])
  return app
