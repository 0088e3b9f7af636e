"""Figure export (core.figures): which cells, their labels, the manifest, and the pixels of PNG, SVG and PDF."""

from __future__ import annotations

import base64
import json
import re

import cv2
import numpy as np
import pytest

from core.errors import FigureError
from core.figures.layout import OUTLINE, crop_pixels, parse_crop
from core.figures.render import export_figure, figure_bytes, figure_format, manifest_path
from core.figures.selection import AXES, axis_value, select_figure, short_labels
from core.store.store import Store


@pytest.fixture
def store(swept):
    """The swept store, opened read-only."""
    s = Store(swept.db, readonly=True)
    yield s
    s.close()


def _gray(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def _rgb(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


# --------------------------------------------------------------------------- selection and labels


def test_values_are_the_compare_pages(store):
    """Every axis value of every cell is the display value the Compare page uses (a view translates as is)."""
    from workbench import grid

    cells = store.results()
    assert cells
    for cell in cells:
        for axis in AXES:
            assert axis_value(cell, axis) == grid.axis_value(cell, axis), (axis, cell["id"])


def test_select_columns_rows_and_fixed(store, swept):
    """Columns of one setting (baselines beside them), the others fixed to their first value, rows by name."""
    sel = select_figure(store, "resolution", sweep_id=swept.sweep_id)
    assert [c.value for c in sel.columns] == ["64", "128", "canny"]
    assert [r.label for r in sel.rows] == ["photo0", "photo1", "photo2"]
    assert sel.fixed["mask_checkpoint"].startswith("MaskNet_v2_stage1") and sel.fixed["mask_mode"] == "hard"
    assert "resolution" not in sel.fixed
    assert sel.caption.startswith("Columns: Resolution. Fixed: Sketch Net G_tiny")
    for row in sel.rows:
        for column in sel.columns:
            cell = sel.cell(row, column)
            assert cell["status"] == "done" and cell["image_sha256"] == row.key
            assert axis_value(cell, "resolution") in (column.value, None)
            assert axis_value(cell, "mask_mode") in ("hard", None)


def test_fixed_values_by_short_names(store, swept):
    """--fix takes a checkpoint's stem, booleans as true/false, numbers in any spelling; rows by name or sha."""
    sel = select_figure(store, "mask_mode", sweep_id=swept.sweep_id,
                        fixed={"mask_checkpoint": "MaskNet_v2_stage2", "gamma": "true", "resolution": "128.0"},
                        images=["photo2.png", "photo0"])
    assert sel.fixed["mask_checkpoint"].startswith("MaskNet_v2_stage2.safetensors@")
    assert sel.fixed["gamma"] == "on" and sel.fixed["resolution"] == "128"
    assert [c.label for c in sel.columns] == ["hard", "soft", "canny"]
    assert [r.label for r in sel.rows] == ["photo2", "photo0"]
    by_sha = select_figure(store, "mask_mode", images=[sel.rows[0].key[:10]])
    assert [r.key for r in by_sha.rows] == [sel.rows[0].key]
    assert len(select_figure(store, "mask_mode", rows=1).rows) == 1


def test_short_labels():
    """Checkpoints lose their hash and extension unless two would then read the same; switches say their name."""
    assert short_labels("sketch_checkpoint", ["G_net.pth@1a2b3c4d", "canny"]) == ["G_net", "canny"]
    assert short_labels("sketch_checkpoint", ["a.pth@11111111", "a.safetensors@22222222"]) == \
        ["a.pth", "a.safetensors"]
    assert short_labels("sketch_checkpoint", ["a.pth@11111111", "a.pth@22222222"]) == \
        ["a.pth@11111111", "a.pth@22222222"]
    assert short_labels("mask_checkpoint", ["none (background off)"]) == ["no mask"]
    assert short_labels("gamma", ["off", "on"]) == ["gamma off", "gamma on"]
    assert short_labels("resolution", ["424", "848"]) == ["424", "848"]


@pytest.mark.parametrize("call, words", [
    ({"axis": "colour"}, "unknown column axis 'colour'"),
    ({"axis": "resolution", "fixed": {"resolution": "64"}}, "it is the column axis"),
    ({"axis": "resolution", "fixed": {"mask_mode": "wobbly"}}, "no cells with mask_mode=wobbly (values: hard, soft)"),
    ({"axis": "resolution", "fixed": {"flavour": "x"}}, "unknown setting in --fix 'flavour'"),
    ({"axis": "resolution", "images": ["nope.png"]}, "no image 'nope.png'"),
    ({"axis": "resolution", "sweep_id": 99}, "no sweep 99"),
])
def test_bad_selections_say_what(store, call, words):
    """Each refusal is one line that names the problem."""
    axis = call.pop("axis")
    with pytest.raises(FigureError) as info:
        select_figure(store, axis, **call)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_empty_store_and_bad_crop_or_suffix(tmp_path):
    """An empty store, a crop outside 0-1 and an unknown suffix are refused."""
    with Store(tmp_path / "empty.db") as empty, pytest.raises(FigureError, match="no cells to show"):
        select_figure(empty, "resolution")
    for text in ("0.5,0.5,0.6,0.2", "-0.1,0,0.5,0.5", "0,0,0,0.5", "1,2,3", "a,b,c,d"):
        with pytest.raises(FigureError, match="--crop"):
            parse_crop(text)
    assert parse_crop("0.25,0.25,0.5,0.5") == (0.25, 0.25, 0.5, 0.5)
    with pytest.raises(FigureError, match=r"\.png, \.svg or \.pdf"):
        figure_format("fig.jpg")


# --------------------------------------------------------------------------- the files


def test_png_panels_are_stored_pixels_and_manifest(store, swept, tmp_path):
    """At scale 1 each panel of the PNG is its cell's stored sketch, pixel for pixel; the manifest maps it."""
    sel = select_figure(store, "mask_checkpoint", sweep_id=swept.sweep_id)
    out = export_figure(sel, tmp_path / "fig.png")
    assert out.manifest_file == manifest_path(out.figure) == tmp_path / "fig.manifest.json"
    manifest = json.loads(out.manifest_file.read_text())
    figure = _rgb(out.figure)
    assert figure.shape[:2] == (manifest["height_px"], manifest["width_px"])
    assert len(manifest["panels"]) == len(sel.rows) * len(sel.columns) == 9
    assert manifest["column_axis"] == "mask_checkpoint" and manifest["fixed"] == sel.fixed
    for panel in manifest["panels"]:
        cell = store.cell(panel["cell_id"])
        assert panel["image_sha256"] == cell["image_sha256"] and panel["cell_key"] == cell["cell_key"]
        assert panel["config"]["resolution"] == cell["resolution"] and panel["config"]["method"] == cell["method"]
        assert panel["provenance"] == (json.loads(cell["provenance_json"]) if cell["provenance_json"] else None)
        stored = _gray(panel["output_file"])
        x, y, w, h = panel["box"]
        assert (w, h) == (stored.shape[1], stored.shape[0]) == tuple(panel["native_size"])
        np.testing.assert_array_equal(figure[y : y + h, x : x + w], np.repeat(stored[..., None], 3, axis=2))
    assert {p["column_label"] for p in manifest["panels"]} == {"MaskNet_v2_stage1", "MaskNet_v2_stage2", "canny"}


def test_svg_has_text_and_native_rasters(store, swept):
    """SVG: labels are <text> elements, and each panel is embedded at its stored size (drawn twice as large)."""
    sel = select_figure(store, "resolution", sweep_id=swept.sweep_id)
    data, manifest = figure_bytes(sel, "svg", scale=2)
    assert all(p["box"][2] == 2 * p["native_size"][0] for p in manifest["panels"])
    svg = data.decode()
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    for label in ("64", "128", "canny", "photo0", "photo2"):
        assert label in texts
    sizes = []
    for tag in re.findall(r"<image[^>]*>", svg):
        png = base64.b64decode(re.search(r"base64,([^\"]+)\"", tag).group(1))
        decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        sizes.append(decoded.shape[:2])
    assert sorted(sizes) == sorted((p["native_size"][1], p["native_size"][0]) for p in manifest["panels"])


def test_pdf_is_one_page_with_fonts(store, swept, tmp_path):
    """PDF: a PDF file of one page whose labels are embedded TrueType text, with its manifest."""
    sel = select_figure(store, "resolution", sweep_id=swept.sweep_id)
    out = export_figure(sel, tmp_path / "fig.pdf")
    data = out.figure.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and len(data) > 2000
    assert len(re.findall(rb"/Type /Page\b", data)) == 1
    assert b"/FontFile2" in data  # TrueType embedded: text, not paths
    images = re.findall(rb"/Subtype /Image /Width (\d+) /Height (\d+)", data)
    assert sorted((int(w), int(h)) for w, h in images) == sorted(tuple(p["native_size"])
                                                                  for p in out.manifest["panels"])
    assert out.manifest["format"] == "pdf" and (tmp_path / "fig.manifest.json").is_file()


def test_crop_inset_outlined_and_magnified(store, swept, tmp_path):
    """--crop: the rectangle is outlined on each panel, the inset beside it is the stored crop, pixels repeated."""
    crop = parse_crop("0.25,0.25,0.5,0.5")
    sel = select_figure(store, "resolution", sweep_id=swept.sweep_id)
    out = export_figure(sel, tmp_path / "crop.png", crop=crop, scale=2)
    figure = _rgb(out.figure)
    red = np.array(OUTLINE, np.uint8)
    for panel in out.manifest["panels"]:
        x, y, w, h = panel["box"]
        nw, nh = panel["native_size"]
        assert (w, h) == (nw * 2, nh * 2)
        cx0, cy0, cx1, cy1 = crop_pixels(crop, w, h)
        assert (figure[y + cy0, x + cx0 : x + cx1] == red).all()  # the outline's top edge
        assert (figure[y + cy0 : y + cy1, x + cx0] == red).all()  # and its left edge
        ix, iy, iw, ih = panel["inset_box"]
        assert (figure[iy, ix : ix + iw] == red).all() and (figure[iy : iy + ih, ix + iw - 1] == red).all()
        sx, sy, sw, sh = panel["inset_source"]
        stored = _gray(panel["output_file"])
        expected = cv2.resize(stored[sy : sy + sh, sx : sx + sw], (iw, ih), interpolation=cv2.INTER_NEAREST)
        inner = (slice(iy + 4, iy + ih - 4), slice(ix + 4, ix + iw - 4))  # inside the frame
        np.testing.assert_array_equal(figure[inner][..., 0], expected[4:-4, 4:-4])
        assert ix > x + w  # beside the panel, not over it


def _direct_store(root, images: int, resolutions, side: int, skip=()) -> Store:
    """A store whose done cells are written directly (no sweep): ``images`` x ``resolutions`` sketches of ``side`` px.

    ``skip``: ``(image index, resolution)`` slots left without a cell.
    """
    from core.files import encode_png

    store = Store(root / "direct.db")
    sweep_id, _ = store.start_sweep("direct", "direct", "", {}, images * len(resolutions), "local")
    cells, files = [], []
    rng = np.random.default_rng(0)
    for i in range(images):
        sha = f"{i:02d}" * 32
        for res in resolutions:
            if (i, res) in skip:
                continue
            key = f"{sha[:8]}{res:04d}".ljust(64, "0")
            sketch = np.full((side, side), 255, np.uint8)
            sketch[rng.integers(0, side, 2000), rng.integers(0, side, 2000)] = (i * 20 + res) % 200
            rel = f"cells/{key[:2]}/{key}/sketch.png"
            (root / rel).parent.mkdir(parents=True)
            (root / rel).write_bytes(encode_png(sketch, 1))
            cells.append({"cell_key": key, "image_sha256": sha, "image_name": f"img{i:02d}.png",
                          "method": "checkpoint", "sketch_checkpoint": "G_net.pth@1a2b3c4d",
                          "resolution": res, "background": 0, "gamma": 1, "merge": 0, "precision": "fp32",
                          "vectorize": 0, "profile": "seed", "width": side, "height": side})
            files.append((key, {"status": "done", "sketch_path": rel}))
    store.register_cells(sweep_id, cells)
    store.finish_cells(files)
    return store


def test_missing_slot_is_a_grey_box(tmp_path):
    """A slot without a cell is drawn as a grey "no cell" box and listed in the manifest with no cell id."""
    with _direct_store(tmp_path, 2, (64, 128), 40, skip={(1, 128)}) as store:
        sel = select_figure(store, "resolution")
        out = export_figure(sel, tmp_path / "gap.png")
    missing = [p for p in out.manifest["panels"] if p["cell_id"] is None]
    assert [(p["row"], p["column"]) for p in missing] == [(1, 1)] and missing[0]["box"] is None
    assert missing[0]["config"] is None and missing[0]["provenance"] is None
    assert all(p["provenance"] is None for p in out.manifest["panels"])  # written without provenance: null
    figure = _rgb(out.figure)
    above = out.manifest["panels"][1]["box"]  # the cell above the gap: same column
    x, y = above[0] + above[2] // 2, above[1] + above[3] + 20  # into the next row's slot
    assert (figure[y, x] == 235).all()


def test_large_grid_has_no_pixel_limit(tmp_path):
    """A 12 x 4 grid of 848-px outputs (about 3600 x 10500 px) exports and reads back, panels intact."""
    side = 848
    with _direct_store(tmp_path, 12, (424, 512, 640, 848), side) as big:
        sel = select_figure(big, "resolution")
        assert (len(sel.rows), len(sel.columns)) == (12, 4)
        out = export_figure(sel, tmp_path / "big.png")
    width, height = out.manifest["width_px"], out.manifest["height_px"]
    assert width > 4 * side and height > 12 * side
    figure = cv2.imread(str(out.figure), cv2.IMREAD_COLOR)
    assert figure.shape[:2] == (height, width)
    last = out.manifest["panels"][-1]
    x, y, w, h = last["box"]
    np.testing.assert_array_equal(figure[y : y + h, x : x + w, 0], _gray(tmp_path / sel.cells[
        (sel.rows[-1].key, sel.columns[-1].value)]["sketch_path"]))
    with open(out.figure, "rb") as f:  # the PNG header says the same size
        assert f.read(24)[16:24] == width.to_bytes(4, "big") + height.to_bytes(4, "big")
