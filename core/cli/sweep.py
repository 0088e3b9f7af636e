"""``sweep``, ``results`` and ``bench``: run every combination, read the records back, time the engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.arguments import number, parse_bool, positive_int, unit_float
from core.errors import UsageError


def add_sweep_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run every combination of settings over a test set, recorded in the store",
        description="Run (or resume) a sweep. Each axis flag takes several values; cells already in the "
        "store are reused, not recomputed. Exit 0 when the sweep ran to the end, even if some cells failed.",
    )
    p.add_argument("--config", type=Path, help="a TOML file with the sweep's fields (flags given here override it)")
    p.add_argument("--images", nargs="+", help="test set folders (subfolders included) or image files")
    p.add_argument("--sketch-checkpoint", nargs="+", dest="sketch_checkpoints", help="Sketch Net checkpoints")
    p.add_argument("--mask-checkpoint", nargs="+", dest="mask_checkpoints",
                   help="Mask Net checkpoints; 'none' = background off (the default)")
    p.add_argument("--baseline", nargs="+", dest="baselines", help="classical baselines: canny, xdog, pencil")
    p.add_argument("--baseline-param", action="append", default=[], metavar="NAME.PARAM=VALUE",
                   help="a baseline parameter, e.g. canny.low=50 (repeatable)")
    p.add_argument("--resolution", nargs="+", type=int, dest="resolutions", help="Sketch Net sides in px (424 848 ...)")
    p.add_argument("--mask-mode", nargs="+", dest="mask_modes", choices=("soft", "hard"))
    p.add_argument("--softctr", nargs="+", type=unit_float, dest="softctrs")
    p.add_argument("--gamma", nargs="+", type=parse_bool, dest="gammas")
    p.add_argument("--merge", nargs="+", type=parse_bool, dest="merges")
    p.add_argument("--profile", nargs="+", dest="profiles", help="pipeline profile (seed)")
    p.add_argument("--precision", nargs="+", dest="precisions", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--vectorize", type=parse_bool, help="True to vectorise every sketch into strokes")
    p.add_argument("--max-pixels", type=positive_int, help="refuse images whose header declares more pixels")
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
    p.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
    p.add_argument("--json", action="store_true", help="end with one JSON line: sweep_id, cells, computed, cached, failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_sweep)


_SPEC_FLAGS = ("images", "sketch_checkpoints", "mask_checkpoints", "baselines", "resolutions", "mask_modes",
               "softctrs", "gammas", "merges", "profiles", "precisions", "device", "vectorize", "max_pixels",
               "name", "note")


def spec_from_args(args):
    """Build a SweepSpec from a TOML file and/or flags (flags win)."""
    from core.sweeps.engine import SweepSpec, load_spec_toml

    fields = load_spec_toml(args.config) if args.config else {}
    for name in _SPEC_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    if "mask_checkpoints" in fields:
        fields["mask_checkpoints"] = [None if str(m).lower() in ("none", "") else m for m in fields["mask_checkpoints"]]
    params: dict[str, dict] = dict(fields.get("baseline_params") or {})
    for item in args.baseline_param:
        try:
            target, value = item.split("=", 1)
            method, param = target.split(".", 1)
        except ValueError:
            raise UsageError(f"--baseline-param {item!r} is not NAME.PARAM=VALUE (e.g. canny.low=50)") from None
        params.setdefault(method, {})[param] = number(value)
    fields["baseline_params"] = params
    if not fields.get("images"):
        raise UsageError("no test set: pass --images DIR (or images = [...] in --config)")
    return SweepSpec(**fields)


def cmd_sweep(args) -> int:
    from core.settings import db_path
    from core.sweeps.engine import SweepError, plan_sweep, run_sweep

    executor = getattr(args, "executor", "local")
    try:
        if executor == "ray":
            from core.sweeps.ray import import_ray

            import_ray()  # before planning: a missing extra is said at once
        elif getattr(args, "ray_address", None):
            raise UsageError("--ray-address needs --executor ray")
        spec = spec_from_args(args)
        plan = plan_sweep(spec)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    try:
        summary = run_sweep(spec, db_path(args.db), progress=not args.no_progress, plan=plan,
                            retry_failed=args.retry_failed, executor=executor,
                            ray_address=getattr(args, "ray_address", None),
                            ray_cpus_per_worker=getattr(args, "ray_cpus_per_worker", 1))
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    line = (f"sweep {summary.sweep_id} {summary.status}: {summary.cells} cells, {summary.computed} computed, "
            f"{summary.cached} cached, {summary.failed} failed, {summary.seconds:.1f} s on {summary.device}")
    print(line, file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict()))
    return 0 if summary.status in ("done",) else 130


RESULT_FIELDS = ("cell_id", "sweep_id", "image", "test_set", "method", "sketch_checkpoint", "mask_checkpoint",
                 "resolution", "mask_mode", "softctr", "gamma", "merge", "background", "profile", "precision",
                 "vectorize", "baseline_params", "device", "status", "error", "sketch_path", "thumb_path",
                 "seconds", "cell_key")


def add_results_parser(sub) -> None:
    p = sub.add_parser("results", help="list recorded cells (one record per cell)")
    p.add_argument("--sweep", type=int, help="only this sweep's cells")
    p.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON array of records")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    p.set_defaults(handler=cmd_results)


def result_records(store, sweep_id=None) -> list[dict]:
    """The public record of each cell: config, status, paths (absolute), seconds and metrics."""
    from core.store.store import METRIC_COLUMNS

    if sweep_id is not None and not store.query("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)):
        raise UsageError(f"no sweep {sweep_id} in {store.path}; `workbench results` lists all cells")
    records = []
    for row in store.results(sweep_id):
        rec = dict(row, cell_id=row["id"], image=row["image_name"])
        for key in ("sketch_path", "thumb_path"):
            rec[key] = str(store.absolute(row[key])) if row[key] else None
        if rec.get("seconds") is not None:
            rec["seconds"] = round(rec["seconds"], 4)
        records.append({k: rec.get(k) for k in RESULT_FIELDS + METRIC_COLUMNS})
    return records


def cmd_results(args) -> int:
    from core.settings import db_path
    from core.store.store import Store, StoreError

    try:
        store = Store(db_path(args.db), readonly=True)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    records = result_records(store, args.sweep)
    if args.json:
        print(json.dumps(records))
    elif args.csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]) if records else list(RESULT_FIELDS))
        writer.writeheader()
        writer.writerows(records)
    else:
        for r in records:
            setting = (r["sketch_checkpoint"] or r["method"], r["mask_checkpoint"] or "-", r["resolution"],
                       r["mask_mode"] or "-", r["softctr"])
            print(f"{r['cell_id']:>6} {r['status']:<8} {r['image']:<30} " + " ".join(map(str, setting))
                  + (f"  {r['error']}" if r["error"] else ""))
    return 0


def add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time the same cells naive (a process per configuration), by the engine, and as bare forward calls",
        description="Default workload: random-weight seed-architecture checkpoints at width 1.0 (two Mask Net v2, "
        "two deep Sketch Nets), 4 generated images, resolution 424, soft and hard: 32 cells.",
    )
    p.add_argument("--images", type=positive_int, default=4, help="number of generated images (default 4)")
    p.add_argument("--resolution", type=positive_int, default=424, help="Sketch Net side (default 424)")
    p.add_argument("--width", type=float, default=1.0, help="network width multiplier (default 1.0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args) -> int:
    from core.sweeps.bench import run_bench

    result = run_bench(args.images, args.resolution, args.device, args.width)
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
