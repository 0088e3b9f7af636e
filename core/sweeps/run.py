"""Run a sweep: every combination of settings over a test set, cached by cell key, resumable.

:func:`run_sweep` checks the spec can run on the chosen executor, plans it
(:func:`core.sweeps.plan.plan_sweep`) and hands the plan to the executor,
which computes only the cells the store does not already hold. Executors are
looked up by name in :data:`EXECUTORS`: ``local`` (this process, the
default) and ``ray`` (Ray actors on this machine or a cluster). The executor
is not part of the spec: a cell computed by either one is cached for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from core.errors import SweepError
from core.sweeps.local import LocalExecutor
from core.sweeps.plan import Plan, plan_sweep
from core.sweeps.ray import RayExecutor
from core.sweeps.session import SweepSummary
from core.sweeps.spec import SweepSpec

__all__ = ["EXECUTORS", "Executor", "make_executor", "run_sweep"]


class Executor(Protocol):
    """What runs a sweep's cells. ``check`` refuses at once what it cannot run; ``run`` computes the plan."""

    name: str

    def check(self, spec: SweepSpec) -> None: ...

    def run(self, spec: SweepSpec, plan: Plan, db_path: str | Path, *, progress: bool = True,
            retry_failed: bool = False) -> SweepSummary: ...


#: Executor classes by name; each takes its own keyword options (e.g. the Ray address).
EXECUTORS: dict[str, type] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, options: Mapping[str, Any] | None = None) -> Executor:
    """The executor called ``name``, built with its options; a SweepError for an unknown name or option."""
    if name not in EXECUTORS:
        raise SweepError(f"executor {name!r} is not one of {', '.join(EXECUTORS)}")
    try:
        return EXECUTORS[name](**dict(options or {}))
    except TypeError as exc:
        raise SweepError(f"executor {name!r} cannot take these options ({exc})") from None


def run_sweep(spec: SweepSpec, db_path: str | Path, *, progress: bool = True, plan: Plan | None = None,
              retry_failed: bool = False, executor: str = "local",
              executor_options: Mapping[str, Any] | None = None) -> SweepSummary:
    """Run (or resume) a sweep: compute missing cells, record everything in the store.

    Args:
        spec: the sweep.
        db_path: the SQLite store (created if missing); outputs go beside it.
        progress: show a progress bar on stderr.
        plan: the spec's plan when the caller already made it.
        retry_failed: compute cells recorded as failed again.
        executor: a name in :data:`EXECUTORS` (``local`` or ``ray``).
        executor_options: keyword options of that executor (``ray``: ``address``, ``cpus_per_worker``).

    Returns the summary; failed cells are recorded, not raised.
    """
    runner = make_executor(executor, executor_options)
    runner.check(spec)
    plan = plan or plan_sweep(spec)
    return runner.run(spec, plan, db_path, progress=progress, retry_failed=retry_failed)
