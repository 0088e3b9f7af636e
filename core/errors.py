"""Every error the workbench raises on purpose, under one base.

Callers (the CLI, the app) catch :class:`WorkbenchError` alone; each message
is one line that names the problem and says what to do. Anything else that
escapes is a bug and is shown with its traceback.
"""

from __future__ import annotations

__all__ = [
    "WorkbenchError", "UsageError", "ImageReadError", "BaselineError", "DeviceError",
    "CheckpointError", "CheckpointNotFoundError", "UnsafeCheckpointError", "TruncatedCheckpointError",
    "UnknownArchitectureError", "SketchFormatError", "StrokesError", "StrokesFileError", "DatasetError",
    "UploadError", "StoreError", "SweepError", "SpecError", "SweepCancelled", "LaunchError", "AlreadyRunning",
    "TrainingError", "TrainingDataError", "CurveFormatError", "EvaluationError", "DemoError", "NativeViewError",
    "RankingError", "RerunError", "FigureError",
]


class WorkbenchError(Exception):
    """Base of every expected failure; the message says what went wrong and what to do."""


class UsageError(WorkbenchError):
    """A flag or argument cannot be used; the message says which and why."""


class ImageReadError(WorkbenchError):
    """An input file could not be used as an image; the message names the problem."""


class BaselineError(WorkbenchError, ValueError):
    """A baseline name, parameter or input image was not usable; the message lists the valid options."""


class DeviceError(WorkbenchError):
    """The requested device or precision cannot be used here; the message says what can."""


class CheckpointError(WorkbenchError):
    """A checkpoint could not be used; the message says why and what to do."""


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint file does not exist."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle needs arbitrary Python objects, so it is refused without running any of it."""


class TruncatedCheckpointError(CheckpointError):
    """The file ends before its declared contents do."""


class UnknownArchitectureError(CheckpointError):
    """The keys match none of the known architectures."""


class SketchFormatError(WorkbenchError, ValueError):
    """An array is not a usable sketch (2-D uint8 grayscale, at least one pixel)."""


class StrokesError(WorkbenchError, ValueError):
    """Invalid vectoriser parameters or strokes."""


class StrokesFileError(StrokesError):
    """A strokes ``.npz`` file is missing, unreadable or not in the documented format."""


class DatasetError(WorkbenchError):
    """A test set is missing, incomplete or damaged, or a build was asked for something impossible."""


class UploadError(WorkbenchError):
    """An uploaded file was refused; the message says why."""


class StoreError(WorkbenchError):
    """The database cannot be used; the message says why and what to do."""


class SweepError(WorkbenchError):
    """A sweep cannot run as asked; the message says what to change."""


class SpecError(SweepError, ValueError):
    """A sweep specification is invalid; the message names the key and what it expects."""


class LaunchError(WorkbenchError):
    """A sweep could not be started in the background; the message says why."""


class AlreadyRunning(LaunchError):
    """The same sweep (same spec hash) is already running."""


class TrainingError(WorkbenchError):
    """Training could not start or finish; the message says what to change."""


class TrainingDataError(TrainingError):
    """A training set folder is missing, malformed or lacks what the chosen training needs."""


class CurveFormatError(TrainingError, ValueError):
    """A training-curve CSV is not in the ``epoch,global_iter,<losses>`` format; the message names the problem."""


class EvaluationError(WorkbenchError):
    """A split or checkpoint cannot be evaluated; the message says what is missing."""


class DemoError(WorkbenchError):
    """The demo cannot run; the message says what is missing and how to get it."""


class SweepCancelled(WorkbenchError):
    """A running sweep was asked to stop (SIGTERM/SIGINT, or the app's cancel); the run records it cancelled."""


class NativeViewError(WorkbenchError):
    """A cell's Sketch Net output cannot be recomputed at the network's side (not a checkpoint cell, files gone)."""


class RankingError(WorkbenchError):
    """Blind votes cannot be turned into strengths (none yet, one value only) or a vote is malformed."""


class RerunError(WorkbenchError):
    """A stored cell cannot be re-run: unknown cell, no stored sketch, or its input or checkpoint is gone or changed."""


class FigureError(UsageError):
    """A figure cannot be exported as asked (unknown axis or image, crop outside 0-1, nothing to show, bad suffix)."""


class DeviceMemoryError(DeviceError):
    """A forward did not fit in the device's memory even one image at a time (the cell fails, not the sweep)."""


class FolderError(WorkbenchError):
    """A folder or file the app was asked to read is outside the allowed data roots (or leaves them by ``..``/symlink)."""
