"""``datasets build``, ``train`` and ``overfit``: the demo's data, its checkpoints and their overfitting check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.arguments import EXIT_USAGE, positive_int
from core.errors import EvaluationError, TrainingError, UsageError


def add_datasets_parser(sub) -> None:
    """Add ``datasets build``: the project's test sets, generated or copied from installed packages."""
    p = sub.add_parser("datasets", help="build the project's test sets (nothing is downloaded)")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    b = dsub.add_parser("build", help="build photos, objects-train and objects-heldout under runs/datasets/")
    b.add_argument("--root", type=Path, help="output folder (default runs/datasets)")
    b.add_argument("--train-count", type=positive_int, default=24, help="scenes in objects-train (default 24)")
    b.add_argument("--heldout-count", type=positive_int, default=24, help="scenes in objects-heldout (default 24)")
    b.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes (default 0)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--training", action="store_true",
                   help="also build sketch-train and masks-train, the demo's augmented training sets (~2 min)")
    b.set_defaults(handler=cmd_datasets_build)
    p.set_defaults(handler=lambda args: (p.print_help(), EXIT_USAGE)[1])


def datasets_root(explicit: Path | None = None) -> Path:
    """The folder of the built test sets: ``explicit``, else ``<runs>/datasets``."""
    from core.settings import runs_dir

    return explicit or runs_dir() / "datasets"


def cmd_datasets_build(args) -> int:
    """Build (or refresh) the test sets and list them with their image counts."""
    from core.data.builder import build_all
    from core.data.testset import load_test_set

    sets = build_all(datasets_root(args.root), args.train_count, args.heldout_count, seed=args.seed, force=args.force,
                     training=args.training)
    for name, folder in sets.items():
        print(f"{name:<16} {len(load_test_set(folder)):>4} images  {folder}")
    return 0


def add_train_parser(sub) -> None:
    """Add ``train sketch`` and ``train mask``: the original architectures at any width."""
    p = sub.add_parser("train", help="train a Sketch Net or a Mask Net the way the original project did")
    tsub = p.add_subparsers(dest="train_command", metavar="NET")
    for kind in ("sketch", "mask"):
        t = tsub.add_parser(kind, help=f"train a {'Sketch' if kind == 'sketch' else 'Mask'} Net; "
                            "snapshots stage1 at half the steps and stage2 at the end")
        t.add_argument("--data", type=Path, nargs="+", required=True, help="test-set folders to train on")
        t.add_argument("--out", type=Path, required=True, help="output folder for checkpoints and the curve CSV")
        t.add_argument("--architecture", default="sketchnet_deep" if kind == "sketch" else "masknet_v2")
        t.add_argument("--width", type=float, default=0.25, help="width multiplier (1.0 = original)")
        t.add_argument("--steps", type=positive_int, default=1000)
        t.add_argument("--batch-size", type=positive_int, default=4)
        t.add_argument("--lr", type=float, default=2e-4 if kind == "sketch" else 1e-4)
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--log-every", type=positive_int, default=10)
        t.add_argument("--prefix", help="file name prefix of the outputs")
        t.add_argument("--device", default="cpu")
        t.add_argument("--threads", type=positive_int, help="torch threads (default: torch's choice)")
        t.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        t.add_argument("--lr-decay", choices=("none", "cosine"), default="none", help="learning-rate schedule")
        if kind == "sketch":
            t.add_argument("--side", type=positive_int, default=128, help="training side in px")
            t.add_argument("--target", choices=("pencil", "drawing", "lines"), default="pencil",
                           help="pencil drawings made from the photos, the set's drawings/, or clean XDoG lines "
                                "made from the net's gamma'd input")
            t.add_argument("--adv-weight", type=float, default=1.0, help="weight of the critic's loss (0 = no critic)")
            t.add_argument("--l1-weight", type=float, default=100.0, help="weight of the L1 loss")
            t.add_argument("--ink-weight", type=float, default=1.0, help="extra L1 weight on the target's ink")

        if kind == "mask":
            t.add_argument("--dice-weight", type=float, default=0.0, help="weight of a soft Dice loss added to BCE")
        t.set_defaults(handler=cmd_train, kind=kind)
    p.set_defaults(handler=lambda args: (p.print_help(), EXIT_USAGE)[1])


def cmd_train(args) -> int:
    """Train one network; print where its snapshots and curve went and its final losses."""
    import shlex

    from core.training.mask import train_mask
    from core.training.sketch import train_sketch

    common = dict(architecture=args.architecture, width=args.width, steps=args.steps, batch_size=args.batch_size,
                  lr=args.lr, seed=args.seed, log_every=args.log_every, prefix=args.prefix, device=args.device,
                  overwrite=args.overwrite, threads=args.threads, lr_decay=args.lr_decay,
                  command="workbench " + shlex.join(sys.argv[1:]))
    try:
        if args.kind == "sketch":
            result = train_sketch(args.data, args.out, side=args.side, target=args.target, adv_weight=args.adv_weight,
                                  l1_weight=args.l1_weight, ink_weight=args.ink_weight, **common)
        else:
            result = train_mask(args.data, args.out, dice_weight=args.dice_weight, **common)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.final_losses.items())
    print(f"stage1 {result.stage1}\nstage2 {result.stage2}\ncurve  {result.curve}\n"
          f"{result.steps} steps in {result.seconds:.1f} s; final {losses}", file=sys.stderr)
    return 0


def add_overfit_parser(sub) -> None:
    """Add ``overfit``: scores on a train and a held-out split, side by side."""
    p = sub.add_parser("overfit", help="score checkpoints on a train and a held-out split (mask IoU, edge F1)")
    p.add_argument("--mask-checkpoint", type=Path, nargs="+", default=[], dest="mask_checkpoints")
    p.add_argument("--sketch-checkpoint", type=Path, nargs="*", default=[], dest="sketch_checkpoints")
    p.add_argument("--train", type=Path, required=True, help="the split the checkpoints were trained on")
    p.add_argument("--heldout", type=Path, required=True, help="a split they never saw")
    p.add_argument("--sketch-train", type=Path, help="score Sketch Nets on this split instead of --train "
                   "(e.g. runs/datasets/photos-train: edge F1 against the photos' own edges and the target)")
    p.add_argument("--sketch-heldout", type=Path, help="score Sketch Nets on this split instead of --heldout")
    p.add_argument("--device", default="cpu")
    p.add_argument("--db", type=Path, help="also record the scores in this store (default: not recorded)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_overfit)


def cmd_overfit(args) -> int:
    """Score the checkpoints on both splits; print the table (or JSON) and the train - held-out gaps."""
    from core.models.devices import resolve_device
    from core.training.evaluation import check_overfitting, gaps, record_scores

    if not args.mask_checkpoints and not args.sketch_checkpoints:
        raise UsageError("nothing to score: pass --mask-checkpoint and/or --sketch-checkpoint")
    for folder in (args.train, args.heldout, args.sketch_train, args.sketch_heldout):
        if folder is not None and not (folder / "manifest.json").is_file():
            raise UsageError(f"{folder} is not a test set (no manifest.json); build one with `workbench datasets build`")
    try:
        scores = check_overfitting(args.mask_checkpoints, args.train, args.heldout, args.sketch_checkpoints,
                                   resolve_device(args.device), sketch_train=args.sketch_train,
                                   sketch_heldout=args.sketch_heldout)
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
