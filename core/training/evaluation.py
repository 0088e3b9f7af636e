"""The overfitting check: score checkpoints on a train split and a held-out split.

Mask Nets are scored by mask IoU against the test set's ground-truth masks,
and on real photos (no masks) by whether the mask finds the centred subject
(:func:`finds_subject`). Sketch Nets are scored by edge F1 and chamfer distance
against a set's ground-truth drawings; on real photos (no drawings) by edge F1
against the photo's own edges and against the drawing they were trained to
make (:mod:`core.training.references`), at the pipeline's 424 px. A checkpoint that scores much better on the data it
was trained on than on held-out data overfits: the train - held-out gap is
the number to watch (the original project's stage2 Mask Net "seems to have a
serious overfitting").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import EvaluationError, ImageReadError
from core.files import read_gray

# Which way each evaluation metric improves, and the kind of net it scores (the store keeps no role).
HIGHER_IS_BETTER = {"mask_iou": True, "edge_f1": True, "chamfer": False, "subject_found": True,
                    "edge_f1_photo": True, "edge_f1_target": True}
METRIC_ROLES = {"mask_iou": "mask", "edge_f1": "sketch", "chamfer": "sketch", "subject_found": "mask",
                "edge_f1_photo": "sketch", "edge_f1_target": "sketch"}
# The pipeline side (--resolution 1) real photos are sketched at when scored.
PHOTO_SIDE = 424
# Border band (fraction of each side) a centred subject's mask should leave out, and how much of it may be covered.
FRAME_BAND, FRAME_COVER_MAX = 0.04, 0.25
EVALUATION_DESCRIPTIONS = {
    "mask_iou": "Intersection over union of the Mask Net's thresholded mask with the ground-truth mask (0-1); "
                "higher is better.",
    "edge_f1": "Edge F1 of the Sketch Net's drawing against the ground-truth drawing (0-1); higher is better.",
    "chamfer": "Chamfer distance in pixels between the Sketch Net's ink and the ground-truth drawing's; "
               "lower is better.",
    "subject_found": "On real photos with a centred subject: 1 when the Mask Net's mask covers the photo's centre "
                     "and leaves the frame out, else 0; the mean is the share of photos; higher is better.",
    "edge_f1_photo": "Edge F1 (2 px) of the Sketch Net's drawing of a real photo (background off, 424 px) against "
                     "the photo's own edges (auto-threshold Canny of the blurred photo); higher is better.",
    "edge_f1_target": "Edge F1 (2 px) of the Sketch Net's drawing of a real photo (background off, 424 px) against "
                      "the line drawing it was trained to make; higher is better.",
}


@dataclass
class Score:
    """One checkpoint on one split: a metric's per-image values and their summary."""

    checkpoint: str  # label: file name @ short sha
    checkpoint_sha256: str
    role: str
    test_set: str
    split: str  # "train" or "heldout"
    metric: str
    values: list[float]

    @property
    def mean(self) -> float:
        """Mean of the per-image values (NaN when there are none)."""
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def std(self) -> float:
        """Population standard deviation of the per-image values (NaN when there are none)."""
        return float(np.std(self.values)) if self.values else float("nan")

    def to_dict(self) -> dict:
        """Every field plus ``mean``, ``std`` and ``images`` (the number of values)."""
        d = asdict(self)
        d.update(mean=self.mean, std=self.std, images=len(self.values))
        return d


def mask_iou(predicted: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of a Mask Net output (any size, values in [0, 1]) against a ground-truth mask (255 = object).

    The prediction is resized (bilinear) to the ground truth's size and
    thresholded; two empty masks count as a perfect match.
    """
    h, w = truth.shape[:2]
    pred = cv2.resize(predicted.astype(np.float32), (w, h)) > threshold
    true = truth > 127
    union = np.logical_or(pred, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, true).sum() / union)


def finds_subject(predicted: np.ndarray) -> bool:
    """Whether a Mask Net output finds a centred subject: its centre is covered and the frame is left out.

    The mask (values in [0, 1], thresholded at 0.5) must cover most of the
    central tenth of the image and at most :data:`FRAME_COVER_MAX` of the
    outer :data:`FRAME_BAND` border band.
    """
    m = np.asarray(predicted, np.float32) > 0.5
    h, w = m.shape
    cy, cx, ry, rx = h // 2, w // 2, max(1, h // 20), max(1, w // 20)
    centre = m[cy - ry:cy + ry + 1, cx - rx:cx + rx + 1].mean() > 0.5
    by, bx = max(1, round(h * FRAME_BAND)), max(1, round(w * FRAME_BAND))
    band = np.ones_like(m)
    band[by:h - by, bx:w - bx] = False
    return bool(centre and m[band].mean() <= FRAME_COVER_MAX)


def _read_truth(path: Path) -> np.ndarray:
    """Read a ground-truth mask or drawing as uint8 grey, as an :class:`EvaluationError` when it cannot be read."""
    try:
        return read_gray(path)
    except ImageReadError as exc:
        raise EvaluationError(str(exc)) from None


def evaluate_masks(checkpoints: list, folder: Path, split: str, device="cpu") -> list[Score]:
    """Mask IoU of each Mask Net checkpoint on every image of a test set with masks."""
    from core.data.testset import load_test_set
    from core.models.inference import optimize_for_inference
    from core.pipeline.images import read_image
    from core.pipeline.seed import predict_mask

    test_set = load_test_set(folder)
    items = [i for i in test_set.items if i.mask is not None]
    if not items:
        return _evaluate_subjects(checkpoints, test_set, split, device)
    images = [(read_image(i.image), _read_truth(i.mask)) for i in items]
    scores = []
    for ckpt in checkpoints:
        net = optimize_for_inference(ckpt.build(), device)
        values = [mask_iou(predict_mask(net, img, device), truth) for img, truth in images]
        scores.append(Score(ckpt.label, ckpt.sha256, "mask", test_set.name, split, "mask_iou", values))
    return scores


def _evaluate_subjects(checkpoints: list, test_set, split: str, device) -> list[Score]:
    """``subject_found`` of each Mask Net on the photos a set marks as having a centred subject."""
    from core.models.inference import optimize_for_inference
    from core.pipeline.images import read_image
    from core.pipeline.seed import predict_mask

    centred = {str(e["id"]) for e in test_set.manifest["files"] if e.get("centred_subject")}
    items = [i for i in test_set.items if i.id in centred]
    if not items:
        raise EvaluationError(f"test set {test_set.folder} has neither ground-truth masks (masks/) nor photos "
                              "marked centred_subject; use objects-train/-heldout or photos-train/-heldout")
    images = [read_image(i.image) for i in items]
    scores = []
    for ckpt in checkpoints:
        net = optimize_for_inference(ckpt.build(), device)
        values = [float(finds_subject(predict_mask(net, img, device))) for img in images]
        scores.append(Score(ckpt.label, ckpt.sha256, "mask", test_set.name, split, "subject_found", values))
    return scores


def evaluate_sketches(checkpoints: list, folder: Path, split: str, side: int = 256, device="cpu") -> list[Score]:
    """Edge F1 and chamfer distance of each Sketch Net (background off) against the ground-truth drawings."""
    from core.data.testset import load_test_set
    from core.models.inference import optimize_for_inference
    from core.pipeline.images import read_image
    from core.pipeline.seed import apply_gamma, predict_sketch
    from core.sketch.metrics import chamfer_distance, edge_prf

    test_set = load_test_set(folder)
    items = [i for i in test_set.items if i.drawing is not None]
    if not items:
        return evaluate_photo_sketches(checkpoints, folder, split, device=device)
    scores = []
    for ckpt in checkpoints:
        net = optimize_for_inference(ckpt.build(), device)
        f1, chamfer = [], []
        for item in items:
            sketch = predict_sketch(net, apply_gamma(read_image(item.image), 2.0), side, device)
            truth = _read_truth(item.drawing)
            f1.append(edge_prf(sketch, truth)["f1"])
            chamfer.append(chamfer_distance(sketch, truth))
        scores.append(Score(ckpt.label, ckpt.sha256, "sketch", test_set.name, split, "edge_f1", f1))
        scores.append(Score(ckpt.label, ckpt.sha256, "sketch", test_set.name, split, "chamfer", chamfer))
    return scores


def evaluate_photo_sketches(checkpoints: list, folder: Path, split: str, side: int = PHOTO_SIDE,
                            device="cpu") -> list[Score]:
    """Edge F1 of each Sketch Net on real photos (background off) against their own edges and its target."""
    from core.data.testset import load_test_set
    from core.models.inference import optimize_for_inference
    from core.pipeline.images import read_image
    from core.sketch.metrics import edge_prf
    from core.training.references import photo_edges, sketch_photo, target_drawing

    test_set = load_test_set(folder)
    if not test_set.items:
        raise EvaluationError(f"test set {folder} has no images")
    photos = [read_image(i.image) for i in test_set.items]
    refs = [(photo_edges(img), target_drawing(img, side)) for img in photos]
    scores = []
    for ckpt in checkpoints:
        net = optimize_for_inference(ckpt.build(), device)
        own, target = [], []
        for img, (edges, lines) in zip(photos, refs):
            sketch = sketch_photo(net, img, side, device)
            own.append(edge_prf(sketch, edges)["f1"])
            target.append(edge_prf(sketch, lines)["f1"])
        scores.append(Score(ckpt.label, ckpt.sha256, "sketch", test_set.name, split, "edge_f1_photo", own))
        scores.append(Score(ckpt.label, ckpt.sha256, "sketch", test_set.name, split, "edge_f1_target", target))
    return scores


def check_overfitting(mask_paths: list, train: Path, heldout: Path, sketch_paths: list | None = None,
                      device="cpu", sketch_train: Path | None = None, sketch_heldout: Path | None = None) -> list[Score]:
    """Score every checkpoint on both splits (mask IoU; edge F1 and chamfer for Sketch Nets).

    Sketch Nets are scored on ``sketch_train`` / ``sketch_heldout`` when given
    (e.g. photos-train / photos-heldout), else on ``train`` / ``heldout``.
    """
    from core.models.checkpoints import load_checkpoint

    masks = [load_checkpoint(p) for p in mask_paths]
    sketches = [load_checkpoint(p) for p in sketch_paths or []]
    for ckpt, role in [(m, "mask") for m in masks] + [(s, "sketch") for s in sketches]:
        if ckpt.role != role:
            raise EvaluationError(f"{ckpt.path} is a {ckpt.architecture}, not a {role} net")
    scores: list[Score] = []
    sketch_folders = {"train": sketch_train or train, "heldout": sketch_heldout or heldout}
    for split, folder in (("train", Path(train)), ("heldout", Path(heldout))):
        if masks:
            scores += evaluate_masks(masks, folder, split, device)
        if sketches:
            scores += evaluate_sketches(sketches, Path(sketch_folders[split]), split, device=device)
    return scores


def gaps(scores: list[Score]) -> list[dict]:
    """Per checkpoint and metric: train mean, held-out mean and the train - held-out gap."""
    table: dict[tuple, dict] = {}
    for s in scores:
        row = table.setdefault((s.checkpoint, s.metric), {"checkpoint": s.checkpoint, "metric": s.metric})
        row[s.split] = s.mean
    for row in table.values():
        row["gap"] = row.get("train", float("nan")) - row.get("heldout", float("nan"))
    return list(table.values())


def record_scores(store, scores: list[Score]) -> None:
    """Keep the scores in the store's ``evaluations`` table (one row per checkpoint, set and metric)."""
    store.record_evaluations([
        {"checkpoint_sha256": s.checkpoint_sha256, "checkpoint": s.checkpoint, "test_set": s.test_set,
         "split": s.split, "metric": s.metric, "values": s.values, "mean": s.mean, "std": s.std}
        for s in scores
    ])


def stored_scores(store) -> list[Score]:
    """The scores kept by :func:`record_scores`, read back from the store (by checkpoint, metric, split)."""
    return [
        Score(r["checkpoint"], r["checkpoint_sha256"], METRIC_ROLES.get(r["metric"], ""), r["test_set"], r["split"],
              r["metric"], r["values"])
        for r in store.evaluations()
    ]


def train_advantage(metric: str, gap: float) -> float:
    """How much better a checkpoint scores on train than held out: the gap, sign-flipped where lower is better."""
    return gap if HIGHER_IS_BETTER.get(metric, True) else -gap


def gap_summary(scores: list[Score]) -> list[dict]:
    """Per checkpoint and metric: mean, std, images and test set of each split, the gap and the train advantage.

    Keys: ``checkpoint``, ``metric``, ``train_mean``, ``train_std``, ``train_images``,
    ``train_set`` and the same with ``heldout_``, ``gap`` (train - held-out mean, NaN
    when a split is missing) and ``train_advantage`` (:func:`train_advantage`; above
    zero means the checkpoint does better on what it was trained on). When a split
    was scored on several test sets, their per-image values are pooled.
    """
    table: dict[tuple, dict] = {}
    pooled: dict[tuple, list[float]] = {}
    for s in scores:
        row = table.setdefault((s.checkpoint, s.metric), {"checkpoint": s.checkpoint, "metric": s.metric})
        values = pooled.setdefault((s.checkpoint, s.metric, s.split), [])
        values.extend(s.values)
        names = [n for n in (row.get(f"{s.split}_set"), s.test_set) if n]
        row[f"{s.split}_set"] = ", ".join(dict.fromkeys(names))
    nan = float("nan")
    for (checkpoint, metric), row in table.items():
        for split in ("train", "heldout"):
            values = pooled.get((checkpoint, metric, split), [])
            row[f"{split}_mean"] = float(np.mean(values)) if values else nan
            row[f"{split}_std"] = float(np.std(values)) if values else nan
            row[f"{split}_images"] = len(values)
            row.setdefault(f"{split}_set", "")
        row["gap"] = row["train_mean"] - row["heldout_mean"]
        row["train_advantage"] = train_advantage(metric, row["gap"])
    return list(table.values())
