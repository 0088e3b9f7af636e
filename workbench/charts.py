"""Tables and plotly figures for the Metrics and Overfitting pages, built from store rows.

Plain functions (no Streamlit): the pages only pick what to show and hand
the results to ``st.dataframe`` / ``st.plotly_chart``, and the tests check
them directly.

Config values are displayed as on the Compare page (:func:`workbench.grid.axis_value`:
``on``/``off`` switches, the method name in place of a baseline's sketch
checkpoint); a field that is NULL or does not apply to a cell (the resolution
of a baseline, say) is shown as ``n/a``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.store.store import CONFIG_COLUMNS, METRIC_COLUMNS
from core.training.curves import CURVE_INDEX_COLUMNS
from core.training.evaluation import HIGHER_IS_BETTER, Score
from workbench import grid as G

NA = G.NA
SPLITS = ("train", "heldout")
SPLIT_NAMES = {"train": "train", "heldout": "held-out"}
SPLIT_COLOURS = {"train": "#4C78A8", "heldout": "#F58518"}
# Gap colours: train better than held-out (the overfitting sign) in red, the other way in green.
OVERFIT_STYLE = "background-color: rgba(214, 39, 40, 0.25)"
UNDERFIT_STYLE = "background-color: rgba(44, 160, 44, 0.2)"


# --------------------------------------------------------------------------- metrics of cells


def axis_label(axis: str) -> str:
    """How an axis is named on the page: the Compare page's names, ``Method`` for the method."""
    return "Method" if axis == "method" else G.AXES.get(axis, axis)


def axis_display(cell: dict, axis: str) -> str:
    """The display value of a config field for a cell, ``n/a`` where it is NULL or does not apply."""
    value = cell.get("method") if axis == "method" else G.axis_value(cell, axis)
    return NA if value is None or value == "" else str(value)


def axis_order(cells: list[dict], axis: str) -> list[str]:
    """The values of ``axis`` among ``cells`` in natural order (numbers numerically), ``n/a`` last."""
    if axis in G.AXES:
        order = G.axis_options(cells, axis)
    else:
        order = sorted({str(c[axis]) for c in cells if c.get(axis) not in (None, "")})
    if any(axis_display(c, axis) == NA for c in cells):
        order.append(NA)
    return order


def _finite(value) -> bool:
    """Whether ``value`` is a real, finite number (not a bool, None or NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metrics_with_values(cells: list[dict]) -> list[str]:
    """The metric columns that hold at least one number among ``cells``, in the store's order."""
    return [m for m in METRIC_COLUMNS if any(_finite(c.get(m)) for c in cells)]


def metric_frame(cells: list[dict], metric: str, x: str, colour: str | None = None) -> pd.DataFrame:
    """One row per cell with a number for ``metric``: ``cell_id``, ``image``, the axis values and the metric.

    The axis columns are named by the axis keys (``x``, then ``colour`` when it is another axis).
    """
    axes = [x] + ([colour] if colour and colour != x else [])
    rows = [{"cell_id": c["id"], "image": c.get("image_name"), **{a: axis_display(c, a) for a in axes},
             metric: float(c[metric])} for c in cells if _finite(c.get(metric))]
    return pd.DataFrame(rows, columns=["cell_id", "image", *axes, metric])


def metric_means(frame: pd.DataFrame, metric: str, x: str, colour: str | None = None) -> pd.DataFrame:
    """Per value of ``x`` (and ``colour``): cells, mean, std, median, min and max of ``metric``."""
    by = [x] + ([colour] if colour and colour != x else [])
    if frame.empty:
        return pd.DataFrame(columns=[*by, "cells", "mean", "std", "median", "min", "max"])
    grouped = frame.groupby(by, sort=False)[metric]
    table = grouped.agg(cells="count", mean="mean", std=lambda v: float(np.std(v)), median="median",
                        min="min", max="max").reset_index()
    return table


def metric_figure(frame: pd.DataFrame, metric: str, x: str, colour: str | None = None,
                  orders: dict[str, list[str]] | None = None) -> go.Figure:
    """A box plot of ``metric`` by ``x`` (boxes split by ``colour``), every cell drawn as a point beside its box."""
    colour = colour if colour and colour != x else None
    labels = {x: axis_label(x), metric: metric}
    if colour:
        labels[colour] = axis_label(colour)
    title = f"{metric} by {axis_label(x).lower()}" + (f" and {axis_label(colour).lower()}" if colour else "")
    fig = px.box(frame, x=x, y=metric, color=colour, points="all", hover_data=["image", "cell_id"],
                 category_orders=orders or {}, labels=labels, title=title)
    fig.update_layout(xaxis_type="category", height=420, margin={"t": 50, "b": 30}, boxmode="group")
    return fig


def cells_csv(cells: list[dict]) -> str:
    """CSV of the cells' config fields (display values) and metrics, one line per cell."""
    rows = []
    for c in cells:
        row = {"cell_id": c["id"], "sweep_id": c.get("sweep_id"), "image": c.get("image_name"),
               "test_set": c.get("test_set"), "status": c.get("status")}
        row.update({a: axis_display(c, a) for a in CONFIG_COLUMNS})
        row["seconds"] = c.get("seconds")
        row.update({m: c.get(m) for m in METRIC_COLUMNS})
        rows.append(row)
    columns = ["cell_id", "sweep_id", "image", "test_set", "status", *CONFIG_COLUMNS, "seconds", *METRIC_COLUMNS]
    return pd.DataFrame(rows, columns=columns).to_csv(index=False)


# --------------------------------------------------------------------------- overfitting


def scores_frame(scores: list[Score]) -> pd.DataFrame:
    """One row per checkpoint x split x metric: test set, images, mean and std."""
    return pd.DataFrame(
        [{"checkpoint": s.checkpoint, "metric": s.metric, "split": SPLIT_NAMES.get(s.split, s.split),
          "test set": s.test_set, "images": len(s.values), "mean": s.mean, "std": s.std} for s in scores],
        columns=["checkpoint", "metric", "split", "test set", "images", "mean", "std"],
    )


def _mean_std(mean: float, std: float) -> str:
    """``"0.812 ± 0.03"``, a dash when there is no mean."""
    return "–" if not math.isfinite(mean) else f"{mean:.4g} ± {std:.2g}"


def gap_frame(summary: list[dict]) -> pd.DataFrame:
    """The gap table: per checkpoint and metric, mean ± std and n of each split, the gap and the relative gap.

    ``gap`` is train - held-out; ``train better by`` is the gap turned so that
    above zero always means "better on train" (lower chamfer is better), as a
    share of the held-out mean.
    """
    rows = []
    for r in summary:
        held = r["heldout_mean"]
        relative = r["train_advantage"] / abs(held) if math.isfinite(held) and held else float("nan")
        rows.append({
            "checkpoint": r["checkpoint"], "metric": r["metric"],
            "better": "higher" if HIGHER_IS_BETTER.get(r["metric"], True) else "lower",
            "train": _mean_std(r["train_mean"], r["train_std"]), "train n": r["train_images"],
            "held-out": _mean_std(held, r["heldout_std"]), "held-out n": r["heldout_images"],
            "gap": r["gap"], "train better by": relative,
        })
    columns = ["checkpoint", "metric", "better", "train", "train n", "held-out", "held-out n", "gap",
               "train better by"]
    return pd.DataFrame(rows, columns=columns)


def styled_gaps(frame: pd.DataFrame):
    """The gap table for display: gap cells red where train scores better, green where held-out does.

    *train better by* is shown as text (``+12.3%``, ``–`` where undefined): the
    app's table would print a missing number as "None".
    """
    better = frame["train better by"]
    shown = frame.assign(**{"train better by": better.map(lambda v: f"{v:+.1%}" if math.isfinite(v) else "–")})

    def colour(row: pd.Series) -> list[str]:
        value = better[row.name]
        style = "" if not math.isfinite(value) or value == 0 else OVERFIT_STYLE if value > 0 else UNDERFIT_STYLE
        return [style if name in ("gap", "train better by") else "" for name in row.index]

    return shown.style.apply(colour, axis=1).format({"gap": "{:+.4g}"}, na_rep="–")


def score_bars(scores: list[Score], metric: str) -> go.Figure:
    """Grouped bars of ``metric``: mean per checkpoint, one bar per split, the std as error bars."""
    frame = scores_frame([s for s in scores if s.metric == metric])
    fig = px.bar(frame, x="checkpoint", y="mean", color="split", error_y="std", barmode="group",
                 hover_data=["test set", "images"], color_discrete_map=_split_colours(),
                 category_orders={"split": list(SPLIT_NAMES.values())}, labels={"mean": metric},
                 title=f"{metric}: mean ± std per checkpoint and split")
    fig.update_layout(height=380, margin={"t": 50, "b": 30})
    return fig


def score_spread(scores: list[Score], metric: str) -> go.Figure:
    """Box plot of the per-image values of ``metric`` per checkpoint and split, every image drawn as a point."""
    rows = [{"checkpoint": s.checkpoint, "split": SPLIT_NAMES.get(s.split, s.split), "test set": s.test_set,
             "image": i, metric: v} for s in scores if s.metric == metric for i, v in enumerate(s.values)]
    frame = pd.DataFrame(rows, columns=["checkpoint", "split", "test set", "image", metric])
    fig = px.box(frame, x="checkpoint", y=metric, color="split", points="all", hover_data=["test set", "image"],
                 color_discrete_map=_split_colours(), category_orders={"split": list(SPLIT_NAMES.values())},
                 title=f"{metric}: per-image values")
    fig.update_layout(height=380, margin={"t": 50, "b": 30}, boxmode="group")
    return fig


def _split_colours() -> dict[str, str]:
    """Split display name -> its colour, for plotly's ``color_discrete_map``."""
    return {SPLIT_NAMES[s]: c for s, c in SPLIT_COLOURS.items()}


# --------------------------------------------------------------------------- training curves


def curve_figure(curve: dict[str, np.ndarray], losses: list[str], marks: list[dict], title: str = "",
                 log_y: bool = False) -> go.Figure:
    """Loss columns over ``global_iter``, with a dotted line and a marker on each curve per checkpoint mark.

    ``marks`` come from :func:`core.training.curves.checkpoint_marks`; a mark's markers sit on
    each loss line at its step (interpolated between logged points).
    """
    frame = pd.DataFrame({c: curve[c] for c in [*CURVE_INDEX_COLUMNS, *losses]})
    long = frame.melt(id_vars=list(CURVE_INDEX_COLUMNS), value_vars=losses, var_name="loss", value_name="value")
    fig = px.line(long, x="global_iter", y="value", color="loss", hover_data=["epoch"], log_y=log_y,
                  labels={"global_iter": "global_iter (step)", "value": "loss"}, title=title)
    iters = curve["global_iter"].astype(float)
    for mark in marks:
        fig.add_vline(x=mark["step"], line_dash="dot", line_color="grey",
                      annotation_text=f"{mark['stage']} (step {mark['step']:g})", annotation_position="top")
        if not len(iters):
            continue
        ys = [float(np.interp(mark["step"], iters, curve[loss])) for loss in losses]
        fig.add_trace(go.Scatter(x=[mark["step"]] * len(losses), y=ys, mode="markers",
                                 marker={"symbol": "diamond", "size": 11, "color": "black"},
                                 name=mark["stage"], text=[mark["label"]] * len(losses),
                                 hovertemplate="%{text}<br>step %{x}<br>loss %{y:.4g}<extra></extra>"))
    fig.update_layout(height=420, margin={"t": 60, "b": 30})
    return fig
