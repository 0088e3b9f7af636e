"""Preferences: for each axis, how often each value was preferred, with a chart and CSV export.

Counts come from the preferred marks made on the Compare page
(:mod:`core.ranking.preferences` does the counting).
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.ranking import preferences as P
from workbench import state


def render() -> None:
    """Draw the page."""
    st.title("Preferences")
    prefs = state.store().preferences()
    if not prefs:
        st.info("No preferred marks yet. On **Compare**, pick the best cell of a row with the *Preferred* buttons.")
        return
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
