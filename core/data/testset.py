"""The test-set format: a folder of images with optional masks and drawings, listed in a hashed manifest.

A test set is a folder ``<root>/<name>/`` holding::

    images/<id>.png     uint8 RGB
    masks/<id>.png      optional, uint8 gray, 255 = object, 0 = background, same size
    drawings/<id>.png   optional, uint8 gray ground-truth line drawing, 0 = ink, 255 = paper
    manifest.json       name, split, source, licence, created_with, design, files

``files`` lists ``{id, image, sha256, width, height}`` per item, plus
``mask``/``mask_sha256`` and ``drawing``/``drawing_sha256`` when present
(``sha256`` is the hash of the image file's bytes; paths are relative to the
set folder). Every file is written atomically and the manifest last, so a set
with a manifest is complete.

This module reads (:func:`load_test_set`), checks (:func:`verify`) and writes
(:class:`SetWriter`) that format. The sets the project builds are made by
:mod:`core.data.photos`, :mod:`core.data.scenes` and :mod:`core.data.builder`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import DatasetError
from core.files import encode_png, sha256_file, write_atomic

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "PNG_LEVEL",
    "SetWriter",
    "TestItem",
    "TestSet",
    "entry_files",
    "library_versions",
    "load_test_set",
    "read_manifest",
    "verify",
]

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
# What a damaged set's message tells the user to do.
_REBUILD = "rebuild the sets with `workbench datasets build --force`"
# PNG compression is lossless at every level; a fixed level keeps files byte-identical run to run
PNG_LEVEL = 3


@dataclass(frozen=True)
class TestItem:
    """One entry of a test set: its id and the paths of its image and optional mask and drawing."""

    __test__ = False  # not a pytest test class despite the name

    id: str
    image: Path
    mask: Path | None = None
    drawing: Path | None = None


@dataclass
class TestSet:
    """A loaded test set: its name, folder, items in manifest order and the full manifest."""

    __test__ = False

    name: str
    folder: Path
    items: list[TestItem]
    manifest: dict = field(repr=False)

    @property
    def split(self) -> str:
        """Return the split named in the manifest (e.g. ``objects-heldout``)."""
        return str(self.manifest.get("split", self.name))

    def __len__(self) -> int:
        """Return the number of items."""
        return len(self.items)



def read_manifest(folder: str | Path) -> dict:
    """Return the parsed ``manifest.json`` of a test set folder.

    Raises:
        DatasetError: the folder or manifest is missing, or the manifest is not valid JSON
            with a ``files`` list.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(
            f"{path} not found: {folder} is not a built test set (or its build was interrupted); "
            "build the sets with `workbench datasets build` (add --training for the demo's training sets), "
            "or pass the folder of a built set"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is unreadable ({exc}); {_REBUILD}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DatasetError(f"{path} has no 'files' list; {_REBUILD}")
    return manifest


def entry_files(folder: Path, entry: Any) -> list[tuple[str, Path, str]]:
    """Return ``(relative path, absolute path, expected sha256)`` for every file of a manifest entry."""
    if not isinstance(entry, dict) or "id" not in entry or "image" not in entry:
        raise DatasetError(f"{folder / MANIFEST_NAME} has a malformed file entry {entry!r}; rebuild the set")
    out = []
    for key, hash_key in (("image", "sha256"), ("mask", "mask_sha256"), ("drawing", "drawing_sha256")):
        rel = entry.get(key)
        if rel is None:
            continue
        path = (folder / rel).resolve()
        # a manifest must not point outside its own folder (e.g. "../../etc/passwd")
        if not path.is_relative_to(folder.resolve()):
            raise DatasetError(f"{folder / MANIFEST_NAME} lists {rel!r}, which lies outside the set folder; rebuild the set")
        out.append((str(rel), path, str(entry.get(hash_key, ""))))
    return out


def verify(folder: str | Path) -> dict:
    """Check every file listed in a set's manifest exists and matches its SHA-256; return the manifest.

    Raises:
        DatasetError: naming the first missing or changed file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    for entry in manifest["files"]:
        for rel, path, expected in entry_files(folder, entry):
            if not path.is_file():
                raise DatasetError(f"{folder / rel} is missing; {_REBUILD}")
            actual = sha256_file(path)
            if actual != expected:
                raise DatasetError(
                    f"{folder / rel} does not match its manifest hash (expected {expected[:12]}..., "
                    f"got {actual[:12]}...): the file was changed or damaged; {_REBUILD}"
                )
    return manifest


def load_test_set(folder: str | Path, check_hashes: bool = False) -> TestSet:
    """Load a test set folder into a ``TestSet``; files must exist, hashes are checked when ``check_hashes``.

    Raises:
        DatasetError: missing/invalid manifest, a listed file missing, or (with ``check_hashes``) a changed file.
    """
    folder = Path(folder)
    manifest = verify(folder) if check_hashes else read_manifest(folder)
    items = []
    for entry in manifest["files"]:
        for rel, path, _ in entry_files(folder, entry):
            if not path.is_file():
                raise DatasetError(f"{folder / rel} is missing; {_REBUILD}")
        items.append(
            TestItem(
                id=str(entry["id"]),
                image=(folder / entry["image"]),
                mask=(folder / entry["mask"]) if entry.get("mask") else None,
                drawing=(folder / entry["drawing"]) if entry.get("drawing") else None,
            )
        )
    return TestSet(name=str(manifest.get("name", folder.name)), folder=folder, items=items, manifest=manifest)



# --------------------------------------------------------------------------- writing


class SetWriter:
    """Writes one test set folder: items atomically, stale files of the previous build removed, manifest last."""

    def __init__(self, folder: Path):
        """Start writing ``folder``; a manifest left by an earlier build is removed first."""
        self.folder = folder
        self.entries: list[dict] = []
        self._old_files: set[Path] = set()
        manifest = folder / MANIFEST_NAME
        if manifest.is_file():
            try:
                old = read_manifest(folder)
                for entry in old["files"]:
                    self._old_files.update(p for _, p, _ in entry_files(folder, entry))
            except DatasetError:
                pass  # a damaged old manifest only means its files cannot be tidied up
            # removed first: until the new manifest lands the set must not look complete
            manifest.unlink()

    def _write(self, sub: str, item_id: str, array: np.ndarray) -> tuple[str, str]:
        """Write ``<sub>/<item_id>.png`` atomically; return its relative path and the sha256 of its bytes."""
        data = encode_png(array, level=PNG_LEVEL)
        rel = f"{sub}/{item_id}.png"
        write_atomic(self.folder / rel, data)
        return rel, hashlib.sha256(data).hexdigest()

    def add(self, item_id: str, image: np.ndarray, mask: np.ndarray | None = None,
            drawing: np.ndarray | None = None, **extra: Any) -> None:
        """Write one item's files and remember its manifest entry (``extra`` keys are copied into it)."""
        rel, digest = self._write("images", item_id, image)
        entry: dict[str, Any] = {"id": item_id, "image": rel, "sha256": digest,
                                 "width": int(image.shape[1]), "height": int(image.shape[0])}
        if mask is not None:
            entry["mask"], entry["mask_sha256"] = self._write("masks", item_id, mask)
        if drawing is not None:
            entry["drawing"], entry["drawing_sha256"] = self._write("drawings", item_id, drawing)
        entry.update(extra)
        self.entries.append(entry)

    def finish(self, header: dict) -> Path:
        """Remove files the previous build listed but this one did not, then write the manifest."""
        new_files = {(self.folder / e[k]).resolve() for e in self.entries for k in ("image", "mask", "drawing") if e.get(k)}
        for stale in self._old_files - new_files:
            stale.unlink(missing_ok=True)
        manifest = {"format_version": FORMAT_VERSION, **header, "files": self.entries}
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_atomic(self.folder / MANIFEST_NAME, text.encode("utf-8"))
        return self.folder


def library_versions() -> dict:
    """Return the library versions that determine the exact bytes written (PNG encoder, RNG, resize)."""
    import skimage

    return {"numpy": np.__version__, "opencv": cv2.__version__, "scikit-image": skimage.__version__}

