"""The committed demo checkpoints and the demo's pieces: files, sweep spec, curves, the overfitting check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.demo import BASELINES, RESOLUTIONS, demo_files, demo_spec, import_curves
from core.models.checkpoints import load_checkpoint
from core.store.store import Store
from tests.fixtures import write_scene


def test_demo_checkpoints_are_committed_small_and_described():
    files = demo_files()
    total = sum(p.stat().st_size for group in files.values() for p in set(group))
    assert total < 25 * 2**20
    trained_on = {"mask": "masks-train", "overfit": "objects-train-small", "sketch_stages": "sketch-train"}
    for group, data in trained_on.items():
        stages = {}
        for path in files[group]:
            ckpt = load_checkpoint(path)
            meta = ckpt.metadata
            assert ckpt.format == "safetensors" and ckpt.role == ("sketch" if group == "sketch_stages" else "mask")
            assert {"architecture", "width", "step", "epoch", "data", "command", "seed", "stage"} <= set(meta)
            assert meta["command"].startswith("workbench train ") and "/tmp" not in meta["command"]
            assert f"--data runs/datasets/{data} " in meta["command"] and "--threads " in meta["command"]
            assert [d["name"] for d in json.loads(meta["data"])] == [data]
            stages[meta["stage"]] = int(meta["step"])
        assert stages["stage1"] * 2 == stages["stage2"]
    assert files["sketch"][0] in files["sketch_stages"]


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


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Score with one torch thread: on a busy 2-core machine two threads fight and run several times slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def object_sets(tmp_path_factory):
    from core.data.scenes import OBJECT_SPLITS, OBJECTS_TRAIN, OBJECTS_TRAIN_SMALL, SMALL_COUNT, build_objects

    root = tmp_path_factory.mktemp("datasets")
    sets = {split: build_objects(root, split, 24) for split in OBJECT_SPLITS}
    sets[OBJECTS_TRAIN_SMALL] = build_objects(root, OBJECTS_TRAIN, SMALL_COUNT, name=OBJECTS_TRAIN_SMALL)
    return sets


@pytest.fixture(scope="module")
def heldout_photos():
    from core.data.photos import PHOTO_CATALOGUE, PHOTO_SPLITS, PHOTOS_HELDOUT, load_photo

    return {p.id: load_photo(p) for p in PHOTO_CATALOGUE if p.id in PHOTO_SPLITS[PHOTOS_HELDOUT]}


def _net(path):
    from core.models.inference import optimize_for_inference

    return optimize_for_inference(load_checkpoint(path).build(), "cpu")


@pytest.fixture(scope="module")
def small_run(object_sets):
    """The small run's stages on its 6 scenes / objects-heldout: scores by (stage file, split) and gap by stage."""
    from core.training.evaluation import check_overfitting, gaps

    scores = check_overfitting(demo_files()["overfit"], object_sets["objects-train-small"],
                               object_sets["objects-heldout"])
    assert sorted({len(s.values) for s in scores}) == [6, 24]
    by = {(s.checkpoint.split("@")[0], s.split): s for s in scores}
    return by, {row["checkpoint"].split("@")[0]: row["gap"] for row in gaps(scores)}


def test_small_run_fits_its_scenes_far_better_than_it_generalises(small_run):
    """The run on the 6 scenes of objects-train-small: stage2 fits them much better than stage1; both generalise worse."""
    by, gap = small_run
    stage1, stage2 = (p.name for p in demo_files()["overfit"])
    assert by[(stage2, "train")].mean > by[(stage1, "train")].mean + 0.1
    assert gap[stage1] > 0.15 and gap[stage2] > 0.15, json.dumps(gap)


def test_small_run_shows_the_overfitting_signature(small_run):
    """Train IoU up, held-out flat (its paired change within 2 standard errors), and the gap visibly wider."""
    by, gap = small_run
    stage1, stage2 = (p.name for p in demo_files()["overfit"])
    change = np.array(by[(stage2, "heldout")].values) - np.array(by[(stage1, "heldout")].values)
    assert abs(change.mean()) < 2 * change.std(ddof=1) / np.sqrt(len(change)), change
    assert gap[stage2] > gap[stage1] + 0.05, json.dumps(gap)


@pytest.fixture(scope="module")
def heldout_mask_scores(object_sets, heldout_photos):
    """Demo Mask Net v2 stage2: IoU per held-out scene, and the subject check per held-out photo."""
    from core.pipeline.seed import predict_mask
    from core.training.evaluation import evaluate_masks, finds_subject

    path = demo_files()["mask"][1]
    (iou,) = evaluate_masks([load_checkpoint(path)], object_sets["objects-heldout"], "heldout")
    net = _net(path)
    return iou, {name: finds_subject(predict_mask(net, photo)) for name, photo in heldout_photos.items()}


def test_demo_mask_net_segments_heldout_scenes_and_finds_heldout_subjects(heldout_mask_scores):
    """On held-out photos the mask covers the centre and leaves the frame out; held-out scene IoU stays >= 0.78."""
    iou, found = heldout_mask_scores
    assert all(found.values()), found
    assert iou.mean >= 0.78, iou.values


def test_demo_mask_net_meets_the_issue_iou_target(heldout_mask_scores):
    iou, _ = heldout_mask_scores
    assert iou.mean >= 0.8, iou.values


@pytest.fixture(scope="module")
def heldout_sketch_scores(heldout_photos):
    """Edge F1 against each held-out photo's own edges: XDoG's, and the demo Sketch Net's at 424 and 848."""
    from core.pipeline.baselines import run_baseline
    from core.sketch.metrics import edge_prf
    from core.training.references import photo_edges, sketch_photo

    net = _net(demo_files()["sketch"][0])
    xdog, by_side, ink = [], {424: [], 848: []}, {424: [], 848: []}
    for photo in heldout_photos.values():
        edges = photo_edges(photo)
        xdog.append(edge_prf(run_baseline("xdog", photo), edges)["f1"])
        for side, scores in by_side.items():
            sketch = sketch_photo(net, photo, side)
            scores.append(edge_prf(sketch, edges)["f1"])
            ink[side].append(sketch < 128)
    best = max(float(np.mean(v)) for v in by_side.values())
    return best / float(np.mean(xdog)), ink


def test_demo_sketch_net_traces_heldout_photos_and_draws_more_detail_at_848(heldout_sketch_scores):
    """Edge F1 against the photos' own edges >= 0.8 x XDoG's at the best side; 424 and 848 draw different detail."""
    ratio, ink = heldout_sketch_scores
    assert ratio >= 0.8, ratio
    for a, b in zip(ink[424], ink[848]):
        assert np.logical_xor(a, b).sum() > 0.3 * np.logical_or(a, b).sum()


def test_demo_sketch_net_meets_the_issue_edge_target(heldout_sketch_scores):
    ratio, _ = heldout_sketch_scores
    assert ratio >= 0.9, ratio
