"""The original ``pipeline.py`` flag for flag, ``inspect`` and ``vectorize``: one image at a time."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.cli.arguments import EXIT_FAILED, mask_mode, parse_bool, positive_int, unit_float
from core.errors import UsageError

ORIGINAL_MASK_FILES = {1: "MaskNet_500epoch.pth", 2: "MaskNet_v2_stage1.pth"}
ORIGINAL_SKETCH_FILES = {"x600": "G_net_x600.pth", "default": "G_net.pth"}


def add_pipeline_parser(sub) -> None:
    """Add ``pipeline``: the original script's flags, defaults and outputs."""
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
    p.add_argument("--maskmode", type=mask_mode, default="soft", help="soft or hard (the original's 'binary')")
    p.add_argument("--softctr", type=unit_float, default=0.5, help="mask threshold in [0, 1] (default 0.5)")
    p.add_argument("--resolution", type=int, default=1,
                   help="Sketch Net input side: 0 = 600, N = N*424 (default 1 = 424)")
    p.add_argument("--background", type=parse_bool, default=True, help="True to run the Mask Net and crop")
    p.add_argument("--merge", type=parse_bool, default=False, help="True for the positive+negative strategy")
    p.add_argument("--gamma", type=parse_bool, default=True, help="True for gamma 2.0 on the Sketch Net input")
    p.add_argument("--vec_input_sz", type=positive_int, default=600, help="width of the saved sketch file")
    p.add_argument("--vec_switch", type=parse_bool, default=False, help="True to also vectorise into strokes")
    p.add_argument("--mask-checkpoint", type=Path, default=None,
                   help="Mask Net checkpoint (default: weights/MaskNet_v2_stage1.pth, or MaskNet_500epoch.pth for v1)")
    p.add_argument("--sketch-checkpoint", type=Path, default=None,
                   help="Sketch Net checkpoint (default: weights/G_net.pth, or G_net_x600.pth for --resolution 0)")
    p.set_defaults(handler=cmd_pipeline)


def _default_checkpoint(name: str, flag: str) -> Path:
    """The original file ``name`` from the weights folders, or a usage error naming ``flag``."""
    from core.settings import find_weight, weights_dirs

    found = find_weight(name)
    if found is None:
        looked = ", ".join(str(d) for d in weights_dirs())
        raise UsageError(f"{name} not found in {looked}; put it there or pass {flag} PATH")
    return found


def cmd_pipeline(args) -> int:
    """Run the original pipeline over ``--datapath``; exit 1 when some image was skipped."""
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
    from core.pipeline.outputs import run_images
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
    outpath = Path(args.outpath)
    outcomes = run_images(images, outpath, settings, sketch_net, mask_net, device, args.vec_input_sz,
                          write_strokes if args.vec_switch else None)
    return report_images(outcomes, len(images), outpath, args.vec_switch)


def _suffixes() -> list[str]:
    """The image extensions read, for messages."""
    from core.pipeline.images import IMAGE_SUFFIXES

    return list(IMAGE_SUFFIXES)


def _load_role(load, path: Path, role: str, flag: str):
    """Load a checkpoint and refuse it unless it is a ``role`` (sketch or mask) net."""
    ckpt = load(path)
    if ckpt.role != role:
        raise UsageError(f"{flag} {path} is a {ckpt.architecture} ({ckpt.role} net), not a {role} net")
    return ckpt


def report_images(outcomes, total: int, outpath: Path, vectorise: bool) -> int:
    """Show a progress bar over the pipeline's outcomes, report skipped images; return the exit status."""
    from tqdm import tqdm

    failed = 0
    with tqdm(total=total, desc="pipeline", unit="img", file=sys.stderr, disable=None) as bar:
        for outcome in outcomes:
            if not outcome.ok:
                failed += 1
                tqdm.write(f"error: skipped {outcome.error}", file=sys.stderr)
            bar.update()
    folders = "gallery, sketch" + (", seq_data, svg, gif, vector" if vectorise else "")
    print(f"{total - failed} of {total} images written to {outpath} ({folders})", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def write_strokes(sketch, outpath: Path, name: str):
    """Vectorise a sketch and write seq_data/<name>.npz, svg/<name>.svg, gif/<name>.gif, vector/<name>.png."""
    from core.sketch.stroke_files import write_stroke_files
    from core.sketch.tracing import vectorize

    strokes = vectorize(sketch)
    write_stroke_files(strokes, outpath, name)
    return strokes


def add_vectorize_parser(sub) -> None:
    """Add ``vectorize``: sketches to strokes files."""
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
    """Vectorise each sketch image under ``source``; exit 1 when some image was skipped."""
    import cv2

    from core.pipeline.images import ImageReadError, list_images, read_image
    from core.pipeline.outputs import output_name

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
        strokes = write_strokes(gray, args.out, output_name(path))
        print(f"{os.fsdecode(path.name)}: {len(strokes.strokes)} strokes", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def add_inspect_parser(sub) -> None:
    """Add ``inspect``: one checkpoint's description."""
    p = sub.add_parser("inspect", help="show a checkpoint's architecture, width, size, sha256 and metadata")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_inspect)


def cmd_inspect(args) -> int:
    """Print a checkpoint's description, as a table or one JSON object."""
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
