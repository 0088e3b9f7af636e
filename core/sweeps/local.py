"""The ``local`` executor: a sweep's cells computed in this process, one engine per device.

On the CPU (or one pinned GPU) one engine computes image after image. With
several visible GPUs (``--device cuda`` or ``auto``), one engine per GPU runs
on its own thread, each taking the next images from a shared
:class:`core.sweeps.plan.GroupFeed`, and all hand their cells to the one
writer: the store keeps a single writer. The threads overlap well because
CUDA work and the encoders release the GIL.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from core.errors import SweepCancelled
from core.sweeps.engine import CellEngine
from core.sweeps.plan import GroupFeed, Plan, group_cells
from core.sweeps.session import (
    Progress,
    SweepSummary,
    install_stop_handlers,
    open_sweep,
    restore_stop_handlers,
)
from core.sweeps.spec import SweepSpec
from core.sweeps.writer import ResultWriter

__all__ = ["LocalExecutor"]

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs the cells in this process on ``spec.device``; a writer thread encodes and records them."""

    name = "local"

    def __init__(self) -> None:
        self.devices: list = []

    @property
    def device(self):
        """The first device computed on (the only one off multi-GPU machines), or None before :meth:`check`."""
        return self.devices[0] if self.devices else None

    def check(self, spec: SweepSpec) -> None:
        """Refuse at once a device or precision this machine cannot run (before anything is planned)."""
        from core.models.devices import check_precision, local_devices

        self.devices = local_devices(spec.device)
        for device in self.devices:
            for precision in spec.precisions:
                check_precision(precision, device)

    def describe(self) -> str:
        """The devices, as recorded in the summary: ``cpu``, ``cuda:0`` or ``cuda:0, cuda:1``."""
        return ", ".join(str(d) for d in self.devices)

    def run(self, spec: SweepSpec, plan: Plan, db_path: str | Path, *, progress: bool = True,
            retry_failed: bool = False) -> SweepSummary:
        """Compute the plan's missing cells; returns the summary (failed cells are recorded, not raised)."""
        if not self.devices:
            self.check(spec)
        started = time.perf_counter()
        run = open_sweep(spec, plan, db_path, self.name, retry_failed)
        log.info("computing on %s", self.describe())
        stop = threading.Event()
        previous = install_stop_handlers(stop)
        writer = ResultWriter(run.store, run.sweep_id, self.device)
        status = "done"
        report = Progress(run, progress)
        try:
            run_engines(plan, self.devices, writer, stop, report, run.todo)
        except SweepCancelled:
            status = "cancelled"
        except BaseException as exc:
            try:
                writer.close()
            except Exception:  # the interruption is the error to report; this one only to the log
                log.warning("closing the result writer after %s failed too", type(exc).__name__, exc_info=True)
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
                            round(time.perf_counter() - started, 3), status, self.describe())


class _EitherStop:
    """Set when the sweep's stop flag is, or when another device's engine has failed."""

    def __init__(self, stop, failed: threading.Event):
        self.stop, self.failed = stop, failed

    def is_set(self) -> bool:
        return self.stop.is_set() or self.failed.is_set()


def run_engines(plan: Plan, devices: list, writer: ResultWriter, stop, report: Progress, cells: list) -> list:
    """Compute ``cells`` with one :class:`CellEngine` per device; returns the engines (each counts its cells).

    One device runs on this thread. With several, each engine runs on its own
    thread; the first error stops the others and is raised here (a stop asked
    for raises :class:`core.errors.SweepCancelled`, as with one device).
    """
    if len(devices) == 1:
        engine = CellEngine(plan, devices[0], writer, stop, report)
        engine.run(cells)
        return [engine]
    feed = GroupFeed(group_cells(cells))
    failed = threading.Event()
    engines = [CellEngine(plan, device, writer, _EitherStop(stop, failed), report) for device in devices]
    errors: list[BaseException] = []

    def work(engine: CellEngine) -> None:
        try:
            engine.run([], feed)
        except BaseException as exc:
            errors.append(exc)
            failed.set()

    threads = [threading.Thread(target=work, args=(e,), name=f"sweep-{e.device}", daemon=True) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The error that stopped the others first; their SweepCancelled only follows from it.
    real = [e for e in errors if not isinstance(e, SweepCancelled)]
    if real:
        raise real[0]
    if errors:
        raise errors[0]
    log.info("cells per device: %s", ", ".join(f"{e.device} {e.done}" for e in engines))
    return engines
