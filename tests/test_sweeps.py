"""The sweep engine: cell keys, caching, resume after SIGKILL, bad inputs, the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import SweepError
from core.store.store import Store
from core.sweeps.engine import SweepSpec, cell_key, plan_sweep, run_sweep
from tests.sweep_fixtures import REPO, run_cli, write_scene

pytest_plugins = ["tests.sweep_fixtures"]


def spec_for(weights, image_folder, **axes) -> SweepSpec:
    base = dict(images=[str(image_folder)], sketch_checkpoints=[str(weights["sketch_a"])],
                mask_checkpoints=[str(weights["mask_a"])], resolutions=[64], device="cpu")
    base.update(axes)
    return SweepSpec(**base)


# ----------------------------------------------------------------------------- cell keys


def test_cell_key_depends_on_bytes_checkpoints_and_config_not_on_names(tiny_weights, image_dir, tmp_path):
    plan = plan_sweep(spec_for(tiny_weights, image_dir, softctrs=[0.3, 0.5]))
    keys = {c.key for c in plan.cells}
    assert len(keys) == len(plan.cells) == 3 * 2
    # The same bytes under another name, in another folder, give the same keys.
    other = tmp_path / "copy"
    other.mkdir()
    (other / "renamed.png").write_bytes((image_dir / "a.png").read_bytes())
    copy_plan = plan_sweep(spec_for(tiny_weights, other, softctrs=[0.3, 0.5]))
    assert {c.key for c in copy_plan.cells} <= keys
    config = plan.cells[0].config
    assert cell_key("0" * 64, config) != cell_key("1" * 64, config)
    assert cell_key("0" * 64, config) != cell_key("0" * 64, dict(config, softctr=0.7))
    assert cell_key("0" * 64, config) != cell_key("0" * 64, dict(config, sketch_sha256="f" * 64))


def test_background_off_collapses_mask_axes(tiny_weights, image_dir):
    plan = plan_sweep(spec_for(tiny_weights, image_dir, mask_checkpoints=[None, str(tiny_weights["mask_a"])],
                               mask_modes=["soft", "hard"], softctrs=[0.3, 0.5]))
    per_image = len(plan.cells) // 3
    assert per_image == 1 + 2 * 2  # mask mode and softctr do not apply without a Mask Net


@pytest.mark.parametrize("axes, message", [
    ({"resolutions": [5]}, "resolution"),
    ({"mask_modes": ["fuzzy"]}, "mask mode"),
    ({"softctrs": [1.5]}, "softctr"),
    ({"precisions": ["fp8"]}, "precision"),
    ({"profiles": ["other"]}, "profile"),
    ({"images": ["/nonexistent/folder"]}, "does not exist"),
])
def test_unusable_specs_are_refused(tiny_weights, image_dir, axes, message):
    with pytest.raises(SweepError, match=message):
        plan_sweep(spec_for(tiny_weights, image_dir, **axes))


def test_checkpoint_in_the_wrong_role_is_refused(tiny_weights, image_dir):
    with pytest.raises(SweepError, match="not a Sketch Net"):
        plan_sweep(spec_for(tiny_weights, image_dir, sketch_checkpoints=[str(tiny_weights["mask_a"])]))


# ----------------------------------------------------------------------------- caching


def test_second_run_computes_nothing_and_new_axis_only_new_cells(tiny_weights, image_dir, tmp_path):
    db = tmp_path / "w.db"
    first = run_sweep(spec_for(tiny_weights, image_dir, mask_modes=["soft", "hard"]), db, progress=False)
    assert (first.cells, first.computed, first.cached, first.failed) == (6, 6, 0, 0)
    again = run_sweep(spec_for(tiny_weights, image_dir, mask_modes=["soft", "hard"]), db, progress=False)
    assert (again.sweep_id, again.computed, again.cached) == (first.sweep_id, 0, 6)
    wider = run_sweep(spec_for(tiny_weights, image_dir, mask_modes=["soft", "hard"], resolutions=[64, 96]), db,
                      progress=False)
    assert wider.sweep_id != first.sweep_id
    assert (wider.cells, wider.computed, wider.cached) == (12, 6, 6)
    with Store(db) as store:
        assert store.query("SELECT count(*) AS n FROM cells")[0]["n"] == 12


def test_outputs_match_the_plain_pipeline(tiny_weights, image_dir, tmp_path):
    """The engine's folded networks give the same sketches as the eager seed pipeline (within 2 levels)."""
    from core.models.checkpoints import load_checkpoint
    from core.pipeline.images import read_image
    from core.pipeline.seed import SeedSettings, run_seed

    db = tmp_path / "w.db"
    spec = spec_for(tiny_weights, image_dir, mask_modes=["soft", "hard"], merges=[False, True], gammas=[True, False])
    run_sweep(spec, db, progress=False)
    mask = load_checkpoint(tiny_weights["mask_a"]).build()
    sketch = load_checkpoint(tiny_weights["sketch_a"]).build()
    with Store(db) as store:
        rows = store.results()
        assert len(rows) == 3 * 2 * 2 * 2
        for row in rows:
            img = read_image(row["image_path"])
            settings = SeedSettings(64, True, row["mask_mode"], row["softctr"], bool(row["gamma"]), bool(row["merge"]))
            expected = run_seed(img, settings, sketch, mask).sketch
            got = cv2.imread(str(store.absolute(row["sketch_path"])), cv2.IMREAD_GRAYSCALE)
            assert got.shape == expected.shape == img.shape[:2]
            assert np.abs(got.astype(int) - expected.astype(int)).max() <= 2
            thumb = cv2.imread(str(store.absolute(row["thumb_path"])), cv2.IMREAD_UNCHANGED)
            assert thumb is not None and max(thumb.shape[:2]) <= 256
            assert cv2.imread(str(store.absolute(row["cropped_path"]))).shape == img.shape
            assert row["t_sketch"] >= 0 and row["seconds"] > 0


def test_baselines_sit_next_to_checkpoints(tiny_weights, image_dir, tmp_path):
    db = tmp_path / "w.db"
    summary = run_sweep(spec_for(tiny_weights, image_dir, baselines=["canny", "xdog"],
                                 baseline_params={"canny": {"low": 30}}), db, progress=False)
    assert summary.cells == 3 * 3
    with Store(db) as store:
        canny = [r for r in store.results() if r["method"] == "canny"]
        assert len(canny) == 3 and all(r["status"] == "done" for r in canny)
        assert json.loads(canny[0]["baseline_params"])["low"] == 30


# ----------------------------------------------------------------------------- bad input


def pixel_bomb(path: Path, side: int = 30000) -> Path:
    """A tiny PNG whose header declares side x side pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def bad_input_set(folder: Path) -> dict[str, str]:
    """Good images of every kind next to broken ones; returns name -> expected status."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (50, 70, 3)).astype(np.uint8), (9, 9), 3)
    cv2.imwrite(str(folder / "rgb.png"), base)
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(base, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(base, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "deep16.png"), base.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "photo.jpg"), base)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.png"), "wb") as fh:
        fh.write(cv2.imencode(".png", base[::-1])[1].tobytes())
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image")
    good_png = cv2.imencode(".png", base[:, ::-1])[1].tobytes()
    (folder / "truncated.png").write_bytes(good_png[: len(good_png) // 2])
    pixel_bomb(folder / "bomb.png")
    (folder / "notes.txt").write_text("ignored: no image extension")
    return {"rgb.png": "done", "gray.png": "done", "rgba.png": "done", "deep16.png": "done", "photo.jpg": "done",
            "caf\\xe9.png": "done", "empty.png": "failed", "text.jpg": "failed", "truncated.png": "failed",
            "bomb.png": "failed"}


def test_bad_inputs_fail_their_cells_and_the_sweep_goes_on(tiny_weights, tmp_path):
    expected = bad_input_set(tmp_path / "mixed")
    db = tmp_path / "w.db"
    proc = run_cli("sweep", "--images", str(tmp_path / "mixed"), "--sketch-checkpoint", str(tiny_weights["sketch_a"]),
                   "--mask-checkpoint", str(tiny_weights["mask_a"]), "--resolution", "64", "--device", "cpu",
                   "--db", str(db), "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 4 and summary["cells"] == len(expected)
    with Store(db) as store:
        rows = {r["image_name"]: r for r in store.results()}
    assert {n: r["status"] for n, r in rows.items()} == expected
    assert "0 bytes" in rows["empty.png"]["error"]
    assert "30000x30000" in rows["bomb.png"]["error"]
    assert "truncated" in rows["truncated.png"]["error"]
    assert rows["text.jpg"]["error"]
    # Far below the ~2.7 GB that decoding the bomb would take.
    assert max(r["peak_mem_mb"] or 0 for r in rows.values()) < 1500
    # Every kind of good image became the same 8-bit RGB that OpenCV's colour read gives.
    for name in ("gray.png", "rgba.png", "deep16.png"):
        assert rows[name]["width"] == 70 and rows[name]["height"] == 50


# ----------------------------------------------------------------------------- resume & CLI


def _sweep_args(weights, images, db):
    return ["sweep", "--images", str(images), "--sketch-checkpoint", str(weights["sketch_a"]), str(weights["sketch_b"]),
            "--mask-checkpoint", str(weights["mask_a"]), str(weights["mask_b"]), "--resolution", "64", "128",
            "--mask-mode", "soft", "hard", "--softctr", "0.3", "0.5", "0.7", "--device", "cpu", "--db", str(db),
            "--json", "--no-progress"]


def _done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        return conn.execute("SELECT count(*) FROM cells WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_rerun_finishes_only_missing_cells(tiny_weights, tmp_path):
    images = tmp_path / "set"
    for i in range(6):
        write_scene(images / f"img{i}.png", i, 60 + 4 * i, 80)
    db = tmp_path / "w.db"
    args = _sweep_args(tiny_weights, images, db)
    total = 6 * 2 * 2 * 2 * 2 * 3
    proc = subprocess.Popen([sys.executable, "-m", "core.cli.main", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while _done(db) < 10 and time.time() < deadline and proc.poll() is None:
        # Reading results while the sweep writes must work.
        listing = run_cli("results", "--json", "--db", str(db)) if db.exists() else None
        if listing is not None and listing.returncode == 0:
            json.loads(listing.stdout)
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed; make the workload bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _done(db)
    assert 0 < killed_at < total
    with Store(db) as store:
        assert store.sweeps()[0]["status"] == "interrupted"

    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["cells"] == total
    assert summary["computed"] == total - summary["cached"]
    assert summary["cached"] >= killed_at and summary["computed"] > 0 and summary["failed"] == 0

    third = json.loads(run_cli(*args).stdout.strip().splitlines()[-1])
    assert (third["computed"], third["cached"]) == (0, total)
    with Store(db) as store:
        rows = store.results(third["sweep_id"])
        assert len(rows) == total == len({r["cell_key"] for r in rows})
        assert {r["status"] for r in rows} == {"done"}
        for row in rows:
            assert cv2.imread(str(store.absolute(row["sketch_path"])), cv2.IMREAD_GRAYSCALE) is not None
        assert store.sweeps()[0]["status"] == "done"


def test_results_json_and_csv(tiny_weights, image_dir, tmp_path):
    db = tmp_path / "w.db"
    run_sweep(spec_for(tiny_weights, image_dir, mask_checkpoints=[None]), db, progress=False)
    records = json.loads(run_cli("results", "--json", "--db", str(db)).stdout)
    assert len(records) == 3
    needed = {"cell_id", "sweep_id", "image", "sketch_checkpoint", "mask_checkpoint", "resolution", "mask_mode",
              "softctr", "gamma", "merge", "background", "profile", "precision", "device", "status", "error",
              "sketch_path", "seconds"}
    assert needed <= set(records[0])
    assert records[0]["mask_checkpoint"] is None and records[0]["background"] == 0
    assert records[0]["sketch_checkpoint"].startswith("G_net_a.safetensors@")
    assert Path(records[0]["sketch_path"]).is_file()
    csv_out = run_cli("results", "--csv", "--db", str(db)).stdout.splitlines()
    assert csv_out[0].startswith("cell_id,sweep_id,image") and len(csv_out) == 4
    missing = run_cli("results", "--sweep", "99", "--db", str(db))
    assert missing.returncode != 0 and "no sweep 99" in missing.stderr


def test_toml_spec_and_bad_arguments(tiny_weights, image_dir, tmp_path):
    toml = tmp_path / "sweep.toml"
    toml.write_text(
        f'name = "from toml"\nimages = ["{image_dir}"]\nsketch_checkpoints = ["{tiny_weights["sketch_a"]}"]\n'
        f'mask_checkpoints = ["none"]\nresolutions = [64]\ndevice = "cpu"\n'
    )
    ok = run_cli("sweep", "--config", str(toml), "--db", str(tmp_path / "w.db"), "--json", "--no-progress")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["cells"] == 3
    (tmp_path / "bad.toml").write_text('imagez = ["x"]\n')
    for args, message in [
        (["--config", str(tmp_path / "bad.toml")], "unknown keys"),
        (["--images", str(image_dir), "--sketch-checkpoint", str(tmp_path / "missing.pth")], "does not exist"),
        (["--images", str(image_dir), "--sketch-checkpoint", str(tiny_weights["sketch_a"]), "--resolution", "3"],
         "resolution"),
        (["--images", str(image_dir)], "nothing to run"),
        (["--images", str(image_dir), "--sketch-checkpoint", str(tiny_weights["sketch_a"]), "--device", "cuda:7"],
         "CUDA|does not exist"),
    ]:
        proc = run_cli("sweep", *args, "--db", str(tmp_path / "w.db"), "--no-progress")
        assert proc.returncode != 0
        assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
        assert __import__("re").search(message, proc.stderr), proc.stderr
