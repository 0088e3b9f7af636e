"""Classical image-to-sketch methods run as baselines next to the checkpoints.

Each baseline turns a uint8 RGB ``HxWx3`` image into a uint8 grayscale sketch
of the same ``HxW`` (0 = ink, 255 = paper), like the Sketch Net's output, so
its results can be scored and stored the same way. Every baseline has a
canonical parameter dict (defaults merged with overrides, validated), so a
result can be recorded with the exact parameters that made it.

* ``canny``  - Canny edges (OpenCV), inverted to black ink on white paper.
* ``xdog``   - eXtended Difference of Gaussians (Winnemöller et al., 2012),
  in its ``tau`` form with a soft ``tanh`` threshold.
* ``pencil`` - OpenCV's ``cv2.pencilSketch`` (domain-transform filter), gray output, with
  OpenCV's own defaults. It shades texture and soft edges; on perfectly sharp
  one-pixel steps (unblurred synthetic images) it draws almost nothing.

All functions are pure and deterministic: no randomness, no global state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from core.errors import BaselineError


@dataclass(frozen=True)
class Param:
    """One baseline parameter: its type, default and inclusive valid range."""

    kind: type  # int or float
    default: float | int
    low: float
    high: float
    help: str = ""

    def check(self, baseline: str, name: str, value: Any) -> float | int:
        """Return ``value`` coerced to this parameter's type, or raise BaselineError saying the valid range."""
        # bool is an int subclass; True/False as a threshold is always a mistake
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise BaselineError(
                f"{baseline}.{name} must be a number in [{self.low}, {self.high}], got {value!r}"
            )
        if self.kind is int:
            if float(value) != int(value):
                raise BaselineError(f"{baseline}.{name} must be a whole number in [{self.low}, {self.high}], got {value!r}")
            coerced: float | int = int(value)
        else:
            coerced = float(value)
        if not np.isfinite(coerced) or not (self.low <= coerced <= self.high):
            raise BaselineError(f"{baseline}.{name} must be in [{self.low}, {self.high}], got {value!r}")
        return coerced


@dataclass(frozen=True)
class Baseline:
    """A classical sketch method: its name, what it does, its parameters and the function that runs it."""

    name: str
    description: str
    params: Mapping[str, Param]
    run: Callable[[np.ndarray, dict], np.ndarray] = field(repr=False)
    # cross-parameter rule, e.g. canny's low <= high; returns an error message or None
    check: Callable[[dict], str | None] | None = field(default=None, repr=False)

    @property
    def defaults(self) -> dict:
        """Return the default parameter dict."""
        return {k: p.default for k, p in self.params.items()}


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Return the uint8 luminance of an RGB image."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _run_canny(rgb: np.ndarray, p: dict) -> np.ndarray:
    """Canny edges inverted to ink on paper."""
    gray = _gray(rgb)
    if p["blur_sigma"] > 0:
        # smoothing first keeps Canny from tracing sensor noise and JPEG blocks
        gray = cv2.GaussianBlur(gray, (0, 0), p["blur_sigma"])
    edges = cv2.Canny(gray, p["low"], p["high"], L2gradient=True)
    return (255 - edges).astype(np.uint8)


def _run_xdog(rgb: np.ndarray, p: dict) -> np.ndarray:
    """XDoG: D = G_sigma - tau * G_{k*sigma}; white where D >= epsilon, else 1 + tanh(phi * (D - epsilon))."""
    gray = _gray(rgb).astype(np.float32) / 255.0
    g1 = cv2.GaussianBlur(gray, (0, 0), p["sigma"])
    g2 = cv2.GaussianBlur(gray, (0, 0), p["sigma"] * p["k"])
    d = g1 - p["tau"] * g2
    out = np.where(d >= p["epsilon"], 1.0, 1.0 + np.tanh(p["phi"] * (d - p["epsilon"])))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _run_pencil(rgb: np.ndarray, p: dict) -> np.ndarray:
    """OpenCV's pencil sketch, gray variant."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    gray, _colour = cv2.pencilSketch(bgr, sigma_s=p["sigma_s"], sigma_r=p["sigma_r"], shade_factor=p["shade_factor"])
    return gray.astype(np.uint8)


def _check_canny(p: dict) -> str | None:
    """Canny's hysteresis needs the low threshold at or below the high one."""
    if p["low"] > p["high"]:
        return f"canny.low ({p['low']}) must not exceed canny.high ({p['high']})"
    return None


BASELINES: dict[str, Baseline] = {
    "canny": Baseline(
        name="canny",
        description="Canny edge detector (OpenCV, L2 gradient) after a Gaussian blur; edges drawn black on white.",
        params={
            "low": Param(int, 50, 0, 1000, "hysteresis low threshold on the gradient magnitude"),
            "high": Param(int, 150, 0, 1000, "hysteresis high threshold on the gradient magnitude"),
            "blur_sigma": Param(float, 1.0, 0.0, 20.0, "Gaussian blur sigma before edge detection (0 = none)"),
        },
        run=_run_canny,
        check=_check_canny,
    ),
    "xdog": Baseline(
        name="xdog",
        description="eXtended Difference of Gaussians (Winnemöller et al. 2012), tau form with tanh soft threshold.",
        params={
            "sigma": Param(float, 0.8, 0.1, 20.0, "inner Gaussian sigma (line scale)"),
            "k": Param(float, 1.6, 1.01, 10.0, "ratio of the outer to the inner sigma"),
            "tau": Param(float, 0.98, 0.5, 1.0, "weight of the outer Gaussian (closer to 1 = fewer, cleaner lines)"),
            "epsilon": Param(float, -0.005, -1.0, 1.0, "threshold on the difference of Gaussians (image scaled to 0..1)"),
            "phi": Param(float, 200.0, 0.1, 10000.0, "steepness of the tanh ramp (large = hard black/white)"),
        },
        run=_run_xdog,
    ),
    "pencil": Baseline(
        name="pencil",
        description="OpenCV cv2.pencilSketch (edge-preserving domain transform), grayscale output.",
        params={
            "sigma_s": Param(float, 60.0, 0.0, 200.0, "spatial extent of the edge-preserving filter"),
            "sigma_r": Param(float, 0.07, 0.0, 1.0, "range (colour) sensitivity of the filter"),
            "shade_factor": Param(float, 0.02, 0.0, 0.1, "how much paper shading is added"),
        },
        run=_run_pencil,
    ),
}


def get_baseline(name: str) -> Baseline:
    """Return the registered baseline called ``name``, or raise BaselineError listing the valid names."""
    try:
        return BASELINES[name]
    except (KeyError, TypeError):
        raise BaselineError(f"unknown baseline {name!r}; choose one of: {', '.join(sorted(BASELINES))}") from None


def baseline_params(name: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """Return the full canonical parameter dict for ``name``: defaults merged with ``overrides``, validated.

    Raises:
        BaselineError: unknown baseline, unknown parameter (the valid ones are listed),
            a value of the wrong type or out of range, or an inconsistent combination.
    """
    baseline = get_baseline(name)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(baseline.params))
    if unknown:
        raise BaselineError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for baseline {name!r}; "
            f"valid parameters: {', '.join(baseline.params)}"
        )
    merged = baseline.defaults | overrides
    # keys in the registry's order so the dict (and any JSON of it) is canonical
    params = {k: baseline.params[k].check(name, k, merged[k]) for k in baseline.params}
    if baseline.check is not None and (problem := baseline.check(params)):
        raise BaselineError(problem)
    return params


def baseline_key(name: str, params: Mapping[str, Any] | None = None) -> str:
    """Return a stable identifier like ``baseline:canny@1a2b3c4d5e6f`` for a baseline and its canonical parameters.

    Two calls with equal canonical parameters (e.g. defaults given explicitly or
    left out) return the same key, so stored results can be matched up.
    """
    canon = baseline_params(name, params)
    digest = hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:12]
    return f"baseline:{name}@{digest}"


def run_baseline(name: str, rgb: np.ndarray, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Run baseline ``name`` on a uint8 RGB image; return a uint8 ``HxW`` sketch (0 = ink, 255 = paper).

    A 2-D uint8 grayscale image is accepted too and treated as gray RGB.

    Raises:
        BaselineError: unknown baseline or parameter, invalid value, or an image that is
            not uint8 ``HxWx3`` / ``HxW``.
    """
    canon = baseline_params(name, params)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise BaselineError(f"baseline input must be uint8 RGB, got dtype {rgb.dtype}; convert with np.clip(...).astype(np.uint8)")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise BaselineError(f"baseline input must be HxWx3 RGB (or HxW gray), got shape {rgb.shape}; drop alpha first")
    sketch = BASELINES[name].run(np.ascontiguousarray(rgb), canon)
    # every baseline promises the same contract as the Sketch Net's output
    assert sketch.shape == rgb.shape[:2] and sketch.dtype == np.uint8
    return sketch
