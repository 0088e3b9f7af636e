"""``workbench bench``: refusals up front without CUDA, the fidelity measure, the CUDA bench's pieces on a CPU.

The CPU bench itself (minutes) is run by hand: ``workbench bench --json``; the CUDA bench by
``scripts/gpu-check.sh`` (and the ``cuda`` test here, on a GPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.cli.main import main
from core.errors import DeviceError
from core.sweeps.bench import (
    check_bench_device,
    fidelity,
    forward_throughput,
    make_workload,
    run_cuda_bench,
    sweep_sketches,
    within_levels,
)
from tests.fixtures import cuda_only

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")


@no_cuda
@pytest.mark.parametrize(("flags", "says"), [
    (["--device", "cuda"], "CUDA is not available here"),
    (["--device", "cuda:0", "--json"], "CUDA is not available here"),
    (["--precision", "fp16"], "bench --precision fp16 times the CUDA path"),
    (["--precision", "bf16"], "bench --precision bf16 times the CUDA path"),
    (["--device", "cpu", "--precision", "fp32", "fp16"], "needs a CUDA device"),
])
def test_cuda_figures_asked_for_without_cuda_fail_at_once_in_one_line(flags, says, capsys):
    assert main(["bench", *flags]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]


def test_fp32_and_cpu_pass_the_check():
    assert check_bench_device("cpu", ["fp32"]) == torch.device("cpu")
    assert check_bench_device("cpu", None) == torch.device("cpu")
    with pytest.raises(DeviceError, match="unknown precision"):
        check_bench_device("cpu", ["fp8"])


def test_several_resolutions_are_refused_for_the_cpu_bench(capsys):
    assert main(["bench", "--resolution", "424", "848"]) == 2
    assert "--device cuda" in capsys.readouterr().err


@no_cuda
def test_the_cuda_bench_refuses_a_cpu():
    with pytest.raises(DeviceError):
        run_cuda_bench("cpu")


def test_within_levels_is_the_share_of_pixels_at_most_two_grey_levels_apart():
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :5] = 2  # within
    b[1, :5] = 3  # not
    b[2, :2] = 255  # not, and no wrap-around of uint8
    assert within_levels(a, b) == pytest.approx(0.93)
    assert within_levels(b, a) == pytest.approx(0.93)
    assert within_levels(a, a) == 1.0
    assert fidelity({"x": a, "y": b}, {"x": a, "y": a, "z": a}) == pytest.approx(0.93)  # worst shared cell
    assert fidelity({"x": a}, {}) is None


@pytest.fixture(scope="module")
def small_work(tmp_path_factory):
    return make_workload(tmp_path_factory.mktemp("bench"), images=2, resolution=64, width=0.0625, per_role=1,
                         size=(48, 64))


def test_a_small_workload_has_the_asked_shape(small_work):
    assert len(small_work.masks) == len(small_work.sketches) == 1
    assert len(list(small_work.images.iterdir())) == 2
    assert len(small_work.configs) == 2  # soft and hard


def test_the_forward_throughput_is_measured_on_the_cpu_too(small_work):
    per_s, batch = forward_throughput(small_work.sketches[0], 64, "fp32", torch.device("cpu"), seconds=0.2)
    assert per_s > 0 and batch >= 1


def test_bench_sweeps_return_their_sketches_by_image_mask_and_mode(small_work, tmp_path):
    seconds, sketches, info = sweep_sketches(small_work.images, small_work.sketches, small_work.masks, 64, "fp32",
                                             "cpu", tmp_path / "w.db", modes=("soft", "hard"))
    assert seconds > 0 and info["failed"] == 0 and len(info["rows"]) == 4
    assert len(sketches) == 4 and {k[2] for k in sketches} == {"soft", "hard"}
    assert all(s.dtype == np.uint8 and s.shape == (48, 64) for s in sketches.values())


@cuda_only
def test_cuda_bench_figures(tmp_path):
    result = run_cuda_bench("cuda", sides=(128,), images=4, width=0.25, root=tmp_path)
    assert result["device"].startswith("cuda") and result["rows"]
    for row in result["rows"]:
        assert row["failed"] == 0 and row["engine_images_per_s"] > 0 and row["forward_images_per_s"] > 0
        if row["precision"] == "fp32":
            assert row["within_2_vs_cpu_fp32"] >= 0.999, row


def load_report_script():
    import importlib.util

    from tests.fixtures import REPO_ROOT

    spec = importlib.util.spec_from_file_location("gpu_report", REPO_ROOT / "scripts" / "gpu_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_report_renders_figures_and_acceptance(tmp_path):
    import json

    report = load_report_script()
    gpu = {"device": "cuda:0", "name": "H200", "capability": "9.0", "memory_mb": 143000, "free_mb": 140000,
           "multiprocessors": 132, "precisions": ["fp32", "fp16", "bf16"]}
    doctor = {"torch": "2.11.0+cu130", "cuda": "13.0", "cudnn": 91000, "driver": "580.1",
              "cpu": {"name": "x", "cores": 16, "threads": 16, "memory_mb": 131072, "precisions": ["fp32"]},
              "gpus": [gpu], "self_test": [{"device": "cuda:0", "precision": "fp32", "cells": 4, "failed": 0,
                                            "seconds": 1.0, "within_2": 1.0, "ok": True}], "ok": True}
    row = {"side": 848, "batch": 8, "failed": 0, "engine_images_per_s": 90.0, "forward_images_per_s": 100.0,
           "engine_share": 0.9, "writer_cells_per_s": 120.0}
    bench = {"device": "cuda:0", "device_name": "H200", "torch": "2.11", "cuda": "13.0", "cudnn": 91000,
             "images": 16, "image_size": [384, 512], "width": 1.0,
             "rows": [dict(row, precision="fp32", within_2_vs_cpu_fp32=0.9995),
                      dict(row, precision="fp16", engine_share=0.5, within_2_vs_cpu_fp32=0.98)]}
    (tmp_path / "d.json").write_text("log line\n" + json.dumps(doctor) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(bench))
    (tmp_path / "t.txt").write_text("SKIPPED [1] x: needs a CUDA GPU\n===== 7 passed, 1 skipped in 3.2s =====\n")
    out = tmp_path / "gpu.md"
    assert report.main(["--doctor", str(tmp_path / "d.json"), "--tests", str(tmp_path / "t.txt"),
                        "--bench", str(tmp_path / "b.json"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| cuda:0 | H200 | 9.0 |" in text and "driver 580.1" in text
    assert "`7 passed, 1 skipped in 3.2s`" in text and "needs a CUDA GPU" in text
    assert "| 848 | fp32 | 8 | 90.0 | 100.0 | 0.90 | 120.0 | 99.950% | 0 |" in text
    assert "of pixels within 2 grey levels: yes" in text
    assert "forward throughput: **no** (50%)" in text


def test_the_gpu_report_says_what_was_not_measured(tmp_path):
    report = load_report_script()
    (tmp_path / "err.txt").write_text("error: device 'cuda' asked for, but CUDA is not available here\n")
    out = tmp_path / "gpu.md"
    report.main(["--bench", str(tmp_path / "none.json"), "--bench-error", str(tmp_path / "err.txt"),
                 "--out", str(out)])
    text = out.read_text()
    assert "Not measured: device 'cuda' asked for, but CUDA is not available here." in text
    assert "## CUDA tests" in text and "Not run." in text
