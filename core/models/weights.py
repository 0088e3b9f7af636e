"""The checkpoint files in the weights folders, each described or with the reason it does not load."""

from __future__ import annotations

from pathlib import Path

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")


def weight_files(dirs: list[Path] | None = None) -> list[Path]:
    """Checkpoint files (``*.pth``, ``*.pt``, ``*.safetensors``) under the weights folders, recursively."""
    from core.settings import weights_dirs

    found: dict[Path, Path] = {}
    for folder in dirs if dirs is not None else weights_dirs():
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES:
                found.setdefault(path.resolve(), path)
    return list(found.values())


def describe_file(path: str | Path) -> dict:
    """``load_checkpoint(path).describe()`` plus ``ok: True``, or ``ok: False`` with the ``error``."""
    from core.errors import CheckpointError
    from core.models.checkpoints import load_checkpoint

    path = Path(path)
    try:
        info = load_checkpoint(path).describe()
    except CheckpointError as exc:
        return {"ok": False, "path": str(path), "file": path.name, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any other failure is still a reason to list, not a crash
        return {"ok": False, "path": str(path), "file": path.name, "error": f"{type(exc).__name__}: {exc}"}
    return dict(info, ok=True)
