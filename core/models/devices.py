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


def local_devices(name: str = "auto") -> list[torch.device]:
    """The devices a local sweep computes on: every visible GPU for ``auto``/``cuda``, else the one named.

    ``cuda:N`` pins one GPU; ``CUDA_VISIBLE_DEVICES`` limits what ``cuda`` takes.
    """
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    return [device]


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


def supported_precisions(device: torch.device) -> list[str]:
    """The precisions :func:`check_precision` accepts on ``device``, in :data:`PRECISIONS` order."""
    supported = []
    for precision in PRECISIONS:
        try:
            check_precision(precision, device)
        except DeviceError:
            continue
        supported.append(precision)
    return supported


def describe_devices() -> dict:
    """The machine's compute devices for ``workbench doctor``: versions, memory and precisions, as JSON-ready data.

    Returns a dict with ``torch``, ``cuda`` (the build's CUDA version), ``cudnn``, ``driver`` (None without
    ``nvidia-smi``), ``cpu`` (name, threads, memory, precisions) and ``gpus`` (one entry per visible CUDA
    device: index, name, compute capability, total and free memory, multiprocessors, precisions).
    """
    import os
    import platform

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    info = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "driver": None,
        "cpu": {"name": _cpu_name() or platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                "cores": os.cpu_count(), "memory_mb": None if memory is None else memory // 2**20,
                "precisions": supported_precisions(torch.device("cpu"))},
        "gpus": [],
    }
    if not torch.cuda.is_available():
        return info
    info["driver"] = _driver_version()
    for index in range(torch.cuda.device_count()):
        dev = torch.device("cuda", index)
        props = torch.cuda.get_device_properties(dev)
        free, total = torch.cuda.mem_get_info(dev)
        info["gpus"].append({"device": f"cuda:{index}", "name": props.name,
                             "capability": f"{props.major}.{props.minor}", "memory_mb": total // 2**20,
                             "free_mb": free // 2**20, "multiprocessors": props.multi_processor_count,
                             "precisions": supported_precisions(dev)})
    return info


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _driver_version() -> str | None:
    """The NVIDIA driver's version from ``nvidia-smi`` (torch does not expose it), or None."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None
