"""PoseTrack18 export round trip and `tipsd eval` in-process (formats, missing files, bad input)."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from tipsd.model.eval import KEYPOINT_NAMES, evaluate, load_video_dir, prediction_video, write_predictions
from tipsd.sweep.cli import main

HEAD = [0.0, 0.0, 10.0, 10.0]
COLUMNS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]


def pose(x0: float) -> np.ndarray:
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = x0 + 3.0 * np.arange(17), 50 + 5.0 * np.arange(17), 1
    kp[[3, 4]] = 0
    return kp


def gt_video(image_ids, people_per_image=1) -> dict:
    anns = [{"image_id": i, "keypoints": pose(100 + 200 * p).ravel().tolist(), "bbox_head": HEAD,
             "bbox": [100.0 + 200 * p, 40.0, 60.0, 100.0], "track_id": p}
            for i in image_ids for p in range(people_per_image)]
    return {"images": [{"id": i, "file_name": f"images/val/v/{i:06d}.jpg"} for i in image_ids],
            "annotations": anns}


@pytest.fixture
def folders(tmp_path):
    """GT folder with videos a (2 frames) and b (1 frame); predictions perfect for a, none for b."""
    gt = {"a": gt_video([1, 2], 2), "b": gt_video([5])}
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    for name, v in gt.items():
        (gt_dir / f"{name}.json").write_text(json.dumps(v))
    kp = np.stack([pose(100), pose(300), pose(100), pose(300)])
    preds = {"a": prediction_video(gt["a"]["images"], [1, 1, 2, 2], kp[:, :, :2],
                                   joint_scores=np.full((4, 17), 0.8))}
    write_predictions(preds, pred_dir)
    return gt, preds, gt_dir, pred_dir


def test_export_round_trip_has_poseval_layout(folders):
    gt, preds, _, pred_dir = folders
    assert sorted(p.name for p in pred_dir.iterdir()) == ["a.json"]
    back = load_video_dir(pred_dir)["a"]
    assert back["images"] == gt["a"]["images"]
    assert back["categories"][0]["name"] == "person"
    assert back["categories"][0]["keypoints"] == list(KEYPOINT_NAMES)
    assert back["annotations"] == preds["a"]["annotations"]
    ann = back["annotations"][1]
    assert ann["image_id"] == 1 and ann["track_id"] == 1 and len(ann["keypoints"]) == 51
    assert ann["keypoints"][:3] == [300.0, 50.0, 0.8] and ann["scores"] == [0.8] * 17
    assert ann["score"] == pytest.approx(0.8)
    assert evaluate({"a": gt["a"]}, {"a": back})["Total"] == 100.0


def test_write_predictions_rejects_folder_names(tmp_path):
    from tipsd.model.errors import DataError

    with pytest.raises(DataError, match=r"video name '\.\./x': must be a plain file name"):
        write_predictions({"../x": {"annotations": []}}, tmp_path)


def test_cli_table(folders, capsys):
    _, _, gt_dir, pred_dir = folders
    assert main(["eval", str(gt_dir), str(pred_dir), "--allow-missing"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [*COLUMNS, "OKS", "AP"]
    # Video b (1 of 3 frames, 1 of 5 GT people) has no predictions: recall stops at 4/5, precision 1.
    assert lines[2].split()[:8] == ["80.0"] * 8
    assert ["right_ankle", "80.0"] in [line.split() for line in lines]


def test_cli_json(folders, capsys):
    _, _, gt_dir, pred_dir = folders
    assert main(["eval", str(gt_dir), str(pred_dir), "--allow-missing", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out)[:8] == COLUMNS and out["Total"] == pytest.approx(80.0)
    assert len(out["joints"]) == 15 and out["joints"]["nose"] == pytest.approx(80.0)
    assert 0.0 < out["oks_ap"] <= 100.0


def test_cli_csv(folders, capsys):
    _, _, gt_dir, pred_dir = folders
    assert main(["eval", str(gt_dir), str(pred_dir), "--allow-missing", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2 and rows[0][:9] == [*COLUMNS, "oks_ap"] and len(rows[0]) == 9 + 15
    assert float(rows[1][7]) == pytest.approx(80.0)


def test_cli_missing_prediction_file_is_one_line_error(folders, capsys):
    _, _, gt_dir, pred_dir = folders
    assert main(["eval", str(gt_dir), str(pred_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"tipsd eval: error: {pred_dir / 'b.json'}: file not found")


def test_cli_missing_dir(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"tipsd eval: error: folder {tmp_path / 'nope'} does not exist\n"


def test_cli_corrupt_json_names_file(folders, capsys):
    _, _, gt_dir, pred_dir = folders
    (pred_dir / "a.json").write_text('{"images": [], "annotations": [')
    assert main(["eval", str(gt_dir), str(pred_dir), "--allow-missing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{pred_dir / 'a.json'}: not valid JSON (" in err


def test_cli_bad_field_names_file_and_field(folders, capsys):
    gt, _, gt_dir, pred_dir = folders
    bad = gt["b"]
    bad["annotations"][0]["keypoints"] = bad["annotations"][0]["keypoints"][:48]
    (gt_dir / "b.json").write_text(json.dumps(bad))
    assert main(["eval", str(gt_dir), str(pred_dir), "--allow-missing"]) == 2
    err = capsys.readouterr().err
    assert err == (f"tipsd eval: error: {gt_dir / 'b.json'}: annotations[0].keypoints: "
                   "expected 51 numbers, got 48\n")


def test_cli_unknown_option(folders, capsys):
    _, _, gt_dir, pred_dir = folders
    assert main(["eval", str(gt_dir), str(pred_dir), "--fromat", "json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --fromat" in err
    assert main(["eval", str(gt_dir), str(pred_dir), "--format", "xml"]) == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err
