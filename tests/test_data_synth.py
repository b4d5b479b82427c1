"""Synthetic generator: determinism, validity, caching via resolve_dataset, temporal predictability."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tipsd.model.data import dataset_stats, generate_dataset, resolve_dataset
from tipsd.model.data import resolve as resolve_mod
from tipsd.model.data import synth as synth_mod
from tipsd.model.data.posetrack import keypoint_array, load_split
from tipsd.model.data.synth_motion import MOTIONS, Person, pose, random_person
from tipsd.model.errors import DataError


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = _files(generate_dataset(tmp_path / "a", "tiny", seed=3))
    b = _files(generate_dataset(tmp_path / "b", "tiny", seed=3))
    assert a.keys() == b.keys() and a == b
    c = _files(generate_dataset(tmp_path / "c", "tiny", seed=4))
    assert c.keys() == a.keys()
    assert sum(a[k] != c[k] for k in a if k.endswith(".jpg")) > 0.9 * sum(k.endswith(".jpg") for k in a)


def test_tiny_is_valid_posetrack18(tmp_path):
    spec = synth_mod.SYNTH_PRESETS["tiny"]
    root = generate_dataset(tmp_path / "t", "tiny", seed=0)
    stats = dataset_stats(root)
    assert stats["train"]["videos"] == spec.train_videos and stats["val"]["videos"] == spec.val_videos
    assert stats["train"]["frames"] == spec.train_videos * spec.frames
    assert stats["val"]["labelled_frames"] == spec.val_videos * spec.frames // spec.val_label_every
    assert stats["train"]["joints"]["left_ear"] == 0 and stats["train"]["joints"]["right_ear"] == 0
    assert stats["train"]["people"] >= spec.train_videos * spec.frames  # 1-3 people per frame
    for split in ("train", "val"):
        for video in load_split(root, split):
            for ann in video["annotations"]:
                x, y, w, h = ann["bbox_head"]
                assert w > 0 and h > 0
                assert keypoint_array(ann)[:, 2].sum() > 0
    manifest = json.loads((root / "tipsd_synth.json").read_text())
    assert manifest["preset"] == "tiny" and manifest["version"] == synth_mod.GENERATOR_VERSION


def test_motion_is_smooth_enough_to_interpolate():
    """The pose at t is close to the mean of t-1 and t+1 (what interim pose synthesis relies on)."""
    rng = np.random.default_rng(0)
    errors = []
    for k in range(60):
        p = random_person(rng, 100.0, 200.0, 200.0)
        for t in range(1, 30):
            mid = (pose(p, t - 1) + pose(p, t + 1)) / 2
            errors.append(np.linalg.norm(pose(p, t) - mid, axis=1).max())
    # in % of the height (100 px): about 1 typically, a few for fast motion, never a jump
    assert np.median(errors) < 3.0 and np.percentile(errors, 95) < 7.0 and np.max(errors) < 15.0
    # and the limbs do move: the wrists travel several pixels per frame on average
    moves = [np.linalg.norm(pose(p, 1.0)[9] - pose(p, 0.0)[9]) for p in
             (random_person(np.random.default_rng(i), 100.0, 0.0, 0.0) for i in range(40))]
    assert np.mean(moves) > 2.0


def test_every_motion_program_gives_a_plausible_body():
    for motion in MOTIONS:
        p = random_person(np.random.default_rng(1), 100.0, 0.0, 0.0)
        p = Person(**{**p.__dict__, "motion": motion})
        for t in np.linspace(0, 40, 9):
            j = pose(p, t)
            assert j[2, 1] < j[1, 1]  # head top above the chin
            assert 60 < np.ptp(j[:, 1]) < 140 and np.isfinite(j).all()


def test_key_frames_degraded_often_neighbours_often_clean():
    spec = synth_mod.SYNTH_PRESETS["quick"]
    degraded_share, clean_neighbour_share = [], []
    for i in range(10):
        v, _ = synth_mod._plan_video(np.random.default_rng([0, 0, i]), spec)
        bad = v.shake | (v.defocus > 0) | (v.noise > 0)
        degraded_share.append(bad.mean())
        idx = np.flatnonzero(bad[1:-1]) + 1
        clean_neighbour_share.append(np.mean(~bad[idx - 1] | ~bad[idx + 1]))
    assert 0.3 < np.mean(degraded_share) < 0.6
    assert np.mean(clean_neighbour_share) > 0.7


def test_resolve_dataset_generates_once_then_reuses(tmp_path, monkeypatch):
    root = resolve_dataset("synth:tiny", cache_dir=str(tmp_path))
    assert root == tmp_path / "datasets" / f"synth-tiny-v{synth_mod.GENERATOR_VERSION}-seed0"
    assert (root / "tipsd_synth.json").is_file()

    def boom(*a, **k):
        raise AssertionError("generated twice")

    monkeypatch.setattr(synth_mod, "generate_dataset", boom)
    assert resolve_dataset("synth:tiny", cache_dir=str(tmp_path)) == root
    monkeypatch.setenv("TIPSD_CACHE_DIR", str(tmp_path))
    assert resolve_dataset("synth:tiny") == root
    assert [p.name for p in (tmp_path / "datasets").iterdir() if not p.name.endswith(".lock")] == [root.name]


def test_resolve_dataset_errors(tmp_path):
    with pytest.raises(DataError, match=r"unknown synthetic dataset 'synth:huge'; valid: synth:tiny"):
        resolve_dataset("synth:huge", cache_dir=str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        resolve_dataset(str(tmp_path / "nope"))
    assert resolve_mod.cache_root("") != resolve_mod.cache_root(str(tmp_path))


def test_concurrent_resolve_generates_one_complete_copy(tmp_path):
    code = ("import sys; from tipsd.model.data import resolve_dataset; "
            "print(resolve_dataset('synth:tiny:5', cache_dir=sys.argv[1]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] and outs[0].endswith(f"synth-tiny-v{synth_mod.GENERATOR_VERSION}-seed5")
    entries = sorted(p.name for p in (tmp_path / "datasets").iterdir())
    assert entries == [f".synth-tiny-v{synth_mod.GENERATOR_VERSION}-seed5.lock", f"synth-tiny-v{synth_mod.GENERATOR_VERSION}-seed5"]  # no temp folders left
    assert _files(Path(outs[0])) == _files(generate_dataset(tmp_path / "ref", "tiny", seed=5))
