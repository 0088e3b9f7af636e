"""Reading input images the way the original's ``cv2.imread`` colour read does, safely.

Every image becomes 8-bit RGB ``HxWx3``: EXIF orientation applied, alpha
dropped, grayscale and palette expanded, 16-bit scaled down — exactly what
OpenCV's ``IMREAD_COLOR`` gives, so results stay comparable with the
original project's. The header is checked against a pixel limit before
anything is decoded, and files are read as bytes so any file name works.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np

from core.errors import ImageReadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 50_000_000


def is_image_name(path: str | Path) -> bool:
    """Return True when the file name has an image extension."""
    return os.path.splitext(os.fsdecode(path))[1].lower() in IMAGE_SUFFIXES


def list_images(root: str | Path, recursive: bool = True) -> list[Path]:
    """Return image files under ``root`` (sorted, subfolders included), or ``[root]`` for a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ImageReadError(f"{root} is neither an image file nor a folder")
    pattern = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in pattern if p.is_file() and is_image_name(p.name))


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Return ``(width, height)`` from the file header without decoding pixels, or None if unknown."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # the caller applies its own limit; PIL's would raise first
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # noqa: BLE001 - any header PIL cannot parse is left to OpenCV to judge
        return None


def decode_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes to uint8 RGB ``HxWx3`` as ``cv2.imread(..., IMREAD_COLOR)`` + BGR->RGB would.

    Raises:
        ImageReadError: empty, not an image, truncated, or larger than ``max_pixels``.
    """
    if not data:
        raise ImageReadError(f"{name} is empty (0 bytes)")
    size = declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(
            f"{name} declares {size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} MP, over the limit of "
            f"{max_pixels / 1e6:.0f} MP; raise the pixel limit if the image is genuine"
        )
    if _lacks_trailer(data):
        raise ImageReadError(f"{name} is truncated (its end marker is missing)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        what = "truncated or corrupt" if size is not None else "not a readable image"
        raise ImageReadError(f"{name} is {what} (OpenCV could not decode it)")
    if size is not None and (bgr.shape[1], bgr.shape[0]) not in (size, size[::-1]):
        raise ImageReadError(f"{name} is truncated or corrupt (decoded size differs from its header)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _lacks_trailer(data: bytes) -> bool:
    """True for a JPEG without its EOI marker or a PNG without IEND (OpenCV half-decodes those)."""
    if data[:2] == b"\xff\xd8":
        return b"\xff\xd9" not in data[2:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-4096:]
    return False


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file to uint8 RGB ``HxWx3`` (see :func:`decode_image`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path.name!r} could not be read ({exc.strerror or exc})") from None
    return decode_image(data, repr(os.fsdecode(path.name))[1:-1], max_pixels)
