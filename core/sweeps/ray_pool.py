"""The Ray driver's pool: starts the worker actors, feeds them image groups, records what comes back.

Each worker has a :class:`WorkerSlot` on the driver side (its actor handle,
progress, the refs it has in hand). Groups are queued at each ready worker
(:data:`PREFETCH` deep) so a worker never waits for the driver. When a
worker's process dies, Ray restarts the actor (``max_restarts=-1``) and the
pool queues the groups it had in hand again, up to :data:`MAX_ATTEMPTS`
times before their cells fail with the reason; a cell is recorded once.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from pathlib import Path

from core.errors import SweepCancelled, SweepError
from core.pipeline.seed import PIPELINE_VERSION
from core.store.schema import now
from core.sweeps.cell import Cell
from core.sweeps.engine import CellEngine
from core.sweeps.outputs import failure_fields
from core.sweeps.plan import Plan
from core.sweeps.ray_worker import SweepWorker, check_cpu_precisions
from core.sweeps.session import Progress, install_stop_handlers
from core.sweeps.spec import SweepSpec

__all__ = ["MAX_ATTEMPTS", "PREFETCH", "RayPool", "WorkerSlot"]

log = logging.getLogger(__name__)

# Image groups queued at each worker: the next one is already there when a group ends,
# so a worker never waits for the driver's round trip.
PREFETCH = 2
# A group whose worker process dies this many times fails its cells (with the reason)
# instead of killing worker after worker.
MAX_ATTEMPTS = 3
# The driver wakes at least this often to notice a stop request and to beat the heartbeat.
WAIT_S = 0.5
HEARTBEAT_S = 2.0
WORKER_ROWS_S = 0.5
# No worker up after this long (e.g. the cluster's nodes are all busy): give up with a message.
START_TIMEOUT_S = 600.0


@dataclasses.dataclass
class WorkerSlot:
    """The driver's view of one worker: its actor handle, progress and the refs it has in hand."""

    name: str
    handle: object
    status: str = "starting"
    ready: bool = False  # info() answered since the last start: groups may be sent
    node: str | None = None
    device: str | None = None
    pid: int | None = None
    cells_done: int = 0
    cells_failed: int = 0
    restarts: int = 0
    generation: int = 0  # bumped at each death of the worker's process; refs carry the one they were sent in
    info_failures: int = 0
    inflight: set = dataclasses.field(default_factory=set)
    started_at: str = dataclasses.field(default_factory=now)

    def row(self) -> dict:
        """The worker's ``sweep_workers`` row."""
        return {"worker": self.name, "node": self.node, "device": self.device, "pid": self.pid,
                "status": self.status, "cells_done": self.cells_done, "cells_failed": self.cells_failed,
                "restarts": self.restarts, "started_at": self.started_at}


class RayPool:
    """The driver's side of a Ray sweep: starts the actors, feeds them image groups, records results."""

    def __init__(self, ray, store, sweep_id: int, progress: Progress):
        self.ray, self.store, self.sweep_id, self.progress = ray, store, sweep_id, progress
        self.started_ray = False
        self.slots: list[WorkerSlot] = []
        self.refs: dict = {}  # ObjectRef -> (slot, "info" | "group", group index, slot generation)
        self.computed = 0
        self.recorded: set[str] = set()  # cell keys written to the store in this run
        self.cells: dict[str, Cell] = {}  # cell key -> cell, for the progress lines
        self.kind = "cpu"
        self.last_beat = self.last_rows = 0.0

    # ------------------------------------------------------------------ start

    def start(self, spec: SweepSpec, plan: Plan, kind: str, address: str | None, cpus_per_worker: int,
              n_groups: int, stop: threading.Event, handlers) -> None:
        """Connect to Ray (or start a local instance) and create the workers."""
        ray = self.ray
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address)
                else:
                    ray.init(include_dashboard=False)
            except SystemExit:
                # ray.init installs its own SIGTERM handler (sys.exit): a cancel during start-up.
                self.started_ray = ray.is_initialized()
                raise SweepCancelled("the sweep was stopped while Ray started") from None
            except Exception as exc:
                raise SweepError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from None
            self.started_ray = True
            if handlers is not None:
                install_stop_handlers(stop)  # take SIGTERM/SIGINT back from Ray's handler
        if stop.is_set():
            raise SweepCancelled("the sweep was stopped")
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        if kind == "gpu" and not gpus:
            raise SweepError("--device cuda asked for, but the Ray cluster has no GPU; use --device cpu or auto")
        self.kind = "gpu" if kind == "gpu" or (kind == "auto" and gpus) else "cpu"
        if self.kind == "gpu":
            count = min(gpus, n_groups)
            # A GPU worker also needs CPU for decoding and PNG encoding, but never more than there is.
            options = {"num_gpus": 1, "num_cpus": min(cpus_per_worker, cpus // count)}
            device = "cuda"
        else:
            check_cpu_precisions(spec)
            if cpus < cpus_per_worker:
                raise SweepError(f"--ray-cpus-per-worker {cpus_per_worker} is more than the Ray cluster's {cpus} CPUs")
            count = min(cpus // cpus_per_worker, n_groups)
            options = {"num_cpus": cpus_per_worker}
            device = "cpu"
        remote = ray.remote(SweepWorker).options(max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD",
                                                 **options)
        paths = {sha: str(Path(ckpt.path).resolve()) for sha, ckpt in plan.checkpoints.items()}
        self.store.reset_sweep_workers(self.sweep_id)
        for i in range(count):
            name = f"w{i}"
            handle = remote.remote(name, spec, paths, str(self.store.root), self.sweep_id, device, cpus_per_worker)
            self.slots.append(WorkerSlot(name, handle))
            self._ask_info(self.slots[-1])
        log.info("started %s", self.describe())
        self._write_rows(force=True)

    def describe(self) -> str:
        """``ray: <n> cpu|gpu worker(s)``."""
        return f"ray: {len(self.slots)} {self.kind} worker{'s' if len(self.slots) != 1 else ''}"

    def _ask_info(self, slot: WorkerSlot) -> None:
        self.refs[slot.handle.info.remote()] = (slot, "info", None, slot.generation)

    # ------------------------------------------------------------------ the loop

    def run(self, groups: list[list[Cell]], stop: threading.Event) -> None:
        """Feed the groups to the workers until every cell is recorded once (or the sweep is stopped)."""
        ray = self.ray
        if self.kind == "gpu":
            # A GPU worker is sent a window of images at a time, which its engine batches.
            size = CellEngine.WINDOW
            groups = [[c for group in groups[i:i + size] for c in group] for i in range(0, len(groups), size)]
        self.cells = {c.key: c for group in groups for c in group}
        # Absolute paths: a worker's current folder is not the driver's.
        payloads = [[dataclasses.replace(c, image=dataclasses.replace(c.image, path=c.image.path.absolute()))
                     for c in group] for group in groups]
        queue = collections.deque(range(len(groups)))
        attempts = collections.Counter()
        start_deadline = time.monotonic() + START_TIMEOUT_S
        while queue or any(kind == "group" for _, kind, _, _ in self.refs.values()):
            if stop.is_set():
                raise SweepCancelled("the sweep was stopped")
            for slot in self.slots:
                while slot.ready and queue and len(slot.inflight) < PREFETCH:
                    g = queue.popleft()
                    ref = slot.handle.run_group.remote(payloads[g])
                    self.refs[ref] = (slot, "group", g, slot.generation)
                    slot.inflight.add(ref)
            if not any(s.ready for s in self.slots):
                if all(s.status == "failed" for s in self.slots):
                    raise SweepError("every Ray worker failed to start; see the workers' errors above")
                if time.monotonic() > start_deadline:
                    raise SweepError(f"no Ray worker started within {START_TIMEOUT_S:.0f} s; is the cluster busy, "
                                     "or does it lack the GPUs/CPUs asked for (--ray-cpus-per-worker)?")
            if not self.refs:
                time.sleep(WAIT_S)
                continue
            try:
                ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=WAIT_S)
                for ref in ready:
                    self._handle(ref, queue, attempts, groups)
            except Exception:
                if stop.is_set():  # a SIGTERM to the process group takes the local Ray instance down too
                    raise SweepCancelled("the sweep was stopped") from None
                raise
            self._beat()
        for slot in self.slots:
            if slot.status != "failed":
                slot.status = "done"
        self._write_rows(force=True)

    def _handle(self, ref, queue, attempts, groups) -> None:
        ray = self.ray
        slot, kind, g, generation = self.refs.pop(ref)
        slot.inflight.discard(ref)
        try:
            value = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            # The worker's own code raised: a broken setup, not a dead process.
            cause = getattr(exc, "cause", None) or exc
            if kind == "info":
                raise SweepError(f"Ray worker {slot.name} cannot run this sweep: {first_line(cause)}") from None
            raise RuntimeError(f"Ray worker {slot.name} on {slot.node}: {first_line(cause)}") from None
        except ray.exceptions.RayError as exc:
            self._lost(slot, kind, g, generation, exc, queue, attempts, groups)
            return
        if kind == "info":
            if value["pipeline_version"] != PIPELINE_VERSION:
                raise SweepError(f"Ray worker {slot.name} on {value['node']} runs pipeline "
                                 f"{value['pipeline_version']}, this driver {PIPELINE_VERSION}; install the same "
                                 "workbench on every node")
            slot.ready, slot.status, slot.info_failures = True, "running", 0
            slot.node, slot.device, slot.pid = value["node"], value["device"], value["pid"]
            log.info("Ray worker %s ready on %s, %s (pid %s)", slot.name, slot.node, slot.device, slot.pid)
            self._write_rows(force=True)
            return
        slot.node, slot.pid = value["node"], value["pid"]
        self._record(slot, [(key, fields) for key, fields in value["results"]])

    def _record(self, slot: WorkerSlot, results: list[tuple[str, dict]]) -> None:
        # A group is recorded once even if it somehow came back twice (e.g. re-queued after a lost reply).
        fresh = [(k, f) for k, f in results if k not in self.recorded]
        if not fresh:
            return
        self.store.finish_cells(fresh)
        self.recorded.update(k for k, _ in fresh)
        failed = sum(1 for _, f in fresh if f["status"] == "failed")
        self.computed += len(fresh)
        slot.cells_done += len(fresh) - failed
        slot.cells_failed += failed
        self.progress.workers = sum(s.ready for s in self.slots)
        for key, fields in fresh:
            self.progress.cell(self.cells[key], seconds=fields.get("seconds"),
                               error=fields.get("error") if fields["status"] == "failed" else None)
        self._write_rows()

    def _lost(self, slot: WorkerSlot, kind: str, g, generation: int, exc, queue, attempts, groups) -> None:
        """A worker process died (killed, out of memory, node lost): queue its work again; Ray restarts it."""
        if generation == slot.generation and (slot.ready or kind == "group"):
            # The first ref to report this death (later refs sent to the same process carry the old generation).
            slot.generation += 1
            slot.ready, slot.status = False, "restarting"
            slot.restarts += 1
            log.warning("Ray worker %s on %s died (%s); restarting it", slot.name, slot.node, first_line(exc))
            self._ask_info(slot)
        elif kind == "info":
            slot.info_failures += 1
            if slot.info_failures >= MAX_ATTEMPTS:
                slot.status = "failed"
                log.error("Ray worker %s cannot start: %s", slot.name, first_line(exc))
            else:
                self._ask_info(slot)
        if kind == "group":
            attempts[g] += 1
            if attempts[g] >= MAX_ATTEMPTS:
                reason = (f"the Ray worker computing these cells died {attempts[g]} times "
                          f"(last: {first_line(exc)})")
                self._record(slot, [(c.key, dict(failure_fields(reason), sweep_id=self.sweep_id))
                                    for c in groups[g]])
            else:
                queue.appendleft(g)
        self._write_rows(force=True)

    def _beat(self) -> None:
        now_ = time.monotonic()
        if now_ - self.last_beat > HEARTBEAT_S:
            self.store.heartbeat(self.sweep_id)
            self.last_beat = now_
        self._write_rows()

    def _write_rows(self, force: bool = False) -> None:
        now_ = time.monotonic()
        if force or now_ - self.last_rows > WORKER_ROWS_S:
            self.store.update_sweep_workers(self.sweep_id, [s.row() for s in self.slots])
            self.last_rows = now_

    # ------------------------------------------------------------------ stop

    def close(self, status: str) -> None:
        """Cancel what is still running, kill the actors and record the workers' end (Ray stays connected)."""
        ray = self.ray
        for ref in list(self.refs):
            try:
                ray.cancel(ref)
            except Exception:  # a task that has ended or whose node is gone: nothing left to cancel
                log.debug("cancelling a Ray task failed", exc_info=True)
        for slot in self.slots:
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:  # an actor already dead
                log.debug("killing a Ray actor failed", exc_info=True)
            if slot.status not in ("done", "failed"):
                slot.status = status
        self.refs.clear()
        try:
            self._write_rows(force=True)
        except Exception:  # closing goes on: these rows describe the workers, not the cells
            log.warning("recording the Ray workers' end failed", exc_info=True)

    def leave(self) -> None:
        """Shut down the local Ray instance this sweep started (or disconnect from the cluster)."""
        if self.started_ray:
            self.started_ray = False
            self.ray.shutdown()


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (at most 500 characters), or its type's name."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
