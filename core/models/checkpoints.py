"""The one checkpoint loader: container unwrapping, architecture detection, strict loading, saving.

``.pth``/``.pt`` files are read with ``torch.load(weights_only=True,
map_location="cpu")`` and ``.safetensors`` files with their metadata. There is
no unsafe fallback: a pickle that needs anything beyond tensors and plain
containers is refused before any of its code can run (see :mod:`core.models.readers`).

Typical use::

    ckpt = load_checkpoint("weights/G_net.pth")
    net = ckpt.build()            # strict load into the detected architecture, eval mode
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import torch
from torch import nn

from core.errors import (
    CheckpointNotFoundError,
    TruncatedCheckpointError,
    UnknownArchitectureError,
)
from core.files import write_atomic
from core.models.networks import ARCHITECTURES, build_network, scale_channels
from core.models.readers import read_pickle, read_safetensors

# Keys under which training scripts commonly nest the real state_dict.
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "generator", "G_net")
# Prefixes added by DataParallel / DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
PTH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: detected architecture, tensors and provenance."""

    path: Path
    architecture: str
    width: float
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    metadata: dict[str, str]
    sha256: str
    format: str  # "pth" or "safetensors"
    size: int  # bytes on disk

    @property
    def role(self) -> str:
        """``"sketch"`` or ``"mask"``."""
        return ARCHITECTURES[self.architecture][1]

    @property
    def short_sha(self) -> str:
        """The first 8 hex digits of the file's sha256."""
        return self.sha256[:8]

    @property
    def label(self) -> str:
        """File name plus short sha, so two files with the same name stay apart."""
        return f"{self.path.name}@{self.short_sha}"

    @property
    def parameter_count(self) -> int:
        """Number of distinct learnable parameters (aliases counted once, buffers excluded)."""
        net = build_network(self.architecture, self.width)
        return sum(p.numel() for p in net.parameters())

    def build(self, device: str | torch.device = "cpu") -> nn.Module:
        """Return the network with these weights loaded strictly, in eval mode, on ``device``."""
        net = build_network(self.architecture, self.width)
        net.load_state_dict(_expand_aliases(net, self.state_dict), strict=True)
        return net.to(device).eval()

    def describe(self) -> dict:
        """Return a JSON-ready summary (what ``workbench inspect`` prints)."""
        return {
            "path": str(self.path),
            "file": self.path.name,
            "format": self.format,
            "architecture": self.architecture,
            "role": self.role,
            "width": self.width,
            "parameters": self.parameter_count,
            "size_bytes": self.size,
            "sha256": self.sha256,
            "metadata": dict(self.metadata),
        }


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read, unwrap, detect and strictly validate a checkpoint file.

    Raises:
        CheckpointError (or a subclass) with a one-line explanation.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint {path} does not exist; check the path or put the file in weights/")
    data = path.read_bytes()
    if not data:
        raise TruncatedCheckpointError(f"checkpoint {path} is empty (0 bytes); copy the file again")
    sha = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        raw, metadata, fmt = *read_safetensors(path, data), "safetensors"
    else:
        raw, metadata, fmt = read_pickle(path, data), {}, "pth"
    state = unwrap_state_dict(raw, path)
    architecture, width = detect_architecture(state, path, metadata.get("width"))
    net = build_network(architecture, width)
    _check_strict(net, state, path, architecture)
    return Checkpoint(path, architecture, width, state, metadata, sha, fmt, len(data))


def unwrap_state_dict(obj, path: Path | str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the flat ``name -> tensor`` dict inside common training containers.

    Handles ``{"state_dict": ...}``, ``{"model": ...}`` and similar nests, and
    strips ``module.`` / ``_orig_mod.`` prefixes when every key has them.
    """
    for _ in range(3):  # nests deeper than this are not a known container format
        if not isinstance(obj, dict):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise UnknownArchitectureError(
            f"checkpoint {path} holds no state_dict (found {type(obj).__name__}); save model.state_dict() instead"
        )
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise UnknownArchitectureError(
            f"checkpoint {path} is not a plain state_dict: entries {', '.join(map(str, bad[:3]))} are not tensors"
        )
    state = {str(k): v for k, v in obj.items()}
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


@cache
def _signature(architecture: str) -> tuple[frozenset[str], tuple[frozenset[str], ...]]:
    """Return (all key names, alias groups) of an architecture; names do not depend on width."""
    net = build_network(architecture, 1 / 16)
    return frozenset(net.state_dict().keys()), tuple(frozenset(g) for g in _alias_groups(net))


def _alias_groups(net: nn.Module) -> list[list[str]]:
    """Group state_dict names that refer to the same tensor (the original modules' aliases)."""
    groups: dict[int, list[str]] = {}
    for name, tensor in net.state_dict(keep_vars=True).items():
        groups.setdefault(id(tensor), []).append(name)
    return list(groups.values())


def detect_architecture(state: dict[str, torch.Tensor], path: Path | str = "checkpoint", width_hint=None):
    """Return ``(architecture, width)`` from the key signature and the first layer's shape.

    Raises:
        UnknownArchitectureError naming the nearest known architecture and the
        missing/unexpected keys.
    """
    keys = set(state)
    scores = []
    for arch in ARCHITECTURES:
        names, groups = _signature(arch)
        missing = sorted(min(g) for g in groups if not (g & keys))
        unexpected = sorted(keys - names)
        if not missing and not unexpected:
            return arch, _detect_width(arch, state, width_hint)
        overlap = len(keys & names) / len(keys | names)
        scores.append((overlap, arch, missing, unexpected))
    overlap, arch, missing, unexpected = max(scores)
    parts = [f"checkpoint {path} matches no known architecture; nearest is {arch} ({overlap:.0%} of keys in common)"]
    if missing:
        parts.append(f"missing {len(missing)} keys: {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} keys: {_few(unexpected)}")
    raise UnknownArchitectureError("; ".join(parts) + ". Known: " + ", ".join(ARCHITECTURES))


def _few(names: list[str], n: int = 4) -> str:
    """The first ``n`` names joined, with how many more there are."""
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _detect_width(arch: str, state: dict[str, torch.Tensor], hint) -> float:
    """The width multiplier whose layer shapes match ``state`` (the metadata's hint first)."""
    _, _, key, base = ARCHITECTURES[arch]
    _, groups = _signature(arch)
    group = next(g for g in groups if key in g)
    channels = state[next(k for k in sorted(group) if k in state)].shape[0]
    if hint is not None:
        try:
            width = float(hint)
            if scale_channels(base, width) == channels:
                return width
        except ValueError:
            pass
    # The first layer alone is ambiguous (48 * 0.3 and 48 * 0.2917 both round to 14), so a
    # candidate must reproduce every shape; the widths every channel count allows suggest more.
    candidates = [channels / base]
    lo, hi = _width_interval(arch, state)
    if lo <= hi:
        mid = (lo + hi) / 2
        candidates += [round(mid, digits) for digits in range(1, 7)] + [mid]
    shapes = {k: tuple(v.shape) for k, v in state.items()}.items()
    tried = set()
    for width in candidates:
        if width > 0 and width not in tried:
            tried.add(width)
            if _shapes_at(arch, width).items() >= shapes:
                return width
    return channels / base  # nothing fits: the strict check then names the differing shapes


@lru_cache(maxsize=64)
def _shapes_at(architecture: str, width: float) -> dict[str, tuple[int, ...]]:
    """Shapes of every state_dict entry at ``width`` (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        net = ARCHITECTURES[architecture][0](width)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _width_interval(arch: str, state: dict[str, torch.Tensor]) -> tuple[float, float]:
    """The range of widths whose rounding could give every channel count in ``state``."""
    full = _shapes_at(arch, 1.0)
    lo, hi = 0.0, float("inf")
    for k, v in state.items():
        shape = full.get(k)
        if shape is None or len(shape) != v.dim():
            continue
        for d in range(min(2, len(shape))):  # dims 0 and 1 are channels; the rest are kernel sizes
            b, c = shape[d], int(v.shape[d])
            if b in (1, 3):  # image channels (3) and single-channel ends are never scaled
                continue
            for m in (4, 3):  # maybe 4 x a bottleneck width or 3 x the FPN width: allow its wider range
                if b % m == 0 and c % m == 0:
                    b, c = b // m, c // m
            lo = max(lo, (c - 0.5) / b if c > 1 else 0.0)
            hi = min(hi, (c + 0.5) / b)
    return lo, hi


def _expand_aliases(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fill every alias name of ``net`` from whichever name of its group ``state`` holds."""
    full = dict(state)
    for group in _alias_groups(net):
        present = [k for k in group if k in state]
        if present:
            for k in group:
                full.setdefault(k, state[present[0]])
    return full


def _check_strict(net: nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    """Refuse a state dict with missing, unexpected or mis-shaped keys, naming them."""
    expected = net.state_dict()
    full = _expand_aliases(net, state)
    wrong = [
        f"{k} {tuple(full[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in full and tuple(full[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise UnknownArchitectureError(
            f"checkpoint {path} has the keys of {arch} but {len(wrong)} tensor shapes differ "
            f"(checkpoint vs expected): {_few(wrong, 3)}"
        )
    for group in _alias_groups(net):
        present = [k for k in group if k in state]
        differing = [k for k in present[1:] if not _same_values(state[present[0]], state[k])]
        if differing:
            raise UnknownArchitectureError(
                f"checkpoint {path} is inconsistent: {present[0]} and {differing[0]} must be the same tensor"
            )


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two tensors hold equal values; aliases loaded from one storage need no comparison."""
    if a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride() and a.dtype == b.dtype:
        return True
    return torch.equal(a, b)


def save_checkpoint(net: nn.Module, path: str | Path, architecture: str, metadata: dict | None = None) -> Path:
    """Write ``net`` as safetensors with one name per tensor and string metadata.

    Aliased tensors are saved once (safetensors refuses shared storage);
    :func:`load_checkpoint` restores every alias name. Metadata always holds
    ``architecture`` and ``width``; other values are stored as strings (JSON
    for non-strings).
    """
    from safetensors.torch import save

    path = Path(path)
    state = net.state_dict()
    unique = {}
    for group in _alias_groups(net):
        name = group[0]
        unique[name] = state[name].detach().cpu().contiguous().clone()
    meta = {"architecture": architecture, "width": repr(float(getattr(net, "width", 1.0)))}
    for k, v in (metadata or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v)
    return write_atomic(path, save(unique, metadata=meta))
