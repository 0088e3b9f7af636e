"""The committed demo checkpoints and the demo's pieces: files, sweep spec, curves, the overfitting check."""

from __future__ import annotations

import json

import pytest

from core.demo import BASELINES, RESOLUTIONS, demo_files, demo_spec, import_curves
from core.models.checkpoints import load_checkpoint
from core.store.store import Store
from tests.fixtures import write_scene


def test_demo_checkpoints_are_committed_small_and_described():
    files = demo_files()
    total = sum(p.stat().st_size for group in files.values() for p in group)
    assert total < 30 * 2**20
    stages = {}
    for path in files["mask"]:
        ckpt = load_checkpoint(path)
        assert ckpt.format == "safetensors" and ckpt.architecture == "masknet_v2"
        meta = ckpt.metadata
        assert {"architecture", "width", "step", "epoch", "data", "command", "seed", "stage"} <= set(meta)
        assert meta["command"].startswith("workbench train mask") and "/tmp" not in meta["command"]
        stages[meta["stage"]] = int(meta["step"])
    assert stages["stage1"] * 2 == stages["stage2"]
    sketch = load_checkpoint(files["sketch"][0])
    assert sketch.role == "sketch" and sketch.metadata["stage"] == "stage2"


def test_demo_spec_covers_checkpoints_baselines_resolutions_and_modes(tmp_path):
    from core.sweeps.plan import plan_sweep

    photos = tmp_path / "photos"
    write_scene(photos / "a.png", 1)
    spec = demo_spec(photos, demo_files(), device="cpu")
    plan = plan_sweep(spec)
    # per image: 1 Sketch Net x 2 Mask Nets x 2 resolutions x 2 modes, plus each baseline once
    assert len(plan.cells) == 1 * 2 * len(RESOLUTIONS) * 2 + len(BASELINES)


def test_curves_import_into_the_store(tmp_path):
    files = demo_files()
    with Store(tmp_path / "w.db") as store:
        import_curves(store, files["curves"])
        import_curves(store, files["curves"])  # importing again replaces, not duplicates
        rows = store.query("SELECT name, csv_text FROM training_curves ORDER BY name")
    assert [r["name"] for r in rows] == sorted(p.name for p in files["curves"])
    assert rows[0]["csv_text"].startswith("epoch,global_iter,")


@pytest.fixture(scope="module")
def object_sets(tmp_path_factory):
    from core.data.builder import build_all

    return build_all(tmp_path_factory.mktemp("datasets"))


def test_committed_stage2_overfits_its_train_split(object_sets):
    """Stage2 fits the train split better than stage1, and both do much worse on held-out data."""
    from core.training.evaluation import check_overfitting, gaps

    files = demo_files()
    scores = check_overfitting(files["mask"], object_sets["objects-train"], object_sets["objects-heldout"])
    by = {(s.checkpoint.split("@")[0], s.split): s for s in scores}
    stage1, stage2 = "MaskNet_v2_stage1.safetensors", "MaskNet_v2_stage2.safetensors"
    assert by[(stage2, "train")].mean > by[(stage1, "train")].mean
    for row in gaps(scores):
        assert row["gap"] > 0.1, json.dumps(row)
    assert all(len(s.values) == 24 for s in scores)
