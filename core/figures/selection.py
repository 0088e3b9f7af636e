"""Which cells a figure shows: one column axis, every other setting fixed, a row per image, and their labels.

Axis values are the display strings the Compare page uses (``file@sha8``
checkpoint labels, ``none (background off)``, ``on``/``off``, ``0.3``), so a
view of the page translates as is; ``None`` means the axis does not apply to
a cell (the resolution of a baseline), and such a cell passes any fixed value
of that axis. On the column axis a baseline gets a column of its own (its
method name). Headers, row names and the caption are shortened forms of
those values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from core.axes import AXES as AXIS_NAMES
from core.axes import NA, NO_MASK, axis_options, is_baseline, value_order
from core.axes import axis_value as display_value
from core.axes import matches as fits
from core.errors import FigureError

# The settings a figure's columns can be made of, in the order the other ones are fixed (the Compare page's order).
AXES = tuple(AXIS_NAMES)
ALIASES = {"method": "sketch_checkpoint"}  # a baseline's name sits where a checkpoint would
TITLES = {"sketch_checkpoint": "Sketch Net / method", "mask_checkpoint": "Mask Net", "resolution": "Resolution",
          "mask_mode": "Mask mode", "softctr": "softctr", "gamma": "Gamma", "merge": "Merge",
          "background": "Background", "precision": "Precision", "vectorize": "Vectorize", "profile": "Profile",
          "baseline_params": "Baseline parameters"}
SWITCHES = ("gamma", "merge", "background", "vectorize")
DEFAULT_ROWS = 12  # rows when neither a number nor image names are given
TRUE_WORDS, FALSE_WORDS = ("on", "true", "1", "yes"), ("off", "false", "0", "no")


@dataclass
class FigureColumn:
    """One column: its display value (as the Compare page shows it) and its short header."""

    value: str
    label: str


@dataclass
class FigureRow:
    """One image: its content hash, stored name, test set and short row name."""

    key: str
    name: str
    test_set: str
    label: str


@dataclass
class FigureSelection:
    """The cells of one figure: columns x rows, the fixed settings and the caption.

    ``cells`` maps ``(row key, column value)`` to the cell's store record (None
    where the store holds no finished cell for that slot).
    """

    axis: str
    fixed: dict[str, str]
    columns: list[FigureColumn]
    rows: list[FigureRow]
    cells: dict[tuple[str, str], dict | None]
    caption: str
    sweep_id: int | None = None
    images_total: int = 0
    root: Path | None = None  # the store's folder: where the cells' files are
    column_title: str = ""

    def cell(self, row: FigureRow, column: FigureColumn) -> dict | None:
        """The cell shown at ``row`` x ``column`` (None when missing)."""
        return self.cells.get((row.key, column.value))


# --------------------------------------------------------------------------- values


def axis_value(cell: dict, axis: str) -> str | None:
    """The display value of ``axis`` for a cell (the Compare page's, :mod:`core.axes`); ``method`` names the Sketch Net axis."""
    return display_value(cell, ALIASES.get(axis, axis))


def column_value(cell: dict, axis: str) -> str:
    """The column a cell belongs to: its value of ``axis``, or a baseline's name where the axis does not apply."""
    value = axis_value(cell, axis)
    if value is None:
        return cell["method"] if is_baseline(cell) else NA
    return value


def match_value(axis: str, text: str, options: list[str]) -> str | None:
    """The option that ``text`` names: the display value, a checkpoint's file name or stem, a number, on/off.

    Raises:
        FigureError: ``text`` names more than one option (two checkpoints with the same file name).
    """
    text = str(text).strip()
    if text in options:
        return text
    low = text.lower()
    if axis in SWITCHES and low in TRUE_WORDS + FALSE_WORDS:
        wanted = "on" if low in TRUE_WORDS else "off"
        return wanted if wanted in options else None
    if axis == "mask_checkpoint" and low in ("none", "off", "no mask"):
        return NO_MASK if NO_MASK in options else None
    try:
        number = float(text)
        found = [o for o in options if _is_number(o) and math.isclose(float(o), number)]
        if found:
            return found[0]
    except ValueError:
        pass
    found = [o for o in options if low in (o.split("@", 1)[0].lower(), checkpoint_stem(o).lower())]
    if len(found) > 1:
        raise FigureError(f"{axis}={text} names several values ({', '.join(found)}); give the full one")
    return found[0] if found else None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- labels


def checkpoint_stem(label: str) -> str:
    """``G_net.pth@1a2b3c4d`` -> ``G_net``: the file name without its hash and extension."""
    name = label.split("@", 1)[0]
    for suffix in (".safetensors", ".pth", ".pt", ".ckpt", ".bin"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def short_labels(axis: str, values: list[str]) -> list[str]:
    """Short, distinct headers for the values of one axis (``G_net``, ``424``, ``soft``, ``gamma on``)."""
    if axis in ("sketch_checkpoint", "mask_checkpoint"):
        for shorten in (checkpoint_stem, lambda v: v.split("@", 1)[0], lambda v: v):
            labels = ["no mask" if v == NO_MASK else shorten(v) for v in values]
            if len(set(labels)) == len(labels):
                return labels
        return list(values)
    if axis in SWITCHES:
        return [f"{TITLES[axis].lower()} {v}" if v in ("on", "off") else v for v in values]
    return list(values)


def setting_text(axis: str, value: str) -> str:
    """One fixed setting in a few words for the caption (``Mask Net MaskNet_v2``, ``424 px``, ``gamma on``)."""
    if axis == "sketch_checkpoint":
        return f"Sketch Net {checkpoint_stem(value)}" if "@" in value else value
    if axis == "mask_checkpoint":
        return "no mask" if value == NO_MASK else f"Mask Net {checkpoint_stem(value)}"
    if axis == "resolution":
        return f"{value} px"
    if axis == "mask_mode":
        return f"{value} mask"
    if axis in SWITCHES or axis in ("softctr", "profile"):
        return f"{TITLES[axis].lower()} {value}"
    return value


def row_labels(rows: list[dict]) -> list[str]:
    """Row names: image names without their extension (with the test set where two names would clash)."""
    stems = [Path(r["image_name"] or r["image_sha256"][:12]).stem for r in rows]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{r['test_set']}/{s}" if r.get("test_set") else f"{s} ({r['image_sha256'][:8]})"
            for r, s in zip(rows, stems)]


# --------------------------------------------------------------------------- the selection


def canonical_axis(axis: str, what: str = "column axis") -> str:
    """The axis that ``axis`` names (``method`` is the Sketch Net / method axis).

    Raises:
        FigureError: not a config column a figure can have columns of (``what`` names the flag in the message).
    """
    name = ALIASES.get(axis, axis)
    if name not in AXES:
        raise FigureError(f"unknown {what} {axis!r}; use one of: {', '.join(AXES + tuple(ALIASES))}")
    return name


def resolve_fixed(configs: list[dict], axis: str, wanted: dict[str, str]) -> dict[str, str]:
    """Every setting but ``axis`` fixed: the ``wanted`` ones as named, the others to their first value.

    Raises:
        FigureError: an unknown axis, the column axis fixed, or a value no cell has.
    """
    fixed: dict[str, str] = {}
    remaining = configs
    for name, text in wanted.items():
        key = canonical_axis(name, "setting in --fix")
        if key == axis:
            raise FigureError(f"--fix {name}: it is the column axis; fix another setting")
        options = axis_options(remaining, key)
        value = match_value(key, text, options)
        if value is None:
            shown = ", ".join(options) if options else "none left"
            raise FigureError(f"no cells with {name}={text} (values: {shown})")
        fixed[key] = value
        remaining = [c for c in remaining if fits(c, {key: value})]
    for name in AXES:
        if name == axis or name in fixed:
            continue
        options = axis_options(remaining, name)
        if options:
            fixed[name] = options[0]
            remaining = [c for c in remaining if fits(c, {name: options[0]})]
    return {name: fixed[name] for name in AXES if name in fixed}


def caption_text(axis: str, fixed: dict[str, str], kept: list[dict]) -> str:
    """``Columns: Resolution. Fixed: Sketch Net G_net · soft mask · ...`` (settings that apply to a shown cell)."""
    shown = []
    for name, value in fixed.items():
        if name == "baseline_params":  # each baseline shown keeps its own parameters
            shown += sorted({v for c in kept if (v := axis_value(c, name)) is not None})
        elif any(axis_value(c, name) is not None for c in kept):
            shown.append(setting_text(name, value))
    text = f"Columns: {TITLES[axis]}."
    return text + (f" Fixed: {' · '.join(shown)}." if shown else "")


def select_figure(store, axis: str, *, sweep_id: int | None = None, fixed: dict[str, str] | None = None,
                  rows: int | None = None, images: list[str] | None = None) -> FigureSelection:
    """Pick a figure's cells from the store: columns of ``axis``, the other settings fixed, rows of images.

    Args:
        store: an open :class:`core.store.store.Store`.
        axis: the column axis (a config column: resolution, mask_mode, sketch_checkpoint, method, ...).
        sweep_id: only this sweep's cells (None: every cell in the store).
        fixed: settings to hold (axis -> value: the display value, a checkpoint file name, a number, on/off);
            the settings not given are fixed to their first value.
        rows: the first ``rows`` images by name (default :data:`DEFAULT_ROWS`).
        images: these images instead (names, name stems or sha256 prefixes), in this order.

    Raises:
        FigureError: unknown axis or sweep, a value or image no cell has, nothing to show.
    """
    axis = canonical_axis(axis)
    if sweep_id is not None and not store.has_sweep(sweep_id):
        raise FigureError(f"no sweep {sweep_id} in {store.path}; `workbench results` lists the cells")
    configs = store.cell_configs(sweep_id)
    if not configs:
        where = f"sweep {sweep_id}" if sweep_id is not None else str(store.path)
        raise FigureError(f"no cells to show in {where}; run a sweep first (workbench sweep ...)")
    fixed = resolve_fixed(configs, axis, dict(fixed or {}))
    kept = [c for c in configs if fits(c, fixed)]
    options = axis_options(kept, axis)
    values = sorted({column_value(c, axis) for c in kept},
                    key=lambda v: (v not in options, options.index(v) if v in options else 0, value_order(v)))
    columns = [FigureColumn(v, label) for v, label in zip(values, short_labels(axis, values))]
    chosen, total = _pick_rows(store, sweep_id, kept, rows, images)
    cells = _fill_slots(store.image_cells(sweep_id, [r["image_sha256"] for r in chosen]), axis, fixed)
    if not any(cells.get((r["image_sha256"], c.value)) for r in chosen for c in columns):
        raise FigureError("no finished cells match the selection; pick other settings or run the sweep")
    figure_rows = [FigureRow(r["image_sha256"], r["image_name"] or "", r.get("test_set") or "", label)
                   for r, label in zip(chosen, row_labels(chosen))]
    return FigureSelection(axis, fixed, columns, figure_rows,
                           {(r.key, c.value): cells.get((r.key, c.value)) for r in figure_rows for c in columns},
                           caption_text(axis, fixed, kept), sweep_id, total, Path(store.root), TITLES[axis])


def _pick_rows(store, sweep_id, kept: list[dict], rows: int | None, images: list[str] | None):
    """The chosen images (``image_sha256``, ``image_name``, ``test_set`` dicts) and how many there are."""
    if images:
        every, total = store.config_image_page(sweep_id, kept, limit=10**9)
        chosen = []
        for name in images:
            found = [r for r in every if name in (r["image_name"], Path(r["image_name"] or "").stem)
                     or (len(name) >= 8 and r["image_sha256"].startswith(name))]
            if not found:
                names = ", ".join(r["image_name"] for r in every[:6]) + (", ..." if len(every) > 6 else "")
                raise FigureError(f"no image {name!r} among the selection's images ({names})")
            if found[0] not in chosen:
                chosen.append(found[0])
        return chosen, total
    limit = DEFAULT_ROWS if rows is None else rows
    if limit < 1:
        raise FigureError(f"--rows must be at least 1, got {rows}")
    chosen, total = store.config_image_page(sweep_id, kept, limit=limit)
    return chosen, total


def _fill_slots(cells: list[dict], axis: str, fixed: dict[str, str]) -> dict[tuple[str, str], dict]:
    """One finished cell per (image, column): the newest done cell with a sketch file."""
    slots: dict[tuple[str, str], dict] = {}
    for cell in cells:
        if cell.get("status") != "done" or not cell.get("sketch_path") or not fits(cell, fixed):
            continue
        slot = (cell["image_sha256"], column_value(cell, axis))
        if slot not in slots or (cell.get("id") or 0) > (slots[slot].get("id") or 0):
            slots[slot] = cell
    return slots
