"""``core.models.devices``: device names, precision checks and autocast dtypes, without needing a GPU."""

from __future__ import annotations

import pytest
import torch

from core.errors import DeviceError, WorkbenchError
from core.models.devices import PRECISIONS, autocast_dtype, check_precision, resolve_device
from tests.fixtures import cuda_only


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend this machine has ``n`` CUDA GPUs (0 = none); torch.device objects need no real GPU."""

    def fake(n: int, bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return fake


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert isinstance(exc.value, WorkbenchError)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


@pytest.mark.parametrize("name", ["auto", "", None, " AUTO "])
def test_auto_is_cuda_when_present_else_cpu(name, fake_gpus):
    fake_gpus(0)
    assert resolve_device(name) == torch.device("cpu")
    fake_gpus(2)
    assert resolve_device(name) == torch.device("cuda")


@pytest.mark.parametrize("name", ["cpu", "CPU", " cpu "])
def test_cpu_is_always_there(name, fake_gpus):
    fake_gpus(0)
    assert resolve_device(name) == torch.device("cpu")


def test_cuda_and_an_index_that_exists(fake_gpus):
    fake_gpus(2)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("CUDA:0") == torch.device("cuda", 0)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused_with_the_way_out(name, fake_gpus):
    fake_gpus(0)
    with pytest.raises(DeviceError) as exc:
        resolve_device(name)
    text = _one_line(exc)
    assert repr(name) in text and "not available" in text and "--device cpu" in text


def test_gpu_index_beyond_the_machine_is_refused(fake_gpus):
    fake_gpus(2)
    with pytest.raises(DeviceError) as exc:
        resolve_device("cuda:5")
    text = _one_line(exc)
    assert "'cuda:5' does not exist" in text and "2 GPU(s)" in text


@pytest.mark.parametrize("gpus", [0, 1], ids=["no-gpu", "gpu"])
@pytest.mark.parametrize("name", ["gpu", "mps", "tpu", "cuda:x", "cuda:-1", "cuda0", "cuda:1:2", "cpu:0", "0"])
def test_bad_device_names_are_one_line_errors(name, gpus, fake_gpus):
    """Unknown names are refused the same way whether or not CUDA is there (never torch's RuntimeError)."""
    fake_gpus(gpus)
    with pytest.raises(DeviceError) as exc:
        resolve_device(name)
    text = _one_line(exc)
    assert text == f"unknown device {name!r}; use auto, cpu, cuda or cuda:N"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cpu_precisions(precision):
    assert check_precision(precision, torch.device("cpu")) == precision


def test_fp16_is_refused_on_the_cpu():
    with pytest.raises(DeviceError) as exc:
        check_precision("fp16", torch.device("cpu"))
    assert "fp16 is not supported on the CPU" in _one_line(exc)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_cuda_precisions_when_bf16_is_supported(precision, fake_gpus):
    fake_gpus(1, bf16=True)
    assert check_precision(precision, torch.device("cuda")) == precision


def test_bf16_refused_on_a_gpu_without_it(fake_gpus):
    fake_gpus(1, bf16=False)
    with pytest.raises(DeviceError) as exc:
        check_precision("bf16", torch.device("cuda"))
    assert "does not support bf16" in _one_line(exc)
    assert check_precision("fp16", torch.device("cuda")) == "fp16"


@pytest.mark.parametrize("precision", ["fp8", "FP32", "float32", "", "half"])
def test_unknown_precisions_are_refused(precision):
    with pytest.raises(DeviceError) as exc:
        check_precision(precision, torch.device("cpu"))
    text = _one_line(exc)
    assert repr(precision) in text and "fp32, fp16, bf16" in text


def test_autocast_dtype():
    assert autocast_dtype("fp32") is None
    assert autocast_dtype("fp16") is torch.float16
    assert autocast_dtype("bf16") is torch.bfloat16


@cuda_only
def test_real_gpu():
    """On a machine with a GPU: the names resolve to devices a tensor can live on."""
    for name in ("auto", "cuda", "cuda:0"):
        device = resolve_device(name)
        assert torch.zeros(1, device=device).device.type == "cuda"
    assert check_precision("fp16", resolve_device("cuda")) == "fp16"


def test_supported_precisions_follow_the_checks(fake_gpus):
    from core.models.devices import supported_precisions

    fake_gpus(1, bf16=True)
    assert supported_precisions(torch.device("cpu")) == ["fp32", "bf16"]
    assert supported_precisions(torch.device("cuda")) == ["fp32", "fp16", "bf16"]
    fake_gpus(1, bf16=False)
    assert supported_precisions(torch.device("cuda")) == ["fp32", "fp16"]


def test_describe_devices_without_a_gpu(fake_gpus):
    import json

    from core.models.devices import describe_devices

    fake_gpus(0)
    info = describe_devices()
    json.dumps(info)  # JSON-ready
    assert info["gpus"] == [] and info["driver"] is None and info["torch"] == torch.__version__
    cpu = info["cpu"]
    assert cpu["cores"] >= 1 and cpu["threads"] >= 1 and cpu["memory_mb"] > 0 and cpu["name"]
    assert cpu["precisions"] == ["fp32", "bf16"]


@cuda_only
def test_describe_devices_lists_every_gpu():
    from core.models.devices import describe_devices

    info = describe_devices()
    assert len(info["gpus"]) == torch.cuda.device_count() and info["cuda"] and info["cudnn"]
    for gpu in info["gpus"]:
        assert gpu["memory_mb"] >= gpu["free_mb"] > 0 and "fp32" in gpu["precisions"] and "fp16" in gpu["precisions"]


@cuda_only
def test_fp32_on_cuda_means_fp32_after_prepare_device():
    from core.models.inference import prepare_device

    prepare_device(torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
