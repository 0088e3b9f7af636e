"""The seed profile: each step on hand-worked arrays, then whole runs against a re-implementation of PIPELINE.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.files import encode_png
from core.pipeline.seed import (
    MASK_SIDE,
    SeedSettings,
    apply_gamma,
    crop,
    crop_hard,
    crop_soft,
    gallery_sheet,
    invert_value,
    merge_sketches,
    predict_mask,
    predict_sketch,
    run_seed,
    saved_sketch,
    side_from_resolution,
    sketch_to_image,
    to_tensor,
)


def _u8(rows) -> np.ndarray:
    return np.array(rows, np.uint8)


class _Recorder:
    """A stand-in network: records each input and returns a constant of the given size."""

    def __init__(self, value: float, side=None, grow: int = 0):
        self.value, self.side, self.grow, self.inputs = value, side, grow, []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        side = self.side or x.shape[-1] + self.grow
        return torch.full((x.shape[0], 1, side, side), self.value)


# --------------------------------------------------------------------------- soft crop


def test_crop_soft_hand_worked():
    """Mask values <= softctr are kept as they are, > softctr become 1; each product is truncated.

    softctr 0.5, mask [[0.25, 0.5], [0.625, 0]] -> [[0.25, 0.5], [1, 0]] (same size: no resize):
      (99, 200, 4) * 0.25 = 24.75, 50, 1 -> 24, 50, 1; white 255 * 0.75 = 191.25 -> 191; sum 215, 241, 192
      (201, 10, 255) * 0.5 = 100.5, 5, 127.5 -> 100, 5, 127; white 127.5 -> 127; sum 227, 132, 254
      (7, 8, 9) * 1 -> 7, 8, 9; white * 0 -> 0
      (50, 60, 70) * 0 -> 0; white -> 255
    """
    img = _u8([[[99, 200, 4], [201, 10, 255]], [[7, 8, 9], [50, 60, 70]]])
    mask = np.array([[0.25, 0.5], [0.625, 0.0]], np.float32)
    out = crop_soft(img, mask, 0.5)
    np.testing.assert_array_equal(out, _u8([[[215, 241, 192], [227, 132, 254]], [[7, 8, 9], [255, 255, 255]]]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(mask, np.array([[0.25, 0.5], [0.625, 0.0]], np.float32))  # input untouched


def test_crop_soft_resizes_mask_to_the_image():
    """A 28 x 28 constant mask of 0.375 (below softctr) blends every pixel of a 45 x 70 image.

    Each channel becomes floor(v * 3 / 8) + floor(255 * 5 / 8) = floor(3v / 8) + 159; values
    that are multiples of 8 are avoided so float rounding in the resize cannot matter.
    """
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (45, 70, 3)).astype(np.uint8)
    img[img % 8 == 0] += 1
    out = crop_soft(img, np.full((28, 28), 0.375, np.float32), 0.5)
    assert out.shape == (45, 70, 3)
    np.testing.assert_array_equal(out, (img.astype(int) * 3 // 8 + 159).astype(np.uint8))


def test_crop_soft_above_threshold_keeps_the_image():
    """A mask entirely above softctr keeps the image as it is."""
    img = np.random.default_rng(2).integers(0, 256, (5, 6, 3)).astype(np.uint8)
    np.testing.assert_array_equal(crop_soft(img, np.full((5, 6), 0.51, np.float32), 0.5), img)


# --------------------------------------------------------------------------- hard crop


def test_crop_hard_hand_worked_threshold_at_softctr():
    """The mask is binarised at softctr (a value equal to softctr is background).

    mask [0.2, 0.5, 0.51, 1.0] at softctr 0.5 -> [0, 0, 255, 255]; the inverse is [255, 255, 0, 0].
    """
    img = _u8([[[10, 20, 30], [40, 50, 60], [70, 80, 90], [0, 0, 0]]])
    mask = np.array([[0.2, 0.5, 0.51, 1.0]], np.float32)
    out = crop_hard(img, mask, 0.5)
    np.testing.assert_array_equal(out, _u8([[[255, 255, 255], [255, 255, 255], [70, 80, 90], [0, 0, 0]]]))


def test_crop_hard_wraps_where_both_masks_select():
    """After the uint8 resize, pixels with mask in (0, 120] get image + 255 (uint8 wrap: v - 1, 0 -> 255).

    The resized mask is > 120: image only; 0: white only; 1..120: both selected, and the
    original adds them as uint8.
    """
    binary = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    resized = cv2.resize(_u8([[255, 0], [0, 0]]), (8, 8))  # the mask as the original resizes it
    band = (resized > 0) & (resized <= 120)
    assert band.any() and (resized > 120).any() and (resized == 0).any()  # all three cases occur
    img = np.random.default_rng(3).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    first = tuple(np.argwhere(band)[0])
    img[first] = (100, 0, 255)  # hand-worked: 100 + 255 -> 99, 0 + 255 -> 255, 255 + 255 -> 254
    out = crop_hard(img, binary, 0.5)
    wrapped = ((img.astype(int) + 255) % 256).astype(np.uint8)
    expected = np.where((resized > 120)[..., None], img, np.where((resized == 0)[..., None], 255, wrapped))
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out[first], (99, 255, 254))


def test_crop_dispatches_binary_to_hard():
    """Anything but "soft" is the original's binary (hard) mode."""
    img = np.random.default_rng(4).integers(0, 256, (6, 9, 3)).astype(np.uint8)
    mask = np.random.default_rng(5).random((28, 28)).astype(np.float32)
    np.testing.assert_array_equal(crop(img, mask, "binary", 0.4), crop_hard(img, mask, 0.4))
    np.testing.assert_array_equal(crop(img, mask, "hard", 0.4), crop_hard(img, mask, 0.4))
    np.testing.assert_array_equal(crop(img, mask, "soft", 0.4), crop_soft(img, mask, 0.4))


# --------------------------------------------------------------------------- gamma, invert, merge


def test_gamma_truncates_hand_worked():
    """Gamma 2 of 128 is int((128/255)**2 * 255) = int(64.25) = 64; of 200 it is 156 (156.86, not rounded)."""
    out = apply_gamma(_u8([[0, 1, 128, 200, 255]]), 2.0)
    np.testing.assert_array_equal(out, _u8([[0, 0, int(((128 / 255) ** 2) * 255), 156, 255]]))
    assert out.dtype == np.uint8


@pytest.mark.parametrize("power", [2, 3])
def test_gamma_equals_exact_integer_floor(power):
    """For every uint8 value, gamma g is floor(v**g / 255**(g-1)), computed here exactly with integers."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = np.array([v**power // 255 ** (power - 1) for v in range(256)]).reshape(16, 16)
    np.testing.assert_array_equal(apply_gamma(values, float(power)), expected)


def test_gamma_keeps_colour_shape():
    """Gamma works per channel on HxWx3 arrays."""
    img = _u8([[[128, 200, 255]]])
    np.testing.assert_array_equal(apply_gamma(img, 2.0), _u8([[[64, 156, 255]]]))


def test_invert_value_grays_exact():
    """A gray v becomes 255 - v, and inverting twice gives the gray back exactly."""
    grays = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    inverted = invert_value(grays)
    np.testing.assert_array_equal(inverted, 255 - grays)
    np.testing.assert_array_equal(invert_value(inverted), grays)


def test_invert_value_hand_worked_colour():
    """(90, 60, 40), read as BGR: V 90, S round(50/90*255) = 142, H 216 deg.

    With V = 165: chroma 165*142/255 = 91.9, min 165 - 91.9 = 73.1 -> 73, middle
    73.1 + 91.9*0.4 = 109.9 -> 110, so (165, 110, 73): channel order kept.
    """
    np.testing.assert_array_equal(invert_value(_u8([[[90, 60, 40]]])), _u8([[[165, 110, 73]]]))


def test_invert_value_flips_the_maximum_exactly():
    """For any colour the largest channel becomes 255 - largest (V = max channel)."""
    img = np.random.default_rng(6).integers(0, 256, (50, 60, 3)).astype(np.uint8)
    out = invert_value(img)
    np.testing.assert_array_equal(out.max(axis=2), 255 - img.max(axis=2))


def test_invert_value_round_trip_muted_colours():
    """Muted mid-tone colours (max 100..155, chroma <= 20) come back within 2 levels.

    Brighter or more saturated colours can lose several levels: hue and saturation are
    quantised to 8 bits at the inverted value (the original's behaviour, not reproduced here).
    """
    rng = np.random.default_rng(7)
    base = rng.integers(100, 156, 4000)
    spread = rng.integers(0, 21, (4000, 3))
    colours = np.clip(base[:, None] - spread, 0, 255)
    colours[np.arange(4000), rng.integers(0, 3, 4000)] = base  # one channel at the maximum
    img = colours.astype(np.uint8).reshape(40, 100, 3)
    back = invert_value(invert_value(img))
    assert np.abs(back.astype(int) - img).max() <= 2


def test_merge_is_bitwise_and():
    """200 & 100 = 0b11001000 & 0b01100100 = 64 (not the minimum, 100)."""
    np.testing.assert_array_equal(merge_sketches(_u8([[200, 255, 0]]), _u8([[100, 17, 255]])), _u8([[64, 17, 0]]))


# --------------------------------------------------------------------------- tensors and sizes


def test_to_tensor_shape_dtype_scale():
    """Resized to side x side (aspect not kept), divided by 255, NCHW float32."""
    img = np.empty((30, 50, 3), np.uint8)
    img[...] = (10, 128, 255)
    x = to_tensor(img, 24)
    assert x.shape == (1, 3, 24, 24) and x.dtype == torch.float32
    for channel, value in enumerate((10, 128, 255)):
        assert torch.all(x[0, channel] == np.float32(value / 255))


def test_to_tensor_keeps_layout():
    """Row/column positions survive the HWC -> CHW transpose (no accidental transpose of H and W)."""
    img = np.zeros((8, 8, 3), np.uint8)
    img[1, 6] = (255, 0, 0)  # row 1, column 6, red
    x = to_tensor(img, 8)
    assert float(x[0, 0, 1, 6]) == 1.0 and float(x[0, 0, 6, 1]) == 0.0 and float(x[0, 1, 1, 6]) == 0.0


def test_sketch_output_is_resized_to_input_and_truncated():
    """A net returning 304 x 304 of 0.5 gives a sketch of the input's size filled with int(127.5) = 127."""
    net = _Recorder(0.5, side=304)
    sketch = predict_sketch(net, np.zeros((301, 457, 3), np.uint8), 300)
    assert sketch.shape == (301, 457) and sketch.dtype == np.uint8
    assert np.all(sketch == 127)
    assert net.inputs[0].shape == (1, 3, 300, 300)


def test_real_deep_net_on_odd_sizes(tiny_nets):
    """Side 300 makes the deep net return 304; the sketch still has the 301 x 457 input's size."""
    img = np.random.default_rng(8).integers(0, 256, (301, 457, 3)).astype(np.uint8)
    net = tiny_nets["sketchnet_deep"]
    with torch.no_grad():
        assert net(to_tensor(img, 300)).shape[-1] == 304
    sketch = predict_sketch(net, img, 300)
    assert sketch.shape == (301, 457)


def test_sketch_to_image_truncates():
    """0.999 * 255 = 254.7 -> 254; 0.5 -> 127; 1 -> 255."""
    raw = np.array([[0.999, 0.5], [1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(sketch_to_image(raw, 2, 2), _u8([[254, 127], [255, 0]]))


def test_predict_mask_input_and_output():
    """The Mask Net sees the image at 224 x 224 without gamma; the mask comes back 2-D float32."""
    net = _Recorder(0.25, side=28)
    img = np.full((37, 81, 3), 200, np.uint8)
    mask = predict_mask(net, img)
    assert mask.shape == (28, 28) and mask.dtype == np.float32 and np.all(mask == 0.25)
    assert net.inputs[0].shape == (1, 3, MASK_SIDE, MASK_SIDE)
    assert torch.all(net.inputs[0] == np.float32(200 / 255))  # not gamma'd


@pytest.mark.parametrize("resolution,side", [(0, 600), (1, 424), (2, 848), (3, 1272)])
def test_side_from_resolution(resolution, side):
    """--resolution 0 is 600 px, N is N * 424 px."""
    assert side_from_resolution(resolution) == side


def test_side_from_negative_resolution():
    """A negative resolution is refused."""
    with pytest.raises(ValueError, match="resolution"):
        side_from_resolution(-1)


# --------------------------------------------------------------------------- saved files


@pytest.mark.parametrize(
    "h,w,vec,height",
    [(30, 40, 600, 450), (37, 53, 600, 418), (45, 60, 90, 67), (60, 45, 90, 120)],
)
def test_saved_sketch_size(h, w, vec, height):
    """Width vec, height int(vec / w * h): 600/53*37 = 418.87 -> 418, 90/60*45 = 67.5 -> 67."""
    assert height == int(vec / w * h)  # the hand-worked figures follow the rule
    out = saved_sketch(np.full((h, w), 200, np.uint8), vec)
    assert out.shape == (height, vec)


def test_saved_sketch_gamma_3():
    """A constant 200 becomes 200**3 // 255**2 = 123; 128 becomes 32 (32.25)."""
    np.testing.assert_array_equal(np.unique(saved_sketch(np.full((20, 30), 200, np.uint8), 60)), [123])
    np.testing.assert_array_equal(np.unique(saved_sketch(np.full((20, 30), 128, np.uint8), 60)), [32])


def test_gallery_sheet_layout():
    """h x 3w RGB: input, then cropped, then the sketch as gray RGB."""
    rng = np.random.default_rng(9)
    img = rng.integers(0, 256, (11, 7, 3)).astype(np.uint8)
    cropped = rng.integers(0, 256, (11, 7, 3)).astype(np.uint8)
    sketch = rng.integers(0, 256, (11, 7)).astype(np.uint8)
    sheet = gallery_sheet(img, cropped, sketch)
    assert sheet.shape == (11, 21, 3)
    np.testing.assert_array_equal(sheet[:, :7], img)
    np.testing.assert_array_equal(sheet[:, 7:14], cropped)
    for c in range(3):
        np.testing.assert_array_equal(sheet[:, 14:, c], sketch)


@pytest.mark.parametrize("shape", [(5, 9, 3), (5, 9)])
def test_encode_png_round_trip(shape):
    """PNG bytes decode (with OpenCV, BGR) back to the same RGB or gray array."""
    arr = np.random.default_rng(10).integers(0, 256, shape).astype(np.uint8)
    decoded = cv2.imdecode(np.frombuffer(encode_png(arr), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded[..., ::-1] if arr.ndim == 3 else decoded, arr)


# --------------------------------------------------------------------------- run_seed wiring


def test_background_needs_a_mask_net():
    """Background on without a Mask Net is a clear error."""
    with pytest.raises(ValueError, match="Mask Net"):
        run_seed(np.zeros((8, 8, 3), np.uint8), SeedSettings(side=8), _Recorder(0.5))


def test_no_background_never_calls_the_mask_net():
    """With background off the image goes straight (after gamma) to the Sketch Net."""

    def refuse(x):
        raise AssertionError("the Mask Net must not run")

    sketch_net = _Recorder(0.5)
    img = np.full((10, 12, 3), 128, np.uint8)
    result = run_seed(img, SeedSettings(side=16, background=False, gamma=True), sketch_net, refuse)
    assert result.mask is None
    np.testing.assert_array_equal(result.cropped, np.full((10, 12, 3), 64, np.uint8))  # gamma 2 of 128


def test_merge_runs_both_nets_on_the_inverted_image():
    """Merge runs the Mask Net and the Sketch Net again on the value-inverted image."""
    mask_net, sketch_net = _Recorder(0.9, side=56), _Recorder(0.5)
    img = np.random.default_rng(11).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    run_seed(img, SeedSettings(side=16, merge=True), sketch_net, mask_net)
    assert len(mask_net.inputs) == 2 and len(sketch_net.inputs) == 2
    assert torch.equal(mask_net.inputs[0], to_tensor(img, MASK_SIDE))
    assert torch.equal(mask_net.inputs[1], to_tensor(invert_value(img), MASK_SIDE))


def test_gamma_applies_to_the_sketch_input_only():
    """The Mask Net sees the plain image; the Sketch Net sees the cropped image after gamma."""
    mask_net, sketch_net = _Recorder(1.0, side=28), _Recorder(0.5)
    img = np.full((16, 16, 3), 128, np.uint8)
    run_seed(img, SeedSettings(side=16, gamma=True), sketch_net, mask_net)
    assert torch.all(mask_net.inputs[0] == np.float32(128 / 255))
    assert torch.all(sketch_net.inputs[0] == np.float32(64 / 255))


# --------------------------------------------------------------------------- end to end vs PIPELINE.md


def _ref_tensor(img, side):
    x = cv2.resize(img, (side, side)) / 255.0
    return torch.tensor(np.transpose(x, (2, 0, 1)), dtype=torch.float32).unsqueeze(0)


def _ref_u8(x):
    return np.array(x, np.uint8)


def _ref_gamma(img, g):
    return _ref_u8(cv2.pow(img / 255.0, g) * 255)


def _ref_invert(img):
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    h, s, v = cv2.split(hsv)
    return cv2.cvtColor(cv2.merge([h, s, 255 - v]), cv2.COLOR_HSV2BGR)


def _ref_core(img, s: SeedSettings, sketch_net, mask_net):
    """core_process as PIPELINE.md describes it, written out plainly."""
    h, w = img.shape[:2]
    mask = None
    if s.background:
        with torch.no_grad():
            m = mask_net(_ref_tensor(img, 224)).numpy().squeeze()
        mask = m.copy()
        white = np.ones((h, w, 3), np.uint8) * 255
        if s.mask_mode == "soft":
            m[m > s.softctr] = 1
            m = cv2.resize(m, (w, h))
            m3 = np.dstack([m, m, m])
            cropped = _ref_u8(img * m3) + _ref_u8(white * (1 - m3))
        else:
            m[m > s.softctr] = 1
            m[m <= s.softctr] = 0
            m = cv2.resize(_ref_u8(m * 255), (w, h))
            _, inv = cv2.threshold(m, 120, 255, cv2.THRESH_BINARY_INV)
            cropped = cv2.bitwise_and(img, img, mask=m) + cv2.bitwise_and(white, white, mask=inv)
    else:
        cropped = img
    if s.gamma:
        cropped = _ref_gamma(cropped, 2.0)
    with torch.no_grad():
        out = sketch_net(_ref_tensor(cropped, s.side)).numpy().squeeze()
    return mask, cropped, cv2.resize(_ref_u8(out * 255), (w, h))


def _ref_seed(img, s, sketch_net, mask_net):
    mask, cropped, sketch = _ref_core(img, s, sketch_net, mask_net)
    if s.merge:
        _, _, sketch2 = _ref_core(_ref_invert(img), s, sketch_net, mask_net)
        sketch = cv2.bitwise_and(sketch, sketch2)
    return mask, cropped, sketch


# (mask version or None for no background, mode, softctr, gamma, merge, (h, w), side, sketch arch)
E2E_CASES = [
    (2, "soft", 0.5, True, False, (75, 101), 64, "sketchnet_deep"),
    (2, "hard", 0.5, True, False, (101, 75), 64, "sketchnet_deep"),
    (1, "soft", 0.2, False, True, (90, 61), 128, "sketchnet_deep"),
    (1, "hard", 0.3, True, True, (61, 90), 100, "sketchnet_deep"),
    (2, "soft", 0.8, False, False, (117, 83), 100, "sketchnet_deep"),
    (2, "hard", 0.8, False, True, (83, 117), 128, "sketchnet_shallow"),
    (1, "binary", 0.5, True, False, (97, 66), 72, "sketchnet_deep"),
    (2, "hard", 0.2, True, True, (66, 97), 64, "sketchnet_deep"),
    (1, "soft", 0.5, True, False, (64, 64), 64, "sketchnet_shallow"),
    (None, "soft", 0.5, True, False, (77, 119), 64, "sketchnet_deep"),
    (None, "soft", 0.5, False, True, (119, 77), 100, "sketchnet_deep"),
]


@pytest.mark.parametrize("version,mode,softctr,gamma,merge,size,side,sketch_arch", E2E_CASES)
def test_run_seed_matches_pipeline_md(version, mode, softctr, gamma, merge, size, side, sketch_arch,
                                      tiny_nets, image_factory):
    """run_seed gives what a plain re-implementation of PIPELINE.md gives (they should be identical)."""
    img = image_factory(*size, seed=size[0] + size[1])
    settings = SeedSettings(side=side, background=version is not None, mask_mode=mode, softctr=softctr,
                            gamma=gamma, merge=merge)
    sketch_net = tiny_nets[sketch_arch]
    mask_net = tiny_nets[f"masknet_v{version}"] if version else None

    result = run_seed(img, settings, sketch_net, mask_net)
    mask, cropped, sketch = _ref_seed(img, settings, sketch_net, mask_net)

    if version:
        # the case only tests the threshold if the mask has values on both sides of it
        assert (mask > softctr).any() and (mask <= softctr).any()
        np.testing.assert_allclose(result.mask, mask, atol=1e-6)
    assert result.cropped.shape == img.shape and result.sketch.shape == size
    np.testing.assert_array_equal(result.cropped, cropped)
    assert 0 < sketch.std()  # the tiny net draws something, so the comparison means something
    close = np.abs(result.sketch.astype(int) - sketch.astype(int)) <= 2
    assert close.mean() >= 0.995, f"only {close.mean():.2%} of pixels within 2 levels"


# --------------------------------------------------------------------------- output folders (core.pipeline.outputs)


def test_run_images_writes_the_original_folders_and_skips_broken_files(tiny_nets, image_factory, tmp_path):
    """gallery/<name>.png and sketch/<name>.png per readable image; a broken one is an outcome, not an error."""
    from core.pipeline.outputs import output_name, run_images

    src = tmp_path / "in"
    src.mkdir()
    img = image_factory(40, 30, seed=7)
    cv2.imwrite(str(src / "photo.v2.png"), img[..., ::-1])
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    settings = SeedSettings(side=32, background=False)
    vectorised = []

    outcomes = list(run_images([src / "broken.jpg", src / "photo.v2.png"], tmp_path / "out", settings,
                               tiny_nets["sketchnet_shallow"], vec_width=50,
                               vectorise=lambda saved, out, name: vectorised.append((saved.shape, out, name))))

    assert [(o.name, o.ok) for o in outcomes] == [("broken", False), ("photo.v2", True)]
    assert "broken.jpg" in outcomes[0].error
    assert output_name(src / "photo.v2.png") == "photo.v2"
    result = run_seed(img, settings, tiny_nets["sketchnet_shallow"])
    sketch = cv2.imread(str(tmp_path / "out" / "sketch" / "photo.v2.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(sketch, saved_sketch(result.sketch, 50))
    gallery = cv2.imread(str(tmp_path / "out" / "gallery" / "photo.v2.png"))[..., ::-1]
    np.testing.assert_array_equal(gallery, gallery_sheet(img, result.cropped, result.sketch))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gallery", "sketch"]
    assert vectorised == [(sketch.shape, tmp_path / "out", "photo.v2")]
