"""The Ray executor: the local executor's results and cache, a killed worker, cancelling, the missing extra.

The Ray tests share one local Ray instance limited to 2 CPUs (no GPU, no
dashboard), started once for the module: Ray's start-up is the slow part.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from core.errors import SweepError
from core.store.store import Store
from core.sweeps.run import run_sweep
from core.sweeps.spec import SweepSpec
from tests.fixtures import REPO_ROOT, run_cli, run_sweep_quietly, write_scene

try:
    import ray
except ImportError:
    ray = None

needs_ray = pytest.mark.skipif(
    ray is None, reason="Ray is not installed: pip install '.[ray]' (CI: bash scripts/setup.sh test ray)"
)

# Columns that legitimately differ between two runs of the same cells.
VOLATILE = {"seconds", "t_decode", "t_mask", "t_sketch", "t_post", "peak_mem_mb", "device", "sweep_id",
            "created_at", "finished_at", "provenance_json"}
FILE_COLUMNS = ("mask_path", "cropped_path", "sketch_path", "thumb_path", "npz_path", "svg_path", "gif_path",
                "vector_path")


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module: 2 CPUs, no GPU, no dashboard."""
    if ray is None:
        pytest.skip("Ray is not installed")
    sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False)
    signal.signal(signal.SIGTERM, sigterm)  # ray.init replaces it with its own (sys.exit)
    yield ray
    ray.shutdown()


def make_set(folder: Path, count: int, broken: bool = False) -> Path:
    for i in range(count):
        write_scene(folder / f"img{i}.png", 10 + i, 56 + 8 * (i % 3), 72)
    if broken:
        (folder / "broken.jpg").write_text("not an image")
    return folder


def _timeless(provenance: str | dict | None) -> dict | None:
    """A cell's provenance without the time it was computed (the one part two runs never share)."""
    data = json.loads(provenance) if isinstance(provenance, str) else provenance
    return None if data is None else {k: v for k, v in data.items() if k != "computed_at"}


def _file_content(path: Path):
    """A stored file as compared across runs: bytes, or for a PNG its pixels and its provenance chunk sans time."""
    if path.suffix != ".png":
        return path.read_bytes()
    from core.files import png_text
    from core.provenance import PNG_KEY

    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return pixels.tobytes(), pixels.shape, _timeless(png_text(path).get(PNG_KEY))


def _rows(db: Path) -> dict[str, dict]:
    with Store(db) as store:
        return {r["cell_key"]: r for r in store.results()}


# ----------------------------------------------------------------------------- same results, one cache


@needs_ray
def test_ray_gives_the_local_results_and_the_second_executor_computes_nothing(ray_instance, tiny_weights, tmp_path):
    from core.sweeps.results import result_records

    images = make_set(tmp_path / "set", 3, broken=True)
    spec = SweepSpec(images=[str(images)], sketch_checkpoints=[str(tiny_weights["sketch_a"])],
                     mask_checkpoints=[None, str(tiny_weights["mask_a"])], mask_modes=["soft", "hard"],
                     softctrs=[0.3, 0.6], merges=[False, True], baselines=["canny"], resolutions=[64], device="cpu")
    per_image = 2 + 2 * 2 * 2 + 1  # background off x merge, mask x mode x softctr x merge, canny
    total = 4 * per_image
    local_db, ray_db = tmp_path / "local" / "w.db", tmp_path / "ray" / "w.db"

    # One thread, like each Ray worker ("cpu (1 thread)" below): float sums split over other thread counts
    # can move a grey level by one at a few pixels, and the files are compared byte for byte.
    local = run_sweep_quietly(spec, local_db)
    distributed = run_sweep(spec, ray_db, progress=False, executor="ray")
    for summary in (local, distributed):
        assert (summary.cells, summary.computed, summary.cached, summary.failed) == (total, total, 0, per_image)
        assert summary.status == "done"
    assert distributed.device == "ray: 2 cpu workers"

    # Same rows (ids, keys, config, status, errors, metrics, relative paths), apart from timings and sweep ids.
    local_rows, ray_rows = _rows(local_db), _rows(ray_db)
    assert local_rows.keys() == ray_rows.keys() and len(local_rows) == total
    for key, row in local_rows.items():
        assert {k: v for k, v in row.items() if k not in VOLATILE} == \
               {k: v for k, v in ray_rows[key].items() if k not in VOLATILE}, key
        assert ray_rows[key]["device"] == "cpu"
        assert _timeless(row["provenance_json"]) == _timeless(ray_rows[key]["provenance_json"]), key
        # Same files (PNGs: same pixels, same provenance but its time), written by the workers under the store's folder.
        for column in FILE_COLUMNS:
            if row[column]:
                assert _file_content(local_db.parent / row[column]) == _file_content(ray_db.parent / row[column])
    assert sum(r["status"] == "failed" for r in ray_rows.values()) == per_image
    assert all("broken.jpg" == r["image_name"] for r in ray_rows.values() if r["status"] == "failed")

    # `workbench results` says the same for both, apart from timings, devices and the store's folder.
    with Store(local_db) as a, Store(ray_db) as b:
        for ra, rb in zip(result_records(a), result_records(b), strict=True):
            for rec, root in ((ra, local_db.parent), (rb, ray_db.parent)):
                for k in ("sketch_path", "thumb_path"):
                    rec[k] = rec[k] and str(Path(rec[k]).relative_to(root))
            skip = {"seconds", "device", "sweep_id", "provenance"}
            assert {k: v for k, v in ra.items() if k not in skip} == {k: v for k, v in rb.items() if k not in skip}
            assert _timeless(ra["provenance"]) == _timeless(rb["provenance"])
        sweep = b.sweeps()[0]
        assert (sweep["executor"], sweep["status"], sweep["done"], sweep["failed"]) == \
               ("ray", "done", total - per_image, per_image)
        workers = b.sweep_workers(sweep["id"])
    # Per-worker progress, written by the driver: one worker per CPU, their counts add up to the sweep.
    # (How the images split between them depends on which worker starts first.)
    assert [w["worker"] for w in workers] == ["w0", "w1"]
    assert all(w["status"] == "done" and w["device"] == "cpu (1 thread)" for w in workers)
    assert sum(w["cells_done"] for w in workers) == total - per_image
    assert sum(w["cells_failed"] for w in workers) == per_image

    # The second of the two computes nothing, in either order; the sweep records the executor of its last run.
    again_ray = run_sweep(spec, local_db, progress=False, executor="ray")
    again_local = run_sweep(spec, ray_db, progress=False)
    for summary, first in ((again_ray, local), (again_local, distributed)):
        assert (summary.sweep_id, summary.computed, summary.cached, summary.failed) == (first.sweep_id, 0, total,
                                                                                        per_image)
    with Store(local_db) as a, Store(ray_db) as b:
        assert a.sweeps()[0]["executor"] == "ray" and b.sweeps()[0]["executor"] == "local"
    assert _rows(local_db) == local_rows  # untouched: nothing was recomputed


# ----------------------------------------------------------------------------- a killed worker


def _worker_rows(db: Path) -> list[dict]:
    try:
        conn = sqlite3.connect(db, timeout=5)
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM sweep_workers ORDER BY worker")]
    except sqlite3.OperationalError:
        return []


@needs_ray
def test_a_worker_killed_mid_sweep_still_gives_every_cell_exactly_once(ray_instance, tiny_weights, tmp_path):
    images = make_set(tmp_path / "set", 8)
    spec = SweepSpec(images=[str(images)],
                     sketch_checkpoints=[str(tiny_weights["sketch_a"]), str(tiny_weights["sketch_b"])],
                     mask_checkpoints=[str(tiny_weights["mask_a"]), str(tiny_weights["mask_b"])],
                     resolutions=[64, 96], softctrs=[0.3, 0.5, 0.7], device="cpu")
    total = 8 * 2 * 2 * 2 * 3
    db = tmp_path / "w.db"
    outcome: dict = {}

    def sweep():
        try:
            outcome["summary"] = run_sweep(spec, db, progress=False, executor="ray")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=sweep)
    thread.start()
    victim, done_then = None, None
    deadline = time.monotonic() + 180
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        # The pid each worker reported from inside its actor, once it has finished a group.
        rows = _worker_rows(db)
        busy = [w for w in rows if w["status"] == "running" and w["cells_done"] > 0 and w["pid"]]
        if busy:
            victim, done_then = busy[0], sum(w["cells_done"] for w in rows)
            os.kill(victim["pid"], signal.SIGKILL)
        time.sleep(0.05)
    thread.join(240)
    assert not thread.is_alive(), "the sweep did not end after its worker was killed"
    assert "error" not in outcome, outcome.get("error")
    assert victim is not None, "the sweep ended before a worker could be killed; make the workload bigger"
    assert done_then < total

    summary = outcome["summary"]
    assert (summary.status, summary.cells, summary.computed, summary.cached, summary.failed) == \
           ("done", total, total, 0, 0)
    with Store(db) as store:
        rows = store.results(summary.sweep_id)
        assert len(rows) == total == len({r["cell_key"] for r in rows})
        assert {r["status"] for r in rows} == {"done"}
        for row in rows:
            assert cv2.imread(str(store.absolute(row["sketch_path"])), cv2.IMREAD_GRAYSCALE) is not None
        workers = {w["worker"]: w for w in store.sweep_workers(summary.sweep_id)}
    killed = workers[victim["worker"]]
    # The driver saw the death (the worker had image groups in hand) and queued them again; Ray restarts it.
    assert killed["restarts"] == 1
    assert sum(w["restarts"] for w in workers.values()) == 1
    # Exactly once: the driver recorded each cell once (the counts add up to the sweep, not more).
    assert sum(w["cells_done"] for w in workers.values()) == total
    with pytest.raises(ProcessLookupError):
        os.kill(victim["pid"], 0)


# ----------------------------------------------------------------------------- cancelling from the CLI / the app


@needs_ray
def test_sigterm_to_the_process_group_cancels_a_ray_sweep_and_leaves_no_process(ray_instance, tiny_weights,
                                                                                tmp_path):
    """What the app's cancel does: SIGTERM to the CLI's process group, which also holds its local Ray instance."""
    images = make_set(tmp_path / "set", 8)
    db = tmp_path / "w.db"
    args = [sys.executable, "-m", "core.cli.main", "sweep", "--images", str(images), "--sketch-checkpoint",
            str(tiny_weights["sketch_a"]), str(tiny_weights["sketch_b"]), "--mask-checkpoint",
            str(tiny_weights["mask_a"]), str(tiny_weights["mask_b"]), "--resolution", "64", "96",
            "--softctr", "0.3", "0.5", "0.7", "--device", "cpu", "--db", str(db), "--json", "--no-progress"]
    total = 8 * 2 * 2 * 2 * 3
    # A Ray instance of its own (not the module's): RAY_ADDRESS must not point it elsewhere.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([*args, "--executor", "ray"], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if any(w["cells_done"] for w in _worker_rows(db)):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "cancelled" and 0 < summary["computed"] < total
    with Store(db) as store:
        sweep = store.sweeps()[0]
        assert (sweep["status"], sweep["executor"]) == ("cancelled", "ray")
        assert sweep["done"] == summary["computed"]
        assert {w["status"] for w in store.sweep_workers(sweep["id"])} == {"cancelled"}
    # The driver, its local Ray instance and the workers (Ray kills them with their parent) are all gone.
    deadline = time.monotonic() + 10
    left = None
    while time.monotonic() < deadline:
        left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left in the sweep's session: {left}"

    # What the cancelled run recorded is complete: each done cell has its files (resuming, by either executor,
    # reuses them: see the first test).
    with Store(db) as store:
        done = [r for r in store.results() if r["status"] == "done"]
        assert len(done) == summary["computed"]
        for row in done:
            assert cv2.imread(str(store.absolute(row["sketch_path"])), cv2.IMREAD_GRAYSCALE) is not None


# ----------------------------------------------------------------------------- without Ray


def test_missing_ray_extra_is_one_clear_error(tiny_weights, tmp_path):
    images = make_set(tmp_path / "set", 1)
    db = tmp_path / "w.db"
    # sys.modules["ray"] = None makes `import ray` fail as if the extra were not installed.
    code = ("import sys; sys.modules['ray'] = None\n"
            "from core.sweeps.ray import ray_available\n"
            "print('ray_available', ray_available())\n"
            "from core.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", code, "sweep", "--images", str(images), "--sketch-checkpoint",
                           str(tiny_weights["sketch_a"]), "--resolution", "64", "--device", "cpu", "--db", str(db),
                           "--executor", "ray", "--no-progress"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.strip() == "ray_available False"
    assert proc.stderr.strip() == "error: --executor ray needs Ray: pip install '.[ray]'"
    assert not db.exists()  # refused before anything was planned or recorded


def test_ray_flags_are_checked(tiny_weights, tmp_path):
    import socket

    from core.sweeps.ray import check_reachable, device_kind, ray_argv

    images = make_set(tmp_path / "set", 1)
    proc = run_cli("sweep", "--images", str(images), "--sketch-checkpoint", str(tiny_weights["sketch_a"]),
                   "--resolution", "64", "--device", "cpu", "--db", str(tmp_path / "w.db"), "--ray-address", "auto",
                   "--no-progress")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --ray-address needs --executor ray"
    with pytest.raises(SweepError, match="--device cuda"):
        device_kind("cuda:1")
    assert (device_kind("auto"), device_kind("CPU"), device_kind("cuda")) == ("auto", "cpu", "gpu")
    with pytest.raises(SweepError, match="executor 'dask'"):
        run_sweep(SweepSpec(images=[str(images)]), tmp_path / "w.db", executor="dask")
    # A --ray-address nobody listens on is refused at once (Ray itself would retry for minutes).
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(SweepError, match=f"cannot reach a Ray cluster at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")
    check_reachable("auto")  # left to Ray
    assert ray_argv() == ["--executor", "ray"]
    assert ray_argv("head-node:6379", 4) == ["--executor", "ray", "--ray-address", "head-node:6379",
                                            "--ray-cpus-per-worker", "4"]


def test_a_gpu_worker_batches_the_window_of_images_it_is_sent(unbatched, monkeypatch, tmp_path):
    """A worker sent several images computes them with the engine's batched path; no Ray needed for the class."""
    from core.sweeps.engine import CellEngine
    from core.sweeps.plan import plan_sweep
    from core.sweeps.ray_worker import SweepWorker

    spec, _, rows, sketches = unbatched
    windows = []
    run_window = CellEngine.run_window

    def spy(self, groups, decoded=None):
        windows.append(len(groups))
        return run_window(self, groups, decoded)

    monkeypatch.setattr(CellEngine, "batches_on", staticmethod(lambda device: True))  # as on a GPU
    monkeypatch.setattr(CellEngine, "run_window", spy)
    plan = plan_sweep(spec)
    paths = {sha: str(ckpt.path) for sha, ckpt in plan.checkpoints.items()}
    worker = SweepWorker("w0", spec, paths, str(tmp_path), 1, "cpu", 1)
    worker.engine.stop = threading.Event()  # outside a Ray task there is no cancel flag to ask
    reply = worker.run_group(plan.cells)
    results = dict(reply["results"])
    assert set(results) == set(rows) and all(f["status"] == "done" for f in results.values())
    assert windows == [3]  # the three images in one batched window
    for key, sketch in sketches.items():
        got = cv2.imread(str(tmp_path / results[key]["sketch_path"]), cv2.IMREAD_GRAYSCALE)
        assert (abs(got.astype(int) - sketch.astype(int)) <= 2).mean() >= 0.998
