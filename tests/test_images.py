"""Image reading: every common PNG/JPEG flavour as OpenCV's colour read gives it, and clear refusals."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.errors import ImageReadError
from core.pipeline.images import decode_image, is_image_name, list_images, read_image


def _cv2_reference(path: Path) -> np.ndarray:
    """What the original project got: ``cv2.imread(path, IMREAD_COLOR)`` converted BGR -> RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"OpenCV itself cannot read {path}"
    return bgr[..., ::-1]


def _pixels(h: int, w: int, channels: int, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    shape = (h, w) if channels == 1 else (h, w, channels)
    return rng.integers(0, top + 1, shape, dtype=np.int64).astype(dtype)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG file whose header declares ``width x height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # far too little data for the declared size: only the header matters
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# --------------------------------------------------------------------------- flavours


@pytest.mark.parametrize(
    "mode,channels",
    [("RGB", 3), ("L", 1), ("RGBA", 4), ("P", 1), ("LA", 2)],
    ids=["rgb", "gray", "rgba", "palette", "gray-alpha"],
)
def test_png_flavours_read_like_cv2(mode, channels, tmp_path):
    """RGB, grayscale, RGBA, palette and gray+alpha PNGs give the same uint8 RGB array as cv2.imread."""
    arr = _pixels(13, 21, channels)
    if mode == "P":
        img = Image.fromarray(arr, "L").convert("RGB").quantize(colors=16)
    else:
        img = Image.fromarray(arr, mode)
    path = tmp_path / f"{mode}.png"
    img.save(path)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (13, 21, 3)
    np.testing.assert_array_equal(out, _cv2_reference(path))


def test_rgb_png_keeps_channel_order(tmp_path):
    """A pure red PNG is red in the result (RGB order, not OpenCV's BGR)."""
    arr = np.zeros((4, 5, 3), np.uint8)
    arr[..., 0] = 255
    Image.fromarray(arr).save(tmp_path / "red.png")
    np.testing.assert_array_equal(read_image(tmp_path / "red.png"), arr)


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_png_reads_like_cv2(channels, tmp_path):
    """16-bit PNGs are scaled to 8 bits exactly as OpenCV's colour read does."""
    arr = _pixels(9, 14, channels, dtype=np.uint16)
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), arr)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (9, 14, 3)
    np.testing.assert_array_equal(out, _cv2_reference(path))


def test_jpeg_exif_orientation_is_applied_like_cv2(tmp_path):
    """A JPEG tagged orientation 6 (rotate 90 degrees) comes out rotated, as cv2.imread gives it."""
    arr = np.zeros((40, 64, 3), np.uint8)
    arr[:, :32] = (250, 30, 30)  # left half red, right half blue: the rotation is visible
    arr[:, 32:] = (30, 30, 250)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    out = read_image(path)
    expected = _cv2_reference(path)
    assert expected.shape == (64, 40, 3)  # OpenCV applied the tag
    np.testing.assert_array_equal(out, expected)


def test_plain_jpeg_reads_like_cv2(tmp_path):
    """A baseline JPEG decodes to the same pixels as cv2.imread (same decoder, same rounding)."""
    path = tmp_path / "photo.jpeg"
    Image.fromarray(_pixels(30, 50, 3, seed=2)).save(path, quality=80)
    np.testing.assert_array_equal(read_image(path), _cv2_reference(path))


def test_decode_image_equals_read_image(tmp_path):
    """Decoding bytes directly gives the same array as reading the file."""
    path = tmp_path / "a.png"
    Image.fromarray(_pixels(8, 8, 3)).save(path)
    np.testing.assert_array_equal(decode_image(path.read_bytes(), "a.png"), read_image(path))


# --------------------------------------------------------------------------- refusals


def _message(path: Path, **kwargs) -> str:
    with pytest.raises(ImageReadError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    message.encode("utf-8")  # printable on any terminal: no lone surrogates
    return message


def test_empty_file(tmp_path):
    """A 0-byte image is reported as empty."""
    (tmp_path / "e.png").write_bytes(b"")
    assert "empty" in _message(tmp_path / "e.png")


def test_text_named_jpg(tmp_path):
    """A text file with a .jpg name is not an image."""
    (tmp_path / "notes.jpg").write_text("hello, this is text\n")
    message = _message(tmp_path / "notes.jpg")
    assert "notes.jpg" in message and "not a readable image" in message


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_files(suffix, tmp_path):
    """A PNG or JPEG cut in half is reported as truncated (OpenCV alone would half-decode it)."""
    full = tmp_path / f"full{suffix}"
    Image.fromarray(_pixels(60, 80, 3, seed=5)).save(full)
    cut = tmp_path / f"cut{suffix}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in _message(cut)


def test_pixel_bomb_is_refused_before_decoding(tmp_path):
    """A small file declaring 30000 x 30000 pixels is refused from its header, naming the size."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(30000, 30000))
    assert path.stat().st_size < 1000
    message = _message(path)
    assert "30000x30000" in message and "limit" in message


def test_pixel_limit_is_adjustable(tmp_path):
    """The limit is a parameter: a 100 x 100 image passes by default and is refused under 5000 pixels."""
    path = tmp_path / "small.png"
    Image.fromarray(_pixels(100, 100, 3)).save(path)
    assert read_image(path).shape == (100, 100, 3)
    assert "100x100" in _message(path, max_pixels=5000)


def test_missing_file(tmp_path):
    """A missing file is an ImageReadError naming it, not an OSError."""
    assert "gone.png" in _message(tmp_path / "gone.png")


# --------------------------------------------------------------------------- names and listing


def _bytes_name_file(folder: Path, name: bytes, data: bytes) -> Path:
    """Create a file whose name is raw bytes (possibly not UTF-8), and return its str path."""
    raw = os.path.join(os.fsencode(folder), name)
    try:
        fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:  # some file systems (macOS APFS, Windows) refuse non-UTF-8 names
        pytest.skip(f"this file system refuses the name {name!r}: {exc}")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(os.fsdecode(raw))


def test_non_utf8_file_name_reads(tmp_path):
    """A Latin-1 file name (b"caf\\xe9.png", invalid UTF-8) is listed and read like any other."""
    arr = _pixels(6, 7, 3, seed=9)
    good = tmp_path / "ref.png"
    Image.fromarray(arr).save(good)
    path = _bytes_name_file(tmp_path, b"caf\xe9.png", good.read_bytes())
    np.testing.assert_array_equal(read_image(path), arr)
    assert path in list_images(tmp_path)


def test_non_utf8_file_name_in_error_message_is_printable(tmp_path):
    """A broken image with a non-UTF-8 name gives a message that can be printed as UTF-8."""
    path = _bytes_name_file(tmp_path, b"bad\xff.jpg", b"not an image")
    assert "bad" in _message(path)


def test_list_images_ignores_other_extensions(tmp_path):
    """Only image extensions (any case) are listed, sorted, recursively by default."""
    for name in ("b.png", "a.JPG", "c.txt", "d.npy", "e.jpeg.bak", "sub/f.webp", "sub/g.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a folder with an image-like name is not an image
    assert list_images(tmp_path) == [tmp_path / "a.JPG", tmp_path / "b.png", tmp_path / "sub" / "f.webp"]
    assert list_images(tmp_path, recursive=False) == [tmp_path / "a.JPG", tmp_path / "b.png"]
    assert list_images(tmp_path / "c.txt") == [tmp_path / "c.txt"]  # a file given directly is taken as is


def test_list_images_of_missing_path(tmp_path):
    """A path that is neither a file nor a folder is an ImageReadError."""
    with pytest.raises(ImageReadError, match="neither"):
        list_images(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "name,expected",
    [("x.PNG", True), ("x.tif", True), ("x.webp", True), ("x.bmp", True), ("x.gif", False), ("png", False)],
)
def test_is_image_name(name, expected):
    """Image extensions are recognised case-insensitively; others are not."""
    assert is_image_name(name) is expected
