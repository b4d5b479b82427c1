"""Reading a PoseTrack video file in either release layout into one form: the PoseTrack18 dict, with
every person's joints in the standard 17 slots. The loader (`tipsd.model.data.posetrack`), the
evaluation (`tipsd.model.eval.posetrack_json`) and `tipsd data check` read files through here.

- ``"2018"``: ``{"images", "annotations", "categories"}`` (`tipsd.model.posetrack18`); joints are
  re-ordered by the names in ``categories[0].keypoints`` (`tipsd.model.posetrack18.in_standard_order`).
- ``"2017"``: ``{"annolist": [...]}`` (`tipsd.model.posetrack17`), converted with poseval's joint ids.

A file with ``annolist`` is read as 2017, as poseval (py/eval_helpers.py ``load_data_dir``) decides.
Pure Python.
"""
from __future__ import annotations

import os
from typing import Any

from tipsd.model.posetrack17 import from_annolist, is_annolist
from tipsd.model.posetrack18 import in_standard_order, read_video_file

LAYOUTS: tuple[str, ...] = ("2017", "2018")


def detect_layout(doc: Any) -> str:
    """``"2017"`` for a file with ``annolist``, else ``"2018"`` (checked when it is read)."""
    return "2017" if is_annolist(doc) else "2018"


def as_posetrack18(doc: Any, source: str, *, is_gt: bool = True, dataset: bool = False) -> tuple[Any, str]:
    """`doc` in the PoseTrack18 form, standard joint order, and the layout it came in.

    Args:
        doc: a decoded video file of either layout.
        source: names the file in messages.
        is_gt: ground truth or predictions (2017: head boxes vs scores).
        dataset: read for the training loader (2017: ``track_id`` needed, head boxes not).

    Returns:
        ``(video, layout)``; `video` is still to be checked (`tipsd.model.posetrack18.check_video`).
        An unlabelled file (a test split) has no ``annotations`` key, in either layout.

    Example:
        >>> video, layout = as_posetrack18({"annolist": [{"image": [{"name": "f.jpg"}]}]}, "v.json")
        >>> layout, video["images"], "annotations" in video
        ('2017', [{'id': 0, 'file_name': 'f.jpg', 'frame_id': 0}], False)
    """
    if is_annolist(doc):
        return from_annolist(doc, source, is_gt=is_gt, dataset=dataset), "2017"
    return in_standard_order(doc, source), "2018"


def read_video(path: str | os.PathLike, *, is_gt: bool = True, dataset: bool = False) -> tuple[Any, str]:
    """Read one video file of either layout: `as_posetrack18` of its JSON."""
    return as_posetrack18(read_video_file(path), str(path), is_gt=is_gt, dataset=dataset)


__all__ = ["LAYOUTS", "as_posetrack18", "detect_layout", "read_video"]
