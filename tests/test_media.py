"""The app's image caches are bounded in bytes, and each session's store connection is closed when released
(once no run of the session uses it)."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from tests.fixtures import REPO_ROOT, assert_no_exception


def test_byte_lru_evicts_least_recently_used_past_its_budget():
    from workbench.cache import ENTRY_OVERHEAD_BYTES, ByteLRU

    cache = ByteLRU(3 * (1000 + ENTRY_OVERHEAD_BYTES))
    for key in "abc":
        cache.put(key, b"x" * 1000)
    assert len(cache) == 3 and cache.total_bytes == 3 * (1000 + ENTRY_OVERHEAD_BYTES)
    assert cache.get("a") == b"x" * 1000  # "a" is now the most recently used
    cache.put("d", b"y" * 1000)
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.evictions == 1 and cache.total_bytes <= cache.max_bytes
    cache.put("e", b"z" * 2000)  # needs the room of two entries: the two least recently used go
    assert cache.keys() == ["d", "e"] and cache.total_bytes <= cache.max_bytes


def test_byte_lru_counts_arrays_by_nbytes_and_refuses_what_cannot_fit():
    from workbench.cache import ENTRY_OVERHEAD_BYTES, ByteLRU, size_of

    arr = np.zeros((64, 64), np.uint8)
    assert size_of(arr) == 4096 and size_of(b"abc") == 3 and size_of(None) == 0
    cache = ByteLRU(10_000)
    cache.put("arr", arr)
    assert cache.total_bytes == 4096 + ENTRY_OVERHEAD_BYTES
    with pytest.raises(ValueError):
        arr[0, 0] = 1  # shared by every caller: read-only once cached
    cache.put("huge", b"x" * 20_000)
    assert "huge" not in cache and "arr" in cache  # too big to keep; nothing else evicted for it
    cache.put("arr", b"small")  # replacing an entry gives its bytes back
    assert cache.total_bytes == 5 + ENTRY_OVERHEAD_BYTES


def test_byte_lru_bounds_the_entry_count_even_for_empty_results():
    from workbench.cache import ENTRY_OVERHEAD_BYTES, ByteLRU

    cache = ByteLRU(100 * ENTRY_OVERHEAD_BYTES)
    for i in range(1000):
        cache.put(("missing", i), None)
    assert len(cache) == 100


def test_byte_lru_is_safe_across_threads():
    from workbench.cache import ENTRY_OVERHEAD_BYTES, ByteLRU

    cache = ByteLRU(50_000)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put((offset, i % 97), b"v" * (i % 300))
            cache.get((offset, (i * 7) % 97))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.total_bytes <= cache.max_bytes
    assert cache.total_bytes == sum(len(cache.get(k)) + ENTRY_OVERHEAD_BYTES for k in cache.keys())


def test_bounded_cache_memoises_one_key_however_the_call_is_spelt():
    from workbench.cache import bounded_cache

    calls = []

    @bounded_cache(1_000_000)
    def render(path: str, stamp: int, side: int = 64) -> bytes:
        calls.append((path, stamp, side))
        return b"." * side

    assert render("a.png", 1) == render("a.png", 1, 64) == render("a.png", stamp=1, side=64)
    assert calls == [("a.png", 1, 64)]
    render("a.png", 2)  # a new file version is read again
    assert len(calls) == 2 and render.cache.hits == 2 and render.cache.misses == 2


def test_media_caches_stay_within_their_byte_budgets(tmp_path):
    from core.files import encode_png
    from workbench import media

    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        path = tmp_path / f"noise{i}.png"
        path.write_bytes(encode_png(rng.integers(0, 255, (256, 256), dtype=np.uint8)))  # ~65 kB: incompressible
        paths.append(str(path))
    cache = media.fitted_png.cache
    budget = cache.max_bytes
    cache.max_bytes = 300_000  # a small budget for the test: four or so of these
    try:
        cache.clear()
        for p in paths:
            assert media.fitted_png(p, media.mtime(p), 256) is not None
        assert 0 < cache.total_bytes <= 300_000 and len(cache) < len(paths)
        last = paths[-1]
        hits = cache.hits
        media.fitted_png(last, media.mtime(last), 256)
        assert cache.hits == hits + 1  # the newest stays
    finally:
        cache.max_bytes = budget
        cache.clear()
    assert set(media.CACHE_BUDGETS) == {"source", "fitted", "small_gray", "file"}
    for fn in (media.source_png, media.fitted_png, media.small_gray, media.file_bytes):
        assert fn.cache.max_bytes in media.CACHE_BUDGETS.values()


# --------------------------------------------------------------------------- per-session store connections


def _session_script():
    """An app run that opens this session's store, like every page does, and notes the session's id."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from workbench import state

    st.session_state["session_id"] = get_script_run_ctx().session_id
    st.write(str(state.store().path))


@pytest.fixture
def opened(monkeypatch):
    """Every Store the app opens, recorded; the app's stores are released before and after."""
    import streamlit as st

    from core.store.store import Store
    from workbench import state

    made: list[Store] = []

    class RecordedStore(Store):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(state, "Store", RecordedStore)
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    st.cache_resource.clear()
    yield made
    st.cache_resource.clear()


def _closed(store) -> bool:
    try:
        store.conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def _session(monkeypatch, db):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_DB", str(db))
    at = AppTest.from_function(_session_script, default_timeout=30)
    at.run()
    assert_no_exception(at)
    return at


def test_a_session_keeps_one_connection_and_closes_the_old_one_when_the_path_changes(tmp_path, monkeypatch, opened):
    at = _session(monkeypatch, tmp_path / "a.db")
    at.run()
    assert len(opened) == 1 and not _closed(opened[0])  # reruns reuse the session's connection
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "b.db"))
    at.run()
    assert_no_exception(at)
    assert len(opened) == 2 and _closed(opened[0]) and not _closed(opened[1])


def test_a_disconnected_session_closes_its_store(tmp_path, monkeypatch, opened):
    from streamlit.runtime.caching import clear_session_resource_cache

    at = _session(monkeypatch, tmp_path / "a.db")
    assert len(opened) == 1 and not _closed(opened[0])
    # What Streamlit's AppSession.clear_session_caches does when the browser session disconnects or shuts down.
    clear_session_resource_cache(at.session_state["session_id"])
    assert _closed(opened[0])
    at.run()  # a reconnecting session opens a fresh connection
    assert len(opened) == 2 and not _closed(opened[1])


# Run in a child process, so that a regression (closing the connection under the query) crashes the child, not
# the test session: a run's thread is inside its query (held there by a SQL function until the release is done)
# when its session's store is released.
RELEASE_DURING_QUERY = """
import sys, threading
from core.store.store import Store
from workbench import state

store = Store(sys.argv[1])
inside, released = threading.Event(), threading.Event()

def hold():  # called inside the query's step: the run stays in its query until the store has been released
    inside.set()
    released.wait(30)
    return 1

store.conn.create_function("hold", 0, hold)

def run():  # a script run of the session: asks for its store, then queries it
    state.mark_in_use(store)
    rows = store.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
                       "SELECT count(*) + hold() - 1 AS n FROM c")
    print("query", rows[0]["n"])

thread = threading.Thread(target=run, name="ScriptRunner.scriptThread")
thread.start()
inside.wait(30)
state.close_store(store)  # what Streamlit's release does as the session disconnects
print("released while running:", thread.is_alive())
released.set()
thread.join()
for closer in [t for t in threading.enumerate() if t.name == "workbench-store-close"]:
    closer.join(timeout=30)
try:
    store.conn.execute("SELECT 1")
except Exception as exc:
    print("closed:", type(exc).__name__)
"""


def test_a_store_released_while_its_run_queries_it_is_closed_when_that_run_ends(tmp_path):
    import subprocess
    import sys

    from core.store.store import Store

    with Store(tmp_path / "w.db"):
        pass
    done = subprocess.run([sys.executable, "-c", RELEASE_DURING_QUERY, str(tmp_path / "w.db")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the child died ({done.returncode}): {done.stderr[-1500:]}"
    lines = done.stdout.splitlines()
    assert lines == ["released while running: True", "query 300000", "closed: ProgrammingError"], done.stdout
