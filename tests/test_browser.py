"""End to end in a real browser: ``workbench ui`` driven by Playwright in headless Chromium.

The store is filled by real sweeps (one of them by ``workbench sweep``); the
tests open the grid viewer, check its cells draw and no exception shows, mark a
preferred cell (keys ``j`` ``2``) and a label and find them after a reload and in the
Preferences counts, see the Metrics page's chart of ink coverage by
resolution, launch a sweep from the form and watch it finish across a reload
(same cells as the CLI gives), cancel one and resume it, save the Compare
page zoomed in lock-step across 424 vs 848 to docs/compare-zoom.png, and check
that no page makes the browser fetch anything from outside 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from tests.fixtures import (
    CHROMIUM,
    REPO_ROOT,
    chromium_browser,
    make_photo,
    new_tab,
    run_cli,
    run_sweep_quietly,
    running_ui,
    wait_for,
    worker_env,
    write_image,
)
from tests.test_browser_viewer import CELLS, CELLS_DRAWN

SCREENSHOT = REPO_ROOT / "docs" / "compare-zoom.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip)")
expect = playwright_api.expect
expect.set_options(timeout=20_000)  # a busy 2-core machine renders slowly

LOCAL_HOSTS = ("127.0.0.1", "localhost")
LOCAL_SCHEMES = ("data", "blob", "about")  # inline content, nothing travels
PAGES = ("", "/preferences", "/ranking", "/metrics", "/overfitting", "/sweeps", "/checkpoints")
# Every href the tab's icon link takes, from the first byte on (a favicon fetch is not a page request).
RECORD_ICON_HREFS = """
window.__iconHrefs = [];
new MutationObserver(changes => {
    for (const c of changes) {
        if (c.target.tagName === 'LINK' && /icon/.test(c.target.rel)) window.__iconHrefs.push(c.target.href);
    }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['href']});
"""


# --------------------------------------------------------------------------- store, server, browser


def _cli(args: list[str], env: dict) -> dict:
    out = run_cli(*args, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def store(swept, tmp_path_factory):
    """A store with three sweeps: the small one, "real" (by ``workbench sweep``, 424 and 848) and "many" (50 images)."""
    import cv2
    from skimage import data

    from core.sweeps.spec import SweepSpec

    base = tmp_path_factory.mktemp("browser")
    small = swept.copy_to(base / "store")
    env = worker_env(WORKBENCH_WEIGHTS=str(small.weights))
    # The committed demo Sketch Net, so the screenshot shows real line work at 424 and 848.
    demo = small.weights / "SketchNet_stage2.safetensors"
    shutil.copyfile(REPO_ROOT / "weights" / "demo" / demo.name, demo)
    photos = base / "testsets" / "photos"
    for name, img in (("astronaut", data.astronaut()), ("chelsea", data.chelsea())):
        h, w = img.shape[:2]
        write_image(photos / f"{name}.png", cv2.resize(img, (320, round(320 * h / w)), interpolation=cv2.INTER_AREA))
    real = _cli(["sweep", "--images", str(photos), "--sketch-checkpoint", str(demo), "--resolution", "424", "848",
                 "--baseline", "xdog", "--name", "real", "--db", str(small.db), "--json", "--no-progress"], env)
    assert real["failed"] == 0 and real["cells"] == 6
    many = base / "testsets" / "many"
    for i in range(50):
        write_image(many / f"m{i:02d}.png", make_photo(72, 96, seed=100 + i))
    summary = run_sweep_quietly(SweepSpec(images=[str(many)], sketch_checkpoints=[str(small.checkpoints["sketch"])],
                                          baselines=["canny", "xdog", "pencil"], resolutions=[64], device="cpu",
                                          name="many"), small.db)
    assert summary.cells == 200 and summary.failed == 0
    return small, env, real["sweep_id"], summary.sweep_id


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    """``workbench ui --db DB --port FREE`` in its own session; killed (whole group) at the end."""
    small, env, _, _ = store
    with running_ui(small.db, dict(env, WORKBENCH_USER="browser"), tmp_path_factory.mktemp("ui")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


@pytest.fixture
def page(browser):
    with new_tab(browser) as tab:
        yield tab


# --------------------------------------------------------------------------- helpers


def _drawn(page, at_least: int, timeout: float = 60_000) -> None:
    """Wait until the grid viewer has drawn the first ``at_least`` cells."""
    page.wait_for_function(CELLS_DRAWN, arg=at_least, timeout=timeout)


def _headers(page) -> list[str]:
    """The grid viewer's column headers, ``"A · label"``."""
    return page.locator('[data-testid="viewer-column"]').evaluate_all("els => els.map(e => e.dataset.header)")


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    text = page.inner_text("body")
    assert "Traceback" not in text and "Error:" not in text.replace("Last error:", "")


def _open(page, url: str, path: str = "") -> None:
    page.goto(url + path)
    page.wait_for_selector('[data-testid="stHeading"] h1')


def _choose(page, box, option: str) -> None:
    """Open a selectbox/multiselect (``box``: its input) and click ``option``; retried while the app reruns."""
    for attempt in range(4):
        box.click()
        try:
            page.get_by_role("option", name=option).first.click(timeout=8_000)
            return
        except playwright_api.TimeoutError:
            if attempt == 3:
                raise


def _select(page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox or multiselect with widget key ``key``."""
    _choose(page, page.locator(f".st-key-{key} input").first, option)


def _type(page, key: str, text: str) -> None:
    box = page.locator(f".st-key-{key} input").first
    box.fill(text)
    box.press("Enter")


def _local(url: str) -> bool:
    """Whether fetching ``url`` stays on this machine (inline data, or the app's own server)."""
    parsed = urlparse(url)
    return parsed.scheme in LOCAL_SCHEMES or parsed.hostname in LOCAL_HOSTS


def _sweep(db: Path, name: str) -> dict | None:
    from core.store.store import Store

    with Store(db) as s:
        return next((x for x in s.sweeps() if x["name"] == name), None)


# --------------------------------------------------------------------------- tests


def test_grid_shows_every_output_image_without_exceptions(server, page):
    _open(page, server)
    expect(page.locator(".st-key-cmp_grid")).to_be_visible()
    _drawn(page, 4)  # the cells in view; the others are drawn as they scroll near
    assert page.locator(f".st-key-cmp_grid {CELLS}").count() >= 6
    _no_exception(page)


def test_nothing_is_fetched_from_outside_this_machine(server, browser, store):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    # Every request and websocket is recorded (not intercepted: routing would turn the browser's cache off
    # and change how the page loads); any that leaves the machine fails the test below.
    context.add_init_script(RECORD_ICON_HREFS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("websocket", lambda ws: requested.append(ws.url))
    icons: list[str] = []
    try:
        for path in PAGES:
            _open(page, server, path)
            page.wait_for_function("() => document.querySelector(\"link[rel='shortcut icon']\").href"
                                   ".startsWith('data:image/svg+xml')")  # the app's own icon, sent inline
            page.wait_for_load_state("networkidle")
            _no_exception(page)
            # .streamlit/config.toml: toolbarMode "viewer" hides the Deploy button (shown on localhost otherwise)
            expect(page.locator('[data-testid="stMainMenu"]')).to_be_visible()
            expect(page.locator('[data-testid="stAppDeployButton"]')).to_have_count(0)
            # the navigation's :material/...: icons are drawn with the font Streamlit serves
            expect(page.locator('[data-testid="stSidebarNavLink"] [data-testid="stIconMaterial"]').first
                   ).to_be_visible()
            if not path:  # the Compare page: the viewer, its zoom and compare modes, and the cell dialog
                page.wait_for_selector(CELLS)
                _select(page, "cmp_sweep", f"#{store[0].sweep_id} small")  # every row has two done cells
                _drawn(page, 4)
                # hover waits for the sweep's own grid (the one before it may still be in the page a moment)
                page.locator(CELLS).first.hover(position={"x": 30, "y": 30})
                page.mouse.wheel(0, -500)  # full-resolution files come from the app's own /files/ route
                for mode in ("difference", "slider"):
                    page.locator('[data-testid="viewer-mode"]', has_text=mode).first.click()
                    _drawn(page, 2)
                page.locator(".st-key-cmp_open button").first.click()
                expect(page.get_by_role("dialog").get_by_text("Cropped input", exact=True)).to_be_visible()
                page.wait_for_load_state("networkidle")
            icons += page.evaluate("window.__iconHrefs")
    finally:
        context.close()
    assert len(requested) > 20 and any("/static/" in u for u in requested)
    assert any("MaterialSymbols" in u for u in requested)  # the icon font came from the app's server
    outside = sorted({u for u in requested + icons if not _local(u)})
    assert not outside, f"fetched from outside 127.0.0.1: {outside}"


def test_fifty_images_by_four_columns_open_quickly(server, page, store, record_property):
    _open(page, server)
    _drawn(page, 4)
    _select(page, "cmp_sweep", f"#{store[3]} many")
    _select(page, "cmp_page_size", "50")
    started = time.monotonic()
    page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length >= 200")
    _drawn(page, 8, timeout=60_000)  # the cells in view; the rest load as they scroll near
    seconds = time.monotonic() - started
    record_property("grid_50x4_seconds", round(seconds, 2))
    print(f"50 images x 4 columns: 200 cells, the first 8 drawn in {seconds:.2f} s")
    headers = _headers(page)
    assert sum(h.startswith(("A ·", "B ·", "C ·", "D ·")) for h in headers) == 4 and len(headers) == 4
    _no_exception(page)
    assert seconds < 15  # ~2 s on an idle machine; generous for a busy shared one


def test_preferred_mark_and_label_survive_reload_and_are_counted(server, page, store):
    from core.store.store import Store

    small = store[0]
    _open(page, server)
    _drawn(page, 4)
    page.locator("h1").first.click()  # keys go to the page
    page.keyboard.press("j")  # the first row
    page.keyboard.press("2")  # column B preferred
    marks = wait_for(lambda: Store(small.db).preferences(), 15, "the preferred mark in the store")
    assert marks[0]["author"] == "browser" and marks[0]["value"] == "canny"

    page.reload()
    _drawn(page, 4)
    expect(page.locator(f'{CELLS}[data-preferred="true"]')).to_have_attribute("data-cell-id",
                                                                               str(marks[0]["cell_id"]))

    opener = page.locator(".st-key-cmp_open button").first
    opener.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Cropped input", exact=True)).to_be_visible()
    _choose(page, dialog.locator('[data-testid="stMultiSelect"] input'), "double contour")
    dialog.get_by_text("Cropped input", exact=True).click()  # close the option list without closing the dialog
    dialog.get_by_role("button", name="Save tags").click()
    expect(dialog).to_have_count(0)
    tags = wait_for(lambda: Store(small.db).tags(), 15, "the tag in the store")
    assert [(t["label"], t["author"]) for t in tags] == [("double contour", "browser")]

    page.reload()
    _drawn(page, 4)
    expect(page.locator(".st-key-cmp_grid").get_by_text("double contour")).to_be_visible()
    _no_exception(page)

    page.get_by_role("link", name="Preferences").click()
    others = [c for c in json.loads(marks[0]["candidates_json"]) if c != "canny"]
    assert others
    for other in others:
        expect(page.get_by_text(f"canny preferred over {other} in 1 of 1 rows").first).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_be_visible()
    _no_exception(page)


def test_screenshot_of_a_locked_zoom_across_424_vs_848(server, page, store):
    page.set_viewport_size({"width": 1400, "height": 1500})
    _open(page, server)
    _drawn(page, 4)
    _select(page, "cmp_sweep", f"#{store[2]} real")
    page.locator(".st-key-preset_resolution button").first.click()
    expect(page.locator(".st-key-cmp_grid").get_by_text("A · 424")).to_be_visible()
    _select(page, "cmp_columns", "xdog")  # a classical baseline beside them
    expect(page.locator(CELLS)).to_have_count(6)
    _drawn(page, 6)
    # zoom every cell together: x4 about the centre of the first one, drawn from the full-resolution sketches
    cell = page.locator(CELLS).first.bounding_box()
    page.mouse.move(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -173)  # exp(0.002 * 173 * 4) = 4
        time.sleep(0.1)
    views = page.locator(CELLS).evaluate_all("els => els.map(e => e.dataset.view)")
    assert len(set(views)) == 1 and float(views[0].split(",")[2]) > 3
    _drawn(page, 6)
    _no_exception(page)
    assert _headers(page) == ["A · 424", "B · 848", "C · xdog"]
    page.mouse.move(0, 0)
    time.sleep(0.5)  # let the last image paint
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 50_000


def test_metrics_page_plots_ink_coverage_by_resolution(server, page):
    _open(page, server, "/metrics")
    chart = page.locator(".st-key-met_chart .js-plotly-plot")
    expect(chart).to_be_visible()
    expect(chart.locator(".gtitle")).to_have_text("ink_coverage by resolution")
    # the "real" sweep's 424 and 848 beside the small one's 64 and 128, in numeric order; baselines have none
    ticks = chart.locator(".xtick text")
    expect(ticks.last).to_have_text("n/a")
    texts = ticks.all_text_contents()  # SVG text has no innerText
    assert [t for t in texts if t in ("64", "128", "424", "848")] == ["64", "128", "424", "848"]
    _no_exception(page)


def _fill_sweep_form(page, images: Path, resolutions: str, name: str, masks: list[str] = (), extra=None):
    _type(page, "sw_testset_path", str(images))
    _select(page, "sw_sketch", "G_tiny.safetensors (sketchnet_deep, width 0.0625)")
    for mask in masks:
        _select(page, "sw_mask", mask)
    _type(page, "sw_resolutions", resolutions)
    if extra:
        extra(page)
    _type(page, "sw_name", name)


def test_sweep_from_the_form_finishes_across_a_reload_like_the_cli(server, page, store, tmp_path):
    from core.store.store import Store
    from core.sweeps.results import result_records
    from workbench.media import read

    small, env = store[0], store[1]
    # The CLI with the same flags, into another store, runs meanwhile: it must give the same cells and sketches.
    other = tmp_path / "cli" / "cli.db"
    cli = subprocess.Popen([sys.executable, "-m", "core.cli.main", "sweep", "--images", str(small.images),
                            "--sketch-checkpoint", str(small.checkpoints["sketch"]), "--resolution", "64", "96",
                            "--db", str(other), "--json", "--no-progress"], env=env, cwd=REPO_ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _open(page, server, "/sweeps")
    _fill_sweep_form(page, small.images, "64, 96", "from the browser")
    expect(page.get_by_text("Cells", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text("6")
    page.locator(".st-key-sw_launch button").click()
    expect(page.get_by_text("Launched", exact=False)).to_be_visible()
    page.reload()  # the worker does not belong to the page
    _open(page, server, "/sweeps")
    sweep = wait_for(lambda: (s := _sweep(small.db, "from the browser")) and s["status"] == "done" and s, 90,
                     "the sweep launched from the form")
    assert (sweep["done"], sweep["failed"], sweep["cells_total"]) == (6, 0, 6)
    expect(page.locator(f".st-key-sweep_{sweep['id']}").get_by_text("done", exact=True)).to_be_visible(timeout=30_000)
    _no_exception(page)

    _, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    with Store(small.db) as a, Store(other) as b:
        app_records = {r["cell_key"]: r for r in result_records(a, sweep["id"])}
        cli_records = {r["cell_key"]: r for r in result_records(b, None)}
    assert set(app_records) == set(cli_records)
    for key, rec in app_records.items():
        assert rec["status"] == cli_records[key]["status"] == "done"
        mine, theirs = read(rec["sketch_path"]).astype(int), read(cli_records[key]["sketch_path"]).astype(int)
        assert np.abs(mine - theirs).max() <= 1

    # and the grid shows them
    _open(page, server)
    _drawn(page, 4)
    _select(page, "cmp_sweep", f"#{sweep['id']} from the browser")
    expect(page.locator(".st-key-cmp_grid").get_by_text("A · 64")).to_be_visible()
    expect(page.locator(CELLS)).to_have_count(6)
    _drawn(page, 4)
    _no_exception(page)


def test_cancel_stops_a_running_sweep_and_resume_finishes_it(server, page, store):
    from core.processes import pid_alive

    small = store[0]
    _open(page, server, "/sweeps")

    def more_axes(page):
        _select(page, "sw_mask_modes", "hard")
        _type(page, "sw_softctrs", "0.3, 0.5, 0.7")
        _select(page, "sw_gammas", "off")

    # Big enough that the sweep is still running when Cancel lands (the engine is fast on tiny nets).
    sides = "64, 96, 128, 160, 192, 224, 256, 288"
    _fill_sweep_form(page, small.images, sides, "to cancel",
                     masks=["MaskNet_v2_stage1.safetensors (masknet_v2, width 0.0625)"], extra=more_axes)
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text(str(3 * (8 * 2 + 8 * 2 * 3 * 2)))
    page.locator(".st-key-sw_launch button").click()
    running = wait_for(lambda: (s := _sweep(small.db, "to cancel")) and s["status"] == "running" and s["done"] and s,
                       90, "the sweep to run")
    # As for resume below: a click that lands while the progress fragment reruns can be lost, so retry.
    stopped = None
    for _ in range(3):
        page.locator(f".st-key-cancel_{running['id']} button").first.click(timeout=30_000)
        try:
            stopped = wait_for(lambda: (s := _sweep(small.db, "to cancel")) and s["status"] == "cancelled" and s,
                               20, "the sweep to stop")
            break
        except pytest.fail.Exception:
            assert _sweep(small.db, "to cancel")["status"] == "running", "the sweep ended before it was cancelled"
    assert stopped is not None, "three clicks on Cancel did not stop the sweep"
    assert stopped["done"] < stopped["cells_total"]
    wait_for(lambda: not pid_alive(running["pid"]), 15, "the worker to end")

    # A click that lands while the page reruns can be lost; clicking again is safe (a running sweep is refused).
    for _ in range(3):
        page.locator(f".st-key-resume_{running['id']} button").first.click(timeout=30_000)
        try:
            wait_for(lambda: _sweep(small.db, "to cancel")["status"] != "cancelled", 20, "the resume")
            break
        except pytest.fail.Exception:
            continue
    done = wait_for(lambda: (s := _sweep(small.db, "to cancel")) and s["status"] == "done" and s, 120,
                    "the resumed sweep")
    assert done["id"] == running["id"] and done["done"] == done["cells_total"]
    expect(page.locator(f".st-key-sweep_{done['id']}").get_by_text("done", exact=True)).to_be_visible(timeout=30_000)
    _no_exception(page)
