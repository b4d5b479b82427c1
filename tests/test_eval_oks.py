"""OKS AP: our PoseTrack18 → COCO conversion agrees with a direct pycocotools COCOeval call."""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tipsd.model.eval import POSETRACK18_SIGMAS, evaluate

HEAD = [0.0, 0.0, 10.0, 10.0]


def make_case(rng: np.random.Generator):
    """Three frames, 2-3 people each, noisy predictions, one false positive, one person without
    labelled joints. Returns (gt_videos, pred_videos, coco_gt_dataset, coco_detections) where the
    COCO pair is written here by hand from the same numbers."""
    gt_anns, pred_anns, coco_anns, coco_dets, images = [], [], [], [], []
    for image_id in (11, 12, 13):
        images.append({"id": image_id})
        for p in range(3 if image_id == 12 else 2):
            kp = np.zeros((17, 3))
            kp[:, 0] = 100 + 150 * p + rng.uniform(0, 60, 17)
            kp[:, 1] = 50 + rng.uniform(0, 120, 17)
            kp[:, 2] = 1
            kp[[3, 4]] = 0
            if p == 1:
                kp[[13, 15]] = 0  # a knee and an ankle unlabelled
            if image_id == 13 and p == 1:
                kp[:] = 0  # a person with no labelled joint: COCOeval ignores it
            box = [100.0 + 150 * p, 50.0, 60.0, 120.0]
            gt_anns.append({"image_id": image_id, "keypoints": kp.ravel().tolist(), "bbox_head": HEAD,
                            "bbox": box, "track_id": p})
            vis = kp[:, 2] > 0
            coco_kp = kp.copy()
            coco_kp[vis, 2] = 2
            coco_anns.append({"id": len(coco_anns) + 1, "image_id": image_id, "category_id": 1,
                              "iscrowd": 0, "keypoints": coco_kp.ravel().tolist(),
                              "num_keypoints": int(vis.sum()), "bbox": box, "area": box[2] * box[3]})
            pr = kp.copy()
            pr[:, :2] = kp[:, :2] + rng.normal(0, 4 + 4 * p, (17, 2))
            if not vis.any():
                pr[:, :2] = 400 + rng.uniform(0, 50, (17, 2))
            js = rng.uniform(0.2, 1.0, 17)
            pr[:, 2] = js
            score = float(rng.uniform(0.3, 1.0))
            pred_anns.append({"image_id": image_id, "keypoints": pr.ravel().tolist(),
                              "scores": js.tolist(), "score": score})
            coco_dets.append({"image_id": image_id, "category_id": 1,
                              "keypoints": pr.ravel().tolist(), "score": score})
    # A false positive far from everyone on frame 11.
    fp = np.zeros((17, 3))
    fp[:, 0], fp[:, 1], fp[:, 2] = 700, 300, 0.5
    pred_anns.append({"image_id": 11, "keypoints": fp.ravel().tolist(), "scores": [0.5] * 17, "score": 0.95})
    coco_dets.append({"image_id": 11, "category_id": 1, "keypoints": fp.ravel().tolist(), "score": 0.95})
    gt_videos = {"v": {"images": images, "annotations": gt_anns}}
    pred_videos = {"v": {"images": images, "annotations": pred_anns}}
    coco_gt = {"images": images, "annotations": coco_anns,
               "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    return gt_videos, pred_videos, coco_gt, coco_dets


def direct_cocoeval(coco_gt: dict, dets: list) -> float:
    """stats[0] × 100 of a plain COCOeval run with the PoseTrack18 sigmas."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_gt
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), iouType="keypoints")
        ev.params.kpt_oks_sigmas = POSETRACK18_SIGMAS
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0] * 100


@pytest.mark.parametrize("seed", [0, 1])
def test_oks_ap_matches_direct_cocoeval(seed):
    gt_videos, pred_videos, coco_gt, dets = make_case(np.random.default_rng(seed))
    expected = direct_cocoeval(coco_gt, dets)
    assert 5.0 < expected < 95.0  # a case where the noise matters, not a trivial 0 or 100
    assert evaluate(gt_videos, pred_videos)["oks_ap"] == pytest.approx(expected, abs=1e-9)


def test_oks_ap_edge_cases(capsys):
    gt_videos, pred_videos, _, _ = make_case(np.random.default_rng(0))
    perfect = {"v": {"annotations": [dict(a, scores=[1.0] * 17) for a in gt_videos["v"]["annotations"]]}}
    assert evaluate(gt_videos, perfect)["oks_ap"] == pytest.approx(100.0, abs=1e-6)
    assert evaluate(gt_videos, {})["oks_ap"] == 0.0  # positives but no detections
    no_pos = {"v": {"images": [{"id": 1}], "annotations": [
        {"image_id": 1, "keypoints": [0] * 51, "bbox": [0, 0, 5, 5]}]}}
    on_frame_1 = {"v": {"annotations": [{k: v for k, v in a.items() if k != "track_id"} | {"image_id": 1}
                                        for a in pred_videos["v"]["annotations"]]}}
    assert math.isnan(evaluate(no_pos, on_frame_1)["oks_ap"])
    assert capsys.readouterr().out == ""  # pycocotools' progress prints are swallowed


def test_predicted_person_without_joints_is_no_detection():
    """A predicted person whose joints are all (0, 0, 0) has nothing to score: dropped, as the mAP
    drops it, whether or not its frame has ignore regions (not a confident false positive at (0, 0))."""
    gt_videos, pred_videos, _, _ = make_case(np.random.default_rng(0))
    before = evaluate(gt_videos, pred_videos)
    empty = {"image_id": 11, "keypoints": [0.0] * 51, "scores": [0.0] * 17, "score": 0.99}
    with_empty = {"v": dict(pred_videos["v"], annotations=pred_videos["v"]["annotations"] + [empty])}
    after = evaluate(gt_videos, with_empty)
    assert after["Total"] == before["Total"]
    assert after["oks_ap"] == pytest.approx(before["oks_ap"], abs=1e-12)
