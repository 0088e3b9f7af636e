"""End-to-end tests of core.training (sketch, mask, curves) on a tiny generated test set (tiny widths, a few steps)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.errors import CurveFormatError, TrainingDataError, TrainingError
from core.models.checkpoints import load_checkpoint
from core.training.curves import read_curve
from core.training.mask import train_mask
from core.training.sketch import train_sketch
from tests.fixtures import sha256_file, write_image

TINY = 1 / 16


def write_png(path: Path, img: np.ndarray) -> str:
    """Write RGB or gray uint8 as PNG; return the file's sha256."""
    return sha256_file(write_image(path, img))


def make_set(root: Path, n: int = 3, masks: bool = True, drawings: bool = True, size=(72, 64)) -> Path:
    """A test set of ``n`` photos of a centred coloured ellipse on a noisy background."""
    rng = np.random.default_rng(123)
    h, w = size
    files = []
    for i in range(n):
        sid = f"img{i:02d}"
        img = rng.integers(150, 256, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        axes = (w // 4 + 2 * (i % 4), h // 3 - (i % 4))
        cv2.ellipse(mask, (w // 2, h // 2), axes, 15 * i, 0, 360, 255, -1)
        img[mask > 0] = ((40 * i + 30) % 256, 90, (200 - 30 * i) % 256)
        drawing = np.full((h, w), 255, np.uint8)
        cv2.ellipse(drawing, (w // 2, h // 2), axes, 15 * i, 0, 360, 0, 2)
        entry = {"id": sid, "image": f"images/{sid}.png", "sha256": write_png(root / "images" / f"{sid}.png", img)}
        if masks:
            entry.update(mask=f"masks/{sid}.png", mask_sha256=write_png(root / "masks" / f"{sid}.png", mask))
        if drawings:
            drawing_sha = write_png(root / "drawings" / f"{sid}.png", drawing)
            entry.update(drawing=f"drawings/{sid}.png", drawing_sha256=drawing_sha)
        files.append(entry)
    (root / "manifest.json").write_text(json.dumps({"name": root.name, "files": files}))
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_set(tmp_path_factory.mktemp("sets") / "ellipses")


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def assert_same(a: Path, b: Path) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


def differs(a: Path, b: Path) -> bool:
    ta, tb = tensors(a), tensors(b)
    return any(not torch.equal(ta[k], tb[k]) for k in ta if ta[k].is_floating_point())


# --------------------------------------------------------------------------- mask


@pytest.fixture(scope="module")
def mask_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("mask")
    return train_mask(
        dataset, out, architecture="masknet_v2", width=TINY, steps=4, batch_size=2, seed=7, log_every=2,
        progress=False, threads=1, command="workbench train mask --steps 4",
    )  # fmt: skip


def test_train_mask_writes_loadable_stages_and_curve(mask_run, dataset):
    r = mask_run
    assert r.stage1.name == "MaskNet_v2_stage1.safetensors"
    assert r.stage2.name == "MaskNet_v2_stage2.safetensors"
    assert r.curve.name == "MaskNet_v2_curve.csv"
    manifest_sha = hashlib.sha256((dataset / "manifest.json").read_bytes()).hexdigest()
    for path, stage, step in ((r.stage1, "stage1", 2), (r.stage2, "stage2", 4)):
        ckpt = load_checkpoint(path)
        assert ckpt.architecture == "masknet_v2"
        assert ckpt.width == TINY
        meta = ckpt.metadata
        assert meta["stage"] == stage
        assert int(meta["step"]) == step
        assert meta["command"] == "workbench train mask --steps 4"
        assert int(meta["seed"]) == 7
        assert json.loads(meta["data"]) == [{"name": "ellipses", "manifest_sha256": manifest_sha, "images": 3}]
        assert int(meta["epoch"]) >= 0
        net = ckpt.build()
        with torch.no_grad():
            out = net(torch.rand(1, 3, 224, 224))
        assert out.shape == (1, 1, 56, 56)
    # batch 2 over 3 images: step 4 starts at sample 6, i.e. in epoch 2 (0-based)
    assert int(load_checkpoint(r.stage2).metadata["epoch"]) == 2
    assert differs(r.stage1, r.stage2)  # training changed the weights between the stages

    header = r.curve.read_text().splitlines()[0]
    assert header == "epoch,global_iter,loss_mask"
    curve = read_curve(r.curve)
    assert curve["global_iter"].tolist() == [2, 4]
    assert curve["epoch"].tolist() == [0, 2]
    assert np.all(np.isfinite(curve["loss_mask"])) and np.all(curve["loss_mask"] > 0)
    assert r.final_losses["loss_mask"] == pytest.approx(curve["loss_mask"][-1], rel=1e-6)
    assert r.steps == 4 and r.steps_per_second > 0


def test_train_mask_is_deterministic_per_seed(mask_run, dataset, tmp_path):
    kwargs = dict(architecture="masknet_v2", width=TINY, steps=4, batch_size=2, log_every=2, progress=False, threads=1)
    again = train_mask(dataset, tmp_path / "same", seed=7, command="workbench train mask --steps 4", **kwargs)
    assert_same(mask_run.stage2, again.stage2)
    assert mask_run.curve.read_text() == again.curve.read_text()
    other = train_mask(dataset, tmp_path / "other", seed=8, **kwargs)
    assert differs(mask_run.stage2, other.stage2)


def test_train_mask_v1_hard_targets(dataset, tmp_path):
    r = train_mask(
        [dataset], tmp_path, architecture="masknet_v1", width=TINY, steps=2, batch_size=2, mask_threshold=0.5,
        progress=False, threads=1,
    )  # fmt: skip
    assert r.stage2.name == "MaskNet_v1_stage2.safetensors"
    ckpt = load_checkpoint(r.stage2)
    assert ckpt.architecture == "masknet_v1"
    assert json.loads(ckpt.metadata["training"])["mask_target"] == "> 0.5"


def test_train_mask_needs_masks(tmp_path):
    bare = make_set(tmp_path / "nomasks", n=2, masks=False)
    with pytest.raises(TrainingDataError, match="no mask.*nomasks/img00"):
        train_mask(bare, tmp_path / "out", width=TINY, steps=1, progress=False, threads=1)


def test_refuses_to_overwrite_and_bad_arguments(dataset, mask_run):
    out = mask_run.stage2.parent
    with pytest.raises(TrainingError, match="overwrite=True"):
        train_mask(dataset, out, width=TINY, steps=1, progress=False, threads=1)
    with pytest.raises(TrainingError, match="not a mask network"):
        train_mask(dataset, out / "x", architecture="sketchnet_deep", steps=1, progress=False, threads=1)
    with pytest.raises(TrainingError, match="multiple of 8"):
        train_sketch(dataset, out / "x", side=36, steps=1, progress=False, threads=1)
    with pytest.raises(TrainingDataError, match="manifest.json not found"):
        train_sketch(out, out / "x", steps=1, progress=False, threads=1)


# --------------------------------------------------------------------------- sketch


@pytest.fixture(scope="module")
def sketch_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("sketch")
    return train_sketch(
        dataset, out, width=TINY, side=32, steps=3, batch_size=2, seed=3, log_every=1, progress=False, threads=1,
        command="workbench train sketch",
    )  # fmt: skip


def test_train_sketch_writes_loadable_stages_and_curve(sketch_run):
    r = sketch_run
    assert r.stage1.name == "SketchNet_stage1.safetensors"
    for path, stage, step in ((r.stage1, "stage1", 1), (r.stage2, "stage2", 3)):
        ckpt = load_checkpoint(path)
        assert ckpt.architecture == "sketchnet_deep"
        assert ckpt.width == TINY
        assert ckpt.metadata["stage"] == stage
        assert int(ckpt.metadata["step"]) == step
        assert ckpt.metadata["command"] == "workbench train sketch"
        training = json.loads(ckpt.metadata["training"])
        assert training["side"] == 32 and training["target"] == "pencil" and training["input_gamma"] == 2.0
        with torch.no_grad():
            out = ckpt.build()(torch.rand(1, 3, 32, 32))
        assert out.shape == (1, 1, 32, 32)
    lines = r.curve.read_text().splitlines()
    assert lines[0] == "epoch,global_iter,loss_G_L1,loss_G_GAN,loss_D"
    assert len(lines) == 4  # header + one row per step with log_every=1
    curve = read_curve(r.curve)
    assert curve["global_iter"].tolist() == [1, 2, 3]
    assert curve["epoch"].tolist() == [0, 0, 1]  # 3 images, batch 2
    for name in ("loss_G_L1", "loss_G_GAN", "loss_D"):
        assert np.all(np.isfinite(curve[name])) and np.all(curve[name] >= 0)
    assert set(r.final_losses) == {"loss_G_L1", "loss_G_GAN", "loss_D"}


def test_train_sketch_is_deterministic_per_seed(sketch_run, dataset, tmp_path):
    kwargs = dict(width=TINY, side=32, steps=3, batch_size=2, log_every=1, progress=False, threads=1)
    again = train_sketch(dataset, tmp_path / "same", seed=3, **kwargs)
    assert_same(sketch_run.stage2, again.stage2)
    other = train_sketch(dataset, tmp_path / "other", seed=4, **kwargs)
    assert differs(sketch_run.stage2, other.stage2)


def test_train_sketch_on_drawings_shallow_bce_two_sets(dataset, tmp_path):
    second = make_set(tmp_path / "more", n=2)
    r = train_sketch(
        [dataset, second], tmp_path / "out", architecture="sketchnet_shallow", width=TINY, side=16, steps=2,
        batch_size=3, target="drawing", gan_loss="bce", progress=False, threads=1,
    )  # fmt: skip
    ckpt = load_checkpoint(r.stage2)
    assert ckpt.architecture == "sketchnet_shallow"
    assert [d["name"] for d in json.loads(ckpt.metadata["data"])] == ["ellipses", "more"]
    assert r.stage2.name == "SketchNet_shallow_stage2.safetensors"


def test_train_sketch_drawing_target_needs_drawings(tmp_path):
    bare = make_set(tmp_path / "nodraw", n=2, drawings=False)
    with pytest.raises(TrainingDataError, match="no drawing"):
        train_sketch(bare, tmp_path / "out", width=TINY, side=16, steps=1, target="drawing", progress=False, threads=1)
    # pencil targets are made from the photos, so the same set trains without drawings
    r = train_sketch(bare, tmp_path / "out", width=TINY, side=16, steps=1, batch_size=2, progress=False, threads=1)
    # with a single step both stages are that step
    assert [load_checkpoint(p).metadata["stage"] for p in (r.stage1, r.stage2)] == ["stage1", "stage2"]
    assert_same(r.stage1, r.stage2)


def test_changed_image_is_refused(tmp_path):
    damaged = make_set(tmp_path / "damaged", n=2)
    write_png(damaged / "images" / "img01.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(TrainingDataError, match="img01.png does not match its manifest hash"):
        train_mask(damaged, tmp_path / "out", width=TINY, steps=1, progress=False, threads=1)


def test_training_restores_global_torch_state_and_reports_progress(dataset, tmp_path, capsys):
    torch.manual_seed(999)
    expected = torch.rand(3)
    torch.manual_seed(999)
    was = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    train_sketch(dataset, tmp_path, width=TINY, side=16, steps=2, batch_size=2, prefix="Tiny", threads=1)
    assert torch.equal(torch.rand(3), expected)
    assert torch.are_deterministic_algorithms_enabled() == was
    assert torch.get_num_threads() == threads
    err = capsys.readouterr().err
    assert "train Tiny" in err and "2/2" in err and "loss_G_L1" in err
    assert (tmp_path / "Tiny_curve.csv").is_file()


def test_train_sketch_lines_target_without_critic_is_byte_identical_per_seed(dataset, tmp_path):
    from core.data.drawings import LINES_MAKER

    kwargs = dict(width=TINY, side=32, steps=3, batch_size=2, log_every=1, progress=False, threads=1, seed=5,
                  target="lines", adv_weight=0, ink_weight=4, lr_decay="cosine", command="workbench train sketch")
    r = train_sketch(dataset, tmp_path / "a", **kwargs)
    training = json.loads(load_checkpoint(r.stage2).metadata["training"])
    assert training["target"] == "lines" and training["target_maker"] == LINES_MAKER
    assert training["ink_weight"] == 4 and training["lr_decay"] == "cosine" and "xdog" in training["line_settings"]
    curve = read_curve(r.curve)
    assert np.all(curve["loss_D"] == 0) and np.all(curve["loss_G_GAN"] == 0)  # no critic was built
    assert np.all(curve["loss_G_L1"] > 0)
    again = train_sketch(dataset, tmp_path / "b", **kwargs)
    # the header is written with sorted keys, so equal tensors and metadata give equal files
    assert r.stage2.read_bytes() == again.stage2.read_bytes()
    assert differs(r.stage2, train_sketch(dataset, tmp_path / "c", **{**kwargs, "ink_weight": 1}).stage2)


def test_stabilised_checkpoint_loads_the_same_and_sorts_its_header(mask_run, tmp_path):
    import shutil
    import struct

    from core.training.loop import stabilise_checkpoint

    copy = tmp_path / "copy.safetensors"
    shutil.copy(mask_run.stage2, copy)
    stabilise_checkpoint(copy)
    assert_same(mask_run.stage2, copy)
    raw = copy.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length % 8 == 0
    header = json.loads(raw[8:8 + length])
    assert list(header) == sorted(header) and list(header["__metadata__"]) == sorted(header["__metadata__"])
    assert load_checkpoint(copy).metadata == load_checkpoint(mask_run.stage2).metadata


def test_new_training_options_are_checked_and_recorded(dataset, tmp_path):
    with pytest.raises(TrainingError, match="ink_weight >= 1"):
        train_sketch(dataset, tmp_path / "x", width=TINY, side=16, steps=1, ink_weight=0.5, progress=False)
    with pytest.raises(TrainingError, match="lr_decay"):
        train_sketch(dataset, tmp_path / "x", width=TINY, side=16, steps=1, lr_decay="step", progress=False)
    with pytest.raises(TrainingError, match="target must be one of pencil, drawing, lines"):
        train_sketch(dataset, tmp_path / "x", width=TINY, side=16, steps=1, target="xdog", progress=False)
    with pytest.raises(TrainingError, match="lr_decay"):
        train_mask(dataset, tmp_path / "x", width=TINY, steps=1, lr_decay="step", progress=False)
    r = train_mask(dataset, tmp_path / "m", width=TINY, steps=2, batch_size=2, lr_decay="cosine", progress=False,
                   threads=1)
    assert json.loads(load_checkpoint(r.stage2).metadata["training"])["lr_decay"] == "cosine"


# --------------------------------------------------------------------------- read_curve


def test_read_curve_reads_the_original_format(tmp_path):
    path = tmp_path / "curve.csv"
    path.write_text(
        "epoch,global_iter,loss_G_L1,loss_G_GAN,loss_D\n"
        "0,100,0.25,1.5,0.3\n"
        "0,200,0.2,1.25,nan\n"
        "\n"  # blank lines are skipped
        "1,300,0.125,1.0,0.25\n"
    )
    curve = read_curve(path)
    assert list(curve) == ["epoch", "global_iter", "loss_G_L1", "loss_G_GAN", "loss_D"]
    assert curve["epoch"].dtype == np.int64 and curve["epoch"].tolist() == [0, 0, 1]
    assert curve["global_iter"].tolist() == [100, 200, 300]
    assert curve["loss_G_L1"].tolist() == [0.25, 0.2, 0.125]
    assert np.isnan(curve["loss_D"][1])
    only_header = tmp_path / "empty_rows.csv"
    only_header.write_text("epoch,global_iter,loss_mask\n")
    assert read_curve(only_header)["loss_mask"].shape == (0,)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("step,loss\n1,0.5\n", "expected epoch,global_iter"),
        ("epoch,global_iter\n0,1\n", "at least one loss"),
        ("epoch,global_iter,loss,loss\n0,1,2,3\n", "repeated"),
        ("epoch,global_iter,loss\n0,1,0.5\n0,2\n", "line 3 has 2 values for 3 columns"),
        ("epoch,global_iter,loss\n0,1,abc\n", "line 2: loss is 'abc', not a number"),
        ("epoch,global_iter,loss\n0,1.5,0.1\n", "global_iter is '1.5', not a whole number"),
    ],
)
def test_read_curve_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CurveFormatError, match=message):
        read_curve(path)


def test_read_curve_missing_file(tmp_path):
    with pytest.raises(CurveFormatError, match="does not exist"):
        read_curve(tmp_path / "nope.csv")
