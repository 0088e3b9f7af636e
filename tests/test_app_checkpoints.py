"""The Checkpoints page: every weights file described, and the broken ones listed with the reason."""

from __future__ import annotations

from tests.fixtures import app_test, assert_no_exception


def test_lists_loadable_and_broken_files(app_store):
    (app_store.weights / "sub").mkdir(exist_ok=True)
    (app_store.weights / "sub" / "garbage.pth").write_bytes(b"this is not a checkpoint")
    good = app_store.checkpoints["sketch"].read_bytes()
    (app_store.weights / "cut.safetensors").write_bytes(good[: len(good) // 2])
    (app_store.weights / "notes.txt").write_text("ignored: not a checkpoint suffix")
    at = app_test("workbench/pages/checkpoints.py")
    assert_no_exception(at)
    table = at.dataframe[0].value
    # the test's weights folder, plus the project's own weights/ (the committed demo checkpoints)
    from core.demo import DEMO_WEIGHTS

    demo = {p.name for p in DEMO_WEIGHTS.glob("*.safetensors")}
    assert set(table["file"]) == {"G_tiny.safetensors", "MaskNet_v2_stage1.safetensors",
                                  "MaskNet_v2_stage2.safetensors"} | demo
    row = table.set_index("file").loc["G_tiny.safetensors"]
    assert row["architecture"] == "sketchnet_deep" and row["width"] == 0.0625
    assert row["parameters"] > 1000 and len(row["sha256"]) == 64 and '"trained_on": "tiny"' in row["metadata"]
    errors = at.dataframe[1].value.set_index("file")["reason"]
    assert set(errors.index) == {"garbage.pth", "cut.safetensors"}
    assert "truncated" in errors["cut.safetensors"]


def test_no_weights_says_where_to_put_them(app_store, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(tmp_path / "nothing"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # no ./weights here
    monkeypatch.setattr("core.settings.PROJECT_ROOT", tmp_path / "elsewhere")  # nor a project weights/
    at = app_test("workbench/pages/checkpoints.py")
    assert_no_exception(at)
    assert any("nothing" in c.value for c in at.caption)
    assert "No checkpoint files found" in at.info[0].value
