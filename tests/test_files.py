"""``core.files.write_atomic``: the umask's mode, no temp file left behind, an existing file replaced whole."""

from __future__ import annotations

import os
import stat

import pytest

from core.files import write_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


def test_new_file_is_readable_by_group_and_others_under_umask_022(umask, tmp_path):
    umask(0o022)
    path = write_atomic(tmp_path / "out" / "sketch.png", b"data")
    assert path == tmp_path / "out" / "sketch.png"
    assert path.read_bytes() == b"data"
    assert _mode(path) == 0o644
    assert _mode(path) & (stat.S_IRGRP | stat.S_IROTH) == stat.S_IRGRP | stat.S_IROTH


def test_new_file_is_0640_under_umask_027(umask, tmp_path):
    umask(0o027)
    assert _mode(write_atomic(tmp_path / "a.bin", b"x")) == 0o640


def test_mode_is_what_open_would_give(umask, tmp_path):
    """Whatever the umask, the mode equals that of a file made by a plain ``open(path, "wb")``."""
    for mask in (0o002, 0o077, 0o022):
        umask(mask)
        plain = tmp_path / f"plain-{mask:o}"
        plain.write_bytes(b"")
        assert _mode(write_atomic(tmp_path / f"atomic-{mask:o}", b"")) == _mode(plain)


def test_existing_file_is_replaced_atomically(umask, tmp_path, monkeypatch):
    """Until the rename the old file is whole at the path and the new bytes are whole in the temp file."""
    umask(0o022)
    path = tmp_path / "cell.png"
    path.write_bytes(b"old contents")
    reader = open(path, "rb")  # a reader that opened the old file keeps reading the old file
    old_inode = os.stat(path).st_ino
    seen = {}
    real_replace = os.replace

    def watching_replace(src, dst):
        seen["at_path"] = open(dst, "rb").read()
        seen["in_temp"] = open(src, "rb").read()
        seen["temp_in_same_folder"] = os.path.dirname(os.fspath(src)) == os.fspath(tmp_path)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    try:
        write_atomic(path, b"new contents, longer than the old ones")
        assert seen == {"at_path": b"old contents", "in_temp": b"new contents, longer than the old ones",
                        "temp_in_same_folder": True}
        assert path.read_bytes() == b"new contents, longer than the old ones"
        assert os.stat(path).st_ino != old_inode, "the file was rewritten in place, not replaced"
        assert reader.read() == b"old contents"
    finally:
        reader.close()
    assert _leftovers(tmp_path) == []


def test_temp_file_is_removed_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "cell.png"
    path.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, b"new")
    assert _leftovers(tmp_path) == []
    assert path.read_bytes() == b"old", "a failed write must leave the old file as it was"


def test_temp_file_is_removed_when_the_write_fails(tmp_path):
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "cell.png", "text, not bytes")
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "cell.png").exists()


def test_temp_file_is_removed_on_interrupt(tmp_path, monkeypatch):
    """Ctrl-C in the middle (a BaseException) cleans up too."""

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "cell.png", b"data")
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "cell.png").exists()


# --------------------------------------------------------------------------- PNG text chunks


def test_png_text_chunk_round_trips_and_leaves_the_pixels_alone():
    import cv2
    import numpy as np

    from core.files import encode_png, png_text, png_with_text

    img = (np.arange(48 * 40) % 251).astype(np.uint8).reshape(48, 40)
    plain = encode_png(img, 1)
    text = '{"torch": "2.5", "note": "ünïcode ✓"}'
    tagged = png_with_text(plain, "sketch-workbench-provenance", text)
    assert tagged != plain and png_text(tagged) == {"sketch-workbench-provenance": text}
    assert png_text(plain) == {}
    decoded = cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded, img)
    # Another reader (Pillow) sees the same chunk and the same pixels.
    import io

    from PIL import Image

    with Image.open(io.BytesIO(tagged)) as im:
        im.load()
        assert im.text["sketch-workbench-provenance"] == text
        assert np.array_equal(np.asarray(im), img)


def test_png_text_reads_files_and_tolerates_other_data(tmp_path):
    import numpy as np

    from core.errors import WorkbenchError
    from core.files import encode_png, png_text, png_with_text

    data = png_with_text(encode_png(np.zeros((4, 4), np.uint8)), "k", "v")
    (tmp_path / "a.png").write_bytes(data)
    assert png_text(tmp_path / "a.png") == {"k": "v"} == png_text(str(tmp_path / "a.png"))
    assert png_text(b"not a png") == {}
    assert png_text(data[:40]) == {}  # cut inside the text chunk: nothing half-read
    with pytest.raises(WorkbenchError, match="not a PNG"):
        png_with_text(b"GIF89a", "k", "v")
    with pytest.raises(WorkbenchError, match="keyword"):
        png_with_text(data, "", "v")
