"""Images uploaded from the browser into a new test set: validated, size-limited, under generated names.

Nothing the client sends is used as a path: the test-set folder name and each
file name are generated (a sanitised slug plus a content hash), the extension
comes from the decoded format, and every file is decoded with
:func:`core.pipeline.images.decode_image` before it is written.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.errors import ImageReadError, UploadError
from core.pipeline.images import decode_image

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
TEST_SETS_DIR = "testsets"
_FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


@dataclass
class Saved:
    """One accepted upload."""

    client_name: str
    path: Path
    width: int
    height: int


def slug(text: str, fallback: str = "upload", limit: int = 40) -> str:
    """Letters, digits, ``-`` and ``_`` only (no dots, no separators), at most ``limit`` characters."""
    stem = Path(str(text).replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:limit]
    return cleaned or fallback


def new_test_set(root: str | Path, name: str = "") -> Path:
    """Create a new, empty test-set folder under ``root/testsets`` (a unique generated name)."""
    base = Path(root) / TEST_SETS_DIR
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    stem = f"{slug(name, 'upload')}-{stamp}" if name.strip() else f"upload-{stamp}"
    for n in range(1000):
        folder = base / (stem if n == 0 else f"{stem}-{n}")
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            continue
    raise UploadError(f"could not create a new test set under {base}")


def _format(data: bytes) -> str | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format
    except Exception:  # noqa: BLE001 - any unreadable header: decode_image has refused it already
        return None


def save_upload(folder: str | Path, client_name: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> Saved:
    """Validate one uploaded file and write it into ``folder`` under a generated name.

    Raises:
        UploadError: too large, empty, or not a readable image.
    """
    shown = slug(client_name, "file", 80)
    if len(data) > max_bytes:
        raise UploadError(f"{shown}: {len(data) / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.0f} MB")
    try:
        img = decode_image(data, shown)
    except ImageReadError as exc:
        raise UploadError(f"{shown}: not accepted: {exc}") from None
    suffix = _FORMAT_SUFFIX.get(_format(data) or "", ".png")
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = Path(folder) / f"{slug(client_name, 'image')}-{digest}{suffix}"
    if not path.exists():
        tmp = path.with_name(f".tmp-{digest}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return Saved(client_name, path, int(img.shape[1]), int(img.shape[0]))
