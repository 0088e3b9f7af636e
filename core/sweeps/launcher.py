"""Sweeps run as detached worker processes: start, watch, cancel and resume them.

The app never runs a sweep in its own process: :func:`launch` writes the
spec's canonical form to ``logs/sweep-<hash>-<time>.spec.json`` beside the
database and starts ``python -m core.cli.main sweep --spec-json FILE --db DB
--json --no-progress`` from an argument list (no shell) in a new session, so
the worker survives reruns, page reloads, closed tabs and even a restart of
the app. The worker validates the same :class:`core.sweeps.spec.SweepSpec`
the app built, so it runs the same sweep (same spec hash). Its output (a
timestamped line per cell) goes to ``logs/``, and a small launch record there
(``logs/sweep-<hash>.json``) keeps its pid and start time until the engine
itself records the sweep as running.

:func:`cancel` sends SIGTERM to the worker's process group (the engine
stops after the cell in hand and marks the sweep ``cancelled``) and SIGKILL
after a grace period. The same spec is refused while it runs, whether it was
started here or from a terminal.
"""

from __future__ import annotations

import fcntl
import json
import logging
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
from core.files import write_atomic
from core.processes import pid_alive, process_started
from core.settings import PROJECT_ROOT
from core.sweeps.spec import SweepSpec, spec_from_record

__all__ = [
    "DEFAULT_GRACE_S",
    "LOG_DIR",
    "Launch",
    "cancel",
    "cancel_sweep",
    "forget",
    "launch",
    "launches",
    "log_dir",
    "log_tail",
    "resume",
    "running_pid",
    "worker_argv",
]

log = logging.getLogger(__name__)

LOG_DIR = "logs"
DEFAULT_GRACE_S = 10.0

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
    spec_path: Path | None = None


def worker_argv(spec_path: str | os.PathLike, db: str | os.PathLike, python: str | None = None) -> list[str]:
    """The worker's argument list: ``workbench sweep`` on the spec file, JSON summary, no progress bar."""
    return [python or sys.executable, "-m", "core.cli.main", "sweep", "--spec-json", str(Path(spec_path).resolve()),
            "--db", str(Path(db).resolve()), "--json", "--no-progress"]


# --------------------------------------------------------------------------- processes


def log_dir(db: str | os.PathLike) -> Path:
    """``logs/`` beside the database."""
    return Path(db).resolve().parent / LOG_DIR


def _record_path(db, spec_hash: str) -> Path:
    return log_dir(db) / f"sweep-{spec_hash[:16]}.json"


def _read_record(path: Path) -> dict:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def _reap() -> None:
    """Collect the exit status of finished workers started here."""
    with _CHILDREN_LOCK:
        for pid, proc in list(_CHILDREN.items()):
            if proc.poll() is not None:
                del _CHILDREN[pid]


def _alive(rec: dict) -> bool:
    """Whether a launch record's worker still runs (its start time, when recorded, tells it from a reused pid).

    Records written before start times were kept (``start_ticks``) are checked by pid alone.
    """
    _reap()
    return pid_alive(rec.get("pid"), rec.get("started"))


def launches(db: str | os.PathLike) -> list[dict]:
    """Launch records under ``logs/``, newest first, each with ``alive``."""
    folder = log_dir(db)
    records = []
    for path in folder.glob("sweep-*.json") if folder.is_dir() else []:
        if path.name.endswith(".spec.json"):
            continue
        rec = _read_record(path)
        if not rec.get("spec_hash"):
            continue
        rec["alive"] = _alive(rec)
        rec["record_path"] = str(path)
        records.append(rec)
    return sorted(records, key=lambda r: r.get("started_at", ""), reverse=True)


def running_pid(db: str | os.PathLike, spec_hash: str) -> int | None:
    """The pid running the sweep ``spec_hash`` (a worker started here, or any live engine), else None."""
    rec = _read_record(_record_path(db, spec_hash))
    if rec.get("spec_hash") == spec_hash and _alive(rec):
        return rec["pid"]
    if Path(db).exists():
        from core.store.store import Store

        with Store(db) as store:
            return store.running_pid(spec_hash)
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


def launch(spec: SweepSpec, db: str | os.PathLike, *, python: str | None = None, env: dict | None = None,
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
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        base = log_dir(db) / f"sweep-{spec_hash[:16]}-{stamp}"
        log_path, spec_path = base.with_suffix(".log"), base.with_suffix(".spec.json")
        write_atomic(spec_path, json.dumps(spec.canonical(), sort_keys=True, indent=1).encode())
        argv = worker_argv(spec_path, db, python) + list(extra_args or [])
        worker_env = dict(os.environ if env is None else env)
        worker_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), worker_env.get("PYTHONPATH")) if p)
        worker_env["PYTHONUNBUFFERED"] = "1"
        try:
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=str(PROJECT_ROOT),
                    env=worker_env, start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            raise LaunchError(f"could not start the sweep worker: {exc}") from None
        with _CHILDREN_LOCK:
            _CHILDREN[proc.pid] = proc
        started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        record = {"spec_hash": spec_hash, "pid": proc.pid, "started": process_started(proc.pid), "argv": argv,
                  "log": str(log_path), "spec_file": str(spec_path), "started_at": started, "name": spec.name}
        path = _record_path(db, spec_hash)
        write_atomic(path, json.dumps(record, indent=1).encode())
    log.info("started sweep worker pid %d for %s (log %s)", proc.pid, spec.name or spec_hash[:12], log_path)
    return Launch(spec_hash, proc.pid, argv, log_path, path, started, spec_path)


def forget(db: str | os.PathLike, spec_hash: str) -> None:
    """Delete the launch record of a worker that has ended (its log and spec files stay)."""
    path = _record_path(db, spec_hash)
    rec = _read_record(path)
    if rec and not _alive(rec):
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


def cancel(pid: int, grace_s: float = DEFAULT_GRACE_S, started: float | None = None) -> bool:
    """Stop a worker: SIGTERM to its process group, SIGKILL after ``grace_s``. True when it has ended.

    ``started`` is the worker's start time (:func:`core.processes.process_started`), so a reused pid is left alone.
    """
    rec = {"pid": pid, "started": started}
    if not _alive(rec):
        return True
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(rec):
            return True
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    for _ in range(100):
        if not _alive(rec):
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
        rec = _read_record(_record_path(db, sweep["spec_hash"]))
        started = rec.get("started") if rec.get("pid") == pid else None
        ended = cancel(pid, grace_s, started) if pid else True
        from core.store.store import Store

        with Store(db) as store:
            if ended and store.sweep_status(sweep["id"]) in ("running", "interrupted"):
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
