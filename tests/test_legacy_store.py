"""A store made by the workbench before the reshaping still opens, shows and is fully cached."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fixtures import app_test, assert_no_exception

LEGACY = Path(__file__).resolve().parent / "data" / "legacy-store"
# The spec hash the earlier code gave this sweep (see tests/data/legacy-store/README.md).
LEGACY_SPEC_HASH = "1c9be2a6bd5771c56a73a2c026eb6ed5cdaa5201b0f4621daa553374da611da5"


@pytest.fixture
def legacy(tmp_path, monkeypatch) -> Path:
    """A private copy of the legacy store, with the working directory at its root (its paths are relative)."""
    root = tmp_path / "legacy"
    shutil.copytree(LEGACY, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("WORKBENCH_DB", str(root / "runs" / "workbench.db"))
    return root


def _legacy_spec(root: Path):
    from core.sweeps.spec import SweepSpec

    return SweepSpec(images=["images"], sketch_checkpoints=["weights/G_net.pth"],
                     mask_checkpoints=[None, "weights/MaskNet_v2_stage1.pth"], baselines=["xdog"],
                     resolutions=[64, 96], mask_modes=["soft", "hard"], vectorize=True, device="cpu", name="legacy")


def test_legacy_store_opens_with_every_cell(legacy):
    from core.store.store import SCHEMA_VERSION, Store

    with Store(legacy / "runs" / "workbench.db") as store:
        assert store.version == SCHEMA_VERSION
        rows = store.results()
        assert len(rows) == 28
        assert sum(r["status"] == "done" for r in rows) == 21
        done = [r for r in rows if r["status"] == "done"]
        assert all(store.absolute(r["sketch_path"]).is_file() for r in done)


def test_legacy_sweep_is_fully_cached_by_todays_code(legacy):
    from core.store.store import Store
    from core.sweeps.run import run_sweep

    spec = _legacy_spec(legacy)
    summary = run_sweep(spec, legacy / "runs" / "workbench.db", progress=False).to_dict()
    assert summary["cells"] == 28
    assert summary["computed"] == 0
    assert summary["cached"] == 28
    with Store(legacy / "runs" / "workbench.db") as store:
        assert len(store.results()) == 28  # nothing new was added


def test_legacy_spec_hash_is_unchanged_at_its_original_place(legacy):
    # The earlier code hashed absolute paths; made at /tmp/legacy, the same spec there gives the same hash.
    spec = _legacy_spec(legacy)
    canonical = spec.canonical()
    assert canonical["images"] == [str(legacy / "images")]
    moved = spec.model_copy(update={
        "images": ["/tmp/legacy/images"],
        "sketch_checkpoints": ["/tmp/legacy/weights/G_net.pth"],
        "mask_checkpoints": [None, "/tmp/legacy/weights/MaskNet_v2_stage1.pth"],
    })
    assert moved.spec_hash() == LEGACY_SPEC_HASH


def test_legacy_store_shows_in_the_compare_page(legacy):
    at = app_test()
    assert_no_exception(at)
    (viewer,) = [e for e in at.get("bidi_component") if e.proto.component_name == "sketch_workbench.viewer"]
    data = json.loads(viewer.proto.json)
    assert {row["label"] for row in data["rows"]} >= {"photo_0.png", "photo_1.png", "photo_2.png"}
    cells = [c for row in data["rows"] for c in row["cells"] if c]
    assert cells and all(c["full"].startswith("/files/") for c in cells if c.get("status") == "done")
