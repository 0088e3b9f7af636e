"""Blind ranking: vote on unlabelled cells of one row, and the strengths the votes give.

Pick an axis (e.g. the sketch checkpoint) with every other setting fixed;
the page draws a random row and shows 2-4 of its cells in shuffled order,
numbered, without any setting in view (the grid viewer in blind mode, so
zoom and pan work as on Compare). Keys: ``1``-``4`` pick, ``s`` skips, ``t``
ties, ``u`` undoes the last vote. Votes go to the store's ``votes`` table
(:mod:`core.ranking.blind`), apart from Compare's preferred marks; the
standings (:mod:`core.ranking.standings`) open on request, so they do not
sway the next vote.
"""

from __future__ import annotations

import random

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.errors import RankingError
from core.ranking.blind import draw_trial, record_vote
from core.ranking.standings import standings
from core.ranking.strengths import ranking_csv
from workbench import grid as G
from workbench import state
from workbench.viewer import blind_data, viewer
from workbench.views import grid_page, kept_configs
from workbench.widgets import fixed_selectors, pick_sweep

TRIAL = "blind_trial"
UNDO = "blind_undo"
LAST = "blind_last"


def render() -> None:
    """Draw the page."""
    st.title("Blind ranking")
    store = state.store()
    state.show_flash()
    sweeps, stamp = state.sweeps_and_stamp(store)
    sweep_id = pick_sweep(st.sidebar, sweeps, "blind_sweep")
    path = str(store.path)
    configs = state.cell_configs(store, path, sweep_id, None, stamp)
    varying = G.varying_axes(configs)
    if not varying:
        st.info("Nothing to rank yet: a sweep with two or more values of a setting is needed (**Sweeps** page).")
        return
    axis = st.sidebar.selectbox("Rank the values of", varying, format_func=G.AXES.get, key="blind_axis")
    others = [a for a in varying if a != axis]
    if others:
        st.sidebar.markdown("**Fixed**")
    fixed = fixed_selectors(configs, others, "blind_fix_")
    k = st.sidebar.select_slider("Cells per vote", [2, 3, 4], value=2, key="blind_k")
    signature = (sweep_id, axis, tuple(sorted(fixed.items())), k)
    trial = st.session_state.get(TRIAL)
    if not trial or trial["signature"] != signature:
        trial = _new_trial(store, path, sweep_id, configs, axis, fixed, k, stamp)
        if trial is None:
            st.warning("No row has two finished cells for these settings; fix other values.")
            return
        trial["signature"] = signature
        st.session_state[TRIAL] = trial
    last = st.session_state.get(LAST)
    if last:
        st.caption(last)
    data = blind_data(store, trial["cells"], trial["row"], trial["image_path"])
    viewer(data, key="blind_viewer", on_event=lambda event: _on_event(event, axis))
    _standings(store, axis)


def _new_trial(store, path: str, sweep_id, configs, axis: str, fixed: dict, k: int, stamp, tries: int = 8):
    """A random row of the comparison and ``k`` of its cells, shuffled; None when no row has two to compare."""
    columns = G.grid_columns(configs, [axis], fixed)
    shown = [c.label for c in columns]
    kept = kept_configs(configs, [axis], fixed, shown)
    only = None if len(kept) == len(configs) else kept
    total = state.image_total(store, path, sweep_id, None, only, stamp)
    rng = random.Random()
    for _ in range(tries if total else 0):
        grid = grid_page(store, sweep_id, None, only, ([axis], fixed, shown), columns, 1, rng.randrange(total))
        if not grid.rows:
            continue
        row = grid.rows[0]
        cells = draw_trial([[row.cells.get(c.key) for c in columns]], k, rng)
        if cells:
            return {"row": row.key, "image_path": row.image_path, "cells": cells}
    return None


def _on_event(event: dict, axis: str) -> None:
    """Apply one key of the blind viewer: a vote, a tie, a skip or an undo; the next trial is drawn afresh."""
    store = state.store()
    trial = st.session_state.get(TRIAL)
    kind = event.get("type")
    if kind == "undo":
        undo = st.session_state.setdefault(UNDO, [])
        if undo:
            store.unvote(undo.pop())
            st.session_state[LAST] = "Your last vote was undone."
        return
    if not trial or kind not in ("vote", "tie", "skip"):
        return
    if kind != "skip":
        ids = [c["id"] for c in trial["cells"]]
        col = int(event.get("col", -1))
        winner = ids[col] if kind == "vote" and 0 <= col < len(ids) else None
        if kind == "vote" and winner is None:
            return
        try:
            vote_id = record_vote(store, ids, winner, state.author(), axis)
        except RankingError as exc:
            st.session_state[LAST] = f"Not recorded: {exc}"
        else:
            st.session_state.setdefault(UNDO, []).append(vote_id)
            # Only now, after the vote, what was shown is named.
            names = [G.axis_value(c, axis) for c in trial["cells"]]
            picked = "a tie" if winner is None else f"#{col + 1} ({names[col]})"
            st.session_state[LAST] = f"Recorded {picked} among " + ", ".join(
                f"#{i + 1} {n}" for i, n in enumerate(names)) + "."
    else:
        st.session_state[LAST] = "Skipped."
    st.session_state.pop(TRIAL, None)


def _standings(store, axis: str) -> None:
    """Strengths with intervals, who beats whom, how many more votes, which metrics agree: on request."""
    with st.expander("Standings (shows the settings: open after voting)"):
        people = sorted({v["author"] for v in store.votes(axis=axis)})
        chosen = st.multiselect("Only these people's votes", people, key="blind_authors", placeholder="everyone",
                                help="Empty: everyone's votes, combined. Pick people to see theirs alone.")
        try:
            ranking, agreement = standings(store, axis, bootstrap=300, authors=chosen or None)
        except RankingError as exc:
            st.info(str(exc))
            return
        st.caption(f"{ranking.votes} votes with a winner and {ranking.ties} ties on {G.AXES.get(axis, axis)} by "
                   f"{', '.join(chosen) or 'everyone'}, all comparisons; strengths are Plackett-Luce log-strengths (Bradley-Terry for two cells), "
                   "95% bootstrap intervals.")
        st.markdown(f"**{ranking.separation_hint()}**")
        fig = go.Figure(go.Scatter(
            x=ranking.strength, y=ranking.values, mode="markers",
            error_x={"type": "data", "symmetric": False,
                     "array": [h - s for h, s in zip(ranking.high, ranking.strength)],
                     "arrayminus": [s - lo for s, lo in zip(ranking.strength, ranking.low)]}))
        fig.update_layout(height=120 + 40 * len(ranking.values), margin={"t": 20, "b": 30},
                          xaxis_title="log-strength (95% interval)", yaxis={"autorange": "reversed"})
        st.plotly_chart(fig, key="blind_chart")
        st.dataframe(pd.DataFrame(ranking.to_rows()), hide_index=True)
        beats = pd.DataFrame(ranking.beats, index=ranking.values, columns=ranking.values)
        st.caption("Probability that the row's value is picked over the column's.")
        st.dataframe(beats.style.format("{:.2f}"))
        st.caption("How often each metric's better value is the human winner (pairwise), and Kendall's tau "
                   "between each value's mean metric and its strength.")
        st.dataframe(pd.DataFrame([a for a in agreement if a["accuracy"] is not None]), hide_index=True)
        st.download_button("Download strengths (CSV)", ranking_csv(ranking), f"strengths-{axis}.csv", "text/csv",
                           key="blind_csv", icon=":material/download:")


if __name__ == "__main__":
    render()
