"""``core.sweeps.throughput``: PNG levels and writer pool sizes, measured; the writer's levels are the measured ones."""

from __future__ import annotations

import json

from core.sweeps.outputs import CROP_PNG_LEVEL, SKETCH_PNG_LEVEL
from core.sweeps.throughput import choose_png_level, measure_png_levels, run_writer_bench, sample_outputs
from tests.fixtures import run_cli


def test_the_chosen_level_is_the_lowest_within_ten_percent_of_the_smallest_file():
    rows = [{"level": 0, "encode_ms": 1, "kb": 500}, {"level": 1, "encode_ms": 2, "kb": 70},
            {"level": 2, "encode_ms": 3, "kb": 66}, {"level": 4, "encode_ms": 5, "kb": 62},
            {"level": 9, "encode_ms": 90, "kb": 58}]
    assert choose_png_level(rows) == 4  # 62 <= 1.1 * 58 < 66
    assert choose_png_level(rows, within=0.25) == 1
    assert choose_png_level([{"level": 0, "encode_ms": 1, "kb": 1}, {"level": 3, "encode_ms": 2, "kb": 9}]) == 3


def test_the_writer_uses_the_levels_the_measurement_chooses_at_848():
    outputs = sample_outputs(848, 4)  # as `workbench bench --writer` measures them
    assert choose_png_level(measure_png_levels([o["sketch"] for o in outputs], repeats=1)) == SKETCH_PNG_LEVEL
    assert choose_png_level(measure_png_levels([o["cropped"] for o in outputs], repeats=1)) == CROP_PNG_LEVEL


def test_bench_writer_reports_levels_and_pool_sizes(tmp_path):
    result = run_writer_bench(side=96, images=2, cells=4)
    assert [r["level"] for r in result["png"]["sketch"]] == list(range(10))
    assert all(r["encode_ms"] > 0 and r["kb"] > 0 for kind in ("sketch", "crop") for r in result["png"][kind])
    assert result["png"]["crop"][0]["kb"] > result["png"]["crop"][9]["kb"]  # level 0 stores, 9 compresses
    threads = [r["threads"] for r in result["writer"]]
    assert threads[0] == 1 and threads == sorted(set(threads))
    assert all(r["cells_per_s"] > 0 for r in result["writer"])


def test_the_cli_prints_the_writer_bench_as_json_and_the_report_renders_it(tmp_path):
    from tests.test_bench import load_report_script

    proc = run_cli("bench", "--writer", "--resolution", "64", "--images", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    writer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(writer["chosen"]) == {"sketch", "crop"}
    (tmp_path / "w.json").write_text(json.dumps(writer))
    out = tmp_path / "gpu.md"
    load_report_script().main(["--writer", str(tmp_path / "w.json"), "--out", str(out)])
    text = out.read_text()
    assert "## Writer (`workbench bench --writer`)" in text and "| pool threads | cells/s |" in text
    assert f"Chosen: drawings {writer['chosen']['sketch']}, photos {writer['chosen']['crop']}." in text


def test_bench_writer_takes_one_side():
    proc = run_cli("bench", "--writer", "--resolution", "64", "128")
    assert proc.returncode != 0 and "bench --writer takes one --resolution" in proc.stderr
