"""Fixtures for the app tests: a temp store filled by a real small sweep, and the app's environment on a copy.

Registered with ``pytest_plugins = ["tests.app_fixtures"]`` in each app test
module (``tests/conftest.py`` belongs to another part of the suite). The
session-wide material (tiny checkpoints, generated images, one sweep) is
built once; tests that write get their own copy of the store folder.
"""

from __future__ import annotations

import pytest

from tests.app_helpers import SweptStore, fill_store


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
