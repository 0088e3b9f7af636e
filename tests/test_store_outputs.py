"""The store's outputs apart from its database (``--outputs``/``WORKBENCH_OUTPUTS``) and the network-filesystem warning."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.store.database import network_filesystem, outputs_root, warn_network_filesystem
from tests.fixtures import make_test_set, run_sweep_quietly

MOUNTS = """\
sysfs /sys sysfs rw,nosuid 0 0
/dev/sda1 / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
fileserver:/export/lab /mnt/shared nfs4 rw,vers=4.2 0 0
/dev/sdb1 /mnt/shared/local-cache ext4 rw 0 0
//nas/share /mnt/nas cifs rw 0 0
user@host:/data /home/me/remote fuse.sshfs rw 0 0
fileserver:/export/x /mnt/with\\040space nfs rw 0 0
"""


@pytest.mark.parametrize("path, found", [
    ("/mnt/shared/runs/workbench.db", ("nfs4", "/mnt/shared")),
    ("/mnt/shared/local-cache/workbench.db", None),  # a local disk mounted inside the share: the deepest mount wins
    ("/mnt/nas/a/b.db", ("cifs", "/mnt/nas")),
    ("/home/me/remote/w.db", ("fuse.sshfs", "/home/me/remote")),
    ("/mnt/with space/w.db", ("nfs", "/mnt/with space")),
    ("/mnt/sharedx/w.db", None),  # a name that only starts like a mount point
    ("/tmp/w.db", None), ("/home/me/w.db", None)])
def test_network_filesystems_are_found_from_the_mounts_table(path, found):
    assert network_filesystem(path, MOUNTS) == found


def test_no_mounts_table_means_no_warning():
    assert network_filesystem("/mnt/shared/w.db", "") is None


def test_a_database_on_nfs_warns_once_with_the_fix(caplog, tmp_path):
    db = f"/mnt/shared/{tmp_path.name}/workbench.db"
    with caplog.at_level(logging.WARNING, logger="core.store.database"):
        first = warn_network_filesystem(db, MOUNTS)
        again = warn_network_filesystem(db, MOUNTS)
    assert first and again is None and len(caplog.records) == 1
    assert "nfs4 at /mnt/shared" in first and "WAL" in first and "--outputs" in first and "local disk" in first
    assert warn_network_filesystem(tmp_path / "w.db", MOUNTS) is None


def test_the_outputs_root_is_the_flag_the_environment_or_the_db_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_OUTPUTS", raising=False)
    assert outputs_root(tmp_path / "db" / "w.db") == (tmp_path / "db").resolve()
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(tmp_path / "env"))
    assert outputs_root(tmp_path / "db" / "w.db") == (tmp_path / "env").resolve()
    assert outputs_root(tmp_path / "db" / "w.db", tmp_path / "flag") == (tmp_path / "flag").resolve()


def _pixels(path):
    """A sketch PNG as compared across runs: its pixels (its provenance chunk carries the time it was computed)."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return pixels.shape, pixels.tobytes()


@pytest.fixture(scope="module")
def two_layouts(tmp_path_factory):
    """The same baseline sweep into a store as today and into one with its outputs apart."""
    from core.sweeps.spec import SweepSpec

    base = tmp_path_factory.mktemp("layouts")
    images = make_test_set(base / "images")
    spec = SweepSpec(images=[str(images)], baselines=["canny"], device="cpu", name="layouts")
    together = base / "together" / "workbench.db"
    assert run_sweep_quietly(spec, together).failed == 0
    apart, shared = base / "local" / "workbench.db", base / "shared"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_OUTPUTS", str(shared))
        assert run_sweep_quietly(spec, apart).failed == 0
    return together, apart, shared


def test_outputs_apart_give_the_same_cells_and_files_beside_nothing(two_layouts, monkeypatch):
    from core.store.store import Store

    together, apart, shared = two_layouts
    monkeypatch.delenv("WORKBENCH_OUTPUTS", raising=False)
    with Store(together) as store:
        before = {c["cell_key"]: (c["sketch_path"], _pixels(store.absolute(c["sketch_path"])))
                  for c in store.results()}
    with Store(apart, outputs=shared) as store:
        assert store.root == shared.resolve()
        after = {c["cell_key"]: (c["sketch_path"], _pixels(store.absolute(c["sketch_path"])))
                 for c in store.results()}
    assert after == before and before  # same keys, same relative paths, same pixels
    assert not (apart.parent / "cells").exists() and (shared / "cells").is_dir()


def test_a_store_given_outputs_later_still_finds_its_earlier_files(two_layouts, tmp_path):
    from core.store.store import Store

    together, _, _ = two_layouts
    with Store(together, outputs=tmp_path / "new") as store:
        cell = store.results()[0]
        assert store.absolute(cell["sketch_path"]) == together.parent / cell["sketch_path"]
        assert store.absolute(cell["sketch_path"]).is_file()


def test_the_file_route_serves_from_the_outputs_root(two_layouts, monkeypatch):
    from starlette.requests import Request

    from core.store.store import Store
    from workbench import server
    from workbench.files_route import file_url

    _, apart, shared = two_layouts
    monkeypatch.setenv("WORKBENCH_DB", str(apart))
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(shared))
    with Store(apart) as store:
        cell = store.results()[0]
        url = file_url(store.root, cell["sketch_path"])
    assert url and url.startswith(f"/files/{cell['sketch_path']}?v=")

    def get(relative: str):
        request = Request({"type": "http", "method": "GET", "path": "/files/" + relative, "headers": [],
                           "query_string": b"", "path_params": {"path": relative}})
        return asyncio.run(server.serve_file(request))

    served = get(cell["sketch_path"])
    assert served.status_code == 200 and served.path == (shared / cell["sketch_path"]).resolve()
    for refused in ("workbench.db", "../local/workbench.db", "cells/../../local/workbench.db"):
        assert get(refused).status_code == 404, refused


@pytest.mark.slow
def test_a_ray_sweep_with_outputs_apart_gives_todays_results(two_layouts, tmp_path, monkeypatch):
    """``--db`` on local disk, ``--outputs`` elsewhere, Ray workers: the cells and files of today's layout."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install '.[ray]'")
    import signal

    from core.store.store import Store
    from core.sweeps.run import run_sweep
    from core.sweeps.spec import SweepSpec

    together, _, _ = two_layouts
    with Store(together) as store:
        expected = {c["cell_key"]: (c["sketch_path"], _pixels(store.absolute(c["sketch_path"])))
                    for c in store.results()}
    db, shared = tmp_path / "local" / "w.db", tmp_path / "shared"
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(shared))
    sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False)
    signal.signal(signal.SIGTERM, sigterm)
    try:
        spec = SweepSpec(images=[str(together.parent.parent / "images")], baselines=["canny"], device="cpu",
                         name="layouts")
        summary = run_sweep(spec, db, progress=False, executor="ray")
    finally:
        ray.shutdown()
    assert summary.failed == 0 and summary.device.startswith("ray")
    with Store(db) as store:
        got = {c["cell_key"]: (c["sketch_path"], _pixels(store.absolute(c["sketch_path"])))
               for c in store.results()}
    assert got == expected and not (db.parent / "cells").exists() and (shared / "cells").is_dir()
