"""The Ray executor: a sweep's cells computed by Ray actors on one machine's GPUs/CPUs or a cluster.

``workbench sweep ... --executor ray [--ray-address ADDR]`` plans the sweep
and registers its cells exactly as the local executor does (same spec
hash, same cell keys, same cache), then hands the cells still to compute to
a pool of :class:`SweepWorker` actors: one per GPU, or one per
``--ray-cpus-per-worker`` CPU cores when the cluster has no GPU (or
``--device cpu``). Without an address, a local Ray instance using every
local GPU and CPU is started for the sweep and shut down after it.

Work is split by input image (:func:`core.sweeps.engine.group_cells`): a worker
computes a whole image's cells with the local engine's own code, so each
image is decoded once, each Mask Net runs once per image and Sketch Net
forwards are shared, and each worker loads a checkpoint once (from the same
path as the driver: checkpoints, test sets and the run folder must be on
storage that every node sees at the same path). Workers write the output
files into the run folder and send the store fields back; only this driver
process writes the SQLite store, so the database never has writers on other
machines. The driver also keeps one row per worker in ``sweep_workers``
(node, device, pid, cells done/failed, restarts) for the app.

Faults: actors are restarted by Ray when their process dies
(``max_restarts=-1``); the driver puts the image groups the dead process had
in hand back in the queue (up to :data:`MAX_ATTEMPTS` times, then their cells
fail with the reason), and a cell's result is recorded only once. Stopping
(SIGTERM/SIGINT, or the app's cancel, which sends SIGTERM) cancels the Ray
tasks, kills the actors and shuts a local Ray instance down.

Ray is an optional extra (``pip install '.[ray]'``); it is imported only here
and only when the Ray executor is used.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.util
import os
import socket
import sys
import threading
import time
from pathlib import Path

from core.errors import SweepError
from core.pipeline.seed import PIPELINE_VERSION
from core.store.store import now
from core.sweeps.engine import (
    Cancelled,
    Cell,
    Plan,
    SweepSpec,
    SweepSummary,
    _Executor,
    _install_stop_handlers,
    _progress_bar,
    _restore_stop_handlers,
    _Writer,
    failed_cells,
    failure_fields,
    group_cells,
    open_sweep,
    plan_sweep,
)

RAY_MISSING = "--executor ray needs Ray: pip install '.[ray]'"
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


def ray_available() -> bool:
    """Whether the Ray extra is installed (cheap: does not import Ray)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def ray_argv(address: str | None = None, cpus_per_worker: int = 1) -> list[str]:
    """The ``workbench sweep`` arguments that run a sweep on Ray (appended to the launcher's argv)."""
    argv = ["--executor", "ray"]
    if address:
        argv += ["--ray-address", address]
    if cpus_per_worker != 1:
        argv += ["--ray-cpus-per-worker", str(int(cpus_per_worker))]
    return argv


def import_ray():
    """The ``ray`` module, or a SweepError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    return ray


# --------------------------------------------------------------------------- the worker (a Ray actor)


class _CheckpointFiles(dict):
    """Checkpoints by sha256, loaded on first use from the driver's paths and checked against the plan."""

    def __init__(self, paths: dict[str, str]):
        super().__init__()
        self.paths = paths

    def __missing__(self, sha: str):
        from core.models.checkpoints import load_checkpoint

        path = self.paths[sha]
        ckpt = load_checkpoint(path)
        if ckpt.sha256 != sha:
            # Same path, other bytes: its results would be cached under the wrong key.
            raise SweepError(f"checkpoint {path} on {socket.gethostname()} is not the file the sweep was planned "
                             f"with (sha256 {ckpt.sha256[:12]}, planned {sha[:12]}); every node needs the same "
                             "checkpoint files at the same paths")
        self[sha] = ckpt
        return ckpt


class _ResultSink:
    """Stands in for the store in a worker's writer: collects ``(cell_key, fields)`` instead of writing SQLite."""

    def __init__(self, root: Path):
        self.root = root
        self.results: list[tuple[str, dict]] = []

    def finish_cells(self, updates: list[tuple[str, dict]]) -> None:
        self.results.extend(updates)

    def heartbeat(self, sweep_id: int) -> None:
        pass  # the driver beats for the whole sweep


class _CancelFlag:
    """``is_set()`` is true once the driver has cancelled the running Ray task (ray.cancel)."""

    def is_set(self) -> bool:
        import ray

        return ray.get_runtime_context().is_canceled()


class SweepWorker:
    """One Ray actor: loads each checkpoint once, computes whole image groups, writes their files.

    Made a Ray actor by ``ray.remote(SweepWorker)``; a plain class otherwise.
    """

    def __init__(self, slot: str, spec: SweepSpec, checkpoint_paths: dict[str, str], root: str, sweep_id: int,
                 device: str, threads: int):
        import torch

        # Ray sets OMP_NUM_THREADS for the actor; torch may already have sized its pool.
        torch.set_num_threads(max(1, threads))
        self.slot, self.root, self.sweep_id = slot, Path(root), sweep_id
        self.device = torch.device(device)  # "cuda" is the GPU Ray gave this actor (CUDA_VISIBLE_DEVICES)
        self.threads = max(1, threads)
        plan = Plan(spec, [], [], _CheckpointFiles(checkpoint_paths))
        self.executor = _Executor(plan, self.device, None, _CancelFlag(), None)

    def info(self) -> dict:
        """Who and where this worker is; raises if the sweep's precisions cannot run on its device."""
        from core.models.devices import check_precision

        for precision in self.executor.plan.spec.precisions:
            check_precision(precision, self.device)
        return {"pid": os.getpid(), "node": socket.gethostname(), "device": self.describe_device(),
                "pipeline_version": PIPELINE_VERSION}

    def describe_device(self) -> str:
        if self.device.type == "cuda":
            import ray
            import torch

            ids = ray.get_runtime_context().get_accelerator_ids().get("GPU") or ["?"]
            return f"cuda:{ids[0]} ({torch.cuda.get_device_name(0)})"
        return f"cpu ({self.threads} thread{'s' if self.threads > 1 else ''})"

    def run_group(self, cells: list[Cell]) -> dict:
        """Compute one image's cells, write their files; return ``{"results": [(cell_key, fields)], pid, node}``."""
        sink = _ResultSink(self.root)
        writer = _Writer(sink, self.sweep_id, self.device)
        self.executor.writer = writer
        try:
            mismatch = _image_mismatch(cells[0])
            if mismatch:
                for cell in cells:
                    writer.put_failure(cell, mismatch)
            else:
                self.executor.run_image(cells)
        except BaseException:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise
        writer.close()
        return {"results": sink.results, "pid": os.getpid(), "node": socket.gethostname()}


def _image_mismatch(cell: Cell) -> str | None:
    """Why this node's copy of the cell's image is not the one planned (None when it is)."""
    try:
        data = cell.image.path.read_bytes()
    except OSError:
        data = b""  # as the planner hashes an unreadable file; reading it then reports the real error
    sha = hashlib.sha256(data).hexdigest()
    if sha == cell.image.sha256:
        return None
    return (f"image {cell.image.name} reads differently on node {socket.gethostname()} (sha256 {sha[:12]}, planned "
            f"{cell.image.sha256[:12]}); every node needs the test sets at the same paths")


# --------------------------------------------------------------------------- the driver


def run_sweep_ray(spec: SweepSpec, db_path: str | Path, *, progress: bool = True, plan: Plan | None = None,
                  retry_failed: bool = False, address: str | None = None, cpus_per_worker: int = 1) -> SweepSummary:
    """Run (or resume) a sweep on Ray workers; the same cache and store records as the local executor.

    ``address`` is a Ray cluster's address (``ray start --head`` prints it;
    ``auto`` finds a cluster started on this machine); None starts a local Ray
    instance for the sweep. Only this process writes the store.
    """
    ray = import_ray()
    if cpus_per_worker < 1:
        raise SweepError(f"--ray-cpus-per-worker {cpus_per_worker} must be 1 or more")
    kind = _device_kind(spec.device)
    if kind == "cpu":  # the local executor's one-line error, before Ray starts (GPU workers check their own)
        _check_cpu_precisions(spec)
    if address and not ray.is_initialized():
        _check_reachable(address)
    started = time.perf_counter()
    plan = plan or plan_sweep(spec)
    store, sweep_id, rows, todo = open_sweep(spec, plan, db_path, "ray", retry_failed)
    cached = len(plan.cells) - len(todo)
    groups = group_cells(todo)

    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    bar = _progress_bar(len(plan.cells), cached, progress, rows)
    pool = _Pool(ray, store, sweep_id, bar)
    status = "done"
    try:
        if groups:
            pool.start(spec, plan, kind, address, cpus_per_worker, len(groups), stop, previous)
            pool.run(groups, stop)
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:
        pool.close("failed")
        store.finish_sweep(sweep_id, "interrupted", f"{type(exc).__name__}: {exc}")
        pool.leave()
        raise
    finally:
        _restore_stop_handlers(previous)
        if bar is not None:
            bar.close()
    pool.close(status)
    # The store is final before Ray goes down: shutting down a local instance whose processes got the
    # same SIGTERM (the app signals the whole process group) waits several seconds on the dead GCS.
    store.finish_sweep(sweep_id, status)
    failed = failed_cells(store, sweep_id)
    store.close()
    pool.leave()
    device = pool.describe() if groups else "ray (nothing to compute)"
    return SweepSummary(sweep_id, len(plan.cells), pool.computed, cached, failed,
                        round(time.perf_counter() - started, 3), status, device)


def _check_cpu_precisions(spec: SweepSpec) -> None:
    import torch

    from core.models.devices import check_precision

    for precision in spec.precisions:
        check_precision(precision, torch.device("cpu"))


def _device_kind(device: str) -> str:
    """``cpu``, ``gpu`` or ``auto`` (GPU workers when the cluster has GPUs) for a spec's device."""
    name = (device or "auto").strip().lower()
    if name in ("auto", "cpu"):
        return name
    if name == "cuda":
        return "gpu"
    if name.startswith("cuda:"):
        raise SweepError(f"--device {name} cannot be used with --executor ray: Ray gives each worker its own GPU; "
                         "use --device cuda (or auto)")
    raise SweepError(f"unknown device {name!r}; use auto, cpu or cuda with --executor ray")


@dataclasses.dataclass
class _Slot:
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
        return {"worker": self.name, "node": self.node, "device": self.device, "pid": self.pid,
                "status": self.status, "cells_done": self.cells_done, "cells_failed": self.cells_failed,
                "restarts": self.restarts, "started_at": self.started_at}


class _Pool:
    """The driver's side of a Ray sweep: starts the actors, feeds them image groups, records results."""

    def __init__(self, ray, store, sweep_id: int, bar):
        self.ray, self.store, self.sweep_id, self.bar = ray, store, sweep_id, bar
        self.started_ray = False
        self.slots: list[_Slot] = []
        self.refs: dict = {}  # ObjectRef -> (slot, "info" | "group", group index, slot generation)
        self.computed = 0
        self.recorded: set[str] = set()  # cell keys written to the store in this run
        self.kind = "cpu"
        self._last_beat = self._last_rows = 0.0

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
                raise Cancelled() from None
            except Exception as exc:  # noqa: BLE001 - ConnectionError and friends, in one line
                raise SweepError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from None
            self.started_ray = True
            if handlers is not None:
                _install_stop_handlers(stop)  # take SIGTERM/SIGINT back from Ray's handler
        if stop.is_set():
            raise Cancelled()
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
            _check_cpu_precisions(spec)
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
            self.slots.append(_Slot(name, handle))
            self._ask_info(self.slots[-1])
        self._write_rows(force=True)

    def describe(self) -> str:
        return f"ray: {len(self.slots)} {self.kind} worker{'s' if len(self.slots) != 1 else ''}"

    def _ask_info(self, slot: _Slot) -> None:
        self.refs[slot.handle.info.remote()] = (slot, "info", None, slot.generation)

    # ------------------------------------------------------------------ the loop

    def run(self, groups: list[list[Cell]], stop: threading.Event) -> None:
        """Feed the groups to the workers until every cell is recorded once (or the sweep is stopped)."""
        ray = self.ray
        # Absolute paths: a worker's current folder is not the driver's.
        payloads = [[dataclasses.replace(c, image=dataclasses.replace(c.image, path=c.image.path.absolute()))
                     for c in group] for group in groups]
        queue = collections.deque(range(len(groups)))
        attempts = collections.Counter()
        start_deadline = time.monotonic() + START_TIMEOUT_S
        while queue or any(kind == "group" for _, kind, _, _ in self.refs.values()):
            if stop.is_set():
                raise Cancelled()
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
                    raise Cancelled() from None
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
                raise SweepError(f"Ray worker {slot.name} cannot run this sweep: {_first_line(cause)}") from None
            raise RuntimeError(f"Ray worker {slot.name} on {slot.node}: {_first_line(cause)}") from None
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
            self._write_rows(force=True)
            return
        slot.node, slot.pid = value["node"], value["pid"]
        self._record(slot, [(key, fields) for key, fields in value["results"]])

    def _record(self, slot: _Slot, results: list[tuple[str, dict]]) -> None:
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
        if self.bar is not None:
            self.bar.failed += failed
            self.bar.update(len(fresh))
            self.bar.set_postfix(done=self.bar.n - self.bar.failed, failed=self.bar.failed,
                                 workers=sum(s.ready for s in self.slots), refresh=False)
        self._write_rows()

    def _lost(self, slot: _Slot, kind: str, g, generation: int, exc, queue, attempts, groups) -> None:
        """A worker process died (killed, out of memory, node lost): queue its work again; Ray restarts it."""
        if generation == slot.generation and (slot.ready or kind == "group"):
            # The first ref to report this death (later refs sent to the same process carry the old generation).
            slot.generation += 1
            slot.ready, slot.status = False, "restarting"
            slot.restarts += 1
            self._ask_info(slot)
        elif kind == "info":
            slot.info_failures += 1
            if slot.info_failures >= MAX_ATTEMPTS:
                slot.status = "failed"
                print(f"Ray worker {slot.name} cannot start: {_first_line(exc)}", file=sys.stderr, flush=True)
            else:
                self._ask_info(slot)
        if kind == "group":
            attempts[g] += 1
            if attempts[g] >= MAX_ATTEMPTS:
                reason = (f"the Ray worker computing this image died {attempts[g]} times "
                          f"(last: {_first_line(exc)})")
                self._record(slot, [(c.key, dict(failure_fields(reason), sweep_id=self.sweep_id))
                                    for c in groups[g]])
            else:
                queue.appendleft(g)
        self._write_rows(force=True)

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat > HEARTBEAT_S:
            self.store.heartbeat(self.sweep_id)
            self._last_beat = now
        self._write_rows()

    def _write_rows(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_rows > WORKER_ROWS_S:
            self.store.update_sweep_workers(self.sweep_id, [s.row() for s in self.slots])
            self._last_rows = now

    # ------------------------------------------------------------------ stop

    def close(self, status: str) -> None:
        """Cancel what is still running, kill the actors and record the workers' end (Ray stays connected)."""
        ray = self.ray
        for ref in list(self.refs):
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - Ray may already be going down (SIGTERM to the group)
                pass
        for slot in self.slots:
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
            if slot.status not in ("done", "failed"):
                slot.status = status
        self.refs.clear()
        try:
            self._write_rows(force=True)
        except Exception:  # noqa: BLE001 - never hide the sweep's own error behind this one
            pass

    def leave(self) -> None:
        """Shut down the local Ray instance this sweep started (or disconnect from the cluster)."""
        if self.started_ray:
            self.started_ray = False
            self.ray.shutdown()


def _check_reachable(address: str) -> None:
    """Refuse a ``host:port`` nobody listens on at once (Ray itself retries for minutes)."""
    if "://" in address or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise SweepError(f"cannot reach a Ray cluster at {address} ({exc}); start one with `ray start --head` "
                         "and pass the address it prints") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
