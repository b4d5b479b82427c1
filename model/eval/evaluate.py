"""`evaluate`: PoseTrack mAP (poseval's) and COCO OKS AP of predictions against ground truth.

Both inputs are PoseTrack18 video dicts keyed by video name. Prediction annotations reference the
GT ``image_id``s; a GT video without a prediction entry counts as "no predictions"; prediction
videos without GT are ignored (poseval reads predictions only for its GT files).
"""
from __future__ import annotations

from typing import Mapping

from tipsd.model.eval.oks_ap import oks_ap
from tipsd.model.eval.posetrack_json import Frame, parse_video
from tipsd.model.eval.poseval_map import collect_candidates, joint_ap, summarize

ParsedVideos = dict[str, dict[int, Frame]]


def pair_frames(gt: ParsedVideos, pred: ParsedVideos) -> list[tuple[Frame, Frame | None]]:
    """``(gt_frame, pred_frame or None)`` for every GT frame, videos in sorted-name order.

    Predictions on image ids that are not GT frames of the same video are ignored.
    """
    pairs = []
    for name in sorted(gt):
        pred_frames = pred.get(name, {})
        for image_id, frame in gt[name].items():
            pairs.append((frame, pred_frames.get(image_id)))
    return pairs


def evaluate_parsed(gt: ParsedVideos, pred: ParsedVideos) -> dict:
    """`evaluate` on videos already parsed by `parse_video` (the CLI parses files itself so that
    errors name the file)."""
    pairs = pair_frames(gt, pred)
    result = summarize(joint_ap(collect_candidates(pairs)))
    result["oks_ap"] = oks_ap(pairs)
    return result


def evaluate(gt_videos: Mapping[str, dict], pred_videos: Mapping[str, dict]) -> dict:
    """Score predictions with the PoseTrack mAP (as poseval computes it) and COCO OKS AP.

    Args:
        gt_videos: ``{video_name: PoseTrack18 dict}`` ground truth (``images`` + ``annotations``
            with ``keypoints`` and ``bbox_head``).
        pred_videos: ``{video_name: PoseTrack18 dict}`` predictions; each annotation has
            ``image_id`` (a GT image id), ``keypoints`` (17 × x, y, score), ``scores`` (17 per-joint
            scores) and optionally ``score`` (the person's, used by OKS AP only).

    Returns:
        ``{"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total": float,
        "joints": {joint_name: float}, "oks_ap": float}``, all in percent. A joint with
        predictions but no labelled GT joint is NaN (and left out of Total, as in poseval).

    Raises:
        DataError: a malformed video dict (names the video, the field and the value).

    Example:
        >>> gt = {"v": {"images": [{"id": 1}], "annotations": [{"image_id": 1, "bbox_head":
        ...       [0, 0, 10, 10], "keypoints": [5.0, 5.0, 1] * 17}]}}
        >>> pred = {"v": {"annotations": [{"image_id": 1, "keypoints": [5.0, 5.0, 1] * 17,
        ...         "scores": [1.0] * 17}]}}
        >>> evaluate(gt, pred)["Total"]
        100.0
    """
    gt = {name: parse_video(v, f"video {name!r} (ground truth)", is_gt=True) for name, v in gt_videos.items()}
    pred = {
        name: parse_video(v, f"video {name!r} (predictions)", is_gt=False)
        for name, v in pred_videos.items() if name in gt_videos
    }
    return evaluate_parsed(gt, pred)


__all__ = ["evaluate", "evaluate_parsed", "pair_frames"]
