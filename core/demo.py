"""The out-of-the-box demo: test sets, the committed demo checkpoints, the default sweep, the overfitting check.

``workbench demo`` builds the test sets if they are missing, sweeps the demo
Sketch Net, the stage1/stage2 Mask Nets and the classical baselines over the
real photos at 424 and 848 with soft and hard masks, scores every demo
checkpoint on its train and held-out splits (Mask Nets: IoU on the objects
scenes and the centred-subject check on the photo splits; the small-subset
Mask Net run shows what overfitting looks like; Sketch Nets: edge F1 on the
photo splits), imports the training curves, then opens the app.
Everything it computes lands in the store, so a second run reuses it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import DemoError
from core.settings import PROJECT_ROOT

DEMO_WEIGHTS = PROJECT_ROOT / "weights" / "demo"
MASK_STAGES = ("MaskNet_v2_stage1.safetensors", "MaskNet_v2_stage2.safetensors")
# A run on the 6 scenes of objects-train-small: from stage1 to stage2 it fits them ever better while
# held-out scenes gain little, the overfitting example.
OVERFIT_STAGES = ("MaskNet_v2_small_stage1.safetensors", "MaskNet_v2_small_stage2.safetensors")
SKETCH_CHECKPOINTS = ("SketchNet_stage2.safetensors",)  # swept; both stages are scored
SKETCH_STAGES = ("SketchNet_stage1.safetensors", "SketchNet_stage2.safetensors")
CURVES = ("MaskNet_v2_curve.csv", "MaskNet_v2_small_curve.csv", "SketchNet_curve.csv")
RESOLUTIONS = (424, 848)
BASELINES = ("canny", "xdog", "pencil")

log = logging.getLogger(__name__)


def demo_files() -> dict[str, list[Path]]:
    """The committed demo checkpoints and curves, checked to exist."""
    files = {
        "mask": [DEMO_WEIGHTS / n for n in MASK_STAGES],
        "overfit": [DEMO_WEIGHTS / n for n in OVERFIT_STAGES],
        "sketch": [DEMO_WEIGHTS / n for n in SKETCH_CHECKPOINTS],
        "sketch_stages": [DEMO_WEIGHTS / n for n in SKETCH_STAGES],
        "curves": [DEMO_WEIGHTS / n for n in CURVES],
    }
    missing = [p for group in files.values() for p in group if not p.is_file()]
    if missing:
        raise DemoError(
            f"demo file {missing[0]} is missing; restore weights/demo from the repository "
            "or re-create it with the train commands in the README"
        )
    return files


def demo_spec(photos: Path, files: dict[str, list[Path]], device: str = "auto"):
    """The default demo sweep: demo checkpoints and baselines x 424/848 x soft/hard on the photos."""
    from core.sweeps.spec import SweepSpec

    return SweepSpec(
        images=[str(photos)],
        sketch_checkpoints=[str(p) for p in files["sketch"]],
        mask_checkpoints=[str(p) for p in files["mask"]],
        baselines=list(BASELINES),
        resolutions=list(RESOLUTIONS),
        mask_modes=["soft", "hard"],
        softctrs=[0.5],
        device=device,
        name="demo: photos x stage1/stage2 x 424/848 x soft/hard",
        note="the default demo sweep (workbench demo)",
    )


def import_curves(store, paths: list[Path]) -> None:
    """Store training-curve CSVs (original format) under their file names, replacing older copies."""
    from core.training.curves import read_curve, save_curves

    for path in paths:
        read_curve(path)  # refuses a malformed file before anything is stored, as a TrainingError the CLI reports
    save_curves(store, [(path.name, str(path), path.read_text(encoding="utf-8-sig")) for path in paths])


def demo_scores(files: dict[str, list[Path]], sets: dict[str, Path], device="cpu") -> list:
    """Every demo checkpoint on its train and held-out splits (the sets :func:`~core.data.builder.build_all` made).

    Mask Nets: IoU on objects-train / objects-heldout (the overfitting run's
    on objects-train-small, the scenes it was trained on), and the
    centred-subject check on photos-train / photos-heldout; Sketch Nets (both
    stages): edge F1 against the photo's own edges and against their target on
    the photo splits.
    """
    from core.training.evaluation import check_overfitting

    scores = check_overfitting(files["mask"], sets["objects-train"], sets["objects-heldout"], files["sketch_stages"],
                               device, sketch_train=sets["photos-train"], sketch_heldout=sets["photos-heldout"])
    if files["overfit"]:
        scores += check_overfitting(files["overfit"], sets["objects-train-small"], sets["objects-heldout"],
                                    device=device)
    return scores + check_overfitting(files["mask"], sets["photos-train"], sets["photos-heldout"], device=device)


def run_demo(db_path: Path, datasets_root: Path, device: str = "auto", progress: bool = True) -> dict:
    """Build data, run the demo sweep and the overfitting check; return a summary.

    Each step is logged at INFO on this module's logger (``workbench demo``
    shows those lines); ``progress`` switches the sweep's progress bar.
    """
    from core.data.builder import build_all
    from core.store.store import Store
    from core.sweeps.run import run_sweep
    from core.training.evaluation import gaps, record_scores

    files = demo_files()
    log.info("[1/3] test sets")
    sets = build_all(datasets_root)
    log.info("[2/3] demo sweep")
    summary = run_sweep(demo_spec(sets["photos"], files, device), db_path, progress=progress)
    log.info("[3/3] overfitting check: stage1 vs stage2, train vs held-out scenes and photos")
    scores = demo_scores(files, sets)
    with Store(db_path) as store:
        record_scores(store, scores)
        import_curves(store, files["curves"])
    for gap in gaps(scores):
        log.info("    %-44s %-9s train %.3f  held-out %.3f  gap %+.3f",
                 gap["checkpoint"], gap["metric"], gap["train"], gap["heldout"], gap["gap"])
    return {"sweep": summary.to_dict(), "gaps": gaps(scores)}
