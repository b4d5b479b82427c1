"""Time `tipsd.model.eval.evaluate` (mAP + OKS AP) on synthetic noisy predictions.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_eval.py --videos 10 --frames 25 --people 2
(10 × 25 × 2 = 500 GT people, the per-epoch validation size of the `quick` preset).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from tipsd.model.eval import evaluate
from tipsd.model.eval.evaluate import evaluate_parsed, pair_frames
from tipsd.model.eval.poseval_map import collect_candidates, joint_ap
from tipsd.model.eval.posetrack_json import parse_video


def make_videos(n_videos: int, n_frames: int, n_people: int, seed: int = 0):
    """GT and predictions (noise ~ 5 px, one extra false positive per frame)."""
    rng = np.random.default_rng(seed)
    gt, pred = {}, {}
    for v in range(n_videos):
        g_anns, p_anns = [], []
        for f in range(n_frames):
            for p in range(n_people + 1):
                kp = np.zeros((17, 3))
                kp[:, 0] = 100 + 150 * p + rng.uniform(0, 80, 17)
                kp[:, 1] = 60 + rng.uniform(0, 150, 17)
                kp[:, 2] = 1
                kp[[3, 4]] = 0
                if p < n_people:
                    g_anns.append({"image_id": f, "keypoints": kp.ravel().tolist(),
                                   "bbox_head": [0, 0, 20, 20], "bbox": [100 + 150 * p, 60, 80, 150]})
                pr = kp.copy()
                pr[:, :2] += rng.normal(0, 5, (17, 2))
                js = rng.uniform(0, 1, 17)
                pr[:, 2] = js
                p_anns.append({"image_id": f, "keypoints": pr.ravel().tolist(), "scores": js.tolist(),
                               "score": float(js.mean())})
        images = [{"id": f} for f in range(n_frames)]
        gt[f"v{v:03d}"] = {"images": images, "annotations": g_anns}
        pred[f"v{v:03d}"] = {"images": images, "annotations": p_anns}
    return gt, pred


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=10)
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--people", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    gt, pred = make_videos(args.videos, args.frames, args.people)
    gtp = {n: parse_video(v, n, is_gt=True) for n, v in gt.items()}
    prp = {n: parse_video(v, n, is_gt=False) for n, v in pred.items()}
    pairs = pair_frames(gtp, prp)
    n_people = args.videos * args.frames * args.people
    res = evaluate(gt, pred)
    print(f"{n_people} GT people, {args.videos * args.frames} frames: Total {res['Total']:.2f}, "
          f"OKS AP {res['oks_ap']:.2f}")
    print(f"evaluate (parse + mAP + OKS AP): {best_of(lambda: evaluate(gt, pred), args.repeats) * 1e3:.1f} ms")
    print(f"  parse only:                    {best_of(lambda: [parse_video(v, n, is_gt=True) for n, v in gt.items()] + [parse_video(v, n, is_gt=False) for n, v in pred.items()], args.repeats) * 1e3:.1f} ms")
    print(f"  mAP only (parsed):             {best_of(lambda: joint_ap(collect_candidates(pairs)), args.repeats) * 1e3:.1f} ms")
    print(f"  mAP + OKS AP (parsed):         {best_of(lambda: evaluate_parsed(gtp, prp), args.repeats) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
