"""Reading checkpoint files' bytes safely: ``.pth`` pickles with ``weights_only=True``, ``.safetensors``.

There is no unsafe fallback: a pickle that needs anything beyond tensors and
plain containers is refused before any of its code can run, and every failure
is one :class:`~core.errors.CheckpointError` line that says what is wrong
with the file (truncated, not a checkpoint, unsafe).
"""

from __future__ import annotations

import io
import json
import pickle
import re
import struct
import warnings
import zipfile
from pathlib import Path

import torch

from core.errors import CheckpointError, TruncatedCheckpointError, UnsafeCheckpointError

__all__ = ["read_pickle", "read_safetensors"]


def read_pickle(path: Path, data: bytes):
    """Load a ``.pth`` pickle with ``weights_only=True``; refuse anything that needs more than tensors."""
    if data[:4] == b"PK\x03\x04":
        try:
            zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            raise TruncatedCheckpointError(
                f"checkpoint {path} is truncated or corrupt (its zip archive is incomplete); copy the file again"
            ) from None
    try:
        # weights_only=True passed explicitly: torch ignores TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD then.
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols it did not write; the outcome is reported anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        text = str(exc)
        operand = re.search(r"Unsupported operand (\d+)", text)
        if operand:  # an instruction the safe unpickler cannot vet: refused like any unsafe pickle
            raise UnsafeCheckpointError(
                f"checkpoint {path} was refused: its pickle uses an instruction (opcode {operand.group(1)}) that the "
                "safe loader does not run; it is damaged or not a plain state_dict saved by torch.save, "
                "re-save it as a plain state_dict or safetensors"
            ) from None
        if "Weights only load failed" in text or "Unsupported global" in text or "GLOBAL" in text:
            culprit = _first_unsafe_global(text)
            raise UnsafeCheckpointError(
                f"checkpoint {path} was refused: its pickle needs {culprit}, which a plain state_dict never does; "
                "only load files from a source you trust, re-saved as a plain state_dict or safetensors"
            ) from None
        raise _unreadable(path, exc) from None
    except (EOFError, RuntimeError, ValueError, OSError, IndexError, KeyError, TypeError, AttributeError,
            struct.error) as exc:  # struct.error: a legacy (non-zip) file cut inside a length field
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    """The error for a file torch cannot read: truncated, or not a checkpoint at all."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, (KeyError, IndexError)):  # their text is a bare key or index, meaningless to a user
        text = "its pickle data is malformed"
    truncation_words = ("central directory", "truncat", "eof", "ran out", "unpack requires")
    if isinstance(exc, EOFError) or any(w in text.lower() for w in truncation_words):
        return TruncatedCheckpointError(f"checkpoint {path} is truncated ({text}); copy the file again")
    return CheckpointError(f"checkpoint {path} is not a readable PyTorch or safetensors file ({text})")


def _first_unsafe_global(text: str) -> str:
    """The first global named in torch's weights-only refusal message (what the pickle wanted to run)."""
    for line in text.splitlines():
        if "Unsupported global" in line or "GLOBAL" in line:
            return line.split(":", 1)[-1].strip().rstrip(".") or "an arbitrary Python object"
    return "an arbitrary Python object"


def read_safetensors(path: Path, data: bytes) -> tuple[dict, dict[str, str]]:
    """Load a ``.safetensors`` file's tensors and string metadata, with one-line errors."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    if len(data) < 8:
        raise TruncatedCheckpointError(f"checkpoint {path} is truncated (shorter than a safetensors header)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if len(data) > 8 and data[8:9] != b"{":  # every safetensors header is a JSON object
        raise CheckpointError(f"checkpoint {path} is not a valid safetensors file (no JSON header after the length)")
    if 8 + header_len > len(data):
        raise TruncatedCheckpointError(f"checkpoint {path} is truncated (header cut short); copy the file again")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except ValueError:
        raise CheckpointError(f"checkpoint {path} is not a valid safetensors file (header is not JSON)") from None
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    if ends and 8 + header_len + max(ends) > len(data):
        raise TruncatedCheckpointError(f"checkpoint {path} is truncated (tensor data cut short); copy the file again")
    try:
        tensors = load_safetensors(data)
    except SafetensorError as exc:
        raise CheckpointError(f"checkpoint {path} is not a valid safetensors file ({exc})") from None
    return tensors, dict(header.get("__metadata__") or {})
