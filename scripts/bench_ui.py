"""Time the Compare page: how long until the first grid images are loaded in headless Chromium.

    .venv/bin/python scripts/bench_ui.py [--db runs/bench/store/workbench.db] [--loads 3] [--images 8] [--warm-cache]

Starts ``workbench ui`` on the store (build one with
``scripts/build_bench_store.py``) on a free port of 127.0.0.1, loads the
Compare page once to warm the app, then loads it ``--loads`` times more, each
in a fresh browser context (empty cache; with ``--warm-cache`` all in one
context whose cache is kept, as a user reloading the page), and measures from the navigation's
start until ``--images`` grid images have finished loading (checked every
animation frame: an ``<img>`` of the grid, or a viewer cell whose
``/files/`` image has arrived). Prints one JSON line: every time, the median, the store's
cell count. Timing lives here, never in the unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
# Grid images: Streamlit image elements in the page body (the page before the viewer), or the viewer's cells,
# which draw on canvases from images fetched at /files/...: there an image counts once its cell is on the page
# and its file has arrived (Resource Timing), whichever comes later, plus the frame that draws it.
ST_IMAGES = '[data-testid="stMain"] [data-testid="stImage"] img'
WAIT_JS = """([selector, wanted]) => {
    const done = [...document.querySelectorAll(selector)].filter(i => i.complete && i.naturalWidth > 0);
    if (done.length >= wanted) return performance.now();
    const cells = document.querySelectorAll('[data-testid="viewer-cell"]').length;
    const files = performance.getEntriesByType('resource')
        .filter(e => e.name.includes('/files/') && e.responseEnd > 0);
    return cells >= wanted && files.length >= wanted ? performance.now() : false;
}"""


def free_port() -> int:
    """A TCP port nobody listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(db: Path, port: int) -> subprocess.Popen:
    """``workbench ui`` on ``db``, answering on ``port`` (waits for its health check, up to 2 minutes)."""
    proc = subprocess.Popen([sys.executable, "-m", "core.cli.main", "ui", "--port", str(port), "--db", str(db)],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"workbench ui did not start on port {port}")
            time.sleep(0.3)


def time_load(browser, url: str, wanted: int, timeout_s: float, context=None) -> float:
    """Seconds from navigation start until ``wanted`` grid images are loaded.

    In a fresh context (empty browser cache) unless ``context`` is given: then
    in a new tab of it, with what earlier loads left in its cache (the app's
    scripts, the files route's immutable images), as a user reloading the page.
    """
    own = context is None
    context = context or browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        handle = page.wait_for_function(WAIT_JS, arg=[ST_IMAGES, wanted], polling="raf",
                                        timeout=timeout_s * 1000)
        return handle.json_value() / 1000.0
    finally:
        page.close()
        if own:
            context.close()


def cell_count(db: Path) -> int:
    """How many cells the store holds."""
    from core.store.store import Store

    with Store(db, readonly=True) as store:
        return store.cell_count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "runs" / "bench" / "store" / "workbench.db")
    parser.add_argument("--loads", type=int, default=3, help="timed loads (default 3)")
    parser.add_argument("--images", type=int, default=8, help="grid images to wait for (default 8)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one load may take (default 60)")
    parser.add_argument("--url-path", default="/", help="the page to load (default /: Compare)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="load every time in one browser context (its cache kept), not in a fresh one each time")
    args = parser.parse_args(argv)
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: run scripts/build_bench_store.py first")

    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}{args.url_path}"
    proc = start_app(args.db.resolve(), port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                shared = browser.new_context(viewport={"width": 1600, "height": 1000}) if args.warm_cache else None
                # the app's first run: not counted
                warm = time_load(browser, url, args.images, args.timeout, shared)
                times = [time_load(browser, url, args.images, args.timeout, shared) for _ in range(args.loads)]
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(json.dumps({"cells": cell_count(args.db), "images": args.images, "browser_cache": "kept" if args.warm_cache
                      else "empty", "warmup_s": round(warm, 3),
                      "loads_s": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
