"""Batch planning for the CUDA path: which forwards run together, how many at once, and the out-of-memory back-off.

Pure functions, testable without a GPU. The engine collects the network
inputs of a window of images, groups them by (network, side, precision) with
:func:`group_requests`, picks a batch size from the device's free memory with
:func:`choose_batch_size` and runs each group through :func:`run_batched`,
which halves the batch on out-of-memory and retries, down to one input; an
input that does not fit alone gets a :class:`core.errors.DeviceMemoryError`
as its result (its cell fails, the sweep goes on). The CPU path does not
batch: on the CPU batching gains nothing (see :mod:`core.models.inference`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from core.errors import DeviceMemoryError

__all__ = ["MAX_BATCH", "bytes_per_input", "choose_batch_size", "group_requests", "is_out_of_memory",
           "run_batched"]

log = logging.getLogger(__name__)

#: The largest batch tried: beyond it the GPU is already saturated by the deep Sketch Net at 424 px.
MAX_BATCH = 32
#: Share of the free device memory a batch may plan to use (the rest: cuDNN workspaces, fragmentation).
MEMORY_SHARE = 0.6
#: Activation bytes per input pixel of a width-1.0 deep Sketch Net in fp32, rounded up from its largest
#: layers (64-512 channels at 1/1 to 1/16 of the side, kept alive across the U-Net's skips).
FP32_BYTES_PER_PIXEL = 2048


def group_requests(keys: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """Indices of ``keys`` grouped by key, groups in first-seen order and indices in order.

    The engine's keys are (checkpoint sha256, side, precision): inputs under one
    key can be stacked into one batch of one network.
    """
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return groups


def bytes_per_input(side: int, precision: str = "fp32", width: float = 1.0) -> int:
    """A generous estimate of one ``side x side`` input's peak activation memory in a forward.

    Half-precision activations take half the bytes; a width multiplier scales the channels.
    """
    scale = 0.5 if precision in ("fp16", "bf16") else 1.0
    return max(1, int(side * side * FP32_BYTES_PER_PIXEL * scale * max(width, 0.0625)))


def choose_batch_size(free_bytes: int | None, per_input: int, limit: int = MAX_BATCH,
                      share: float = MEMORY_SHARE) -> int:
    """The batch size to start with: as many inputs as fit in ``share`` of the free memory, 1 to ``limit``.

    Args:
        free_bytes: the device's free memory, or None when unknown (then ``limit``; the back-off corrects it).
        per_input: bytes one input needs (:func:`bytes_per_input`).
    """
    if limit < 1:
        raise ValueError(f"batch limit must be at least 1, not {limit}")
    if free_bytes is None:
        return limit
    return max(1, min(limit, int(free_bytes * share) // max(1, per_input)))


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device out-of-memory error (``torch.cuda.OutOfMemoryError`` or a RuntimeError saying so)."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_batched(forward: Callable[[list], list], inputs: Sequence, batch_size: int,
                on_oom: Callable[[], None] | None = None) -> tuple[list[Any], int]:
    """Run ``forward`` over ``inputs`` in batches, halving the batch on out-of-memory down to one input.

    Args:
        forward: maps a list of inputs to the list of their outputs (one batch).
        inputs: everything to run, in order.
        batch_size: the batch size to start with.
        on_oom: called after each out-of-memory error, before the retry (e.g. ``torch.cuda.empty_cache``).

    Returns:
        The outputs in the order of ``inputs`` — a :class:`core.errors.DeviceMemoryError` in place of
        each input that did not fit even alone — and the batch size that last worked (for the next group).
        Any other error of ``forward`` propagates.
    """
    results: list[Any] = [None] * len(inputs)
    size = max(1, int(batch_size))
    start = 0
    while start < len(inputs):
        chunk = list(inputs[start:start + size])
        try:
            outputs = forward(chunk)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if on_oom is not None:
                on_oom()
            if size > 1:
                size = max(1, size // 2)
                log.warning("out of device memory at batch %d; retrying at %d", len(chunk), size)
                continue
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            results[start] = DeviceMemoryError(
                f"out of device memory even one image at a time ({first_line}); use a smaller --resolution, "
                "fp16/bf16, or a GPU with more free memory")
            start += 1
            continue
        if len(outputs) != len(chunk):
            raise RuntimeError(f"a batch of {len(chunk)} inputs gave {len(outputs)} outputs")
        results[start:start + len(chunk)] = outputs
        start += len(chunk)
    return results, size
