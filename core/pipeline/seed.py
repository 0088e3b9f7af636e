"""The original ``pipeline.py`` computation (the ``seed`` profile), as small functions.

Image arrays are uint8 RGB ``HxWx3``. "resize" is ``cv2.resize`` with its
default bilinear interpolation, and ``_u8`` is ``numpy.array(x, uint8)`` on a
float array: truncation toward zero, as the original does. The image steps
are pure functions; the two network steps (:func:`predict_mask`,
:func:`predict_sketch`) take any callable mapping an NCHW float tensor to an
NCHW float tensor, so optimised copies of the networks can be passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

PIPELINE_VERSION = "seed-1"  # bump when the seed profile's numbers change; part of every cell key
MASK_SIDE = 224
MASK_MODES = ("soft", "hard")

Network = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SeedSettings:
    """The settings of one seed-profile run (the original script's flags)."""

    side: int = 424  # Sketch Net input side; the image is squashed to side x side
    background: bool = True  # run the Mask Net and crop the foreground
    mask_mode: str = "soft"  # "soft" or "hard" (the original calls anything but soft "binary")
    softctr: float = 0.5
    gamma: bool = True  # gamma 2.0 on the Sketch Net's input only
    merge: bool = False  # positive + negative strategy


def side_from_resolution(resolution: int) -> int:
    """Map the original ``--resolution`` flag to a Sketch Net side: 0 -> 600, N -> N*424."""
    if resolution < 0:
        raise ValueError(f"--resolution must be 0 (600 px) or a positive multiple of 424 px, not {resolution}")
    return 600 if resolution == 0 else resolution * 424


def _u8(x: np.ndarray) -> np.ndarray:
    """``numpy.array(x, uint8)``: truncation toward zero, no rounding, no clipping."""
    return np.array(x, np.uint8)


def to_tensor(img: np.ndarray, side: int) -> torch.Tensor:
    """Resize to ``side x side``, scale to [0, 1], HWC -> 1xCxHxW float32."""
    resized = cv2.resize(img, (side, side)) / 255  # float64, as the original divides before the cast
    return torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32))[None]


def apply_gamma(img: np.ndarray, power: float) -> np.ndarray:
    """``u8(cv2.pow(img / 255, power) * 255)`` in float64."""
    return _u8(cv2.pow(np.asarray(img, np.float64) / 255, power) * 255)


def invert_value(img: np.ndarray) -> np.ndarray:
    """Invert the HSV value channel, treating the RGB array as BGR (channel order is kept)."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[:, :, 2] = 255 - hsv[:, :, 2]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def crop_soft(img: np.ndarray, mask: np.ndarray, softctr: float) -> np.ndarray:
    """Blend the image over white by the mask; mask values above ``softctr`` count as 1.

    Args:
        img: uint8 ``HxWx3``.
        mask: float32 2-D Mask Net output (28x28 or 56x56), values in [0, 1].
    """
    h, w = img.shape[:2]
    m = np.array(mask, np.float32, copy=True)
    m[m > softctr] = 1
    m = cv2.resize(m, (w, h))[:, :, None]  # H x W x 1, float32
    white = np.full((h, w, 3), 255, np.uint8)
    return _u8(img * m) + _u8(white * (1 - m))  # uint8 addition, as the original


def crop_hard(img: np.ndarray, mask: np.ndarray, softctr: float) -> np.ndarray:
    """Binarise the mask at ``softctr``, resize it as uint8, keep the object and whiten the rest.

    Where the resized mask is in (0, 120] both the object and the white are
    selected and the uint8 sum wraps: that is part of the original's output.
    """
    h, w = img.shape[:2]
    m = np.array(mask, np.float32, copy=True)
    m[m > softctr] = 1
    m[m <= softctr] = 0
    m = cv2.resize(_u8(m * 255), (w, h))
    _, inv = cv2.threshold(m, 120, 255, cv2.THRESH_BINARY_INV)
    white = np.full((h, w, 3), 255, np.uint8)
    return cv2.bitwise_and(img, img, mask=m) + cv2.bitwise_and(white, white, mask=inv)


def crop(img: np.ndarray, mask: np.ndarray, mode: str, softctr: float) -> np.ndarray:
    """Crop by ``mode`` (``soft``; anything else is the original's binary/hard mode)."""
    return crop_soft(img, mask, softctr) if mode == "soft" else crop_hard(img, mask, softctr)


def predict_mask(mask_net: Network, img: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """Run the Mask Net on the image resized to 224x224 (no gamma); return the 2-D float32 mask."""
    with torch.inference_mode():
        out = mask_net(to_tensor(img, MASK_SIDE).to(device))
    return out.float().squeeze().cpu().numpy()


def predict_sketch(sketch_net: Network, cropped: np.ndarray, side: int, device: str | torch.device = "cpu") -> np.ndarray:
    """Run the Sketch Net at ``side``; return the uint8 sketch resized back to the input's size."""
    h, w = cropped.shape[:2]
    return cv2.resize(native_sketch(sketch_net, cropped, side, device), (w, h))


def native_sketch(sketch_net: Network, cropped: np.ndarray, side: int, device: str | torch.device = "cpu") -> np.ndarray:
    """The Sketch Net's own output at ``side x side``, as uint8 (0 = ink), before any resize.

    :func:`predict_sketch` is this resized to the input's size (the original's
    saved sketch), so the two show the same drawing at two pixel grids.
    """
    with torch.inference_mode():
        out = sketch_net(to_tensor(cropped, side).to(device))
    return _u8(out.float().squeeze().cpu().numpy() * 255)


def sketch_to_image(raw: np.ndarray, w: int, h: int) -> np.ndarray:
    """Turn the Sketch Net's 2-D float output into the uint8 sketch at ``w x h``."""
    return cv2.resize(_u8(raw * 255), (w, h))


def prepare_sketch_input(img: np.ndarray, mask: np.ndarray | None, settings: SeedSettings) -> np.ndarray:
    """Crop by the mask (when there is one) and apply the gamma step: the Sketch Net's input image."""
    cropped = img if mask is None else crop(img, mask, settings.mask_mode, settings.softctr)
    return apply_gamma(cropped, 2.0) if settings.gamma else cropped


@dataclass
class SeedResult:
    """What one image gives: the mask (or None), the cropped Sketch Net input, and the sketch."""

    mask: np.ndarray | None  # float32 2-D Mask Net output
    cropped: np.ndarray  # uint8 HxWx3, after the gamma step
    sketch: np.ndarray  # uint8 HxW, 0 = ink


def run_seed(
    img: np.ndarray,
    settings: SeedSettings,
    sketch_net: Network,
    mask_net: Network | None = None,
    device: str | torch.device = "cpu",
) -> SeedResult:
    """One image through the seed profile, merge included.

    Each pass is the original ``core_process``: mask, crop, gamma, Sketch Net,
    back to the input size. With ``merge`` the whole core runs again on the
    value-inverted image (the Mask Net included) and the two sketches are
    combined with ``bitwise_and``.
    """
    if settings.background and mask_net is None:
        raise ValueError("settings.background is on but no Mask Net was given")

    def run_core(image: np.ndarray) -> SeedResult:
        """The original ``core_process`` on one image."""
        mask = predict_mask(mask_net, image, device) if settings.background else None
        cropped = prepare_sketch_input(image, mask, settings)
        return SeedResult(mask, cropped, predict_sketch(sketch_net, cropped, settings.side, device))

    result = run_core(img)
    if settings.merge:
        second = run_core(invert_value(img))
        result.sketch = merge_sketches(result.sketch, second.sketch)
    return result


def merge_sketches(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """The positive + negative strategy: ink from either sketch (``bitwise_and``)."""
    return cv2.bitwise_and(positive, negative)


def saved_sketch(sketch: np.ndarray, vec_width: int = 600) -> np.ndarray:
    """The file written to ``sketch/``: resized to ``vec_width`` wide (aspect kept) then gamma 3."""
    h, w = sketch.shape[:2]
    height = max(1, int(vec_width / w * h))
    return apply_gamma(cv2.resize(sketch, (vec_width, height)), 3)


def gallery_sheet(img: np.ndarray, cropped: np.ndarray, sketch: np.ndarray) -> np.ndarray:
    """The ``gallery/`` sheet: ``h x 3w`` RGB ``[input | cropped | sketch]``."""
    return np.hstack([img, cropped, cv2.cvtColor(sketch, cv2.COLOR_GRAY2RGB)])

