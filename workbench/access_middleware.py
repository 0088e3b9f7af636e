"""The one place the app checks access: ASGI middleware around Streamlit's whole server (pages, files, websocket).

``streamlit_app.py`` declares ``st.App(..., middleware=[Middleware(TokenAccess)])``;
Streamlit runs user middleware before its own, so every HTTP request and
the websocket pass here first. The rule is :func:`core.access.access_for` on
the server's bind address, decided on the first request (Streamlit's
configuration is loaded by then): open on loopback or with ``--no-token``;
otherwise a request needs the session cookie, an ``Authorization: Bearer``
header or ``?token=`` (a GET with a valid token is redirected to the same URL
without it, setting the cookie, so the token leaves the address bar and the
history). Without any: 401; with a wrong token: 403; a websocket is closed
before it opens (the server answers 403). ``/_stcore/health`` stays open for
load balancers and start-up probes.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from core.access import (
    TOKEN_PARAM,
    Access,
    access_for,
    cookie_header,
    cookie_name,
    open_url,
    session_value,
    tokens_match,
)

__all__ = ["OPEN_PATHS", "TokenAccess"]

log = logging.getLogger(__name__)

# Open without the token (also under the ``server.baseUrlPath`` prefix): start-up probes and load balancers.
OPEN_PATHS = ("/_stcore/health",)
REFUSED = (b"This Sketch Workbench needs its access token: open the URL that `workbench ui` printed "
           b"(http://HOST:PORT/?token=...), or ask whoever started it.\n")
WRONG = b"Wrong access token: open the URL that `workbench ui` printed, or ask whoever started it.\n"
# A policy violation close before accept: the server answers the handshake with 403.
WS_POLICY_CLOSE = 1008


class TokenAccess:
    """Refuse requests without the app's token or session cookie when the app is bound off loopback."""

    def __init__(self, app, access: Access | None = None, port: int | str | None = None) -> None:
        """Wrap ``app``; ``access`` and ``port`` default to the rule for Streamlit's configured address and port."""
        self.app = app
        self._access = access
        self._port = port
        self._open = set(OPEN_PATHS)

    def _rule(self) -> tuple[Access, int | str | None]:
        if self._access is None:
            from streamlit import config

            address, self._port = config.get_option("server.address"), config.get_option("server.port")
            base = (config.get_option("server.baseUrlPath") or "").strip("/")
            if base:
                self._open |= {f"/{base}{path}" for path in OPEN_PATHS}
            self._access = access_for(address)
            if self._access.unprotected:
                log.warning("Sketch Workbench is bound to %s with --no-token: ANYONE who can reach this port can "
                            "use the app. Keep it behind a proxy that checks who comes in.", address or "every address")
            elif self._access.generated:
                log.warning("Sketch Workbench needs a token off loopback; open %s",
                            open_url(address, self._port, self._access.token))
        return self._access, self._port

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        access, port = self._rule()
        if access.token is None or scope.get("path", "") in self._open:
            await self.app(scope, receive, send)
            return
        verdict = self._verdict(scope, access.token, port)
        if verdict == "ok":
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WS_POLICY_CLOSE})
        elif verdict == "exchange":
            await self._exchange(scope, send, access.token, port)
        else:
            await _plain(send, 403 if verdict == "wrong" else 401, WRONG if verdict == "wrong" else REFUSED)

    @staticmethod
    def _verdict(scope, token: str, port) -> str:
        """``ok`` (cookie or bearer), ``exchange`` (a right ``?token=`` on a GET), ``wrong`` or ``missing``."""
        headers = _headers(scope)
        cookie = _cookie(headers.get("cookie", ""), cookie_name(port))
        if cookie is not None and tokens_match(cookie, session_value(token)):
            return "ok"
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return "ok" if tokens_match(auth[7:].strip(), token) else "wrong"
        given = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get(TOKEN_PARAM)
        if given is None:
            return "missing"
        if not tokens_match(given, token):
            return "wrong"
        return "exchange" if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") else "ok"

    @staticmethod
    async def _exchange(scope, send, token: str, port) -> None:
        """Redirect to the same URL without the token, setting the session cookie."""
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                 if k != TOKEN_PARAM]
        location = (scope.get("root_path", "") + scope["path"]) + (f"?{urlencode(query)}" if query else "")
        secure = scope.get("scheme") == "https"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")),
            (b"set-cookie", cookie_header(port, token, secure).encode("latin-1")),
            (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie header, or None (parsed by hand: one odd cookie spoils SimpleCookie)."""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


async def _plain(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
