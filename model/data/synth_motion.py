"""Articulated 2-D people for the synthetic videos: skeleton geometry and smooth motion programs.

A person is a kinematic tree (pelvis -> torso -> neck/head, shoulders -> elbows -> wrists, hips ->
knees -> ankles) whose joint angles follow smooth periodic programs ("walk", "wave", "jump", "box",
"dance") at one of three speeds. Smooth motion matters: the pose at frame t must be predictable
from frames t - delta and t + delta, which is what the temporal losses of TIPSD exploit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MOTIONS = ("walk", "wave", "jump", "box", "dance")
# Period (frames) of one motion cycle per speed class: fast limbs blur, slow ones barely move.
SPEED_PERIODS = {"slow": (34.0, 48.0), "medium": (18.0, 26.0), "fast": (10.0, 14.0)}

# Segment lengths as fractions of the person's height h (ankle to head top is about 0.95 h).
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.15, 0.23, 0.22
TORSO, NECK, HEAD = 0.30, 0.04, 0.16
SHOULDER_HALF, HIP_HALF = 0.11, 0.075


def _dir(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` radians from straight down, positive towards image right."""
    return np.array([math.sin(angle), math.cos(angle)])


@dataclass
class Person:
    """One synthetic person: static look plus the parameters of its motion program."""

    height: float  # pixels (world = background coordinates)
    x0: float  # pelvis position at frame 0
    y0: float
    vx: float  # drift in pixels per frame
    motion: str
    omega: float  # radians per frame
    phase: float
    lean: float  # constant torso lean (radians)
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]
    dance: np.ndarray = field(default_factory=lambda: np.zeros((8, 4)))  # per-angle (A1, w1, A2, p)


def random_person(rng: np.random.Generator, height: float, x0: float, y0: float) -> Person:
    """Draw a person with a random motion program, speed and clothing.

    Args:
        rng: the video's generator (determinism per seed).
        height: person height in world pixels.
        x0, y0: pelvis position at frame 0.

    Returns:
        A `Person`.
    """
    motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
    speed = ("slow", "medium", "fast")[int(rng.choice(3, p=[0.25, 0.4, 0.35]))]
    period = rng.uniform(*SPEED_PERIODS[speed])
    drift = {"slow": 0.004, "medium": 0.008, "fast": 0.012}[speed] * height
    vx = float(rng.uniform(-1, 1) * drift) if motion != "walk" else float(rng.choice([-1, 1]) * drift * 1.5)
    color = lambda lo, hi: tuple(int(c) for c in rng.integers(lo, hi, 3))  # noqa: E731
    dance = np.stack([rng.uniform(0.3, 0.9, 8), rng.uniform(0.6, 1.4, 8),
                      rng.uniform(0.1, 0.4, 8), rng.uniform(0, 2 * math.pi, 8)], axis=1)
    skin = tuple(int(c) for c in np.array([200, 160, 130]) * rng.uniform(0.5, 1.1))
    return Person(height=height, x0=x0, y0=y0, vx=vx, motion=motion, omega=2 * math.pi / period,
                  phase=float(rng.uniform(0, 2 * math.pi)), lean=float(rng.normal(0, 0.08)),
                  shirt=color(30, 230), pants=color(20, 200), skin=tuple(min(255, c) for c in skin),
                  dance=dance)


def _angles(p: Person, t: float) -> tuple[dict[str, float], float]:
    """Joint angles (radians, from straight down) and the vertical pelvis offset at time ``t``."""
    w = p.omega * t + p.phase
    s, c = math.sin(w), math.cos(w)
    a = dict(lsh=0.25, lel=0.15, rsh=-0.25, rel=-0.15, lhip=0.08, lkn=0.0, rhip=-0.08, rkn=0.0)
    lift = 0.0
    if p.motion == "walk":
        a.update(lhip=0.08 + 0.45 * s, rhip=-0.08 - 0.45 * s, lkn=0.45 * max(0.0, -s),
                 rkn=-0.45 * max(0.0, s), lsh=0.25 - 0.5 * s, rsh=-0.25 - 0.5 * s)
        a["lkn"], a["rkn"] = a["lhip"] - 0.5 * (1 - c) * 0.5, a["rhip"] + 0.5 * (1 + c) * 0.5
        a["lel"], a["rel"] = a["lsh"] + 0.3, a["rsh"] - 0.3
        lift = 0.015 * abs(c)
    elif p.motion == "wave":
        a.update(lsh=2.2 + 0.45 * s, rsh=-0.35 - 0.25 * s)
        a["lel"] = a["lsh"] + 0.7 + 0.6 * c
        a["rel"] = a["rsh"] - 0.4
        a.update(lhip=0.1 + 0.05 * s, rhip=-0.1 + 0.05 * s)
        a["lkn"], a["rkn"] = a["lhip"], a["rhip"]
    elif p.motion == "jump":
        up = 0.5 * (1 - c)  # 0 (crouch) .. 1 (top)
        a.update(lsh=0.3 + 2.2 * up, rsh=-0.3 - 2.2 * up, lhip=0.15 + 0.35 * (1 - up), rhip=-0.15 - 0.35 * (1 - up))
        a["lel"], a["rel"] = a["lsh"] + 0.2, a["rsh"] - 0.2
        a["lkn"], a["rkn"] = a["lhip"] - 0.8 * (1 - up), a["rhip"] + 0.8 * (1 - up)
        lift = 0.12 * up - 0.06 * (1 - up)
    elif p.motion == "box":
        ext_l, ext_r = 0.5 * (1 + s), 0.5 * (1 - s)  # alternate punches
        a.update(lsh=0.9 + 0.9 * ext_l, rsh=-0.9 - 0.9 * ext_r)
        a["lel"] = a["lsh"] - 1.8 * (1 - ext_l)
        a["rel"] = a["rsh"] + 1.8 * (1 - ext_r)
        a.update(lhip=0.2 + 0.1 * s, rhip=-0.2 + 0.1 * s)
        a["lkn"], a["rkn"] = a["lhip"] - 0.2, a["rhip"] + 0.2
    else:  # dance: every angle follows its own two-tone smooth program
        base = [0.6, 0.9, -0.6, -0.9, 0.15, 0.0, -0.15, 0.0]
        scale = [1.3, 1.3, 1.3, 1.3, 0.5, 0.6, 0.5, 0.6]
        for k, name in enumerate(("lsh", "lel", "rsh", "rel", "lhip", "lkn", "rhip", "rkn")):
            a1, w1, a2, ph = p.dance[k]
            a[name] = base[k] + scale[k] * (a1 * math.sin(w1 * w) + a2 * math.sin(2 * w1 * w + ph))
        a["lel"] += a["lsh"] - 0.6
        a["rel"] += a["rsh"] + 0.6
        a["lkn"] += a["lhip"]
        a["rkn"] += a["rhip"]
        lift = 0.03 * math.sin(2 * w)
    return a, lift


def pose(p: Person, t: float) -> np.ndarray:
    """World positions of the 17 PoseTrack18 joints at (fractional) frame ``t``.

    Args:
        p: the person.
        t: time in frames (fractions are used for motion-blur sub-frames).

    Returns:
        float64 ``(17, 2)``; the ear slots (3, 4) hold the head sides (never labelled).

    Example:
        >>> pose(random_person(np.random.default_rng(0), 100.0, 50.0, 60.0), 0.0).shape
        (17, 2)
    """
    h = p.height
    a, lift = _angles(p, t)
    pelvis = np.array([p.x0 + p.vx * t + 0.03 * h * math.sin(0.37 * p.omega * t), p.y0 - lift * h])
    up = np.array([math.sin(p.lean), -math.cos(p.lean)])
    side = np.array([-up[1], up[0]])  # image-right of the torso (the person's left when facing us)
    neck = pelvis + TORSO * h * up
    head_bottom = neck + NECK * h * up
    head_top = head_bottom + HEAD * h * up
    nose = head_bottom + 0.4 * HEAD * h * up
    ears = [nose + 0.06 * h * side, nose - 0.06 * h * side]
    lsh, rsh = neck + SHOULDER_HALF * h * side - 0.02 * h * up, neck - SHOULDER_HALF * h * side - 0.02 * h * up
    lel, rel = lsh + UPPER_ARM * h * _dir(a["lsh"] + p.lean), rsh + UPPER_ARM * h * _dir(a["rsh"] + p.lean)
    lwr, rwr = lel + FOREARM * h * _dir(a["lel"] + p.lean), rel + FOREARM * h * _dir(a["rel"] + p.lean)
    lhip, rhip = pelvis + HIP_HALF * h * side, pelvis - HIP_HALF * h * side
    lkn, rkn = lhip + THIGH * h * _dir(a["lhip"]), rhip + THIGH * h * _dir(a["rhip"])
    lan, ran = lkn + SHIN * h * _dir(a["lkn"]), rkn + SHIN * h * _dir(a["rkn"])
    return np.stack([nose, head_bottom, head_top, ears[0], ears[1], lsh, rsh, lel, rel, lwr, rwr,
                     lhip, rhip, lkn, rkn, lan, ran])


# Limbs drawn as capsules: (joint a, joint b, width as a fraction of height, part, side)
LIMBS = (
    (11, 13, 0.075, "pants", "l"), (13, 15, 0.06, "pants", "l"),
    (12, 14, 0.075, "pants", "r"), (14, 16, 0.06, "pants", "r"),
    (5, 7, 0.055, "shirt", "l"), (7, 9, 0.045, "skin", "l"),
    (6, 8, 0.055, "shirt", "r"), (8, 10, 0.045, "skin", "r"),
)


__all__ = ["LIMBS", "MOTIONS", "Person", "SPEED_PERIODS", "pose", "random_person"]
