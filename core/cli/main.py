"""The ``workbench`` command line: a thin layer over the ``core`` library.

Commands that do not run a network never import torch, so they start fast.
Every expected failure (bad checkpoint, bad image, bad flag) ends with a
one-line ``error: ...`` on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from core.errors import UsageError, WorkbenchError

EXIT_USAGE = 2
EXIT_FAILED = 1


def parse_bool(text: str) -> bool:
    """Parse the original script's ``True``/``False`` strings (case-insensitive; 1/0 and yes/no too)."""
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _mask_mode(text: str) -> str:
    if text == "soft":
        return "soft"
    if text in ("hard", "binary"):
        return "hard"
    raise argparse.ArgumentTypeError(f"expected soft or hard (binary), got {text!r}")


# --------------------------------------------------------------------------- pipeline

ORIGINAL_MASK_FILES = {1: "MaskNet_500epoch.pth", 2: "MaskNet_v2_stage1.pth"}
ORIGINAL_SKETCH_FILES = {"x600": "G_net_x600.pth", "default": "G_net.pth"}


def add_pipeline_parser(sub) -> None:
    p = sub.add_parser(
        "pipeline",
        help="run the original pipeline (Mask Net -> Sketch Net) on an image or a folder",
        description="Drop-in replacement for the original pipeline.py: same flags, same defaults, same outputs "
        "(<outpath>/gallery/<name>.png and <outpath>/sketch/<name>.png).",
    )
    p.add_argument("--datapath", default="input/iphone/", help="an image file or a folder of images")
    p.add_argument("--outpath", default="output/Pipeline/", help="output folder (gallery/ and sketch/ inside)")
    p.add_argument("--cuda", type=parse_bool, default=False, help="True to run on CUDA when available")
    p.add_argument("--version", type=int, choices=(1, 2), default=None,
                   help="Mask Net version: 1 = 28x28 mask, 2 = 56x56 mask (default 2)")
    p.add_argument("--maskmode", type=_mask_mode, default="soft", help="soft or hard (the original's 'binary')")
    p.add_argument("--softctr", type=_unit_float, default=0.5, help="mask threshold in [0, 1] (default 0.5)")
    p.add_argument("--resolution", type=int, default=1,
                   help="Sketch Net input side: 0 = 600, N = N*424 (default 1 = 424)")
    p.add_argument("--background", type=parse_bool, default=True, help="True to run the Mask Net and crop")
    p.add_argument("--merge", type=parse_bool, default=False, help="True for the positive+negative strategy")
    p.add_argument("--gamma", type=parse_bool, default=True, help="True for gamma 2.0 on the Sketch Net input")
    p.add_argument("--vec_input_sz", type=_positive_int, default=600, help="width of the saved sketch file")
    p.add_argument("--vec_switch", type=parse_bool, default=False, help="True to also vectorise into strokes")
    p.add_argument("--mask-checkpoint", type=Path, default=None,
                   help="Mask Net checkpoint (default: weights/MaskNet_v2_stage1.pth, or MaskNet_500epoch.pth for v1)")
    p.add_argument("--sketch-checkpoint", type=Path, default=None,
                   help="Sketch Net checkpoint (default: weights/G_net.pth, or G_net_x600.pth for --resolution 0)")
    p.set_defaults(handler=cmd_pipeline)


def _default_checkpoint(name: str, flag: str) -> Path:
    from core.settings import find_weight, weights_dirs

    found = find_weight(name)
    if found is None:
        looked = ", ".join(str(d) for d in weights_dirs())
        raise UsageError(f"{name} not found in {looked}; put it there or pass {flag} PATH")
    return found


def cmd_pipeline(args) -> int:
    if args.resolution < 0:
        raise UsageError(f"--resolution must be 0 (600 px) or a positive number of 424 px steps, not {args.resolution}")
    datapath = Path(args.datapath)
    if not datapath.exists():
        raise UsageError(f"--datapath {datapath} does not exist")

    from core.pipeline.images import list_images

    images = list_images(datapath, recursive=False)
    if not images:
        raise UsageError(f"--datapath {datapath} holds no images ({', '.join(_suffixes())})")

    import torch

    from core.models.checkpoints import load_checkpoint
    from core.pipeline.seed import SeedSettings, side_from_resolution

    side = side_from_resolution(args.resolution)

    sketch_path = args.sketch_checkpoint or _default_checkpoint(
        ORIGINAL_SKETCH_FILES["x600" if args.resolution == 0 else "default"], "--sketch-checkpoint"
    )
    sketch_ckpt = _load_role(load_checkpoint, sketch_path, "sketch", "--sketch-checkpoint")
    mask_net = None
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")
    if args.cuda and device.type == "cpu":
        print("warning: --cuda True but CUDA is not available; running on the CPU", file=sys.stderr)
    if args.background:
        version = args.version or 2
        mask_path = args.mask_checkpoint or _default_checkpoint(ORIGINAL_MASK_FILES[version], "--mask-checkpoint")
        mask_ckpt = _load_role(load_checkpoint, mask_path, "mask", "--mask-checkpoint")
        wanted = f"masknet_v{args.version}" if args.version else None
        if wanted and mask_ckpt.architecture != wanted:
            raise UsageError(f"--version {args.version} asks for {wanted} but {mask_path} is {mask_ckpt.architecture}")
        mask_net = mask_ckpt.build(device)
    sketch_net = sketch_ckpt.build(device)
    settings = SeedSettings(side, args.background, args.maskmode, args.softctr, args.gamma, args.merge)
    return _run_pipeline_images(images, Path(args.outpath), settings, sketch_net, mask_net, device, args.vec_input_sz,
                                args.vec_switch)


def _suffixes() -> list[str]:
    from core.pipeline.images import IMAGE_SUFFIXES

    return list(IMAGE_SUFFIXES)


def _load_role(load, path: Path, role: str, flag: str):
    ckpt = load(path)
    if ckpt.role != role:
        raise UsageError(f"{flag} {path} is a {ckpt.architecture} ({ckpt.role} net), not a {role} net")
    return ckpt


def _run_pipeline_images(images, outpath, settings, sketch_net, mask_net, device, vec_width, vectorise) -> int:
    from tqdm import tqdm

    from core.files import write_atomic
    from core.pipeline.images import ImageReadError, read_image
    from core.pipeline.seed import encode_png, gallery_sheet, run_seed, saved_sketch

    failed = 0
    bar = tqdm(images, desc="pipeline", unit="img", file=sys.stderr, disable=None)
    for path in bar:
        name = os.fsdecode(path.name).rsplit(".", 1)[0]
        try:
            img = read_image(path)
        except ImageReadError as exc:
            failed += 1
            tqdm.write(f"error: skipped {exc}", file=sys.stderr)
            continue
        result = run_seed(img, settings, sketch_net, mask_net, device)
        saved = saved_sketch(result.sketch, vec_width)
        write_atomic(outpath / "sketch" / f"{name}.png", encode_png(saved))
        write_atomic(outpath / "gallery" / f"{name}.png", encode_png(gallery_sheet(img, result.cropped, result.sketch)))
        if vectorise:
            # As the original: the saved sketch (vec_input_sz wide, after gamma 3) is what gets vectorised.
            write_strokes(saved, outpath, name)
    done = len(images) - failed
    folders = "gallery, sketch" + (", seq_data, svg, gif, vector" if vectorise else "")
    print(f"{done} of {len(images)} images written to {outpath} ({folders})", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def write_strokes(sketch, outpath: Path, name: str):
    """Vectorise a sketch and write seq_data/<name>.npz, svg/<name>.svg, gif/<name>.gif, vector/<name>.png."""
    from core.files import write_atomic
    from core.sketch.strokes import save_gif, save_npz, save_vector_png, to_svg, vectorize

    strokes = vectorize(sketch)
    save_npz(strokes, outpath / "seq_data" / f"{name}.npz")
    write_atomic(outpath / "svg" / f"{name}.svg", to_svg(strokes).encode())
    save_gif(strokes, outpath / "gif" / f"{name}.gif")
    save_vector_png(strokes, outpath / "vector" / f"{name}.png")
    return strokes


def add_vectorize_parser(sub) -> None:
    p = sub.add_parser(
        "vectorize",
        help="turn sketches (images, 0 = ink) into strokes: npz, SVG, drawing-order GIF, vector frame",
        description="Writes OUT/seq_data/<name>.npz, OUT/svg/<name>.svg, OUT/gif/<name>.gif and "
        "OUT/vector/<name>.png for each sketch image.",
    )
    p.add_argument("source", type=Path, help="a sketch image or a folder of them")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(handler=cmd_vectorize)


def cmd_vectorize(args) -> int:
    import cv2

    from core.pipeline.images import ImageReadError, list_images, read_image

    if not args.source.exists():
        raise UsageError(f"{args.source} does not exist")
    paths = list_images(args.source, recursive=False)
    if not paths:
        raise UsageError(f"{args.source} holds no images ({', '.join(_suffixes())})")
    failed = 0
    for path in paths:
        try:
            gray = cv2.cvtColor(read_image(path), cv2.COLOR_RGB2GRAY)
        except ImageReadError as exc:
            failed += 1
            print(f"error: skipped {exc}", file=sys.stderr)
            continue
        name = os.fsdecode(path.name).rsplit(".", 1)[0]
        strokes = write_strokes(gray, args.out, name)
        print(f"{os.fsdecode(path.name)}: {len(strokes.strokes)} strokes", file=sys.stderr)
    return EXIT_FAILED if failed else 0


# --------------------------------------------------------------------------- inspect


def add_inspect_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show a checkpoint's architecture, width, size, sha256 and metadata")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_inspect)


def cmd_inspect(args) -> int:
    from core.models.checkpoints import load_checkpoint

    info = load_checkpoint(args.checkpoint).describe()
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key == "metadata":
            continue
        shown = f"{value:,}" if isinstance(value, int) else value
        print(f"{key:<{width}}  {shown}")
    for key, value in sorted(info["metadata"].items()):
        print(f"{'meta.' + key:<{width}}  {value}")
    return 0


# --------------------------------------------------------------------------- sweep & results


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
    p.add_argument("--softctr", nargs="+", type=_unit_float, dest="softctrs")
    p.add_argument("--gamma", nargs="+", type=parse_bool, dest="gammas")
    p.add_argument("--merge", nargs="+", type=parse_bool, dest="merges")
    p.add_argument("--profile", nargs="+", dest="profiles", help="pipeline profile (seed)")
    p.add_argument("--precision", nargs="+", dest="precisions", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--vectorize", type=parse_bool, help="True to vectorise every sketch into strokes")
    p.add_argument("--max-pixels", type=_positive_int, help="refuse images whose header declares more pixels")
    p.add_argument("--name", help="a name for the sweep")
    p.add_argument("--note", help="a note for the sweep")
    p.add_argument("--retry-failed", action="store_true", help="compute failed cells again")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: Ray workers, one per GPU or per "
                   "--ray-cpus-per-worker cores (needs pip install '.[ray]')")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="a Ray cluster to run on (host:port from `ray start --head`, or auto); "
                   "default: start a local Ray instance for the sweep")
    p.add_argument("--ray-cpus-per-worker", type=_positive_int, default=1, metavar="N",
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
        params.setdefault(method, {})[param] = _number(value)
    fields["baseline_params"] = params
    if not fields.get("images"):
        raise UsageError("no test set: pass --images DIR (or images = [...] in --config)")
    return SweepSpec(**fields)


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


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


# --------------------------------------------------------------------------- bench


def add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time the same cells naive (a process per configuration), by the engine, and as bare forward calls",
        description="Default workload: random-weight seed-architecture checkpoints at width 1.0 (two Mask Net v2, "
        "two deep Sketch Nets), 4 generated images, resolution 424, soft and hard: 32 cells.",
    )
    p.add_argument("--images", type=_positive_int, default=4, help="number of generated images (default 4)")
    p.add_argument("--resolution", type=_positive_int, default=424, help="Sketch Net side (default 424)")
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


# --------------------------------------------------------------------------- datasets, train, overfit


def add_datasets_parser(sub) -> None:
    p = sub.add_parser("datasets", help="build the project's test sets (nothing is downloaded)")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    b = dsub.add_parser("build", help="build photos, objects-train and objects-heldout under runs/datasets/")
    b.add_argument("--root", type=Path, help="output folder (default runs/datasets)")
    b.add_argument("--train-count", type=_positive_int, default=24, help="scenes in objects-train (default 24)")
    b.add_argument("--heldout-count", type=_positive_int, default=24, help="scenes in objects-heldout (default 24)")
    b.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes (default 0)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.set_defaults(handler=cmd_datasets_build)
    p.set_defaults(handler=lambda args: (p.print_help(), EXIT_USAGE)[1])


def datasets_root(explicit: Path | None = None) -> Path:
    from core.settings import runs_dir

    return explicit or runs_dir() / "datasets"


def cmd_datasets_build(args) -> int:
    from core.data.testsets import build_all, load_test_set

    sets = build_all(datasets_root(args.root), args.train_count, args.heldout_count, seed=args.seed, force=args.force)
    for name, folder in sets.items():
        print(f"{name:<16} {len(load_test_set(folder)):>4} images  {folder}")
    return 0


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a Sketch Net or a Mask Net the way the original project did")
    tsub = p.add_subparsers(dest="train_command", metavar="NET")
    for kind in ("sketch", "mask"):
        t = tsub.add_parser(kind, help=f"train a {'Sketch' if kind == 'sketch' else 'Mask'} Net; "
                            "snapshots stage1 at half the steps and stage2 at the end")
        t.add_argument("--data", type=Path, nargs="+", required=True, help="test-set folders to train on")
        t.add_argument("--out", type=Path, required=True, help="output folder for checkpoints and the curve CSV")
        t.add_argument("--architecture", default="sketchnet_deep" if kind == "sketch" else "masknet_v2")
        t.add_argument("--width", type=float, default=0.25, help="width multiplier (1.0 = original)")
        t.add_argument("--steps", type=_positive_int, default=1000)
        t.add_argument("--batch-size", type=_positive_int, default=4)
        t.add_argument("--lr", type=float, default=2e-4 if kind == "sketch" else 1e-4)
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--log-every", type=_positive_int, default=10)
        t.add_argument("--prefix", help="file name prefix of the outputs")
        t.add_argument("--device", default="cpu")
        t.add_argument("--threads", type=_positive_int, help="torch threads (default: torch's choice)")
        t.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        if kind == "sketch":
            t.add_argument("--side", type=_positive_int, default=128, help="training side in px")
            t.add_argument("--target", choices=("pencil", "drawing"), default="pencil",
                           help="pencil drawings made from the photos, or the set's drawings/")
        t.set_defaults(handler=cmd_train, kind=kind)
    p.set_defaults(handler=lambda args: (p.print_help(), EXIT_USAGE)[1])


def cmd_train(args) -> int:
    import shlex

    from core.training import train as training

    common = dict(architecture=args.architecture, width=args.width, steps=args.steps, batch_size=args.batch_size,
                  lr=args.lr, seed=args.seed, log_every=args.log_every, prefix=args.prefix, device=args.device,
                  overwrite=args.overwrite, threads=args.threads, command="workbench " + shlex.join(sys.argv[1:]))
    try:
        if args.kind == "sketch":
            result = training.train_sketch(args.data, args.out, side=args.side, target=args.target, **common)
        else:
            result = training.train_mask(args.data, args.out, **common)
    except training.TrainingError as exc:
        raise UsageError(str(exc)) from None
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.final_losses.items())
    print(f"stage1 {result.stage1}\nstage2 {result.stage2}\ncurve  {result.curve}\n"
          f"{result.steps} steps in {result.seconds:.1f} s; final {losses}", file=sys.stderr)
    return 0


def add_overfit_parser(sub) -> None:
    p = sub.add_parser("overfit", help="score checkpoints on a train and a held-out split (mask IoU, edge F1)")
    p.add_argument("--mask-checkpoint", type=Path, nargs="+", default=[], dest="mask_checkpoints")
    p.add_argument("--sketch-checkpoint", type=Path, nargs="*", default=[], dest="sketch_checkpoints")
    p.add_argument("--train", type=Path, required=True, help="the split the checkpoints were trained on")
    p.add_argument("--heldout", type=Path, required=True, help="a split they never saw")
    p.add_argument("--device", default="cpu")
    p.add_argument("--db", type=Path, help="also record the scores in this store (default: not recorded)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_overfit)


def cmd_overfit(args) -> int:
    from core.models.devices import resolve_device
    from core.training.evaluation import EvaluationError, check_overfitting, gaps, record_scores

    if not args.mask_checkpoints and not args.sketch_checkpoints:
        raise UsageError("nothing to score: pass --mask-checkpoint and/or --sketch-checkpoint")
    for folder in (args.train, args.heldout):
        if not (folder / "manifest.json").is_file():
            raise UsageError(f"{folder} is not a test set (no manifest.json); build one with `workbench datasets build`")
    try:
        scores = check_overfitting(args.mask_checkpoints, args.train, args.heldout, args.sketch_checkpoints,
                                   resolve_device(args.device))
    except EvaluationError as exc:
        raise UsageError(str(exc)) from None
    if args.db:
        from core.store.store import Store

        with Store(args.db) as store:
            record_scores(store, scores)
    if args.json:
        print(json.dumps({"scores": [{k: v for k, v in s.to_dict().items() if k != "values"} for s in scores],
                          "gaps": gaps(scores)}))
        return 0
    print(f"{'checkpoint':<44} {'metric':<9} {'split':<8} {'mean':>7} {'std':>7} {'n':>4}")
    for s in scores:
        print(f"{s.checkpoint:<44} {s.metric:<9} {s.split:<8} {s.mean:>7.3f} {s.std:>7.3f} {len(s.values):>4}")
    for g in gaps(scores):
        print(f"gap {g['checkpoint']} {g['metric']}: train - heldout = {g['gap']:+.3f}")
    return 0


# --------------------------------------------------------------------------- ui


def add_ui_parser(sub) -> None:
    p = sub.add_parser("ui", help="start the Streamlit workbench (headless) on a store")
    p.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
    p.add_argument("--port", type=_positive_int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.set_defaults(handler=cmd_ui)


def ui_command(db: Path, port: int, host: str) -> list[str]:
    """The argument list that starts the app (no shell)."""
    from core.settings import PROJECT_ROOT

    return [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "streamlit_app.py"),
            "--server.headless", "true", "--server.port", str(port), "--server.address", host,
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]


def cmd_ui(args) -> int:
    from core.settings import db_path

    env = dict(os.environ, WORKBENCH_DB=str(db_path(args.db).resolve()))
    print(f"Sketch Workbench on http://{args.host}:{args.port} (store {env['WORKBENCH_DB']})", file=sys.stderr)
    import subprocess

    try:
        return subprocess.call(ui_command(db_path(args.db), args.port, args.host), env=env)
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------- demo


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the demo data, run the demo sweep and overfitting check, open the app")
    p.add_argument("--no-ui", action="store_true", help="stop after computing (do not start the app)")
    p.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--port", type=_positive_int, default=8501, help="app port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="app address (default 127.0.0.1)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    from core.demo import DemoError, run_demo
    from core.settings import db_path

    try:
        summary = run_demo(db_path(args.db), datasets_root(), args.device)
    except DemoError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(summary))
    if args.no_ui:
        return 0
    args.db = db_path(args.db)
    return cmd_ui(args)


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Sketch Workbench: run, sweep and compare image-to-sketch checkpoints.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_pipeline_parser(sub)
    add_inspect_parser(sub)
    add_vectorize_parser(sub)
    add_sweep_parser(sub)
    add_results_parser(sub)
    add_bench_parser(sub)
    add_ui_parser(sub)
    add_datasets_parser(sub)
    add_train_parser(sub)
    add_overfit_parser(sub)
    add_demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
