"""``core.sweeps.local``: one engine per device sharing the work, checked on a CPU by giving it two "devices"."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models import devices as devices_module
from core.models.devices import local_devices
from core.sweeps import local as local_module
from core.sweeps.engine import CellEngine
from tests.fixtures import make_test_set, sweep_rows


@pytest.fixture
def two_devices(monkeypatch):
    """The local executor computes on two CPU "devices", as it would on two GPUs; returns the engines it ran."""
    engines = []
    run_engines = local_module.run_engines

    def spy(*args, **kwargs):
        engines.extend(run_engines(*args, **kwargs))
        return engines

    monkeypatch.setattr(devices_module, "local_devices", lambda name: [torch.device("cpu"), torch.device("cpu")])
    monkeypatch.setattr(local_module, "run_engines", spy)
    return engines


def test_every_visible_gpu_for_cuda_and_auto_one_when_pinned(monkeypatch):
    assert local_devices("cpu") == [torch.device("cpu")]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    every = [torch.device("cuda", i) for i in range(3)]
    assert local_devices("cuda") == every
    assert local_devices("auto") == every
    assert local_devices("cuda:1") == [torch.device("cuda", 1)]


def test_two_engines_share_the_images_and_give_the_one_engine_cells(unbatched, two_devices, tmp_path):
    spec, _, rows, sketches = unbatched
    summary, got_rows, got = sweep_rows(spec, tmp_path / "two.db")
    assert summary.status == "done" and summary.failed == 0 and summary.device == "cpu, cpu"
    assert set(got_rows) == set(rows)
    for key, sketch in sketches.items():
        assert np.array_equal(got[key], sketch)
    assert len(two_devices) == 2 and all(e.done > 0 for e in two_devices)  # both took images
    assert sum(e.done for e in two_devices) == len(rows)  # and no cell ran twice


def test_two_batching_engines_take_windows_from_the_same_feed(unbatched, two_devices, monkeypatch, tmp_path):
    spec, _, rows, sketches = unbatched
    monkeypatch.setattr(CellEngine, "batches_on", staticmethod(lambda device: True))
    monkeypatch.setattr(CellEngine, "WINDOW", 1)
    summary, got_rows, got = sweep_rows(spec, tmp_path / "batched.db")
    assert summary.status == "done" and summary.failed == 0
    assert set(got_rows) == set(rows)
    for key, sketch in sketches.items():
        assert (np.abs(got[key].astype(int) - sketch.astype(int)) <= 2).mean() >= 0.998
    assert sum(e.done for e in two_devices) == len(rows)


def test_an_engine_that_fails_stops_the_other_and_its_error_is_raised(unbatched, two_devices, monkeypatch,
                                                                      tmp_path):
    from core.store.store import Store

    images = make_test_set(tmp_path / "six", sizes=[(64, 80)] * 6)
    spec = unbatched[0].model_copy(update={"images": [str(images)]})
    original = CellEngine.run_image
    calls = []

    def run_image(self, cells):
        calls.append(self)
        if len(calls) == 2:
            raise RuntimeError("the device fell off the bus")
        return original(self, cells)

    monkeypatch.setattr(CellEngine, "run_image", run_image)
    with pytest.raises(RuntimeError, match="fell off the bus"):
        sweep_rows(spec, tmp_path / "fail.db")
    with Store(tmp_path / "fail.db", readonly=True) as store:
        sweep = store.sweeps()[0]
    assert sweep["status"] == "interrupted" and "fell off the bus" in sweep["error"]
    assert len(calls) < 6  # the other engine stopped instead of going on through the six images


def test_a_writer_that_cannot_close_after_a_failure_is_logged_and_the_first_error_kept(unbatched, monkeypatch,
                                                                                      tmp_path, caplog):
    from core.store.store import Store
    from core.sweeps.writer import ResultWriter

    def run_image(self, cells):
        raise RuntimeError("the device fell off the bus")

    original_close = ResultWriter.close

    def close(self):  # its threads stop, then writing is found to have failed
        original_close(self)
        raise OSError("No space left on device")

    monkeypatch.setattr(CellEngine, "run_image", run_image)
    monkeypatch.setattr(ResultWriter, "close", close)
    with caplog.at_level("WARNING", logger="core.sweeps.local"), pytest.raises(RuntimeError, match="off the bus"):
        sweep_rows(unbatched[0], tmp_path / "full.db")
    with Store(tmp_path / "full.db", readonly=True) as store:
        sweep = store.sweeps()[0]
    assert sweep["status"] == "interrupted" and "fell off the bus" in sweep["error"]
    logged = [r for r in caplog.records if "closing the result writer after RuntimeError" in r.getMessage()]
    assert logged, "the writer's failure to close was not logged"
    assert "No space left on device" in str(logged[0].exc_info[1])
