"""core.sweeps.launcher and core.sweeps.estimate: the worker's spec file, estimates, progress, and real detached
workers started, cancelled, resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.fixtures import small_spec, wait_for, worker_env


def _spec(tmp_path, **kw):
    from core.sweeps.spec import SweepSpec

    (tmp_path / "imgs").mkdir(exist_ok=True)
    fields = dict(images=[str(tmp_path / "imgs")], sketch_checkpoints=[str(tmp_path / "s.pth")],
                  mask_checkpoints=[None, str(tmp_path / "m.pth")], baselines=["canny", "xdog"],
                  baseline_params={"canny": {"low": 20, "blur_sigma": 1.5}}, resolutions=[424, 848],
                  mask_modes=["soft", "hard"], softctrs=[0.3, 0.5], gammas=[True, False], merges=[False, True],
                  precisions=["fp32", "bf16"], device="cpu", vectorize=True, max_pixels=1_000_000,
                  name="-dash name", note="a note, with = signs")
    fields.update(kw)
    return SweepSpec(**fields)


def test_the_worker_gets_the_canonical_spec_and_rebuilds_the_same_sweep(tmp_path):
    from core.cli.main import build_parser
    from core.cli.sweep import spec_from_args
    from core.sweeps.launcher import worker_argv

    spec = _spec(tmp_path)
    spec_file = tmp_path / "logs" / "s.spec.json"
    spec_file.parent.mkdir()
    spec_file.write_text(json.dumps(spec.canonical()))
    argv = worker_argv(spec_file, tmp_path / "w.db")
    assert argv[:6] == [sys.executable, "-m", "core.cli.main", "sweep", "--spec-json", str(spec_file.resolve())]
    assert argv[-2:] == ["--json", "--no-progress"]
    args = build_parser().parse_args(argv[3:])
    rebuilt = spec_from_args(args)
    assert rebuilt.spec_hash() == spec.spec_hash()
    assert rebuilt.canonical() == spec.canonical()  # name and note too
    assert args.db.resolve() == (tmp_path / "w.db").resolve()
    # The spec file is the whole spec: a spec flag beside it is refused, not merged.
    from core.errors import UsageError

    with pytest.raises(UsageError, match="--spec-json holds the whole spec; drop --resolution"):
        spec_from_args(build_parser().parse_args([*argv[3:], "--resolution", "64"]))


def test_spec_from_record_resumes_the_same_sweep(tmp_path):
    from core.sweeps.spec import spec_from_record

    spec = _spec(tmp_path)
    again = spec_from_record(json.dumps(spec.canonical(), sort_keys=True))
    assert again.spec_hash() == spec.spec_hash() and again.mask_checkpoints.count(None) == 1


def test_estimate_counts_cached_cells_and_uses_history(app_store):
    from core.store.store import Store
    from core.sweeps.estimate import CellCost, cell_costs, default_cell_seconds, estimate
    from core.sweeps.plan import plan_sweep

    with Store(app_store.db) as store:
        same = plan_sweep(small_spec(app_store.images, app_store.checkpoints))
        est = estimate(cell_costs(same), store, "cpu")
        assert (est["cells"], est["cached"], est["todo"], est["seconds"]) == (app_store.cells, app_store.cells, 0, 0)
        new = cell_costs(plan_sweep(small_spec(app_store.images, app_store.checkpoints, resolutions=[64, 80],
                                               mask_checkpoints=[None], baselines=[])))
        sketch = new[0].sketch_sha256
        rows = {(r["resolution"], r["device"]): r["seconds"] for r in store.measured_seconds()
                if r["method"] == "checkpoint" and r["sketch_sha256"] == sketch}
        est = estimate(new, store, "cpu")
        # The same checkpoint, side and device: its measured mean; another side: scaled by pixel count from the
        # nearest measured side (64); nothing measured on CUDA: the default.
        assert (est["todo"], est["measured"], est["scaled"], est["guessed"]) == (6, 3, 3, 0)
        assert est["seconds"] == pytest.approx(3 * rows[(64, "cpu")] + 3 * rows[(64, "cpu")] * (80 / 64) ** 2)
        on_gpu = estimate(new, store, "cuda")
        assert (on_gpu["measured"], on_gpu["guessed"]) == (0, 6)
        assert on_gpu["seconds"] == pytest.approx(3 * default_cell_seconds("checkpoint", 64)
                                                  + 3 * default_cell_seconds("checkpoint", 80))
        # Another checkpoint has no history of its own: the default, not this one's times.
        other = [CellCost(c.key + "x", c.method, "f" * 64, c.resolution) for c in new]
        assert estimate(other, store, "cpu")["guessed"] == 6
        # A baseline is priced from the same baseline's measured time.
        canny = [c for c in cell_costs(plan_sweep(small_spec(app_store.images, app_store.checkpoints,
                                                             baseline_params={"canny": {"low": 31}})))
                 if c.method == "canny"]
        assert estimate(canny, store, "cpu")["measured"] == 3


def test_progress_eta_from_this_runs_pace():
    from datetime import datetime, timezone

    from core.sweeps.estimate import format_duration, progress

    class FakeStore:
        def count_cells_finished_since(self, sweep_id, since):
            return 10  # 10 cells finished since this run started

    started = datetime.fromtimestamp(1000.0, timezone.utc).isoformat()
    sweep = {"id": 1, "status": "running", "cells_total": 50, "done": 18, "failed": 2, "started_at": started}
    p = progress(FakeStore(), sweep, now=1020.0)  # 20 s for 10 cells: 2 s per cell, 30 left
    assert (p["done"], p["failed"], p["total"], p["remaining"]) == (18, 2, 50, 30)
    assert p["eta_s"] == pytest.approx(60.0) and format_duration(p["eta_s"]) == "1 min 00 s"
    assert progress(FakeStore(), dict(sweep, status="done"))["eta_s"] is None


def test_cancel_kills_the_whole_group_after_the_grace_period(tmp_path):
    from core.processes import pid_alive
    from core.sweeps.launcher import cancel

    # A worker that ignores SIGTERM and has a child: both must go.
    code = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "c = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
            "print(c.pid, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(proc.stdout.readline())
    started = time.monotonic()
    assert cancel(proc.pid, grace_s=0.5)
    assert time.monotonic() - started >= 0.5  # it waited for the grace period before SIGKILL
    proc.wait(5)
    assert proc.returncode == -signal.SIGKILL
    for _ in range(50):
        if not pid_alive(child):
            break
        time.sleep(0.05)
    assert not pid_alive(child)


def test_refuses_a_sweep_that_an_engine_runs_elsewhere(app_store):
    from core.errors import AlreadyRunning
    from core.store.store import Store, now
    from core.sweeps.launcher import launch
    from core.sweeps.spec import spec_from_record

    with Store(app_store.db) as store, store.write() as db:
        spec = spec_from_record(db["sweeps"].get(app_store.sweep_id)["spec_json"])
        db["sweeps"].update(app_store.sweep_id, {"status": "running", "pid": os.getpid(),
                                                 "host": socket.gethostname(), "heartbeat_at": now()})
    with pytest.raises(AlreadyRunning):
        launch(spec, app_store.db)


def _sweep(db, spec_hash):
    from core.store.store import Store

    with Store(db) as store:
        return next((s for s in store.sweeps() if s["spec_hash"] == spec_hash), None)


def test_launch_refuses_a_second_start_then_cancel_and_resume(swept, tmp_path):
    from core.errors import AlreadyRunning
    from core.processes import pid_alive, process_started
    from core.sweeps import launcher

    db = tmp_path / "store" / "w.db"
    spec = small_spec(swept.images, swept.checkpoints, mask_checkpoints=[str(swept.checkpoints["stage1"])],
                      baselines=[], resolutions=[64, 128], softctrs=[0.3, 0.7], gammas=[True, False],
                      name="cancel me")
    first = launcher.launch(spec, db, env=worker_env())
    assert first.log_path.parent == db.parent / "logs" and first.record_path.is_file()
    record = json.loads(first.record_path.read_text())
    assert record["pid"] == first.pid and record["started"] == pytest.approx(process_started(first.pid))
    assert json.loads(first.spec_path.read_text()) == spec.canonical()  # the worker's spec: canonical JSON
    with pytest.raises(AlreadyRunning):
        launcher.launch(spec, db)  # still starting: known from the launch record
    running = wait_for(lambda: (s := _sweep(db, spec.spec_hash())) and s["status"] == "running" and s["done"] >= 1
                    and s, 60, "the first done cell")
    assert running["pid"] == first.pid  # the worker is the engine itself: no shell in between
    with pytest.raises(AlreadyRunning):
        launcher.launch(spec, db)
    assert launcher.cancel_sweep(db, running, grace_s=20)
    stopped = _sweep(db, spec.spec_hash())
    assert stopped["status"] == "cancelled", launcher.log_tail(first.log_path)
    assert stopped["done"] < stopped["cells_total"] == 3 * 16
    assert not pid_alive(first.pid)

    again = launcher.resume(db, stopped, env=worker_env())
    finished = wait_for(lambda: (s := _sweep(db, spec.spec_hash())) and s["status"] not in ("running", "cancelled")
                     and not pid_alive(again.pid) and s, 120, "the resumed sweep")
    assert finished["status"] == "done", launcher.log_tail(again.log_path)
    assert finished["id"] == stopped["id"] and finished["done"] == finished["cells_total"]
    summary = json.loads(launcher.log_tail(again.log_path).splitlines()[-1])
    assert summary["cached"] == stopped["done"]  # resume reused what was done before the cancel
    # The worker's log says what happened, with timestamps: the sweep, then one line per cell.
    text = again.log_path.read_text()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO core\.sweeps\.session: "
    assert re.search(stamp + rf"sweep {finished['id']} .*: 48 cells, {stopped['done']} in the store", text), text
    cells = re.findall(stamp + r"cell (\d+)/(\d+) done in [\d.]+ s: \S+ · G_tiny", text)
    assert len(cells) == summary["computed"] and cells[-1] == (str(summary["computed"]), str(summary["computed"]))


def test_a_worker_that_fails_to_start_is_reported_and_can_be_dismissed(tmp_path):
    from core.processes import pid_alive
    from core.sweeps import launcher

    db = tmp_path / "s" / "w.db"
    spec = _spec(tmp_path)  # its checkpoints do not exist: the CLI refuses it
    started = launcher.launch(spec, db, env=worker_env())
    wait_for(lambda: not pid_alive(started.pid), 60, "the worker to exit")
    rec, = launcher.launches(db)
    assert not rec["alive"] and "error:" in launcher.log_tail(rec["log"])
    assert launcher.running_pid(db, spec.spec_hash()) is None
    launcher.forget(db, spec.spec_hash())
    assert launcher.launches(db) == [] and started.log_path.is_file()
