"""Every pytest fixture of the suite: tiny networks and checkpoints, generated images, the seed material, swept stores.

The builders behind them live in ``tests/fixtures.py``, which test modules also
import by name. Nothing else is registered as a plugin.

The seed material (layouts, reference forwards, make_test_checkpoint.py) lives
beside the repository in ``../shared/seed`` and is read in place, never copied
into the repository; tests that need it skip when it is absent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.fixtures")

# imported after the registration, so that its asserts are rewritten too
from tests.fixtures import (
    ARCHS,
    CLI,
    SEED_DIR,
    SEED_FILE_NAMES,
    SweptStore,
    app_weights,
    fill_store,
    make_photo,
    make_test_set,
    small_spec,
    sweep_rows,
    sweep_weights,
    tiny_net,
    worker_env,
    write_scene,
)

# --------------------------------------------------------------------------- every test


@pytest.fixture(autouse=True)
def _main_module_restored():
    """Put back ``sys.modules["__main__"]`` after each test.

    Streamlit's script runner (so every AppTest) installs the app script as ``__main__`` and leaves it
    there; a later ``multiprocessing`` "spawn" child would re-run that script (a temporary file for
    ``AppTest.from_function``, which fails outside AppTest) before the target it was started for.
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


# --------------------------------------------------------------------------- seed material


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The read-only seed material, or a skip when ../shared/seed is not beside the repository."""
    if not SEED_DIR.is_dir():
        pytest.skip(f"seed material not found at {SEED_DIR} (it lives beside the repository, in ../shared/seed)")
    return SEED_DIR


@pytest.fixture(scope="session")
def seed_maker(seed_dir):
    """The seed's make_test_checkpoint module, imported from its shared path."""
    path = seed_dir / "make_test_checkpoint.py"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    spec = importlib.util.spec_from_file_location("seed_make_test_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def seed_checkpoints(seed_maker, seed_dir, tmp_path_factory) -> dict[str, Path]:
    """Seed-format ``.pth`` files (all alias names, default seed and gain) for the four layouts."""
    import torch

    out = tmp_path_factory.mktemp("seed-checkpoints")
    paths = {}
    for arch in ARCHS:
        state = seed_maker.make_state_dict(seed_dir / "checkpoint-layouts" / f"{arch}.json")
        paths[arch] = out / f"{arch}.pth"
        torch.save(state, paths[arch])
    return paths


@pytest.fixture(scope="session")
def seed_loaded(seed_checkpoints):
    """``load(arch)``: the seed file of ``arch`` through load_checkpoint, loaded once per session."""
    from core.models.checkpoints import load_checkpoint

    cache = {}

    def load(arch: str):
        if arch not in cache:
            cache[arch] = load_checkpoint(seed_checkpoints[arch])
        return cache[arch]

    return load


# --------------------------------------------------------------------------- tiny networks and checkpoints


@pytest.fixture(scope="session")
def tiny_nets() -> dict:
    """One randomised network per architecture at width 1/8 (shared: do not modify them)."""
    return {arch: tiny_net(arch) for arch in ARCHS}


@pytest.fixture(scope="session")
def tiny_safetensors(tiny_nets, tmp_path_factory) -> dict[str, Path]:
    """The tiny networks written by save_checkpoint (one name per tensor, width in the metadata)."""
    from core.models.checkpoints import save_checkpoint

    out = tmp_path_factory.mktemp("tiny-safetensors")
    return {arch: save_checkpoint(net, out / f"{arch}.safetensors", arch) for arch, net in tiny_nets.items()}


@pytest.fixture(scope="session")
def seed_weights_dir(tmp_path_factory) -> Path:
    """A weights folder with the original file names, holding tiny nets saved as plain state_dicts.

    The two Sketch Nets have different seeds, so a test can tell which file a command used.
    """
    import torch

    out = tmp_path_factory.mktemp("weights")
    for name, (arch, width, seed) in SEED_FILE_NAMES.items():
        # model.state_dict() keeps every alias name, as the original files do
        torch.save(tiny_net(arch, width, seed).state_dict(), out / name)
    return out


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> dict[str, Path]:
    """Safetensors for sweeps: two Mask Net v2, one Mask Net v1 and two deep Sketch Nets (see sweep_weights)."""
    return sweep_weights(tmp_path_factory.mktemp("sweep-weights"))


@pytest.fixture(scope="session")
def net_factory():
    """``tiny_net(arch, width, seed)`` as a fixture: a fresh randomised network the test may change."""
    return tiny_net


# --------------------------------------------------------------------------- images


@pytest.fixture(scope="session")
def image_factory():
    """``make_photo(h, w, seed)`` as a fixture, for tests that need generated photos."""
    return make_photo


@pytest.fixture
def image_dir(tmp_path) -> Path:
    """A test set of three small images, one of them in a subfolder."""
    folder = tmp_path / "set"
    write_scene(folder / "a.png", 1)
    write_scene(folder / "b.jpg", 2, 80, 60)
    write_scene(folder / "sub" / "c.png", 3, 64, 64)
    return folder


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="session")
def cli_env(seed_weights_dir) -> dict[str, str]:
    """Environment for CLI subprocesses: the tiny weights folder, no torch load overrides."""
    return worker_env(one_thread=False, WORKBENCH_WEIGHTS=str(seed_weights_dir))


@pytest.fixture(scope="session")
def cli_cmd() -> list[str]:
    """The command prefix that runs the workbench CLI with this interpreter."""
    return list(CLI)


# --------------------------------------------------------------------------- the app's store


@pytest.fixture(scope="session")
def unbatched(tmp_path_factory):
    """The small sweep (with merge on and off) computed the CPU way: image by image, unbatched, one device.

    Returns ``(spec, summary, {cell key: row}, {cell key: stored sketch})``.
    """
    base = tmp_path_factory.mktemp("unbatched")
    spec = small_spec(make_test_set(base / "set"), app_weights(base / "weights"), merges=[False, True])
    return (spec, *sweep_rows(spec, base / "store" / "w.db"))


@pytest.fixture(scope="session")
def swept(tmp_path_factory) -> SweptStore:
    """The shared, read-only store filled by the small sweep (3 images x 17 configurations)."""
    return fill_store(tmp_path_factory.mktemp("swept"))


@pytest.fixture
def app_store(swept, tmp_path, monkeypatch) -> SweptStore:
    """A private copy of the swept store, with the app's environment pointing at it."""
    store = swept.copy_to(tmp_path / "store")
    monkeypatch.setenv("WORKBENCH_DB", str(store.db))
    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(store.weights))
    monkeypatch.setenv("WORKBENCH_USER", "tester")
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    return store
