"""Metrics: one metric of the cells by a config field (optionally split by a second one), with means and CSV.

Pick a sweep (or all results), a metric that has numbers, the x axis and an
optional colour axis; a box plot shows every cell as a point beside its box,
a table gives the mean per group, and the cells' metrics download as CSV.
Tables and figures come from :mod:`workbench.charts`.
"""

from __future__ import annotations

import streamlit as st

from core.sketch.metric_names import METRIC_DESCRIPTIONS
from core.store.store import CONFIG_COLUMNS
from workbench import charts as C
from workbench import state
from workbench.widgets import pick_sweep

NO_COLOUR = "(none)"
DEFAULT_AXES = ("resolution", "sketch_checkpoint", "mask_mode", "mask_checkpoint")


def render() -> None:
    """Draw the page."""
    st.title("Metrics")
    store = state.store()
    top = st.columns(4)
    sweep_id = pick_sweep(top[0], store.sweeps(), "met_sweep")
    cells = store.results(sweep_id)
    done = [c for c in cells if c["status"] == "done"]
    if not done:
        st.info("No finished cells yet. Start a sweep on the **Sweeps** page or with `workbench sweep ...`.")
        return
    metrics = C.metrics_with_values(done)
    if not metrics:
        st.info("These cells have no metrics yet.")
        return
    help_text = "\n".join(f"- **{m}**: {METRIC_DESCRIPTIONS.get(m, '')}" for m in metrics)
    metric = top[1].selectbox("Metric", metrics, key="met_metric", help=help_text)
    x = top[2].selectbox("X axis", CONFIG_COLUMNS, index=CONFIG_COLUMNS.index(_default_axis(done)),
                         format_func=C.axis_label, key="met_x")
    colour = top[3].selectbox("Colour", [NO_COLOUR, *(a for a in CONFIG_COLUMNS if a != x)],
                              format_func=lambda a: a if a == NO_COLOUR else C.axis_label(a), key="met_colour")
    colour = None if colour == NO_COLOUR else colour
    st.caption(METRIC_DESCRIPTIONS.get(metric, ""))

    frame = C.metric_frame(done, metric, x, colour)
    orders = {a: C.axis_order(done, a) for a in (x, colour) if a}
    st.plotly_chart(C.metric_figure(frame, metric, x, colour, orders), key="met_chart")
    missing = len(done) - len(frame)
    if missing:
        # Reference metrics exist only where the test set has drawings, stroke metrics only when vectorised.
        st.caption(f"{missing} of {len(done)} finished cells have no {metric} and are left out.")
    means = C.metric_means(frame, metric, x, colour)
    st.dataframe(means.rename(columns={a: C.axis_label(a) for a in (x, colour) if a}), hide_index=True,
                 key="met_means")
    st.download_button("Download the cells' metrics (CSV)", C.cells_csv(cells),
                       f"metrics-{'all' if sweep_id is None else f'sweep-{sweep_id}'}.csv", "text/csv",
                       key="met_csv", icon=":material/download:")


def _default_axis(cells: list[dict]) -> str:
    """The first of the usual axes that takes two values or more here (resolution when nothing varies)."""
    for axis in DEFAULT_AXES:
        if len(C.axis_order(cells, axis)) > 1:
            return axis
    return "resolution"


if __name__ == "__main__":
    render()
