"""Tests for core.pipeline.baselines: the classical sketch methods and their parameter validation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import BaselineError
from core.pipeline.baselines import BASELINES, baseline_key, baseline_params, run_baseline


def _square_scene(size: int = 128, lo: int = 40, hi: int = 88) -> np.ndarray:
    """White RGB canvas with a filled dark-blue square; its edges are the only structure.

    The edges are softened like a camera's: cv2.pencilSketch draws nothing on
    perfectly sharp one-pixel steps.
    """
    rgb = np.full((size, size, 3), 255, np.uint8)
    rgb[lo:hi, lo:hi] = (20, 30, 90)
    return cv2.GaussianBlur(rgb, (0, 0), 1.5)


def _edge_band(size: int = 128, lo: int = 40, hi: int = 88, width: int = 3) -> np.ndarray:
    """Boolean mask of pixels within ``width`` of the square's border."""
    square = np.zeros((size, size), np.uint8)
    square[lo:hi, lo:hi] = 255
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.dilate(square, kernel) > 0) & ~(cv2.erode(square, kernel) > 0)


def test_registry_has_the_three_baselines_with_documented_defaults():
    assert set(BASELINES) == {"canny", "xdog", "pencil"}
    assert set(BASELINES["canny"].defaults) == {"low", "high", "blur_sigma"}
    assert set(BASELINES["xdog"].defaults) == {"sigma", "k", "tau", "epsilon", "phi"}
    assert set(BASELINES["pencil"].defaults) == {"sigma_s", "sigma_r", "shade_factor"}
    for b in BASELINES.values():
        assert b.description and all(p.help for p in b.params.values())


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_output_is_uint8_gray_same_size(name):
    rgb = _square_scene()[:, :100]  # non-square, to catch swapped axes
    out = run_baseline(name, rgb)
    assert out.dtype == np.uint8 and out.shape == (128, 100)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_ink_lies_on_the_objects_edges(name):
    rgb = _square_scene()
    out = run_baseline(name, rgb).astype(float)
    band = _edge_band()
    far_paper = np.zeros_like(band)
    far_paper[:20, :] = True  # plain white, 20 px from the square
    # pencilSketch draws soft gray strokes where the line methods draw black
    dark, contrast = (235, 5) if name == "pencil" else (100, 40)
    # every side of the square gets ink, not just one lucky edge
    for side in (out[36:45, 50:78], out[83:92, 50:78], out[50:78, 36:45], out[50:78, 83:92]):
        assert side.min() < dark, name
    assert out[band].mean() < out[far_paper].mean() - contrast, name
    assert (out[far_paper] == 255).all(), name


@pytest.mark.parametrize("name", ["canny", "xdog"])
def test_line_baselines_leave_flat_areas_as_paper(name):
    out = run_baseline(name, _square_scene())
    band = _edge_band(width=4)
    assert (out[~band] == 255).mean() > 0.99


def test_canny_is_black_edges_on_white():
    out = run_baseline("canny", _square_scene())
    assert set(np.unique(out)) == {0, 255}
    assert (out == 255).mean() > 0.9  # inverted: paper dominates


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_deterministic(name):
    rng = np.random.default_rng(3)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), (0, 0), 2)
    assert np.array_equal(run_baseline(name, rgb), run_baseline(name, rgb.copy()))


def test_parameters_change_the_output():
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8), (0, 0), 1.5)
    loose = (run_baseline("canny", rgb, {"low": 5, "high": 20}) == 0).sum()
    strict = (run_baseline("canny", rgb, {"low": 200, "high": 600}) == 0).sum()
    assert loose > strict
    a = run_baseline("xdog", rgb, {"sigma": 0.5})
    b = run_baseline("xdog", rgb, {"sigma": 3.0})
    assert not np.array_equal(a, b)


def test_gray_input_is_accepted_as_gray_rgb():
    rgb = _square_scene()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.array_equal(run_baseline("canny", gray), run_baseline("canny", np.dstack([gray] * 3)))


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((8,), np.uint8)])
def test_bad_images_are_rejected(bad):
    with pytest.raises(BaselineError):
        run_baseline("canny", bad)


def test_baseline_params_merges_and_is_canonical():
    assert baseline_params("canny") == {"low": 50, "high": 150, "blur_sigma": 1.0}
    p = baseline_params("canny", {"low": 30.0, "blur_sigma": 2})
    assert p == {"low": 30, "high": 150, "blur_sigma": 2.0}
    assert isinstance(p["low"], int) and isinstance(p["blur_sigma"], float)
    assert list(baseline_params("xdog", {"phi": 10})) == ["sigma", "k", "tau", "epsilon", "phi"]


def test_unknown_baseline_lists_valid_names():
    with pytest.raises(BaselineError, match="canny, pencil, xdog"):
        baseline_params("sobel")
    with pytest.raises(BaselineError, match="canny, pencil, xdog"):
        run_baseline("sobel", _square_scene())


def test_unknown_parameter_lists_valid_parameters():
    with pytest.raises(BaselineError, match="'threshold'.*valid parameters: low, high, blur_sigma"):
        baseline_params("canny", {"threshold": 3})


@pytest.mark.parametrize(
    "name,overrides,fragment",
    [
        ("canny", {"low": -1}, r"canny.low must be in \[0, 1000\]"),
        ("canny", {"low": 10.5}, "whole number"),
        ("canny", {"low": True}, "must be a number"),
        ("canny", {"high": "150"}, "must be a number"),
        ("canny", {"low": 200, "high": 100}, "must not exceed"),
        ("xdog", {"k": 1.0}, r"xdog.k must be in"),
        ("xdog", {"sigma": float("nan")}, r"xdog.sigma must be in"),
        ("pencil", {"sigma_r": 2.0}, r"pencil.sigma_r must be in \[0.0, 1.0\]"),
    ],
)
def test_invalid_values_say_the_valid_range(name, overrides, fragment):
    with pytest.raises(BaselineError, match=fragment):
        baseline_params(name, overrides)


def test_baseline_key_identifies_canonical_parameters():
    assert baseline_key("canny") == baseline_key("canny", {"low": 50, "high": 150.0})
    assert baseline_key("canny") != baseline_key("canny", {"low": 60})
    assert baseline_key("xdog").startswith("baseline:xdog@")
