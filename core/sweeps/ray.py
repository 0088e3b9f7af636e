"""The ``ray`` executor: a sweep's cells computed by Ray actors on one machine's GPUs/CPUs or a cluster.

``workbench sweep ... --executor ray [--ray-address ADDR]`` plans the sweep
and registers its cells exactly as the local executor does (same spec
hash, same cell keys, same cache), then hands the cells still to compute to
a pool of worker actors (:mod:`core.sweeps.ray_pool`,
:mod:`core.sweeps.ray_worker`): one per GPU, or one per
``--ray-cpus-per-worker`` CPU cores when the cluster has no GPU (or
``--device cpu``). Without an address, a local Ray instance using every
local GPU and CPU is started for the sweep and shut down after it.

Work is split by input image (:func:`core.sweeps.plan.group_cells`): a
worker computes a whole image's cells with the local cell engine, so each
image is decoded once, each Mask Net runs once per image and Sketch Net
forwards are shared, and each worker loads a checkpoint once (from the same
path as the driver: checkpoints, test sets and the run folder must be on
storage that every node sees at the same path). Workers write the output
files into the run folder and send the store fields back; only this driver
process writes the SQLite store, so the database never has writers on other
machines. The driver also keeps one row per worker in ``sweep_workers``
(node, device, pid, cells done/failed, restarts) for the app.

Stopping (SIGTERM/SIGINT, or the app's cancel, which sends SIGTERM) cancels
the Ray tasks, kills the actors and shuts a local Ray instance down.

Ray is an optional extra (``pip install '.[ray]'``); it is imported only
when the Ray executor runs.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from pathlib import Path

from core.errors import SweepCancelled, SweepError
from core.sweeps.plan import Plan, group_cells
from core.sweeps.ray_pool import RayPool
from core.sweeps.ray_worker import check_cpu_precisions
from core.sweeps.session import (
    Progress,
    SweepSummary,
    install_stop_handlers,
    open_sweep,
    restore_stop_handlers,
)
from core.sweeps.spec import SweepSpec

__all__ = [
    "RAY_MISSING",
    "RayExecutor",
    "check_reachable",
    "device_kind",
    "import_ray",
    "ray_argv",
    "ray_available",
]

RAY_MISSING = "--executor ray needs Ray: pip install '.[ray]'"


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


class RayExecutor:
    """Runs the cells on Ray workers; the same cache and store records as the local executor.

    Args:
        address: a Ray cluster's address (``ray start --head`` prints it;
            ``auto`` finds a cluster started on this machine); None starts a
            local Ray instance for the sweep.
        cpus_per_worker: CPU cores per worker (without GPUs, one worker per this many cores).
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_worker: int = 1):
        self.address, self.cpus_per_worker = address, int(cpus_per_worker)
        self.kind = "auto"

    def check(self, spec: SweepSpec) -> None:
        """Refuse at once what cannot run: a missing extra, a bad device, an address nobody listens on."""
        ray = import_ray()
        if self.cpus_per_worker < 1:
            raise SweepError(f"--ray-cpus-per-worker {self.cpus_per_worker} must be 1 or more")
        self.kind = device_kind(spec.device)
        if self.kind == "cpu":  # the local executor's one-line error, before Ray starts (GPU workers check their own)
            check_cpu_precisions(spec)
        if self.address and not ray.is_initialized():
            check_reachable(self.address)

    def run(self, spec: SweepSpec, plan: Plan, db_path: str | Path, *, progress: bool = True,
            retry_failed: bool = False) -> SweepSummary:
        """Compute the plan's missing cells on Ray workers. Only this process writes the store."""
        ray = import_ray()
        started = time.perf_counter()
        run = open_sweep(spec, plan, db_path, self.name, retry_failed)
        groups = group_cells(run.todo)
        stop = threading.Event()
        previous = install_stop_handlers(stop)
        report = Progress(run, progress)
        pool = RayPool(ray, run.store, run.sweep_id, report)
        status = "done"
        try:
            if groups:
                pool.start(spec, plan, self.kind, self.address, self.cpus_per_worker, len(groups), stop, previous)
                pool.run(groups, stop)
        except SweepCancelled:
            status = "cancelled"
        except BaseException as exc:
            pool.close("failed")
            run.finish("interrupted", f"{type(exc).__name__}: {exc}")
            run.store.close()
            pool.leave()
            raise
        finally:
            restore_stop_handlers(previous)
            report.close()
        pool.close(status)
        # The store is final before Ray goes down: shutting down a local instance whose processes got the
        # same SIGTERM (the app signals the whole process group) waits several seconds on the dead GCS.
        failed = run.finish(status)
        run.store.close()
        pool.leave()
        device = pool.describe() if groups else "ray (nothing to compute)"
        return SweepSummary(run.sweep_id, run.total, pool.computed, run.cached, failed,
                            round(time.perf_counter() - started, 3), status, device)


def device_kind(device: str) -> str:
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


def check_reachable(address: str) -> None:
    """Refuse a ``host:port`` nobody listens on at once (Ray itself retries for minutes)."""
    if "://" in address or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise SweepError(f"cannot reach a Ray cluster at {address} ({exc}); start one with `ray start --head` "
                         "and pass the address it prints") from None
