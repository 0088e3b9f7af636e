"""Building the comparison grid from cell records: axes, values, fixed settings, columns, rows.

Plain functions over the store's cell dicts (``Store.results()``), testable
without Streamlit. Every axis value is a display string; ``None`` means the
field does not apply to that cell (e.g. the mask mode of a background-off
cell, the resolution of a baseline). Such a cell passes any fixed value of
that axis, so baselines sit beside the checkpoints whatever the fixed
resolution or mask mode. On a column axis a baseline gets a column of its
own (its method name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.axes import AXES, NA, axis_options, axis_value, matches, value_order

STATUS_RANK = {"done": 0, "failed": 1, "pending": 2}
KEY_METRICS = (("ink_coverage", "ink", "{:.0%}"), ("strokes", "strokes", "{:.0f}"), ("edge_f1", "F1", "{:.2f}"),
               ("ssim", "SSIM", "{:.2f}"))


def varying_axes(cells: list[dict]) -> list[str]:
    """Axes with at least two values among ``cells`` (baseline parameters: two for the same baseline)."""
    out = []
    for axis in AXES:
        options = axis_options(cells, axis)
        if axis == "baseline_params":
            methods = [v.split(":", 1)[0] for v in options]
            if len(methods) > len(set(methods)):
                out.append(axis)
        elif len(options) > 1:
            out.append(axis)
    return out


def settings_of(cell: dict) -> dict[str, str]:
    """Every axis that applies to the cell, with its display value."""
    return {a: v for a in AXES if (v := axis_value(cell, a)) is not None}


def describe_settings(settings: dict[str, str], skip: tuple[str, ...] = ()) -> str:
    """``"Resolution 424 · Mask mode soft · ..."``: full settings in one line."""
    return " · ".join(f"{AXES[a]} {v}" for a, v in settings.items() if a not in skip)


def key_numbers(cell: dict) -> str:
    """The cell's key numbers in one line: seconds and the main metrics that were computed."""
    parts = []
    if cell.get("seconds") is not None:
        parts.append(f"{cell['seconds']:.2f} s")
    for column, name, fmt in KEY_METRICS:
        value = cell.get(column)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):  # NaN is not a number to show
            parts.append(f"{name} {fmt.format(value)}")
    return " · ".join(parts)


# --------------------------------------------------------------------------- fixed axes


def resolve_fixed(cells: list[dict], axes: list[str], wanted: dict[str, str | None]) -> dict[str, tuple[list[str], str]]:
    """Options and chosen value of each fixed axis, in order, each offering only values that still exist.

    An axis's options come from the cells that fit the axes fixed before it; a
    wanted value that no longer exists falls back to the first option. Axes
    with no applicable value are left out.
    """
    result: dict[str, tuple[list[str], str]] = {}
    remaining = cells
    for axis in axes:
        options = axis_options(remaining, axis)
        if not options:
            continue
        value = wanted.get(axis)
        if value not in options:
            value = options[0]
        result[axis] = (options, value)
        remaining = [c for c in remaining if matches(c, {axis: value})]
    return result


# --------------------------------------------------------------------------- grid


@dataclass
class Column:
    """One column of the grid: the values of the column axes and what every cell in it shares."""

    key: tuple[str, ...]
    label: str
    letter: str = ""
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    """One image: its cells by column key (None where the combination is missing)."""

    key: str  # the image's sha256
    name: str
    test_set: str
    image_path: str | None
    cells: dict[tuple[str, ...], dict | None] = field(default_factory=dict)


@dataclass
class Grid:
    """Columns x rows of cells for one comparison."""

    axes: list[str]
    fixed: dict[str, str]
    columns: list[Column]
    rows: list[Row]
    hidden: int = 0  # cells left out because another cell held the same slot

    @property
    def axis_name(self) -> str:
        """The column axes joined by ``/`` (how a preference names its axis)."""
        return " / ".join(self.axes)

    def column(self, key: tuple[str, ...]) -> Column:
        """The column with ``key``."""
        return next(c for c in self.columns if c.key == key)


def column_key(cell: dict, axes: list[str]) -> tuple[str, ...]:
    """The column a cell belongs to: its column-axis values; a baseline where they do not apply: its name."""
    values = [axis_value(cell, a) for a in axes]
    if any(v is None for v in values) and cell.get("method") not in (None, "checkpoint"):
        return tuple([cell["method"]] + [""] * (len(axes) - 1))
    return tuple(NA if v is None else v for v in values)


def column_label(key: tuple[str, ...]) -> str:
    """A column's header text: its non-empty axis values joined by ``/``."""
    return " / ".join(v for v in key if v)


def _column_order(key: tuple[str, ...], baselines: set[str]):
    """Sort key of columns: checkpoints before baselines, then values in natural order."""
    return (key[0] in baselines, [value_order(v) for v in key])


def build_grid(cells: list[dict], axes: list[str], fixed: dict[str, str] | None = None,
               columns: list[str] | None = None) -> Grid:
    """Arrange ``cells`` into a grid: one column per value (combination) of ``axes``, one row per image.

    ``fixed`` filters cells (see :func:`matches`); ``columns`` keeps only the
    column labels listed (None: all). When two cells land in the same slot the
    done one wins, then the newest; the others are counted in ``hidden``.
    """
    fixed = dict(fixed or {})
    kept = [c for c in cells if matches(c, fixed)]
    baselines = {c["method"] for c in kept if c.get("method") not in (None, "checkpoint")}
    slots: dict[tuple[str, tuple[str, ...]], dict] = {}
    hidden = 0
    for cell in kept:
        key = column_key(cell, axes)
        if columns is not None and column_label(key) not in columns:
            continue
        slot = (cell["image_sha256"], key)
        other = slots.get(slot)
        if other is None:
            slots[slot] = cell
            continue
        hidden += 1
        rank = (STATUS_RANK.get(cell.get("status"), 3), -(cell.get("id") or 0))
        if rank < (STATUS_RANK.get(other.get("status"), 3), -(other.get("id") or 0)):
            slots[slot] = cell
    keys = sorted({k for _, k in slots}, key=lambda k: _column_order(k, baselines))
    cols = []
    for i, key in enumerate(keys):
        members = [c for (_, k), c in slots.items() if k == key]
        shared = _shared_settings(members)
        cols.append(Column(key, column_label(key), _letter(i), shared))
    rows: dict[str, Row] = {}
    for (image, key), cell in slots.items():
        row = rows.get(image)
        if row is None:
            row = rows[image] = Row(image, cell.get("image_name") or image[:12], cell.get("test_set") or "",
                                    cell.get("image_path"))
        row.cells[key] = cell
    for row in rows.values():
        for key in keys:
            row.cells.setdefault(key, None)
    ordered = sorted(rows.values(), key=lambda r: (r.test_set, r.name, r.key))
    return Grid(list(axes), fixed, cols, ordered, hidden)


def grid_columns(configs: list[dict], axes: list[str], fixed: dict[str, str] | None = None,
                 columns: list[str] | None = None) -> list[Column]:
    """The grid's columns made from the distinct settings of its cells (``Store.cell_configs``), not the cells.

    The same columns, in the same order with the same letters and shared
    settings, as :func:`build_grid` makes from every cell: the columns of one
    page of rows are those of the whole grid.
    """
    fixed = dict(fixed or {})
    kept = [c for c in configs if matches(c, fixed)]
    baselines = {c["method"] for c in kept if c.get("method") not in (None, "checkpoint")}
    members: dict[tuple[str, ...], list[dict]] = {}
    for config in kept:
        key = column_key(config, axes)
        if columns is None or column_label(key) in columns:
            members.setdefault(key, []).append(config)
    keys = sorted(members, key=lambda k: _column_order(k, baselines))
    return [Column(key, column_label(key), _letter(i), _shared_settings(members[key])) for i, key in enumerate(keys)]


def with_columns(grid: Grid, columns: list[Column]) -> Grid:
    """``grid`` (one page of rows) with the whole grid's ``columns``: a row has ``None`` where it lacks a cell."""
    keys = [c.key for c in columns]
    for row in grid.rows:
        row.cells = {key: row.cells.get(key) for key in keys}
    return Grid(grid.axes, grid.fixed, list(columns), grid.rows, grid.hidden)


def _letter(i: int) -> str:
    """The ``i``-th column letter (0 -> A, 25 -> Z, 26 -> AA)."""
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _shared_settings(cells: list[dict]) -> dict[str, str]:
    """The settings every cell of a column has in common (the column header's full settings)."""
    if not cells:
        return {}
    first = settings_of(cells[0])
    return {a: v for a, v in first.items() if all(axis_value(c, a) == v for c in cells[1:])}


def paginate(rows: list, page: int, size: int) -> tuple[list, int]:
    """Rows of page ``page`` (1-based, clamped) and the number of pages."""
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, page), pages)
    return rows[(page - 1) * size : page * size], pages


def filter_rows(rows: list[Row], tags_by_cell: dict[int, list[dict]], labels: list[str],
                preferred_rows: set[str], preference: str = "all") -> list[Row]:
    """Rows having a cell tagged with any of ``labels`` (if any), and marked or not (``preference``).

    ``preference``: ``"all"``, ``"marked"`` (a preferred cell in this comparison) or ``"unmarked"``.
    """
    out = []
    wanted = set(labels)
    for row in rows:
        if wanted:
            tagged = {t["label"] for c in row.cells.values() if c for t in tags_by_cell.get(c["id"], [])}
            if not tagged & wanted:
                continue
        if preference == "marked" and row.key not in preferred_rows:
            continue
        if preference == "unmarked" and row.key in preferred_rows:
            continue
        out.append(row)
    return out
