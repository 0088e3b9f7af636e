"""Files on disk: atomic writes, PNG/WebP encoding, hashing and grey reads — each done once, here.

Pure helpers with no knowledge of sweeps or stores; every module that writes an
output, hashes a file or reads a grey image calls these.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from core.errors import ImageReadError, WorkbenchError

__all__ = ["write_atomic", "encode_png", "encode_webp", "png_with_text", "png_text", "sha256_file", "hash_bytes",
           "read_gray", "current_umask"]

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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_text(png: bytes, key: str, text: str) -> bytes:
    """The same PNG with an ``iTXt`` chunk ``key`` = ``text`` (UTF-8, uncompressed) right after its header.

    Pixels and every other chunk stay as they were: a reader that ignores
    text chunks decodes the same image.

    Args:
        png: a whole PNG file's bytes.
        key: the chunk's keyword (1-79 Latin-1 characters, no NUL), e.g. ``sketch-workbench-provenance``.
        text: any text.
    """
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise WorkbenchError("not a PNG file (no PNG signature and header); cannot add a text chunk")
    keyword = key.encode("latin-1")
    if not 1 <= len(keyword) <= 79 or b"\0" in keyword:
        raise WorkbenchError(f"PNG text keyword {key!r} must be 1-79 characters without NUL")
    end_of_header = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword, the UTF-8 text.
    chunk = _png_chunk(b"iTXt", keyword + b"\0\0\0\0\0" + text.encode("utf-8"))
    return png[:end_of_header] + chunk + png[end_of_header:]


def png_text(source: bytes | str | os.PathLike) -> dict[str, str]:
    """The text chunks (``tEXt``, ``zTXt``, ``iTXt``) of a PNG file or its bytes, as ``{keyword: text}``.

    Returns ``{}`` for a file that is not a PNG or has no text; a truncated or
    damaged chunk ends the reading (what came before it is kept).
    """
    data = source if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    out: dict[str, str] = {}
    if not data.startswith(PNG_SIGNATURE):
        return out
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I", data[pos:pos + 4])[0], data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length or kind == b"IEND":
            break
        try:
            _read_text_chunk(kind, body, out)
        except (ValueError, zlib.error):
            break
        pos += 12 + length
    return out


def _read_text_chunk(kind: bytes, body: bytes, out: dict[str, str]) -> None:
    if kind not in (b"tEXt", b"zTXt", b"iTXt"):
        return
    keyword, _, rest = body.partition(b"\0")
    key = keyword.decode("latin-1")
    if kind == b"tEXt":
        out[key] = rest.decode("latin-1")
    elif kind == b"zTXt":
        out[key] = zlib.decompress(rest[1:]).decode("latin-1")
    else:
        compressed, rest = rest[0], rest[2:]
        _language, _, rest = rest.partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        out[key] = (zlib.decompress(text) if compressed else text).decode("utf-8")


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
