"""The checkpoint loader: seed files, safetensors round trips, containers, widths, and every refusal."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import re

import pytest
import torch

from core.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    TruncatedCheckpointError,
    UnknownArchitectureError,
    UnsafeCheckpointError,
)
from core.models.checkpoints import load_checkpoint, save_checkpoint
from core.models.networks import ARCHITECTURES, build_network
from tests.fixtures import MALICIOUS_KINDS, write_malicious

ARCHS = tuple(ARCHITECTURES)


def _input_for(arch: str) -> torch.Tensor:
    # 64 is enough for the Mask Nets' stride-32 backbone and FPN; small inputs keep these tests fast
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(7))


def _forward(net, x):
    with torch.no_grad():
        return net(x)


# --------------------------------------------------------------------------- seed files


@pytest.mark.parametrize("arch", ARCHS)
def test_seed_file_loads_with_every_alias_name(arch, seed_checkpoints, seed_loaded, seed_dir):
    """A seed-format .pth (all alias names present) is detected, strictly validated and described."""
    path = seed_checkpoints[arch]
    ckpt = seed_loaded(arch)
    layout = json.loads((seed_dir / "checkpoint-layouts" / f"{arch}.json").read_text())
    assert ckpt.architecture == arch and ckpt.width == 1.0
    assert ckpt.format == "pth" and ckpt.role == ARCHITECTURES[arch][1]
    assert set(ckpt.state_dict) == {t["key"] for t in layout["tensors"]}
    assert ckpt.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ckpt.size == path.stat().st_size
    assert ckpt.label == f"{path.name}@{ckpt.sha256[:8]}"
    # "parameters" counts the layout's learnable tensors once each (no aliases, no BN statistics)
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    expected = sum(
        math.prod(t["shape"]) for t in layout["tensors"] if "alias_of" not in t and not t["key"].endswith(buffers)
    )
    info = ckpt.describe()
    assert info["parameters"] == expected
    assert (info["architecture"], info["width"], info["sha256"]) == (arch, 1.0, ckpt.sha256)


# --------------------------------------------------------------------------- safetensors round trip


@pytest.mark.parametrize("arch", ARCHS)
def test_safetensors_round_trip_restores_aliases(arch, tiny_nets, tiny_safetensors):
    """save_checkpoint writes one name per tensor; loading restores every alias with identical outputs."""
    from safetensors import safe_open

    with safe_open(str(tiny_safetensors[arch]), "pt") as fh:
        stored = set(fh.keys())
        meta = fh.metadata()
    tensors = tiny_nets[arch].state_dict(keep_vars=True)
    assert len(stored) == len({id(t) for t in tensors.values()})  # each aliased tensor written once
    assert meta["architecture"] == arch and float(meta["width"]) == 1 / 8

    ckpt = load_checkpoint(tiny_safetensors[arch])
    assert (ckpt.architecture, ckpt.width, ckpt.format) == (arch, 1 / 8, "safetensors")
    net = ckpt.build()
    original = tiny_nets[arch].state_dict()
    restored = net.state_dict()
    assert list(restored) == list(original)
    assert all(torch.equal(restored[k], original[k]) for k in original)
    x = _input_for(arch)
    assert torch.equal(_forward(net, x), _forward(tiny_nets[arch], x))


def test_safetensors_metadata_is_kept_as_strings(tmp_path, net_factory):
    """Extra metadata is stored with strings as they are and other values as JSON."""
    path = save_checkpoint(net_factory("sketchnet_shallow", 1 / 16), tmp_path / "m.safetensors", "sketchnet_shallow",
                           {"epoch": 12, "note": "first try", "lr": [0.1, 0.01]})
    meta = load_checkpoint(path).describe()["metadata"]
    assert meta["epoch"] == "12" and meta["note"] == "first try" and json.loads(meta["lr"]) == [0.1, 0.01]


def test_seed_file_resaved_as_safetensors_matches(seed_loaded, tmp_path):
    """A seed .pth converted with save_checkpoint gives the same outputs as the original file."""
    original = seed_loaded("sketchnet_shallow").build()
    path = save_checkpoint(original, tmp_path / "shallow.safetensors", "sketchnet_shallow")
    again = load_checkpoint(path)
    assert again.width == 1.0
    x = _input_for("sketchnet_shallow")
    assert torch.equal(_forward(again.build(), x), _forward(original, x))


# --------------------------------------------------------------------------- width


@pytest.mark.parametrize("arch", ["sketchnet_deep", "masknet_v2"])
def test_width_quarter_round_trips(arch, tmp_path, net_factory):
    """Width 0.25 is detected from a plain .pth and kept by safetensors, with identical outputs."""
    net = net_factory(arch, 0.25, seed=3)
    x = _input_for(arch)
    expected = _forward(net, x)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    save_checkpoint(net, tmp_path / "w.safetensors", arch)
    for name in ("w.pth", "w.safetensors"):
        ckpt = load_checkpoint(tmp_path / name)
        assert (ckpt.architecture, ckpt.width) == (arch, 0.25), name
        assert torch.equal(_forward(ckpt.build(), x), expected), name


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("width", [0.3])
def test_width_detected_when_first_layer_is_ambiguous(arch, width, tmp_path):
    """Widths whose first layer rounds like another width (48 * 0.3 -> 14 = 48 * 0.2917) still load."""
    net = build_network(arch, width)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    ckpt = load_checkpoint(tmp_path / "w.pth")  # loading includes the strict check of every shape
    assert ckpt.width == pytest.approx(width, abs=0.01)


# --------------------------------------------------------------------------- containers


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd},
        lambda sd: {"model": sd},
        lambda sd: {"epoch": 4, "state_dict": sd, "optimizer": {"lr": 0.1}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},
    ],
    ids=["state_dict", "model", "training-checkpoint", "module-prefix", "nested-module-prefix", "compiled"],
)
def test_common_containers_load(wrap, tmp_path, tiny_nets):
    """Training-script containers and DataParallel / compile prefixes are unwrapped."""
    net = tiny_nets["sketchnet_shallow"]
    torch.save(wrap(net.state_dict()), tmp_path / "c.pth")
    ckpt = load_checkpoint(tmp_path / "c.pth")
    assert ckpt.architecture == "sketchnet_shallow"
    x = _input_for("sketchnet_shallow")
    assert torch.equal(_forward(ckpt.build(), x), _forward(net, x))


def test_non_dict_pickle_is_refused(tmp_path):
    """A file holding a list (not a state_dict) is refused with advice."""
    torch.save([torch.zeros(2)], tmp_path / "l.pth")
    with pytest.raises(UnknownArchitectureError, match="state_dict"):
        load_checkpoint(tmp_path / "l.pth")


# --------------------------------------------------------------------------- malicious pickles


@pytest.mark.parametrize("kind", MALICIOUS_KINDS)
def test_malicious_payload_really_creates_the_file(kind, tmp_path, tiny_nets):
    """Control: an unsafe unpickle of these payloads does create the file (so the refusals below mean something)."""
    target = tmp_path / "pwned"
    path = write_malicious(tmp_path / "evil.pth", kind, target, tiny_nets["sketchnet_shallow"])
    if kind.endswith("torch-save"):
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert target.exists()


@pytest.mark.parametrize("force_unsafe_env", [False, True], ids=["plain-env", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"])
@pytest.mark.parametrize("kind", MALICIOUS_KINDS)
def test_malicious_pickle_is_refused_without_running(kind, force_unsafe_env, tmp_path, monkeypatch, tiny_nets):
    """A pickle whose reduce would create a file is refused and the file is never created."""
    if force_unsafe_env:
        # this variable makes torch.load unsafe by default; the loader must not be affected
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    target = tmp_path / "pwned"
    path = write_malicious(tmp_path / "evil.pth", kind, target, tiny_nets["sketchnet_shallow"])
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    assert not target.exists()
    message = str(info.value)
    assert "refused" in message and str(path) in message and "\n" not in message
    if kind.startswith("system"):
        assert "system" in message  # names what the pickle asked for


def test_malicious_pickle_named_safetensors_is_refused(tmp_path):
    """A pickle renamed .safetensors is read as safetensors, so it is rejected and never unpickled."""
    target = tmp_path / "pwned"
    path = write_malicious(tmp_path / "evil.safetensors", "system-raw", target)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not target.exists()


# --------------------------------------------------------------------------- wrong architecture


def _refusal(state: dict, path) -> str:
    """Save ``state`` at ``path``; assert load_checkpoint refuses it as no known architecture; return the message."""
    torch.save(state, path)
    with pytest.raises(UnknownArchitectureError) as info:
        load_checkpoint(path)
    return str(info.value)


def test_unrelated_keys_name_the_nearest_architecture(tmp_path):
    """A state_dict of another model says it matches nothing, the nearest guess, and the odd keys."""
    message = _refusal({"encoder.weight": torch.zeros(4, 3), "encoder.bias": torch.zeros(4)}, tmp_path / "other.pth")
    assert "matches no known architecture" in message and "nearest is" in message
    assert "unexpected 2 keys" in message and "encoder.weight" in message
    assert all(arch in message for arch in ARCHS)  # the known list


def test_sketchnet_with_a_layer_removed(tmp_path, tiny_nets):
    """Removing every name of a layer gives the nearest architecture and the missing keys."""
    state = {
        k: v
        for k, v in tiny_nets["sketchnet_shallow"].state_dict().items()
        if not k.startswith(("flat6_1.", "model.5."))  # both names of the one tensor group
    }
    message = _refusal(state, tmp_path / "cut.pth")
    assert "nearest is sketchnet_shallow" in message
    assert "missing 7 keys" in message and "flat6_1.model.0.weight" in message


def test_sketchnet_with_an_extra_key(tmp_path, tiny_nets):
    """An extra tensor is named as unexpected."""
    state = dict(tiny_nets["sketchnet_deep"].state_dict())
    state["attention.weight"] = torch.zeros(3)
    message = _refusal(state, tmp_path / "extra.pth")
    assert re.search(r"nearest is sketchnet_deep.*unexpected 1 keys: attention\.weight", message)


def test_masknet_v1_file_is_not_taken_for_v2(tmp_path, tiny_nets):
    """A v2 state_dict without its FPN is not silently loaded as v1 (the head's input differs)."""
    state = {k: v for k, v in tiny_nets["masknet_v2"].state_dict().items() if not k.startswith("FPN.")}
    assert re.search("nearest is masknet_v2.*missing", _refusal(state, tmp_path / "v2-no-fpn.pth"))


def test_shape_mismatch_names_key_and_shapes(tmp_path, tiny_nets):
    """Right keys, wrong shape: the message names the key with both shapes."""
    state = dict(tiny_nets["sketchnet_shallow"].state_dict())
    state["final.0.weight"] = torch.zeros(1, 1, 5, 5)
    state["model.7.0.weight"] = state["final.0.weight"]
    message = _refusal(state, tmp_path / "shape.pth")
    assert "shapes differ" in message
    assert "(1, 1, 5, 5) vs (1, 1, 3, 3)" in message and "final.0.weight" in message


def test_inconsistent_aliases_are_refused(tmp_path, tiny_nets):
    """Two names of one tensor holding different values cannot both be loaded: refused, naming both."""
    state = {k: v.clone() for k, v in tiny_nets["sketchnet_shallow"].state_dict().items()}
    state["model.0.model.0.weight"] += 1
    message = _refusal(state, tmp_path / "alias.pth")
    assert re.search("inconsistent.*down1.model.0.weight.*model.0.model.0.weight", message)


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.9])
def test_truncated_pth(fraction, tmp_path, tiny_nets):
    """A .pth cut short says it is truncated."""
    torch.save(tiny_nets["sketchnet_deep"].state_dict(), tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(TruncatedCheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pth")


@pytest.mark.parametrize("cut", [0.5, 0.9, 4, 20])
def test_truncated_safetensors(cut, tmp_path, tiny_safetensors):
    """A .safetensors cut in the data, in the header or in the length field says it is truncated."""
    data = tiny_safetensors["sketchnet_shallow"].read_bytes()
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    (tmp_path / "cut.safetensors").write_bytes(data[:end])
    with pytest.raises(TruncatedCheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.safetensors")


def test_legacy_pth_cut_anywhere_gives_a_checkpoint_error(tmp_path, tiny_nets):
    """The legacy (non-zip) format cut at any point fails with a CheckpointError, never another exception."""
    path = tmp_path / "legacy.pth"
    torch.save(tiny_nets["sketchnet_shallow"].state_dict(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    for end in sorted({1, 2, 9, 30, 100} | {len(data) * i // 23 for i in range(1, 23)}):
        path.write_bytes(data[:end])
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_empty_file(tmp_path):
    """A 0-byte file says it is empty."""
    (tmp_path / "e.pth").write_bytes(b"")
    with pytest.raises(TruncatedCheckpointError, match="empty"):
        load_checkpoint(tmp_path / "e.pth")


def test_missing_file(tmp_path):
    """A path that does not exist says so."""
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pth")


def test_directory_is_not_a_checkpoint(tmp_path):
    """A folder given as a checkpoint is reported as not existing as a file."""
    with pytest.raises(CheckpointNotFoundError):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("name", ["notes.pth", "notes.safetensors"])
def test_text_file(name, tmp_path):
    """A text file is reported as unreadable in one line, without a bare internal error code."""
    (tmp_path / name).write_text("these are not weights\n" * 3)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / name)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / name) in message
    assert "not" in message  # "not a readable ...", "not a valid safetensors file" or "truncated"
