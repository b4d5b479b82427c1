"""PoseTrack files as people have them (issue 11): the three given cases with the right values from
their READMEs, and one more test of each kind — how prediction frames are paired with GT frames,
joint order and names, videos per file, tracks and neighbours, labelled / unlabelled / empty frames."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tipsd.model.data.posetrack import build_samples, load_split, load_video
from tipsd.model.errors import DataError
from tipsd.model.eval import evaluate
from tipsd.model.posetrack18 import KEYPOINT_NAMES, POSETRACK_JOINTS
from tipsd.sweep.cli import main

CASES = Path(__file__).parent / "posetrack_input"
VIDEO = "009473_mpii_test"
POSEVAL_TOTAL = 77.77777777777779  # the READMEs: poseval's Total for these predictions


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _eval_json(capsys, gt: Path, pred: Path) -> tuple[dict, str]:
    assert main(["eval", str(gt), str(pred), "--format", "json"]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def _write(folder: Path, doc: dict, name: str = VIDEO) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture
def case_gt() -> dict:
    return _json(CASES / "renumbered-image-ids" / "gt" / f"{VIDEO}.json")


@pytest.fixture
def case_pred() -> dict:
    """The case's predictions in the standard order, on the GT's image id."""
    return _json(CASES / "renumbered-image-ids" / "pred_original_ids" / f"{VIDEO}.json")


# ---- the three given cases

def test_renumbered_image_ids_are_paired_by_position_as_poseval(capsys):
    case = CASES / "renumbered-image-ids"
    res, err = _eval_json(capsys, case / "gt", case / "pred")
    assert res["Total"] == pytest.approx(POSEVAL_TOTAL, abs=1e-9)
    same, quiet = _eval_json(capsys, case / "gt", case / "pred_original_ids")
    assert res == same and quiet == ""
    # Not silent: one note naming the file and the ids it did not find in the ground truth.
    assert err.strip() == (f"note: {case / 'pred' / VIDEO}.json: image id 1 is not the ground truth's; "
                           "frames paired by their position in the file, as poseval pairs them")


def test_categories_keypoint_order_maps_joints_by_name(capsys):
    case = CASES / "categories-keypoint-order"
    res, _ = _eval_json(capsys, case / "gt", case / "pred_reordered")
    assert res["Total"] == pytest.approx(POSEVAL_TOTAL, abs=1e-9)
    standard, _ = _eval_json(capsys, CASES / "renumbered-image-ids" / "gt",
                             CASES / "renumbered-image-ids" / "pred_original_ids")
    assert res == standard  # every joint and OKS AP, not only Total


def _with_images(root: Path) -> Path:
    """The case's dataset with small grey frames where its README has 1920x1080 ones."""
    for ann in (root / "annotations").glob("*/*.json"):
        for img in _json(ann)["images"]:
            path = root / img["file_name"]
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((36, 64, 3), 128, np.uint8)).save(path)
    return root


def test_test_split_without_annotations_is_an_unlabelled_split(tmp_path, capsys):
    root = tmp_path / "posetrack18"
    shutil.copytree(CASES / "test-split-without-annotations" / "posetrack18", root)
    _with_images(root)
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.startswith(("l", "v", "f", "p"))}
    assert out.splitlines()[0] == f"{root}: OK"
    assert rows["layout"] == ["2018"] * 3 and rows["labelled"] == ["yes", "yes", "no"]
    assert rows["videos"] == ["1", "1", "1"] and rows["labelled_frames"] == ["1", "1", "0"]
    assert rows["people"] == ["2", "2", "0"]
    assert "test: unlabelled split (its files have no annotations)" in out
    assert main(["data", "check", str(root), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["test"]["labelled_frames"], stats["test"]["people"], stats["test"]["unusable"]) == (0, 0, [])
    assert load_split(root, "test")[0]["_unlabelled"] and load_split(root, "test")[0]["annotations"] == []
    # Its images are still checked.
    (root / "images" / "test" / "000001_mpiinew_test" / "000000.jpg").unlink()
    assert main(["data", "check", str(root)]) == 2
    assert "000001_mpiinew_test/000000.jpg is missing" in _error_line(capsys)


# ---- pairing prediction frames with GT frames

def _three_frames(doc: dict, ids=(11, 12, 13)) -> dict:
    """`doc` (one frame) as a video of three frames with the same people, image ids `ids`."""
    out = {**doc, "images": [], "annotations": []}
    for n, image_id in enumerate(ids):
        out["images"].append({**doc["images"][0], "id": image_id, "frame_id": image_id,
                              "file_name": f"images/val/{VIDEO}/{n:06d}.jpg"})
        out["annotations"] += [{**a, "image_id": image_id} for a in doc["annotations"]]
    return out


def test_frames_in_another_order_pair_by_id(case_gt, case_pred):
    gt, pred = _three_frames(case_gt), _three_frames(case_pred)
    pred["annotations"][0]["keypoints"] = [0] * 51  # frame 11 differs from the others
    expected = evaluate({VIDEO: gt}, {VIDEO: pred})
    shuffled = {**pred, "images": pred["images"][::-1]}
    assert evaluate({VIDEO: gt}, {VIDEO: shuffled}) == expected  # poseval would mispair frames 11 and 13
    renumbered = copy.deepcopy(pred)
    for img in renumbered["images"]:
        img["id"] -= 10
    for ann in renumbered["annotations"]:
        ann["image_id"] -= 10
    assert evaluate({VIDEO: gt}, {VIDEO: renumbered}) == expected  # by position, as poseval


def test_frames_that_cannot_be_paired_are_refused_in_one_line(tmp_path, capsys, case_gt, case_pred):
    gt_dir = _write(tmp_path / "gt", _three_frames(case_gt))
    fewer = _three_frames(case_pred, ids=(1, 2))
    pred_dir = _write(tmp_path / "pred", fewer)
    assert main(["eval", str(gt_dir), str(pred_dir)]) == 2
    err = _error_line(capsys)
    assert (f"{pred_dir / VIDEO}.json: image ids 1, 2 are not among the frames of the ground truth "
            "(its ids: 11, 12, 13)") in err
    assert "the predictions list 2 frames" in err and "poseval pairs frames by position" in err
    # No images listed, an id the GT does not have: refused (it used to be dropped silently).
    loose = {"annotations": [dict(a, image_id=99) for a in case_pred["annotations"]]}
    with pytest.raises(DataError, match=r"image id 99 is not among the frames of the ground truth .* list no frames"):
        evaluate({VIDEO: case_gt}, {VIDEO: loose})
    # Same count, but a GT id at another position: neither pairing is safe.
    moved = _three_frames(case_pred, ids=(12, 5, 6))
    with pytest.raises(DataError, match=r"frame 0 is image 12, frame 1 of the ground truth"):
        evaluate({VIDEO: _three_frames(case_gt)}, {VIDEO: moved})


def test_prediction_files_without_ground_truth_are_named(tmp_path, capsys, case_gt, case_pred):
    gt_dir, pred_dir = _write(tmp_path / "gt", case_gt), _write(tmp_path / "pred", case_pred)
    _write(pred_dir, case_pred, name="009473_mpii")  # a name the ground truth does not have
    res, err = _eval_json(capsys, gt_dir, pred_dir)
    assert res["Total"] == pytest.approx(POSEVAL_TOTAL, abs=1e-9)
    assert err == f"note: {pred_dir}: 009473_mpii.json: no ground-truth file of the same name in {gt_dir}; not read\n"


# ---- joint order and names

def _reordered(doc: dict, names: list[str]) -> dict:
    """`doc` with its joints written in the order `names` (declared in categories)."""
    out = copy.deepcopy(doc)
    out["categories"] = [{**doc["categories"][0], "keypoints": names}]
    for ann in out["annotations"]:
        kp, sc = ann["keypoints"], ann.get("scores") or []
        ann["keypoints"] = [v for n in names for v in kp[3 * KEYPOINT_NAMES.index(n):3 * KEYPOINT_NAMES.index(n) + 3]]
        if sc:
            ann["scores"] = [sc[KEYPOINT_NAMES.index(n)] for n in names]
    return out


def test_fifteen_declared_joints_and_reordered_ground_truth(case_gt, case_pred):
    expected = evaluate({VIDEO: case_gt}, {VIDEO: case_pred})
    only_15 = _reordered(case_pred, list(POSETRACK_JOINTS[::-1]))  # no ears: 45 numbers a person
    assert len(only_15["annotations"][0]["keypoints"]) == 45
    assert evaluate({VIDEO: case_gt}, {VIDEO: only_15}) == expected
    gt_shuffled = _reordered(case_gt, list(KEYPOINT_NAMES[5:] + KEYPOINT_NAMES[:5]))
    assert evaluate({VIDEO: gt_shuffled}, {VIDEO: case_pred}) == expected


def test_coco_order_and_broken_names_are_refused(tmp_path, capsys, case_gt, case_pred):
    coco = list(KEYPOINT_NAMES)
    coco[1:3] = ["left_eye", "right_eye"]
    gt_dir = _write(tmp_path / "gt", case_gt)
    pred_dir = _write(tmp_path / "pred", {**case_pred, "categories": [{**case_pred["categories"][0],
                                                                        "keypoints": coco}]})
    assert main(["eval", str(gt_dir), str(pred_dir)]) == 2
    assert _error_line(capsys) == (
        f"tipsd eval: error: {pred_dir / VIDEO}.json: categories[0].keypoints: no 'head_bottom', 'head_top' "
        "(this is COCO's order: its eyes are not PoseTrack's head_bottom/head_top); a PoseTrack file names "
        f"all 15 joints ({', '.join(POSETRACK_JOINTS)}), as poseval requires")
    twice = list(KEYPOINT_NAMES[:-1]) + ["nose"]
    with pytest.raises(DataError, match=r"categories\[0\]\.keypoints: 'nose' listed twice"):
        evaluate({VIDEO: case_gt}, {VIDEO: _reordered(case_pred, list(KEYPOINT_NAMES)) | {
            "categories": [{"keypoints": twice}]}})
    short = _reordered(case_pred, list(POSETRACK_JOINTS))
    short["annotations"][1]["keypoints"] += [0, 0, 0]
    with pytest.raises(DataError, match=r"annotations\[1\]\.keypoints: expected 45 numbers \(15 joints named"):
        evaluate({VIDEO: case_gt}, {VIDEO: short})


def test_loader_reads_joints_by_name(tmp_path, case_gt):
    path = _write(tmp_path, _reordered(case_gt, list(KEYPOINT_NAMES[::-1]))) / f"{VIDEO}.json"
    assert load_video(path)["annotations"] == case_gt["annotations"]


# ---- one video per file, frames, tracks, neighbours

def test_one_video_per_file_unique_frames_and_tracks(tmp_path, case_gt, case_pred):
    two_videos = _three_frames(case_gt)
    two_videos["images"][2]["vid_id"] = "000342"
    with pytest.raises(DataError, match=r"images\[2\]\.vid_id: '000342' is not images\[0\]\.vid_id '009473'; "
                                        r"one file holds one video"):
        evaluate({VIDEO: two_videos}, {VIDEO: case_pred})
    listed_twice = _three_frames(case_gt, ids=(11, 12, 11))
    with pytest.raises(DataError, match=r"images\[2\]\.id: 11 is also images\[0\]\.id"):
        evaluate({VIDEO: listed_twice}, {VIDEO: case_pred})
    same_track = copy.deepcopy(case_pred)
    same_track["annotations"][2]["track_id"] = 0
    with pytest.raises(DataError, match=r"annotations\[2\]\.track_id: 0 is also annotations\[0\]'s on image "
                                        r"10094730000; a track appears once per frame"):
        evaluate({VIDEO: case_gt}, {VIDEO: same_track})
    path = _write(tmp_path, {**case_gt, "annotations": case_gt["annotations"] * 2}) / f"{VIDEO}.json"
    with pytest.raises(DataError, match=r"annotations\[2\]\.track_id: 0 is also annotations\[0\]'s"):
        load_video(path)


def test_neighbours_follow_frame_ids_when_a_file_lists_every_fourth_frame(case_gt):
    video = _three_frames(case_gt, ids=(100, 104, 108))
    video["annotations"] = [a for a in video["annotations"] if a["track_id"] == 0]
    frames = [s.frames for s in build_samples([video], delta=1)]
    assert frames == [(0, 0, 0), (1, 1, 1), (2, 2, 2)]  # no frame 1 away is listed: the key frame itself
    assert [s.frames for s in build_samples([video], delta=4)] == [(0, 0, 1), (0, 1, 2), (1, 2, 2)]
    assert [s.anns for s in build_samples([video], delta=4)][1] == (0, 1, 2)


# ---- labelled, unlabelled and empty frames

def test_labelled_unlabelled_and_empty_frames(tmp_path, capsys, case_gt, case_pred):
    gt = _three_frames(case_gt)
    gt["images"][1]["is_labeled"] = "no"
    with pytest.raises(DataError, match=r"images\[1\]\.is_labeled: 'no' is not true or false"):
        evaluate({VIDEO: gt}, {VIDEO: case_pred})
    unlabelled = {k: v for k, v in case_gt.items() if k != "annotations"}
    with pytest.raises(DataError, match=r"field 'annotations' is missing: an unlabelled file \(a test split\) "
                                        r"cannot be the ground truth"):
        evaluate({VIDEO: unlabelled}, {VIDEO: case_pred})
    # A labelled frame without people: counted as labelled, no people, never scored (poseval drops it).
    gt = _three_frames(case_gt)
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] != 13]
    pred = _three_frames(case_pred)
    assert evaluate({VIDEO: gt}, {VIDEO: pred}) == evaluate({VIDEO: gt}, {VIDEO: {
        **pred, "annotations": [a for a in pred["annotations"] if a["image_id"] != 13]}})
    root = tmp_path / "ds"
    _write(root / "annotations" / "val", gt)
    _with_images(root)
    assert main(["data", "check", str(root), "--json"]) == 0
    val = json.loads(capsys.readouterr().out)["val"]
    assert (val["frames"], val["labelled_frames"], val["people"], val["tracks"]) == (3, 3, 4, 2)
    assert val["per_video"] == [dict(video=VIDEO, frames=3, labelled_frames=3, people=4, tracks=2)]


def test_data_check_lists_files_it_could_not_use(tmp_path, capsys, case_gt):
    root = tmp_path / "ds"
    _write(root / "annotations" / "val", case_gt)
    _write(root / "annotations" / "val", {**case_gt, "images": [{"id": 1}]}, name="000002_broken")
    (root / "annotations" / "val" / "000003_cut.json").write_text(json.dumps(case_gt)[:100])
    for img in case_gt["images"]:
        (root / img["file_name"]).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / img["file_name"])
    assert main(["data", "check", str(root)]) == 2
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"{root}: NOT OK (see the end)"
    assert [line.split() for line in lines if line.startswith(("videos", "people"))] == [["videos", "1"],
                                                                                       ["people", "2"]]
    broken, cut = root / "annotations" / "val" / "000002_broken.json", root / "annotations" / "val" / "000003_cut.json"
    assert lines[-3:-1] == ["files not used (2):", f"  {broken}: images[0]: field 'file_name' is missing"]
    assert lines[-1].startswith(f"  {cut}: not valid JSON (")
    assert err.strip() == (f"tipsd data: error: {root}: 2 of 3 annotation files could not be used (listed above); "
                           f"first: {broken}: images[0]: field 'file_name' is missing")
