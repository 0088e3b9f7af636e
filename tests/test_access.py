"""Token access off loopback: core.access's rules, the ASGI middleware alone, and ``workbench ui --host 0.0.0.0``.

The middleware is driven with hand-made ASGI scopes (no server); one module
server (a baseline-only store, seconds to build) answers plain HTTP requests,
a websocket handshake and, in the browser test, Chromium.
"""

from __future__ import annotations

import asyncio
import base64
import http.cookiejar
import os
import socket
import urllib.error
import urllib.request

import pytest

from core.access import (
    Access,
    access_for,
    cookie_header,
    cookie_name,
    is_loopback,
    new_token,
    open_url,
    session_value,
    tokens_match,
)
from tests.fixtures import app_test, assert_no_exception, make_test_set, run_sweep_quietly, running_ui, worker_env
from workbench.access_middleware import TokenAccess

TOKEN = "s3cret"


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("unix:///tmp/wb.sock", True), ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("", False),
    (None, False), ("myserver.lab", False)])
def test_only_loopback_addresses_count_as_this_machine(address, loopback):
    assert is_loopback(address) is loopback


def test_access_is_open_on_loopback_and_needs_a_token_elsewhere():
    assert access_for("127.0.0.1", {"WORKBENCH_TOKEN": TOKEN}) == Access(None)
    assert access_for("0.0.0.0", {"WORKBENCH_TOKEN": TOKEN}) == Access(TOKEN)
    assert access_for("0.0.0.0", {"WORKBENCH_TOKEN": TOKEN}, token="flag") == Access("flag")
    made = access_for("0.0.0.0", {})
    assert made.generated and len(made.token) >= 32 and made.token != access_for("0.0.0.0", {}).token
    assert access_for("0.0.0.0", {}, no_token=True) == Access(None, unprotected=True)
    assert access_for(None, {"WORKBENCH_NO_TOKEN": "1"}) == Access(None, unprotected=True)


def test_tokens_compare_exactly_and_the_cookie_never_holds_the_token():
    token = new_token()
    assert tokens_match(token, token) and not tokens_match(token[:-1], token) and not tokens_match(None, token)
    assert not tokens_match("", token) and not tokens_match(token + "x", token)
    value = session_value(token)
    assert token not in value and value == session_value(token) and value != session_value(new_token())
    header = cookie_header(8600, token)
    assert header.startswith(f"{cookie_name(8600)}={value};")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header and "Secure" not in header
    assert cookie_name(8600) != cookie_name(8601)
    assert "Secure" in cookie_header(8600, token, secure=True)


def test_the_printed_url_opens_the_app_with_its_token():
    assert open_url("10.0.0.5", 8600, "a b&c") == "http://10.0.0.5:8600/?token=a%20b%26c"
    assert open_url("127.0.0.1", 8501, None) == "http://127.0.0.1:8501/"
    assert open_url("0.0.0.0", 8600, "t") == f"http://{socket.gethostname()}:8600/?token=t"
    assert open_url("fe80::1", 1, None) == "http://[fe80::1]:1/"


# --------------------------------------------------------------------------- the middleware alone


def _call(middleware, path="/", query="", headers=(), kind="http", method="GET"):
    """Run one request through ``middleware``; returns (messages sent, whether the app was reached)."""
    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    middleware.app = app
    scope = {"type": kind, "path": path, "query_string": query.encode(), "method": method, "scheme": "http",
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    asyncio.run(middleware(scope, receive, send))
    return sent, bool(reached)


def _status(sent) -> int:
    return sent[0]["status"]


def _guarded() -> TokenAccess:
    return TokenAccess(None, Access(TOKEN), 8600)


def test_without_the_token_http_is_401_and_a_wrong_one_403():
    for path in ("/", "/files/cells/x.png", "/_stcore/upload_file/s/f", "/static/app.js"):
        sent, reached = _call(_guarded(), path)
        assert _status(sent) == 401 and not reached, path
    sent, reached = _call(_guarded(), "/", "token=nope")
    assert _status(sent) == 403 and not reached
    sent, reached = _call(_guarded(), "/", headers=[("cookie", f"{cookie_name(8600)}={session_value('nope')}")])
    assert _status(sent) == 401 and not reached
    sent, reached = _call(_guarded(), "/", headers=[("authorization", "Bearer nope")])
    assert _status(sent) == 403 and not reached


def test_the_token_is_exchanged_for_a_cookie_and_removed_from_the_url():
    sent, reached = _call(_guarded(), "/compare", f"row=3&token={TOKEN}")
    assert _status(sent) == 303 and not reached
    headers = dict(sent[0]["headers"])
    assert headers[b"location"] == b"/compare?row=3"
    assert headers[b"set-cookie"].decode() == cookie_header(8600, TOKEN)
    cookie = headers[b"set-cookie"].decode().split(";")[0]
    sent, reached = _call(_guarded(), "/files/a.png", headers=[("cookie", f"other=1; {cookie}")])
    assert reached and _status(sent) == 200
    _, reached = _call(_guarded(), "/x", headers=[("authorization", f"Bearer {TOKEN}")])
    assert reached
    _, reached = _call(_guarded(), "/_stcore/upload_file/s/f", f"token={TOKEN}", method="PUT")
    assert reached  # not a page load: let through, no redirect


def test_the_websocket_is_closed_before_it_opens_without_the_cookie():
    sent, reached = _call(_guarded(), "/_stcore/stream", kind="websocket")
    assert sent == [{"type": "websocket.close", "code": 1008}] and not reached
    _, reached = _call(_guarded(), "/_stcore/stream", kind="websocket",
                       headers=[("cookie", f"{cookie_name(8600)}={session_value(TOKEN)}")])
    assert reached


def test_health_stays_open_and_loopback_is_not_checked():
    assert _call(_guarded(), "/_stcore/health")[1]
    assert _call(TokenAccess(None, Access(None), 8501), "/files/a.png")[1]
    assert _call(TokenAccess(None, Access(None, unprotected=True), 8501), "/")[1]


# --------------------------------------------------------------------------- the real app on 0.0.0.0


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """A store of baseline cells (canny over 3 generated photos): no networks, seconds to build."""
    from core.sweeps.spec import SweepSpec

    base = tmp_path_factory.mktemp("access")
    images = make_test_set(base / "images")
    db = base / "store" / "workbench.db"
    summary = run_sweep_quietly(SweepSpec(images=[str(images)], baselines=["canny"], device="cpu", name="shared"), db)
    assert summary.status == "done" and summary.failed == 0, summary
    return db


@pytest.fixture(scope="module")
def shared_ui(shared_store, tmp_path_factory):
    """``WORKBENCH_TOKEN=s3cret workbench ui --host 0.0.0.0`` on the store; yields (url, log path)."""
    logs = tmp_path_factory.mktemp("ui")
    env = worker_env(WORKBENCH_TOKEN=TOKEN, WORKBENCH_USER="shared")
    with running_ui(shared_store, env, logs, "--host", "0.0.0.0") as url:
        yield url, logs / "ui.log"


def _file_url(db) -> str:
    from core.store.store import Store
    from workbench.files_route import file_url

    with Store(db) as store:
        cell = next(c for c in store.results() if c["status"] == "done")
    return file_url(db.parent, cell["sketch_path"])


def _refused(url: str, opener=None, method="GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"x" if method == "PUT" else None)
    with pytest.raises(urllib.error.HTTPError) as err:
        (opener or urllib.request.build_opener()).open(request, timeout=10)
    return err.value.code


def _handshake(url: str, cookie: str | None) -> bytes:
    """The status line the server answers a websocket upgrade of ``/_stcore/stream`` with."""
    host, port = url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /_stcore/stream HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Origin: {url}"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return s.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.slow
def test_off_loopback_every_route_needs_the_token_then_the_cookie(shared_ui, shared_store):
    url, log = shared_ui
    files = url + _file_url(shared_store)
    assert f"?token={TOKEN}" in log.read_text()  # the ready-to-open URL was printed
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
        assert r.status == 200
    for path in ("/", files.removeprefix(url), "/_stcore/host-config"):
        assert _refused(url + path) == 401, path
    assert _refused(url + "/_stcore/upload_file/s/f", method="PUT") == 401
    assert _refused(url + "/?token=wrong") == 403
    assert _handshake(url, None).split()[1] == b"403"

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with browser.open(f"{url}/?token={TOKEN}", timeout=10) as r:
        assert r.status == 200 and b"<html" in r.read().lower() and "token" not in r.url
    cookie, = [c for c in jar if c.name.startswith("workbench_session_")]
    assert TOKEN not in cookie.value and cookie.has_nonstandard_attr("HttpOnly")
    with browser.open(files, timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png"
    with browser.open(url + "/", timeout=10) as r:
        assert r.status == 200
    assert _handshake(url, f"{cookie.name}={cookie.value}").split()[1] == b"101"


@pytest.mark.slow
@pytest.mark.browser
def test_a_browser_opens_the_printed_url_and_sees_the_compare_grid(shared_ui):
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip)")
    from tests.fixtures import CHROMIUM, chromium_browser, new_tab

    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium")
    url, _ = shared_ui
    with chromium_browser() as browser:
        with new_tab(browser) as page:
            response = page.goto(url + "/")
            assert response.status == 401
        with new_tab(browser) as page:
            page.goto(f"{url}/?token={TOKEN}")
            page.wait_for_selector('[data-testid="viewer-cell"]', timeout=60_000)
            assert "token=" not in page.url
            assert page.locator('[data-testid="stException"]').count() == 0


# --------------------------------------------------------------------------- who: the name each session records


def _tag_first_cell(at, note: str) -> None:
    cell_id = at.selectbox(key="cmp_open_choice").value
    at.button(key="cmp_open").click().run()
    at.text_input(key=f"dlg_note_{cell_id}").set_value(note).run()
    at.button(key=f"dlg_save_{cell_id}").click().run()
    assert_no_exception(at)


def test_two_sessions_with_two_names_tag_as_two_authors(app_store):
    from core.store.store import Store

    alice, bob, nobody = app_test(), app_test(), app_test()
    alice.text_input(key="workbench_name").set_value("  Alice   Smith ").run()
    bob.text_input(key="workbench_name").set_value("bob").run()
    # the browser is asked once to remember the name (a cookie the next visit reads)
    assert [h.proto.body.count("workbench_user=") for h in bob.get("html")] == [1]
    for at, note in ((alice, "from alice"), (bob, "from bob"), (nobody, "from nobody")):
        _tag_first_cell(at, note)
    with Store(app_store.db) as store:
        cell_id = alice.selectbox(key="cmp_open_choice").value
        tags = {t["note"]: t["author"] for t in store.tags([cell_id])}
    # the name typed once in the sidebar, cleaned; without one, WORKBENCH_USER (the fixture's "tester")
    assert tags == {"from alice": "Alice Smith", "from bob": "bob", "from nobody": "tester"}
    assert alice.text_input(key="workbench_name").value == "  Alice   Smith " and not alice.get("html")


def _vote_script():
    import streamlit as st

    from core.ranking.blind import record_vote
    from workbench import state

    state.name_field()
    if st.button("vote", key="vote"):
        store = state.store()
        ids = [c["id"] for c in store.results() if c["status"] == "done"][:2]
        record_vote(store, ids, ids[0], state.author())


def test_votes_by_two_people_stay_apart(app_store):
    from streamlit.testing.v1 import AppTest

    from core.store.store import Store

    for names in (["carol"], ["dave"], ["carol"], ["eve", ""]):  # eve clears her name again: WORKBENCH_USER
        at = AppTest.from_function(_vote_script, default_timeout=60).run()
        for name in names:
            at.text_input(key="workbench_name").set_value(name).run()
        at.button(key="vote").click().run()
        assert_no_exception(at)
    with Store(app_store.db) as store:
        authors = sorted(v["author"] for v in store.votes())
    assert authors == ["carol", "carol", "dave", "tester"]


def test_without_a_name_a_shared_server_does_not_sign_with_its_os_user(app_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.settings import user_name

    def script():
        import streamlit as st

        from workbench import state

        st.text(state.author())

    monkeypatch.delenv("WORKBENCH_USER")
    monkeypatch.setattr("workbench.state.is_loopback", lambda address: False)
    at = AppTest.from_function(script).run()
    assert at.text[0].value == "anonymous"
    monkeypatch.setattr("workbench.state.is_loopback", lambda address: True)
    at = AppTest.from_function(script).run()
    assert at.text[0].value == user_name()  # one person's app on this machine: the OS user, as before


# --------------------------------------------------------------------------- workbench ui's flags


def _ui(monkeypatch, capsys, *argv: str, **env: str):
    """Run ``workbench ui ARGV`` up to the exec; returns (command, environment, stderr)."""
    from core.cli import app
    from core.cli.main import main

    for name in ("WORKBENCH_TOKEN", "WORKBENCH_NO_TOKEN", "WORKBENCH_DATA_ROOTS", "WORKBENCH_OUTPUTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served = []
    monkeypatch.setattr(app, "serve", lambda command, environment: served.append((command, environment)) or 0)
    main(["ui", *argv])
    (command, environment), = served
    return command, environment, capsys.readouterr().err


def test_ui_prints_the_url_with_the_token_it_hands_the_server(monkeypatch, capsys, tmp_path):
    _, env, err = _ui(monkeypatch, capsys, "--host", "0.0.0.0", "--port", "8600", "--db", str(tmp_path / "w.db"))
    token = env["WORKBENCH_TOKEN"]
    assert len(token) >= 32 and f":8600/?token={token} " in err
    _, env, err = _ui(monkeypatch, capsys, "--host", "0.0.0.0", WORKBENCH_TOKEN=TOKEN)
    assert env["WORKBENCH_TOKEN"] == TOKEN and f"?token={TOKEN}" in err
    _, env, err = _ui(monkeypatch, capsys, "--host", "0.0.0.0", "--token", "flag", WORKBENCH_TOKEN=TOKEN)
    assert env["WORKBENCH_TOKEN"] == "flag" and "?token=flag" in err
    _, env, err = _ui(monkeypatch, capsys)  # loopback: as before, no token
    assert "token" not in err and "WORKBENCH_TOKEN" not in env and "http://127.0.0.1:8501/ " in err


def test_no_token_warns_loudly_and_data_roots_reach_the_server(monkeypatch, capsys, tmp_path):
    _, env, err = _ui(monkeypatch, capsys, "--host", "0.0.0.0", "--no-token", "--data-root", str(tmp_path))
    assert "WARNING" in err and "NO access check" in err and "token=" not in err
    assert env["WORKBENCH_NO_TOKEN"] == "1" and env["WORKBENCH_DATA_ROOTS"] == str(tmp_path.resolve())
    _, env, _ = _ui(monkeypatch, capsys, "--outputs", str(tmp_path / "out"))
    assert env["WORKBENCH_OUTPUTS"] == str((tmp_path / "out").resolve())


def test_ui_passes_every_setting_of_the_projects_streamlit_config(monkeypatch, capsys, tmp_path):
    # `streamlit run streamlit_app.py` reads .streamlit/config.toml; `workbench ui` (from any folder) must say the same
    import tomllib

    from core.settings import PROJECT_ROOT

    command, _, _ = _ui(monkeypatch, capsys, "--db", str(tmp_path / "w.db"))
    flags = dict(zip(command[5::2], command[6::2]))  # python -m streamlit run SCRIPT, then --name value pairs
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    settings = {f"--{section}.{name}": value for section, options in config.items() for name, value in options.items()}
    assert {"--runner.magicEnabled", "--runner.postScriptGC", "--client.toolbarMode"} <= set(settings)
    for flag, value in settings.items():
        assert flags.get(flag) == (str(value).lower() if isinstance(value, bool) else str(value)), flag


def test_bad_flags_are_usage_errors(monkeypatch, capsys, tmp_path):
    from core.cli.main import main

    monkeypatch.setattr("core.cli.app.serve", lambda *a: pytest.fail("started"))
    assert main(["ui", "--host", "0.0.0.0", "--token", " "]) == 2
    assert "--token is empty" in capsys.readouterr().err
    assert main(["ui", "--data-root", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
