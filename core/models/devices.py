"""Choosing the compute device and precision: names checked up front, each refusal one line."""

from __future__ import annotations

import re

import torch

from core.errors import DeviceError

PRECISIONS = ("fp32", "fp16", "bf16")
_CUDA_NAME = re.compile(r"cuda(:\d+)?")


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` to a usable device.

    Raises:
        DeviceError: an unknown name, or CUDA (or a GPU index) asked for that this machine lacks.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if _CUDA_NAME.fullmatch(name):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
        return dev
    raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")


def check_precision(precision: str, device: torch.device) -> str:
    """Return ``precision`` if the device supports it, else raise DeviceError."""
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise DeviceError("fp16 is not supported on the CPU; use fp32 or bf16 there")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU does not support bf16; use fp32 or fp16")
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision, or None for fp32 (no autocast)."""
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
