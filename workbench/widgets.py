"""Widgets more than one page uses: the sweep picker, the fixed-settings selectors."""

from __future__ import annotations

import streamlit as st

from workbench import grid as G

ALL_RESULTS = "All results"


def sweep_labels(sweeps: list[dict]) -> dict[int | None, str]:
    """Sweep id -> ``"#3 name · status (done/total)"``, with ``None`` for every result first."""
    labels: dict[int | None, str] = {None: ALL_RESULTS}
    for s in sweeps:
        labels[s["id"]] = f"#{s['id']} {s['name'] or ''} · {s['status']} ({s['done']}/{s['cells_total']})"
    return labels


def settle_sweep(sweeps: list[dict], key: str) -> int | None:
    """The sweep :func:`pick_sweep` will show, settled before it is drawn: a choice gone falls back to all results."""
    value = st.session_state.get(key)
    if value not in sweep_labels(sweeps):
        value = None
    st.session_state[key] = value
    return value


def pick_sweep(where, sweeps: list[dict], key: str) -> int | None:
    """A selectbox in ``where`` (``st.sidebar``, a column) of the sweeps and "All results"; the chosen id or None.

    A choice kept in the session that no longer exists falls back to all results.
    """
    labels = sweep_labels(sweeps)
    settle_sweep(sweeps, key)
    return where.selectbox("Sweep", list(labels), format_func=labels.get, key=key)


def _settled_fixed(cells: list[dict], axes: list[str], key_prefix: str) -> dict[str, tuple[list[str], str]]:
    """``G.resolve_fixed`` of the session's values, each settled back into the session; axis -> (options, value)."""
    wanted = {a: st.session_state.get(f"{key_prefix}{a}") for a in axes}
    resolved = G.resolve_fixed(cells, axes, wanted)
    for a, (_, value) in resolved.items():
        st.session_state[f"{key_prefix}{a}"] = value
    return resolved


def settle_fixed(cells: list[dict], axes: list[str], key_prefix: str) -> dict[str, str]:
    """The values :func:`fixed_selectors` will show, settled in the session before they are drawn; axis -> value.

    A value kept in the session that no longer fits the others is replaced by one that does.
    """
    return {a: value for a, (_, value) in _settled_fixed(cells, axes, key_prefix).items()}


def fixed_selectors(cells: list[dict], axes: list[str], key_prefix: str) -> dict[str, str]:
    """A sidebar selectbox per axis in ``axes`` fixing its value (``G.resolve_fixed``'s options); axis -> value."""
    return {a: st.sidebar.selectbox(G.AXES[a], options, key=f"{key_prefix}{a}")
            for a, (options, _) in _settled_fixed(cells, axes, key_prefix).items()}
