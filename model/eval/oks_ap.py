"""COCO-style OKS AP (pycocotools ``COCOeval``, iouType ``keypoints``) for PoseTrack18 data.

Choices (documented because COCO's format needs them and PoseTrack18 does not define them):

- Sigmas: the PoseTrack18 ones mmpose uses (`POSETRACK18_SIGMAS`, ears included but never labelled).
- Frames: the same as the PoseTrack mAP — GT frames with at least one person annotation.
- GT joints: labelled as in the mAP (triplet not exactly (0, 0, 0), ears never), minus joints
  strictly inside an ignore region; written with visibility 2, others (0, 0, 0).
- GT people: every annotation of an evaluated frame. Those with ≥ 1 labelled joint are the
  positives; those with none get ``num_keypoints = 0``, which COCOeval turns into "ignore" (a
  detection on them is neither TP nor FP).
- GT area: ``bbox`` w × h; without a ``bbox``, the tight box around the labelled joints (both as
  COCO's own keypoint annotations carry a segmentation area close to the box area).
- Detections: every predicted person of an evaluated frame with ≥ 1 present joint outside the ignore
  regions (a person left with none is dropped, as the mAP does). Missing joints are sent as
  (0, 0, 0); the detection score is ``score``, else the mean of the present joints' ``scores``,
  else 0. COCOeval keeps the 20 best-scored detections per image.
- Result: AP averaged over OKS thresholds 0.50:0.05:0.95, all areas (COCOeval ``stats[0]``), in
  percent; NaN when there is no positive GT person; 0 when there are positives but no detections.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from tipsd.model.eval.posetrack_json import Frame, drop_ignored, outside_ignore
from tipsd.model.posetrack18 import NUM_KEYPOINTS

# mmpose's PoseTrack18 keypoint sigmas (COCO's, with head_bottom / head_top in the eye slots).
POSETRACK18_SIGMAS = np.array([
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089,
])


def coco_dicts(pairs: list[tuple[Frame, Frame | None]]) -> tuple[dict, list[dict]]:
    """Build a COCO keypoint ground-truth dataset and a detection list from paired frames.

    Args:
        pairs: ``(gt_frame, pred_frame or None)`` for every GT frame; images get ids 1, 2, ... in
            this order (video image ids may collide across videos).

    Returns:
        ``(gt_dataset, detections)``: the dict for ``COCO().dataset`` and the list for
        ``COCO.loadRes``.

    Example:
        >>> gt, dets = coco_dicts([])
        >>> gt["images"], dets
        ([], [])
    """
    images, anns, dets = [], [], []
    for gt_frame, pred_frame in pairs:
        gt = gt_frame.people
        if len(gt) == 0:
            continue
        image_id = len(images) + 1
        images.append({"id": image_id})
        labelled = gt.present.copy()  # (G, 17)
        if gt_frame.ignore_regions:
            labelled &= outside_ignore(gt, gt_frame.ignore_regions)
        for g in range(len(gt)):
            vis = labelled[g]
            kp = np.zeros((NUM_KEYPOINTS, 3))
            kp[vis, :2] = gt.kpts[g, vis, :2]
            kp[vis, 2] = 2
            box = gt.bbox[g]
            if np.isnan(box).any():
                if vis.any():
                    lo, hi = kp[vis, :2].min(axis=0), kp[vis, :2].max(axis=0)
                    box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
                else:
                    box = np.zeros(4)
            anns.append({
                "id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "keypoints": kp.ravel().tolist(), "num_keypoints": int(vis.sum()),
                "bbox": [float(v) for v in box], "area": float(box[2] * box[3]),
            })
        if pred_frame is None or len(pred_frame.people) == 0:
            continue
        pred = drop_ignored(pred_frame.people, gt_frame.ignore_regions)
        pred = pred.subset(pred.present.any(axis=1))  # nothing to score without a joint (also without regions)
        for p in range(len(pred)):
            kp = np.zeros((NUM_KEYPOINTS, 3))
            has = pred.present[p]
            kp[has, :2] = pred.kpts[p, has, :2]
            kp[has, 2] = np.maximum(pred.joint_score[p, has], 0.0)
            score = pred.person_score[p]
            if np.isnan(score):
                js = pred.joint_score[p, has]
                score = float(js.mean()) if js.size else 0.0
            dets.append({
                "image_id": image_id, "category_id": 1, "keypoints": kp.ravel().tolist(),
                "score": float(score),
            })
    gt_dataset = {
        "images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    return gt_dataset, dets


def coco_oks_ap(gt_dataset: dict, detections: list[dict], sigmas: np.ndarray = POSETRACK18_SIGMAS) -> float:
    """OKS AP (percent) of `detections` against `gt_dataset` through pycocotools, silently.

    Args:
        gt_dataset: a COCO keypoint dataset dict (``images``, ``annotations``, ``categories``).
        detections: COCO result dicts (``image_id``, ``category_id``, ``keypoints``, ``score``).
        sigmas: per-keypoint OKS sigmas, (K,).

    Returns:
        AP@[.5:.95] over all areas in percent (COCOeval ``stats[0]`` × 100); NaN without positive
        GT, 0 without detections.

    Example:
        >>> coco_oks_ap({"images": [], "annotations": [], "categories": []}, [])
        nan
    """
    if not any(a["num_keypoints"] > 0 for a in gt_dataset["annotations"]):
        return float("nan")
    if not detections:
        return 0.0
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    # pycocotools prints progress on stdout; `tipsd eval --format json` must stay parseable.
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(detections)
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, float)
        # Only the "all" area range: stats[0] uses nothing else, and it cuts the work by 3.
        ev.params.areaRng = ev.params.areaRng[:1]
        ev.params.areaRngLbl = ev.params.areaRngLbl[:1]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, -1]  # (T, R, K) at area "all", maxDets 20
    valid = precision[precision > -1]
    return float(valid.mean() * 100.0) if valid.size else float("nan")


def oks_ap(pairs: list[tuple[Frame, Frame | None]]) -> float:
    """OKS AP in percent for paired GT / prediction frames (see the module docstring)."""
    gt_dataset, detections = coco_dicts(pairs)
    return coco_oks_ap(gt_dataset, detections)


__all__ = ["POSETRACK18_SIGMAS", "coco_dicts", "coco_oks_ap", "oks_ap"]
