"""Tests for core.data: the photo and synthetic-object test sets, their manifests, and pencil targets."""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data import photos as photo_set
from core.data import scenes
from core.data.builder import build_all
from core.data.drawings import make_pencil_drawing
from core.data.photos import PHOTO_CATALOGUE, PHOTOS_TRAIN, build_photos
from core.data.scenes import OBJECTS_HELDOUT, OBJECTS_TRAIN, OBJECTS_TRAIN_SMALL, build_objects
from core.data.testset import load_test_set, verify
from core.errors import DatasetError

SIZE = 96  # small scenes keep the suite fast; the recipe scales with size
COUNT = 8  # two of each of the four shape families per split


def _gray(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None and bgr.ndim == 3 and bgr.shape[2] == 3, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def no_network():
    """Make any socket connection fail, so a build that tried to download would error out."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline build")

    saved = socket.socket.connect, socket.create_connection
    socket.socket.connect, socket.create_connection = refuse, refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection = saved


@pytest.fixture(scope="module")
def photos(tmp_path_factory, no_network):
    return build_photos(tmp_path_factory.mktemp("photos-root"))


@pytest.fixture(scope="module")
def objects(tmp_path_factory, no_network):
    root = tmp_path_factory.mktemp("objects-root")
    return {s: build_objects(root, s, COUNT, seed=7, size=SIZE) for s in (OBJECTS_TRAIN, OBJECTS_HELDOUT)}


# --------------------------------------------------------------------------- photos


def test_photos_are_real_rgb_photographs_of_the_expected_size(photos):
    ts = load_test_set(photos)
    ids = [it.id for it in ts.items]
    assert {"astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera"} <= set(ids)
    expected = {p.id: p.shape for p in PHOTO_CATALOGUE}
    for it in ts.items:
        image = _rgb(it.image)
        assert image.dtype == np.uint8 and image.shape == (*expected[it.id], 3), it.id
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        # a photograph has broad tonal range and fine detail, unlike a flat or synthetic picture
        assert gray.std() > 20 and len(np.unique(gray)) > 100, it.id
        assert np.abs(cv2.Laplacian(gray, cv2.CV_64F)).mean() > 1.0, it.id
        assert it.mask is None and it.drawing is None


def test_photo_pixels_are_skimages_own(photos):
    import skimage.data

    ts = load_test_set(photos)
    by_id = {it.id: it for it in ts.items}
    assert np.array_equal(_rgb(by_id["chelsea"].image), skimage.data.chelsea())
    assert np.array_equal(_rgb(by_id["motorcycle_left"].image), skimage.data.stereo_motorcycle()[0])
    camera = _rgb(by_id["camera"].image)
    assert np.array_equal(camera[:, :, 0], skimage.data.camera()) and np.array_equal(camera[:, :, 0], camera[:, :, 2])


def test_photo_licence_notes_agree_with_skimage_docstrings(photos):
    import skimage.data

    manifest = json.loads((photos / "manifest.json").read_text())
    assert manifest["licence"] and manifest["source"] and manifest["excluded"]
    for entry in manifest["files"]:
        photo = next(p for p in PHOTO_CATALOGUE if p.id == entry["id"])
        assert entry["licence"] == photo.licence and entry["source"]
        doc = inspect.getdoc(getattr(skimage.data, photo.loader)).lower()
        for claim in ("cc0", "public domain"):
            if photo.licence.lower().startswith(claim):
                assert claim in doc, (photo.id, claim)


def test_photo_manifest_lists_correct_hashes_and_sizes(photos):
    manifest = json.loads((photos / "manifest.json").read_text())
    assert manifest["name"] == manifest["split"] == "photos"
    assert manifest["created_with"]["function"] == "core.data.testsets.build_photos"
    listed = set()
    for entry in manifest["files"]:
        data = (photos / entry["image"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        image = _rgb(photos / entry["image"])
        assert (entry["width"], entry["height"]) == (image.shape[1], image.shape[0])
        listed.add(entry["image"])
    on_disk = {str(p.relative_to(photos)) for p in (photos / "images").iterdir()}
    assert on_disk == listed  # no stray or temporary files left behind


# --------------------------------------------------------------------------- objects


def test_objects_are_byte_identical_for_a_seed(tmp_path, objects):
    rebuilt = build_objects(tmp_path, OBJECTS_TRAIN, COUNT, seed=7, size=SIZE)
    assert _all_bytes(rebuilt) == _all_bytes(objects[OBJECTS_TRAIN])


def test_items_depend_on_seed_but_not_on_count(tmp_path, objects):
    fewer = build_objects(tmp_path / "a", OBJECTS_HELDOUT, 3, seed=7, size=SIZE)
    for item_id in ("heldout-0000", "heldout-0002"):
        rel = f"images/{item_id}.png"
        assert (fewer / rel).read_bytes() == (objects[OBJECTS_HELDOUT] / rel).read_bytes()
    other = build_objects(tmp_path / "b", OBJECTS_HELDOUT, 3, seed=8, size=SIZE)
    assert (other / "images/heldout-0000.png").read_bytes() != (fewer / "images/heldout-0000.png").read_bytes()


@pytest.mark.parametrize("split", [OBJECTS_TRAIN, OBJECTS_HELDOUT])
def test_files_and_manifest(objects, split):
    folder = objects[split]
    manifest = verify(folder)
    assert manifest["name"] == manifest["split"] == split
    assert manifest["created_with"] == {
        "function": "core.data.testsets.build_objects",
        "parameters": {"split": split, "count": COUNT, "size": SIZE, "line_width": 2},
        "seed": 7,
        "versions": manifest["created_with"]["versions"],
    }
    ts = load_test_set(folder)
    assert len(ts) == COUNT and len({it.id for it in ts.items}) == COUNT
    for it, entry in zip(ts.items, manifest["files"]):
        for path, key in ((it.image, "sha256"), (it.mask, "mask_sha256"), (it.drawing, "drawing_sha256")):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry[key]
        image, mask, drawing = _rgb(it.image), _gray(it.mask), _gray(it.drawing)
        assert image.shape == (SIZE, SIZE, 3) and mask.shape == drawing.shape == (SIZE, SIZE)
        assert mask.dtype == drawing.dtype == np.uint8 and (entry["width"], entry["height"]) == (SIZE, SIZE)


@pytest.mark.parametrize("split", [OBJECTS_TRAIN, OBJECTS_HELDOUT])
def test_masks_are_binary_centred_and_inside_the_frame(objects, split):
    for it in load_test_set(objects[split]).items:
        mask = _gray(it.mask)
        assert set(np.unique(mask)) == {0, 255}, it.id
        ys, xs = np.nonzero(mask)
        centre = (SIZE - 1) / 2
        assert abs(ys.mean() - centre) < 0.05 * SIZE and abs(xs.mean() - centre) < 0.05 * SIZE, it.id
        assert 0.05 < (mask > 0).mean() < 0.6, it.id
        assert mask[[0, -1], :].max() == 0 and mask[:, [0, -1]].max() == 0, it.id  # never cropped by the frame
        assert cv2.connectedComponents(mask)[0] == 2, it.id  # one object (+ background)


@pytest.mark.parametrize("split", [OBJECTS_TRAIN, OBJECTS_HELDOUT])
def test_drawings_trace_the_mask_outline_and_internal_detail(objects, split):
    manifest = json.loads((objects[split] / "manifest.json").read_text())
    kernel = np.ones((3, 3), np.uint8)
    detail_items = 0
    for it, entry in zip(load_test_set(objects[split]).items, manifest["files"]):
        mask, drawing = _gray(it.mask), _gray(it.drawing)
        ink = drawing == 0
        assert set(np.unique(drawing)) <= {0, 255}, it.id  # no antialiasing: pure ink or paper
        outline = (mask > 0) & ~(cv2.erode(mask, kernel) > 0)
        assert ink[outline].mean() > 0.95, it.id
        # ink never strays onto the background beyond the line width
        assert not ink[~(cv2.dilate(mask, np.ones((7, 7), np.uint8)) > 0)].any(), it.id
        deep_inside = cv2.erode(mask, np.ones((7, 7), np.uint8)) > 0
        if entry["texture"] in ("stripes", "inset"):
            detail_items += 1
            assert ink[deep_inside].sum() > SIZE // 4, it.id
        elif entry["texture"] in ("flat", "gradient", "noise"):
            assert not ink[deep_inside].any(), it.id  # no lines where the picture has none
    assert detail_items > 0  # the fixture's seed covers the detail textures


@pytest.mark.parametrize("split", [OBJECTS_TRAIN, OBJECTS_HELDOUT])
def test_object_outline_is_visible_in_gray_and_flat_fills_are_exact(objects, split):
    manifest = json.loads((objects[split] / "manifest.json").read_text())
    k = np.ones((5, 5), np.uint8)
    for it, entry in zip(load_test_set(objects[split]).items, manifest["files"]):
        image, mask = _rgb(it.image), _gray(it.mask)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float)
        inner = (mask > 0) & ~(cv2.erode(mask, k) > 0)
        outer = (cv2.dilate(mask, k) > 0) & ~(mask > 0)
        # gray-based sketch methods must be able to see the ground-truth outline
        assert abs(gray[inner].mean() - gray[outer].mean()) > 20, it.id
        if entry["texture"] == "flat":
            core_px = image[cv2.erode(mask, k) > 0]
            assert np.abs(core_px.astype(int) - entry["object_rgb"]).max() <= 1, it.id


def test_splits_are_disjoint_in_shape_families_and_backgrounds(objects):
    train = json.loads((objects[OBJECTS_TRAIN] / "manifest.json").read_text())
    held = json.loads((objects[OBJECTS_HELDOUT] / "manifest.json").read_text())
    for key in ("shape_families", "background_sources"):
        assert train["design"][key] and held["design"][key]
        assert not set(train["design"][key]) & set(held["design"][key]), key
    for m in (train, held):
        used_shapes = {e["shape"] for e in m["files"]}
        assert used_shapes == set(m["design"]["shape_families"])  # 8 items cycle all 4 families
        assert {e["background"] for e in m["files"]} <= set(m["design"]["background_sources"])
        assert m["design"]["disjoint_from"] in (OBJECTS_TRAIN, OBJECTS_HELDOUT) and m["design"]["disjoint_from"] != m["name"]
    assert not {e["shape"] for e in train["files"]} & {e["shape"] for e in held["files"]}
    assert not {e["background"] for e in train["files"]} & {e["background"] for e in held["files"]}
    assert not {e["id"] for e in train["files"]} & {e["id"] for e in held["files"]}


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"split": "objects-test"}, "unknown split"),
        ({"count": 0}, "count"),
        ({"size": 32}, "size"),
        ({"line_width": 4}, "line_width"),
        ({"seed": -1}, "seed"),
    ],
)
def test_build_objects_rejects_bad_arguments(tmp_path, kwargs, fragment):
    args = {"split": OBJECTS_TRAIN, "count": 1, "size": 64} | kwargs
    with pytest.raises(DatasetError, match=fragment):
        build_objects(tmp_path, **args)
    assert not (tmp_path / OBJECTS_TRAIN).exists()  # nothing half-built


# --------------------------------------------------------------------------- verify / load / build_all


def test_verify_names_the_tampered_file(tmp_path, objects):
    folder = shutil.copytree(objects[OBJECTS_HELDOUT], tmp_path / "copy")
    verify(folder)
    target = folder / "drawings" / "heldout-0003.png"
    drawing = _gray(target)
    drawing[0, 0] = 0  # one pixel of extra ink: still a valid PNG, different bytes
    cv2.imwrite(str(target), drawing)
    with pytest.raises(DatasetError, match=r"heldout-0003\.png does not match its manifest hash"):
        verify(folder)
    with pytest.raises(DatasetError, match="heldout-0003"):
        load_test_set(folder, check_hashes=True)
    load_test_set(folder)  # without hash checks the set still loads
    (folder / "masks" / "heldout-0001.png").unlink()
    with pytest.raises(DatasetError, match=r"masks/heldout-0001\.png is missing"):
        verify(folder)  # the first bad file in manifest order is named


def test_missing_or_hostile_manifest_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="workbench datasets build"):
        load_test_set(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="unreadable"):
        verify(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"id": "x", "image": "../escape.png", "sha256": ""}]}))
    with pytest.raises(DatasetError, match="outside the set folder"):
        verify(tmp_path)


def test_build_all_skips_up_to_date_sets_and_rebuilds_damaged_ones(tmp_path, monkeypatch, no_network):
    # photos are exercised above; a one-photo catalogue keeps this test quick
    monkeypatch.setattr(photo_set, "PHOTO_CATALOGUE", PHOTO_CATALOGUE[1:2])
    built: list[str] = []
    real_objects, real_photos = scenes.build_objects, photo_set.build_photos
    monkeypatch.setattr(scenes, "build_objects", lambda root, split, *a, **k: built.append(k.get("name") or split)
                        or real_objects(root, split, *a, **k))
    monkeypatch.setattr(photo_set, "build_photos", lambda root: built.append("photos") or real_photos(root))

    out = build_all(tmp_path, train_count=2, heldout_count=2, size=64)
    # chelsea is a training photo: photos-train is built, photos-heldout (none of its photos listed) is not
    assert set(out) == {"photos", OBJECTS_TRAIN, OBJECTS_HELDOUT, OBJECTS_TRAIN_SMALL, PHOTOS_TRAIN}
    assert sorted(built) == sorted(set(out) - {PHOTOS_TRAIN})
    # the small set is the first scenes of objects-train, byte for byte
    small = load_test_set(out[OBJECTS_TRAIN_SMALL])
    assert [i.id for i in small.items] == [i.id for i in load_test_set(out[OBJECTS_TRAIN]).items][:len(small)]
    assert all((out[OBJECTS_TRAIN] / "images" / i.image.name).read_bytes() == i.image.read_bytes()
               for i in small.items)
    for folder in out.values():
        verify(folder)

    built.clear()
    assert build_all(tmp_path, train_count=2, heldout_count=2, size=64) == out
    assert built == []  # everything up to date: nothing rebuilt

    image = out[OBJECTS_TRAIN] / "images" / "train-0001.png"
    good = image.read_bytes()
    image.write_bytes(good[:-20])  # truncated
    build_all(tmp_path, train_count=2, heldout_count=2, size=64)
    assert built == [OBJECTS_TRAIN] and image.read_bytes() == good

    # a different request rebuilds that set and removes files its new manifest no longer lists
    built.clear()
    build_all(tmp_path, train_count=1, heldout_count=2, size=64)
    assert built == [OBJECTS_TRAIN, OBJECTS_TRAIN_SMALL] and len(load_test_set(out[OBJECTS_TRAIN])) == 1
    assert not image.exists() and not (out[OBJECTS_TRAIN] / "masks" / "train-0001.png").exists()

    built.clear()
    build_all(tmp_path, train_count=1, heldout_count=2, size=64, force=True)
    assert sorted(built) == sorted(set(out) - {PHOTOS_TRAIN})


# --------------------------------------------------------------------------- pencil drawings


def test_pencil_drawing_inks_lines_and_leaves_flat_paper_white():
    rgb = np.full((80, 100, 3), 230, np.uint8)
    cv2.line(rgb, (10, 40), (90, 40), (30, 30, 30), 2)
    out = make_pencil_drawing(rgb)
    assert out.dtype == np.uint8 and out.shape == (80, 100)
    assert out[39:42, 20:80].max() < 60  # the line is ink
    assert (out[:25] == 255).all() and (out[60:] == 255).all()  # flat areas dodge to white paper


def test_pencil_gamma_step_darkens_strokes_and_keeps_paper():
    import skimage.data

    photo = skimage.data.chelsea()[::2, ::2]
    plain = make_pencil_drawing(photo, gamma=1.0)
    dark = make_pencil_drawing(photo, gamma=3.0)
    assert (dark <= plain).all()
    assert (dark[plain == 255] >= 252).all()  # paper stays paper (255 before rounding, at most 1.5 gray levels off)
    assert dark.mean() < plain.mean() - 5
    assert np.array_equal(make_pencil_drawing(photo), make_pencil_drawing(photo))


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)])
def test_pencil_rejects_non_rgb_uint8(bad):
    with pytest.raises(DatasetError, match="uint8 HxWx3"):
        make_pencil_drawing(bad)
    with pytest.raises(DatasetError, match="positive"):
        make_pencil_drawing(np.zeros((8, 8, 3), np.uint8), gamma=0)


# --------------------------------------------------------------------------- the demo's training data


def test_line_drawing_inks_edges_and_leaves_flat_areas_white():
    from core.data.drawings import make_line_drawing

    rgb = np.full((80, 100, 3), 220, np.uint8)
    rgb[:, 50:] = 40  # one vertical step edge
    out = make_line_drawing(rgb)
    assert out.shape == (80, 100) and out.dtype == np.uint8
    assert (out[10:70, 47:54] < 128).any(axis=1).all()  # a line follows the edge all along
    assert (out[:, :40] == 255).all() and (out[:, 60:] == 255).all()  # flat areas are paper
    with pytest.raises(DatasetError, match="uint8 HxWx3"):
        make_line_drawing(np.zeros((8, 8), np.uint8))


def test_photo_splits_are_disjoint_and_cover_the_catalogue():
    from core.data.photos import CENTRED_SUBJECTS, PHOTO_SPLITS, PHOTOS_HELDOUT

    train, heldout = set(PHOTO_SPLITS[PHOTOS_TRAIN]), set(PHOTO_SPLITS[PHOTOS_HELDOUT])
    assert not train & heldout and train | heldout == {p.id for p in PHOTO_CATALOGUE}
    assert heldout <= set(CENTRED_SUBJECTS)  # every held-out photo can check the Mask Net's subject


def test_pseudo_labels_are_kept_only_where_reviewed_and_find_the_subject(no_network):
    from core.data.pseudolabels import PSEUDO_LABEL_REVIEW, subject_masks

    kept = subject_masks(tuple(PSEUDO_LABEL_REVIEW))
    assert set(kept) == {k for k, (ok, _) in PSEUDO_LABEL_REVIEW.items() if ok}
    for image, mask in kept.values():
        h, w = mask.shape
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
        assert mask[h // 2, w // 2] == 255 and 0.03 < (mask > 0).mean() < 0.8
        assert (mask[: h // 20] == 0).mean() > 0.6  # the top of the frame is background
    again = subject_masks(("coffee",))
    assert np.array_equal(again["coffee"][1], kept["coffee"][1])  # GrabCut is seeded: same mask each time


@pytest.fixture(scope="module")
def train_sets(tmp_path_factory, no_network):
    from core.data.trainsets import MASKS_TRAIN, SKETCH_TRAIN, build_train_set

    root = tmp_path_factory.mktemp("train-sets")
    return root, {n: build_train_set(root, n, 10, seed=3, side=64) for n in (SKETCH_TRAIN, MASKS_TRAIN)}


def test_train_sets_record_every_item_and_never_read_heldout_photos(train_sets, monkeypatch, tmp_path):
    from core.data import trainsets
    from core.data.photos import PHOTO_SPLITS, PHOTOS_HELDOUT

    _, sets = train_sets
    for name, folder in sets.items():
        manifest = verify(folder)
        assert manifest["created_with"]["function"] == trainsets.TRAINSET_BUILD_FUNCTION
        assert set(manifest["design"]["photos"]) <= set(PHOTO_SPLITS[PHOTOS_TRAIN])
        kinds = [e["kind"] for e in manifest["files"]]
        assert set(kinds) == {"photo", "composite", "scene"}
        for e in manifest["files"]:
            assert (e["width"], e["height"]) == (64, 64)
            assert ("mask" in e) == (name == trainsets.MASKS_TRAIN) and "drawing" not in e
            if e["kind"] == "photo":
                assert e["photo"] in PHOTO_SPLITS[PHOTOS_TRAIN] and {"view", "colour"} <= set(e)
    masks = load_test_set(sets[trainsets.MASKS_TRAIN])
    for item in masks.items:
        mask = _gray(item.mask)
        assert set(np.unique(mask)) <= {0, 255} and mask[32, 32] == 255  # centred objects
    # what the builders load: never a held-out photo
    seen = []
    real = trainsets.load_photo
    monkeypatch.setattr(trainsets, "load_photo", lambda p: seen.append(p.id) or real(p))
    trainsets.build_train_set(tmp_path, trainsets.SKETCH_TRAIN, 2, side=64)
    assert seen and not set(seen) & set(PHOTO_SPLITS[PHOTOS_HELDOUT])


def test_train_sets_are_byte_identical_per_seed(train_sets, tmp_path):
    from core.data.trainsets import MASKS_TRAIN, build_train_set

    _, sets = train_sets
    again = build_train_set(tmp_path, MASKS_TRAIN, 10, seed=3, side=64)
    assert _all_bytes(again) == _all_bytes(sets[MASKS_TRAIN])
    other = build_train_set(tmp_path / "other", MASKS_TRAIN, 3, seed=4, side=64)
    assert _all_bytes(other) != {k: v for k, v in _all_bytes(again).items() if "0000" in k}
    with pytest.raises(DatasetError, match="unknown training set"):
        build_train_set(tmp_path, "nope", 3)


def test_random_view_and_composite_keep_image_and_mask_together():
    from core.data.augment import GENERATED_TEXTURES, composite, make_texture, random_view

    rng = np.random.default_rng(0)
    image = np.zeros((120, 160, 3), np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    cv2.circle(mask, (80, 60), 30, 255, -1)
    image[mask > 0] = (200, 50, 50)
    view, mview, params = random_view(rng, image, 64, mask, scale=(0.9, 1.0), max_angle=0, centre_jitter=0.0)
    assert view.shape == (64, 64, 3) and mview.shape == (64, 64) and params["angle"] == 0
    assert np.array_equal(view[:, :, 0] > 100, mview > 0) or (np.mean((view[:, :, 0] > 100) == (mview > 0)) > 0.98)
    for kind in GENERATED_TEXTURES:
        assert make_texture(rng, kind, 32).shape == (32, 32, 3)
    back = make_texture(rng, "plain", 96)
    out, pasted, info = composite(rng, image, mask, back, size=(0.5, 0.5), centre_jitter=0.0)
    assert out.shape == (96, 96, 3) and pasted[48, 48] == 255 and pasted[0, 0] == 0
    assert abs(info["object_size"] - 0.5) < 0.01
    red = (out[:, :, 0] > 150) & (out[:, :, 1] < 100)
    assert np.mean(red[pasted > 0]) > 0.9 and not red[pasted == 0][::7].any() or np.mean(red[pasted == 0]) < 0.02
