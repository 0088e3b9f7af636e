"""The ``workbench`` command line end to end, on generated images and tiny checkpoints.

Real subprocesses show what a user sees (stray warnings, tracebacks, exit
status). Each one that loads torch costs seconds to start, so those runs are
launched together by one module fixture, a few at a time; the remaining error
cases call ``core.cli.main.main`` in-process, which shares the same error handling.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.models.checkpoints import load_checkpoint
from core.pipeline.seed import SeedSettings, run_seed, saved_sketch
from tests.fixtures import write_image, write_malicious

VEC = 90  # --vec_input_sz for the runs: small files, same rule


@dataclass
class Run:
    """One finished CLI run."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    out: Path | None = None  # its --outpath, if any

    def __str__(self) -> str:  # shown by pytest when an assertion about the run fails
        return f"workbench {shlex.join(self.args)} -> {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _rgb_png(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None, f"{path} is not a readable PNG"
    return bgr[..., ::-1] if bgr.ndim == 3 else bgr


def _one_error_line(run: Run) -> str:
    """Assert the run failed with exactly one stderr line, 'error: ...', and no traceback; return it."""
    assert run.returncode != 0, run
    assert "Traceback" not in run.stderr, run
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), run
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory, seed_weights_dir, tiny_nets, image_factory) -> dict:
    """Input files for the runs: images, good and bad checkpoints."""
    root = tmp_path_factory.mktemp("cli")
    images = root / "images"
    images.mkdir()
    portrait, landscape = image_factory(90, 61, seed=1), image_factory(61, 90, seed=2)
    write_image(images / "portrait.png", portrait)
    write_image(images / "landscape.png", landscape)
    (images / "broken.jpg").write_text("this is not a JPEG\n")
    (images / "notes.txt").write_text("ignored: not an image name\n")
    single = root / "single.png"
    write_image(single, image_factory(45, 70, seed=3))

    bad = root / "bad"
    bad.mkdir()
    write_malicious(bad / "evil.pth", "system-torch-save", bad / "pwned-system", tiny_nets["sketchnet_shallow"])
    write_malicious(bad / "evil-raw.pth", "open-raw", bad / "pwned-open", protocol=4)
    torch.save({"encoder.weight": torch.zeros(4, 3), "encoder.bias": torch.zeros(4)}, bad / "wrong.pth")
    data = (seed_weights_dir / "G_net.pth").read_bytes()
    (bad / "cut.pth").write_bytes(data[: len(data) // 2])
    empty_weights = root / "no-weights"
    empty_weights.mkdir()
    return {
        "root": root, "images": images, "single": single, "portrait": portrait, "landscape": landscape,
        "bad": bad, "weights": seed_weights_dir, "empty_weights": empty_weights,
    }


@pytest.fixture(scope="module")
def runs(work, cli_env, cli_cmd) -> dict[str, Run]:
    """The subprocess runs of this module, executed together, three at a time."""
    bad, root = work["bad"], work["root"]
    single = str(work["single"])

    def pipeline(name, *flags, env=None):
        out = root / f"out-{name}"
        args = ["pipeline", "--datapath", single, "--outpath", str(out), "--vec_input_sz", str(VEC), *flags]
        return name, args, out, env

    specs = [
        # a raw protocol-4 pickle (torch prints a warning for those unless the loader silences it),
        # with the variable that turns torch.load's safety off by default set from process start
        pipeline("pipeline-malicious", "--mask-checkpoint", str(bad / "evil-raw.pth"),
                 env={**cli_env, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}),
        pipeline("pipeline-resolution-0", "--resolution", "0", "--background", "False", "--vec_switch", "True"),
        ("pipeline-folder",
         ["pipeline", "--datapath", str(work["images"]), "--outpath", str(root / "out-folder"),
          "--vec_input_sz", str(VEC), "--version", "1", "--maskmode", "hard", "--softctr", "0.3",
          "--merge", "True", "--gamma", "False"],
         root / "out-folder", None),
    ]

    def execute(spec):
        name, args, out, env = spec
        proc = subprocess.run([*cli_cmd, *args], env=env or cli_env, cwd=root, capture_output=True,
                              timeout=300, encoding="utf-8", errors="replace")
        return name, Run(args, proc.returncode, proc.stdout, proc.stderr, out)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(execute, specs))


# --------------------------------------------------------------------------- startup and flags


def test_parser_does_not_import_torch(cli_env):
    """Building the parser (what --help and flag errors need) leaves torch unimported."""
    code = "import core.cli.main, sys; core.cli.main.build_parser(); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_console_script_help(cli_env):
    """The installed ``workbench`` script runs and lists its commands."""
    script = Path(sys.executable).with_name("workbench")
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (package not installed)")
    proc = subprocess.run([str(script), "--help"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pipeline" in proc.stdout and "inspect" in proc.stdout


def test_version(cli_env):
    """``workbench --version`` prints the installed distribution's version (the console script, or -m)."""
    from importlib.metadata import version

    import core

    script = Path(sys.executable).with_name("workbench")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "core.cli.main"]
    proc = subprocess.run([*cmd, "--version"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"workbench {version('sketch-workbench')}\n"
    assert version("sketch-workbench") == core.__version__  # one source: pyproject reads core.__version__


def test_version_without_installed_metadata(monkeypatch, capsys):
    """From a plain checkout (no distribution installed) the version falls back to ``core.__version__``."""
    import importlib.metadata

    import core
    from core.cli.main import main

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"workbench {core.__version__}\n"


@pytest.mark.parametrize(
    "flags,mentions",
    [
        (["--maskmode", "foo"], "foo"),
        (["--softctr", "2"], "--softctr"),
        (["--softctr", "abc"], "--softctr"),
        (["--version", "3"], "--version"),
        (["--gamma", "maybe"], "maybe"),
        (["--vec_input_sz", "0"], "--vec_input_sz"),
        (["--resolution", "x"], "--resolution"),
        (["--vec_switch", "maybe"], "maybe"),
    ],
)
def test_bad_flag_values_fail(flags, mentions, cli_env, cli_cmd, tmp_path):
    """A bad flag value fails before any work, naming the flag or value, without a traceback."""
    proc = subprocess.run([*cli_cmd, "pipeline", "--datapath", str(tmp_path), *flags], env=cli_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "error:" in last and mentions in last


def test_missing_datapath(work, capfd, monkeypatch, tmp_path):
    """A --datapath that does not exist is a one-line usage error (exit status 2)."""
    run = _main(["pipeline", "--datapath", str(tmp_path / "nope")], capfd, monkeypatch, work)
    assert "nope" in _one_error_line(run) and run.returncode == 2


def test_datapath_without_images(work, capfd, monkeypatch, tmp_path):
    """A folder with no image files says which extensions count."""
    (tmp_path / "readme.txt").write_text("no images here")
    run = _main(["pipeline", "--datapath", str(tmp_path)], capfd, monkeypatch, work)
    assert ".png" in _one_error_line(run)


# --------------------------------------------------------------------------- inspect


def test_inspect_json(work, tiny_nets, capfd, monkeypatch):
    """``inspect --json`` prints one JSON object with the detected facts."""
    run = _main(["inspect", str(work["weights"] / "MaskNet_v2_stage1.pth"), "--json"], capfd, monkeypatch, work)
    assert run.returncode == 0, run
    info = json.loads(run.stdout)
    path = work["weights"] / "MaskNet_v2_stage1.pth"
    assert info["architecture"] == "masknet_v2"
    assert info["width"] == 1 / 8
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # the same architecture and width as the tiny net, so the same number of learnable values
    assert info["parameters"] == sum(p.numel() for p in tiny_nets["masknet_v2"].parameters())


def test_inspect_human_readable(tiny_safetensors, capsys):
    """Plain ``inspect`` prints one 'key  value' line per fact, metadata included."""
    from core.cli.main import main

    assert main(["inspect", str(tiny_safetensors["sketchnet_deep"])]) == 0
    out = capsys.readouterr().out
    assert any(line.split() == ["architecture", "sketchnet_deep"] for line in out.splitlines())
    assert any(line.split()[:1] == ["meta.width"] for line in out.splitlines())


# --------------------------------------------------------------------------- bad checkpoints


def _main(argv, capfd, monkeypatch, work, weights=None) -> Run:
    """Run ``core.cli.main.main`` in-process from an empty folder; return its outcome like a subprocess run."""
    from core.cli.main import main

    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(weights or work["weights"]))
    monkeypatch.chdir(work["root"])  # no ./weights there
    capfd.readouterr()
    code = main(argv)
    captured = capfd.readouterr()
    return Run(argv, code, captured.out, captured.err)


BAD_FILES = {"malicious": "evil.pth", "malicious-raw": "evil-raw.pth", "wrong-architecture": "wrong.pth",
             "truncated": "cut.pth"}
BAD_SAYS = {"malicious": "refused", "malicious-raw": "refused", "wrong-architecture": "nearest is",
            "truncated": "truncated"}


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("command", ["inspect", "pipeline-sketch", "pipeline-mask"])
def test_bad_checkpoint_is_one_error_line(command, kind, work, capfd, monkeypatch, tmp_path):
    """Malicious, wrong-architecture and truncated files: non-zero exit, one 'error:' line, nothing written."""
    path = str(work["bad"] / BAD_FILES[kind])
    out = tmp_path / "out"
    if command == "inspect":
        argv = ["inspect", path]
    else:
        flag = "--sketch-checkpoint" if command == "pipeline-sketch" else "--mask-checkpoint"
        argv = ["pipeline", "--datapath", str(work["single"]), "--outpath", str(out), flag, path]
    line = _one_error_line(_main(argv, capfd, monkeypatch, work))
    assert BAD_SAYS[kind] in line
    assert not (work["bad"] / "pwned-system").exists()  # the payloads never ran
    assert not (work["bad"] / "pwned-open").exists()
    assert not out.exists()  # nothing half-done was written


def test_malicious_checkpoint_in_a_real_process(runs, work):
    """In a real process too: one 'error:' line on stderr (no torch warning), no traceback, payload not run."""
    run = runs["pipeline-malicious"]
    assert "refused" in _one_error_line(run)
    assert not (work["bad"] / "pwned-open").exists()
    assert not run.out.exists()


def test_mask_net_given_as_sketch_net(work, capfd, monkeypatch):
    """A Mask Net file passed as the Sketch Net is refused, naming the roles."""
    argv = ["pipeline", "--datapath", str(work["single"]), "--sketch-checkpoint",
            str(work["weights"] / "MaskNet_v2_stage1.pth")]
    assert "not a sketch net" in _one_error_line(_main(argv, capfd, monkeypatch, work))


def test_version_mismatch(work, capfd, monkeypatch):
    """--version 1 with a v2 file says which was asked for and which was given."""
    argv = ["pipeline", "--datapath", str(work["single"]), "--version", "1", "--mask-checkpoint",
            str(work["weights"] / "MaskNet_v2_stage1.pth")]
    line = _one_error_line(_main(argv, capfd, monkeypatch, work))
    assert "masknet_v1" in line and "masknet_v2" in line


def test_missing_default_weights(work, capfd, monkeypatch):
    """Without --sketch-checkpoint and no G_net.pth in any weights folder: one line naming the file."""
    from core.settings import find_weight

    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(work["empty_weights"]))
    monkeypatch.chdir(work["root"])
    if find_weight("G_net.pth") is not None:
        pytest.skip("the project's weights/ folder holds a real G_net.pth, which the command then finds")
    argv = ["pipeline", "--datapath", str(work["single"])]
    line = _one_error_line(_main(argv, capfd, monkeypatch, work, weights=work["empty_weights"]))
    assert "G_net.pth not found" in line and "--sketch-checkpoint" in line


# --------------------------------------------------------------------------- pipeline outputs


@functools.lru_cache(maxsize=None)
def _net(path: Path):
    return load_checkpoint(path).build()


def _expected(work, image, settings, sketch_file, mask_file=None):
    """What the library gives for these settings with these files from the weights folder."""
    mask_net = _net(work["weights"] / mask_file) if mask_file else None
    return run_seed(image, settings, _net(work["weights"] / sketch_file), mask_net)


def _mostly_equal(a: np.ndarray, b: np.ndarray) -> bool:
    # another process may sum in another order; allow rare 1-2 level differences
    return a.shape == b.shape and (np.abs(a.astype(int) - b.astype(int)) <= 2).mean() >= 0.995


def test_pipeline_folder_writes_gallery_and_sketch(runs, work):
    """A folder run writes gallery (h x 3w, input first) and sketch (width vec) files for each good image."""
    run = runs["pipeline-folder"]
    out = run.out
    for name in ("portrait", "landscape"):
        image = work[name]
        h, w = image.shape[:2]
        gallery = _rgb_png(out / "gallery" / f"{name}.png")
        assert gallery.shape == (h, 3 * w, 3), run
        np.testing.assert_array_equal(gallery[:, :w], image)
        sketch = _rgb_png(out / "sketch" / f"{name}.png")
        assert sketch.shape == (int(VEC / w * h), VEC)

        # the flags reach the pipeline: same result as the library with the same settings and
        # the default files for --version 1 and resolution 1
        settings = SeedSettings(side=424, background=True, mask_mode="hard", softctr=0.3, gamma=False, merge=True)
        expected = _expected(work, image, settings, "G_net.pth", "MaskNet_500epoch.pth")
        assert _mostly_equal(gallery[:, w : 2 * w], expected.cropped)
        assert _mostly_equal(gallery[:, 2 * w :, 0], expected.sketch)
        assert _mostly_equal(sketch, saved_sketch(expected.sketch, VEC))
    assert sorted(p.name for p in (out / "gallery").iterdir()) == ["landscape.png", "portrait.png"]


def test_pipeline_reports_broken_image_and_continues(runs):
    """A broken image is named on stderr, the exit status says something failed, the others are written."""
    run = runs["pipeline-folder"]
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0], run
    assert not (run.out / "gallery" / "broken.png").exists()
    assert (run.out / "sketch" / "portrait.png").exists() and (run.out / "sketch" / "landscape.png").exists()


def test_resolution_0_uses_g_net_x600(runs, work):
    """--resolution 0 runs at 600 px with G_net_x600.pth from the weights folder."""
    run = runs["pipeline-resolution-0"]
    assert run.returncode == 0, run
    image = cv2.imread(str(work["single"]))[..., ::-1]
    settings = SeedSettings(side=600, background=False)
    x600 = _expected(work, image, settings, "G_net_x600.pth")
    plain = _expected(work, image, settings, "G_net.pth")
    assert not _mostly_equal(x600.sketch, plain.sketch)  # the two files differ, so the check below tells them apart
    written = _rgb_png(run.out / "gallery" / "single.png")
    assert written.shape == (45, 210, 3)
    np.testing.assert_array_equal(written[:, 70:140], x600.cropped)  # the image after gamma, no crop
    assert _mostly_equal(written[:, 140:, 0], x600.sketch)


def test_vec_switch_writes_stroke_files(runs):
    """--vec_switch True also writes seq_data, svg, gif and vector files named after the image."""
    out = runs["pipeline-resolution-0"].out
    for folder, suffix in (("seq_data", "npz"), ("svg", "svg"), ("gif", "gif"), ("vector", "png")):
        path = out / folder / f"single.{suffix}"
        assert path.is_file() and path.stat().st_size > 0, path


def test_demo_step_lines_are_shown_once(capsys):
    """``workbench demo`` shows the library's INFO step lines as plain text, once however often it is set up."""
    import logging

    from core.cli.app import show_steps

    logger = logging.getLogger("core.demo")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        first, second = show_steps("core.demo"), show_steps("core.demo")
        assert first is second
        logger.info("[1/3] test sets")
        logger.debug("not shown")
        assert capsys.readouterr().err == "[1/3] test sets\n"
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


# --------------------------------------------------------------------------- rerun and provenance in results


def _cli(argv, capsys) -> tuple[int, str, str]:
    from core.cli.main import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rerun_cell_matches_then_reports_an_edited_setting(app_store):
    import sqlite3

    from core.store.store import Store
    from tests.fixtures import run_cli

    with Store(app_store.db, readonly=True) as store:
        cell = next(c for c in store.results() if c["status"] == "done" and c["resolution"] == 64
                    and c["mask_mode"] == "soft")
    done = run_cli("rerun", str(cell["id"]), "--db", str(app_store.db), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cell_id"] == cell["id"] and report["match"] is True and report["max_diff"] <= 2

    with sqlite3.connect(app_store.db) as conn:
        conn.execute("UPDATE cells SET resolution = 128 WHERE id = ?", (cell["id"],))
    changed = run_cli("rerun", str(cell["id"]), "--db", str(app_store.db))
    assert changed.returncode == 1
    assert changed.stdout.startswith(f"cell {cell['id']} (") and "MISMATCH (max difference" in changed.stdout
    assert "resolution 64 -> 128" in changed.stdout


def test_rerun_row_and_sweep_and_its_refusals(app_store, capsys):
    from core.store.store import Store

    db = str(app_store.db)
    with Store(app_store.db, readonly=True) as store:
        image = store.results()[0]["image_sha256"]
    code, out, _ = _cli(["rerun", "--row", image, "--db", db, "--json"], capsys)
    reports = json.loads(out)
    assert code == 0 and reports and all(r["match"] for r in reports)
    code, out, err = _cli(["rerun", "--sweep", str(app_store.sweep_id), "--db", db], capsys)
    assert code == 0 and len(out.splitlines()) == app_store.cells and "match" in err
    for argv, message in ((["rerun", "999999"], "no cell 999999"), (["rerun", "--sweep", "77"], "no sweep 77"),
                          (["rerun"], "name what to re-run"), (["rerun", "1", "--row", image], "one thing at a time")):
        code, out, err = _cli([*argv, "--db", db], capsys)
        assert code in (1, 2) and out == "" and err.startswith("error: ") and message in err
        assert len(err.strip().splitlines()) == 1


def test_results_carry_provenance_in_json_and_csv(app_store, capsys):
    import csv
    import io

    db = str(app_store.db)
    code, out, _ = _cli(["results", "--json", "--db", db], capsys)
    records = json.loads(out)
    done = [r for r in records if r["status"] == "done"]
    assert code == 0 and done and all(isinstance(r["provenance"], dict) for r in done)
    assert done[0]["provenance"]["config"]["method"] == done[0]["method"]
    assert {"torch", "git_commit", "device_name", "checkpoints", "computed_at"} <= set(done[0]["provenance"])
    code, out, _ = _cli(["results", "--csv", "--db", db], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert "provenance_json" in rows[0] and "provenance" not in rows[0]
    assert json.loads(rows[0]["provenance_json"]) == records[0]["provenance"]


# --------------------------------------------------------------------------- export


def _export_cli(argv, capsys) -> tuple[int, str, str]:
    """``main(argv)`` in this process: exit status, stdout, stderr."""
    from core.cli.main import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_writes_figure_and_manifest(swept, tmp_path):
    """``workbench export`` in a real process: an SVG with its manifest, and a summary line naming both."""
    from tests.fixtures import run_cli

    out = tmp_path / "fig.svg"
    run = run_cli("export", "--db", str(swept.db), "--sweep", str(swept.sweep_id), "--columns", "mask_checkpoint",
                  "--fix", "resolution=128", "--fix", "mask_mode=soft", "--rows", "2", "--crop", "0.2,0.2,0.5,0.5",
                  "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.startswith(f"wrote {out} (") and "fig.manifest.json" in run.stdout
    assert "<text" in out.read_text()
    manifest = json.loads((tmp_path / "fig.manifest.json").read_text())
    assert manifest["fixed"]["resolution"] == "128" and manifest["fixed"]["mask_mode"] == "soft"
    assert manifest["crop"] == [0.2, 0.2, 0.5, 0.5] and len(manifest["rows"]) == 2
    assert [c["label"] for c in manifest["columns"]] == ["MaskNet_v2_stage1", "MaskNet_v2_stage2", "canny"]
    assert all(p["cell_id"] and p["inset_box"] for p in manifest["panels"])


def test_export_png_and_pdf_in_process(swept, tmp_path, capsys):
    """PNG and PDF from the same command; --json prints the manifest; --images picks and orders the rows."""
    db = str(swept.db)
    code, out, _ = _export_cli(["export", "--db", db, "--columns", "resolution", "--images", "photo2", "photo0",
                         "--scale", "2", "--out", str(tmp_path / "fig.png"), "--json"], capsys)
    manifest = json.loads(out)
    assert code == 0 and [r["label"] for r in manifest["rows"]] == ["photo2", "photo0"]
    png = _rgb_png(tmp_path / "fig.png")
    assert png.shape[:2] == (manifest["height_px"], manifest["width_px"])
    box, native = manifest["panels"][0]["box"], manifest["panels"][0]["native_size"]
    assert box[2:] == [2 * native[0], 2 * native[1]]
    code, out, _ = _export_cli(["export", "--db", db, "--columns", "method", "--out", str(tmp_path / "fig.pdf")], capsys)
    assert code == 0 and (tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF-")
    assert (tmp_path / "fig.manifest.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--columns", "flavour"], "unknown column axis 'flavour'"),
    (["--columns", "resolution", "--crop", "0.5,0.5,0.75,0.1"], "--crop 0.5,0.5,0.75,0.1 lies outside the image"),
    (["--columns", "resolution", "--crop", "1,2"], "--crop takes x,y,w,h"),
    (["--columns", "resolution", "--images", "nope.png"], "no image 'nope.png'"),
    (["--columns", "resolution", "--fix", "mask_mode=wobbly"], "no cells with mask_mode=wobbly"),
    (["--columns", "resolution", "--fix", "gamma"], "--fix takes AXIS=VALUE"),
    (["--columns", "resolution", "--sweep", "77"], "no sweep 77"),
    (["--columns", "resolution", "--scale", "-1"], "--scale takes a number above 0"),
    (["--columns", "resolution", "--rows", "0"], "--rows takes a number above 0"),
])
def test_export_bad_input_is_one_error_line(swept, tmp_path, capsys, argv, message):
    """Each bad flag or value ends in one ``error:`` line that names it, exit 2, nothing written."""
    code, out, err = _export_cli(["export", "--db", str(swept.db), *argv, "--out", str(tmp_path / "fig.png")], capsys)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_export_refuses_unknown_suffix_and_empty_store(tmp_path, capsys):
    """A figure name that is not .png/.svg/.pdf, and a store without cells, are refused in one line."""
    from core.store.store import Store

    Store(tmp_path / "empty.db").close()
    code, _, err = _export_cli(["export", "--db", str(tmp_path / "empty.db"), "--columns", "resolution",
                         "--out", str(tmp_path / "fig.jpg")], capsys)
    assert code == 2 and "must end in .png, .svg or .pdf" in err and len(err.strip().splitlines()) == 1
    code, _, err = _export_cli(["export", "--db", str(tmp_path / "empty.db"), "--columns", "resolution",
                         "--out", str(tmp_path / "fig.png")], capsys)
    assert code == 2 and "no cells to show" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without CUDA answers")
def test_bench_cuda_and_half_precision_without_cuda_are_one_error_line():
    """``bench --device cuda`` / ``--precision fp16`` in a real process: exit 1 at once, one ``error:`` line."""
    from tests.fixtures import run_cli

    for flags, says in ((["--device", "cuda"], "CUDA is not available"), (["--precision", "fp16"], "CUDA device")):
        proc = run_cli("bench", *flags)
        run = Run(["bench", *flags], proc.returncode, proc.stdout, proc.stderr)
        assert run.returncode == 1 and run.stdout == "", run
        assert says in _one_error_line(run)


def test_doctor_lists_the_devices_in_a_real_process():
    """``workbench doctor --no-self-test`` runs as a command and names the CPU (and CUDA, or why not)."""
    from tests.fixtures import run_cli

    proc = run_cli("doctor", "--no-self-test")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("torch ") and "\ncpu " in proc.stdout
    assert ("cuda:0" in proc.stdout) == torch.cuda.is_available()


def test_sweep_outputs_go_to_their_own_folder_and_the_database_stays_apart(tmp_path):
    from core.store.store import Store
    from tests.fixtures import make_test_set, run_cli

    images = make_test_set(tmp_path / "images")
    db = tmp_path / "local" / "workbench.db"
    outputs = tmp_path / "shared" / "outputs"
    r = run_cli("sweep", "--images", str(images), "--baseline", "canny", "--db", str(db), "--outputs", str(outputs),
                "--no-progress")
    assert r.returncode == 0, r.stderr
    assert not (db.parent / "cells").exists() and any((outputs / "cells").rglob("sketch.png"))
    with Store(db, outputs=outputs) as store:
        cells = store.results()
        assert cells and all(store.absolute(c["sketch_path"]).is_file() for c in cells)
