"""The PoseTrack 2017 layout (``annolist``): a hand-made 2017 video scores exactly like its PoseTrack18
form; export and `tipsd data convert` in either layout; refusals; `data check` and training on a 2017
folder. The 2017 files are written here by hand from poseval's joint numbering, not by tipsd's writer."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tipsd.model.data import PoseTrackClips, load_split
from tipsd.model.data.posetrack import build_samples
from tipsd.model.errors import DataError
from tipsd.model.eval import evaluate, write_predictions
from tipsd.model.posetrack17 import from_annolist
from tipsd.model.posetrack18 import KEYPOINT_NAMES, MIN_SCORE
from tipsd.sweep.cli import main

CASE = Path(__file__).parent / "posetrack_input" / "renumbered-image-ids"
VIDEO = "009473_mpii_test"
POSEVAL_TOTAL = 77.77777777777779
# poseval's PoseTrack 2017 joint ids (eval_helpers.Joint; "neck" there is head_bottom).
IDS_2017 = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
            "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose",
            "head_top"]


def _load(name: str) -> dict:
    return json.loads((CASE / name / f"{VIDEO}.json").read_text())


def with_unlabelled_frame(doc: dict) -> dict:
    """The case's video plus a second, unlabelled frame without people."""
    out = copy.deepcopy(doc)
    out["images"].append({**doc["images"][0], "id": doc["images"][0]["id"] + 1, "is_labeled": False,
                          "file_name": doc["images"][0]["file_name"].replace("000000", "000001")})
    for key in ("ignore_regions_x", "ignore_regions_y"):
        out["images"][1].pop(key)
    return out


def by_hand_2017(doc: dict, is_gt: bool) -> dict:
    """A PoseTrack18 video written in the 2017 layout by hand: points in reverse id order, person 1's
    values unwrapped (plain numbers, which tipsd also reads)."""
    annolist = []
    for n, img in enumerate(doc["images"]):
        rects = []
        for p, ann in enumerate(a for a in doc["annotations"] if a["image_id"] == img["id"]):
            wrap = (lambda v: v) if p == 1 else (lambda v: [v])
            points = []
            for joint in reversed(range(15)):
                slot = KEYPOINT_NAMES.index(IDS_2017[joint])
                x, y, v = ann["keypoints"][3 * slot:3 * slot + 3]
                if (x, y, v) == (0, 0, 0):
                    continue
                point = {"id": wrap(joint), "x": wrap(x), "y": wrap(y), "is_visible": wrap(1)}
                if not is_gt:
                    point["score"] = wrap(ann["scores"][slot])
                points.append(point)
            rect = {"track_id": wrap(ann["track_id"]), "annopoints": [{"point": points}]}
            if is_gt:
                hx, hy, hw, hh = ann["bbox_head"]
                rect.update(x1=wrap(hx), y1=wrap(hy), x2=wrap(hx + hw), y2=wrap(hy + hh))
            else:
                rect["score"] = wrap(ann["score"])
            rects.append(rect)
        regions = [{"point": [{"x": [x], "y": [y]} for x, y in zip(rx, ry)]}
                   for rx, ry in zip(img.get("ignore_regions_x", []), img.get("ignore_regions_y", []))]
        annolist.append({"image": [{"name": img["file_name"]}], "imgnum": [n + 1],
                         "is_labeled": [int(img.get("is_labeled", True))], "annorect": rects,
                         "ignore_regions": regions})
    return {"annolist": annolist}


@pytest.fixture
def videos() -> dict:
    gt, pred = with_unlabelled_frame(_load("gt")), with_unlabelled_frame(_load("pred_original_ids"))
    return {"gt18": gt, "pred18": pred, "gt17": by_hand_2017(gt, True), "pred17": by_hand_2017(pred, False)}


def _write(folder: Path, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{VIDEO}.json").write_text(json.dumps(doc))
    return folder


def test_2017_video_scores_exactly_like_its_2018_form(videos):
    v = videos
    expected = evaluate({VIDEO: v["gt18"]}, {VIDEO: v["pred18"]})
    assert expected["Total"] == pytest.approx(POSEVAL_TOTAL, abs=1e-9)
    for gt, pred in (("gt17", "pred17"), ("gt17", "pred18"), ("gt18", "pred17")):
        assert evaluate({VIDEO: v[gt]}, {VIDEO: v[pred]}) == expected, (gt, pred)
    assert from_annolist(v["gt17"], "gt")["images"][0]["ignore_regions_x"] == v["gt18"]["images"][0]["ignore_regions_x"]


def test_2017_frames_pair_by_position_and_need_the_same_count(videos):
    one_frame = {"annolist": videos["pred17"]["annolist"][:1]}
    with pytest.raises(DataError, match=r"pred\.json: this 2017-layout file has no image ids, so frames are paired by "
                                        r"position \(as poseval pairs them\), and the predictions list 1 frames and "
                                        r"the ground truth gt\.json 2"):
        from tipsd.model.eval.evaluate import pair_video
        from tipsd.model.eval.posetrack_json import parse_video

        pair_video(parse_video(videos["gt18"], "gt.json", is_gt=True), parse_video(one_frame, "pred.json", is_gt=False))


def test_export_and_convert_in_either_layout(tmp_path, capsys, videos):
    v = videos
    expected = evaluate({VIDEO: v["gt18"]}, {VIDEO: v["pred18"]})
    write_predictions({VIDEO: v["pred18"]}, tmp_path / "p17", layout="2017")
    written = json.loads((tmp_path / "p17" / f"{VIDEO}.json").read_text())
    assert list(written) == ["annolist"] and len(written["annolist"]) == 2
    nose = [p for p in written["annolist"][0]["annorect"][0]["annopoints"][0]["point"] if p["id"] == [13]][0]
    assert nose["score"] == [v["pred18"]["annotations"][0]["scores"][0]]
    # tipsd eval reads 2017 folders on either side.
    _write(tmp_path / "g17", v["gt17"])
    assert main(["eval", str(tmp_path / "g17"), str(tmp_path / "p17"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["Total"] == expected["Total"]
    # tipsd data convert: 2017 GT -> 2018 -> scores the same; predictions 2018 -> 2017.
    assert main(["data", "convert", str(tmp_path / "g17"), str(tmp_path / "g18"), "--layout", "2018"]) == 0
    assert "wrote 1 video files in the PoseTrack18 layout" in capsys.readouterr().out
    g18 = json.loads((tmp_path / "g18" / f"{VIDEO}.json").read_text())
    assert g18["categories"][0]["keypoints"] == list(KEYPOINT_NAMES)
    assert evaluate({VIDEO: g18}, {VIDEO: v["pred18"]}) == expected
    _write(tmp_path / "p18", v["pred18"])
    assert main(["data", "convert", str(tmp_path / "p18"), str(tmp_path / "p17b"), "--layout", "2017",
                 "--predictions"]) == 0
    back = json.loads((tmp_path / "p17b" / f"{VIDEO}.json").read_text())
    assert evaluate({VIDEO: v["gt18"]}, {VIDEO: back}) == expected
    with pytest.raises(DataError, match="the video must list its frames"):
        write_predictions({VIDEO: {"annotations": []}}, tmp_path / "x", layout="2017")
    with pytest.raises(DataError, match="layout '2019' is unknown; valid layouts: 2017, 2018"):
        write_predictions({VIDEO: v["pred18"]}, tmp_path / "x", layout="2019")


def _point(rect: dict, joint: int) -> dict:
    return [p for p in rect["annopoints"][0]["point"] if p["id"] in (joint, [joint])][0]


def test_2017_refusals_name_the_file_and_field(videos):
    v = videos
    gt = copy.deepcopy(v["gt17"])
    _point(gt["annolist"][0]["annorect"][0], 14)["id"] = [15]  # MPII's 16-joint numbering, say
    with pytest.raises(DataError, match=r"video 'v' \(ground truth\): annolist\[0\]\.annorect\[0\]\.annopoints\[0\]"
                                        r"\.point\[0\]\.id: 15 is not a PoseTrack 2017 joint id \(0-14: 0 right_ankle"):
        evaluate({"v": gt}, {"v": v["pred17"]})
    gt = copy.deepcopy(v["gt17"])
    _point(gt["annolist"][0]["annorect"][0], 13)["id"] = [12]
    with pytest.raises(DataError, match=r"point\[2\]\.id: joint 12 \(head_bottom\) is also point\[1\]"):
        evaluate({"v": gt}, {"v": v["pred17"]})
    gt = copy.deepcopy(v["gt17"])
    _point(gt["annolist"][0]["annorect"][1], 0)["x"] = "12"
    with pytest.raises(DataError, match=r"annorect\[1\]\.annopoints\[0\]\.point\[14\]\.x: '12' is not a finite number"):
        evaluate({"v": gt}, {"v": v["pred17"]})
    gt = copy.deepcopy(v["gt17"])
    del gt["annolist"][0]["annorect"][0]["x2"]
    with pytest.raises(DataError, match=r"annolist\[0\]\.annorect\[0\]: x1, y1, x2, y2 \(the head box\) missing"):
        evaluate({"v": gt}, {"v": v["pred17"]})
    assert "bbox_head" not in from_annolist(gt, "v", dataset=True)["annotations"][0]  # training needs none
    del gt["annolist"][0]["annorect"][0]["track_id"]
    with pytest.raises(DataError, match=r"annolist\[0\]\.annorect\[0\]: field 'track_id' is missing"):
        from_annolist(gt, "v", dataset=True)
    with pytest.raises(DataError, match=r"annolist\[1\]\.image\[0\]\.name: None is not a file name"):
        from_annolist({"annolist": [{"image": [{"name": "a.jpg"}]}, {"image": [{}]}]}, "v")
    two_videos = {"annolist": [{"image": [{"name": f"images/bonn/{v}/00000001.jpg"}]}
                               for v in ("0001_mpii", "0002_mpii")]}
    with pytest.raises(DataError, match=r"annolist\[1\]\.image\[0\]\.name: 'images/bonn/0002_mpii/00000001\.jpg' "
                                        r"is not in the folder of annolist\[0\]'s .*; one file holds one video"):
        from_annolist(two_videos, "v")


def test_2017_point_without_score_gets_poseval_min_score(videos):
    pred = copy.deepcopy(videos["pred17"])
    del _point(pred["annolist"][0]["annorect"][0], 13)["score"]
    scores = from_annolist(pred, "p", is_gt=False)["annotations"][0]["scores"]
    assert scores[KEYPOINT_NAMES.index("nose")] == MIN_SCORE and scores[KEYPOINT_NAMES.index("head_top")] > 0


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(path)


def write_2017_folder(root: Path) -> Path:
    """posetrack_data/ as the 2017 release has it: train and val with people, test without annorect.
    The val file lists every 4th frame only (its names number the frames)."""
    base = root / "posetrack_data"
    for split, step in (("train", 1), ("val", 4), ("test", 1)):
        annolist = []
        for n in range(3):
            name = f"images/bonn/0001{split}/{1 + step * n:08d}.jpg"
            _image(base / name)
            frame = {"image": [{"name": name}]}
            if split != "test":
                points = [{"id": [j], "x": [20.0 + j], "y": [10.0 + 2 * j], "is_visible": [1]} for j in range(15)]
                frame["annorect"] = [{"track_id": [4], "x1": [30], "y1": [5], "x2": [40], "y2": [15],
                                      "annopoints": [{"point": points}]}]
            annolist.append(frame)
        folder = base / "annotations" / split
        folder.mkdir(parents=True)
        (folder / f"0001{split}.json").write_text(json.dumps({"annolist": annolist}))
    return root


def test_data_check_and_training_on_a_2017_folder(tmp_path, capsys):
    root = write_2017_folder(tmp_path / "pt17")
    assert main(["data", "check", str(root), "--videos"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:1].isalpha()}
    assert rows["layout"] == ["2017"] * 3 and rows["labelled"] == ["yes", "yes", "no"]
    assert rows["labelled_frames"] == ["3", "3", "0"] and rows["people"] == ["3", "3", "0"]
    assert rows["tracks_per_video"] == ["1.0", "1.0", "0.0"]
    assert "test: unlabelled split" in out and "  val    0001val" in out
    video = load_split(root, "val")[0]
    assert video["_layout"] == "2017" and [img["frame_id"] for img in video["images"]] == [1, 5, 9]
    kp = video["annotations"][0]["keypoints"]
    assert kp[3 * KEYPOINT_NAMES.index("head_top"):][:3] == [34.0, 38.0, 1]  # 2017 id 14
    assert kp[3 * KEYPOINT_NAMES.index("right_ankle"):][:3] == [20.0, 10.0, 1]  # 2017 id 0
    assert [s.frames for s in build_samples([video], delta=4)] == [(0, 0, 1), (0, 1, 2), (1, 2, 2)]
    clips = PoseTrackClips(root, "train", input_size=(32, 24), train=False)
    assert len(clips) == 3 and tuple(clips[1]["frames"].shape) == (3, 3, 32, 24)


def test_layout_modules_stay_pure_python():
    code = ("import sys, tipsd.model.posetrack17, tipsd.model.posetrack18, tipsd.model.posetrack_layout; "
            "print(sorted({'numpy', 'torch'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
