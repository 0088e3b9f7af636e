"""The Ray executor's worker: one actor that computes whole image groups with the local cell engine.

A :class:`SweepWorker` loads each checkpoint once (from the driver's path,
checked against the planned sha256), computes the cells of the images it is
sent with :class:`core.sweeps.engine.CellEngine` (batched on its GPU, image
by image on a CPU, as the local executor), writes their files into the run
folder and sends the store fields back: only the driver writes the store.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from core.errors import SweepError
from core.files import hash_bytes
from core.pipeline.seed import PIPELINE_VERSION
from core.sweeps.cell import Cell
from core.sweeps.engine import CellEngine
from core.sweeps.plan import Plan, group_cells
from core.sweeps.spec import SweepSpec
from core.sweeps.writer import ResultWriter, writer_threads

__all__ = ["CancelFlag", "CheckpointFiles", "ResultSink", "SweepWorker", "check_cpu_precisions", "image_mismatch"]

log = logging.getLogger(__name__)


class CheckpointFiles(dict):
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


class ResultSink:
    """Stands in for the store in a worker's writer: collects ``(cell_key, fields)`` instead of writing SQLite."""

    def __init__(self, root: Path):
        self.root = root
        self.results: list[tuple[str, dict]] = []

    def finish_cells(self, updates: list[tuple[str, dict]]) -> None:
        """Keep the finished cells' fields for the reply to the driver."""
        self.results.extend(updates)

    def heartbeat(self, sweep_id: int) -> None:
        """Nothing: the driver beats for the whole sweep."""


class CancelFlag:
    """``is_set()`` is true once the driver has cancelled the running Ray task (ray.cancel)."""

    def is_set(self) -> bool:
        """Whether the task this worker runs was cancelled."""
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
        plan = Plan(spec, [], [], CheckpointFiles(checkpoint_paths))
        self.engine = CellEngine(plan, self.device, None, CancelFlag())

    def info(self) -> dict:
        """Who and where this worker is; raises if the sweep's precisions cannot run on its device."""
        from core.models.devices import check_precision

        for precision in self.engine.plan.spec.precisions:
            check_precision(precision, self.device)
        return {"pid": os.getpid(), "node": socket.gethostname(), "device": self.describe_device(),
                "pipeline_version": PIPELINE_VERSION}

    def describe_device(self) -> str:
        """``cuda:<id> (<GPU name>)`` or ``cpu (<n> threads)``."""
        if self.device.type == "cuda":
            import ray
            import torch

            ids = ray.get_runtime_context().get_accelerator_ids().get("GPU") or ["?"]
            return f"cuda:{ids[0]} ({torch.cuda.get_device_name(0)})"
        return f"cpu ({self.threads} thread{'s' if self.threads > 1 else ''})"

    def run_group(self, cells: list[Cell]) -> dict:
        """Compute the cells of one or more images, write their files; return ``{"results": [...], pid, node}``.

        The engine batches them on a GPU (a GPU worker is sent a window of
        images at a time) and runs image after image on the CPU, as the local
        executor does. ``results`` is ``[(cell_key, fields)]``.
        """
        sink = ResultSink(self.root)
        # The pool fits the CPUs Ray gave this actor, not the whole node's.
        writer = ResultWriter(sink, self.sweep_id, self.device, writer_threads(self.device, self.threads))
        self.engine.writer = writer
        try:
            todo = []
            for group in group_cells(cells):
                mismatch = image_mismatch(group[0])
                if mismatch:
                    for cell in group:
                        writer.put_failure(cell, mismatch)
                else:
                    todo += group
            self.engine.run(todo)
        except BaseException as exc:
            try:
                writer.close()
            except Exception:  # the first error is the one to raise; this one only to the log
                log.warning("closing the result writer after %s failed too", type(exc).__name__, exc_info=True)
            raise
        writer.close()
        return {"results": sink.results, "pid": os.getpid(), "node": socket.gethostname()}


def image_mismatch(cell: Cell) -> str | None:
    """Why this node's copy of the cell's image is not the one planned (None when it is)."""
    sha, _ = hash_bytes(cell.image.path)  # unreadable hashes as empty, as the planner does; reading reports it
    if sha == cell.image.sha256:
        return None
    return (f"image {cell.image.name} reads differently on node {socket.gethostname()} (sha256 {sha[:12]}, planned "
            f"{cell.image.sha256[:12]}); every node needs the test sets at the same paths")


def check_cpu_precisions(spec: SweepSpec) -> None:
    """Refuse precisions the CPU cannot run (fp16), as the local executor does."""
    import torch

    from core.models.devices import check_precision

    for precision in spec.precisions:
        check_precision(precision, torch.device("cpu"))
