"""Reading every kind of image users have; writing outputs atomically."""

import struct
import zlib

import av
import numpy as np
from PIL import Image
import pytest

from cbl_jax.inference import image_io


def _rgb(height=30, width=40):
  y, x = np.mgrid[:height, :width]
  return np.stack([x * 6, y * 8, (x + y) * 3], -1).astype(np.uint8)


def _png16_rgb(path, pixels):
  """Writes a 16-bit RGB PNG by hand: Pillow cannot write one."""
  height, width = pixels.shape[:2]
  rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)

  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data)))

  path.write_bytes(
      b"\x89PNG\r\n\x1a\n" +
      chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)) +
      chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_rgb_png_and_jpeg(tmp_path):
  pixels = _rgb()
  Image.fromarray(pixels).save(tmp_path / "a.png")
  image = image_io.read_image(tmp_path / "a.png")
  assert image.dtype == np.float32 and image.shape == (30, 40, 3)
  np.testing.assert_allclose(image * 255, pixels, atol=1e-4)
  Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95)
  np.testing.assert_allclose(image_io.read_image(tmp_path / "a.jpg") * 255,
                             pixels, atol=12)


def test_grayscale_and_16_bit(tmp_path):
  gray = _rgb()[..., 0]
  Image.fromarray(gray).save(tmp_path / "g.png")
  image = image_io.read_image(tmp_path / "g.png")
  assert image.shape == (30, 40, 3)
  np.testing.assert_allclose(image[..., 1] * 255, gray, atol=1e-4)
  # 16-bit: values above 255 must scale, not clip (Pillow's convert clips).
  deep = (np.linspace(0, 65535, 30 * 40).reshape(30, 40)).astype(np.uint16)
  Image.fromarray(deep).save(tmp_path / "d.png")
  assert Image.open(tmp_path / "d.png").mode.startswith("I")
  image = image_io.read_image(tmp_path / "d.png")
  np.testing.assert_allclose(image[..., 2], deep / 65535.0, atol=1e-6)
  # 16-bit colour: Pillow keeps the high byte, i.e. 8-bit precision.
  colour = _rgb().astype(np.uint16) * 256 + 100
  _png16_rgb(tmp_path / "c16.png", colour)
  np.testing.assert_allclose(image_io.read_image(tmp_path / "c16.png") * 255,
                             colour // 256, atol=1e-4)
  floats = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
  Image.fromarray(floats).save(tmp_path / "f.tif")
  np.testing.assert_allclose(image_io.read_image(tmp_path / "f.tif")[..., 0],
                             floats)
  bilevel = Image.fromarray(gray > 100)
  bilevel.save(tmp_path / "b.png")
  assert set(np.unique(image_io.read_image(tmp_path / "b.png"))) <= {0, 1}


def test_transparency_is_composited_on_white(tmp_path):
  rgba = np.zeros((10, 12, 4), np.uint8)
  rgba[..., 0] = 200
  rgba[:, :6, 3] = 255  # Left half opaque red, right half transparent.
  rgba[:, 6:, 3] = 0
  Image.fromarray(rgba).save(tmp_path / "t.png")
  image = image_io.read_image(tmp_path / "t.png")
  assert np.allclose(image[:, :6], [200 / 255, 0, 0], atol=1e-6)
  assert np.allclose(image[:, 6:], 1.0)
  rgba[..., 3] = 128
  Image.fromarray(rgba).save(tmp_path / "half.png")
  np.testing.assert_allclose(image_io.read_image(tmp_path / "half.png")[0, 0],
                             [(200 * 128 + 255 * 127) / 255**2,
                              127 / 255, 127 / 255], atol=1e-6)
  la = Image.fromarray(rgba[..., [0, 3]], mode="LA")
  la.save(tmp_path / "la.png")
  assert image_io.read_image(tmp_path / "la.png").shape == (10, 12, 3)
  palette = Image.fromarray(rgba).convert("P")
  palette.info["transparency"] = 0
  palette.save(tmp_path / "p.gif")
  assert image_io.read_image(tmp_path / "p.gif").shape == (10, 12, 3)


def test_exif_orientation_is_applied(tmp_path):
  pixels = _rgb(30, 40)
  exif = Image.Exif()
  exif[0x0112] = 6  # Rotated: viewers turn it 90 degrees clockwise.
  Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=95)
  image = image_io.read_image(tmp_path / "r.jpg")
  assert image.shape == (40, 30, 3)
  np.testing.assert_allclose(image * 255, np.rot90(pixels, -1), atol=12)


def test_bad_files_give_one_line_errors(tmp_path):
  (tmp_path / "notes.txt").write_text("not an image")
  (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
  for name in ("notes.txt", "cut.png"):
    with pytest.raises(ValueError, match=f"Cannot read image .*{name}") as e:
      image_io.read_image(tmp_path / name)
    assert "\n" not in str(e.value)
  with pytest.raises(FileNotFoundError, match="no such file"):
    image_io.read_image(tmp_path / "missing.png")


def test_list_images(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    image_io.list_images(tmp_path / "nope")
  with pytest.raises(ValueError, match="No images"):
    image_io.list_images(tmp_path)
  for name in ("b.PNG", "a.jpg", ".hidden.png", "notes.txt"):
    (tmp_path / name).write_bytes(b"")
  (tmp_path / "sub").mkdir()
  assert [p.name for p in image_io.list_images(tmp_path)] == ["a.jpg",
                                                               "b.PNG"]
  # A file given by name is taken whatever its suffix.
  assert image_io.list_images(tmp_path / "notes.txt") == [
      tmp_path / "notes.txt"]
  assert image_io.output_names(
      [tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "b.png"]) == [
          "a_png", "a_jpg", "b"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
  final = tmp_path / "out"
  with pytest.raises(RuntimeError):
    with image_io.atomic_dir(final) as tmp:
      (tmp / "half.png").write_bytes(b"x")
      raise RuntimeError("crash")
  assert list(tmp_path.iterdir()) == []
  with image_io.atomic_dir(final) as tmp:
    (tmp / "one").write_text("1")
  with image_io.atomic_dir(final) as tmp:  # Replaces a previous run.
    (tmp / "two").write_text("2")
  assert [p.name for p in tmp_path.iterdir()] == ["out"]
  assert [p.name for p in final.iterdir()] == ["two"]


def test_mp4_pads_odd_sizes_and_decodes(tmp_path):
  frames = np.stack([_rgb(31, 45)] * 3)
  assert image_io.write_mp4(tmp_path / "v.mp4", frames, fps=7)
  with av.open(str(tmp_path / "v.mp4")) as container:
    stream = container.streams.video[0]
    assert stream.codec_context.name in ("h264", "mpeg4")
    decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
  assert len(decoded) == 3 and decoded[0].shape == (32, 46, 3)
  assert not image_io.write_mp4(tmp_path / "e.mp4", frames[:, :30, :44])


def test_strip_is_shrunk_to_max_width():
  image = _rgb(30, 40)
  frames = np.stack([image] * 7)
  assert image_io.make_strip(image, frames).shape == (30, 320, 3)
  assert image_io.make_strip(image, frames, max_width=160).shape == (15, 160,
                                                                     3)
