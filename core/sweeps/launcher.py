"""Sweeps run as detached worker processes: start, watch, estimate, cancel and resume them.

The app never runs a sweep in its own process: :func:`launch` starts
``python -m core.cli.main sweep ... --json --no-progress --db DB`` from an
argument list (no shell) in a new session, so the worker survives reruns,
page reloads, closed tabs and even a restart of the app. Its output goes to
``logs/`` beside the database, and a small launch record there
(``logs/<hash>.json``) keeps its pid until the engine itself records the
sweep as running.

:func:`cancel` sends SIGTERM to the worker's process group (the engine
stops after the cell in hand and marks the sweep ``cancelled``) and SIGKILL
after a grace period. The same spec is refused while it runs, whether it was
started here or from a terminal.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from core.errors import AlreadyRunning, LaunchError
from core.settings import PROJECT_ROOT

LOG_DIR = "logs"
DEFAULT_GRACE_S = 10.0
# Rough seconds per cell when the store has no history for a method/resolution:
# a classical baseline is milliseconds; a width-1.0 Sketch Net on a 2-core CPU takes
# about 1.5 s at 424 px and grows with the pixel count (the Mask Net runs once per image).
DEFAULT_BASELINE_S = 0.05
DEFAULT_CHECKPOINT_S_AT_424 = 1.5

# Workers started by this process, so that finished ones are reaped (no zombies).
_CHILDREN: dict[int, subprocess.Popen] = {}
_CHILDREN_LOCK = threading.Lock()


@dataclass
class Launch:
    """A started worker: its pid, log file and the launch record that names it."""

    spec_hash: str
    pid: int
    argv: list[str]
    log_path: Path
    record_path: Path
    started_at: str


# --------------------------------------------------------------------------- arguments


def sweep_argv(spec, db: str | os.PathLike, python: str | None = None) -> list[str]:
    """The worker's argument list for ``spec``: the CLI rebuilds a spec with the same spec_hash."""
    c = spec.canonical()
    argv = [python or sys.executable, "-m", "core.cli.main", "sweep", "--images", *c["images"]]
    if c["sketch_checkpoints"]:
        argv += ["--sketch-checkpoint", *c["sketch_checkpoints"]]
    argv += ["--mask-checkpoint", *[m or "none" for m in c["mask_checkpoints"]]]
    if c["baselines"]:
        argv += ["--baseline", *c["baselines"]]
    for name in sorted(spec.baseline_params or {}):
        for param, value in sorted(spec.baseline_params[name].items()):
            argv.append(f"--baseline-param={name}.{param}={value}")
    argv += ["--resolution", *[str(int(r)) for r in c["resolutions"]]]
    argv += ["--mask-mode", *c["mask_modes"]]
    argv += ["--softctr", *[repr(float(s)) for s in c["softctrs"]]]
    argv += ["--gamma", *[str(bool(g)) for g in c["gammas"]]]
    argv += ["--merge", *[str(bool(m)) for m in c["merges"]]]
    argv += ["--profile", *c["profiles"], "--precision", *c["precisions"]]
    argv += ["--device", c["device"], "--vectorize", str(bool(c["vectorize"])), "--max-pixels", str(c["max_pixels"])]
    # "=" keeps a name or note that starts with "-" from being read as a flag.
    argv += [f"--name={c['name']}", f"--note={c['note']}"]
    argv += ["--db", str(Path(db).resolve()), "--json", "--no-progress"]
    return argv


def spec_from_record(spec_json: str | dict):
    """The SweepSpec stored with a sweep (``sweeps.spec_json``), for resuming it."""
    from core.sweeps.engine import SweepSpec

    data = json.loads(spec_json) if isinstance(spec_json, str) else dict(spec_json)
    known = set(SweepSpec.__dataclass_fields__)
    fields = {k: v for k, v in data.items() if k in known}
    fields["mask_checkpoints"] = [m or None for m in fields.get("mask_checkpoints", [None])]
    return SweepSpec(**fields)


# --------------------------------------------------------------------------- processes


def log_dir(db: str | os.PathLike) -> Path:
    """``logs/`` beside the database."""
    return Path(db).resolve().parent / LOG_DIR


def _record_path(db, spec_hash: str) -> Path:
    return log_dir(db) / f"sweep-{spec_hash[:16]}.json"


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (/proc), to tell it from a later process with the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]) if len(fields) > 19 else None


def _reap() -> None:
    """Collect the exit status of finished workers started here."""
    with _CHILDREN_LOCK:
        for pid, proc in list(_CHILDREN.items()):
            if proc.poll() is not None:
                del _CHILDREN[pid]


def pid_alive(pid: int | None, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` is a live (not zombie) process, and the same one when ``start_ticks`` is given."""
    if not pid:
        return False
    _reap()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return start_ticks is None or _start_ticks(pid) in (None, start_ticks)


def launches(db: str | os.PathLike) -> list[dict]:
    """Launch records under ``logs/``, newest first, each with ``alive``."""
    folder = log_dir(db)
    records = []
    for path in folder.glob("sweep-*.json") if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        rec["alive"] = pid_alive(rec.get("pid"), rec.get("start_ticks"))
        rec["record_path"] = str(path)
        records.append(rec)
    return sorted(records, key=lambda r: r.get("started_at", ""), reverse=True)


def running_pid(db: str | os.PathLike, spec_hash: str) -> int | None:
    """The pid running the sweep ``spec_hash`` (a worker started here, or any live engine), else None."""
    path = _record_path(db, spec_hash)
    if path.is_file():
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            rec = {}
        if rec.get("spec_hash") == spec_hash and pid_alive(rec.get("pid"), rec.get("start_ticks")):
            return rec["pid"]
    if Path(db).exists():
        from core.store.store import Store

        with Store(db) as store:
            store.refresh_statuses()
            rows = store.query("SELECT pid FROM sweeps WHERE spec_hash = ? AND status = 'running'", (spec_hash,))
        if rows:
            return rows[0]["pid"] or -1
    return None


@contextmanager
def _lock(db, spec_hash: str) -> Iterator[None]:
    """An exclusive lock per spec, so two clicks in two tabs cannot both start a worker."""
    folder = log_dir(db)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"sweep-{spec_hash[:16]}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def launch(spec, db: str | os.PathLike, *, python: str | None = None, env: dict | None = None,
           extra_args: list[str] | None = None) -> Launch:
    """Start a detached worker that runs (or resumes) ``spec`` into ``db``.

    ``extra_args`` are appended to the worker's ``workbench sweep`` arguments
    (e.g. ``core.sweeps.ray.ray_argv()`` to run it on Ray).

    Raises:
        AlreadyRunning: the same spec is running (started here or elsewhere).
        LaunchError: the worker could not be started.
    """
    spec_hash = spec.spec_hash()
    db = Path(db).resolve()
    with _lock(db, spec_hash):
        pid = running_pid(db, spec_hash)
        if pid:
            raise AlreadyRunning(f"this sweep is already running (pid {pid}); wait for it or cancel it")
        argv = sweep_argv(spec, db, python) + list(extra_args or [])
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        log_path = log_dir(db) / f"sweep-{spec_hash[:16]}-{stamp}.log"
        worker_env = dict(os.environ if env is None else env)
        worker_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), worker_env.get("PYTHONPATH")) if p)
        worker_env["PYTHONUNBUFFERED"] = "1"
        try:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(  # noqa: S603 - an argument list, no shell
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(PROJECT_ROOT),
                    env=worker_env, start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            raise LaunchError(f"could not start the sweep worker: {exc}") from None
        with _CHILDREN_LOCK:
            _CHILDREN[proc.pid] = proc
        started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        record = {"spec_hash": spec_hash, "pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "argv": argv,
                  "log": str(log_path), "started_at": started, "name": spec.name}
        path = _record_path(db, spec_hash)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(path)
    return Launch(spec_hash, proc.pid, argv, log_path, path, started)


def forget(db: str | os.PathLike, spec_hash: str) -> None:
    """Delete the launch record of a worker that has ended (its log file stays)."""
    path = _record_path(db, spec_hash)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not pid_alive(rec.get("pid"), rec.get("start_ticks")):
        path.unlink(missing_ok=True)


def _signal(pid: int, sig: int) -> None:
    """Signal the worker's process group when it leads its own, else only the process."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        # Never the group this app runs in: a sweep run in-process would take the app down.
        if group == pid and group != os.getpgid(0):
            os.killpg(group, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def cancel(pid: int, grace_s: float = DEFAULT_GRACE_S, start_ticks: int | None = None) -> bool:
    """Stop a worker: SIGTERM to its process group, SIGKILL after ``grace_s``. True when it has ended."""
    if not pid_alive(pid, start_ticks):
        return True
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid, start_ticks):
            return True
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    for _ in range(100):
        if not pid_alive(pid, start_ticks):
            return True
        time.sleep(0.05)
    return False


def cancel_sweep(db: str | os.PathLike, sweep: dict, grace_s: float = DEFAULT_GRACE_S,
                 background: bool = False) -> threading.Thread | bool:
    """Cancel a running sweep row (from ``Store.sweeps()``); a worker killed hard is marked cancelled.

    With ``background`` the waiting happens on a thread (returned), so a page is not held up.
    """
    def stop() -> bool:
        pid = sweep.get("pid")
        ticks = None
        rec_path = _record_path(db, sweep["spec_hash"])
        if rec_path.is_file():
            try:
                rec = json.loads(rec_path.read_text())
                if rec.get("pid") == pid:
                    ticks = rec.get("start_ticks")
            except (OSError, ValueError):
                pass
        ended = cancel(pid, grace_s, ticks) if pid else True
        from core.store.store import Store

        with Store(db) as store:
            row = store.query("SELECT status FROM sweeps WHERE id = ?", (sweep["id"],))
            if ended and row and row[0]["status"] in ("running", "interrupted"):
                # SIGKILL left no chance to record it: say what happened.
                store.finish_sweep(sweep["id"], "cancelled", "stopped from the app (killed after the grace period)")
        return ended

    if background:
        thread = threading.Thread(target=stop, name=f"cancel-sweep-{sweep['id']}", daemon=True)
        thread.start()
        return thread
    return stop()


def resume(db: str | os.PathLike, sweep: dict, **kwargs) -> Launch:
    """Start the stored spec of an interrupted or cancelled sweep again (done cells are reused).

    A sweep last run on Ray resumes on Ray (address from ``RAY_ADDRESS``, else a local instance).
    """
    if sweep.get("executor") == "ray" and "extra_args" not in kwargs:
        from core.sweeps.ray import ray_argv

        kwargs["extra_args"] = ray_argv(os.environ.get("RAY_ADDRESS"))
    return launch(spec_from_record(sweep["spec_json"]), db, **kwargs)


def log_tail(path: str | os.PathLike, lines: int = 20) -> str:
    """The last ``lines`` lines of a worker log ("" when missing)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- progress & estimates


def _parse_time(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def progress(store, sweep: dict, now: float | None = None) -> dict:
    """Done, failed, total, remaining and ETA (seconds, from this run's pace) of a sweep row."""
    total = sweep.get("cells_total") or 0
    done, failed = sweep.get("done") or 0, sweep.get("failed") or 0
    remaining = max(0, total - done - failed)
    eta = None
    started = _parse_time(sweep.get("started_at"))
    if sweep.get("status") == "running" and started and remaining:
        # Pace of this run only: cells reused from the store finished long before it started.
        n = store.query(
            "SELECT count(*) AS n FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id "
            "WHERE sc.sweep_id = ? AND c.finished_at >= ?", (sweep["id"], sweep["started_at"])
        )[0]["n"]
        elapsed = (now or time.time()) - started
        if n and elapsed > 0:
            eta = remaining * elapsed / n
    return {"done": done, "failed": failed, "total": total, "remaining": remaining,
            "fraction": (done + failed) / total if total else 0.0, "eta_s": eta}


def default_cell_seconds(method: str, resolution: int | None) -> float:
    """The rough default per cell (see the module constants) when the store has no history."""
    if method != "checkpoint":
        return DEFAULT_BASELINE_S
    return DEFAULT_CHECKPOINT_S_AT_424 * ((resolution or 424) / 424) ** 2


def history_seconds(store) -> dict[tuple[str, int | None], float]:
    """Mean seconds of done cells in the store per (method, resolution)."""
    rows = store.query(
        "SELECT method, resolution, avg(seconds) AS s FROM cells WHERE status = 'done' AND seconds IS NOT NULL "
        "GROUP BY method, resolution"
    )
    return {(r["method"], r["resolution"]): r["s"] for r in rows}


def estimate(cells: list[tuple[str, str, int | None]], store=None) -> dict:
    """Cells to compute and seconds they should take, from ``(cell_key, method, resolution)`` triples.

    Cells already done (or failed) in the store are cached (0 s). The per-cell time
    is the store's mean for that method and resolution, else :func:`default_cell_seconds`.
    """
    finished: set[str] = set()
    history: dict = {}
    if store is not None:
        keys = [k for k, _, _ in cells]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            finished.update(r["cell_key"] for r in store.query(
                f"SELECT cell_key FROM cells WHERE status IN ('done', 'failed') AND cell_key IN ({marks})", chunk))
        history = history_seconds(store)
    seconds = 0.0
    measured = guessed = 0
    for key, method, resolution in cells:
        if key in finished:
            continue
        if (method, resolution) in history:
            seconds += history[(method, resolution)]
            measured += 1
        else:
            seconds += default_cell_seconds(method, resolution)
            guessed += 1
    return {"cells": len(cells), "cached": len(finished), "todo": len(cells) - len(finished),
            "seconds": seconds, "measured": measured, "guessed": guessed}


def format_duration(seconds: float | None) -> str:
    """``"1 h 05 min"``, ``"3 min 20 s"``, ``"12 s"`` (``"?"`` for None)."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
