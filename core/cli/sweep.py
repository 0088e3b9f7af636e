"""``sweep``, ``results`` and ``bench``: run every combination, read the records back, time the engine."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from core.cli.arguments import add_db_flag, parse_bool, positive_int, unit_float
from core.errors import SpecError, SweepError, UsageError


def add_sweep_parser(sub) -> None:
    """Add ``sweep``: a spec from flags, a TOML file or a spec file, run by an executor into the store."""
    p = sub.add_parser(
        "sweep",
        help="run every combination of settings over a test set, recorded in the store",
        description="Run (or resume) a sweep. Each axis flag takes several values; cells already in the "
        "store are reused, not recomputed. Exit 0 when the sweep ran to the end, even if some cells failed.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path,
                        help="a TOML file with the sweep's fields (flags given here override it)")
    source.add_argument("--spec-json", type=Path, metavar="FILE",
                        help="the sweep's canonical spec as JSON (what the app's launcher hands its worker); "
                        "it holds the whole spec, so no other spec flag goes with it")
    p.add_argument("--images", nargs="+", help="test set folders (subfolders included) or image files")
    p.add_argument("--sketch-checkpoint", nargs="+", dest="sketch_checkpoints", help="Sketch Net checkpoints")
    p.add_argument("--mask-checkpoint", nargs="+", dest="mask_checkpoints",
                   help="Mask Net checkpoints; 'none' = background off (the default)")
    p.add_argument("--baseline", nargs="+", dest="baselines", help="classical baselines: canny, xdog, pencil")
    p.add_argument("--baseline-param", action="append", default=[], metavar="NAME.PARAM=VALUE",
                   help="a baseline parameter, e.g. canny.low=50 (repeatable)")
    p.add_argument("--resolution", nargs="+", dest="resolutions", metavar="PX",
                   help="Sketch Net sides in px (424 848 ...)")
    p.add_argument("--mask-mode", nargs="+", dest="mask_modes", metavar="{soft,hard}")
    p.add_argument("--softctr", nargs="+", dest="softctrs", metavar="X", help="mask thresholds in [0, 1]")
    p.add_argument("--gamma", nargs="+", dest="gammas", metavar="BOOL", help="True, False or both")
    p.add_argument("--merge", nargs="+", dest="merges", metavar="BOOL", help="True, False or both")
    p.add_argument("--profile", nargs="+", dest="profiles", help="pipeline profile (seed)")
    p.add_argument("--precision", nargs="+", dest="precisions", metavar="{fp32,fp16,bf16}")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto; cuda and auto use every visible GPU, "
                                    "one engine each)")
    p.add_argument("--vectorize", metavar="BOOL", help="True to vectorise every sketch into strokes")
    p.add_argument("--max-pixels", metavar="N", help="refuse images whose header declares more pixels")
    p.add_argument("--name", help="a name for the sweep")
    p.add_argument("--note", help="a note for the sweep")
    p.add_argument("--retry-failed", action="store_true", help="compute failed cells again")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: Ray workers, one per GPU or per "
                   "--ray-cpus-per-worker cores (needs pip install '.[ray]')")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="a Ray cluster to run on (host:port from `ray start --head`, or auto); "
                   "default: start a local Ray instance for the sweep")
    p.add_argument("--ray-cpus-per-worker", type=positive_int, default=1, metavar="N",
                   help="CPU cores per Ray worker (default 1): without GPUs, one worker per N cores")
    add_db_flag(p)
    p.add_argument("--outputs", type=Path, metavar="DIR",
                   help="write cell outputs here instead of beside the database (also WORKBENCH_OUTPUTS): "
                        "keep the database on local disk and the outputs on shared storage")
    p.add_argument("--json", action="store_true",
                   help="end with one JSON line: sweep_id, cells, computed, cached, failed")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar: a timestamped log line per cell instead (what the app's workers log)")
    p.set_defaults(handler=cmd_sweep)


# Spec fields set by flags, as the flags spell them (refusals name the flag).
SPEC_FLAGS = {"images": "--images", "sketch_checkpoints": "--sketch-checkpoint",
              "mask_checkpoints": "--mask-checkpoint", "baselines": "--baseline", "resolutions": "--resolution",
              "mask_modes": "--mask-mode", "softctrs": "--softctr", "gammas": "--gamma", "merges": "--merge",
              "profiles": "--profile", "precisions": "--precision", "device": "--device",
              "vectorize": "--vectorize", "max_pixels": "--max-pixels", "name": "--name", "note": "--note",
              "baseline_params": "--baseline-param"}


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None


# How a flag's text becomes the spec's value (the CLI's rules: True/False, 1/0, yes/no for booleans).
FLAG_TYPES = {"resolutions": _whole_number, "softctrs": unit_float, "gammas": parse_bool, "merges": parse_bool,
              "vectorize": parse_bool, "max_pixels": positive_int}


def spec_from_args(args):
    """Build the SweepSpec of a ``sweep`` command line: a TOML file and/or flags (flags win), or a spec file.

    Raises SpecError (one line naming the flag or key) when a value is wrong.
    """
    from core.sweeps.spec import SweepSpec, build_spec, parse_baseline_params, read_spec_json, read_spec_toml

    given = {name: getattr(args, name) for name in SPEC_FLAGS if getattr(args, name, None) not in (None, [])}
    if getattr(args, "baseline_param", None):
        given["baseline_params"] = args.baseline_param
    if getattr(args, "spec_json", None):
        if given:
            raise UsageError(f"--spec-json holds the whole spec; drop {', '.join(SPEC_FLAGS[k] for k in given)}")
        return read_spec_json(args.spec_json)
    fields = read_spec_toml(args.config) if args.config else {}
    for name, value in given.items():
        convert = FLAG_TYPES.get(name)
        if convert is not None:
            try:
                value = [convert(v) for v in value] if isinstance(value, list) else convert(value)
            except argparse.ArgumentTypeError as exc:
                raise SpecError(f"{SPEC_FLAGS[name]}: {exc}") from None
        if name != "baseline_params":
            fields[name] = value
    if "baseline_params" in given:
        base = fields.get("baseline_params")
        fields["baseline_params"] = parse_baseline_params(given["baseline_params"],
                                                          base if isinstance(base, dict) else None)
    if not fields.get("images") and set(fields) <= set(SweepSpec.model_fields):  # an unknown key is said first
        raise UsageError("no test set: pass --images DIR (or images = [...] in --config)")
    where = f"sweep file {args.config}: " if args.config else ""
    return build_spec(fields, where=where, names={k: SPEC_FLAGS[k] for k in given})


def log_to_stderr(verbose: bool) -> None:
    """Send the library's log lines to stderr with timestamps; per-cell lines (INFO) only when ``verbose``."""
    logger = logging.getLogger("core")
    for handler in list(logger.handlers):
        if handler.get_name() == "workbench-sweep":
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("workbench-sweep")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def cmd_sweep(args) -> int:
    """Run the sweep; exit 0 when it ran to the end (failed cells included), else 130."""
    from core.settings import db_path
    from core.sweeps.run import run_sweep

    log_to_stderr(verbose=args.no_progress)
    if args.outputs:
        # The store reads the outputs root from the environment, so the Ray driver and workers see it too.
        os.environ["WORKBENCH_OUTPUTS"] = str(args.outputs.resolve())
    executor = getattr(args, "executor", "local")
    options = {}
    try:
        if executor == "ray":
            from core.sweeps.ray import import_ray

            import_ray()  # before planning: a missing extra is said at once
            options = {"address": args.ray_address, "cpus_per_worker": args.ray_cpus_per_worker}
        elif getattr(args, "ray_address", None):
            raise UsageError("--ray-address needs --executor ray")
        spec = spec_from_args(args)
        summary = run_sweep(spec, db_path(args.db), progress=not args.no_progress, retry_failed=args.retry_failed,
                            executor=executor, executor_options=options)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    line = (f"sweep {summary.sweep_id} {summary.status}: {summary.cells} cells, {summary.computed} computed, "
            f"{summary.cached} cached, {summary.failed} failed, {summary.seconds:.1f} s on {summary.device}")
    print(line, file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict()))
    return 0 if summary.status in ("done",) else 130


def add_results_parser(sub) -> None:
    """Add ``results``: the recorded cells as text, JSON or CSV."""
    p = sub.add_parser("results", help="list recorded cells (one record per cell)")
    p.add_argument("--sweep", type=int, help="only this sweep's cells")
    add_db_flag(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON array of records")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    p.set_defaults(handler=cmd_results)


def cmd_results(args) -> int:
    """Print the recorded cells, of one sweep or all."""
    from core.errors import StoreError
    from core.settings import db_path
    from core.store.store import Store
    from core.sweeps.results import RESULT_FIELDS, result_records

    try:
        store = Store(db_path(args.db), readonly=True)
        records = result_records(store, args.sweep)
    except (StoreError, SweepError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(records))
    elif args.csv:
        import csv

        rows = [csv_record(r) for r in records]
        header = rows[0] if rows else csv_record(dict.fromkeys(RESULT_FIELDS))
        writer = csv.DictWriter(sys.stdout, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    else:
        for r in records:
            setting = (r["sketch_checkpoint"] or r["method"], r["mask_checkpoint"] or "-", r["resolution"],
                       r["mask_mode"] or "-", r["softctr"])
            print(f"{r['cell_id']:>6} {r['status']:<8} {r['image']:<30} " + " ".join(map(str, setting))
                  + (f"  {r['error']}" if r["error"] else ""))
    return 0


def csv_record(record: dict) -> dict:
    """A results record as a CSV row: the provenance object becomes its JSON text, under ``provenance_json``."""
    row = {}
    for key, value in record.items():
        if key == "provenance":
            key, value = "provenance_json", None if value is None else json.dumps(value, sort_keys=True)
        row[key] = value
    return row


def add_bench_parser(sub) -> None:
    """Add ``bench``: the engine timed against the naive way (CPU), or the CUDA figures (``--device cuda``)."""
    p = sub.add_parser(
        "bench",
        help="time the same cells naive (a process per configuration), by the engine, and as bare forward calls",
        description="Default workload: random-weight seed-architecture checkpoints at width 1.0 (two Mask Net v2, "
        "two deep Sketch Nets), 4 generated images, resolution 424, soft and hard: 32 cells. With --device cuda: "
        "per side (424, 848, 1272) and precision, the engine's images/s against the GPU's network-only forward "
        "throughput, the writer's cells/s and the fidelity against the CPU's fp32 sketches (16 images).",
    )
    p.add_argument("--images", type=positive_int, help="number of generated images (default 4; 16 on CUDA)")
    p.add_argument("--resolution", type=positive_int, nargs="+", metavar="PX",
                   help="Sketch Net side (default 424; on CUDA 424 848 1272)")
    p.add_argument("--width", type=float, default=1.0, help="network width multiplier (default 1.0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--precision", nargs="+", choices=("fp32", "fp16", "bf16"),
                   help="CUDA only: the precisions to time (default every one the GPU supports)")
    p.add_argument("--writer", action="store_true",
                   help="time the writer instead: PNG size and encode time per zlib level (drawings and photos), "
                        "and cells/s per post-processing pool size, at --resolution (default 848)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args) -> int:
    """Time the workload and print the comparison (or one JSON line); refuse at once what cannot run here."""
    from core.sweeps.bench import check_bench_device, run_bench, run_cuda_bench

    if args.writer:
        return cmd_bench_writer(args)
    device = check_bench_device(args.device, args.precision)  # one line (DeviceError) before any work
    if device.type == "cuda":
        result = run_cuda_bench(str(device), args.precision, tuple(args.resolution or (424, 848, 1272)),
                                args.images or 16, args.width)
        if args.json:
            print(json.dumps(result))
            return 0
        print(f"{result['device']} {result['device_name']}: {result['images']} images of "
              f"{result['image_size'][1]}x{result['image_size'][0]}, deep Sketch Net width {result['width']}")
        print(f"{'side':>5} {'prec':<5} {'batch':>5} {'engine img/s':>12} {'forward img/s':>13} {'share':>6} "
              f"{'writer cells/s':>14} {'within 2 vs CPU':>15}")
        for row in result["rows"]:
            fid = "-" if row["within_2_vs_cpu_fp32"] is None else f"{100 * row['within_2_vs_cpu_fp32']:.3f}%"
            print(f"{row['side']:>5} {row['precision']:<5} {row['batch']:>5} {row['engine_images_per_s']:>12.1f} "
                  f"{row['forward_images_per_s']:>13.1f} {row['engine_share']:>6.2f} "
                  f"{row['writer_cells_per_s'] or 0:>14.1f} {fid:>15}")
        return 0
    if args.resolution and len(args.resolution) > 1:
        raise UsageError("the CPU bench takes one --resolution; several are for --device cuda")
    result = run_bench(args.images or 4, (args.resolution or [424])[0], str(device), args.width)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'way':<34} {'seconds':>8}")
    print(f"{'(a) naive, process per config':<34} {result['naive_s']:>8.2f}")
    print(f"{'(b) engine sweep, start-up incl.':<34} {result['engine_s']:>8.2f}")
    print(f"{'(c) eager forward calls only':<34} {result['forward_s']:>8.2f}")
    print(f"cells {result['cells']} on {result['device']} ({result['threads']} threads); "
          f"engine {result['speedup_vs_naive']}x faster than naive, {result['engine_over_forward']}x the forward "
          f"time; max pixel diff engine vs naive {result['max_pixel_diff']}")
    return 0


def cmd_bench_writer(args) -> int:
    """``bench --writer``: PNG levels and writer pool sizes, measured here."""
    from core.sweeps.throughput import run_writer_bench

    if args.resolution and len(args.resolution) > 1:
        raise UsageError("bench --writer takes one --resolution")
    result = run_writer_bench((args.resolution or [848])[0], args.images or 4)
    if args.json:
        print(json.dumps(result))
        return 0
    for kind, rows in result["png"].items():
        print(f"{kind} PNGs ({result['images']} at {result['side']} px): chosen level {result['chosen'][kind]}")
        print(f"{'level':>5} {'encode ms':>9} {'KB':>8}")
        for row in rows:
            print(f"{row['level']:>5} {row['encode_ms']:>9.1f} {row['kb']:>8.1f}")
    print(f"writer, {result['writer_cells']} cells with a mask and a crop each ({result['cpus']} cores):")
    for row in result["writer"]:
        print(f"{row['threads']:>2} thread(s) {row['cells_per_s']:>8.1f} cells/s")
    return 0
