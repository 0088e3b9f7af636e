"""Time the Compare page: how long until the first grid images are loaded in headless Chromium.

    .venv/bin/python scripts/bench_ui.py [--db runs/bench/store/workbench.db] [--loads 3] [--images 8] [--warm-cache]

Starts ``workbench ui`` on the store (build one with
``scripts/build_bench_store.py``) on a free port of 127.0.0.1, loads the
Compare page once to warm the app, then loads it ``--loads`` times more, each
in a fresh browser context (empty cache), or with ``--warm-cache`` all in one
browser profile on disk whose cache is kept (as a user's browser, opening the
page again), and measures from
the navigation's start until ``--images`` viewer cells have an image drawn
(checked every animation frame), and until the page's controls are in (a
session's first view is the grid alone; its controls follow). On a loaded page it then zooms with the
wheel five times and times each zoom to the end of the frame that drew it,
checking every cell shows the same new view in that frame. Then, unless ``--no-floor``, it does the same
with two reference pages, each served by Streamlit with the app's own server
settings: one that holds only a title (the floor: what any Streamlit page
costs on this machine), and one built as the app is (a wide page, the same
navigation of 7 pages in 3 sections, the file route) whose page holds a title
and a bare custom component (``st.components.v2``, as the viewer is) showing
the store's first thumbnails as plain images (what such a page costs without
the viewer; the time above it is the viewer's own). Prints one JSON line: every time, the
medians, the time above each reference, the store's cell count. Timing lives
here, never in the unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1600, "height": 1000}
# Grid images: Streamlit image elements in the page body (a page without the viewer), or the viewer's cells, which
# mark themselves ``data-loaded="true"`` once an image is drawn on their canvas.
ST_IMAGES = '[data-testid="stMain"] [data-testid="stImage"] img'
WAIT_JS = """([selector, wanted]) => {
    const done = [...document.querySelectorAll(selector)].filter(i => i.complete && i.naturalWidth > 0);
    const cells = document.querySelectorAll('[data-testid="viewer-cell"][data-loaded="true"]');
    return done.length >= wanted || cells.length >= wanted ? performance.now() : false;
}"""
# One wheel zoom over the first cell, then the next animation frame: the viewer's own frame (asked for by its wheel
# handler, so run before ours) has drawn every cell by then. Returns the time to that frame and whether every cell's
# view changed to one same value in it.
WHEEL_JS = """async () => {
    const cells = [...document.querySelectorAll('[data-testid="viewer-cell"]')];
    const box = cells[0].getBoundingClientRect();
    const before = cells[0].dataset.view;
    const t0 = performance.now();
    cells[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -120, clientX: box.x + box.width / 2,
        clientY: box.y + box.height / 2, bubbles: true, cancelable: true}));
    await new Promise(r => requestAnimationFrame(() => r()));
    const views = cells.map(c => c.dataset.view);
    return {ms: performance.now() - t0, lockstep: views.every(v => v === views[0]) && views[0] !== before,
            cells: cells.length};
}"""
# A control of the Compare page's sidebar: there once the page is whole (the first view comes before the controls).
CONTROLS = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'
CONTROLS_JS = "(selector) => document.querySelector(selector) ? performance.now() : false"
# The floor: a Streamlit page holding only a title, served the same way, timed until the title is drawn.
FLOOR_APP = 'import streamlit as st\n\nst.title("Floor")\n'
FLOOR_JS = """([selector, wanted]) => document.querySelector('[data-testid="stMain"] h1') ? performance.now() : false"""
# The bare component page, built as the app is (its file route, a wide page, a navigation of 7 pages in 3 sections):
# a title and one component whose cells are plain <img> elements of the store's first thumbnails, marked as the
# viewer marks its cells once an image is in. ``{root}`` and ``{urls}`` are filled in.
COMPONENT_APP = """import json
import sys

import streamlit as st

if __name__ != "__main__":
    sys.path.insert(0, {root!r})
    from workbench.server import routes

    app = st.App(__file__, routes=routes())
else:
    JS = '''export default function (component) {{
  const grid = component.parentElement.querySelector(".grid");
  if (grid.childElementCount) return;
  for (const url of component.data.urls) {{
    const cell = document.createElement("div");
    cell.dataset.testid = "viewer-cell";
    const img = new Image();
    img.onload = () => {{ cell.dataset.loaded = "true"; }};
    img.src = url;
    img.style.width = "100%";
    cell.appendChild(img);
    grid.appendChild(cell);
  }}
}}'''
    HTML = '<div class="grid" style="display:grid;grid-template-columns:repeat(3,1fr)"></div>'
    grid = st.components.v2.component("bench_grid", html=HTML, js=JS, isolate_styles=False)
    st.set_page_config(page_title="Reference", layout="wide")

    def compare():
        st.title("Compare")
        grid(data={{"urls": json.loads({urls!r})}}, key="grid")

    def other():
        st.title("Other")

    icons = ["thumb_up", "how_to_vote", "bar_chart", "query_stats", "play_circle", "inventory_2"]
    pages = [st.Page(compare, title="Compare", icon=":material/grid_view:", default=True)]
    pages += [st.Page(other, title=f"Page {{i}}", icon=f":material/{{icon}}:", url_path=f"p{{i}}")
              for i, icon in enumerate(icons)]
    st.navigation({{"Look": pages[:3], "Check": pages[3:5], "Run": pages[5:]}}).run()
"""


def free_port() -> int:
    """A TCP port nobody listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(command: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run ``command`` (a Streamlit server on ``port``) from the repository root; wait for its health check (2 min)."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env or dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"{' '.join(command[:4])} did not start on port {port}")
            time.sleep(0.3)


def stop_app(proc: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_app`."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def time_load(browser, url: str, wanted: int, timeout_s: float, context=None, done_js: str = WAIT_JS,
              controls: bool = True) -> tuple[float, float | None]:
    """Seconds from navigation start until ``wanted`` grid images are loaded, and until the page's controls are in.

    In a fresh context (empty browser cache) unless ``context`` is given: then
    in a new tab of it, with what earlier loads left in its cache (the app's
    scripts, the files route's immutable images), as a user opening the page again.
    The controls' time is None for a page without them (``controls`` false: a reference page).
    ``browser`` is used only to open a fresh context (with ``context`` given it may be None).
    """
    own = context is None
    context = context or browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        handle = page.wait_for_function(done_js, arg=[ST_IMAGES, wanted], polling="raf",
                                        timeout=timeout_s * 1000)
        images = handle.json_value() / 1000.0
        if not controls:
            return images, None
        handle = page.wait_for_function(CONTROLS_JS, arg=CONTROLS, polling="raf", timeout=timeout_s * 1000)
        return images, handle.json_value() / 1000.0
    finally:
        page.close()
        if own:
            context.close()


def cell_count(db: Path) -> int:
    """How many cells the store holds."""
    from core.store.store import Store

    with Store(db, readonly=True) as store:
        return store.cell_count()


def time_wheel(context, url: str, timeout_s: float, zooms: int = 5) -> list[dict]:
    """``zooms`` wheel zooms on a loaded Compare page: per zoom, ms to the frame that drew it and lock-step or not."""
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function(WAIT_JS, arg=[ST_IMAGES, 1], timeout=timeout_s * 1000)
        # a user zooms a page that has loaded: its controls (drawn after the first view) are in
        page.wait_for_selector(CONTROLS, timeout=timeout_s * 1000)
        page.wait_for_timeout(500)
        out = []
        for _ in range(zooms):
            out.append(page.evaluate(WHEEL_JS))
            page.wait_for_timeout(100)
        return out
    finally:
        page.close()


def time_loads(command: list[str], url_path: str, port: int, args, done_js: str, wheel: list | None = None,
               env: dict[str, str] | None = None) -> tuple[float, list[tuple[float, float | None]]]:
    """Start ``command``, load ``url_path`` once to warm the app, then ``args.loads`` timed times; stop it.

    Returns the warm-up's seconds and, per timed load, :func:`time_load`'s pair. With ``wheel`` (a list: the
    app's Compare page, not a reference page), the page's controls are waited for too, and its wheel zooms are
    timed and appended to the list.
    """
    from playwright.sync_api import sync_playwright

    compare = wheel is not None

    url = f"http://127.0.0.1:{port}{url_path}"
    proc = start_app(command, port, env)
    try:
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            if args.warm_cache:
                # a browser profile on disk, as a user's browser has; an off-the-record context (new_context())
                # keeps its HTTP cache too, yet every page, the title-only floor included, loaded 0.3-0.5 s
                # slower in one here
                shared = browser = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM,
                                                                         headless=True, viewport=VIEWPORT)
            else:
                browser, shared = pw.chromium.launch(executable_path=CHROMIUM, headless=True), None
            try:
                load = partial(time_load, browser, url, args.images, args.timeout, shared, done_js, compare)
                warm, _ = load()  # not counted
                times = [load() for _ in range(args.loads)]
                if compare:
                    wheel.extend(time_wheel(shared or browser.new_context(viewport=VIEWPORT), url,
                                            args.timeout))
            finally:
                browser.close()
    finally:
        stop_app(proc)
    return warm, times


def thumbnail_urls(db: Path, count: int) -> list[str]:
    """File-route URLs of the thumbnails of the store's first ``count`` finished cells (by id)."""
    from core.store.store import Store
    from workbench.files_route import file_url

    with Store(db, readonly=True) as store:
        cells = store.cells_by_id(list(range(1, 4 * count + 1)))
        urls = [file_url(store.root, c["thumb_path"] or c["sketch_path"]) for c in cells if c["status"] == "done"]
    return [u for u in urls if u][:count]


def time_reference(source: str, args, done_js: str) -> list[tuple[float, float | None]]:
    """:func:`time_loads` for a reference page: ``source`` written to a file, served with the app's own settings."""
    from core.cli.app import ui_command

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "reference.py"
        script.write_text(source)
        port = free_port()
        settings = ui_command(args.db.resolve(), port, "127.0.0.1")[5:]  # after: python -m streamlit run SCRIPT
        env = {**os.environ, "WORKBENCH_DB": str(args.db.resolve())}
        _, loads = time_loads([sys.executable, "-m", "streamlit", "run", str(script), *settings], "/", port, args,
                              done_js, env=env)
    return loads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "runs" / "bench" / "store" / "workbench.db")
    parser.add_argument("--loads", type=int, default=3, help="timed loads (default 3)")
    parser.add_argument("--images", type=int, default=8, help="grid images to wait for (default 8)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one load may take (default 60)")
    parser.add_argument("--url-path", default="/", help="the page to load (default /: Compare)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="load every time in a new tab of one browser profile on disk (its cache kept), not in a "
                        "fresh context each time; the wheel zooms are timed in that profile too")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the reference pages (a title alone; a title and a bare component's images)")
    args = parser.parse_args(argv)
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: run scripts/build_bench_store.py first")

    port = free_port()
    wheel: list[dict] = []
    warm, loads = time_loads([sys.executable, "-m", "core.cli.main", "ui", "--port", str(port), "--db",
                              str(args.db.resolve())], args.url_path, port, args, WAIT_JS, wheel)
    times, controls = [t for t, _ in loads], [c for _, c in loads]
    result = {"cells": cell_count(args.db), "images": args.images,
              "browser_cache": "kept" if args.warm_cache else "empty", "warmup_s": round(warm, 3),
              "loads_s": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3),
              "controls_s": [round(c, 3) for c in controls], "controls_median_s": round(statistics.median(controls), 3),
              "wheel_cells": wheel[0]["cells"] if wheel else 0,
              "wheel_frame_ms": [round(w["ms"], 1) for w in wheel],
              "wheel_median_ms": round(statistics.median(w["ms"] for w in wheel), 1) if wheel else None,
              "wheel_lockstep": all(w["lockstep"] for w in wheel)}
    if not args.no_floor:
        component_app = COMPONENT_APP.format(root=str(ROOT), urls=json.dumps(thumbnail_urls(args.db, 30)))
        for name, source, done_js in (("floor", FLOOR_APP, FLOOR_JS), ("component", component_app, WAIT_JS)):
            times = [t for t, _ in time_reference(source, args, done_js)]
            result[f"{name}_loads_s"] = [round(t, 3) for t in times]
            result[f"{name}_median_s"] = round(statistics.median(times), 3)
            result[f"above_{name}_s"] = round(result["median_s"] - result[f"{name}_median_s"], 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
