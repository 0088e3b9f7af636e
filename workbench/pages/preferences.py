"""Preferences: how often each value of an axis was preferred, and the labels and notes given to each value.

Counts come from the preferred marks made on the Compare page
(:mod:`core.ranking.preferences` does the counting); labels and notes are
counted per value of the chosen axis, and every note links to its row on the
Compare page.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.ranking import preferences as P
from workbench import grid as G
from workbench import state


def render() -> None:
    """Draw the page."""
    st.title("Preferences")
    store = state.store()
    prefs = store.preferences()
    if not prefs:
        st.info("No preferred marks yet. On **Compare**, press 1-9 on a row to mark its preferred column.")
    else:
        _marks(prefs)
    _labels_and_notes(store)


def _labels_and_notes(store) -> None:
    """Labels counted per value of an axis, and every note with a link to its row."""
    st.header("Labels and notes")
    tags = store.tags()
    if not tags:
        st.info("No labels or notes yet. On **Compare**, press t (label) or n (note) on a row.")
        return
    cells = {c["id"]: c for c in store.cells_by_id(sorted({t["cell_id"] for t in tags}))}
    axis = st.selectbox("Count by", list(G.AXES), format_func=G.AXES.get, key="pref_tag_axis")
    counted = [{"label": t["label"], "value": G.axis_value(cells[t["cell_id"]], axis) or G.NA}
               for t in tags if t["label"] and t["cell_id"] in cells]
    if counted:
        table = pd.DataFrame(counted).pivot_table(index="label", columns="value", aggfunc="size", fill_value=0)
        st.caption(f"How many cells of each {G.AXES[axis]} carry each label.")
        st.dataframe(table)
    notes = [t for t in tags if t["note"] and t["cell_id"] in cells]
    if notes:
        st.subheader(f"Notes ({len(notes)})")
    for t in notes:
        cell = cells[t["cell_id"]]
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.markdown(f"**{cell['image_name']}** · {G.describe_settings(G.settings_of(cell))}  \n"
                      f"{t['note']} — *{t['author']}, {t['created_at'][:16]}*")
        right.page_link("workbench/pages/compare.py", label="Show row", icon=":material/grid_view:",
                        query_params={"row": cell["image_sha256"]})


def _marks(prefs: list[dict]) -> None:
    """How often each value of an axis was preferred: sentences, a chart, a table and CSV downloads."""
    authors = sorted({p["author"] for p in prefs})
    chosen = st.multiselect("Whose marks", authors, default=authors, key="pref_authors")
    prefs = [p for p in prefs if p["author"] in chosen]
    counts = P.preference_counts(prefs)
    pairs = P.pairwise_counts(prefs)
    if not counts:
        st.info("No marks by the people chosen.")
        return
    axes = sorted({r["axis"] for r in counts})
    axis = st.selectbox("Axis", axes, key="pref_axis")
    rows = [r for r in counts if r["axis"] == axis]
    st.subheader(f"Preferred {axis}")
    for pair in (p for p in pairs if p["axis"] == axis):
        st.markdown("- " + P.sentence(pair))
    frame = pd.DataFrame(rows)
    fig = px.bar(frame, x="value", y="preferred", text=frame.apply(lambda r: f"{r.preferred} of {r.shown}", axis=1),
                 labels={"value": axis, "preferred": "rows preferred"}, title=f"How often each {axis} was preferred")
    fig.update_layout(xaxis_type="category", height=360, margin={"t": 50, "b": 30})
    st.plotly_chart(fig, key="pref_chart")
    st.dataframe(frame.assign(share=frame["share"].map("{:.0%}".format)), hide_index=True)

    left, right = st.columns(2)
    left.download_button("Download counts (CSV)", P.to_csv(counts), "preference-counts.csv", "text/csv",
                         key="pref_csv", icon=":material/download:")
    raw = [{k: p[k] for k in ("created_at", "author", "axis", "value", "candidates_json", "row_key", "cell_id",
                              "comparison")} for p in prefs]
    right.download_button("Download all marks (CSV)", P.to_csv(raw), "preferences.csv", "text/csv",
                          key="pref_raw_csv", icon=":material/download:")
    with st.expander("Every axis"):
        st.dataframe(pd.DataFrame(counts), hide_index=True)
        for pair in pairs:
            st.markdown(f"- **{pair['axis']}**: " + P.sentence(pair))


if __name__ == "__main__":
    render()
