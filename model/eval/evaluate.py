"""`evaluate`: PoseTrack mAP (poseval's) and COCO OKS AP of predictions against ground truth.

Both inputs are video dicts (PoseTrack18 or 2017 layout) keyed by video name; a GT video without a
prediction entry counts as "no predictions"; prediction videos without GT are ignored (poseval reads
predictions only for its GT files).

Pairing the frames of a prediction file with the ground truth's (`pair_video`): poseval
(py/eval_helpers.py ``load_data_dir``) pairs them by position in the file and refuses a prediction
file with another number of frames. tipsd pairs by ``image_id`` where both files have real ids
(PoseTrack18) and every predicted image id is a GT frame of that video — the same pairing wherever
the files list the same frames in the same order, and still right when a file lists them in another
order or lists only some; otherwise by position, as poseval, when the prediction file lists as many
frames as the ground truth (a tool that renumbered the image ids, a 2017-layout file, which has no
ids); otherwise it refuses, naming the file and the ids it could not pair. A prediction file that
lists frames in another order than the ground truth, with only some ids in common, is refused too
(poseval would pair mismatched frames). Nothing is dropped silently.
"""
from __future__ import annotations

from typing import Mapping

from tipsd.model.errors import DataError
from tipsd.model.eval.oks_ap import oks_ap
from tipsd.model.eval.posetrack_json import Frame, Video, parse_video
from tipsd.model.eval.poseval_map import collect_candidates, joint_ap, summarize

ParsedVideos = dict[str, Video]
Pairs = list[tuple[Frame, "Frame | None"]]


def _ids(ids: list[int], most: int = 4) -> str:
    shown = ", ".join(str(i) for i in ids[:most])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > most else "")


def _image_ids_are(ids: list[int]) -> str:
    """``"image id 1 is"`` / ``"image ids 1, 2 are"``."""
    return f"image id {ids[0]} is" if len(ids) == 1 else f"image ids {_ids(ids)} are"


def pair_video(gt: Video, pred: Video | None) -> tuple[Pairs, str]:
    """Pair each GT frame of one video with its prediction frame (see the module docstring).

    Returns:
        ``(pairs, how)``: ``(gt_frame, pred_frame or None)`` for every GT frame in file order, and
        ``"image_id"``, ``"position"`` or ``"none"`` (no prediction file).

    Raises:
        DataError: the frames cannot be paired; names the prediction file and the unmatched ids.
    """
    if pred is None:
        return [(frame, None) for frame in gt.frames.values()], "none"
    real_ids = not gt.ids_from_positions and not pred.ids_from_positions
    foreign = [i for i in pred.frames if i not in gt.frames]
    if real_ids and not foreign:
        return [(frame, pred.frames.get(i)) for i, frame in gt.frames.items()], "image_id"
    if pred.lists_frames and len(pred.frames) == len(gt.frames):
        gt_position = {image_id: k for k, image_id in enumerate(gt.frames)}
        for k, image_id in enumerate(pred.frames):
            if real_ids and gt_position.get(image_id, k) != k:
                raise DataError(
                    f"{pred.source}: frame {k} is image {image_id}, frame {gt_position[image_id]} of the ground "
                    f"truth {gt.source}, and {_image_ids_are(foreign)} not the ground truth's: the frames "
                    "can be paired neither by id nor by position (poseval pairs by position)")
        return list(zip(gt.frames.values(), pred.frames.values())), "position"
    why = (f"the predictions list {len(pred.frames)} frames and the ground truth {gt.source} {len(gt.frames)}"
           if pred.lists_frames else "the predictions list no frames ('images') to pair by position")
    if real_ids:
        raise DataError(f"{pred.source}: {_image_ids_are(foreign)} not among the frames of the ground truth "
                        f"(its ids: {_ids(list(gt.frames))}), and {why}; poseval pairs frames by position "
                        "and needs the same number")
    which = "this 2017-layout file" if pred.ids_from_positions else f"the ground truth {gt.source} (2017 layout)"
    raise DataError(f"{pred.source}: {which} has no image ids, so frames are paired by position (as poseval pairs "
                    f"them), and {why}")


def pair_frames(gt: ParsedVideos, pred: ParsedVideos, notes: list[str] | None = None) -> Pairs:
    """``(gt_frame, pred_frame or None)`` for every GT frame, videos in sorted-name order
    (`pair_video` for each).

    Args:
        gt, pred: parsed videos by name.
        notes: if given, gets one line per video whose PoseTrack18 image ids differ from the
            ground truth's and were paired by position.
    """
    pairs: Pairs = []
    for name in sorted(gt):
        video_pairs, how = pair_video(gt[name], pred.get(name))
        pairs += video_pairs
        if notes is not None and how == "position" and not (gt[name].ids_from_positions
                                                           or pred[name].ids_from_positions):
            theirs = [i for i in pred[name].frames if i not in gt[name].frames]
            notes.append(f"{pred[name].source}: {_image_ids_are(theirs)} not the ground truth's; "
                         "frames paired by their position in the file, as poseval pairs them")
    return pairs


def evaluate_parsed(gt: ParsedVideos, pred: ParsedVideos, notes: list[str] | None = None) -> dict:
    """`evaluate` on videos already parsed by `parse_video` (the CLI parses files itself so that
    errors name the file); `notes` as in `pair_frames`."""
    pairs = pair_frames(gt, pred, notes)
    result = summarize(joint_ap(collect_candidates(pairs)))
    result["oks_ap"] = oks_ap(pairs)
    return result


def evaluate(gt_videos: Mapping[str, dict], pred_videos: Mapping[str, dict]) -> dict:
    """Score predictions with the PoseTrack mAP (as poseval computes it) and COCO OKS AP.

    Args:
        gt_videos: ``{video_name: PoseTrack18 dict}`` ground truth (``images`` + ``annotations``
            with ``keypoints`` and ``bbox_head``), or 2017-layout dicts (``annolist``).
        pred_videos: ``{video_name: PoseTrack18 dict}`` predictions; each annotation has
            ``image_id`` (a GT image id, or one of the file's own ``images`` paired by position),
            ``keypoints`` (17 × x, y, score), ``scores`` (17 per-joint scores) and optionally
            ``score`` (the person's, used by OKS AP only); or 2017-layout dicts.

    Returns:
        ``{"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total": float,
        "joints": {joint_name: float}, "oks_ap": float}``, all in percent. A joint with
        predictions but no labelled GT joint is NaN (and left out of Total, as in poseval).

    Raises:
        DataError: a malformed video dict (names the video, the field and the value), or frames
            that cannot be paired (`pair_video`).

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


__all__ = ["evaluate", "evaluate_parsed", "pair_frames", "pair_video"]
