"""Reading the Compare grid from the store a page at a time, and how much the outputs of a row disagree.

Pure reads over :class:`~core.store.store.Store`: nothing here draws on the
page. The grid's pixels reach the browser through the viewer
(:mod:`workbench.viewer`) as stored files.
"""

from __future__ import annotations

from core.sketch.metrics import disagreement
from core.store.store import Store
from workbench import grid as G
from workbench import media
from workbench.grid import Row


def output_path(store: Store, stored: str | None) -> str | None:
    """The absolute path of an output file recorded in the store, or None when the cell has none."""
    return str(store.absolute(stored)) if stored else None


def row_disagreement(store: Store, row: Row) -> float:
    """Mean pixel difference between the finished outputs of a row (their thumbnails, as small gray arrays)."""
    images = []
    for cell in row.cells.values():
        if cell and cell.get("status") == "done" and cell.get("thumb_path"):
            path = output_path(store, cell["thumb_path"])
            images.append(media.small_gray(path, media.mtime(path)))
    return disagreement(images)


# --------------------------------------------------------------------------- reading the grid a page at a time


def _in_test_set(cells: list[dict], test_set: str | None) -> list[dict]:
    """The cells of one test set (None: all of them; ``""``: those without one)."""
    return cells if test_set is None else [c for c in cells if (c.get("test_set") or "") == test_set]


def kept_configs(configs: list[dict], axes: list[str], fixed: dict[str, str], shown: list[str]) -> list[dict]:
    """The settings combinations whose cells the grid shows: fitting ``fixed``, in a shown column."""
    return [c for c in configs if G.matches(c, fixed) and G.column_label(G.column_key(c, axes)) in shown]


def hidden_cells(store: Store, sweep_id: int | None, test_set: str | None, kept: list[dict], axes: list[str]) -> int:
    """How many shown cells lose their slot to another cell of the same image and column (as :func:`G.build_grid`)."""
    by_column: dict[tuple, list[dict]] = {}
    for config in kept:
        by_column.setdefault(G.column_key(config, axes), []).append(config)
    slots = 0
    for members in by_column.values():
        if len(members) == 1:
            slots += members[0]["images"]
        else:  # several settings share the column: count its images once
            slots += store.config_image_page(sweep_id, members, 0, 0, test_set)[1]
    return sum(c["cells"] for c in kept) - slots


def grid_page(store: Store, sweep_id: int | None, test_set: str | None, configs: list[dict] | None,
              grid_args: tuple, columns: list[G.Column], size: int, offset: int) -> G.Grid:
    """One page of the grid read from the store (``LIMIT``/``OFFSET`` over its images), with the whole grid's columns.

    ``configs`` keeps the images that have a cell with one of those settings
    (None: every image); ``grid_args`` is ``(axes, fixed, shown)``.
    """
    page, _ = store.config_image_page(sweep_id, configs, size, offset, test_set, count=False)
    cells = _in_test_set(store.image_cells(sweep_id, [r["image_sha256"] for r in page]), test_set)
    return G.with_columns(G.build_grid(cells, *grid_args), columns)


def grid_of_images(store: Store, sweep_id: int | None, test_set: str | None, images: set[str] | None,
                   grid_args: tuple, columns: list[G.Column]) -> G.Grid:
    """The grid of these images (None: of every image, read in full), with the whole grid's columns."""
    if images is None:
        cells = store.results(sweep_id)
    else:
        shas, cells = sorted(images), []
        for start in range(0, len(shas), 500):
            cells += store.image_cells(sweep_id, shas[start : start + 500])
    return G.with_columns(G.build_grid(_in_test_set(cells, test_set), *grid_args), columns)


ORDERS = ("name", "disagreement", "metric", "label", "preference")


def metric_gap(row: Row, metric: str, pair: tuple[tuple[str, ...], tuple[str, ...]]) -> float | None:
    """``|A - B|`` of ``metric`` between the row's cells in the columns ``pair`` (None where either is missing)."""
    values = []
    for key in pair:
        cell = row.cells.get(key)
        value = cell.get(metric) if cell else None
        if value is None or value != value:  # missing or NaN
            return None
        values.append(float(value))
    return abs(values[0] - values[1])


def ordered_row_keys(store: Store, sweep_id: int | None, test_set: str | None, grid_args: tuple, order: str = "name",
                     metric: str | None = None, pair: tuple | None = None) -> list[str]:
    """Every row key of the grid in ``order`` (reads every cell: on demand, and cached by the page).

    ``name``: by image name; ``disagreement``: the rows whose outputs differ
    most first; ``metric``: the largest ``|A - B|`` of ``metric`` between the
    column keys ``pair`` first (rows missing either last). ``label`` and
    ``preference`` start from the name order: the page reorders by its marks.
    """
    rows = G.build_grid(_in_test_set(store.results(sweep_id), test_set), *grid_args).rows
    if order == "disagreement":
        rows = sorted(rows, key=lambda row: row_disagreement(store, row), reverse=True)
    elif order == "metric" and metric and pair:
        gaps = {row.key: metric_gap(row, metric, pair) for row in rows}
        rows = sorted(rows, key=lambda row: (gaps[row.key] is None, -(gaps[row.key] or 0.0)))
    return [row.key for row in rows]


def marked_first(keys: list[str], labelled: set[str] | None = None, preferred: dict[str, int] | None = None) -> list[str]:
    """``keys`` with the labelled rows first, or the marked rows first grouped by preferred column (stable)."""
    if labelled is not None:
        return sorted(keys, key=lambda k: k not in labelled)
    preferred = preferred or {}
    return sorted(keys, key=lambda k: (k not in preferred, preferred.get(k, 0)))
