"""Tests for core.sketch.metrics on hand-computable drawings."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from core.errors import SketchFormatError
from core.sketch.ink import ink_mask
from core.sketch.metric_names import METRIC_DESCRIPTIONS, METRIC_NAMES
from core.sketch.metrics import (
    chamfer_distance,
    edge_prf,
    fragmentation,
    ink_coverage,
    line_width,
    match_size,
    sketch_metrics,
    ssim,
    stroke_stats,
)
from core.sketch.strokes import Stroke, Strokes


def blank(h: int = 60, w: int = 60) -> np.ndarray:
    return np.full((h, w), 255, np.uint8)


def vline(x: int, h: int = 60, w: int = 60, y0: int = 10, y1: int = 50, width: int = 1) -> np.ndarray:
    img = blank(h, w)
    img[y0:y1, x : x + width] = 0
    return img


# --------------------------------------------------------------------------- ink statistics


def test_ink_mask_threshold():
    img = np.array([[0, 127, 128, 255]], np.uint8)
    assert ink_mask(img).tolist() == [[True, True, False, False]]
    assert ink_mask(img, threshold=200).tolist() == [[True, True, True, False]]


def test_ink_coverage_of_20_pixels_in_100():
    img = np.full((10, 10), 255, np.uint8)
    img.flat[::5] = 0  # 20 scattered ink pixels
    assert ink_coverage(img) == pytest.approx(0.2)
    assert ink_coverage(blank()) == 0.0


def test_fragmentation_counts_pieces_per_1000_ink_pixels():
    img = blank()
    img[5:10, 5:10] = 0  # 25 px
    img[30:33, 40:45] = 0  # 15 px
    assert fragmentation(img) == pytest.approx(2 / 40 * 1000)
    img[10, 10] = 0  # touches the first blob diagonally: 8-connected, still 2 pieces
    assert fragmentation(img) == pytest.approx(2 / 41 * 1000)
    assert fragmentation(blank()) == 0.0


@pytest.mark.parametrize("width", [1, 3, 5, 7])
def test_line_width_of_a_straight_band(width):
    # odd widths: the centre line is the middle column, and the estimate is exact up to the line ends
    assert line_width(vline(20, width=width)) == pytest.approx(width, abs=0.25)
    # even widths read about 1 px thin (documented): the centre line sits on one of the two middle columns
    assert width - 0.2 <= line_width(vline(20, width=width + 1)) <= width + 0.25


def test_line_width_of_a_diagonal_and_no_ink():
    img = blank(100, 100)
    cv2.line(img, (10, 10), (90, 80), 0, 2)  # OpenCV draws thickness 2 about 3 px wide
    area_per_length = (img < 128).sum() / math.hypot(80, 70)
    assert line_width(img) == pytest.approx(area_per_length, abs=1)
    assert line_width(blank()) == 0.0


def test_stroke_stats():
    s = Strokes([Stroke([(0, 0), (3, 4)]), Stroke([(0, 0), (0, 10), (5, 10)])], 20, 20)
    assert stroke_stats(s) == {"strokes": 2, "total_length": 20.0, "mean_length": 10.0}
    assert stroke_stats(Strokes([], 5, 5)) == {"strokes": 0, "total_length": 0.0, "mean_length": 0.0}


@pytest.mark.parametrize("bad", [np.zeros((5, 5), np.float64), np.zeros((5, 5, 3), np.uint8), np.zeros(5, np.uint8)])
def test_bad_input_raises(bad):
    with pytest.raises(SketchFormatError):
        ink_coverage(bad)


# --------------------------------------------------------------------------- against a reference


def test_identical_drawings_agree_perfectly():
    img = blank()
    cv2.circle(img, (30, 30), 15, 0, 2)
    cv2.line(img, (5, 55), (55, 40), 0, 1)
    assert edge_prf(img, img) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert chamfer_distance(img, img) == 0.0
    assert ssim(img, img) == pytest.approx(1.0)


def test_one_pixel_shift_matches_within_tolerance():
    prf = edge_prf(vline(20), vline(21), tolerance=2.0)
    assert prf == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_five_pixel_shift_does_not_match_at_tolerance_2():
    prf = edge_prf(vline(20), vline(25), tolerance=2.0)
    assert prf == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert edge_prf(vline(20), vline(25), tolerance=5.0)["f1"] == 1.0


def test_matching_is_one_to_one():
    # 40 predicted pixels against two reference lines (80 pixels) within reach: each
    # prediction pixel may match only one reference pixel, so recall stops at one half.
    ref = vline(19)
    ref[10:50, 21] = 0
    prf = edge_prf(vline(20), ref, tolerance=1.0)
    assert prf["precision"] == 1.0
    assert prf["recall"] == pytest.approx(0.5)
    assert prf["f1"] == pytest.approx(2 * 0.5 / 1.5)


def test_matching_is_maximum_not_greedy():
    # ref X at column 0, Y at column 3; pred A at column 2, B at column 5. Nearest-first greedy
    # pairs A with Y (1 px) and strands B; the maximum matching pairs A-X and B-Y (2 px each).
    pred, ref = blank(5, 9), blank(5, 9)
    pred[2, 2] = pred[2, 5] = 0
    ref[2, 0] = ref[2, 3] = 0
    assert edge_prf(pred, ref, tolerance=2.0) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert edge_prf(pred, ref, tolerance=1.0)["precision"] == 0.5  # now only A-Y is in reach


def test_partial_overlap_precision_and_recall():
    pred = vline(20, y0=10, y1=50)  # 40 px
    ref = vline(20, y0=10, y1=30)  # 20 px, all inside pred's reach
    prf = edge_prf(pred, ref, tolerance=2.0)
    # pred pixels y 10..31 lie within 2 px of ref (y 10..29): 20 matches at most, one per ref pixel
    assert prf["recall"] == 1.0
    assert prf["precision"] == pytest.approx(20 / 40)


def test_chamfer_of_a_line_shifted_by_3():
    assert chamfer_distance(vline(20), vline(23)) == pytest.approx(3.0)


def test_chamfer_is_symmetric_average():
    # ref: pred's line plus a far line 10 px away -> pred->ref 0, ref->pred mean (0 * 40 + 10 * 40) / 80 = 5
    ref = vline(20)
    ref[10:50, 30] = 0
    assert chamfer_distance(vline(20), ref) == pytest.approx(0.5 * (0 + 5.0))
    assert chamfer_distance(ref, vline(20)) == pytest.approx(2.5)


def test_empty_cases():
    empty = blank()
    line = vline(20)
    assert edge_prf(empty, empty) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert edge_prf(empty, line) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert edge_prf(line, empty) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert chamfer_distance(empty, empty) == 0.0
    assert chamfer_distance(empty, line) == pytest.approx(math.hypot(60, 60))
    assert chamfer_distance(line, empty) == pytest.approx(math.hypot(60, 60))
    assert ssim(empty, empty) == pytest.approx(1.0)


def test_ssim_drops_for_different_drawings():
    assert ssim(vline(20, width=3), vline(40, width=3)) < 0.9
    assert ssim(blank(4, 4), blank(4, 4)) == pytest.approx(1.0)  # small images use a smaller window


def test_prediction_is_resized_to_the_reference():
    ref = vline(20, width=2)
    pred = cv2.resize(ref, (120, 120), interpolation=cv2.INTER_NEAREST)  # same drawing at twice the size
    assert match_size(pred, ref).shape == ref.shape
    np.testing.assert_array_equal(match_size(pred, ref), ref)  # INTER_AREA halves a 2x nearest upscale exactly
    assert edge_prf(pred, ref)["f1"] == 1.0
    assert chamfer_distance(pred, ref) == 0.0


# --------------------------------------------------------------------------- combined


def test_sketch_metrics_keys_follow_metric_names():
    img = vline(20, width=3)
    strokes = Strokes([Stroke([(21, 10), (21, 49)], 3)], 60, 60)
    basic = sketch_metrics(img)
    assert list(basic) == ["ink_coverage", "fragmentation", "line_width"]
    full = sketch_metrics(img, strokes=strokes, reference=vline(22, width=3))
    assert list(full) == list(METRIC_NAMES)
    assert all(isinstance(v, float) for v in full.values())
    assert full["ink_coverage"] == pytest.approx(120 / 3600)
    assert full["strokes"] == 1.0 and full["stroke_length_total"] == pytest.approx(39.0)
    # columns 20-22 against 22-24: distances 2, 1, 0 both ways -> mean 1
    assert full["edge_f1"] == 1.0 and full["chamfer"] == pytest.approx(1.0)
    only_ref = sketch_metrics(img, reference=img)
    assert "strokes" not in only_ref and only_ref["chamfer"] == 0.0


def test_every_metric_is_described():
    assert set(METRIC_DESCRIPTIONS) == set(METRIC_NAMES)
    assert all(isinstance(d, str) and d for d in METRIC_DESCRIPTIONS.values())


def test_store_columns_are_the_metric_names_and_stay_light():
    """The store's metric columns come from the one list, and importing it loads no image library."""
    import subprocess
    import sys

    from core.store.schema import METRIC_COLUMNS

    assert METRIC_COLUMNS == METRIC_NAMES
    # the column order of existing stores: append new metrics, never reorder
    assert " ".join(METRIC_NAMES) == ("ink_coverage fragmentation line_width strokes stroke_length_total "
                                      "stroke_length_mean edge_precision edge_recall edge_f1 chamfer ssim")
    code = "import sys, core.store.store; print(sorted(m for m in ('cv2', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_disagreement_is_the_mean_pairwise_difference():
    from core.sketch.metrics import disagreement

    white = np.full((10, 10), 255, np.uint8)
    black = np.zeros((20, 20), np.uint8)  # another size: compared after resizing
    assert disagreement([white, white]) == 0.0
    assert disagreement([white, black]) == pytest.approx(1.0)
    # pairs: (w, w) 0, (w, b) 1, (w, b) 1 -> mean 2/3
    assert disagreement([white, white, black]) == pytest.approx(2 / 3)
    assert disagreement([white]) == 0.0
