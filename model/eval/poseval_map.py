"""PoseTrack multi-person mAP, reproducing the official poseval tool (py/eval_helpers.py,
py/evaluateAP.py of leonid-pishchulin/poseval, read while writing this; no code copied).

What poseval does, and what this module does the same way:

- Frames: a GT frame is evaluated iff it has at least one person annotation (``cleanupData`` drops
  frames with an empty ``annorect`` together with their predictions). So predictions on a frame
  without GT people (unlabelled, or labelled-but-empty) never count.
- Joints: 15 — the 17 PoseTrack18 slots minus the ears. A GT joint is labelled and a predicted
  joint present unless its triplet is exactly (0, 0, 0) (poseval's PoseTrack18 → 17 converter).
- Ignore regions (``removeIgnoredPoints``): on a frame with ignore regions, every GT and predicted
  joint strictly inside a polygon is removed, then every person (GT or predicted) left without
  joints is removed. This happens after the frame selection above, so a frame whose GT people all
  lie in ignore regions stays evaluated and its remaining predictions are false positives.
- Distance: ``|pred − gt| / head_size`` with head_size = 0.6 × diagonal of the GT ``bbox_head``;
  a joint matches when that is ≤ 0.5 (PCKh@0.5); a distance is ∞ unless both joints exist.
- Matching (``assignGTmulti``): pck[p, g] = #matched joints / #labelled joints of GT g. Each
  prediction keeps only its best GT (first on ties); then each GT takes the prediction with the
  highest remaining pck (first on ties), none if that is 0. Scores play no part in the matching.
  A matched prediction's joints are TP where they match their GT's joint, else FP — including
  predicted joints whose GT joint is unlabelled; an unmatched prediction's joints are all FP.
- Per-joint AP (``computeRPC`` + ``VOCap``): all candidate joints of the split, in frame order then
  prediction order, sorted by ``argsort(score)[::-1]``; recall = cumTP / #labelled GT joints,
  precision = cumTP / rank; AP = Σ Δrecall × (precision made monotone from the right), with
  sentinels (0, 0) and (1, 0); in percent. A joint with no candidates has AP 0; a joint with
  candidates but no GT has AP NaN (0/0 recall), which poseval then leaves out of Total.
- Columns (``getCum``): Head = mean(head_top, head_bottom, nose) and the pair means for Shoulder …
  Ankle (plain means: a NaN joint makes its group NaN); Total = mean of the non-NaN joint APs.
- A predicted joint without a score gets MIN_SCORE (−9999); only non-empty ``scores`` lists count.

Verified: on 200 random splits (3 videos × 6 frames, 0-3 GT people per frame, unlabelled joints,
ignore regions on 30% of frames, frames without GT, false positives, scores rounded to 0.1 so that
ties occur, Total 9-38%) the 15 per-joint APs equal, to the last bit, those of a scratch, loop-by-
loop transliteration of poseval's cleanupData / removeIgnoredPoints / assignGTmulti / computeRPC /
VOCap fed the same frames (kept out of the repository; its ignore-region test was ours, so that
test alone is checked only by the unit tests).

Input (read upstream, `tipsd.model.eval.posetrack_json`): either release layout, joints mapped by
the names in ``categories[0].keypoints`` and 2017 joint ids mapped as poseval's converter maps them
(`tipsd.model.posetrack18`, `tipsd.model.posetrack17`).

Deviations (deliberate, none changes a score on well-formed input):
- Prediction frames are paired with GT frames by ``image_id`` where every predicted id is a GT frame
  of the video, else by position in the file as poseval (`tipsd.model.eval.evaluate.pair_video`).
  The two agree where both files list the same frames in the same order; where a prediction file
  lists them in another order, or only some of them, tipsd pairs them right and poseval would
  mispair or refuse. Files that can be paired neither way are refused, never scored as 0.
- Videos are concatenated in sorted-name order (poseval: ``glob`` order). This can only matter
  for exactly tied scores of one joint, whose relative order decides the interpolated curve.
- Ignore-region containment is an even-odd test written here (poseval uses shapely); they agree
  for simple polygons. Regions with < 3 vertices (shapely would raise) contain nothing.
- A GT person with labelled joints but no ``bbox_head`` is a `DataError` (poseval: KeyError);
  one without labelled joints needs no head box.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tipsd.model.eval.posetrack_json import Frame, People, drop_ignored, empty_people
from tipsd.model.posetrack18 import EVAL_JOINT_NAMES, EVAL_SLOTS, GROUPS

PCKH_THRESHOLD = 0.5  # poseval's distThresh, in head sizes


@dataclass
class Candidates:
    """Per-joint detections of a whole split, ready for AP (N candidate people, J = 15 joints).

    Attributes:
        score: float64 (N, J); label: bool (N, J) true positive; has: bool (N, J) joint predicted.
        n_gt: int64 (J,) labelled GT joints.
    """

    score: np.ndarray
    label: np.ndarray
    has: np.ndarray
    n_gt: np.ndarray


def match_frame(gt: People, pred: People) -> tuple[np.ndarray, np.ndarray]:
    """Assign the predictions of one frame to its GT people, poseval's way.

    Args:
        gt: the frame's GT people (G), after ignore-region filtering.
        pred: the frame's predicted people (P), after ignore-region filtering.

    Returns:
        ``(labels, pred_to_gt)``: labels bool (P, 15), True where a predicted joint is a true
        positive; pred_to_gt int (P,), the matched GT index or -1.

    Example:
        ``labels, assign = match_frame(gt, pred)``: ``assign[p]`` is the GT row prediction p
        was given (perfect predictions of two people give ``[0, 1]``).
    """
    n_pred, n_gt = len(pred), len(gt)
    pred_to_gt = np.full(n_pred, -1)
    if n_pred == 0 or n_gt == 0:
        return np.zeros((n_pred, len(EVAL_SLOTS)), bool), pred_to_gt
    slots = list(EVAL_SLOTS)
    has_gt = gt.present[:, slots]  # (G, J)
    has_pr = pred.present[:, slots]  # (P, J)
    diff = pred.kpts[:, None, slots, :2] - gt.kpts[None, :, slots, :2]  # (P, G, J, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.linalg.norm(diff, axis=-1) / gt.head_size[None, :, None]  # (P, G, J)
    dist = np.where(has_pr[:, None, :] & has_gt[None, :, :], dist, np.inf)
    match = dist <= PCKH_THRESHOLD  # NaN (0/0 head size) compares False, as in poseval
    n_labelled = has_gt.sum(axis=1)  # (G,)
    pck = match.sum(axis=2).astype(float)  # (P, G)
    pck = np.where(n_labelled[None] > 0, pck / np.maximum(n_labelled[None], 1), pck)
    # Keep, for each prediction, only its best GT; then each GT takes its best remaining prediction.
    best_gt = np.argmax(pck, axis=1)  # (P,)
    pck = np.where(np.arange(n_gt)[None] == best_gt[:, None], pck, 0.0)
    gt_to_pred = np.argmax(pck, axis=0)  # (G,)
    taken = pck.max(axis=0) > 0
    pred_to_gt[gt_to_pred[taken]] = np.nonzero(taken)[0]
    labels = np.zeros((n_pred, len(slots)), bool)
    matched = pred_to_gt >= 0
    labels[matched] = match[np.nonzero(matched)[0], pred_to_gt[matched]]
    return labels & has_pr, pred_to_gt


def collect_candidates(pairs: list[tuple[Frame, Frame | None]]) -> Candidates:
    """Score, label and count every joint of the evaluated frames.

    Args:
        pairs: ``(gt_frame, pred_frame or None)`` for every GT frame of the split, in order. Frames
            without GT people are skipped here (poseval's frame selection).

    Returns:
        The concatenated `Candidates`.
    """
    slots = list(EVAL_SLOTS)
    scores, labels, hases = [], [], []
    n_gt = np.zeros(len(slots), np.int64)
    for gt_frame, pred_frame in pairs:
        if len(gt_frame.people) == 0:
            continue
        gt = drop_ignored(gt_frame.people, gt_frame.ignore_regions)
        pred = pred_frame.people if pred_frame is not None else empty_people()
        pred = drop_ignored(pred, gt_frame.ignore_regions)
        label, _ = match_frame(gt, pred)
        scores.append(pred.joint_score[:, slots])
        labels.append(label)
        hases.append(pred.present[:, slots])
        n_gt += gt.present[:, slots].sum(axis=0)
    if not scores:
        shape = (0, len(slots))
        return Candidates(np.zeros(shape), np.zeros(shape, bool), np.zeros(shape, bool), n_gt)
    return Candidates(np.concatenate(scores), np.concatenate(labels), np.concatenate(hases), n_gt)


def precision_recall(scores: np.ndarray, labels: np.ndarray, n_positive: int) -> tuple[np.ndarray, np.ndarray]:
    """poseval's ``computeRPC``: precision and recall after each candidate, best score first.

    Args:
        scores: float (N,); labels: bool (N,) true positive; n_positive: number of GT joints.

    Returns:
        ``(precision, recall)``, float (N,) each; recall is NaN when ``n_positive`` is 0 and there
        are candidates (poseval divides by zero there).

    Example:
        >>> p, r = precision_recall(np.array([0.9, 0.8]), np.array([True, False]), 2)
        >>> p.tolist(), r.tolist()
        ([1.0, 0.5], [0.5, 0.5])
    """
    order = np.argsort(scores)[::-1]  # poseval's exact sort call, so ties break the same way
    tp = np.cumsum(labels[order].astype(np.int64))
    precision = tp / np.arange(1, len(tp) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / float(n_positive) if n_positive else np.where(tp > 0, np.inf, np.nan)
    return precision, recall


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """poseval's ``VOCap``: area under the precision-recall curve made monotone (fraction 0..1).

    Sentinels (recall 0, precision 0) in front and (1, 0) behind; precision at each point becomes
    the maximum precision at any later point; AP sums Δrecall × precision where recall changes.

    Example:
        >>> voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))  # 0.5*1 + 0.5*(2/3)
        0.8333333333333333
    """
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]))


def joint_ap(cand: Candidates) -> np.ndarray:
    """Per-joint AP in percent, float (15,), NaN where a joint has candidates but no GT."""
    aps = np.zeros(cand.score.shape[1])
    for j in range(cand.score.shape[1]):  # 15 iterations; the work inside is vectorised
        has = cand.has[:, j]
        if not has.any():
            continue  # poseval leaves AP at 0 when a joint has no candidates
        with np.errstate(invalid="ignore"):
            p, r = precision_recall(cand.score[has, j], cand.label[has, j], int(cand.n_gt[j]))
            aps[j] = voc_ap(r, p) * 100.0
    return aps


def summarize(aps: np.ndarray) -> dict:
    """poseval's table from per-joint APs: Head … Ankle (group means), Total, and ``joints``.

    Example:
        >>> summarize(np.full(15, 50.0))["Total"]
        50.0
    """
    joints = dict(zip(EVAL_JOINT_NAMES, (float(a) for a in aps)))
    out: dict = {name: float(np.mean([joints[j] for j in members])) for name, members in GROUPS.items()}
    finite = aps[~np.isnan(aps)]
    with warnings.catch_warnings():  # every joint NaN → Total NaN, without a RuntimeWarning
        warnings.simplefilter("ignore", RuntimeWarning)
        out["Total"] = float(finite.mean()) if finite.size else float("nan")
    out["joints"] = joints
    return out


__all__ = [
    "Candidates", "PCKH_THRESHOLD", "collect_candidates", "joint_ap", "match_frame",
    "precision_recall", "summarize", "voc_ap",
]
