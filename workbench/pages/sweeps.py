"""Sweeps: define a sweep in the browser, see its size and time first, run it in a detached worker.

The list of sweeps refreshes itself while one runs (done, failed, total,
ETA), with cancel for running sweeps and resume for interrupted or cancelled
ones. The form builds the same :class:`core.sweeps.spec.SweepSpec` as the CLI's
flags and TOML files (same validation, same sweep id). Launching and cancelling
are :mod:`core.sweeps.launcher`'s, estimating :mod:`core.sweeps.estimate`'s; the
worker is ``python -m core.cli.main sweep --spec-json ...``, so a sweep started here
gives the same cells as the CLI and outlives reruns, reloads and closed tabs.
A typed folder is read only under the allowed roots (:mod:`core.folders`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import streamlit as st

from core.data.uploads import MAX_UPLOAD_BYTES, new_test_set, save_upload
from core.errors import AlreadyRunning, FolderError, LaunchError, SpecError, UploadError
from core.folders import allowed_file, allowed_folder, data_roots
from core.settings import runs_dir
from core.sweeps import estimate as estimates
from core.sweeps import launcher
from workbench import state

NO_MASK = "none"
POLL_S = 2.0
RESUMABLE = ("interrupted", "cancelled", "pending")


def render() -> None:
    """Draw the page."""
    st.title("Sweeps")
    state.show_flash()
    db = state.db_path()
    active = _active(db)
    # The list polls only while something runs; it reruns the whole page when that changes.
    st.fragment(_sweep_list, run_every=POLL_S if active else None)(db, active)
    st.divider()
    _new_sweep(db)


def _active(db: Path) -> bool:
    store = state.store()
    return any(s["status"] == "running" for s in store.sweeps()) or any(r["alive"] for r in launcher.launches(db))


# --------------------------------------------------------------------------- the list


def _sweep_list(db: Path, polling: bool) -> None:
    store = state.store()
    sweeps = store.sweeps()
    records = launcher.launches(db)
    if polling != _active(db):
        st.rerun()
    st.subheader("Sweeps")
    by_hash = {s["spec_hash"]: s for s in sweeps}
    for rec in records:
        sweep = by_hash.get(rec["spec_hash"])
        if rec["alive"] and (sweep is None or sweep["status"] != "running"):
            _starting(rec)
        elif not rec["alive"] and sweep is None:
            st.error(f"A worker for “{rec.get('name') or rec['spec_hash'][:8]}” ended before starting its sweep.")
            st.code(launcher.log_tail(rec["log"]) or "(empty log)", language=None)
            if st.button("Dismiss", key=f"dismiss_{rec['spec_hash'][:16]}"):
                launcher.forget(db, rec["spec_hash"])
                st.rerun()
    if not sweeps:
        st.info("No sweeps yet.")
        return
    logs = {r["spec_hash"]: r for r in reversed(records)}
    for sweep in sweeps:
        _sweep_row(store, db, sweep, logs.get(sweep["spec_hash"]))


def _starting(rec: dict) -> None:
    left, right = st.columns([5, 1])
    left.info(f"Starting “{rec.get('name') or rec['spec_hash'][:8]}” (worker pid {rec['pid']})…")
    if right.button("Cancel", key=f"cancel_launch_{rec['spec_hash'][:16]}"):
        launcher.cancel(rec["pid"], started=rec.get("started"))
        st.rerun()


def _sweep_row(store, db: Path, sweep: dict, rec: dict | None) -> None:
    p = estimates.progress(store, sweep)
    with st.container(border=True, key=f"sweep_{sweep['id']}"):
        head, actions = st.columns([5, 1])
        with head:
            st.markdown(f"**#{sweep['id']} {sweep['name'] or ''}** · `{sweep['status']}`"
                        + (f" · {sweep['note']}" if sweep["note"] else ""))
            text = f"{p['done']} done · {p['failed']} failed · {p['total']} total"
            if sweep["status"] == "running":
                text += f" · ETA {estimates.format_duration(p['eta_s'])}"
            st.progress(min(1.0, p["fraction"]), text=text)
            if sweep["error"]:
                st.caption(f"Last error: {sweep['error']}")
            if sweep.get("executor") == "ray":
                _workers(store, sweep)
        with actions:
            if sweep["status"] == "running":
                if st.button("Cancel", key=f"cancel_{sweep['id']}", type="primary"):
                    launcher.cancel_sweep(db, sweep, background=True)
                    st.toast(f"Stopping sweep #{sweep['id']}…")
            elif sweep["status"] in RESUMABLE:
                if st.button("Resume", key=f"resume_{sweep['id']}"):
                    _start(lambda: launcher.resume(db, sweep), f"Resumed sweep #{sweep['id']}.")
        if rec:
            with st.expander("Worker log"):
                st.code(launcher.log_tail(rec["log"]) or "(empty)", language=None)


def _workers(store, sweep: dict) -> None:
    """Per-worker progress of a sweep run on Ray (written by the driver into ``sweep_workers``)."""
    rows = store.sweep_workers(sweep["id"])
    if not rows:
        return
    st.dataframe(
        [{"worker": r["worker"], "node": r["node"], "device": r["device"], "status": r["status"],
          "done": r["cells_done"], "failed": r["cells_failed"], "restarts": r["restarts"], "updated": r["updated_at"]}
         for r in rows],
        hide_index=True, key=f"workers_{sweep['id']}",
    )


def _start(start, message: str) -> None:
    try:
        launch = start()
    except AlreadyRunning as exc:
        state.flash(str(exc), "warning")
    except LaunchError as exc:
        state.flash(str(exc), "error")
    else:
        state.flash(f"{message} Worker pid {launch.pid}; log {launch.log_path.name}.")
    st.rerun()


# --------------------------------------------------------------------------- the form


def _known_test_sets(db: Path) -> list[str]:
    """Test-set folders the workbench knows: uploads beside the store, built sets, and those in the store."""
    found: dict[str, None] = {}
    for base in (db.parent / "testsets", runs_dir() / "testsets", runs_dir() / "datasets"):
        if base.is_dir():
            for folder in sorted(p for p in base.iterdir() if p.is_dir()):
                found[str(folder.resolve())] = None
    for path in state.store().image_paths():
        parent = Path(path).parent
        if parent.name == "images" and (parent.parent / "manifest.json").is_file():
            parent = parent.parent
        found[str(parent)] = None
    return [p for p in found if Path(p).is_dir()]


def _save_uploads(db: Path) -> None:
    n = st.session_state.get("_sw_upload_n", 0)
    files = st.session_state.get(f"sw_upload_files_{n}") or []
    if not files:
        state.flash("Choose image files to upload first.", "warning")
        return
    folder = new_test_set(db.parent, st.session_state.get("sw_upload_name") or "")
    saved, refused = [], []
    for f in files:
        try:
            saved.append(save_upload(folder, f.name, f.getvalue()))
        except UploadError as exc:
            refused.append(str(exc))
    for message in refused:
        state.flash(message, "error")
    if saved:
        state.flash(f"{len(saved)} images saved in test set {folder.name}.")
        st.session_state["sw_testset_path"] = str(folder)
        st.session_state["sw_source"] = "Folder"
    else:
        folder.rmdir()
    st.session_state["_sw_upload_n"] = n + 1  # a fresh uploader: the files are stored now


def _test_set(db: Path, known: list[str]) -> str | None:
    source = st.radio("Test set", ["Folder", "Upload images"], horizontal=True, key="sw_source")
    if source == "Upload images":
        st.text_input("Name of the new test set", key="sw_upload_name", placeholder="e.g. portraits")
        n = st.session_state.get("_sw_upload_n", 0)
        st.file_uploader(f"Images (at most {MAX_UPLOAD_BYTES // 2**20} MB each; checked before they are kept)",
                         accept_multiple_files=True, key=f"sw_upload_files_{n}")
        st.button("Save as a new test set", key="sw_upload_save", on_click=_save_uploads, args=(db,))
        return None
    left, right = st.columns(2)
    choice = left.selectbox("Known test sets", known, index=0 if known else None, key="sw_testset",
                            format_func=lambda p: f"{Path(p).name} — {p}", placeholder="none found")
    typed = right.text_input("…or a folder on this machine", key="sw_testset_path").strip()
    return typed or choice


def _numbers(text: str, kind, label: str, errors: list[str]) -> list:
    values = []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if part.strip():
            try:
                values.append(kind(part))
            except ValueError:
                errors.append(f"{label}: {part.strip()!r} is not a number")
    if not values:
        errors.append(f"{label}: give at least one value")
    return values


def _baseline_params(text: str, errors: list[str]) -> dict[str, dict]:
    """``canny.low=30, xdog.sigma=1.2`` -> ``{"canny": {"low": 30}, "xdog": {"sigma": 1.2}}`` (the CLI's parser)."""
    from core.sweeps.spec import parse_baseline_params

    try:
        return parse_baseline_params(text.replace(";", ",").replace(" ", ",").split(","))
    except SpecError as exc:
        errors.append(f"Baseline parameters: {exc}")
        return {}


def _new_sweep(db: Path) -> None:
    from core.pipeline.baselines import BASELINES
    from core.sweeps.spec import SweepSpec

    st.subheader("New sweep")
    errors: list[str] = []
    known = _known_test_sets(db)
    folder = _test_set(db, known)
    # The store's folder (uploads) and the sets the store already holds are allowed besides the configured roots.
    roots = data_roots([db.parent, *known])
    refused = False
    if folder:
        try:
            allowed_folder(folder, roots)
        except FolderError as exc:  # nothing in it is read: no spec, no plan, no estimate
            st.error(f"This folder cannot be used: {exc}")
            folder, refused = None, True
    catalog = [f for f in state.weights_catalog() if f["ok"]]
    sketch_files = [f["path"] for f in catalog if f["role"] == "sketch"]
    mask_files = [f["path"] for f in catalog if f["role"] == "mask"]
    names = {f["path"]: f"{f['file']} ({f['architecture']}, width {f['width']:g})" for f in catalog}
    names[NO_MASK] = "none (background off)"

    a, b, c = st.columns(3)
    sketch = a.multiselect("Sketch Net checkpoints", sketch_files, format_func=names.get, key="sw_sketch")
    masks = b.multiselect("Mask Net checkpoints", [NO_MASK, *mask_files], default=[NO_MASK], format_func=names.get,
                          key="sw_mask")
    baselines = c.multiselect("Baselines", sorted(BASELINES), key="sw_baselines")
    a, b, c, d = st.columns(4)
    resolutions = _numbers(a.text_input("Resolutions (px)", "424", key="sw_resolutions"), int, "Resolutions", errors)
    modes = b.multiselect("Mask modes", ["soft", "hard"], default=["soft"], key="sw_mask_modes")
    softctrs = _numbers(c.text_input("softctr values", "0.5", key="sw_softctrs"), float, "softctr", errors)
    precisions = d.multiselect("Precision", ["fp32", "fp16", "bf16"], default=["fp32"], key="sw_precisions")
    a, b, c, d = st.columns(4)
    gammas = a.multiselect("Gamma", ["on", "off"], default=["on"], key="sw_gammas")
    merges = b.multiselect("Merge (positive + negative)", ["off", "on"], default=["off"], key="sw_merges")
    device = c.selectbox("Device", ["auto", "cpu", "cuda"], key="sw_device")
    vectorize = d.checkbox("Vectorise into strokes", key="sw_vectorize")
    params = _baseline_params(st.text_input(
        "Baseline parameters", key="sw_baseline_params", placeholder="e.g. canny.low=30, xdog.sigma=1.2",
        help="NAME.PARAM=VALUE pairs, as the CLI's --baseline-param; unset parameters keep their defaults.",
    ), errors)
    a, b = st.columns(2)
    name = a.text_input("Name", key="sw_name")
    note = b.text_input("Note", key="sw_note")
    extra_args = _executor()

    if not folder and not refused:
        errors.append("Choose a test set folder (or upload images).")
    for label, chosen in (("mask mode", modes), ("gamma", gammas), ("merge", merges), ("precision", precisions)):
        if not chosen:
            errors.append(f"Pick at least one {label}.")
    if not sketch and not baselines:
        errors.append("Pick a Sketch Net checkpoint or a baseline.")
    for checkpoint in [*sketch, *(m for m in masks if m != NO_MASK)]:
        try:
            allowed_file(checkpoint, roots)
        except FolderError as exc:
            errors.append(str(exc))
    if errors or refused:
        for e in errors:
            st.caption(f"⚠️ {e}")
        st.button("Launch", key="sw_launch", disabled=True)
        return
    try:
        spec = SweepSpec(
            images=[folder], sketch_checkpoints=sketch, mask_checkpoints=[None if m == NO_MASK else m for m in masks],
            baselines=baselines, baseline_params=params, resolutions=resolutions, mask_modes=modes,
            softctrs=softctrs, gammas=[g == "on" for g in gammas], merges=[m == "on" for m in merges],
            precisions=precisions, device=device, vectorize=vectorize, name=name.strip(), note=note.strip(),
        )
    except SpecError as exc:
        st.error(f"This sweep cannot run: {exc}")
        st.button("Launch", key="sw_launch", disabled=True)
        return
    planned = _plan(json.dumps(spec.canonical(), sort_keys=True), _stamps(spec))
    if isinstance(planned, str):
        st.error(planned)
        st.button("Launch", key="sw_launch", disabled=True)
        return
    est = estimates.estimate(planned, state.store(), spec.device)
    a, b, c = st.columns(3)
    a.metric("Cells", est["cells"])
    b.metric("Already in the store", est["cached"])
    c.metric("Estimated time", estimates.format_duration(est["seconds"]))
    basis = (f"{est['measured']} cells timed from done cells in the store (same checkpoint or baseline, side and "
             f"device), {est['scaled']} scaled by pixel count from another side of the same checkpoint, "
             f"{est['guessed']} from the rough default ({estimates.DEFAULT_CHECKPOINT_S_AT_424} s per Sketch Net "
             f"cell at 424 px on a CPU, scaled by pixel count; {estimates.DEFAULT_BASELINE_S} s per baseline cell)")
    st.caption(basis)
    if st.button("Launch", key="sw_launch", type="primary"):
        _start(lambda: launcher.launch(spec, db, extra_args=extra_args),
               f"Launched “{spec.name or 'sweep'}” ({est['cells']} cells).")


def _executor() -> list[str]:
    """The executor choice: local, or Ray when it is installed; returns extra worker arguments."""
    from core.sweeps.ray import ray_argv, ray_available

    if not ray_available():
        st.caption("Executor: local (install the Ray extra, `pip install -e '.[ray]'`, to spread sweeps over a Ray "
                   "cluster)")
        return []
    a, b, c = st.columns([1, 2, 1])
    executor = a.radio("Executor", ["local", "ray"], horizontal=True, key="sw_executor")
    if executor == "local":
        return []
    address = b.text_input("Ray address", key="sw_ray_address", placeholder="empty: a local Ray instance",
                           help="HEAD_IP:6379 of a running cluster; the outputs folder (workbench ui --outputs) "
                           "must be on storage every node mounts at the same path")
    cpus = c.number_input("CPUs per worker", min_value=1, value=1, step=1, key="sw_ray_cpus")
    return ray_argv(address.strip() or None, int(cpus))


def _stamps(spec) -> tuple:
    """Modification times that invalidate a cached plan (new images, rewritten checkpoints)."""
    out = []
    for p in [*spec.images, *spec.sketch_checkpoints, *[m for m in spec.mask_checkpoints if m]]:
        try:
            out.append(os.stat(p).st_mtime_ns)
        except OSError:
            out.append(0)
    return tuple(out)


@st.cache_data(max_entries=64, ttl=300, show_spinner="Planning the sweep…")
def _plan(spec_json: str, stamps: tuple) -> list[estimates.CellCost] | str:
    """What each cell's time depends on (key, method, Sketch Net, side), or the reason the spec cannot run."""
    from core.sweeps.plan import plan_sweep
    from core.sweeps.spec import spec_from_record

    try:
        plan = plan_sweep(spec_from_record(spec_json))
    except Exception as exc:  # noqa: BLE001 - any reason the spec cannot run is shown, not raised
        return f"This sweep cannot run: {exc}"
    return estimates.cell_costs(plan)


if __name__ == "__main__":
    render()
