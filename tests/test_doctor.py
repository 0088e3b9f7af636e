"""``workbench doctor``: the device report (text and JSON) and the self-test, on a CPU (and a GPU when present)."""

from __future__ import annotations

import json

import torch

from core.cli.doctor import cuda_note, report_lines
from core.cli.main import main
from core.sweeps.bench import self_test
from tests.fixtures import cuda_only

CPU = {"name": "Test CPU", "threads": 2, "cores": 2, "memory_mb": 4096, "precisions": ["fp32", "bf16"]}
GPU = {"device": "cuda:0", "name": "Test GPU", "capability": "9.0", "memory_mb": 81920, "free_mb": 80000,
       "multiprocessors": 132, "precisions": ["fp32", "fp16", "bf16"]}


def info(**extra) -> dict:
    return {"torch": "2.9.0", "cuda": None, "cudnn": None, "driver": None, "cpu": CPU, "gpus": [], **extra}


def test_the_note_says_why_there_is_no_gpu():
    assert "CPU-only build" in cuda_note(info()) and "no CUDA device" in cuda_note(info())
    built = cuda_note(info(cuda="12.8"))
    assert "CUDA 12.8" in built and "CUDA_VISIBLE_DEVICES" in built
    assert cuda_note(info(cuda="12.8", gpus=[GPU])) is None


def test_the_text_report_lists_devices_precisions_and_checks():
    checks = [{"device": "cpu", "precision": "fp32", "cells": 4, "failed": 0, "seconds": 1.5, "within_2": 1.0,
               "identical": True, "ok": True},
              {"device": "cuda:0", "precision": "fp16", "cells": 4, "failed": 0, "seconds": 0.5, "within_2": 0.95,
               "ok": False}]
    text = "\n".join(report_lines(info(cuda="12.8", cudnn=91000, driver="570.1", gpus=[GPU], self_test=checks)))
    assert "Test CPU" in text and "4.0 GiB" in text and "precisions fp32, bf16" in text
    assert "cuda:0  Test GPU (compute 9.0, 132 SMs), 80.0 GiB" in text and "precisions fp32, fp16, bf16" in text
    assert "driver 570.1" in text and "no CUDA device" not in text
    assert "100.00%  identical to the original pipeline  ok" in text
    assert "95.00%  FAILED" in text


def test_doctor_json_without_self_test_describes_this_machine(capsys):
    assert main(["doctor", "--json", "--no-self-test"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and "self_test" not in out
    assert out["torch"] == torch.__version__ and out["cpu"]["precisions"][0] == "fp32"
    assert "fp16" not in out["cpu"]["precisions"]
    assert len(out["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if not out["gpus"]:
        assert "no CUDA device" in out["cuda_note"]


def test_doctor_self_test_on_this_machine(capsys):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: more threads only fight
    try:
        assert main(["doctor"]) == 0
    finally:
        torch.set_num_threads(previous)
    text = capsys.readouterr().out
    assert "self-test" in text
    assert "cpu     fp32  4 cells, 0 failed" in text and "identical to the original pipeline  ok" in text


@cuda_only
def test_self_test_on_the_gpu_matches_the_cpu():
    checks = self_test(["cuda"])
    cuda = [c for c in checks if c["device"].startswith("cuda")]
    assert {c["precision"] for c in cuda} >= {"fp32", "fp16"}
    fp32 = next(c for c in cuda if c["precision"] == "fp32")
    assert fp32["ok"] and fp32["within_2"] >= 0.999 and fp32["failed"] == 0
