"""Overfitting: train vs held-out scores of each checkpoint, and the training curves with the checkpoints on them.

The scores are the ``evaluations`` rows written by ``workbench overfit --db``
(or ``workbench demo``): per checkpoint and split, mean ± std and the number
of images of each metric (mask IoU; edge F1 and chamfer for Sketch Nets), the
train - held-out gap coloured, grouped bars with std error bars and the
per-image spread.

Training curves are CSVs in the original ``epoch,global_iter,<losses>`` format,
imported by ``workbench demo`` or uploaded here (checked first, stored under
the file name). A checkpoint is marked on a curve when its file name has the
curve's prefix (``MaskNet_v2_curve.csv`` <-> ``MaskNet_v2_stage1.safetensors``)
and its metadata records the step it was saved at; the store knows the
checkpoints that a sweep has used (see :func:`core.training.curves.checkpoint_marks`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st

from core.training import curves as K
from core.training.evaluation import EVALUATION_DESCRIPTIONS, HIGHER_IS_BETTER, gap_summary, stored_scores
from workbench import charts as C
from workbench import state

CARDS_PER_ROW = 4


def render() -> None:
    """Draw the page."""
    st.title("Overfitting")
    store = state.store()
    state.show_flash()
    st.subheader("Train vs held-out")
    scores = stored_scores(store)
    if scores:
        _scores(scores)
    else:
        st.info("No train / held-out scores yet. Score checkpoints on the two object splits (build them first "
                "with `workbench datasets build`) and record them in this store:")
        st.code("workbench overfit --mask-checkpoint A B --train runs/datasets/objects-train "
                f"--heldout runs/datasets/objects-heldout --db {state.db_path()}", language="bash")
    st.subheader("Training curves")
    has_curves = _curves(store)
    _uploader(expanded=not has_curves)


def _scores(scores) -> None:
    """The gap table, one card per checkpoint for the chosen metric, the bar and spread charts."""
    summary = gap_summary(scores)
    st.dataframe(C.styled_gaps(C.gap_frame(summary)), hide_index=True, key="ovf_gaps")
    st.caption("gap = train − held-out mean. Red: the checkpoint does better on the data it was trained on "
               "(the overfitting sign; *train better by* is that advantage as a share of the held-out mean); "
               "green: it does better on held-out data.")
    known = list(HIGHER_IS_BETTER)  # mask_iou, edge_f1, chamfer first, in that order
    metrics = sorted({s.metric for s in scores}, key=lambda m: (known.index(m) if m in known else len(known), m))
    metric = st.radio("Metric", metrics, horizontal=True, key="ovf_metric",
                      help="\n".join(f"- **{m}**: {EVALUATION_DESCRIPTIONS.get(m, '')}" for m in metrics))
    rows = [r for r in summary if r["metric"] == metric]
    st.caption(f"Held-out {metric} per checkpoint; the delta is the train − held-out gap.")
    # Positive gaps are bad where higher is better, so "inverse" shows them red; for chamfer the bad sign is negative.
    delta_colour = "inverse" if HIGHER_IS_BETTER.get(metric, True) else "normal"
    for start in range(0, len(rows), CARDS_PER_ROW):
        for col, r in zip(st.columns(CARDS_PER_ROW), rows[start : start + CARDS_PER_ROW]):
            gap = None if math.isnan(r["gap"]) else f"{r['gap']:+.4g} gap (train {_number(r['train_mean'])})"
            col.metric(r["checkpoint"], _number(r["heldout_mean"]), delta=gap,
                       delta_color="off" if r["gap"] == 0 else delta_colour,
                       help=f"train {_number(r['train_mean'])} on {r['train_images']} images ({r['train_set']}), "
                            f"held-out {_number(r['heldout_mean'])} on {r['heldout_images']} ({r['heldout_set']})")
    left, right = st.columns(2)
    left.plotly_chart(C.score_bars(scores, metric), key="ovf_bars")
    right.plotly_chart(C.score_spread(scores, metric), key="ovf_spread")
    with st.expander("Every score"):
        st.dataframe(C.scores_frame(scores), hide_index=True, key="ovf_scores")


def _number(value: float) -> str:
    """A score in 4 significant digits, a dash for NaN."""
    return "–" if math.isnan(value) else f"{value:.4g}"


def _curves(store) -> bool:
    """List the stored curves and plot the chosen one; False when there is none."""
    stored = K.stored_curves(store)
    if not stored:
        st.info("No training curves yet. Import one below (`workbench train` writes `<prefix>_curve.csv`; "
                "`workbench demo` imports the demo's).")
        return False
    parsed, listing = {}, []
    for row in stored:
        try:
            curve = K.parse_curve(row["csv_text"], f"curve {row['name']}")
        except K.CurveFormatError as exc:  # only a store edited by hand gets here: imports are checked
            st.warning(str(exc))
            continue
        parsed[row["name"]] = curve
        steps = curve["global_iter"]
        listing.append({"name": row["name"], "losses": ", ".join(K.loss_columns(curve)), "rows": len(steps),
                        "steps": f"{steps.min()}–{steps.max()}" if len(steps) else "–", "source": row["source"],
                        "imported": row["imported_at"]})
    st.dataframe(pd.DataFrame(listing), hide_index=True, key="ovf_curve_list")
    if not parsed:
        return True
    if st.session_state.get("ovf_curve") not in parsed:
        st.session_state["ovf_curve"] = next(iter(parsed))
    top = st.columns([2, 3, 1])
    name = top[0].selectbox("Curve", list(parsed), key="ovf_curve")
    curve = parsed[name]
    columns = K.loss_columns(curve)
    # One widget per curve: another curve has other loss columns.
    losses = top[1].multiselect("Loss columns", columns, default=columns, key=f"ovf_losses:{name}")
    log_y = top[2].checkbox("Log scale", key="ovf_log")
    marks = K.checkpoint_marks(name, store.checkpoints())
    if not losses:
        st.info("Pick at least one loss column.")
        return True
    st.plotly_chart(C.curve_figure(curve, losses, marks, title=name, log_y=log_y), key="ovf_curve_chart")
    if marks:
        st.caption("Marked: " + "; ".join(f"**{m['stage']}** = `{m['label']}` at step {m['step']:g}" for m in marks))
    else:
        st.caption(f"No checkpoint marked: checkpoints named `{K.curve_prefix(name)}_stage…` whose metadata records "
                   "a `step` appear here once a sweep has used them.")
    return True


def _uploader(expanded: bool) -> None:
    """The curve CSV uploader and its Import button (a fresh uploader after each import)."""
    n = st.session_state.get("_ovf_upload_n", 0)
    with st.expander("Import training curves (CSV)", expanded=expanded):
        st.file_uploader(f"CSV in the original format: `{K.EXPECTED_HEADER}`; stored under its file name "
                         "(a curve of the same name is replaced)", type=["csv"], accept_multiple_files=True,
                         key=f"ovf_upload_{n}")
        st.button("Import", key="ovf_import", on_click=_import_uploads, icon=":material/upload:")


def _import_uploads() -> None:
    """Check and store the uploaded curves one by one (the Import button's callback)."""
    n = st.session_state.get("_ovf_upload_n", 0)
    files = st.session_state.get(f"ovf_upload_{n}") or []
    if not files:
        state.flash("Choose CSV files to import first.", "warning")
        return
    imported = []
    for f in files:
        name = Path(f.name).name  # the file name only, whatever path the browser sent
        try:
            # One at a time: a malformed file is refused without holding back the good ones.
            K.save_curves(state.store(), [(name, f"uploaded by {state.author()}", K.decode_upload(name, f.getvalue()))])
        except K.CurveFormatError as exc:
            state.flash(f"Not imported: {exc}", "error")
        else:
            imported.append(name)
    if imported:
        state.flash(f"Imported {', '.join(imported)}.")
        st.session_state["ovf_curve"] = imported[-1]
    st.session_state["_ovf_upload_n"] = n + 1  # a fresh uploader: the files are stored now


if __name__ == "__main__":
    render()
