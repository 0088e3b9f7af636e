"""The Overfitting page under AppTest (scores, gap, charts, curve import and marks) and core.training.curves.

The scores are real: a tiny Mask Net trained for 4 steps on a generated
objects-train split (so its stage1/stage2 checkpoints carry the step they were
saved at, and its curve is the real CSV), plus the swept store's random
checkpoints, scored by ``check_overfitting`` on 3 + 3 generated 64 px images.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures import app_test, assert_no_exception


@dataclass
class Evaluated:
    """The trained tiny run and the scores of every checkpoint on both splits."""

    run: object  # core.training.loop.TrainResult
    scores: list


@pytest.fixture(scope="module")
def evaluated(swept, tmp_path_factory) -> Evaluated:
    """Build 3 + 3 objects at 64 px, train a tiny Mask Net for 4 steps, score it and the swept checkpoints."""
    import torch

    from core.data.scenes import build_objects
    from core.training.evaluation import check_overfitting
    from core.training.mask import train_mask

    base = tmp_path_factory.mktemp("overfit")
    train = build_objects(base / "sets", "objects-train", count=3, size=64)
    heldout = build_objects(base / "sets", "objects-heldout", count=3, size=64)
    run = train_mask(train, base / "run", width=1 / 16, steps=4, batch_size=2, log_every=1, prefix="Tiny",
                     progress=False, threads=1)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: faster than two fighting on a busy 2-core machine
    try:
        scores = check_overfitting([run.stage1, run.stage2, swept.checkpoints["stage1"], swept.checkpoints["stage2"]],
                                   train, heldout, [swept.checkpoints["sketch"]])
    finally:
        torch.set_num_threads(previous)
    return Evaluated(run, scores)


@pytest.fixture
def scored_store(app_store, evaluated):
    """The app's store with the scores recorded and the trained stages known (as a sweep would register them)."""
    from core.models.checkpoints import load_checkpoint
    from core.store.store import Store
    from core.sweeps.plan import checkpoint_row
    from core.training.evaluation import record_scores

    with Store(app_store.db) as store:
        record_scores(store, evaluated.scores)
        for path in (evaluated.run.stage1, evaluated.run.stage2):
            store.upsert_checkpoint(checkpoint_row(load_checkpoint(path)))
    return app_store


def _table(at, column: str):
    """The first table shown with ``column`` (AppTest does not expose dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# --------------------------------------------------------------------------- the page


def test_without_scores_or_curves_the_page_shows_the_cli_command(app_store):
    at = app_test("workbench/pages/overfitting.py")
    assert_no_exception(at)
    assert at.title[0].value == "Overfitting"
    assert "No train / held-out scores yet" in at.info[0].value
    command = at.code[0].value
    assert command.startswith("workbench overfit --mask-checkpoint A B --train runs/datasets/objects-train")
    assert command.endswith(f"--db {app_store.db.resolve()}")
    assert any("No training curves yet" in i.value for i in at.info)
    assert at.file_uploader(key="ovf_upload_0") is not None


def test_scores_gap_cards_and_charts(scored_store, evaluated):
    from core.training.evaluation import gaps

    at = app_test("workbench/pages/overfitting.py")
    assert_no_exception(at)
    table = _table(at, "train better by")
    expected = {(g["checkpoint"], g["metric"]): g for g in gaps(evaluated.scores)}
    assert len(table) == len(expected) == 6  # 4 Mask Nets x IoU, 1 Sketch Net x (F1, chamfer)
    for row in table.to_dict("records"):
        g = expected[(row["checkpoint"], row["metric"])]
        assert row["gap"] == pytest.approx(g["gap"])
        assert row["train n"] == row["held-out n"] == 3
        assert row["train"].startswith(f"{g['train']:.4g} ± ")
        if g["heldout"] == 0:  # no share of nothing (the 4-step Mask Net may find no object at all)
            assert row["train better by"] == "–"
    chamfer = table.set_index("metric").loc["chamfer"]
    assert chamfer["better"] == "lower"
    held = expected[(chamfer["checkpoint"], "chamfer")]["heldout"]
    assert chamfer["train better by"] == f"{-chamfer['gap'] / held:+.1%}"
    # Cards of the first metric (mask IoU): one per Mask Net, the gap as the delta.
    assert at.radio(key="ovf_metric").options == ["mask_iou", "edge_f1", "chamfer"]
    assert "Held-out mask_iou per checkpoint" in at.caption[1].value
    cards = {m.label: m for m in at.metric}
    assert len(cards) == 4
    for label, card in cards.items():
        g = expected[(label, "mask_iou")]
        assert card.value == f"{g['heldout']:.4g}"
        assert card.delta.startswith(f"{g['gap']:+.4g} gap (train {g['train']:.4g})")
    bars, spread = _chart_specs(at)
    assert [t["name"] for t in bars["data"]] == ["train", "held-out"]
    for trace, split in zip(bars["data"], ("train", "heldout")):
        mine = [s for s in evaluated.scores if s.metric == "mask_iou" and s.split == split]
        assert trace["type"] == "bar"
        assert sorted(_decode(trace["error_y"]["array"])) == pytest.approx(sorted(s.std for s in mine))
    assert {t["type"] for t in spread["data"]} == {"box"} and spread["data"][0]["boxpoints"] == "all"
    assert len(_table(at, "split")) == len(evaluated.scores)

    at.radio(key="ovf_metric").set_value("edge_f1").run()
    assert_no_exception(at)
    sketch = next(s for s in evaluated.scores if s.metric == "edge_f1" and s.split == "train")
    (card,) = at.metric
    assert card.label == sketch.checkpoint
    gap = expected[(sketch.checkpoint, "edge_f1")]["gap"]
    assert card.delta.startswith(f"{gap:+.4g} gap")
    bars, spread = _chart_specs(at)
    values = sorted(v for t in spread["data"] for v in _decode(t["y"]))
    assert values == pytest.approx(sorted(v for s in evaluated.scores if s.metric == "edge_f1" for v in s.values))


def _decode(y) -> list[float]:
    """Plotly's JSON holds arrays either as lists or as base64 typed arrays."""
    import base64

    import numpy as np

    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), np.dtype(y["dtype"])).tolist()
    return list(y)


def test_import_a_curve_marks_the_stages_and_refuses_a_malformed_file(scored_store, evaluated):
    from core.store.store import Store
    from core.training.curves import stored_curves

    at = app_test("workbench/pages/overfitting.py")
    good = evaluated.run.curve.read_bytes()
    at.file_uploader(key="ovf_upload_0").set_value([
        ("Tiny_curve.csv", good, "text/csv"),
        ("broken.csv", b"epoch,global_iter,loss_mask\n0,1,0.5\n0,2\n", "text/csv"),
    ]).run()
    at.button(key="ovf_import").click().run()
    assert_no_exception(at)
    assert [e.value for e in at.error] == [
        "Not imported: curve broken.csv line 3 has 2 values for 3 columns; fix or delete that line"]
    assert at.success[0].value == "Imported Tiny_curve.csv."
    with Store(scored_store.db) as store:
        assert [(c["name"], c["csv_text"]) for c in stored_curves(store)] == [("Tiny_curve.csv", good.decode())]
    assert at.selectbox(key="ovf_curve").value == "Tiny_curve.csv"
    listing = _table(at, "losses")
    assert listing.to_dict("records")[0]["rows"] == 4 and listing.to_dict("records")[0]["steps"] == "1–4"
    curve = _chart_specs(at)[-1]
    assert [t["name"] for t in curve["data"]] == ["loss_mask", "stage1", "stage2"]
    assert [a["text"] for a in curve["layout"]["annotations"]] == ["stage1 (step 2)", "stage2 (step 4)"]
    assert sorted(s["x0"] for s in curve["layout"]["shapes"]) == [2, 4]
    assert any("**stage1** = `Tiny_stage1.safetensors@" in c.value for c in at.caption)

    # A file in another format: the message names the problem, and nothing is stored.
    at.file_uploader(key="ovf_upload_1").set_value([("steps.csv", b"step,loss\n1,0.5\n", "text/csv")]).run()
    at.button(key="ovf_import").click().run()
    assert_no_exception(at)
    assert "curve steps.csv has header 'step,loss'; expected epoch,global_iter" in at.error[0].value
    with Store(scored_store.db) as store:
        assert [c["name"] for c in stored_curves(store)] == ["Tiny_curve.csv"]
    at.checkbox(key="ovf_log").check().run()
    assert_no_exception(at)
    assert _chart_specs(at)[-1]["layout"]["yaxis"]["type"] == "log"


def test_import_without_files_asks_for_them(app_store):
    at = app_test("workbench/pages/overfitting.py")
    at.button(key="ovf_import").click().run()
    assert_no_exception(at)
    assert "Choose CSV files" in at.warning[0].value


# --------------------------------------------------------------------------- core


def test_stored_scores_read_back_what_was_recorded(tmp_path, evaluated):
    from core.store.store import Store
    from core.training.evaluation import gap_summary, gaps, record_scores, stored_scores

    with Store(tmp_path / "w.db") as store:
        record_scores(store, evaluated.scores)
        back = stored_scores(store)
    key = lambda s: (s.checkpoint, s.split, s.metric)  # noqa: E731
    assert sorted(map(key, back)) == sorted(map(key, evaluated.scores))
    original = {key(s): s for s in evaluated.scores}
    for s in back:
        assert s.values == pytest.approx(original[key(s)].values)
        assert s.role == original[key(s)].role and s.test_set == original[key(s)].test_set
    expected = {(g["checkpoint"], g["metric"]): g["gap"] for g in gaps(evaluated.scores)}
    for row in gap_summary(back):
        assert row["gap"] == pytest.approx(expected[(row["checkpoint"], row["metric"])])
        assert row["train_set"] == "objects-train" and row["heldout_set"] == "objects-heldout"


def test_gap_summary_turns_lower_is_better_metrics_and_the_gap_is_coloured():
    from core.training.evaluation import Score, gap_summary
    from workbench.charts import OVERFIT_STYLE, UNDERFIT_STYLE, gap_frame, styled_gaps

    def score(metric, split, values):
        return Score("ck", "sha", "sketch", f"objects-{split}", split, metric, values)

    rows = gap_summary([score("edge_f1", "train", [0.8, 0.6]), score("edge_f1", "heldout", [0.5]),
                        score("chamfer", "train", [2.0]), score("chamfer", "heldout", [4.0, 6.0]),
                        score("mask_iou", "train", [0.9])])
    by = {r["metric"]: r for r in rows}
    assert by["edge_f1"]["gap"] == pytest.approx(0.2) and by["edge_f1"]["train_advantage"] == pytest.approx(0.2)
    assert by["chamfer"]["gap"] == pytest.approx(-3.0) and by["chamfer"]["train_advantage"] == pytest.approx(3.0)
    assert by["chamfer"]["heldout_images"] == 2 and by["chamfer"]["heldout_std"] == pytest.approx(1.0)
    assert by["mask_iou"]["heldout_images"] == 0 and math.isnan(by["mask_iou"]["gap"])
    frame = gap_frame(rows)
    assert frame.set_index("metric").loc["chamfer", "train better by"] == pytest.approx(3.0 / 5.0)
    html = styled_gaps(frame).to_html()
    assert OVERFIT_STYLE.split(": ")[1] in html and UNDERFIT_STYLE.split(": ")[1] not in html
    better_heldout = gap_frame(gap_summary([score("edge_f1", "train", [0.1]), score("edge_f1", "heldout", [0.3])]))
    assert UNDERFIT_STYLE.split(": ")[1] in styled_gaps(better_heldout).to_html()
    nothing_held_out = gap_frame(gap_summary([score("mask_iou", "train", [0.5]), score("mask_iou", "heldout", [0.0])]))
    assert styled_gaps(nothing_held_out).data["train better by"].tolist() == ["–"]


def test_parse_curve_checks_text_and_read_curve_still_reads_files(tmp_path):
    from core.errors import CurveFormatError, TrainingError
    from core.training import curves
    from core.training.curves import read_curve

    parsed = curves.parse_curve("\ufeffepoch,global_iter,loss_G_L1,loss_D\n0,10,0.5,nan\n\n1,20,0.25,0.5\n")
    assert list(parsed) == ["epoch", "global_iter", "loss_G_L1", "loss_D"]
    assert parsed["global_iter"].tolist() == [10, 20] and curves.loss_columns(parsed) == ["loss_G_L1", "loss_D"]
    with pytest.raises(curves.CurveFormatError, match=r"up.csv line 2: epoch is '0.5', not a whole number"):
        curves.parse_curve("epoch,global_iter,l\n0.5,1,2\n", "up.csv")
    with pytest.raises(curves.CurveFormatError, match="is not a readable text CSV"):
        curves.decode_upload("x.csv", b"\xff\xfe\x00bad")
    path = tmp_path / "bad.csv"
    path.write_text("epoch,global_iter,loss\n0,1,abc\n")
    with pytest.raises(CurveFormatError, match=f"curve {path} line 2: loss is 'abc', not a number") as info:
        read_curve(path)
    # Both kinds: the CLI reports TrainingErrors in one line, the app catches core.training.curves' kind.
    assert isinstance(info.value, TrainingError) and isinstance(info.value, curves.CurveFormatError)


def test_save_curves_refuses_a_malformed_batch_whole(tmp_path):
    from core.errors import CurveFormatError
    from core.store.store import Store
    from core.training.curves import save_curves, stored_curves

    with Store(tmp_path / "w.db") as store:
        save_curves(store, [("a_curve.csv", "here", "epoch,global_iter,loss\n0,1,0.5\n")])
        with pytest.raises(CurveFormatError, match="curve b.csv is empty"):
            save_curves(store, [("a_curve.csv", "there", "epoch,global_iter,loss\n0,1,0.1\n"), ("b.csv", "x", "")])
        save_curves(store, [("a_curve.csv", "again", "epoch,global_iter,loss\n0,2,0.25\n")])
        assert [(c["name"], c["source"]) for c in stored_curves(store)] == [("a_curve.csv", "again")]


def test_checkpoint_marks_match_by_prefix_and_need_a_step():
    from core.training.curves import checkpoint_marks, checkpoint_prefix, curve_prefix

    assert curve_prefix("MaskNet_v2_curve.csv") == "MaskNet_v2" and curve_prefix("run.csv") == "run"
    assert checkpoint_prefix("MaskNet_v2_stage1.safetensors") == "MaskNet_v2"
    assert checkpoint_prefix("MaskNet_v2_stage2.pth") == "MaskNet_v2"

    def row(name, **meta):
        return {"file_name": name, "label": f"{name}@12345678", "metadata_json": json.dumps(meta)}

    rows = [
        row("MaskNet_v2_stage2.safetensors", stage="stage2", step="1000", epoch="7"),  # safetensors keeps text
        row("MaskNet_v2_stage1.safetensors", step=500),  # stage from the file name
        row("MaskNet_v2_stage1.pth", stage="1"),  # no step: cannot be placed
        row("MaskNet_v1_stage1.safetensors", stage="stage1", step=10),  # another run
        row("SketchNet_stage1.safetensors", stage="stage1", step=10),
        {"file_name": "MaskNet_v2_stage3.pth", "label": "x", "metadata_json": "not json"},
    ]
    marks = checkpoint_marks("MaskNet_v2_curve.csv", rows)
    assert [(m["stage"], m["step"], m["epoch"]) for m in marks] == [("stage1", 500, None), ("stage2", 1000, 7)]
    assert marks[1]["label"] == "MaskNet_v2_stage2.safetensors@12345678"
    assert checkpoint_marks("Other_curve.csv", rows) == []


def test_demo_import_curves_stores_and_refuses_like_before(tmp_path):
    from core.demo import import_curves
    from core.errors import TrainingError
    from core.store.store import Store

    good = tmp_path / "X_curve.csv"
    good.write_text("epoch,global_iter,loss_mask\n0,1,0.5\n")
    bad = tmp_path / "Y_curve.csv"
    bad.write_text("epoch,loss\n")
    with Store(tmp_path / "w.db") as store:
        import_curves(store, [good])
        with pytest.raises(TrainingError, match="Y_curve.csv has header"):
            import_curves(store, [good, bad])
        rows = store.query("SELECT name, source FROM training_curves")
    assert rows == [{"name": "X_curve.csv", "source": str(good)}]
    assert Path(rows[0]["source"]).read_text().startswith("epoch,global_iter")


# --------------------------------------------------------------------------- real photos (no masks, no drawings)


def _photo_split(folder: Path, seeds: tuple[int, ...]) -> Path:
    """A photos-train/-heldout style set: images only, each marked as having a centred subject."""
    from core.data.testset import SetWriter
    from tests.fixtures import make_photo

    writer = SetWriter(folder)
    for seed in seeds:
        writer.add(f"p{seed}", make_photo(64, 80, seed), centred_subject=True)
    return writer.finish({"name": folder.name, "split": folder.name})


def test_photo_splits_score_sketch_nets_against_their_edges_and_mask_nets_by_subject(app_store, evaluated, tmp_path):
    from core.store.store import Store
    from core.training.evaluation import EVALUATION_DESCRIPTIONS, HIGHER_IS_BETTER, check_overfitting, record_scores

    assert set(EVALUATION_DESCRIPTIONS) == set(HIGHER_IS_BETTER)
    train, heldout = _photo_split(tmp_path / "photos-train", (1, 2)), _photo_split(tmp_path / "photos-heldout", (3,))
    sketch = app_store.checkpoints["sketch"]
    scores = check_overfitting([evaluated.run.stage2], train, heldout, [sketch])
    by = {(s.metric, s.split): s for s in scores}
    assert [len(by[("subject_found", split)].values) for split in ("train", "heldout")] == [2, 1]
    assert set(by[("subject_found", "train")].values) <= {0.0, 1.0}
    for metric in ("edge_f1_photo", "edge_f1_target"):
        assert [len(by[(metric, split)].values) for split in ("train", "heldout")] == [2, 1]
        assert all(0 <= v <= 1 for v in by[(metric, "train")].values + by[(metric, "heldout")].values)
    with Store(app_store.db) as store:
        record_scores(store, scores)
    at = app_test("workbench/pages/overfitting.py")
    assert_no_exception(at)
    options = at.radio(key="ovf_metric").options
    assert {"subject_found", "edge_f1_photo", "edge_f1_target"} <= set(options)
    at.radio(key="ovf_metric").set_value("subject_found").run()
    assert_no_exception(at)
    assert any(m.label == evaluated.run.stage2.name or evaluated.run.stage2.name in m.label for m in at.metric)


def test_photo_edges_and_the_subject_check():
    import numpy as np

    from core.training.evaluation import finds_subject
    from core.training.references import photo_edges, target_drawing

    rgb = np.full((60, 80, 3), 200, np.uint8)
    rgb[:, 40:] = 30
    edges = photo_edges(rgb)
    assert edges.shape == (60, 80) and (edges[10:50, 37:43] < 128).any(axis=1).all()
    assert (edges[:, :30] == 255).all() and (edges[:, 50:] == 255).all()
    assert target_drawing(rgb, 48).shape == (60, 80)
    centred = np.zeros((56, 56), np.float32)
    centred[14:42, 12:44] = 1
    assert finds_subject(centred)
    assert not finds_subject(np.ones((56, 56), np.float32))  # covers the frame
    assert not finds_subject(np.zeros((56, 56), np.float32))  # finds nothing
    ring = centred.copy()
    ring[24:32, 24:32] = 0
    assert not finds_subject(ring)  # misses the centre
