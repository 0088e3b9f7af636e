"""core.folders: the allowed roots, and folders and files refused outside them (``..``, symlinks out)."""

from __future__ import annotations

import os

import pytest

from core.errors import FolderError
from core.folders import DATA_ROOTS_ENV, allowed_file, allowed_folder, data_roots, inside


@pytest.fixture
def tree(tmp_path):
    """``root/`` (allowed) with a test set and a checkpoint, and ``outside/`` (not allowed) with the same."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    for base in (root, outside):
        (base / "set").mkdir(parents=True)
        (base / "set" / "a.png").write_bytes(b"png")
        (base / "net.safetensors").write_bytes(b"weights")
    return root, outside


def test_roots_are_runs_weights_the_environment_and_extras(tmp_path, monkeypatch):
    extra, env_root = tmp_path / "extra", tmp_path / "env"
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv(DATA_ROOTS_ENV, os.pathsep.join([str(env_root), "", str(env_root)]))
    roots = data_roots([extra, tmp_path / "runs"])
    real = os.path.realpath
    assert roots[:2] == [tmp_path.resolve() / "runs", tmp_path.resolve() / "w"]
    assert tmp_path.resolve() / "env" in roots and tmp_path.resolve() / "extra" in roots
    assert len(roots) == len({str(r) for r in roots})  # each once
    assert all(str(r) == real(r) for r in roots)


def test_a_folder_under_a_root_is_allowed(tree):
    root, _ = tree
    assert allowed_folder(root / "set", [root.resolve()]) == (root / "set").resolve()
    assert allowed_folder(root, [root.resolve()]) == root.resolve()
    assert allowed_file(root / "net.safetensors", [root.resolve()]) == (root / "net.safetensors").resolve()
    assert inside(root.resolve() / "set", [root.resolve()]) and not inside(root.resolve().parent, [root.resolve()])


def test_a_folder_outside_every_root_is_refused_with_the_way_out(tree):
    root, outside = tree
    with pytest.raises(FolderError, match="outside the allowed folders.*--data-root"):
        allowed_folder(outside / "set", [root.resolve()])
    with pytest.raises(FolderError, match="outside the allowed folders"):
        allowed_file(outside / "net.safetensors", [root.resolve()])
    with pytest.raises(FolderError, match="outside"):
        allowed_folder("/", [root.resolve()])
    # a sibling whose name only starts like the root is not inside it
    sibling = root.parent / (root.name + "2")
    sibling.mkdir()
    with pytest.raises(FolderError, match="outside"):
        allowed_folder(sibling, [root.resolve()])


def test_dot_dot_is_refused_even_when_it_lands_inside(tree):
    root, _ = tree
    for path in (root / "set" / ".." / "set", root / ".." / "outside" / "set", f"{root}/set/../../outside"):
        with pytest.raises(FolderError, match=r"contains '\.\.'"):
            allowed_folder(path, [root.resolve()])


def test_a_symlink_that_leaves_the_roots_is_refused(tree):
    root, outside = tree
    (root / "link").symlink_to(outside / "set", target_is_directory=True)
    with pytest.raises(FolderError, match="symlink leads out"):
        allowed_folder(root / "link", [root.resolve()])
    (root / "set" / "b.png").symlink_to(outside / "set" / "a.png")
    with pytest.raises(FolderError, match="b.png is a symlink that leads out"):
        allowed_folder(root / "set", [root.resolve()])
    (root / "ckpt").symlink_to(outside / "net.safetensors")
    with pytest.raises(FolderError, match="symlink leads out"):
        allowed_file(root / "ckpt", [root.resolve()])


def test_a_symlink_that_stays_inside_is_fine(tree):
    root, _ = tree
    (root / "alias").symlink_to(root / "set", target_is_directory=True)
    (root / "set" / "copy.png").symlink_to(root / "set" / "a.png")
    assert allowed_folder(root / "alias", [root.resolve()]) == (root / "set").resolve()


def test_missing_empty_and_wrong_kinds_are_named(tree):
    root, _ = tree
    with pytest.raises(FolderError, match="No folder given"):
        allowed_folder("  ", [root.resolve()])
    with pytest.raises(FolderError, match="is not a folder"):
        allowed_folder(root / "nope", [root.resolve()])
    with pytest.raises(FolderError, match="is not a folder"):
        allowed_folder(root / "net.safetensors", [root.resolve()])
    with pytest.raises(FolderError, match="is not a file"):
        allowed_file(root / "set", [root.resolve()])
    with pytest.raises(FolderError, match="no roots configured"):
        allowed_folder(root, [])


def test_a_huge_tree_is_refused_rather_than_walked(tree, monkeypatch):
    root, _ = tree
    monkeypatch.setattr("core.folders.MAX_ENTRIES", 1)
    (root / "set" / "b.png").write_bytes(b"png")
    with pytest.raises(FolderError, match="over 1 entries"):
        allowed_folder(root / "set", [root.resolve()])
