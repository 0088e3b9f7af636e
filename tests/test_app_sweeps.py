"""The Sweeps page under AppTest (form, estimate, launch, cancel, resume, uploads) and core.data.uploads."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from tests.fixtures import REPO_ROOT, app_test, assert_no_exception, make_photo, png_bytes, worker_env


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def _fill_form(at, app_store, resolutions="64", masks=None):
    at.text_input(key="sw_testset_path").set_value(str(app_store.images)).run()
    at.multiselect(key="sw_sketch").set_value([str(app_store.checkpoints["sketch"])]).run()
    if masks is not None:
        at.multiselect(key="sw_mask").set_value(masks).run()
    at.text_input(key="sw_resolutions").set_value(resolutions).run()
    return at


def test_lists_sweeps_with_progress(app_store):
    at = app_test("workbench/pages/sweeps.py")
    assert_no_exception(at)
    assert any(m.value.startswith("**#1 small**") and "`done`" in m.value for m in at.markdown)
    progress = at.get("progress")[0]
    assert progress.text == f"{app_store.cells} done · 0 failed · {app_store.cells} total"
    assert at.button(key="sw_launch").disabled  # nothing chosen yet


def test_form_shows_cells_and_estimate_before_launch(app_store, monkeypatch):
    from core.sweeps import launcher

    at = _fill_form(app_test("workbench/pages/sweeps.py"), app_store)
    assert_no_exception(at)
    m = _metrics(at)
    assert (m["Cells"], m["Already in the store"]) == ("3", "0")  # 3 images, background off: new cells
    at.multiselect(key="sw_mask").set_value([str(app_store.checkpoints["stage1"])]).run()
    m = _metrics(at)
    assert (m["Cells"], m["Already in the store"], m["Estimated time"]) == ("3", "3", "0 s")

    started = []

    def fake_launch(spec, db, **kw):
        started.append((spec, db))
        return launcher.Launch(spec.spec_hash(), 4242, [], db.parent / "logs" / "x.log", db, "now")

    monkeypatch.setattr(launcher, "launch", fake_launch)
    at.text_input(key="sw_name").set_value("from the form").run()
    at.button(key="sw_launch").click().run()
    assert_no_exception(at)
    (spec, db), = started
    assert db == app_store.db.resolve() and spec.name == "from the form"
    assert spec.resolutions == [64] and spec.mask_checkpoints == [str(app_store.checkpoints["stage1"])]
    assert any("Worker pid 4242" in s.value for s in at.success)

    def refuse(spec, db, **kw):
        raise launcher.AlreadyRunning("this sweep is already running (pid 1)")

    monkeypatch.setattr(launcher, "launch", refuse)
    at.button(key="sw_launch").click().run()
    assert any("already running" in w.value for w in at.warning)


def test_bad_spec_is_explained_not_raised(app_store):
    at = _fill_form(app_test("workbench/pages/sweeps.py"), app_store, resolutions="8")
    assert_no_exception(at)
    assert any("resolutions: 8 is not a side in pixels" in e.value for e in at.error)
    assert at.button(key="sw_launch").disabled
    at.text_input(key="sw_resolutions").set_value("64, x").run()
    assert any("'x' is not a number" in c.value for c in at.caption)


def test_resume_and_cancel_buttons(app_store, monkeypatch):
    from core.store.store import Store, now
    from core.sweeps import launcher

    with Store(app_store.db) as store, store.write() as db:
        db["sweeps"].update(app_store.sweep_id, {"status": "interrupted"})
    resumed = []
    monkeypatch.setattr(launcher, "launch", lambda spec, db, **kw: resumed.append(spec) or launcher.Launch(
        spec.spec_hash(), 1, [], db / "x.log", db, "now"))
    at = app_test("workbench/pages/sweeps.py")
    at.button(key=f"resume_{app_store.sweep_id}").click().run()
    assert_no_exception(at)
    with Store(app_store.db) as store:
        assert resumed[0].spec_hash() == store.sweep(app_store.sweep_id)["spec_hash"]

    # a running sweep (a stand-in process with a fresh heartbeat) is stopped by Cancel
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    with Store(app_store.db) as store, store.write() as db:
        db["sweeps"].update(app_store.sweep_id, {"status": "running", "pid": worker.pid,
                                                 "host": socket.gethostname(), "heartbeat_at": now()})
    at = app_test("workbench/pages/sweeps.py")
    at.button(key=f"cancel_{app_store.sweep_id}").click().run()
    assert_no_exception(at)
    worker.wait(10)
    with Store(app_store.db) as store:
        for _ in range(50):
            if store.sweep(app_store.sweep_id)["status"] == "cancelled":
                break
            time.sleep(0.1)
        assert store.sweep(app_store.sweep_id)["status"] == "cancelled"


def test_upload_into_a_new_test_set(app_store):
    at = app_test("workbench/pages/sweeps.py")
    at.radio(key="sw_source").set_value("Upload images").run()
    at.text_input(key="sw_upload_name").set_value("../../etc/passwd").run()
    good = png_bytes(make_photo(40, 50))
    at.file_uploader(key="sw_upload_files_0").set_value([
        ("../../evil name.png", good, "image/png"),
        ("notes.png", b"not an image at all", "image/png"),
    ]).run()
    at.button(key="sw_upload_save").click().run()
    assert_no_exception(at)
    assert any("notes" in e.value and "not accepted" in e.value for e in at.error)
    sets = list((app_store.root / "testsets").iterdir())
    assert len(sets) == 1 and sets[0].name.startswith("passwd-")  # generated, inside the store's folder
    files = list(sets[0].iterdir())
    assert len(files) == 1 and files[0].name.startswith("evil-name-") and files[0].suffix == ".png"
    assert files[0].read_bytes() == good
    assert at.text_input(key="sw_testset_path").value == str(sets[0])
    at.multiselect(key="sw_sketch").set_value([str(app_store.checkpoints["sketch"])]).run()
    assert _metrics(at)["Cells"] == "1"


def test_save_upload_limits(tmp_path):
    from core.data.uploads import save_upload, slug
    from core.errors import UploadError

    assert slug("../../a b.c.png") == "a-b-c" and slug("...") == "upload" and "/" not in slug("a/..\\b")
    good = png_bytes(make_photo(20, 20))
    with pytest.raises(UploadError, match="over the limit"):
        save_upload(tmp_path, "big.png", good, max_bytes=len(good) - 1)
    with pytest.raises(UploadError, match="not accepted"):
        save_upload(tmp_path, "cut.png", good[: len(good) // 2])
    saved = save_upload(tmp_path, "ok.jpeg", good)  # the suffix comes from the content, not the name
    assert saved.path.suffix == ".png" and saved.path.parent == tmp_path and (saved.width, saved.height) == (20, 20)
    assert list(tmp_path.iterdir()) == [saved.path]


def test_baseline_parameters_reach_the_spec(app_store, monkeypatch):
    from core.sweeps import launcher

    at = app_test("workbench/pages/sweeps.py")
    at.text_input(key="sw_testset_path").set_value(str(app_store.images)).run()
    at.multiselect(key="sw_baselines").set_value(["canny"]).run()
    at.text_input(key="sw_baseline_params").set_value("canny.nope=3").run()
    assert any("nope" in e.value for e in at.error)  # unknown parameter: explained, launch disabled
    assert at.button(key="sw_launch").disabled
    at.text_input(key="sw_baseline_params").set_value("canny.low=30, canny.blur_sigma=1.5").run()
    assert _metrics(at)["Cells"] == "3" and _metrics(at)["Already in the store"] == "0"
    started = []
    monkeypatch.setattr(launcher, "launch", lambda spec, db, **kw: started.append(spec) or launcher.Launch(
        spec.spec_hash(), 1, [], db / "x.log", db, "now"))
    at.button(key="sw_launch").click().run()
    assert_no_exception(at)
    assert started[0].baseline_params == {"canny": {"low": 30, "blur_sigma": 1.5}}


def test_ray_sweeps_show_their_workers_and_the_form_offers_ray(app_store, monkeypatch):
    from core.store.store import Store, now

    monkeypatch.setattr("core.sweeps.ray.ray_available", lambda: True)
    with Store(app_store.db) as store, store.write():
        store.conn.execute("UPDATE sweeps SET executor = 'ray' WHERE id = ?", (app_store.sweep_id,))
        store.conn.executemany(
            "INSERT INTO sweep_workers (sweep_id, worker, node, device, pid, status, cells_done, cells_failed, "
            "restarts, started_at, updated_at) VALUES (?, ?, 'node-a', 'cpu (1 thread)', 1, ?, ?, 0, ?, ?, ?)",
            [(app_store.sweep_id, "w0", "done", 20, 1, now(), now()), (app_store.sweep_id, "w1", "done", 7, 0, now(), now())],
        )
    at = _fill_form(app_test("workbench/pages/sweeps.py"), app_store)
    assert_no_exception(at)
    workers = at.dataframe[0].value
    assert list(workers["worker"]) == ["w0", "w1"] and list(workers["done"]) == [20, 7]
    assert list(workers["restarts"]) == [1, 0]
    at.radio(key="sw_executor").set_value("ray").run()
    assert_no_exception(at)
    at.text_input(key="sw_ray_address").set_value("10.0.0.1:6379").run()
    assert at.number_input(key="sw_ray_cpus").value == 1


def test_launch_passes_extra_arguments_and_resume_keeps_ray(tmp_path, monkeypatch):
    from core.sweeps import launcher
    from core.sweeps.ray import ray_argv

    calls = []
    monkeypatch.setattr(launcher, "launch", lambda spec, db, **kw: calls.append(kw) or kw)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    sweep = {"spec_json": json.dumps({"images": [str(tmp_path)], "sketch_checkpoints": []}), "executor": "ray"}
    launcher.resume(tmp_path / "w.db", sweep)
    launcher.resume(tmp_path / "w.db", dict(sweep, executor="local"))
    assert calls == [{"extra_args": ray_argv()}, {}]


def test_the_same_sweep_from_flags_a_toml_file_and_the_form_is_one_sweep(app_store, monkeypatch, tmp_path):
    from core.cli.main import build_parser
    from core.cli.sweep import spec_from_args
    from core.store.store import Store
    from core.sweeps import launcher

    images = str(app_store.images)
    sketch, stage1 = str(app_store.checkpoints["sketch"]), str(app_store.checkpoints["stage1"])
    launched = []
    monkeypatch.setattr(launcher, "launch", lambda spec, db, **kw: launched.append(spec) or launcher.Launch(
        spec.spec_hash(), 1, [], db / "x.log", db, "now"))
    at = app_test("workbench/pages/sweeps.py")
    at.text_input(key="sw_testset_path").set_value(images).run()
    at.multiselect(key="sw_sketch").set_value([sketch]).run()
    at.multiselect(key="sw_mask").set_value(["none", stage1]).run()
    at.multiselect(key="sw_baselines").set_value(["canny"]).run()
    at.text_input(key="sw_baseline_params").set_value("canny.low=30").run()
    at.text_input(key="sw_resolutions").set_value("64, 96").run()
    at.multiselect(key="sw_mask_modes").set_value(["soft", "hard"]).run()
    at.text_input(key="sw_softctrs").set_value("0.3, 0.5").run()
    at.multiselect(key="sw_gammas").set_value(["on", "off"]).run()
    at.selectbox(key="sw_device").set_value("cpu").run()
    at.text_input(key="sw_name").set_value("one sweep").run()
    at.button(key="sw_launch").click().run()
    assert_no_exception(at)
    form, = launched

    flags = ["sweep", "--images", images, "--sketch-checkpoint", sketch, "--mask-checkpoint", "none", stage1,
             "--baseline", "canny", "--baseline-param", "canny.low=30", "--resolution", "64", "96",
             "--mask-mode", "soft", "hard", "--softctr", "0.3", "0.5", "--gamma", "True", "False", "--device", "cpu",
             "--name", "one sweep"]
    toml = tmp_path / "sweep.toml"
    toml.write_text(f'name = "one sweep"\nimages = "{images}"\nsketch_checkpoints = ["{sketch}"]\n'
                    f'mask_checkpoints = ["none", "{stage1}"]\nbaselines = ["canny"]\n'
                    'baseline_params = {canny = {low = 30}}\nresolutions = [96, 64]\nmask_modes = ["hard", "soft"]\n'
                    'softctrs = [0.5, 0.3]\ngammas = [false, true]\ndevice = "cpu"\n')
    from_flags = spec_from_args(build_parser().parse_args(flags))
    from_toml = spec_from_args(build_parser().parse_args(["sweep", "--config", str(toml)]))
    assert form.spec_hash() == from_flags.spec_hash() == from_toml.spec_hash()
    assert form.canonical() == from_flags.canonical() == from_toml.canonical()

    # Run by the CLI from the flags, then from the file: one sweep id, and the second run computes nothing.
    db = tmp_path / "cli" / "w.db"
    runs = []
    for args in (flags, ["sweep", "--config", str(toml)]):
        cmd = [sys.executable, "-m", "core.cli.main", *args, "--db", str(db), "--json", "--no-progress"]
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=worker_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.splitlines()[-1]))
    assert runs[0]["sweep_id"] == runs[1]["sweep_id"] and runs[1]["computed"] == 0
    with Store(db) as store:
        assert store.sweep(runs[0]["sweep_id"])["spec_hash"] == form.spec_hash()


def test_a_folder_outside_the_allowed_roots_is_refused_and_not_read(app_store, tmp_path, monkeypatch):
    import os

    from core.sweeps import plan as plans
    from tests.fixtures import make_test_set

    outside = make_test_set(tmp_path / "elsewhere" / "set")
    planned = []
    monkeypatch.setattr(plans, "plan_sweep", lambda spec: planned.append(spec))
    walk = os.walk

    def listing(top, *args, **kwargs):
        assert "elsewhere" not in str(top), "the refused folder was listed"
        return walk(top, *args, **kwargs)

    monkeypatch.setattr("os.walk", listing)
    at = app_test("workbench/pages/sweeps.py")
    for typed, why in ((str(outside), "outside the allowed folders"), (f"{app_store.images}/../../elsewhere/set",
                                                                      "contains '..'")):
        at.text_input(key="sw_testset_path").set_value(typed).run()
        at.multiselect(key="sw_sketch").set_value([str(app_store.checkpoints["sketch"])]).run()
        assert_no_exception(at)
        assert any(why in e.value for e in at.error), [e.value for e in at.error]
        assert at.button(key="sw_launch").disabled and not _metrics(at) and not planned


def test_a_folder_under_a_data_root_is_accepted(app_store, tmp_path, monkeypatch):
    from tests.fixtures import make_test_set

    extra = make_test_set(tmp_path / "lab" / "set")
    at = app_test("workbench/pages/sweeps.py")
    _fill_form(at, app_store)
    at.text_input(key="sw_testset_path").set_value(str(extra)).run()
    assert any("outside the allowed folders" in e.value for e in at.error)
    monkeypatch.setenv("WORKBENCH_DATA_ROOTS", str(tmp_path / "lab"))
    at.run()
    assert_no_exception(at)
    assert not at.error and _metrics(at)["Cells"] and not at.button(key="sw_launch").disabled
