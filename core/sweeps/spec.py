"""The sweep spec: one strict model that the CLI flags, TOML files, the app's form and resume all build.

A :class:`SweepSpec` names the axes of a sweep (test sets, checkpoints,
baselines, resolutions, mask modes, softctr values, gamma, merge, profile,
precision) and its fixed settings (device, vectorize, max pixels, name, note).
Every list is an axis; the cells are their product.

Validation is strict and says what is wrong in one line that names the key:
``gammas = ["false"]`` is refused (it is a string, not a boolean), so are
``vectorize = "no"``, ``resolutions = "big"`` and unknown keys. A single value
where a list is expected is a one-element list (``resolutions = 424``); a
string is never split into characters (``images = "dir"``).

:meth:`SweepSpec.canonical` and :meth:`SweepSpec.spec_hash` are the sweep's
identity in the store: the same axes give the same sweep (resumed, not
duplicated). Their form must never change, or stores made before would lose
their sweeps (``tests/test_sweeps.py`` pins known hashes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import SpecError

__all__ = [
    "PROFILES",
    "SweepSpec",
    "build_spec",
    "parse_baseline_params",
    "parse_number",
    "read_spec_json",
    "read_spec_toml",
    "spec_from_record",
]

PROFILES = ("seed",)
# Where the spec being built comes from, for its refusals: set by build_spec around the validation.
_SOURCE: ContextVar[tuple[str, Mapping[str, str]]] = ContextVar("sweep_spec_source", default=("", {}))
MIN_SIDE, MAX_SIDE = 16, 4096
DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
# Axes (and path lists) that take a list; a single value is a one-element list.
LIST_FIELDS = ("images", "sketch_checkpoints", "mask_checkpoints", "baselines", "resolutions", "mask_modes",
               "softctrs", "gammas", "merges", "profiles", "precisions")
PATH_FIELDS = ("images", "sketch_checkpoints", "mask_checkpoints")
# Axes that are sorted and de-duplicated in the canonical form (the path axes are resolved too).
AXES = ("baselines", "resolutions", "mask_modes", "softctrs", "gammas", "merges", "profiles", "precisions")
# What each key expects, as the one-line refusal says it.
EXPECTED = {
    "images": "a test set folder or image path",
    "sketch_checkpoints": "a Sketch Net checkpoint path",
    "mask_checkpoints": "a Mask Net checkpoint path or \"none\" (background off)",
    "baselines": "a baseline name (canny, xdog, pencil)",
    "baseline_params": "a table of parameter tables, e.g. {canny = {low = 50}}",
    "resolutions": f"a whole number of pixels between {MIN_SIDE} and {MAX_SIDE}, e.g. 424",
    "mask_modes": "soft or hard",
    "softctrs": "a number in [0, 1]",
    "gammas": "true or false",
    "merges": "true or false",
    "profiles": "seed",
    "precisions": "fp32, fp16 or bf16",
    "device": "auto, cpu, cuda or cuda:N",
    "vectorize": "true or false",
    "name": "a string",
    "note": "a string",
    "max_pixels": "a positive whole number",
}


class SweepSpec(BaseModel):
    """The axes of a sweep. Every list is an axis; cells are their product.

    Built by keyword (``SweepSpec(images=[...], sketch_checkpoints=[...])``) or
    by :func:`build_spec`; an invalid value raises :class:`core.errors.SpecError`
    with one line naming the key. Frozen: a spec is an identity.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    images: list[str]
    sketch_checkpoints: list[str] = Field(default_factory=list)
    mask_checkpoints: list[str | None] = Field(default_factory=lambda: [None])  # None = background off
    baselines: list[str] = Field(default_factory=list)
    baseline_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    resolutions: list[int] = Field(default_factory=lambda: [424])
    mask_modes: list[str] = Field(default_factory=lambda: ["soft"])
    # int or float as given: the spec hash of a stored sweep keeps the type it was made with.
    softctrs: list[int | float] = Field(default_factory=lambda: [0.5])
    gammas: list[bool] = Field(default_factory=lambda: [True])
    merges: list[bool] = Field(default_factory=lambda: [False])
    profiles: list[str] = Field(default_factory=lambda: ["seed"])
    precisions: list[str] = Field(default_factory=lambda: ["fp32"])
    device: str = "auto"
    vectorize: bool = False
    name: str = ""
    note: str = ""
    max_pixels: int = 50_000_000

    def __init__(self, /, **data: Any) -> None:
        # pydantic validates through this __init__ (model_validate too): every refusal is one SpecError line.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise SpecError(describe_error(exc, *_SOURCE.get())) from None

    # ------------------------------------------------------------------ shapes

    @field_validator(*LIST_FIELDS, mode="before")
    @classmethod
    def _as_list(cls, value: Any, info) -> Any:
        """One value is a one-element list; a string is one value, never its characters."""
        if isinstance(value, (tuple, set, frozenset)):
            value = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        elif not isinstance(value, list):
            value = [value]
        if info.field_name in PATH_FIELDS:
            value = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        if info.field_name == "mask_checkpoints":
            value = [None if v is None or (isinstance(v, str) and v.strip().lower() in ("", "none")) else v
                     for v in value]
        return value

    # ------------------------------------------------------------------ values

    @field_validator("resolutions")
    @classmethod
    def _sides(cls, value: list[int]) -> list[int]:
        for side in value:
            if not MIN_SIDE <= side <= MAX_SIDE:
                raise ValueError(f"{side} is not a side in pixels between {MIN_SIDE} and {MAX_SIDE} (e.g. 424)")
        return value

    @field_validator("softctrs")
    @classmethod
    def _softctrs(cls, value: list) -> list:
        for softctr in value:
            if not 0.0 <= softctr <= 1.0:
                raise ValueError(f"{softctr!r} is not in [0, 1]")
        return value

    @field_validator("mask_modes", "profiles", "precisions")
    @classmethod
    def _names(cls, value: list[str], info) -> list[str]:
        """Each value is one of the names the axis knows."""
        from core.models.devices import PRECISIONS
        from core.pipeline.seed import MASK_MODES

        allowed = {"mask_modes": MASK_MODES, "profiles": PROFILES, "precisions": PRECISIONS}[info.field_name]
        for name in value:
            if name not in allowed:
                raise ValueError(f"{name!r} is not one of {', '.join(allowed)}")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        # Checked as resolve_device reads it; kept as given, since the spec hash includes it.
        if not DEVICE.match(value.strip().lower()):
            raise ValueError(f"{value!r} is not auto, cpu, cuda or cuda:N")
        return value

    @field_validator("max_pixels")
    @classmethod
    def _max_pixels(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"{value} is not a positive whole number")
        return value

    @field_validator("baselines")
    @classmethod
    def _baseline_names(cls, value: list[str]) -> list[str]:
        from core.pipeline.baselines import get_baseline

        for name in value:
            _baseline_checked(get_baseline, name)
        return value

    @field_validator("baseline_params")
    @classmethod
    def _baseline_params(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from core.pipeline.baselines import baseline_params

        for name, params in value.items():
            _baseline_checked(baseline_params, name, params)
        return value

    # ------------------------------------------------------------------ identity

    def canonical(self) -> dict:
        """The spec as a JSON-ready dict with absolute paths and sorted, de-duplicated axes."""
        d = self.model_dump()
        d["images"] = sorted({str(Path(p).resolve()) for p in self.images})
        d["sketch_checkpoints"] = sorted({str(Path(p).resolve()) for p in self.sketch_checkpoints})
        d["mask_checkpoints"] = sorted({str(Path(p).resolve()) if p else "" for p in self.mask_checkpoints})
        for axis in AXES:
            d[axis] = sorted(set(d[axis]), key=str)
        return d

    def spec_hash(self) -> str:
        """Identity of the sweep: the same axes give the same sweep (resumed, not duplicated)."""
        d = self.canonical()
        for k in ("name", "note"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _baseline_checked(check, *args) -> None:
    """Run a baseline check; its BaselineError becomes the ValueError pydantic reports under the key."""
    from core.errors import BaselineError

    try:
        check(*args)
    except BaselineError as exc:
        raise ValueError(str(exc)) from None


# --------------------------------------------------------------------------- building and refusing


def describe_error(exc: ValidationError, where: str = "", names: Mapping[str, str] | None = None) -> str:
    """The one line that names the first wrong key and what it expects.

    Args:
        exc: pydantic's errors for a spec.
        where: a prefix naming the source, e.g. ``"sweep file s.toml: "``.
        names: how the source spells a key (e.g. ``{"resolutions": "--resolution"}`` for flags).
    """
    names = names or {}
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # unknown keys explain the rest
    err = errors[0]
    key = str(err["loc"][0]) if err["loc"] else ""
    if err["type"] == "extra_forbidden":
        known = ", ".join(sorted(SweepSpec.model_fields))
        return f"{where}unknown key {key!r}; known keys: {known}"
    label = names.get(key, f"{where}{key}")
    if err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
        return message if not key else f"{label}: {message}"
    if err["type"] == "missing":
        return f"{label}: required ({EXPECTED.get(key, 'a value')})"
    several = " (or a list of them)" if key in LIST_FIELDS else ""
    return f"{label}: expected {EXPECTED.get(key, 'another value')}{several}; got {_shown(err['input'])}"


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def build_spec(fields: Mapping[str, Any], *, where: str = "", names: Mapping[str, str] | None = None) -> SweepSpec:
    """Validate ``fields`` into a :class:`SweepSpec`, or raise SpecError naming the key as its source spells it.

    Args:
        fields: the spec's fields by name.
        where: a prefix naming the source in refusals, e.g. ``"sweep file s.toml: "``.
        names: how the source spells some keys, e.g. ``{"resolutions": "--resolution"}`` for flags.
    """
    token = _SOURCE.set((where, names or {}))
    try:
        return SweepSpec(**{str(k): v for k, v in fields.items()})
    finally:
        _SOURCE.reset(token)


def read_spec_toml(path: str | os.PathLike) -> dict:
    """The fields of a sweep TOML file, with paths made absolute relative to the file (not yet validated)."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"cannot read sweep file {path}: {exc}") from None
    base = Path(path).resolve().parent
    for key in PATH_FIELDS:
        if key in data:
            values = data[key] if isinstance(data[key], list) else [data[key]]
            data[key] = [str((base / v).resolve()) if isinstance(v, str) and v.strip().lower() not in ("", "none")
                         else v for v in values]
    return data


def read_spec_json(path: str | os.PathLike) -> SweepSpec:
    """The spec in a JSON file (the canonical form the launcher hands its worker)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpecError(f"cannot read spec file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec file {path}: expected a JSON object of the sweep's fields")
    return build_spec(data, where=f"spec file {path}: ")


def spec_from_record(spec_json: str | Mapping) -> SweepSpec:
    """The spec stored with a sweep (``sweeps.spec_json``, its canonical form), for resuming it.

    Keys this version does not know are left out: the record may come from another version of the workbench.
    """
    data = json.loads(spec_json) if isinstance(spec_json, str) else dict(spec_json)
    return build_spec({k: v for k, v in data.items() if k in SweepSpec.model_fields}, where="stored sweep: ")


def parse_number(text: str) -> int | float | str:
    """``"30"`` -> 30, ``"1.5"`` -> 1.5, anything else stays text (refused later, with the valid range)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_baseline_params(items: Iterable[str], into: Mapping[str, Mapping] | None = None) -> dict[str, dict]:
    """``["canny.low=30", "xdog.sigma=1.2"]`` -> ``{"canny": {"low": 30}, "xdog": {"sigma": 1.2}}``.

    The one parser of ``NAME.PARAM=VALUE`` pairs (the CLI's ``--baseline-param``
    and the app's form); ``into`` holds parameters to start from (e.g. a TOML file's).
    """
    params: dict[str, dict] = {name: dict(values) for name, values in (into or {}).items()}
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            target, value = item.split("=", 1)
            method, param = target.split(".", 1)
        except ValueError:
            raise SpecError(f"baseline parameter {item!r} is not NAME.PARAM=VALUE (e.g. canny.low=50)") from None
        params.setdefault(method.strip(), {})[param.strip()] = parse_number(value.strip())
    return params
