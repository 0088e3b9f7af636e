"""The store's output files over HTTP (``/files/...``): what is served, how it is cached, what is refused.

Most tests run the route alone under uvicorn on a free local port, over a baseline-only store
(no networks: a second to build); one starts ``workbench ui`` for real and
fetches a file URL from it. The DB-side paging of the Compare grid's rows is
tested here too, on the same store and on the legacy one.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.fixtures import free_port, make_test_set, run_sweep_quietly

pytest.importorskip("uvicorn")

LEGACY = Path(__file__).resolve().parent / "data" / "legacy-store"


@pytest.fixture(scope="module")
def baseline_store(tmp_path_factory) -> Path:
    """A store of baseline cells (canny and xdog over 3 generated photos); returns the database path."""
    from core.sweeps.spec import SweepSpec

    base = tmp_path_factory.mktemp("files")
    images = make_test_set(base / "images")
    db = base / "store" / "workbench.db"
    summary = run_sweep_quietly(SweepSpec(images=[str(images)], baselines=["canny", "xdog"], device="cpu",
                                          name="files"), db)
    assert summary.status == "done" and summary.failed == 0, summary
    return db


class Response:
    """What the little HTTP client below got back."""

    def __init__(self, status: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class Client:
    """Raw HTTP/1.1 requests to a local server: the path goes out exactly as written (no normalising)."""

    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def head(self, path: str) -> Response:
        return self.request("HEAD", path)

    def post(self, path: str) -> Response:
        return self.request("POST", path)

    def delete(self, path: str) -> Response:
        return self.request("DELETE", path)


@contextmanager
def route_server(db: Path):
    """The app's extra routes alone, under uvicorn on a free port of 127.0.0.1, serving the store at ``db``."""
    import uvicorn
    from starlette.applications import Starlette

    from workbench.server import routes

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DB", str(db))
        server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes()), host="127.0.0.1", port=free_port(),
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the route server did not start"
            time.sleep(0.05)
        try:
            yield Client(server.config.port)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(baseline_store):
    """A client of the app's extra routes, serving the baseline store."""
    with route_server(baseline_store) as c:
        yield c


def _done_cells(db: Path) -> list[dict]:
    from core.store.store import Store

    with Store(db) as store:
        return [c for c in store.results() if c["status"] == "done"]


def test_a_stored_output_is_served_with_its_type_and_cache_headers(client, baseline_store):
    from workbench.files_route import file_url

    cell = _done_cells(baseline_store)[0]
    root = baseline_store.parent
    for column, media in (("sketch_path", "image/png"), ("thumb_path", "image/webp")):
        url = file_url(root, cell[column])
        assert url == f"/files/{cell[column]}?v={(root / cell[column]).stat().st_mtime_ns}"
        r = client.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == media
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["etag"] and parsedate_to_datetime(r.headers["last-modified"])
        assert r.content == (root / cell[column]).read_bytes()


def test_head_answers_the_headers_without_a_body(client, baseline_store):
    from workbench.files_route import file_url

    cell = _done_cells(baseline_store)[0]
    r = client.head(file_url(baseline_store.parent, cell["sketch_path"]))
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) == (baseline_store.parent / cell["sketch_path"]).stat().st_size
    assert r.headers["content-type"] == "image/png"


def test_only_get_and_head(client, baseline_store):
    cell = _done_cells(baseline_store)[0]
    assert client.post(f"/files/{cell['sketch_path']}").status_code == 405
    assert client.delete(f"/files/{cell['sketch_path']}").status_code == 405


def test_files_the_store_does_not_reference_are_refused(client, baseline_store):
    root = baseline_store.parent
    cell = _done_cells(baseline_store)[0]
    stray = root / "cells" / cell["cell_key"][:2] / cell["cell_key"] / "other.png"
    stray.write_bytes(b"\x89PNG not an output")
    loose = root / "notes.png"
    loose.write_bytes(b"\x89PNG")
    try:
        for path in ("workbench.db", "notes.png", stray.relative_to(root).as_posix(), "cells", "missing/file.png",
                     f"cells/{cell['cell_key'][:2]}/{cell['cell_key']}"):
            assert client.get(f"/files/{path}").status_code == 404, path
    finally:
        stray.unlink()
        loose.unlink()


@pytest.mark.parametrize("raw", [
    "/files/cells/../workbench.db",
    "/files/cells/%2e%2e/workbench.db",
    "/files/cells/%2E%2E%2Fworkbench.db",
    "/files/%2e%2e/%2e%2e/etc/passwd",
    "/files/..%2f..%2fetc%2fpasswd",
    "/files//etc/passwd",
    "/files/%2fetc%2fpasswd",
    "/files/cells%5c..%5cworkbench.db",
])
def test_traversal_and_absolute_paths_are_refused(client, raw):
    r = client.get(raw)
    assert r.status_code in (400, 403, 404), (raw, r.status_code)
    assert b"SQLite" not in r.content and b"root:" not in r.content


def test_request_names_that_could_leave_the_folder_are_refused(baseline_store, tmp_path):
    from workbench.files_route import request_file

    root = baseline_store.parent
    cell = _done_cells(baseline_store)[0]
    assert request_file(root, cell["sketch_path"])[0] == cell["sketch_path"]
    for name in ("", "/etc/passwd", "../x", "cells/../workbench.db", "./workbench.db", "cells//x", "a\\b",
                 "a\x00b", str(baseline_store)):
        assert request_file(root, name) is None, name


def test_a_symlink_out_of_the_store_is_refused_even_when_referenced(client, baseline_store, tmp_path):
    from core.store.store import Store

    root = baseline_store.parent
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    cell = _done_cells(baseline_store)[0]
    link = root / "cells" / cell["cell_key"][:2] / cell["cell_key"] / "outside.png"
    link.symlink_to(secret)
    stored = link.relative_to(root).as_posix()
    with Store(baseline_store) as store:
        store.finish_cells([(cell["cell_key"], {"svg_path": stored})])
        assert store.references_file(stored)
    try:
        r = client.get(f"/files/{stored}")
        assert r.status_code == 404
        assert b"secret" not in r.content
    finally:
        with Store(baseline_store) as store:
            store.finish_cells([(cell["cell_key"], {"svg_path": None})])
        link.unlink()


def test_an_input_image_is_served_by_its_content_hash_only(client, baseline_store):
    from core.files import sha256_file
    from core.store.store import Store
    from workbench.files_route import input_file, input_url

    cell = _done_cells(baseline_store)[0]
    sha = cell["image_sha256"]
    with Store(baseline_store) as store:
        recorded = store.image_file(sha)
    path = input_file(baseline_store.parent, sha, recorded)
    assert path is not None and sha256_file(path) == sha
    url = input_url(sha, path)
    assert url == f"/inputs/{sha}?v={path.stat().st_mtime_ns}"
    r = client.get(url)
    assert r.status_code == 200 and r.content == path.read_bytes()
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Only a 64-digit lowercase hash the store knows names a file: never a path.
    for bad in ("0" * 64, sha.upper(), sha[:-1], "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", sha + "%2F.."):
        assert client.get(f"/inputs/{bad}").status_code == 404, bad
    assert client.post(f"/inputs/{sha}").status_code == 405
    assert input_file(baseline_store.parent, "g" * 64, recorded) is None
    assert input_file(baseline_store.parent, sha, None) is None


def test_file_url_changes_when_the_file_is_rewritten(baseline_store, tmp_path):
    from workbench.files_route import file_url

    root = tmp_path / "store"
    (root / "cells" / "ab").mkdir(parents=True)
    target = root / "cells" / "ab" / "sketch.png"
    target.write_bytes(b"one")
    first = file_url(root, "cells/ab/sketch.png")
    assert first.startswith("/files/cells/ab/sketch.png?v=")
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1_000_000))
    target.write_bytes(b"two")
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 5_000_000))
    second = file_url(root, "cells/ab/sketch.png")
    assert second != first and second.startswith("/files/cells/ab/sketch.png?v=")
    assert file_url(root, str(target)) == second  # an absolute stored path inside the folder
    assert file_url(root, "cells/ab/missing.png") is None
    assert file_url(root, "") is None
    assert file_url(root, str(tmp_path / "elsewhere.png")) is None  # outside the store's folder


def test_a_shared_mask_of_the_legacy_store_is_served(tmp_path):
    from core.store.store import Store
    from workbench.files_route import file_url

    root = tmp_path / "legacy"
    shutil.copytree(LEGACY, root)
    db = root / "runs" / "workbench.db"
    with Store(db) as store:
        masks = sorted({c["mask_path"] for c in store.results() if c["mask_path"]})
    assert masks and masks[0].startswith("masks/")
    with route_server(db) as c:
        r = c.get(file_url(db.parent, masks[0]))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert c.get("/files/masks/not-a-mask.png").status_code == 404


# --------------------------------------------------------------------------- the grid's rows, paged by the store


def test_image_page_pages_a_sweeps_images_in_grid_order(baseline_store):
    from core.store.store import Store

    with Store(baseline_store) as store:
        sweep_id = store.query("SELECT max(id) AS id FROM sweeps")[0]["id"]
        everything = store.results(sweep_id)
        expected = sorted({(c["test_set"] or "", c["image_name"], c["image_sha256"]) for c in everything})
        first, total = store.image_page(sweep_id, limit=2)
        second, total2 = store.image_page(sweep_id, limit=2, offset=2)
        beyond, total3 = store.image_page(sweep_id, limit=2, offset=10)
        assert total == total2 == total3 == len(expected) == 3
        assert [r["image_sha256"] for r in first + second] == [e[2] for e in expected]
        assert all(r["cells"] == 2 for r in first + second) and beyond == []
        cells = store.image_cells(sweep_id, [r["image_sha256"] for r in first])
        assert len(cells) == 4 and {c["sweep_id"] for c in cells} == {sweep_id}
        assert {c["id"] for c in cells} <= {c["id"] for c in everything}
        assert store.image_page(None, limit=10)[1] == 3
        assert store.image_page(sweep_id, limit=10, test_set="no such set") == ([], 0)
        assert store.image_page(sweep_id + 1, limit=10) == ([], 0)
        plan = store.query(f"EXPLAIN QUERY PLAN SELECT c.image_sha256 FROM cells c INDEXED BY idx_cells_image_order "
                           f"WHERE EXISTS (SELECT 1 FROM sweep_cells sc WHERE sc.sweep_id = {sweep_id} "
                           "AND sc.cell_id = c.id) GROUP BY c.test_set, c.image_name, c.image_sha256 "
                           "ORDER BY c.test_set, c.image_name, c.image_sha256 LIMIT 8")
        assert not any("TEMP B-TREE" in p["detail"] for p in plan), plan


def test_a_store_made_before_gains_the_paging_index(tmp_path):
    from core.store.store import SCHEMA_VERSION, Store

    root = tmp_path / "legacy"
    shutil.copytree(LEGACY, root)
    with Store(root / "runs" / "workbench.db") as store:
        assert store.version == SCHEMA_VERSION
        rows, total = store.image_page(None, limit=100)
        assert total == len({c["image_sha256"] for c in store.results()}) == len(rows)


# --------------------------------------------------------------------------- the real server


@pytest.mark.slow
def test_workbench_ui_serves_file_urls_beside_the_app(baseline_store, cli_cmd, cli_env, tmp_path):
    """``workbench ui --db`` answers the app and ``/files/...`` on one port."""
    from workbench.files_route import file_url

    cell = _done_cells(baseline_store)[0]
    url = file_url(baseline_store.parent, cell["sketch_path"])
    port = free_port()
    proc = subprocess.Popen([*cli_cmd, "ui", "--port", str(port), "--db", str(baseline_store)], cwd=tmp_path,
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "workbench ui did not answer"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{url}", timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/png"
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.read() == (baseline_store.parent / cell["sketch_path"]).read_bytes()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        for bad in ("/files/workbench.db", "/files/cells/%2e%2e/workbench.db"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{bad}", timeout=10)
            assert err.value.code in (400, 403, 404)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
