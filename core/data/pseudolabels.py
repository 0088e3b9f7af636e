"""Subject masks for real photos from a classical method (GrabCut), kept only where they were checked plausible.

The training photos have no ground-truth masks. GrabCut seeded with a centre
rectangle gives a pseudo-label; :data:`PSEUDO_LABEL_REVIEW` records, per
training photo, whether that label was looked at and kept, and why not when
it was rejected. Only kept labels are used (:func:`subject_masks`).
"""

from __future__ import annotations

import cv2
import numpy as np

from core.data.photos import PHOTO_CATALOGUE, load_photo

__all__ = ["GRABCUT_SETTINGS", "PSEUDO_LABEL_REVIEW", "grabcut_subject", "subject_masks"]

# Centre rectangle (fractions of the width/height left out on each side), iterations, OpenCV RNG seed.
GRABCUT_SETTINGS = {"margin_x": 0.1, "margin_y": 0.08, "iterations": 5, "cv_seed": 0}

# Checked by eye on the photos with the mask overlaid (Nov 2026); True = kept.
PSEUDO_LABEL_REVIEW: dict[str, tuple[bool, str]] = {
    "coffee": (True, "cup and saucer found; a sliver of the rim is missing"),
    "clock": (True, "the clock face found; its motion-blurred left edge is partly missing"),
    "chelsea": (False, "covers only the right half of the cat's face"),
    "rocket": (False, "takes the sky, not the rocket"),
    "coins": (False, "no single centred subject (a grid of coins)"),
}


def grabcut_subject(rgb: np.ndarray) -> np.ndarray:
    """GrabCut from a centre rectangle, largest piece kept, holes filled; uint8 0/255 mask of the photo's size."""
    h, w = rgb.shape[:2]
    s = GRABCUT_SETTINGS
    rect = (int(w * s["margin_x"]), int(h * s["margin_y"]), int(w * (1 - 2 * s["margin_x"])),
            int(h * (1 - 2 * s["margin_y"])))
    labels = np.zeros((h, w), np.uint8)
    bg, fg = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(s["cv_seed"])  # GrabCut's k-means start draws from OpenCV's global RNG
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), labels, rect, bg, fg, s["iterations"], cv2.GC_INIT_WITH_RECT)
    mask = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    count, comp, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count > 1:
        mask = (comp == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    # a subject's silhouette has no holes: fill what the frame's background cannot reach
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 2)
    return np.where(outside[1:-1, 1:-1] == 2, 0, 255).astype(np.uint8)


def subject_masks(ids: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{id: (photo, GrabCut mask)}`` for the given photos whose pseudo-label was reviewed and kept."""
    out = {}
    for photo in PHOTO_CATALOGUE:
        if photo.id in ids and PSEUDO_LABEL_REVIEW.get(photo.id, (False, ""))[0]:
            image = load_photo(photo)
            if image is not None:
                out[photo.id] = (image, grabcut_subject(image))
    return out
