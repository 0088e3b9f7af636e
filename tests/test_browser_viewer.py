"""The grid viewer in a real browser: lock-step zoom, 1:1, the five compare modes and keyboard triage.

``workbench ui`` on a copy of the small swept store (3 images x a checkpoint
and canny), driven by Playwright in headless Chromium. Screenshots of each
mode go to ``docs/viewer-<mode>.png``.
"""

from __future__ import annotations

import pytest

from tests.fixtures import CHROMIUM, REPO_ROOT, chromium_browser, new_tab, running_ui, wait_for, worker_env

DOCS = REPO_ROOT / "docs"
MODES = ("side by side", "slider", "flicker", "difference", "overlay")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip)")
expect = playwright_api.expect
expect.set_options(timeout=20_000)

CELLS = '[data-testid="viewer-cell"]'
# ``n`` cells have drawn an image: marked loaded by the viewer, and their canvas no longer only the background colour.
# (A cell with nothing to show, e.g. a combination not computed, is skipped: its canvas stays background.)
CELLS_DRAWN = """(n) => {
    const cells = [...document.querySelectorAll('[data-testid="viewer-cell"][data-loaded="true"] canvas')];
    if (cells.length < n) return false;
    return cells.slice(0, n).every(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4 * 97) if (d[i] !== 243 || d[i + 1] !== 243) return true;
        return false;
    });
}"""


@pytest.fixture(scope="module")
def viewer_store(swept, tmp_path_factory):
    """A copy of the small swept store, of this module's own."""
    return swept.copy_to(tmp_path_factory.mktemp("viewer") / "store")


@pytest.fixture(scope="module")
def viewer_server(viewer_store, tmp_path_factory):
    """``workbench ui`` on the copy, in its own session; killed (whole group) at the end."""
    env = worker_env(WORKBENCH_WEIGHTS=str(viewer_store.weights), WORKBENCH_USER="browser")
    with running_ui(viewer_store.db, env, tmp_path_factory.mktemp("ui")) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with chromium_browser() as b:
        yield b


@pytest.fixture
def tab(chromium):
    with new_tab(chromium, width=1400) as page:
        yield page


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(CELLS)
    page.wait_for_function(CELLS_DRAWN, arg=4)


def _views(page) -> list[str]:
    return page.locator(CELLS).evaluate_all("els => els.map(e => e.dataset.view)")


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.inner_text("body")


# When the first cell had an image drawn, and when the first sidebar control arrived (page time, ms).
ORDER_PROBE = """
window.__order = {};
new MutationObserver(() => {
    const o = window.__order;
    if (!o.cell && document.querySelector('[data-testid="viewer-cell"][data-loaded="true"]')) o.cell = performance.now();
    if (!o.control && document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]'))
        o.control = performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def test_a_new_session_sees_the_grid_first_then_its_controls_in_the_same_viewer(viewer_server, tab):
    tab.add_init_script(ORDER_PROBE)
    tab.goto(viewer_server)
    tab.wait_for_function(CELLS_DRAWN, arg=4)
    tab.evaluate("() => { document.querySelector('.wbv').__probe = 'first'; }")
    # the viewer reports its first images drawn; the run that starts brings the controls and the name field
    expect(tab.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first).to_be_visible()
    expect(tab.get_by_role("textbox", name="Your name")).to_be_visible()
    expect(tab.locator(".st-key-cmp_open button")).to_be_visible()
    order = tab.evaluate("() => window.__order")
    assert order["cell"] < order["control"], order  # no control came with the first view
    # the same viewer, updated in place: not mounted afresh
    assert tab.evaluate("() => document.querySelector('.wbv').__probe") == "first"
    _no_exception(tab)


def test_wheel_zooms_every_cell_together_and_double_click_gives_one_to_one(viewer_server, tab):
    _open(tab, viewer_server)
    cells = tab.locator(CELLS)
    assert cells.count() == 6
    before = _views(tab)
    assert set(before) == {"0.500,0.500,1.000"}
    box = cells.nth(3).bounding_box()
    tab.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    tab.mouse.wheel(0, -400)
    tab.wait_for_function("() => document.querySelector('[data-testid=\"viewer-cell\"]').dataset.view !== "
                          "'0.500,0.500,1.000'")
    after = _views(tab)
    assert len(set(after)) == 1 and after[0] != before[0]
    cx, cy, scale = map(float, after[0].split(","))
    assert scale > 1 and cx < 0.5 and cy < 0.5  # zoomed about the pointer, up and left of the centre

    # double-click: one image pixel per CSS pixel (the stored sketch is 64 px wide here)
    cells.nth(0).dblclick()
    tab.wait_for_timeout(200)
    scale = float(_views(tab)[0].split(",")[2])
    fit = cells.nth(0).evaluate("e => Math.min(e.clientWidth / e.__entry.w, e.clientHeight / e.__entry.h)")
    assert abs(scale * fit - 1) < 0.01  # one stored pixel per CSS pixel
    assert len(set(_views(tab))) == 1
    assert tab.locator(f"{CELLS} canvas.px").count() >= 1  # nearest-neighbour above 1:1
    tab.keyboard.press("0")
    tab.wait_for_timeout(100)
    assert set(_views(tab)) == {"0.500,0.500,1.000"}
    _no_exception(tab)


def _row_shot(page, mode: str) -> bytes:
    page.locator('[data-testid="viewer-mode"]', has_text=mode).first.click()
    page.wait_for_function(CELLS_DRAWN, arg=2 if mode != "side by side" else 4, timeout=30_000)
    page.wait_for_timeout(300)
    first = page.locator(CELLS).first
    DOCS.mkdir(exist_ok=True)
    top, bottom = page.locator(".wbv").bounding_box(), first.bounding_box()
    page.screenshot(path=str(DOCS / f"viewer-{mode.replace(' ', '-')}.png"), full_page=True,  # bar, headers, row 1
                    clip={"x": top["x"], "y": top["y"], "width": top["width"],
                          "height": bottom["y"] + bottom["height"] - top["y"] + 4})
    return first.screenshot()


def test_each_mode_changes_what_is_drawn(viewer_server, tab):
    _open(tab, viewer_server)
    names = tab.locator('[data-testid="viewer-mode"]').all_inner_texts()
    assert [n.strip() for n in names] == list(MODES)
    tab.mouse.move(0, 0)
    shots = {mode: _row_shot(tab, mode) for mode in MODES}
    assert len(set(shots.values())) == len(MODES), "two modes drew the same thing"
    # flicker: a key swaps A and B
    tab.locator('[data-testid="viewer-mode"]', has_text="flicker").first.click()
    cell = tab.locator(CELLS).first
    expect(cell).to_have_attribute("data-showing", "A")
    tab.keyboard.press("f")
    expect(cell).to_have_attribute("data-showing", "B")
    # slider: dragging the divider moves it (no browser image drag)
    tab.locator('[data-testid="viewer-mode"]', has_text="slider").first.click()
    divider = tab.locator('[data-testid="viewer-divider"]').first
    box = tab.locator(CELLS).first.bounding_box()
    start = divider.bounding_box()
    tab.mouse.move(start["x"] + start["width"] / 2, start["y"] + 20)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] * 0.2, start["y"] + 20, steps=5)
    tab.mouse.up()
    moved = divider.bounding_box()
    assert moved["x"] < start["x"] - box["width"] * 0.2
    # every mode keeps the lock-step view
    tab.mouse.move(box["x"] + 20, box["y"] + 20)
    tab.mouse.wheel(0, -300)
    tab.wait_for_timeout(200)
    assert len(set(_views(tab))) == 1 and _views(tab)[0] != "0.500,0.500,1.000"
    _no_exception(tab)


def test_keyboard_marks_persist_in_the_store_and_after_a_reload(viewer_server, viewer_store, tab):
    from core.store.store import Store

    _open(tab, viewer_server)
    tab.locator("h1").first.click()  # keys go to the page, not a widget
    tab.keyboard.press("j")
    expect(tab.locator('[data-testid="viewer-row"].focus')).to_have_count(1)
    tab.keyboard.press("2")
    marks = wait_for(lambda: Store(viewer_store.db).preferences(), 15, "the preferred mark in the store")
    assert marks[0]["author"] == "browser" and marks[0]["value"] == "canny"
    row = marks[0]["row_key"]
    preferred = tab.locator(f'{CELLS}[data-preferred="true"]')
    expect(preferred).to_have_count(1)
    assert preferred.get_attribute("data-row") == row
    assert int(preferred.get_attribute("data-cell-id")) == marks[0]["cell_id"]

    tab.once("dialog", lambda d: d.accept("halo"))
    tab.keyboard.press("t")
    tags = wait_for(lambda: Store(viewer_store.db).tags(), 15, "the label in the store")
    assert [(t["label"], t["cell_id"]) for t in tags] == [("halo", marks[0]["cell_id"])]
    tab.once("dialog", lambda d: d.accept("oops"))
    tab.keyboard.press("t")
    wait_for(lambda: len(Store(viewer_store.db).tags()) == 2, 15, "the second label in the store")
    tab.keyboard.press("u")  # undoes the last label only
    wait_for(lambda: [t["label"] for t in Store(viewer_store.db).tags()] == ["halo"], 15, "the undone label")

    tab.reload()
    tab.wait_for_selector(CELLS)
    expect(tab.locator(f'{CELLS}[data-preferred="true"]')).to_have_count(1)
    assert tab.locator(f'{CELLS}[data-preferred="true"]').get_attribute("data-cell-id") == str(marks[0]["cell_id"])
    expect(tab.locator(".wbv-tagline", has_text="halo")).to_have_count(1)
    _no_exception(tab)


def test_marks_made_faster_than_the_app_reruns_are_all_kept(viewer_server, viewer_store, tab):
    from core.store.store import Store

    _open(tab, viewer_server)
    tab.locator("h1").first.click()
    columns = tab.locator('[data-testid="viewer-column"]').evaluate_all("els => els.map(e => e.dataset.header)")
    # three rows marked in one burst of keys: each event is sent while the script still runs for the one before
    for keys in ("j", "1", "j", "2", "j", "1"):
        tab.keyboard.press(keys)
    rows = tab.locator('[data-testid="viewer-row"]').evaluate_all("els => els.map(e => e.dataset.row)")

    def marks():
        return {p["row_key"]: p["value"] for p in Store(viewer_store.db).preferences() if p["author"] == "browser"}

    wanted = {rows[0]: columns[0].split(" · ", 1)[1], rows[1]: columns[1].split(" · ", 1)[1],
              rows[2]: columns[0].split(" · ", 1)[1]}
    wait_for(lambda: marks() == wanted, 15, f"the three marks {wanted} in the store")
    _no_exception(tab)


def test_zoom_keys_lock_header_choice_row_keys_notes_and_auto_flicker(viewer_server, viewer_store, tab):
    from core.store.store import Store

    _open(tab, viewer_server)
    tab.locator("h1").first.click()  # keys go to the page, not a widget
    tab.keyboard.press("+")
    tab.wait_for_timeout(100)
    views = _views(tab)
    assert len(set(views)) == 1 and float(views[0].split(",")[2]) > 1.2
    tab.keyboard.press("-")
    tab.keyboard.press("-")
    tab.wait_for_timeout(100)
    assert len(set(_views(tab))) == 1 and float(_views(tab)[0].split(",")[2]) < 1
    tab.keyboard.press("0")

    # lock: a wheel over one cell moves that cell alone; unlocking brings every cell back to the shared view
    tab.locator('[data-testid="viewer-lock"]').check()
    cells = tab.locator(CELLS)
    box = cells.nth(1).bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.wheel(0, -400)
    tab.wait_for_timeout(200)
    views = _views(tab)
    assert views[1] != "0.500,0.500,1.000" and views.count("0.500,0.500,1.000") == len(views) - 1
    tab.locator('[data-testid="viewer-lock"]').uncheck()
    tab.wait_for_timeout(100)
    assert set(_views(tab)) == {"0.500,0.500,1.000"}

    # a header click makes that column A (the other becomes B)
    heads = tab.locator('[data-testid="viewer-column"]')
    heads.nth(1).click()
    expect(heads.nth(1).locator(".wbv-ab")).to_have_text("A")
    expect(heads.nth(0).locator(".wbv-ab")).to_have_text("B")

    # j j j k: the second row has the focus; n writes a note on it
    tab.locator("h1").first.click()
    for key in ("j", "j", "j", "k"):
        tab.keyboard.press(key)
    rows = tab.locator('[data-testid="viewer-row"]')
    expect(rows.nth(1)).to_have_class("wbv-rowlabel focus")
    before = len(Store(viewer_store.db).tags())
    tab.once("dialog", lambda d: d.accept("thin strokes"))
    tab.keyboard.press("n")
    notes = wait_for(lambda: [t for t in Store(viewer_store.db).tags()[before:] if t["note"]], 15, "the note")
    assert notes[0]["note"] == "thin strokes" and notes[0]["label"] is None
    expect(tab.locator(".wbv-tagline", has_text="thin strokes")).to_have_count(1)

    # auto-flicker swaps A and B with no key pressed
    tab.locator('[data-testid="viewer-mode"]', has_text="flicker").first.click()
    tab.locator(".wbv-rate").select_option("4")
    cell = tab.locator(CELLS).first
    seen = {cell.get_attribute("data-showing")}
    for _ in range(20):
        tab.wait_for_timeout(60)
        seen.add(cell.get_attribute("data-showing"))
    assert seen == {"A", "B"}
    tab.locator(".wbv-rate").select_option("0")
    _no_exception(tab)


def test_new_cells_of_a_running_sweep_appear_without_losing_the_view(swept, tmp_path, chromium):
    """A sweep writes while the page is open: its cells show up in place, the zoom stays."""
    import threading

    from core.sweeps import engine
    from core.sweeps.run import run_sweep
    from core.sweeps.spec import SweepSpec
    from tests.fixtures import make_test_set

    images = make_test_set(tmp_path / "live", sizes=((64, 64),) * 4)
    db = tmp_path / "store" / "workbench.db"
    gate = threading.Semaphore(1)  # the first image runs at once, each next one when the test lets it
    original = engine.CellEngine.run_image

    def gated(self, cells):
        assert gate.acquire(timeout=120), "the test never let the next image run"
        return original(self, cells)

    mp = pytest.MonkeyPatch()
    mp.setattr(engine.CellEngine, "run_image", gated)
    spec = SweepSpec(images=[str(images)], baselines=["canny", "xdog"], device="cpu", name="live")
    sweep = threading.Thread(target=run_sweep, args=(spec, db), kwargs={"progress": False}, daemon=True)
    sweep.start()
    try:
        from core.store.store import Store

        wait_for(lambda: db.exists() and Store(db).cell_count() and
                 any(c["status"] == "done" for c in Store(db).results()), 60, "the first image's cells")
        env = worker_env(WORKBENCH_USER="browser")
        with running_ui(db, env, tmp_path) as url, new_tab(chromium, width=1400) as page:
            page.goto(url)
            page.wait_for_function("() => document.querySelectorAll("
                                   "'[data-testid=\"viewer-cell\"][data-loaded=\"true\"]').length >= 2")
            expect(page.get_by_text("A sweep is running")).to_be_visible()
            box = page.locator(CELLS).first.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.wheel(0, -300)
            page.wait_for_timeout(200)
            zoomed = _views(page)[0]
            assert zoomed != "0.500,0.500,1.000"
            drawn = '[data-testid="viewer-cell"][data-loaded="true"]'
            assert page.locator(drawn).count() == 2  # the other images' cells are still pending
            for _ in range(3):
                gate.release()
            sweep.join(timeout=120)
            assert not sweep.is_alive()
            expect(page.locator(drawn)).to_have_count(8, timeout=30_000)  # 4 images x 2 baselines, no reload
            assert set(_views(page)) == {zoomed}  # the view survived the new cells
            _no_exception(page)
    finally:
        for _ in range(4):
            gate.release()
        mp.undo()
        sweep.join(timeout=60)


def test_blind_ranking_votes_by_keys_and_names_nothing_before_the_vote(viewer_server, viewer_store, tab):
    from core.axes import axis_value
    from core.store.store import Store

    tab.goto(viewer_server + "/ranking")
    tab.wait_for_function(CELLS_DRAWN, arg=2)
    with Store(viewer_store.db) as store:
        names = {axis_value(c, "sketch_checkpoint") for c in store.results()} - {None}
        before = len(store.votes())
    assert len(names) >= 2
    body = tab.inner_text("body")
    assert not any(name in body for name in names), "a setting is named before the vote"
    assert tab.locator('[data-testid="viewer-column"]').all_inner_texts()[:2] == ["1", "2"]
    tab.locator("h1").first.click()
    tab.keyboard.press("1")
    votes = wait_for(lambda: Store(viewer_store.db).votes()[before:], 15, "the vote in the store")
    assert votes[0]["author"] == "browser" and votes[0]["winner_cell_id"] == votes[0]["shown"][0]["cell_id"]
    expect(tab.get_by_text("Recorded #1")).to_be_visible()  # named only now, after the vote
    tab.wait_for_function(CELLS_DRAWN, arg=2)
    tab.locator("h1").first.click()
    tab.keyboard.press("s")
    expect(tab.get_by_text("Skipped.")).to_be_visible()
    tab.locator("h1").first.click()
    tab.keyboard.press("t")
    ties = wait_for(lambda: [v for v in Store(viewer_store.db).votes()[before:] if v["tie"]], 15, "the tie")
    assert len(ties) == 1 and len(Store(viewer_store.db).votes()) == before + 2
    tab.locator("h1").first.click()
    tab.keyboard.press("u")
    wait_for(lambda: len(Store(viewer_store.db).votes()) == before + 1, 15, "the undone tie")
    _no_exception(tab)
