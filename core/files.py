"""Files on disk: atomic writes, PNG/WebP encoding, hashing and grey reads — each done once, here.

Pure helpers with no knowledge of sweeps or stores; every module that writes an
output, hashes a file or reads a grey image calls these.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from core.errors import ImageReadError, WorkbenchError

__all__ = ["write_atomic", "encode_png", "encode_webp", "sha256_file", "hash_bytes", "read_gray", "current_umask"]

_CHUNK = 1 << 20


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it into place.

    The file gets the mode an ordinary ``open(path, "wb")`` would give (0666 less
    the umask): ``mkstemp`` alone would leave it 0600, unreadable to the group
    on a shared runs folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _to_bgr(img: np.ndarray) -> np.ndarray:
    # OpenCV encoders take BGR; the workbench keeps RGB everywhere else.
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img


def encode_png(img: np.ndarray, level: int | None = None) -> bytes:
    """PNG bytes of a uint8 gray ``HxW`` or RGB ``HxWx3`` array.

    Args:
        img: the pixels; colours are kept.
        level: zlib compression 0-9 (1 for working files written on every cell),
            or None for OpenCV's own default. Pixels do not depend on it, bytes
            do: OpenCV's default also picks a different zlib strategy than any
            explicit level, so keep each writer's choice or its files' hashes change.
    """
    params = [] if level is None else [cv2.IMWRITE_PNG_COMPRESSION, int(level)]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(_to_bgr(img)), params)
    if not ok:
        raise WorkbenchError("OpenCV could not encode a PNG; check the opencv-python-headless install")
    return buf.tobytes()


def encode_webp(img: np.ndarray, quality: int = 90) -> bytes:
    """WebP bytes of a uint8 gray or RGB array (lossy, for thumbnails)."""
    ok, buf = cv2.imencode(".webp", np.ascontiguousarray(_to_bgr(img)), [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:
        raise WorkbenchError("OpenCV could not encode a WebP; check the opencv-python-headless install")
    return buf.tobytes()


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_bytes(path: str | os.PathLike) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a file; an unreadable file hashes as empty (it fails later, as a cell)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        data = b""
    return hashlib.sha256(data).hexdigest(), len(data)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """Read any image file as uint8 ``HxW`` grey.

    Raises:
        ImageReadError: the file is missing, unreadable or not an image; the message names it.
    """
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path} could not be read ({exc.strerror or exc})") from None
    gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if gray is None:
        raise ImageReadError(f"{path} is missing or not an image; rebuild the set or replace the file")
    return gray
