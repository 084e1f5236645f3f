"""The demo in a real headless browser: Chromium driven by Playwright.

The test starts `python -m cbl_jax.demo` (shipped weights, small tiles so
that a 640x352 photo runs tiled) and uploads files the way a person does.

* A real blurry photo from ../shared/data/real gives 7 frames in the
  gallery, a video the browser plays, the frame slider, the speed slider,
  the reblur score and error map, downloads, and progress while it runs.
  The page's screenshot goes to $CBL_JAX_DEMO_SCREENSHOT if set (that is
  how docs/demo_screenshot.jpg, shown in the README, was made) and to the
  test's temporary folder otherwise.
* Bad uploads (not an image, a damaged PNG, a photo over the size limit, a
  video over the frame limit) each get their message in the page, and the
  server keeps serving: a bundled example then runs. (Gradio itself
  refuses files over --max_upload_mb; tests/demo/test_main.py checks that
  the flag reaches it.)
* Three consecutive real blurry video frames as an MP4 become slow motion.
* Every request the page makes goes to the demo's own address.

The browser is the system's Chromium (Debian's `chromium` package; set
$CBL_JAX_CHROMIUM to use another): browser downloads are not possible
here. Without Chromium or Playwright the test skips with the reason,
except in CI ($CI set, as .ci/run does), where it fails.
"""

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
from PIL import Image
import pytest

from cbl_jax.inference import image_io
from tests.inference.helpers import REPO_ROOT
from tests.inference.helpers import real_path

REQUIRED = bool(os.environ.get("CI"))
# What headless Chromium needs here: no sandbox as root, no GPU, and none of
# its background connections to Google, which this machine refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 240_000  # Generous: CI machines are shared.


def _unavailable(reason: str):
  if REQUIRED:
    pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs"
                " Debian's chromium).")
  pytest.skip(reason)


def _chromium() -> str:
  for candidate in (os.environ.get("CBL_JAX_CHROMIUM"), "chromium",
                    "chromium-browser", "google-chrome"):
    if candidate and shutil.which(candidate):
      return shutil.which(candidate)
  _unavailable("No Chromium found (apt-get install chromium, or set"
               " $CBL_JAX_CHROMIUM)")


def _free_port() -> int:
  with contextlib.closing(socket.socket()) as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """The demo as a user starts it, on a free port; yields its URL."""
  pytest.importorskip("gradio", reason="the demo extra is not installed")
  folder = tmp_path_factory.mktemp("demo")
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3",
             GRADIO_TEMP_DIR=str(folder / "gradio"), TMPDIR=str(folder))
  log = open(folder / "server.log", "w")  # pylint: disable=consider-using-with
  process = subprocess.Popen(
      [sys.executable, "-m", "cbl_jax.demo", f"--port={port}",
       "--host=127.0.0.1", "--tile_size=256"],
      cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
  url = f"http://127.0.0.1:{port}/"
  deadline = time.monotonic() + TIMEOUT_MS / 1000
  try:
    while True:
      if process.poll() is not None:
        pytest.fail("The demo exited: " +
                    (folder / "server.log").read_text()[-2000:])
      try:
        urllib.request.urlopen(url, timeout=5).close()
        break
      except OSError:
        if time.monotonic() > deadline:
          pytest.fail("The demo did not start in time: " +
                      (folder / "server.log").read_text()[-2000:])
        time.sleep(0.5)
    yield url
  finally:
    # Ctrl-C, as a user stops it: the demo then removes its results.
    process.send_signal(signal.SIGINT)
    try:
      process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
  executable = _chromium()
  try:
    from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  except ImportError:
    _unavailable("Playwright is not installed (pip install -e '.[test]')")
  with sync_playwright() as playwright:
    chromium = playwright.chromium.launch(executable_path=executable,
                                          args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@contextlib.contextmanager
def open_page(browser, server):
  """A fresh tab on the demo that records where its requests go."""
  context = browser.new_context(viewport={"width": 1280, "height": 900})
  tab = context.new_page()
  tab.set_default_timeout(TIMEOUT_MS)
  hosts = set()
  tab.on("request", lambda request: hosts.add(request.url.split("/")[2]))
  tab.goto(server)
  yield tab
  context.close()
  assert hosts <= {server.split("/")[2]}, hosts


def test_demo_in_a_browser(browser, server, tmp_path):
  # One test, so that one server starts: pytest-xdist would spread several
  # tests over its workers, each starting its own.
  for check in (check_photo, check_bad_uploads_leave_the_server_serving,
                check_video):
    folder = tmp_path / check.__name__
    folder.mkdir()
    with open_page(browser, server) as page:
      check(page, server, folder)


def _upload(page, path):
  page.locator("#upload input[type=file]").set_input_files(str(path))


def _clear(page):
  page.locator("#upload button[aria-label='Clear']").click()


def _video_state(page):
  """The animation's <video>: decodable, playing, its size and length."""
  return page.evaluate("""async () => {
    const v = document.querySelector('#animation video');
    if (!v) return null;
    if (v.readyState < 2) {
      await new Promise(r => v.addEventListener('loadeddata', r,
                                                {once: true}));
    }
    const ready = v.readyState;
    let updates = 0;
    const count = () => { updates += 1; };
    v.addEventListener('timeupdate', count);
    v.muted = true;
    await v.play();
    // Playing video fires timeupdate every 15 to 250 ms.
    await new Promise(r => setTimeout(r, 800));
    v.removeEventListener('timeupdate', count);
    return {error: v.error && v.error.code, ready: ready,
            duration: v.duration, width: v.videoWidth,
            height: v.videoHeight, playing: !v.paused, updates: updates};
  }""")


def check_photo(page, server, tmp_path):
  del server
  photo = real_path("adobe240_blurry", "00785.png")  # 640x352: 6 tiles.
  _upload(page, photo)
  # Progress shows in the page while the tiles run.
  progress = page.locator("#frames .progress-level-inner", has_text="Tile")
  progress.first.wait_for(state="attached")
  page.wait_for_function(
      "() => document.querySelectorAll('#frames img').length === 7")
  page.locator("#status", has_text="Done: 00785.png").wait_for()
  state = _video_state(page)
  assert state["error"] is None and state["ready"] >= 2, state
  assert (state["width"], state["height"]) == (640, 352), state
  assert state["duration"] == pytest.approx(1.0, abs=0.05), state  # 7 @ 7.
  assert state["playing"] and state["updates"] > 0, state
  # The frame slider shows the chosen frame.
  assert page.get_attribute("#frame-view img", "src").endswith("frame_0.png")
  slider = page.locator("#frame-slider input[type=number]")
  slider.fill("6")
  slider.press("Enter")
  page.wait_for_function("() => document.querySelector('#frame-view img')"
                         ".src.endsWith('frame_6.png')")
  score = page.inner_text("#score")
  assert "Reblur consistency" in score and "PSNR" in score
  assert page.locator("#error-map img").count() == 1
  downloads = page.inner_text("#downloads").replace("\n", "")
  for name in ("frames.zip", "sequence.gif", "sequence.mp4", "strip.png"):
    assert name in downloads, downloads
  # The speed slider re-encodes the animation at the chosen rate.
  track = page.locator("#speed input[type=range]").bounding_box()
  page.mouse.click(track["x"] + 0.8 * track["width"],
                   track["y"] + track["height"] / 2)
  fps = page.input_value("#speed input[type=number]")
  assert fps != "7"
  page.locator("#downloads", has_text=f"sequence_{fps}fps").wait_for()
  page.wait_for_function(
      "fps => document.querySelector('#animation video')"
      ".src.endsWith(`sequence_${fps}fps.mp4`)", arg=fps)
  state = _video_state(page)
  assert state["duration"] == pytest.approx(7 / int(fps), abs=0.05), state
  assert "GoPro dataset (Nah, Kim and Lee" in page.inner_text("#attribution")
  page.evaluate("() => window.scrollTo(0, 0)")
  shot = pathlib.Path(os.environ.get("CBL_JAX_DEMO_SCREENSHOT") or
                      tmp_path / "demo_screenshot.jpg")
  jpeg = shot.suffix.lower() in (".jpg", ".jpeg")
  page.screenshot(path=str(shot), full_page=True, quality=85 if jpeg else None)
  with Image.open(shot) as image:
    assert image.width == 1280 and image.height > 900


def check_bad_uploads_leave_the_server_serving(page, server, tmp_path):
  notes = tmp_path / "notes.txt"
  notes.write_text("not a photo")
  real = real_path("adobe240_blurry", "00777.png")
  cut = tmp_path / "cut.png"
  cut.write_bytes(real.read_bytes()[:5000])
  # Over the default limits (24 megapixels, 240 frames), yet small files.
  huge = tmp_path / "huge.png"
  Image.new("RGB", (6000, 4001), (90, 120, 150)).save(huge)
  long_clip = tmp_path / "long.mp4"
  with image_io.Mp4Writer(long_clip, fps=30) as writer:
    for t in range(241):
      writer.write(np.full((16, 16, 3), t, np.uint8))
  cases = [
      (notes, "notes.txt is not an image or a video"),
      (cut, "cut.png cannot be read: it may be damaged or cut short"),
      (huge, "huge.png is 6000x4001 (24.0 megapixels); this demo takes"
       " photos up to 24 megapixels"),
      (long_clip, "long.mp4 has 241 frames; this demo takes videos up to"
       " 240 frames"),
  ]
  for path, message in cases:
    _upload(page, path)
    page.locator("#status", has_text=message).wait_for()
    assert page.locator("#frames img").count() == 0
    _clear(page)
    page.locator("#status", has_text=message).wait_for(state="detached")
    with urllib.request.urlopen(server, timeout=10) as response:
      assert response.status == 200
  # Still serving: a bundled example (a real blurry photo) works on the
  # same page.
  page.get_by_text("gopro_flower_crop", exact=True).click()
  page.locator("#status", has_text="Done: gopro_flower_crop.png").wait_for()
  assert page.locator("#frames img").count() == 7


def check_video(page, server, tmp_path):
  del server
  # Three consecutive real blurry frames of one Adobe240 video.
  frames = [np.asarray(Image.open(real_path("adobe240_blurry", name))
                       .convert("RGB"))
            for name in ("00777.png", "00785.png", "00793.png")]
  clip = tmp_path / "clip.mp4"
  with image_io.Mp4Writer(clip, fps=10) as writer:
    for frame in frames:
      writer.write(frame)
  _upload(page, clip)
  page.locator("#status", has_text="Done: clip.mp4").wait_for()
  assert "3 frames at 10 fps -> 21 frames at 70 fps" in page.inner_text(
      "#score")
  assert page.locator("#frames img").count() == 7
  state = _video_state(page)
  assert state["error"] is None and state["ready"] >= 2, state
  assert (state["width"], state["height"]) == (640, 352), state
  assert state["duration"] == pytest.approx(21 / 70, abs=0.05), state
  assert state["playing"] and state["updates"] > 0, state
  assert not page.locator("#speed").is_visible()
  assert "slow_motion.mp4" in page.inner_text("#downloads").replace("\n", "")


def test_a_missing_browser_skips_here_and_fails_in_ci(monkeypatch):
  monkeypatch.delenv("CBL_JAX_CHROMIUM", raising=False)
  monkeypatch.setattr(shutil, "which", lambda name: None)
  monkeypatch.setattr(sys.modules[__name__], "REQUIRED", False)
  with pytest.raises(pytest.skip.Exception, match="No Chromium found"):
    _chromium()
  monkeypatch.setattr(sys.modules[__name__], "REQUIRED", True)
  with pytest.raises(pytest.fail.Exception, match="CI must run the browser"):
    _chromium()
