"""tipsd.model.eval: PoseTrack mAP exactly as poseval computes it, COCO OKS AP, PoseTrack18 export.

- `evaluate(gt_videos, pred_videos) -> dict`: Head … Ankle, Total, ``joints``, ``oks_ap`` (percent).
- `write_predictions(pred_videos, out_dir, layout="2018")`: one JSON per video, in the PoseTrack18 or
  2017 layout (both read by poseval); `convert_folder(src, out, layout=...)` rewrites a folder.
- `load_video_dir(folder)`: ``{video_name: dict}`` from a folder of per-video JSON files.
- `prediction_video(images, image_ids, keypoints, ...)`: a prediction video dict from arrays.

numpy only at import time; pycocotools is imported when OKS AP is computed.
"""
from tipsd.model.eval.evaluate import evaluate, evaluate_parsed
from tipsd.model.eval.export import convert_folder, load_video_dir, prediction_video, write_predictions
from tipsd.model.eval.oks_ap import POSETRACK18_SIGMAS
from tipsd.model.eval.poseval_map import voc_ap
from tipsd.model.posetrack18 import COLUMNS, EVAL_JOINT_NAMES, GROUPS, KEYPOINT_NAMES

__all__ = [
    "COLUMNS", "EVAL_JOINT_NAMES", "GROUPS", "KEYPOINT_NAMES", "POSETRACK18_SIGMAS", "convert_folder", "evaluate",
    "evaluate_parsed", "load_video_dir", "prediction_video", "voc_ap", "write_predictions",
]
