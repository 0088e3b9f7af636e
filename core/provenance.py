"""Provenance: what code, environment and inputs made a cell, recorded with it and inside its sketch PNG.

:func:`environment_provenance` describes this process once (workbench
version, the git commit and dirty flag of the workbench checkout when it runs
from one, Python, torch, CUDA and cuDNN versions, the device's name);
:func:`cell_provenance` adds one cell's precision, checkpoint hashes, full
canonical configuration and the time. Values that cannot be known are None
(null in JSON), never a guess.
"""

from __future__ import annotations

import functools
import json
import logging
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["ENVIRONMENT_KEYS", "PNG_KEY", "cell_provenance", "environment_provenance", "git_state",
           "provenance_changes", "provenance_json"]

log = logging.getLogger(__name__)

# The PNG text chunk's keyword that holds a sketch's provenance (JSON).
PNG_KEY = "sketch-workbench-provenance"
# What describes the code and environment (compared by a re-run); the rest describes the cell.
ENVIRONMENT_KEYS = ("workbench_version", "pipeline_version", "git_commit", "git_dirty", "python", "torch", "cuda",
                    "cudnn", "device", "device_name")
GIT_TIMEOUT_S = 3.0
CHECKOUT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the workbench checkout, or ``(None, None)`` when not run from a git checkout.

    Asked once per process. Dirty means tracked files differ from the commit
    (untracked files do not count). Never raises: no git, a timeout or an
    install outside a checkout all give None.
    """
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("git %s failed: %s", args[0], exc)
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # An install inside some other repository (e.g. a venv in a project) is not the workbench's checkout.
    if not top or Path(top).resolve() != CHECKOUT:
        return None, None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit or None, (None if status is None else bool(status))


@functools.lru_cache(maxsize=8)
def _device_name(device: str) -> str | None:
    if device.startswith("cuda"):
        try:
            import torch

            return torch.cuda.get_device_name(torch.device(device))
        except Exception as exc:  # no CUDA here: unknown, not a failure
            log.debug("no CUDA device name for %s: %s", device, exc)
            return None
    if device.startswith("mps"):
        return "Apple MPS"
    return _cpu_model()


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


@functools.lru_cache(maxsize=1)
def _torch_versions() -> tuple[str | None, str | None, int | None]:
    try:
        import torch
    except ImportError:
        return None, None, None
    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:  # a CPU build may still ship the module without the library
        cudnn = None
    return torch.__version__, torch.version.cuda, cudnn


def environment_provenance(device, precision: str | None = None) -> dict:
    """The code and environment computing on ``device`` (a torch device or its name).

    Returns a JSON-ready dict with :data:`ENVIRONMENT_KEYS` (and ``precision``
    when given); unknown values are None.
    """
    import core
    from core.pipeline.seed import PIPELINE_VERSION

    commit, dirty = git_state()
    torch_version, cuda, cudnn = _torch_versions()
    device = str(device)
    env = {"workbench_version": core.__version__, "pipeline_version": PIPELINE_VERSION, "git_commit": commit,
           "git_dirty": dirty, "python": platform.python_version(), "torch": torch_version, "cuda": cuda,
           "cudnn": cudnn, "device": device, "device_name": _device_name(device)}
    if precision is not None:
        env["precision"] = precision
    return env


def cell_provenance(cell_config: dict, checkpoint_shas: dict[str, str | None], env: dict) -> dict:
    """One computed cell's full provenance: ``env`` plus its precision, checkpoints, canonical config and the time.

    Args:
        cell_config: the cell's canonical configuration (as its key was made from).
        checkpoint_shas: role -> sha256 of the checkpoints it ran (``{"sketch": ..., "mask": ...}``);
            None values (no Mask Net, a baseline) are left out.
        env: :func:`environment_provenance` of the process that computed it.
    """
    return {**env, "precision": cell_config.get("precision", env.get("precision")),
            "checkpoints": {role: sha for role, sha in checkpoint_shas.items() if sha},
            "config": cell_config, "computed_at": datetime.now(UTC).isoformat(timespec="seconds")}


def provenance_json(provenance: dict) -> str:
    """The canonical JSON text of a provenance (sorted keys, ASCII), as stored and as written into PNGs."""
    return json.dumps(provenance, sort_keys=True)


def provenance_changes(stored: dict | None, current: dict) -> dict[str, dict]:
    """What differs in code and environment between a stored provenance and the current one.

    Returns ``{key: {"stored": old, "current": new}}`` over
    :data:`ENVIRONMENT_KEYS` and ``precision``; for a cell computed before
    provenance was recorded (``stored`` None) every stored value is None.
    """
    stored = stored or {}
    return {key: {"stored": stored.get(key), "current": current.get(key)}
            for key in (*ENVIRONMENT_KEYS, "precision") if stored.get(key) != current.get(key)}
