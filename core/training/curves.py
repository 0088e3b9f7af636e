"""Training curves: parse the original CSV format, keep curves in the store, find the checkpoints on a curve.

The format is the one training writes (``epoch,global_iter,<loss columns>``;
see :mod:`core.training.loop`). This module needs no torch, so the app can read
and validate curves without loading it: :func:`read_curve` reads a file,
:func:`parse_curve` the text of one. Curves are kept in the store
(:class:`core.store.scores.ScoreRecords`).

Checkpoints are placed on a curve by name: a curve ``<prefix>_curve.csv``
and checkpoints ``<prefix>_stage1.safetensors``, ``<prefix>_stage2.pth`` ...
share the prefix (what ``workbench train`` writes). Only checkpoints whose
metadata records the ``step`` they were saved at can be placed.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from core.errors import CurveFormatError

CURVE_INDEX_COLUMNS = ("epoch", "global_iter")
EXPECTED_HEADER = "epoch,global_iter,<loss columns>"
_CURVE_SUFFIX = re.compile(r"[_-]curve$", re.IGNORECASE)
_STAGE_SUFFIX = re.compile(r"[_-]stage[\s_-]*\d+$", re.IGNORECASE)


def parse_curve(text: str, source: str = "curve") -> dict[str, np.ndarray]:
    """Parse the text of a training-curve CSV into columns (``source`` names it in error messages).

    The header is ``epoch,global_iter`` followed by one or more loss names;
    every row has one value per column. ``epoch`` and ``global_iter`` must be
    whole numbers, losses any float (``nan``/``inf`` included: a diverged run
    is still a curve). Blank lines are skipped; a header-only file gives empty
    columns. A leading byte-order mark is ignored (spreadsheets write one).

    Returns:
        ``{"epoch": int64[n], "global_iter": int64[n], "<loss>": float64[n], ...}``
        in the file's column order.

    Raises:
        CurveFormatError: the text is not in that format; the message names the line.
    """
    text = text.removeprefix("\ufeff")
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1) if any(c.strip() for c in row)]
    if not rows:
        raise CurveFormatError(f"{source} is empty; it needs the header {EXPECTED_HEADER}")
    header = [c.strip() for c in rows[0][1]]
    if tuple(header[:2]) != CURVE_INDEX_COLUMNS or len(header) < 3:
        raise CurveFormatError(
            f"{source} has header {','.join(header)!r}; expected {EXPECTED_HEADER} with at least one loss column"
        )
    if len(set(header)) != len(header) or not all(header):
        raise CurveFormatError(f"{source} has empty or repeated column names in its header; rename them")
    columns: dict[str, list] = {name: [] for name in header}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise CurveFormatError(
                f"{source} line {line} has {len(row)} values for {len(header)} columns; fix or delete that line"
            )
        for i, (name, cell) in enumerate(zip(header, row)):
            try:
                value = float(cell)
            except ValueError:
                raise CurveFormatError(
                    f"{source} line {line}: {name} is {cell.strip()!r}, not a number; fix or delete that line"
                ) from None
            if i < 2:
                if not (math.isfinite(value) and value.is_integer()):
                    raise CurveFormatError(
                        f"{source} line {line}: {name} is {cell.strip()!r}, not a whole number; fix that line"
                    )
                value = int(value)
            columns[name].append(value)
    return {
        name: np.asarray(values, np.int64 if i < 2 else np.float64) for i, (name, values) in enumerate(columns.items())
    }


def decode_upload(name: str, data: bytes) -> str:
    """The text of an uploaded curve file, or CurveFormatError when it is not UTF-8 text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CurveFormatError(f"curve {name} is not a readable text CSV ({exc}); export it again as CSV") from None


def read_curve(csv_path: Path | str) -> dict[str, np.ndarray]:
    """Read a training-curve CSV file into columns (format: :func:`parse_curve`).

    Returns:
        ``{"epoch": int64[n], "global_iter": int64[n], "<loss>": float64[n], ...}``
        in the file's column order.

    Raises:
        CurveFormatError: the file is missing, not text, or not in that format; the
        message names the line. It is also a TrainingError, which the CLI reports in one line.
    """
    path = Path(csv_path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets save a BOM
    except FileNotFoundError:
        raise CurveFormatError(f"curve {path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CurveFormatError(f"curve {path} is not a readable text CSV ({exc}); export it again as CSV") from None
    return parse_curve(text, f"curve {path}")


def save_curves(store, curves: list[tuple[str, str, str]]) -> None:
    """Store ``(name, source, csv_text)`` curves in one transaction, each validated first, replacing same-named ones.

    Raises CurveFormatError (and stores nothing) when any text is malformed.
    """
    for name, _, text in curves:
        parse_curve(text, f"curve {name}")  # refuse a malformed file before anything is stored
    store.save_curves(curves)


def stored_curves(store) -> list[dict]:
    """The imported curves (``name``, ``source``, ``csv_text``, ``imported_at``), by name."""
    return store.curves()


def loss_columns(curve: dict[str, np.ndarray]) -> list[str]:
    """The loss columns of a parsed curve (every column after ``epoch`` and ``global_iter``)."""
    return [c for c in curve if c not in CURVE_INDEX_COLUMNS]


def curve_prefix(name: str) -> str:
    """The run prefix of a curve file name: ``MaskNet_v2_curve.csv`` -> ``MaskNet_v2``."""
    return _CURVE_SUFFIX.sub("", Path(name).stem)


def checkpoint_prefix(file_name: str) -> str:
    """The run prefix of a checkpoint file name: ``MaskNet_v2_stage1.safetensors`` -> ``MaskNet_v2``."""
    return _STAGE_SUFFIX.sub("", Path(file_name).stem)


def checkpoint_marks(curve_name: str, checkpoints: list[dict]) -> list[dict]:
    """The checkpoints to mark on a curve: same prefix, a ``step`` in the metadata; ordered by step.

    ``checkpoints`` are the store's rows (``file_name``, ``label``, ``metadata_json``).
    Each mark is ``{"label", "file_name", "stage", "step", "epoch"}``; ``stage`` is the
    metadata's (e.g. ``stage1``) or, failing that, the file name's stage suffix.
    """
    prefix = curve_prefix(curve_name)
    marks = []
    for row in checkpoints:
        name = row.get("file_name") or ""
        if checkpoint_prefix(name) != prefix:
            continue
        try:
            meta = json.loads(row.get("metadata_json") or "{}")
        except ValueError:
            continue
        step = _number(meta.get("step")) if isinstance(meta, dict) else None
        if step is None:
            continue
        stage = meta.get("stage")
        if stage is None:
            found = re.search(r"stage[\s_-]*(\d+)$", Path(name).stem, re.IGNORECASE)
            stage = f"stage{found.group(1)}" if found else Path(name).stem
        stage = str(stage)
        if stage.isdigit():  # some files say "1" rather than "stage1"
            stage = f"stage{stage}"
        epoch = _number(meta.get("epoch"))
        marks.append({"label": row.get("label") or name, "file_name": name, "stage": stage, "step": step,
                      "epoch": None if epoch is None else int(epoch)})
    return sorted(marks, key=lambda m: (m["step"], m["label"]))


def _number(value) -> int | float | None:
    """A finite number from checkpoint metadata, where values may be strings (safetensors keeps only text)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number
