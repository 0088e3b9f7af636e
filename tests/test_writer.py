"""``core.sweeps.writer``: finished cells post-processed on a pool, recorded by one thread."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from core.sweeps import writer as writer_module
from core.sweeps.writer import MAX_WRITER_THREADS, ResultWriter, writer_threads
from tests.fixtures import sweep_rows


class FakeStore:
    """What a writer needs of a store: a root, ``finish_cells`` (recorded per call) and ``heartbeat``."""

    def __init__(self, root):
        self.root, self.batches, self.threads = root, [], set()

    def finish_cells(self, updates):
        self.batches.append(list(updates))
        self.threads.add(threading.current_thread().name)

    def heartbeat(self, sweep_id):
        pass


def test_one_thread_on_the_cpu_and_the_spare_cores_on_cuda():
    assert writer_threads("cpu", cpus=16) == 1
    assert writer_threads(SimpleNamespace(type="cpu"), cpus=64) == 1
    assert writer_threads("cuda", cpus=2) == 1
    assert writer_threads("cuda:1", cpus=3) == 2
    assert writer_threads(SimpleNamespace(type="cuda"), cpus=64) == MAX_WRITER_THREADS


def test_the_pool_post_processes_cells_side_by_side_and_one_thread_records_them(monkeypatch, tmp_path):
    running, most = [0], [0]
    lock = threading.Lock()

    def finalize(root, cell, img, out, env):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)  # an encoder that releases the GIL
        with lock:
            running[0] -= 1
        return {"status": "done", "post_thread": threading.current_thread().name}

    monkeypatch.setattr(writer_module, "finalize_cell", finalize)
    store = FakeStore(tmp_path)
    writer = ResultWriter(store, 7, "cpu", threads=3)
    cells = [SimpleNamespace(key=f"k{i}") for i in range(12)]
    started = time.perf_counter()
    for cell in cells:
        writer.put(cell, None, {"timings": {}})
    writer.close()
    took = time.perf_counter() - started
    recorded = [key for batch in store.batches for key, _ in batch]
    assert sorted(recorded) == sorted(c.key for c in cells)  # every cell once
    assert most[0] == 3 and took < 12 * 0.05  # three at a time, not one after another
    fields = [f for batch in store.batches for _, f in batch]
    assert all(f["post_thread"].startswith("sweep-post") and f["sweep_id"] == 7 and f["device"] == "cpu"
               for f in fields)
    assert store.threads == {"sweep-writer"}  # the store is written from one thread only
    assert writer.count == 12


def test_a_cell_that_cannot_be_written_is_raised_and_the_others_are_recorded(monkeypatch, tmp_path):
    def finalize(root, cell, img, out, env):
        if cell.key == "k3":
            raise OSError("disk full")
        return {"status": "done"}

    monkeypatch.setattr(writer_module, "finalize_cell", finalize)
    store = FakeStore(tmp_path)
    writer = ResultWriter(store, 1, "cpu", threads=2)
    for i in range(6):
        writer.put(SimpleNamespace(key=f"k{i}"), None, {"device": "cuda:1"})
    writer.put_failure(SimpleNamespace(key="bad"), "cannot read the image")
    with pytest.raises(RuntimeError, match="writing results failed: disk full"):
        writer.close()
    recorded = {key: f for batch in store.batches for key, f in batch}
    assert set(recorded) == {"k0", "k1", "k2", "k4", "k5", "bad"}
    assert recorded["k0"]["device"] == "cuda:1"  # the engine's device, when it says
    assert recorded["bad"]["status"] == "failed" and recorded["bad"]["device"] == "cpu"


def test_a_sweep_written_by_a_pool_stores_what_one_thread_stores(unbatched, monkeypatch, tmp_path):
    spec, _, rows, sketches = unbatched
    monkeypatch.setattr(writer_module, "writer_threads", lambda device, cpus=None: 3)
    summary, got_rows, got = sweep_rows(spec, tmp_path / "pool.db")
    assert summary.status == "done" and summary.failed == 0
    assert set(got_rows) == set(rows)
    for key, sketch in sketches.items():
        assert np.array_equal(got[key], sketch)  # the CPU path: the same pixels
        for column in ("ink_coverage", "sketch_path", "thumb_path", "cropped_path", "mask_path"):
            assert got_rows[key][column] == rows[key][column], column
