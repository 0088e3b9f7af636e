"""Token access to the app off loopback: when a token is needed, the token itself, and the session cookie it buys.

Bound to this machine only (``127.0.0.1``, ``::1``, ``localhost`` or a Unix
socket) the app is open, as before. Bound to any other address (``0.0.0.0``,
a LAN address, or no address at all: Streamlit then listens on every
interface) it asks for a token, the way Jupyter does: the token comes from
``--token`` or ``WORKBENCH_TOKEN``, or is generated at start, and is printed
once as a ready-to-open URL (``http://HOST:PORT/?token=...``). The first
request that carries it gets an HttpOnly session cookie whose value is
derived from the token (the token itself never sits in a cookie), so later
requests, the websocket included, need nothing in the URL. Every comparison
is constant-time. ``--no-token`` (``WORKBENCH_NO_TOKEN=1``) switches the check
off for deployments behind their own authenticating proxy.

Nothing here imports Streamlit or Starlette: the ASGI middleware that applies
these rules is :mod:`workbench.access_middleware`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["COOKIE_PREFIX", "TOKEN_PARAM", "Access", "access_for", "cookie_header", "cookie_name", "is_loopback",
           "new_token", "open_url", "session_value", "tokens_match"]

TOKEN_PARAM = "token"
COOKIE_PREFIX = "workbench_session_"
# A fixed label keeps the cookie's value tied to this use of the token (an HMAC key must not be reused elsewhere).
SESSION_LABEL = b"sketch-workbench session cookie v1"
WILDCARDS = ("0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class Access:
    """How the app is reached: ``token`` None means open (loopback, or ``--no-token``)."""

    token: str | None
    generated: bool = False  # the token was made at start (nobody set one): it must be shown to be usable
    unprotected: bool = False  # off loopback with the check switched off (``--no-token``): warn loudly


def is_loopback(address: str | None) -> bool:
    """Whether a bind address reaches this machine only (loopback IPs, ``localhost``, a Unix socket).

    An empty or missing address is not: Streamlit then binds every interface.
    """
    if not address:
        return False
    address = address.strip()
    if address.startswith("unix://") or address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to an outside interface


def new_token() -> str:
    """A fresh random token (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def tokens_match(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time (False for None or empty)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def session_value(token: str) -> str:
    """The session cookie's value for ``token``: an HMAC of a fixed label, so the cookie never holds the token."""
    return hmac.new(token.encode("utf-8"), SESSION_LABEL, hashlib.sha256).hexdigest()


def cookie_name(port: int | str | None) -> str:
    """The session cookie's name: per port, since browsers share cookies between the ports of one host."""
    return f"{COOKIE_PREFIX}{port or 'default'}"


def cookie_header(port: int | str | None, token: str, secure: bool = False) -> str:
    """The ``Set-Cookie`` value that admits a browser: HttpOnly, SameSite=Lax, whole site, for the session."""
    return (f"{cookie_name(port)}={session_value(token)}; Path=/; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else ""))


def open_url(host: str | None, port: int | str, token: str | None) -> str:
    """The URL to open the app with (``?token=`` when one is needed); a wildcard host is shown as this machine's name."""
    shown = host or ""
    if not shown or shown in WILDCARDS:
        shown = socket.gethostname() or "localhost"
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 literal
    return f"http://{shown}:{port}/" + (f"?{TOKEN_PARAM}={quote(token, safe='')}" if token else "")


def access_for(address: str | None, env: Mapping[str, str] | None = None, token: str | None = None,
               no_token: bool = False) -> Access:
    """The access rule for an app bound to ``address``.

    Args:
        address: the bind address (Streamlit's ``server.address``).
        env: where ``WORKBENCH_TOKEN`` and ``WORKBENCH_NO_TOKEN`` are read (default: the process environment).
        token: an explicit token (``--token``); wins over ``WORKBENCH_TOKEN``.
        no_token: ``--no-token``: no check off loopback (behind a proxy that checks).

    Returns:
        Open on loopback; open and ``unprotected`` with ``no_token``; else the token, ``generated`` when
        neither ``token`` nor ``WORKBENCH_TOKEN`` gave one.
    """
    env = os.environ if env is None else env
    if is_loopback(address):
        return Access(None)
    if no_token or env.get("WORKBENCH_NO_TOKEN", "").strip().lower() in ("1", "true", "yes"):
        return Access(None, unprotected=True)
    chosen = (token or env.get("WORKBENCH_TOKEN") or "").strip()
    if chosen:
        return Access(chosen)
    return Access(new_token(), generated=True)
