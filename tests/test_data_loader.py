"""PoseTrack18 loader: sample enumeration on a fixture shaped like real files, crop geometry, flips."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tipsd.model.data import FLIP_PAIRS, NUM_KEYPOINTS, PoseTrackClips, flip_permutation, load_split
from tipsd.model.data.geometry import apply_affine, box_center_size, crop_affine, gaussian_heatmaps, invert_affine
from tipsd.model.data.posetrack import build_samples

H_IMG, W_IMG = 80, 100


def person_keypoints(cx: float, cy: float, missing: tuple[int, ...] = ()) -> list[float]:
    """A plausible 17-joint person around (cx, cy); ears never labelled, `missing` joints unlabelled."""
    offsets = {0: (0, -22), 1: (0, -18), 2: (0, -30), 5: (8, -15), 6: (-8, -15), 7: (11, -6), 8: (-11, -6),
               9: (13, 3), 10: (-13, 3), 11: (5, 2), 12: (-5, 2), 13: (6, 12), 14: (-6, 12), 15: (6, 22),
               16: (-6, 22)}
    kp = []
    for j in range(NUM_KEYPOINTS):
        if j in offsets and j not in missing:
            dx, dy = offsets[j]
            kp += [cx + dx, cy + dy, 1]
        else:
            kp += [0, 0, 0]
    return kp


def write_fixture(root: Path, split: str = "val") -> Path:
    """One 6-frame video: frame 0 unlabelled; track 7 in frames 1-5 (at both sequence ends of the
    labelled range); track 3 in frames 1 and 3 only (a gap at 2) with a missing wrist; frame 4 has an
    annotation with no labelled joint (skipped, as in real PoseTrack18 files)."""
    name = "000001_fixture"
    (root / "images" / split / name).mkdir(parents=True)
    (root / "annotations" / split).mkdir(parents=True)
    images, anns = [], []
    for t in range(6):
        image_id = 10000010000 + t
        file_name = f"images/{split}/{name}/{t:06d}.jpg"
        Image.fromarray(np.full((H_IMG, W_IMG, 3), 40 * t, np.uint8)).save(root / file_name)
        images.append(dict(id=image_id, vid_id="000001", frame_id=image_id, file_name=file_name,
                           is_labeled=t > 0, nframes=6, ignore_regions_x=[[1, 9, 9]], ignore_regions_y=[[1, 1, 9]]))
        if t == 0:
            continue
        anns.append(dict(image_id=image_id, track_id=7, bbox=[30 + t, 10, 30, 60], bbox_head=[34, 8, 12, 12],
                         keypoints=person_keypoints(45 + t, 40)))
        if t in (1, 3):
            anns.append(dict(image_id=image_id, track_id=3, bbox=[60, 12, 28, 60], bbox_head=[68, 10, 10, 10],
                             keypoints=person_keypoints(74, 42, missing=(9,))))
        if t == 4:
            anns.append(dict(image_id=image_id, track_id=9, bbox=[0, 0, 10, 10], keypoints=[0] * 51))
    (root / "annotations" / split / f"{name}.json").write_text(json.dumps(dict(images=images, annotations=anns)))
    return root


@pytest.fixture()
def fixture_root(tmp_path):
    return write_fixture(tmp_path / "pt18")


def test_samples_skip_unlabelled_frames_and_empty_people(fixture_root):
    videos = load_split(fixture_root, "val")
    samples = build_samples(videos, delta=1)
    # track 7 on frames 1..5 (5) + track 3 on frames 1 and 3 (2); frame 0 unlabelled, track 9 has no joint
    assert [(s.frames[1], s.track_id) for s in samples] == [(1, 3), (1, 7), (2, 7), (3, 3), (3, 7), (4, 7), (5, 7)]


def test_neighbours_clamp_and_track_gaps(fixture_root):
    samples = {(s.frames[1], s.track_id): s for s in build_samples(load_split(fixture_root, "val"), delta=1)}
    last = samples[(5, 7)]
    assert last.frames == (4, 5, 5)  # clamped at the sequence end
    first = samples[(1, 7)]
    assert first.frames == (0, 1, 2) and first.anns[0] == -1  # frame 0 is unlabelled
    gap = samples[(1, 3)]
    assert gap.anns[2] == -1  # track 3 is absent on frame 2
    wide = {(s.frames[1], s.track_id): s for s in build_samples(load_split(fixture_root, "val"), delta=3)}
    assert wide[(1, 7)].frames == (0, 1, 4) and wide[(4, 7)].frames == (1, 4, 5)


def test_item_shapes_weights_and_missing_joints(fixture_root, tmp_path):
    ds = PoseTrackClips(fixture_root, "val", input_size=(64, 48), train=False, cache_dir=str(tmp_path / "c"))
    assert len(ds) == 7
    item = ds[0]  # frame 1, track 3: wrist 9 missing, frame 0 unlabelled, frame 2 has no track 3
    assert item["frames"].shape == (3, 3, 64, 48)
    assert item["heatmaps"].shape == (3, NUM_KEYPOINTS, 16, 12)
    assert item["keypoints"].shape == (3, NUM_KEYPOINTS, 3) and item["affine"].shape == (2, 3)
    w = item["target_weight"].numpy()
    assert w[0].sum() == 0 and w[2].sum() == 0
    expected = np.ones(NUM_KEYPOINTS)
    expected[[3, 4, 9]] = 0
    np.testing.assert_array_equal(w[1], expected)
    assert item["heatmaps"][1, 9].abs().sum() == 0
    assert int(item["track_id"]) == 3 and int(item["image_id"]) == 10000010001 and float(item["score"]) == 1.0
    # the frames are the grey levels 40*t of the source frames 0, 1, 2 (ImageNet-normalised)
    red = item["frames"][:, 0, 32, 24].numpy() * 0.229 + 0.485
    np.testing.assert_allclose(red * 255, [0, 40, 80], atol=1.0)


def test_keypoint_crop_round_trip_within_half_pixel(fixture_root, tmp_path):
    videos = load_split(fixture_root, "val")
    for train in (False, True):
        ds = PoseTrackClips(fixture_root, "val", input_size=(64, 48), train=train, cache_dir=str(tmp_path / "c"))
        for i in range(len(ds)):
            item = ds[i]
            s = ds.samples[i]
            original = np.asarray(videos[0]["annotations"][s.anns[1]]["keypoints"]).reshape(-1, 3)
            kp = item["keypoints"][1].numpy()
            if train and _is_flipped(item["affine"].numpy()):
                kp = kp[flip_permutation()]
            back = apply_affine(item["affine"].numpy().astype(np.float64), kp[:, :2])
            labelled = original[:, 2] > 0
            assert np.abs(back[labelled] - original[labelled, :2]).max() < 0.5


def _is_flipped(affine: np.ndarray) -> bool:
    return np.linalg.det(affine[:, :2]) < 0


def test_crop_puts_image_content_at_the_keypoint(tmp_path):
    """A bright dot drawn at a joint's image position lands at that joint's crop position."""
    root = write_fixture(tmp_path / "pt18")
    videos = load_split(root, "val")
    ann = videos[0]["annotations"][0]  # frame 1, track 7
    x, y = (int(v) for v in ann["keypoints"][27:29])  # left wrist (slot 9), integer pixel
    img = np.zeros((H_IMG, W_IMG, 3), np.uint8)
    img[y, x] = 255
    Image.fromarray(img).save(root / videos[0]["images"][1]["file_name"], quality=100)
    ds = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(tmp_path / "c"))
    i = next(k for k, s in enumerate(ds.samples) if s.frames[1] == 1 and s.track_id == 7)
    item = ds[i]
    frame = item["frames"][1, 0].numpy()
    peak = np.unravel_index(np.argmax(frame), frame.shape)
    u, v = item["keypoints"][1, 9, :2].numpy()
    assert abs(peak[1] - u) <= 1.0 and abs(peak[0] - v) <= 1.0


def test_flip_swaps_left_right_and_mirrors_targets(fixture_root, tmp_path, monkeypatch):
    ds = PoseTrackClips(fixture_root, "val", input_size=(64, 48), train=True, cache_dir=str(tmp_path / "c"))
    monkeypatch.setattr(ds, "_augmentation", lambda i: (False, 1.0, 0.0))
    plain = ds[1]
    monkeypatch.setattr(ds, "_augmentation", lambda i: (True, 1.0, 0.0))
    flipped = ds[1]
    perm = flip_permutation()
    assert all(perm[a] == b and perm[b] == a for a, b in FLIP_PAIRS)
    kp, kf = plain["keypoints"].numpy(), flipped["keypoints"].numpy()
    lab = kp[:, :, 2] > 0
    # joint j of the flipped crop is joint perm[j] of the plain crop, mirrored: x -> W - 1 - x
    np.testing.assert_allclose(kf[:, :, 0][lab[:, perm]], (47 - kp[:, perm, 0])[lab[:, perm]], atol=1e-4)
    np.testing.assert_allclose(kf[:, :, 1], kp[:, perm, 1], atol=1e-4)
    np.testing.assert_array_equal(flipped["target_weight"].numpy(), plain["target_weight"].numpy()[:, perm])
    np.testing.assert_allclose(flipped["frames"].numpy(), plain["frames"].numpy()[..., ::-1], atol=1e-5)
    hm, _ = gaussian_heatmaps(kf[1], (16, 12), 1.5)
    np.testing.assert_allclose(flipped["heatmaps"][1].numpy(), hm, atol=1e-6)


def test_gaussian_heatmap_hand_computed():
    hm, w = gaussian_heatmaps(np.array([[8.0, 4.0, 1.0], [8.0, 4.0, 0.0], [100.0, 4.0, 1.0]]), (4, 5), 1.0)
    assert hm.shape == (3, 4, 5)
    assert hm[0, 1, 2] == pytest.approx(1.0)  # peak at (8/4, 4/4)
    assert hm[0, 1, 3] == pytest.approx(np.exp(-0.5))
    assert hm[0, 2, 3] == pytest.approx(np.exp(-1.0))
    np.testing.assert_array_equal(w, [1, 0, 0])  # unlabelled, outside the heatmap
    assert hm[1].sum() == 0 and hm[2].sum() == 0


def test_box_and_affine_hand_computed():
    # a 30x40 box at aspect 0.75 needs no padding; x1.25 -> 37.5 x 50
    assert box_center_size([10, 20, 30, 40], 0.75) == (25.0, 40.0, 37.5, 50.0)
    # too wide a box grows in height: 60x40 -> 60x80
    assert box_center_size([0, 0, 60, 40], 0.75, 1.0) == (30.0, 20.0, 60.0, 80.0)
    a = crop_affine((25.0, 40.0), 2.0, (5, 3))
    np.testing.assert_allclose(apply_affine(a, [[1, 2], [0, 0]]), [[25, 40], [23, 36]])
    af = crop_affine((25.0, 40.0), 2.0, (5, 3), flip=True)
    np.testing.assert_allclose(apply_affine(af, [[0, 0]]), [[27, 36]])
    ar = crop_affine((0.0, 0.0), 1.0, (3, 3), rot_deg=90)
    back = apply_affine(invert_affine(ar), apply_affine(ar, [[2.0, 0.0]]))
    np.testing.assert_allclose(back, [[2.0, 0.0]], atol=1e-9)


def test_max_samples_evenly_spaced(fixture_root, tmp_path):
    ds = PoseTrackClips(fixture_root, "val", input_size=(64, 48), train=False, max_samples=3,
                        cache_dir=str(tmp_path / "c"))
    assert list(ds.index) == [0, 3, 6] and len(ds) == 3
    assert int(ds[1]["track_id"]) == 3 and int(ds[1]["image_id"]) == 10000010003


def test_posetrack_data_subfolder_layout(tmp_path):
    """The official release unpacks to ROOT/posetrack_data/{annotations,images}/..."""
    write_fixture(tmp_path / "release" / "posetrack_data")
    ds = PoseTrackClips(tmp_path / "release", "val", input_size=(64, 48), train=False, cache_dir=str(tmp_path / "c"))
    assert len(ds) == 7 and ds.cache_status == "built"


def test_rotation_turns_content_clockwise_as_displayed():
    """crop_affine's documented direction: at 90 degrees the image's up is the crop's right."""
    a = crop_affine((50.0, 50.0), 1.0, (11, 11), rot_deg=90)
    to_crop = invert_affine(a)
    np.testing.assert_allclose(apply_affine(to_crop, [[50.0, 49.0], [51.0, 50.0]]), [[6, 5], [5, 6]], atol=1e-9)
