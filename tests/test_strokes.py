"""Tests for the stroke modules of core.sketch: vectorising drawings with known strokes, stroke-3, files, renderings."""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core.errors import SketchFormatError, StrokesError, StrokesFileError
from core.sketch.polylines import simplify
from core.sketch.rendering import render, render_frames, save_gif, save_vector_png, to_svg
from core.sketch.stroke_files import load_npz, save_npz, stroke_file_paths, write_stroke_files
from core.sketch.strokes import Stroke, Strokes, from_stroke3, order_strokes, to_stroke3
from core.sketch.tracing import VectorizeParams, vectorize

# --------------------------------------------------------------------------- helpers


def blank(h: int = 200, w: int = 200) -> np.ndarray:
    return np.full((h, w), 255, np.uint8)


def polyline_sketch(points, thickness: int, size=(200, 200), closed=False) -> np.ndarray:
    img = blank(*size)
    cv2.polylines(img, [np.rint(points).astype(np.int32).reshape(-1, 1, 2)], closed, 0, thickness, cv2.LINE_8)
    return img


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance from each of points (n, 2) to the polyline line (k, 2)."""
    a, b = line[:-1], line[1:]  # (k-1, 2)
    ab = b - a
    ap = points[:, None, :] - a[None]  # (n, k-1, 2)
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.hypot(*(ap - t[..., None] * ab).transpose(2, 0, 1)).min(1)


def acceptance(sketch: np.ndarray, strokes: Strokes, radius: float = 2.0) -> tuple[float, float]:
    """(share of sketch ink within radius of re-rendered ink, re-rendered ink farther than radius / sketch ink)."""
    ink = sketch < 128
    drawn = render(strokes) < 128
    to_drawn = ndimage.distance_transform_edt(~drawn)
    to_ink = ndimage.distance_transform_edt(~ink)
    covered = float((to_drawn[ink] <= radius).mean())
    extra = float((drawn & (to_ink > radius)).sum() / ink.sum())
    return covered, extra


def scene(h: int = 600, w: int = 600, seed: int = 0, noise: float = 8.0) -> np.ndarray:
    """A gray synthetic photo: gradient background, a few overlapping shapes, sensor noise, lens blur."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = (80 + 100 * xx / w + 40 * yy / h).astype(np.float32)
    cv2.circle(img, (int(w * 0.3), int(h * 0.35)), int(w * 0.15), 220, -1)
    cv2.rectangle(img, (int(w * 0.55), int(h * 0.2)), (int(w * 0.85), int(h * 0.5)), 30, -1)
    tri = np.array([[w * 0.2, h * 0.9], [w * 0.5, h * 0.55], [w * 0.8, h * 0.9]], np.int32)
    cv2.fillPoly(img, [tri], 250)
    cv2.ellipse(img, (int(w * 0.65), int(h * 0.75)), (int(w * 0.12), int(h * 0.06)), 20, 0, 360, 10, -1)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (5, 5), 1.5)


def canny_sketch(img: np.ndarray) -> np.ndarray:
    return 255 - cv2.Canny(img, 50, 120)


def pencil_sketch(img: np.ndarray) -> np.ndarray:
    """Dark where the photo is darker than its neighbourhood: thick, slightly ragged lines plus specks."""
    return cv2.adaptiveThreshold(img, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 15, 6)


def near(p, q, tol: float) -> bool:
    return math.dist(p, q) <= tol


def ends_match(stroke: Stroke, a, b, tol: float) -> bool:
    """The stroke runs from a to b, in either direction, within tol px."""
    first, last = stroke.points[0], stroke.points[-1]
    return (near(first, a, tol) and near(last, b, tol)) or (near(first, b, tol) and near(last, a, tol))


# --------------------------------------------------------------------------- vectorise: known strokes


def test_straight_line_is_one_stroke_of_two_points():
    img = polyline_sketch([(30, 40), (170, 150)], 3)
    s = vectorize(img)
    assert (s.width, s.height) == (200, 200)
    assert len(s) == 1
    assert s.strokes[0].points.shape == (2, 2)  # RDP leaves a straight line its two ends
    assert ends_match(s.strokes[0], (30, 40), (170, 150), 3)


@pytest.mark.parametrize("width", [1, 3, 5, 9])
def test_width_estimate_of_a_horizontal_band(width):
    img = blank()
    img[100 - width // 2 : 100 - width // 2 + width, 30:170] = 0  # exactly `width` rows of ink
    s = vectorize(img)
    assert len(s) == 1
    assert abs(s.strokes[0].width - width) <= 1
    assert ends_match(s.strokes[0], (30, 100), (169, 100), width / 2 + 2)


def test_arc_is_one_stroke_on_the_circle():
    img = blank()
    cv2.ellipse(img, (100, 100), (60, 60), 0, 0, 180, 0, 2)  # lower half: from (160, 100) to (40, 100)
    s = vectorize(img)
    assert len(s) == 1
    stroke = s.strokes[0]
    assert ends_match(stroke, (160, 100), (40, 100), 3)
    radii = np.hypot(*(stroke.points - 100).T)
    assert np.all(np.abs(radii - 60) <= 2)
    assert 3 <= len(stroke.points) <= 40  # simplified, yet still a curve
    assert stroke.points[:, 1].max() >= 158  # it reaches the bottom of the arc


def test_crossing_lines_give_two_to_four_strokes_on_the_lines():
    lines = [np.array([(20.0, 30.0), (180.0, 170.0)]), np.array([(20.0, 170.0), (180.0, 30.0)])]
    img = blank()
    for line in lines:
        cv2.line(img, tuple(map(int, line[0])), tuple(map(int, line[1])), 0, 3)
    s = vectorize(img)
    assert 2 <= len(s) <= 4
    for stroke in s.strokes:
        d = np.minimum(distance_to_polyline(stroke.points, lines[0]), distance_to_polyline(stroke.points, lines[1]))
        assert d.max() <= 2
    true_length = sum(math.dist(*line) for line in lines)
    assert sum(st.length for st in s.strokes) == pytest.approx(true_length, rel=0.08)


def assert_two_lines_give_two_strokes(lines, thickness: int = 3) -> None:
    """Draw the two segments ``(a, b)``; vectorised, they give two strokes, each segment matched by exactly one."""
    img = blank()
    for a, b in lines:
        cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), 0, thickness)
    s = vectorize(img)
    assert len(s) == 2
    for a, b in lines:
        assert sum(ends_match(st, a, b, 3) for st in s.strokes) == 1


def test_crossing_lines_continue_straight_through_the_junction():
    assert_two_lines_give_two_strokes([((20, 100), (180, 100)), ((100, 20), (100, 180))])


@pytest.mark.parametrize("thickness", [2, 3, 5])
def test_lines_crossing_at_60_degrees_give_two_strokes(thickness):
    # thinning splits such a crossing into two junctions a few px apart; they must act as one
    lines = []
    for sign in (1, -1):
        d = np.array([math.cos(math.radians(30)), sign * math.sin(math.radians(30))]) * 80
        lines.append((np.rint(100 - d).astype(int), np.rint(100 + d).astype(int)))
    assert_two_lines_give_two_strokes(lines, thickness)


def test_bumps_on_a_thick_line_do_not_become_strokes():
    img = blank()
    cv2.line(img, (20, 100), (180, 100), 0, 7)
    for x in (50, 90, 130):
        cv2.circle(img, (x, 106), 3, 0, -1)  # ragged edge: thinning grows a spur towards each bump
    s = vectorize(img)
    assert len(s) == 1
    assert ends_match(s.strokes[0], (20, 100), (180, 100), 4)


def test_t_junction_keeps_the_bar_whole():
    assert_two_lines_give_two_strokes([((20, 50), (180, 50)), ((100, 50), (100, 180))])


def test_spiral_is_one_stroke_along_the_curve():
    t = np.linspace(0, 4 * np.pi, 600)
    r = 10 + 6 * t
    spiral = np.stack([100 + r * np.cos(t), 100 + r * np.sin(t)], axis=1)
    s = vectorize(polyline_sketch(spiral, 2))
    assert len(s) == 1
    stroke = s.strokes[0]
    assert ends_match(stroke, spiral[0], spiral[-1], 3)
    assert distance_to_polyline(stroke.points, spiral).max() <= 2
    # and the curve is covered end to end, not just touched at its points
    assert distance_to_polyline(spiral, stroke.points).max() <= 2


def test_circle_is_one_closed_stroke():
    img = blank()
    cv2.circle(img, (100, 100), 60, 0, 2)
    s = vectorize(img)
    assert len(s) == 1
    stroke = s.strokes[0]
    assert stroke.closed
    assert np.all(np.abs(np.hypot(*(stroke.points - 100).T) - 60) <= 2)
    assert stroke.length == pytest.approx(2 * math.pi * 60, rel=0.05)


def test_small_gap_is_joined_and_gap_zero_keeps_it():
    img = blank()
    cv2.line(img, (20, 100), (180, 100), 0, 1)
    img[100, 100] = 255  # a 1-px break: the ends are 2 px apart
    assert len(vectorize(img)) == 1
    assert len(vectorize(img, VectorizeParams(gap=0))) == 2


def test_gap_join_needs_facing_ends():
    img = blank()
    cv2.line(img, (20, 100), (100, 100), 0, 1)
    cv2.line(img, (100, 102), (180, 102), 0, 1)  # side by side, 2 px apart, not continuing each other
    assert len(vectorize(img, VectorizeParams(gap=3))) == 2


def test_circle_with_a_break_closes_across_the_gap():
    img = blank()
    cv2.circle(img, (100, 100), 50, 0, 1)
    img[97:104, 148:153] = 255  # cut through the right side
    assert len(vectorize(img, VectorizeParams(gap=0))) == 1  # one open arc
    assert not vectorize(img, VectorizeParams(gap=0)).strokes[0].closed
    s = vectorize(img, VectorizeParams(gap=12))
    assert len(s) == 1 and s.strokes[0].closed


def test_specks_below_min_length_are_dropped():
    img = blank()
    cv2.line(img, (20, 150), (180, 150), 0, 2)
    img[50:52, 50:52] = 0  # 2x2 speck
    img[120, 30] = 0  # single pixel
    assert len(vectorize(img)) == 1
    assert len(vectorize(img, VectorizeParams(min_length=0))) == 3


def test_strokes_are_ordered_for_drawing():
    img = blank()
    for y in (30, 90, 150):
        cv2.line(img, (20, y), (180, y), 0, 2)
    s = vectorize(img)
    starts = [tuple(np.rint(st.points[0])) for st in s.strokes]
    # top line first from its left end, then the pen zigzags down without long travel
    assert near(starts[0], (20, 30), 3) and near(s.strokes[1].points[0], (180, 90), 3)
    assert near(s.strokes[2].points[0], (20, 150), 3)


def test_blank_sketch_gives_no_strokes_and_params_are_recorded():
    params = VectorizeParams(min_length=7, epsilon=0.5)
    s = vectorize(blank(50, 80), params)
    assert len(s) == 0 and (s.width, s.height) == (80, 50)
    assert s.params == params.to_dict() and s.params["min_length"] == 7


@pytest.mark.parametrize(
    "bad", [np.zeros((10, 10), np.float32), np.zeros((10, 10, 3), np.uint8), np.zeros((0, 5), np.uint8)]
)
def test_bad_sketch_raises(bad):
    with pytest.raises(SketchFormatError):
        vectorize(bad)


def test_tiny_and_solid_images_do_not_crash():
    for img in (np.zeros((1, 1), np.uint8), np.zeros((3, 2), np.uint8), np.zeros((40, 40), np.uint8)):
        s = vectorize(img)
        assert isinstance(s, Strokes) and render(s).shape == img.shape


def test_params_round_trip_and_validation():
    p = VectorizeParams(threshold=100, gap=3.5, max_gif_frames=10)
    d = p.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert VectorizeParams.from_dict({**d, "from_a_later_version": 1}) == p
    for bad in ({"threshold": 0}, {"min_length": -1}, {"epsilon": -0.1}, {"join_angle": 200}, {"max_gif_frames": 0}):
        with pytest.raises(StrokesError):
            VectorizeParams(**bad)


# --------------------------------------------------------------------------- acceptance on photo-like sketches


@pytest.mark.parametrize("make", [canny_sketch, pencil_sketch], ids=["canny", "pencil"])
def test_photo_sketch_rerenders_within_tolerance(make):
    sketch = make(scene())
    assert 0.005 < (sketch < 128).mean() < 0.2  # a line drawing, not blank or a blob
    s = vectorize(sketch)
    covered, extra = acceptance(sketch, s)
    assert covered >= 0.90
    assert extra <= 0.10


def test_noisy_photo_sketch_meets_acceptance():
    rng = np.random.default_rng(3)
    noisy = np.clip(scene(noise=0).astype(float) + rng.normal(0, 25, (600, 600)), 0, 255).astype(np.uint8)
    sketch = 255 - cv2.Canny(cv2.GaussianBlur(noisy, (5, 5), 1.2), 40, 100)  # many short edge fragments
    s = vectorize(sketch)
    assert len(s) > 100
    covered, extra = acceptance(sketch, s)
    assert covered >= 0.90 and extra <= 0.10


def test_vectorize_600px_is_fast():
    sketch = pencil_sketch(scene())
    vectorize(sketch)  # warm imports
    best = min(_timed(vectorize, sketch) for _ in range(2))
    assert best < 1.0


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


# --------------------------------------------------------------------------- simplify and order


def rdp_reference(points: np.ndarray, eps: float) -> np.ndarray:
    """Textbook recursive Ramer-Douglas-Peucker with distance to the segment."""
    if len(points) < 3:
        return points
    d = distance_to_polyline(points[1:-1], points[[0, -1]])
    i = int(np.argmax(d))
    if d[i] <= eps:
        return points[[0, -1]]
    left = rdp_reference(points[: i + 2], eps)
    right = rdp_reference(points[i + 1 :], eps)
    return np.vstack([left[:-1], right])


def test_simplify_matches_reference_rdp():
    rng = np.random.default_rng(0)
    for n in (3, 10, 57, 200):
        pts = np.cumsum(rng.normal(0, 2, (n, 2)), axis=0)
        for eps in (0.5, 1.0, 3.0):
            np.testing.assert_array_equal(simplify(pts, eps), rdp_reference(pts, eps))


def test_simplify_simple_cases():
    line = np.stack([np.arange(50.0), 0.5 * np.arange(50.0)], axis=1)
    np.testing.assert_array_equal(simplify(line, 1.0), line[[0, -1]])
    zigzag = np.array([(0, 0), (5, 3), (10, 0), (15, 3), (20, 0)], float)
    np.testing.assert_array_equal(simplify(zigzag, 1.0), zigzag)
    assert len(simplify(zigzag, 3.5)) == 2
    square = np.array([(0, 0), (5, 0), (10, 0), (10, 10), (0, 10), (0, 0)], float)  # a loop
    np.testing.assert_array_equal(simplify(square, 1.0), square[[0, 2, 3, 4, 5]])
    assert simplify(np.array([[3.0, 4.0]]), 1.0).shape == (1, 2)


def test_order_strokes_nearest_next_with_reversal():
    a = Stroke([(20, 0), (30, 0)], 2)
    b = Stroke([(10, 0), (0, 0)], 3)  # drawn backwards: its end is nearest the origin
    c = Stroke([(10, 1), (20, 1)], 4)
    out = order_strokes([a, b, c])
    assert [o.width for o in out] == [3, 4, 2]
    np.testing.assert_array_equal(out[0].points, [(0, 0), (10, 0)])
    np.testing.assert_array_equal(out[2].points, [(20, 0), (30, 0)])
    np.testing.assert_array_equal(b.points, [(10, 0), (0, 0)])  # input untouched


def test_order_strokes_beats_input_order_on_travel():
    rng = np.random.default_rng(1)
    strokes = [Stroke(rng.uniform(0, 500, (2, 2))) for _ in range(300)]

    def travel(seq):
        pen, total = np.zeros(2), 0.0
        for st in seq:
            total += math.dist(pen, st.points[0])
            pen = st.points[-1]
        return total

    out = order_strokes(strokes)
    assert len(out) == 300
    assert sorted(round(o.length, 6) for o in out) == sorted(round(s.length, 6) for s in strokes)
    assert travel(out) < 0.5 * travel(strokes)


# --------------------------------------------------------------------------- stroke-3 and files


def two_strokes() -> Strokes:
    return Strokes([Stroke([(1, 2), (4, 6)], 2.0), Stroke([(10, 10), (10, 12), (11, 12)], 3.5)], 20, 15, {"k": 1})


def test_to_stroke3_by_hand():
    expected = np.array([[1, 2, 0], [3, 4, 1], [6, 4, 0], [0, 2, 0], [1, 0, 1]], np.float32)
    s3 = to_stroke3(two_strokes())
    assert s3.dtype == np.float32
    np.testing.assert_array_equal(s3, expected)
    assert to_stroke3(Strokes([], 5, 5)).shape == (0, 3)


def test_from_stroke3_inverts_to_stroke3():
    back = from_stroke3(to_stroke3(two_strokes()), 20, 15, widths=[2.0, 3.5])
    assert [st.points.tolist() for st in back.strokes] == [[[1, 2], [4, 6]], [[10, 10], [10, 12], [11, 12]]]
    assert [st.width for st in back.strokes] == [2.0, 3.5]
    # points after the last pen lift still form a stroke
    tail = from_stroke3([[1, 1, 1], [2, 0, 0], [0, 3, 0]], 9, 9)
    assert [st.points.tolist() for st in tail.strokes] == [[[1, 1]], [[3, 1], [3, 4]]]
    with pytest.raises(StrokesError):
        from_stroke3(to_stroke3(two_strokes()), 20, 15, widths=[1.0])


def test_npz_round_trip(tmp_path):
    sketch = canny_sketch(scene(300, 300))
    s = vectorize(sketch)
    path = save_npz(s, tmp_path / "out" / "strokes.npz")
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert set(data.files) == {"format", "stroke3", "polylines", "offsets", "widths", "size", "params"}
        np.testing.assert_array_equal(data["stroke3"], to_stroke3(s))
        offsets = data["offsets"]
        assert offsets[0] == 0 and offsets[-1] == len(data["polylines"]) and len(offsets) == len(s) + 1
        assert data["size"].tolist() == [300, 300]
        assert json.loads(str(data["params"])) == VectorizeParams().to_dict()
    loaded = load_npz(path)
    assert (loaded.width, loaded.height, loaded.params) == (s.width, s.height, s.params)
    assert len(loaded) == len(s)
    for a, b in zip(loaded.strokes, s.strokes):
        np.testing.assert_allclose(a.points, b.points, atol=1e-4)
        assert a.width == pytest.approx(b.width, abs=1e-5)
    np.testing.assert_array_equal(render(loaded), render(s))


def test_load_npz_rejects_bad_files(tmp_path):
    with pytest.raises(StrokesFileError):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(StrokesFileError):
        load_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(StrokesFileError):
        load_npz(tmp_path / "other.npz")
    good = save_npz(two_strokes(), tmp_path / "good.npz")
    with np.load(good) as data:
        arrays = dict(data)
    arrays["offsets"] = np.array([0, 1, 9])  # past the end of the points
    np.savez(tmp_path / "bad_offsets.npz", **arrays)
    with pytest.raises(StrokesFileError):
        load_npz(tmp_path / "bad_offsets.npz")


# --------------------------------------------------------------------------- renderings


def test_svg_parses_with_one_path_per_stroke():
    s = two_strokes()
    root = ET.fromstring(to_svg(s))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.get("viewBox") == "0 0 20 15"
    assert root.find("svg:rect", ns).get("fill") == "white"
    group = root.find("svg:g", ns)
    assert group.get("stroke-linecap") == "round"
    paths = group.findall("svg:path", ns)
    assert len(paths) == 2
    assert [float(p.get("stroke-width")) for p in paths] == [2.0, 3.5]
    assert paths[1].get("d") == "M 10.5 10.5 L 10.5 12.5 L 11.5 12.5"  # pixel centres sit at +0.5 in SVG


def test_svg_of_a_real_sketch_parses():
    s = vectorize(pencil_sketch(scene(300, 300)))
    root = ET.fromstring(to_svg(s))
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) == len(s)


def test_render_draws_strokes_at_their_width():
    img = blank()
    img[98:103, 30:170] = 0  # 5 px band
    s = vectorize(img)
    out = render(s)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert set(np.unique(out)) <= {0, 255}  # no antialiasing
    column = out[:, 100] < 128
    assert abs(int(column.sum()) - 5) <= 1 and column[98:103].all()
    thin_out = render(s, line_width=1)
    assert (thin_out[:, 100] < 128).sum() == 1


def test_render_scales_to_another_size():
    s = Strokes([Stroke([(10, 10), (50, 10)], 1)], 100, 50)
    out = render(s, width=200, height=100)
    assert out.shape == (100, 200)
    rows = np.flatnonzero((out < 128).any(axis=1))
    cols = np.flatnonzero((out < 128).any(axis=0))
    assert rows.min() >= 20 and rows.max() <= 22  # y 10 -> 20.5
    assert cols.min() in (20, 21) and cols.max() in (100, 101)


def test_render_frames_build_up_to_the_full_drawing():
    s = vectorize(pencil_sketch(scene(300, 300)))
    assert len(s) >= 3
    frames = render_frames(s, max_frames=3)
    assert len(frames) == 3
    for before, after in zip(frames, frames[1:]):
        assert np.all((after < 128) >= (before < 128))  # ink only ever added
        assert (after < 128).sum() > (before < 128).sum()
    np.testing.assert_array_equal(frames[-1], render(s))
    assert len(render_frames(s, max_frames=1000)) == len(s)  # one stroke per frame when few strokes
    assert len(render_frames(Strokes([], 10, 10), 5)) == 1


def test_gif_animates_and_ends_on_the_full_drawing(tmp_path):
    s = vectorize(pencil_sketch(scene(300, 300)))
    path = save_gif(s, tmp_path / "draw.gif", max_frames=4, duration_ms=50)
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert 2 <= im.n_frames <= 4
        assert im.info.get("loop") == 0
        assert im.mode == "P"
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("L"))
    np.testing.assert_array_equal(last, render(s))


def test_save_vector_png_matches_render(tmp_path):
    s = two_strokes()
    path = save_vector_png(s, tmp_path / "vec.png")
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), render(s))
    # OpenCV's default PNG settings, as every vector.png written so far: the bytes must not change
    assert path.read_bytes() == cv2.imencode(".png", render(s))[1].tobytes()


def test_stroke_files_in_both_layouts(tmp_path):
    """Per-kind folders named after the sketch (CLI) and fixed names in one folder (a sweep cell): same bytes."""
    s = vectorize(pencil_sketch(scene(120, 160)))
    by_kind = write_stroke_files(s, tmp_path / "out", "cat")
    assert {k: p.relative_to(tmp_path / "out").as_posix() for k, p in by_kind.items()} == {
        "npz_path": "seq_data/cat.npz", "svg_path": "svg/cat.svg", "gif_path": "gif/cat.gif",
        "vector_path": "vector/cat.png"}
    in_cell = write_stroke_files(s, tmp_path / "cell")
    assert {k: p.name for k, p in in_cell.items()} == {
        "npz_path": "strokes.npz", "svg_path": "strokes.svg", "gif_path": "strokes.gif", "vector_path": "vector.png"}
    assert list(in_cell) == list(by_kind) == list(stroke_file_paths(tmp_path))
    for key in by_kind:
        assert by_kind[key].read_bytes() == in_cell[key].read_bytes(), key
    assert len(load_npz(in_cell["npz_path"])) == len(s)
    assert in_cell["svg_path"].read_text() == to_svg(s)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
def test_demo_photo_sketches_rerender_within_tolerance(photo):
    """The demo Sketch Net's saved sketches of real photos (what --vec_switch vectorises) meet the acceptance."""
    from skimage import data

    from core.demo import DEMO_WEIGHTS
    from core.models.checkpoints import load_checkpoint
    from core.pipeline.seed import SeedSettings, run_seed, saved_sketch

    net = load_checkpoint(DEMO_WEIGHTS / "SketchNet_stage2.safetensors").build()
    rgb = getattr(data, photo)()
    sketch = saved_sketch(run_seed(rgb, SeedSettings(side=424, background=False), net).sketch, 600)
    assert (sketch < 128).mean() > 0.01  # real line work, not a blank page
    covered, extra = acceptance(sketch, vectorize(sketch))
    assert covered >= 0.90
    assert extra <= 0.10
