"""The sweep writer: finished cells are post-processed and encoded on a small pool, recorded by one thread.

The engine hands every finished cell to a :class:`ResultWriter` and goes on
with the next one. Post-processing (gamma, optional vectorising, metrics)
and encoding (PNG, WebP) run on ``threads`` pool threads — OpenCV's encoders
and most of numpy release the GIL, so on a GPU machine, where the forwards
cost about a millisecond and post-processing tens, a few threads keep up
with the device. The SQLite writes stay on the writer's own thread, in
batches, so the store still has a single writer.

How many threads: :func:`writer_threads` (one on the CPU path, where the
engine already uses every core; more on CUDA). ``workbench bench --writer``
measures cells/s per pool size and the PNG level on the machine at hand
(:mod:`core.sweeps.throughput`).
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from core.provenance import environment_provenance
from core.sweeps.cell import Cell
from core.sweeps.outputs import failure_fields, finalize_cell

__all__ = ["MAX_WRITER_THREADS", "ResultWriter", "writer_threads"]

log = logging.getLogger(__name__)

#: Most pool threads a writer uses on its own: past four, the GIL-bound parts (vectorising) stop gaining.
MAX_WRITER_THREADS = 4
#: Cells recorded in one transaction at most, and the longest a finished cell waits for it.
FLUSH_CELLS, FLUSH_SECONDS = 16, 0.5


def writer_threads(device, cpus: int | None = None) -> int:
    """Pool threads for a writer on ``device``: 1 on the CPU, on CUDA one per spare core up to the cap.

    On the CPU the forwards already use every core, and post-processing on
    more threads only takes them from the forwards. On CUDA the host's cores
    are otherwise idle, and one is left to the engine's own thread.
    """
    if getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return 1
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(MAX_WRITER_THREADS, cpus - 1))


class ResultWriter:
    """Encodes and writes cell outputs on a pool and records them in the store from one thread.

    ``store`` is the sweep's store, or anything with ``root``, ``finish_cells``
    and ``heartbeat`` (a Ray worker collects the results to send back instead).

    Args:
        device: the computing device, recorded with each cell (a cell's ``out["device"]`` overrides it,
            for executors with one engine per GPU).
        threads: post-processing threads; None sizes the pool with :func:`writer_threads`.
    """

    def __init__(self, store, sweep_id: int, device, threads: int | None = None):
        self.store, self.sweep_id, self.device = store, sweep_id, str(device)
        self.threads = max(1, int(threads if threads is not None else writer_threads(device)))
        # Asked once per device (git and device lookups are cached per process): every cell recorded carries it.
        self.envs = {self.device: environment_provenance(device)}
        self.queue: queue.Queue = queue.Queue(maxsize=8)  # bounded: the compute thread waits, memory stays flat
        self.count = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="sweep-post") if self.threads > 1 else None
        self.thread = threading.Thread(target=self._loop, name="sweep-writer", daemon=True)
        self.thread.start()

    def put(self, cell: Cell, img, out: dict) -> None:
        """Queue a computed cell (its image and the engine's outputs)."""
        self.queue.put(("done", cell, img, out))

    def put_failure(self, cell: Cell, error: str) -> None:
        """Queue a failed cell with its reason."""
        self.queue.put(("failed", cell, None, {"error": error}))

    def raise_if_failed(self) -> None:
        """Raise on the compute thread when writing has failed."""
        if self.error is not None:
            raise RuntimeError(f"writing results failed: {self.error}") from self.error

    def close(self) -> None:
        """Write what is queued, stop the threads, and raise if writing failed."""
        self.queue.put(None)
        self.thread.join()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.raise_if_failed()

    def environment(self, device: str) -> dict:
        """The provenance environment of a device, looked up once."""
        with self.lock:
            if device not in self.envs:
                self.envs[device] = environment_provenance(device)
            return self.envs[device]

    def _loop(self) -> None:
        pending: list[tuple[str, dict]] = []
        running: collections.deque[Future] = collections.deque()  # in submission order
        last_flush = time.monotonic()
        last_beat = 0.0
        while True:
            try:
                # Wake up while idle too: a slow next cell must not hold finished ones back from the store.
                item = self.queue.get(timeout=0.1 if running else 0.5)
            except queue.Empty:
                item = False
            if item:
                if self.pool is None:
                    self._collect(pending, self._record, *item)
                else:
                    running.append(self.pool.submit(self._record, *item))
            # At most two cells per thread in flight; at the end, everything.
            while running and (running[0].done() or len(running) > 2 * self.threads or item is None):
                self._collect(pending, running.popleft().result)
            now = time.monotonic()
            if pending and (item is None or len(pending) >= FLUSH_CELLS or now - last_flush >= FLUSH_SECONDS):
                try:
                    self.store.finish_cells(pending)
                    self.count += len(pending)
                except Exception as exc:
                    self.error = exc
                pending, last_flush = [], now
            if now - last_beat > 2.0:
                self.store.heartbeat(self.sweep_id)
                last_beat = now
            if item is None:
                return

    def _collect(self, pending: list, call, *args) -> None:
        """Append ``call(*args)``'s ``(key, fields)`` to ``pending``; a failure becomes the writer's error."""
        try:
            pending.append(call(*args))
        except Exception as exc:
            self.error = exc

    def _record(self, kind: str, cell: Cell, img, out: dict) -> tuple[str, dict]:
        device = str(out.get("device") or self.device)
        if kind == "failed":
            fields = failure_fields(out["error"])
        else:
            fields = finalize_cell(self.store.root, cell, img, out, self.environment(device))
        return cell.key, dict(fields, sweep_id=self.sweep_id, device=device)
