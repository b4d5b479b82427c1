"""PoseTrack mAP (poseval's algorithm) on hand-made cases with hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tipsd.model.errors import DataError
from tipsd.model.eval import EVAL_JOINT_NAMES, evaluate, voc_ap
from tipsd.model.eval.posetrack_json import points_in_polygon
from tipsd.model.posetrack18 import KEYPOINT_NAMES
from tipsd.model.eval.poseval_map import precision_recall

# Head box 10 x 10 → head size 0.6 * sqrt(200) = 8.485 px; PCKh@0.5 threshold = 4.243 px.
HEAD = [0.0, 0.0, 10.0, 10.0]
SLOT = {n: i for i, n in enumerate(KEYPOINT_NAMES)}


def pose(x0: float, y0: float = 50.0) -> np.ndarray:
    """(17, 3) a labelled pose with joints 3 px apart in x from x0; ears (0, 0, 0)."""
    kp = np.zeros((17, 3))
    for k in range(17):
        kp[k] = (x0 + 3.0 * k, y0 + 5.0 * k, 1.0)
    kp[[3, 4]] = 0.0
    return kp


def gt_ann(image_id: int, kp: np.ndarray, **extra) -> dict:
    return {"image_id": image_id, "keypoints": kp.ravel().tolist(), "bbox_head": HEAD,
            "bbox": [float(kp[:, 0].min()), 40.0, 50.0, 100.0], "track_id": 0, **extra}


def pred_ann(image_id: int, kp: np.ndarray, score: float = 0.9) -> dict:
    kp = kp.copy()
    kp[:, 2] = score
    return {"image_id": image_id, "keypoints": kp.ravel().tolist(), "scores": [score] * 17,
            "score": score}


def video(image_ids, anns) -> dict:
    return {"images": [{"id": i} for i in image_ids], "annotations": anns}


def test_perfect_predictions_score_100():
    gt = {"v": video([1, 2], [gt_ann(1, pose(100)), gt_ann(1, pose(300)), gt_ann(2, pose(100))])}
    pred = {"v": video([1, 2], [pred_ann(1, pose(300)), pred_ann(1, pose(100)), pred_ann(2, pose(100))])}
    res = evaluate(gt, pred)
    for col in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"):
        assert res[col] == 100.0
    assert list(res["joints"]) == list(EVAL_JOINT_NAMES) and len(res["joints"]) == 15
    assert res["oks_ap"] == pytest.approx(100.0, abs=1e-6)


def test_every_joint_beyond_threshold_scores_0():
    gt = {"v": video([1], [gt_ann(1, pose(100))])}
    off = pose(100)
    off[:, 0] += 4.3  # just beyond 0.5 head sizes (4.243 px)
    pred = {"v": video([1], [pred_ann(1, off)])}
    res = evaluate(gt, pred)
    assert res["Total"] == 0.0 and all(v == 0.0 for v in res["joints"].values())
    off[:, 0] -= 0.1  # 4.2 px: inside the threshold
    assert evaluate(gt, {"v": video([1], [pred_ann(1, off)])})["Total"] == 100.0


def test_unlabelled_ears_are_ignored_even_when_predicted():
    gt = {"v": video([1], [gt_ann(1, pose(100))])}
    kp = pose(100)
    kp[[3, 4]] = (900.0, 900.0, 1.0)  # predicted ears far from anything
    res = evaluate(gt, {"v": video([1], [pred_ann(1, kp)])})
    assert res["Total"] == 100.0
    assert "left_ear" not in res["joints"] and "right_ear" not in res["joints"]


def test_pckh_greedy_matching_beats_nearest_box():
    # P1 is A's pose with left_wrist and left_ankle thrown far right: its keypoint box centre is
    # nearer B's box than A's, but its PCKh (13/15 with A, 0 with B) assigns it to A.
    a, b = pose(100), pose(200)
    p1 = a.copy()
    p1[[SLOT["left_wrist"], SLOT["left_ankle"]], 0] = 400.0
    centre = lambda kp: (kp[kp[:, 2] > 0, 0].min() + kp[kp[:, 2] > 0, 0].max()) / 2  # noqa: E731
    assert abs(centre(p1) - centre(b)) < abs(centre(p1) - centre(a))  # the premise
    gt = {"v": video([1], [gt_ann(1, a), gt_ann(1, b)])}
    pred = {"v": video([1], [pred_ann(1, p1, 0.9), pred_ann(1, b, 0.8)])}
    res = evaluate(gt, pred)
    # Moved joints: P1 (0.9) FP, P2 (0.8) TP, 2 GT → P = [0, .5], R = [0, .5] → AP = .5 * .5.
    assert res["joints"]["left_wrist"] == pytest.approx(25.0)
    assert res["joints"]["left_ankle"] == pytest.approx(25.0)
    assert res["joints"]["right_wrist"] == 100.0
    assert res["Wrist"] == pytest.approx(62.5) and res["Ankle"] == pytest.approx(62.5)
    assert res["Total"] == pytest.approx((13 * 100 + 2 * 25) / 15)


def test_false_positives_lower_ap_by_hand():
    # Frame 2's only GT person lies inside an ignore region: it is removed, the frame stays
    # evaluated (poseval removes ignored points after selecting frames), and a prediction outside
    # the region is a false positive on a frame without people.
    region = {"ignore_regions_x": [[500, 700, 700, 500]], "ignore_regions_y": [[0, 0, 300, 300]]}
    images = [{"id": 1}, {"id": 2, **region}]
    gt = {"v": {"images": images, "annotations": [gt_ann(1, pose(100)), gt_ann(2, pose(550))]}}
    high = {"v": video([1, 2], [pred_ann(1, pose(100), 0.5), pred_ann(2, pose(100), 0.9)])}
    # Per joint: FP (0.9) then TP (0.5), 1 GT: P = [0, .5], R = [0, 1] → AP = 1 * .5 = 50.
    assert evaluate(gt, high)["Total"] == pytest.approx(50.0)
    low = {"v": video([1, 2], [pred_ann(1, pose(100), 0.5), pred_ann(2, pose(100), 0.1)])}
    assert evaluate(gt, low)["Total"] == pytest.approx(100.0)  # TP first: P = [1, .5], R = [1, 1]


def test_frame_without_gt_annotations_is_not_evaluated():
    # poseval's cleanupData drops GT frames with no people, and their predictions with them.
    gt = {"v": video([1, 2], [gt_ann(1, pose(100))])}
    pred = {"v": video([1, 2], [pred_ann(1, pose(100), 0.5), pred_ann(2, pose(100), 0.9)])}
    assert evaluate(gt, pred)["Total"] == 100.0


def test_prediction_inside_ignore_region_is_dropped():
    region = {"ignore_regions_x": [[500, 700, 700, 500]], "ignore_regions_y": [[0, 0, 300, 300]]}
    gt_anns = [gt_ann(1, pose(100))]
    preds = {"v": video([1], [pred_ann(1, pose(100), 0.5), pred_ann(1, pose(550), 0.9)])}
    with_region = {"v": {"images": [{"id": 1, **region}], "annotations": gt_anns}}
    without = {"v": {"images": [{"id": 1}], "annotations": gt_anns}}
    assert evaluate(with_region, preds)["Total"] == 100.0
    assert evaluate(without, preds)["Total"] == pytest.approx(50.0)  # the control: FP then TP


def test_joints_inside_ignore_region_are_dropped_from_gt_and_predictions():
    # Region covers x in (95, 120): slots 0..6 (x = 100..118: nose, head_bottom, head_top,
    # shoulders) leave both the GT count and the prediction → no candidates → AP 0 (poseval's
    # rule; with the GT dropped but the prediction kept it would be NaN). Slots 7.. stay: 100.
    region = {"ignore_regions_x": [[95, 120, 120, 95]], "ignore_regions_y": [[0, 0, 500, 500]]}
    gt = {"v": {"images": [{"id": 1, **region}], "annotations": [gt_ann(1, pose(100))]}}
    res = evaluate(gt, {"v": video([1], [pred_ann(1, pose(100))])})
    assert res["joints"]["left_elbow"] == 100.0 and res["joints"]["right_ankle"] == 100.0
    assert res["joints"]["nose"] == 0.0 and res["joints"]["right_shoulder"] == 0.0
    assert res["Total"] == pytest.approx(10 / 15 * 100)


def test_group_columns_are_poseval_means():
    gt = {"v": video([1], [gt_ann(1, pose(100))])}
    kp = pose(100)
    for name in ("nose", "left_wrist", "right_wrist", "left_knee"):
        kp[SLOT[name], 0] += 50.0
    res = evaluate(gt, {"v": video([1], [pred_ann(1, kp)])})
    assert res["Head"] == pytest.approx(200 / 3)  # head_top, head_bottom 100, nose 0
    assert res["Wrist"] == 0.0 and res["Knee"] == 50.0 and res["Shoulder"] == 100.0
    assert res["Total"] == pytest.approx(11 / 15 * 100)  # mean over joints, not over groups


def test_predicted_joint_without_gt_label_is_false_positive():
    g1, g2 = pose(100), pose(300)
    g1[SLOT["left_knee"]] = 0.0  # unlabelled in person 1, labelled in person 2
    gt = {"v": video([1], [gt_ann(1, g1), gt_ann(1, g2)])}
    pred = {"v": video([1], [pred_ann(1, pose(100), 0.9), pred_ann(1, pose(300), 0.5)])}
    res = evaluate(gt, pred)
    assert res["joints"]["left_knee"] == pytest.approx(50.0)  # FP 0.9, TP 0.5, 1 GT
    assert res["Knee"] == pytest.approx(75.0)


def test_joint_with_predictions_but_no_gt_is_nan_and_left_out_of_total():
    g = pose(100)
    g[SLOT["left_knee"]] = 0.0
    res = evaluate({"v": video([1], [gt_ann(1, g)])}, {"v": video([1], [pred_ann(1, pose(100))])})
    assert math.isnan(res["joints"]["left_knee"]) and math.isnan(res["Knee"])
    assert res["Total"] == 100.0


def test_missing_prediction_video_counts_as_no_predictions():
    gt = {"a": video([1], [gt_ann(1, pose(100))]), "b": video([1], [gt_ann(1, pose(100))])}
    res = evaluate(gt, {"a": video([1], [pred_ann(1, pose(100))])})
    assert res["Total"] == pytest.approx(50.0)  # recall stops at 1/2 with precision 1


def test_missing_scores_get_poseval_min_score():
    gt = {"v": video([1], [gt_ann(1, pose(100))])}
    fp = {"image_id": 1, "keypoints": pose(400).ravel().tolist()}  # no `scores` → -9999
    # The TP's -5000 still beats -9999 (a default of 0 would rank the FP first: AP 50).
    res = evaluate(gt, {"v": video([1], [fp, pred_ann(1, pose(100), -5000.0)])})
    assert res["Total"] == 100.0


def test_voc_ap_by_hand():
    # Sorted: labels 1 0 1 0 1 with 4 GT → P = 1, .5, .667, .5, .6; R = .25 .25 .5 .5 .75.
    # Monotone P at recall steps .25, .5, .75: 1, 2/3, .6 → AP = .25 * (1 + 2/3 + .6).
    scores = np.array([0.7, 0.5, 0.9, 0.6, 0.8])
    labels = np.array([True, True, True, False, False])
    p, r = precision_recall(scores, labels, 4)
    np.testing.assert_allclose(p, [1, 0.5, 2 / 3, 0.5, 0.6])
    np.testing.assert_allclose(r, [0.25, 0.25, 0.5, 0.5, 0.75])
    assert voc_ap(r, p) == pytest.approx(0.25 * (1 + 2 / 3 + 0.6))
    assert voc_ap(np.array([]), np.array([])) == 0.0


def test_points_in_polygon_excludes_boundary():
    tri = np.array([[0, 0], [4, 0], [0, 4]], float)
    pts = np.array([[1, 1], [2, 2], [3, 3], [0, 2], [-1, 1]], float)
    assert points_in_polygon(pts, tri).tolist() == [True, False, False, False, False]
    assert not points_in_polygon(pts, tri[:2]).any()  # < 3 vertices: contains nothing


def test_bad_input_names_video_and_field():
    ok_pred = {"v": video([1], [])}
    no_head = gt_ann(1, pose(100))
    del no_head["bbox_head"]
    with pytest.raises(DataError, match=r"video 'v' \(ground truth\): annotations\[0\]\.bbox_head: missing"):
        evaluate({"v": video([1], [no_head])}, ok_pred)
    short = gt_ann(1, pose(100))
    short["keypoints"] = short["keypoints"][:50]
    with pytest.raises(DataError, match=r"annotations\[0\]\.keypoints: expected 51 numbers, got 50"):
        evaluate({"v": video([1], [short])}, ok_pred)
    bad_pred = pred_ann(1, pose(100))
    bad_pred["scores"] = ["x"] * 17
    with pytest.raises(DataError, match=r"\(predictions\): annotations\[0\]\.scores: 'x' is not a number"):
        evaluate({"v": video([1], [gt_ann(1, pose(100))])}, {"v": video([1], [bad_pred])})


def test_one_keypoint_layout_for_data_and_eval():
    """The data loader and the evaluation read the layout from one module (tipsd.model.posetrack18)."""
    from tipsd.model import posetrack18
    from tipsd.model.data import KEYPOINT_NAMES as DATA_NAMES
    from tipsd.model.eval import KEYPOINT_NAMES as EVAL_NAMES

    assert DATA_NAMES is EVAL_NAMES is posetrack18.KEYPOINT_NAMES
