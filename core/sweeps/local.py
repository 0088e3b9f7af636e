"""The ``local`` executor: a sweep's cells computed in this process, one image after another."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from core.errors import SweepCancelled
from core.sweeps.engine import CellEngine
from core.sweeps.plan import Plan
from core.sweeps.session import (
    Progress,
    ResultWriter,
    SweepSummary,
    install_stop_handlers,
    open_sweep,
    restore_stop_handlers,
)
from core.sweeps.spec import SweepSpec

__all__ = ["LocalExecutor"]

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs the cells in this process on ``spec.device``; a writer thread encodes and records them."""

    name = "local"

    def __init__(self) -> None:
        self.device = None

    def check(self, spec: SweepSpec) -> None:
        """Refuse at once a device or precision this machine cannot run (before anything is planned)."""
        from core.models.devices import check_precision, resolve_device

        self.device = resolve_device(spec.device)
        for precision in spec.precisions:
            check_precision(precision, self.device)

    def run(self, spec: SweepSpec, plan: Plan, db_path: str | Path, *, progress: bool = True,
            retry_failed: bool = False) -> SweepSummary:
        """Compute the plan's missing cells; returns the summary (failed cells are recorded, not raised)."""
        if self.device is None:
            self.check(spec)
        started = time.perf_counter()
        run = open_sweep(spec, plan, db_path, self.name, retry_failed)
        log.info("computing on %s", self.device)
        stop = threading.Event()
        previous = install_stop_handlers(stop)
        writer = ResultWriter(run.store, run.sweep_id, self.device)
        status = "done"
        report = Progress(run, progress)
        try:
            CellEngine(plan, self.device, writer, stop, report).run(run.todo)
        except SweepCancelled:
            status = "cancelled"
        except BaseException as exc:
            try:
                writer.close()
            except Exception:
                pass
            run.finish("interrupted", f"{type(exc).__name__}: {exc}")
            run.store.close()
            raise
        finally:
            restore_stop_handlers(previous)
            report.close()
        writer.close()
        failed = run.finish(status)
        run.store.close()
        return SweepSummary(run.sweep_id, run.total, writer.count, run.cached, failed,
                            round(time.perf_counter() - started, 3), status, str(self.device))
