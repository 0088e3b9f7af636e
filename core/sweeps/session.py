"""One run of a sweep, as every executor runs it: open it in the store, watch it, stop it, finish it.

:func:`open_sweep` records the sweep and claims it in one transaction (a
sweep already running elsewhere is refused and left untouched), registers
its cells and says which still need computing. :func:`install_stop_handlers`
turns SIGTERM/SIGINT into a stop flag the engine checks between cells.
:class:`Progress` reports each finished cell (a bar on a terminal, a
timestamped log line for ``runs/logs/``). Finished cells are encoded and
recorded by :class:`core.sweeps.writer.ResultWriter`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import SweepError
from core.sweeps.cell import Cell, display_name
from core.sweeps.plan import Plan, checkpoint_row
from core.sweeps.spec import SweepSpec

__all__ = [
    "Progress",
    "SweepRun",
    "SweepSummary",
    "default_name",
    "install_stop_handlers",
    "open_sweep",
    "restore_stop_handlers",
]

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    """What a sweep run did (the CLI's ``--json`` line)."""

    sweep_id: int
    cells: int
    computed: int
    cached: int
    failed: int
    seconds: float
    status: str
    device: str

    def to_dict(self) -> dict:
        """The summary as a JSON-ready dict."""
        return asdict(self)


@dataclass
class SweepRun:
    """A sweep claimed by this process: its open store, id, stored cell rows and the cells still to compute."""

    store: object  # core.store.store.Store
    sweep_id: int
    rows: dict[str, dict]  # cell key -> stored row, for every cell of the plan
    todo: list[Cell]
    total: int

    @property
    def cached(self) -> int:
        """Cells the store already holds (done, or failed unless retried)."""
        return self.total - len(self.todo)

    def finish(self, status: str, error: str | None = None) -> int:
        """Record the run's end; returns how many of the sweep's cells are failed. The store stays open."""
        self.store.finish_sweep(self.sweep_id, status, error)
        failed = self.store.count_failed_cells(self.sweep_id)
        log.info("sweep %d %s (%d failed cells)%s", self.sweep_id, status, failed, f": {error}" if error else "")
        return failed


def open_sweep(spec: SweepSpec, plan: Plan, db_path: str | Path, executor: str, retry_failed: bool) -> SweepRun:
    """Record the sweep in the store, claim it for this process and register its cells.

    The executor that runs it is recorded with the claim. A sweep already
    running in another live process is refused with a SweepError, and its
    record is left as it was.
    """
    from core.store.store import Store

    store = Store(db_path)
    try:
        sweep_id, claimed = store.start_sweep(spec.spec_hash(), spec.name or default_name(spec), spec.note,
                                              spec.canonical(), len(plan.cells), executor)
        if not claimed:
            raise SweepError(f"sweep {sweep_id} is already running in another process; wait for it or cancel it")
        for ckpt in plan.checkpoints.values():
            store.upsert_checkpoint(checkpoint_row(ckpt))
        rows = store.register_cells(sweep_id, [c.row() for c in plan.cells])
        store.upsert_images([{"sha256": i.sha256, "size_bytes": i.size_bytes, "path": display_name(i.path),
                              "name": i.name, "test_set": i.test_set} for i in plan.images])
    except BaseException:
        store.close()
        raise
    finished = ("done", "failed") if not retry_failed else ("done",)
    todo = [c for c in plan.cells if rows[c.key]["status"] not in finished]
    run = SweepRun(store, sweep_id, rows, todo, len(plan.cells))
    log.info("sweep %d “%s” (%s executor): %d cells, %d in the store, %d to compute", sweep_id,
             spec.name or default_name(spec), executor, run.total, run.cached, len(todo))
    return run


def default_name(spec: SweepSpec) -> str:
    """The name of a sweep given none: its test sets and how many methods it runs."""
    sets = ", ".join(Path(p).name for p in spec.images)
    return f"{sets} x {len(spec.sketch_checkpoints) + len(spec.baselines)} methods"


# --------------------------------------------------------------------------- stopping


def install_stop_handlers(stop: threading.Event):
    """Make SIGTERM and SIGINT set ``stop`` (main thread only); returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore_stop_handlers(previous) -> None:
    """Put back the handlers :func:`install_stop_handlers` replaced."""
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)


# --------------------------------------------------------------------------- progress


class Progress:
    """Reports each finished cell: a timestamped log line, and a tqdm bar when ``bar`` is set.

    The log lines (level INFO, logger ``core.sweeps.session``) are what a
    detached worker writes to ``runs/logs/``; on a terminal the bar shows the
    same progress.
    """

    def __init__(self, run: SweepRun, bar: bool):
        self.todo = len(run.todo)
        self.count = 0
        self.failed = sum(1 for r in run.rows.values() if r["status"] == "failed")
        self.bar = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=run.total, initial=run.cached, desc="sweep", unit="cell", file=sys.stderr,
                            dynamic_ncols=True)
            self.bar.set_postfix(done=run.cached - self.failed, failed=self.failed)
        self.workers: int | None = None
        self.lock = threading.Lock()  # engines on several GPUs report from their own threads

    def cell(self, cell: Cell, seconds: float | None = None, error: str | None = None) -> None:
        """One cell finished (``error`` set when it failed); safe to call from several threads."""
        with self.lock:
            self._count(cell, seconds, error)

    def _count(self, cell: Cell, seconds: float | None, error: str | None) -> None:
        self.count += 1
        self.failed += error is not None
        if error is not None:
            log.info("cell %d/%d failed: %s: %s", self.count, self.todo, cell.describe(), error)
        else:
            log.info("cell %d/%d done in %.2f s: %s", self.count, self.todo, seconds or 0.0, cell.describe())
        if self.bar is not None:
            self.bar.update(1)
            extra = {"workers": self.workers} if self.workers is not None else {}
            self.bar.set_postfix(done=self.bar.n - self.failed, failed=self.failed, refresh=False, **extra)

    def close(self) -> None:
        """Close the bar (the log needs nothing)."""
        if self.bar is not None:
            self.bar.close()
