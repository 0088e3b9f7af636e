"""Render ``docs/gpu.md`` from what ``scripts/gpu-check.sh`` measured: doctor JSON, CUDA test output, bench JSON.

Usage: ``python scripts/gpu_report.py --doctor D.json --tests T.txt --bench B.json [--bench-error E.txt]
[--writer W.json] --out F.md``.
A missing or unreadable input is reported in the page rather than failing it, so a partial check still
leaves a readable record of what ran.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The issue's acceptance figures for the CUDA path.
FP32_FIDELITY = 0.999
FP16_SHARE_AT_848 = 0.70


def read_json(path: Path | None) -> tuple[dict | None, str | None]:
    """The JSON object in ``path`` (its last line that parses), or None and why not."""
    if path is None or not path.is_file():
        return None, f"{path} was not written"
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            return json.loads(line), None
        except json.JSONDecodeError:
            continue
    return None, f"{path} holds no JSON"


def percent(share: float | None, digits: int = 2) -> str:
    return "-" if share is None else f"{100 * share:.{digits}f}%"


def machine_section(doctor: dict) -> list[str]:
    cpu = doctor["cpu"]
    lines = ["## Machine", "",
             f"torch {doctor['torch']}, CUDA {doctor['cuda'] or 'none'}, cuDNN {doctor['cudnn'] or 'none'}, "
             f"driver {doctor['driver'] or 'none'}.", "",
             f"CPU: {cpu['name']}, {cpu['cores']} cores, {(cpu['memory_mb'] or 0) / 1024:.0f} GiB; "
             f"precisions {', '.join(cpu['precisions'])}.", ""]
    if doctor["gpus"]:
        lines += ["| device | name | compute | memory | free | SMs | precisions |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {g['device']} | {g['name']} | {g['capability']} | {g['memory_mb'] / 1024:.1f} GiB | "
                  f"{g['free_mb'] / 1024:.1f} GiB | {g['multiprocessors']} | {', '.join(g['precisions'])} |"
                  for g in doctor["gpus"]]
    else:
        lines.append(doctor.get("cuda_note") or "No CUDA device.")
    lines.append("")
    checks = doctor.get("self_test") or []
    if checks:
        lines += ["## Self-test (`workbench doctor`)", "",
                  "A tiny sweep (random-weight Mask Net and Sketch Net, 2 generated images, soft and hard) per "
                  "device and precision, against the CPU's fp32 sketches; the CPU's run against the original "
                  "eager pipeline.", "",
                  "| device | precision | cells | failed | seconds | within 2 grey levels | ok |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {c['device']} | {c['precision']} | {c['cells']} | {c['failed']} | {c['seconds']:.1f} | "
                  f"{percent(c['within_2'], 3)} | {'yes' if c['ok'] else '**no**'} |" for c in checks]
        lines.append("")
    return lines


def tests_section(text: str | None) -> list[str]:
    lines = ["## CUDA tests (`pytest -m cuda`)", ""]
    if text is None:
        return lines + ["Not run.", ""]
    summary = [line for line in text.splitlines() if re.search(r"\b(passed|failed|skipped|error|deselected)\b", line)]
    lines.append(f"`{summary[-1].strip(' =')}`" if summary else "No summary line.")
    failures = [line for line in text.splitlines() if line.startswith(("FAILED", "ERROR", "SKIPPED"))]
    if failures:
        lines += [""] + [f"- `{line[:200]}`" for line in failures[:20]]
    return lines + [""]


def bench_section(bench: dict | None, error: str | None) -> list[str]:
    lines = ["## Bench (`workbench bench --device cuda`)", ""]
    if bench is None:
        return lines + [f"Not measured: {error or 'no result'}.", ""]
    h, w = bench["image_size"]
    lines += [f"{bench['device']} ({bench['device_name']}), torch {bench['torch']}, CUDA {bench['cuda']}, "
              f"cuDNN {bench['cudnn']}. Workload: {bench['images']} generated {w}x{h} photos, one deep Sketch Net "
              f"(width {bench['width']}, random weights), no Mask Net; the engine's sweep runs in-process after a "
              "warm-up sweep. *forward* is the same optimised network on inputs already on the GPU (the device's "
              "network-only throughput); *share* = engine / forward. *writer* = cells / the writer's seconds "
              "(PNG encoding, metrics, files). *within 2* = worst share, over two images, of pixels within 2 grey "
              "levels of the CPU's fp32 sketch.", "",
              "| side | precision | batch | engine img/s | forward img/s | share | writer cells/s | within 2 "
              "| failed |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in bench["rows"]:
        lines.append(f"| {r['side']} | {r['precision']} | {r['batch']} | {r['engine_images_per_s']:.1f} | "
                     f"{r['forward_images_per_s']:.1f} | {r['engine_share']:.2f} | {r['writer_cells_per_s'] or 0:.1f} "
                     f"| {percent(r['within_2_vs_cpu_fp32'], 3)} | {r['failed']} |")
    lines += ["", "Acceptance:", ""]
    fp32 = [r for r in bench["rows"] if r["precision"] == "fp32"]
    if fp32:
        worst = min((r["within_2_vs_cpu_fp32"] or 0) for r in fp32)
        lines.append(f"- CUDA fp32 matches CPU fp32 on >= {percent(FP32_FIDELITY, 1)} of pixels within 2 grey "
                     f"levels: {'yes' if worst >= FP32_FIDELITY else '**no**'} (worst {percent(worst, 3)})")
    fp16 = [r for r in bench["rows"] if r["precision"] == "fp16" and r["side"] == 848]
    if fp16:
        share = fp16[0]["engine_share"]
        lines.append(f"- fp16 engine throughput at 848 >= {FP16_SHARE_AT_848:.0%} of the forward throughput: "
                     f"{'yes' if share >= FP16_SHARE_AT_848 else '**no**'} ({share:.0%})")
    return lines + [""]


def writer_section(writer: dict | None) -> list[str]:
    lines = ["## Writer (`workbench bench --writer`)", ""]
    if writer is None:
        return lines + ["Not measured.", ""]
    lines += [f"PNG encode time and size per zlib level, {writer['images']} photos at {writer['side']} px "
              "(drawings: the xdog baseline's; crops: the photos), and the chosen level "
              "(the lowest within 10% of the smallest file):", "",
              "| level | drawing ms | drawing KB | photo ms | photo KB |", "| --- | --- | --- | --- | --- |"]
    for sketch, crop in zip(writer["png"]["sketch"], writer["png"]["crop"], strict=True):
        lines.append(f"| {sketch['level']} | {sketch['encode_ms']} | {sketch['kb']} | {crop['encode_ms']} | "
                     f"{crop['kb']} |")
    lines += ["", f"Chosen: drawings {writer['chosen']['sketch']}, photos {writer['chosen']['crop']}.", "",
              f"Writer throughput, {writer['writer_cells']} cells with a mask and a crop each, on "
              f"{writer['cpus']} cores:", "", "| pool threads | cells/s |", "| --- | --- |"]
    lines += [f"| {row['threads']} | {row['cells_per_s']} |" for row in writer["writer"]]
    return lines + [""]


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def render(doctor: dict | None, doctor_error: str | None, tests: str | None, bench: dict | None,
           bench_error: str | None, writer: dict | None = None) -> str:
    """The markdown page."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# GPU check", "",
             f"Written by `scripts/gpu-check.sh` on {when} (commit {commit()}); run it again on a GPU machine "
             "to refresh these figures.", ""]
    lines += machine_section(doctor) if doctor else ["## Machine", "", f"Not described: {doctor_error}.", ""]
    lines += tests_section(tests)
    lines += bench_section(bench, bench_error)
    lines += writer_section(writer)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doctor", type=Path)
    parser.add_argument("--tests", type=Path)
    parser.add_argument("--bench", type=Path)
    parser.add_argument("--bench-error", type=Path, help="the bench's stderr, quoted when it gave no JSON")
    parser.add_argument("--writer", type=Path, help="workbench bench --writer --json output")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gpu.md")
    args = parser.parse_args(argv)
    doctor, doctor_error = read_json(args.doctor)
    bench, bench_error = read_json(args.bench)
    if bench is None and args.bench_error and args.bench_error.is_file():
        said = [line for line in args.bench_error.read_text(errors="replace").splitlines() if line.strip()]
        bench_error = said[-1].removeprefix("error: ") if said else bench_error
    tests = args.tests.read_text(errors="replace") if args.tests and args.tests.is_file() else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    writer, _ = read_json(args.writer)
    args.out.write_text(render(doctor, doctor_error, tests, bench, bench_error, writer) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
