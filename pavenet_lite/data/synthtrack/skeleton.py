"""A 17-keypoint kinematic body for SynthTrack: proportions, joint angles, 3-D joints and their projection.

Joints are computed in 3-D so that turning, foreshortening and depth order come out right without special cases:
body axes x = the person's left, y = up, z = the person's forward; a yaw rotation about y turns the body, and the
image is an orthographic view along world z (positive z points at the camera, so a larger z is nearer). Lengths are
in units of the standing body height (1.0), scaled to pixels by `project`. The keypoint order is PT18 order
(`pavenet_lite.joints.PT18_NAMES`); the ears are computed (for completeness) but never annotated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# PT18 indices used below (see pavenet_lite.joints.PT18_NAMES).
NOSE, HEAD_BOTTOM, HEAD_TOP, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16


@dataclass(frozen=True)
class Body:
    """Segment lengths and limb radii of one person, in units of the standing height."""

    head: float        # head_bottom (chin/neck) to head_top
    neck: float        # shoulder line to head_bottom
    torso: float       # hip line to shoulder line
    thigh: float
    shin: float
    ankle: float       # ankle height above the ground
    upper_arm: float
    forearm: float
    shoulder_half: float
    hip_half: float
    r_upper_arm: float
    r_forearm: float
    r_thigh: float
    r_shin: float
    head_aspect: float  # head width / head height


def sample_body(rng: np.random.Generator) -> Body:
    """Random proportions around an adult average (child-like big heads and broad/narrow builds included)."""
    head = rng.uniform(0.12, 0.16)
    build = rng.uniform(0.8, 1.25)  # thickness and width multiplier
    leg = rng.uniform(0.46, 0.52)
    neck = 0.035
    ankle = 0.04
    torso = 1.0 - head - neck - leg - ankle
    knee_ratio = rng.uniform(0.47, 0.53)
    arm = rng.uniform(0.32, 0.37)
    return Body(
        head=head, neck=neck, torso=torso, thigh=leg * knee_ratio, shin=leg * (1 - knee_ratio), ankle=ankle,
        upper_arm=arm * 0.53, forearm=arm * 0.47,
        shoulder_half=0.105 * build, hip_half=0.075 * build,
        r_upper_arm=0.028 * build, r_forearm=0.022 * build, r_thigh=0.042 * build, r_shin=0.030 * build,
        head_aspect=rng.uniform(0.72, 0.85),
    )


@dataclass
class Angles:
    """Joint angles in radians. Flexion swings a limb forward (+z), abduction raises it sideways, away from the body.

    Each pair is (left, right). `knee` bends the shin backwards, `elbow` bends the forearm forwards; `forearm_abd` is
    extra sideways raise of the forearm (waving); `lean` tilts the upper body forwards; `yaw` turns the whole body.
    """

    hip: tuple[float, float] = (0.0, 0.0)
    knee: tuple[float, float] = (0.0, 0.0)
    shoulder: tuple[float, float] = (0.0, 0.0)
    shoulder_abd: tuple[float, float] = (0.12, 0.12)
    elbow: tuple[float, float] = (0.15, 0.15)
    forearm_abd: tuple[float, float] = (0.0, 0.0)
    leg_abd: tuple[float, float] = (0.03, 0.03)
    lean: float = 0.0
    yaw: float = 0.0


def _direction(flex: float, abd: float, side: float) -> np.ndarray:
    """Unit vector of a limb hanging down, swung forward by `flex` and sideways by `abd` (side +1 left, -1 right)."""
    return np.array([side * np.sin(abd), -np.cos(abd) * np.cos(flex), np.cos(abd) * np.sin(flex)])


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def joints_3d(body: Body, ang: Angles) -> np.ndarray:
    """[17, 3] joints (PT18 order) in body-height units; y = 0 is the ground under the lower ankle.

    Feet stay on the ground whatever the knees do, so crouching lowers the pelvis instead of lifting the feet.
    """
    j = np.zeros((17, 3))
    lean = _rot_x(ang.lean)  # rotation about the pelvis: forward lean of everything above the hips
    for side, (hip, knee, ankle) in ((1.0, (L_HIP, L_KNEE, L_ANKLE)), (-1.0, (R_HIP, R_KNEE, R_ANKLE))):
        i = 0 if side > 0 else 1
        j[hip] = [side * body.hip_half, 0.0, 0.0]
        j[knee] = j[hip] + body.thigh * _direction(ang.hip[i], ang.leg_abd[i], side)
        j[ankle] = j[knee] + body.shin * _direction(ang.hip[i] - ang.knee[i], ang.leg_abd[i], side)
    spine_top = lean @ np.array([0.0, body.torso, 0.0])
    up = lean @ np.array([0.0, 1.0, 0.0])
    fwd = lean @ np.array([0.0, 0.0, 1.0])
    for side, (sh, el, wr) in ((1.0, (L_SHOULDER, L_ELBOW, L_WRIST)), (-1.0, (R_SHOULDER, R_ELBOW, R_WRIST))):
        i = 0 if side > 0 else 1
        j[sh] = spine_top + [side * body.shoulder_half, 0.0, 0.0]
        upper = _direction(ang.shoulder[i], ang.shoulder_abd[i], side)
        fore = _direction(ang.shoulder[i] + ang.elbow[i], ang.shoulder_abd[i] + ang.forearm_abd[i], side)
        j[el] = j[sh] + body.upper_arm * (lean @ upper)
        j[wr] = j[el] + body.forearm * (lean @ fore)
    j[HEAD_BOTTOM] = spine_top + body.neck * up
    j[HEAD_TOP] = j[HEAD_BOTTOM] + body.head * up
    centre = j[HEAD_BOTTOM] + 0.5 * body.head * up
    half_w = 0.5 * body.head * body.head_aspect
    j[NOSE] = centre + 0.9 * half_w * fwd - 0.12 * body.head * up
    j[L_EAR] = centre + [half_w, 0.0, 0.0]
    j[R_EAR] = centre - [half_w, 0.0, 0.0]
    j[:, 1] -= min(j[L_ANKLE, 1], j[R_ANKLE, 1]) - body.ankle
    return j @ _rot_y(ang.yaw).T  # [17, 3]: rotate every joint about the vertical axis


def head_geometry(body: Body, ang: Angles, j3d: np.ndarray) -> dict[str, np.ndarray]:
    """3-D points that draw the head: centre, the facing direction and up vector (all after yaw and lean)."""
    centre = 0.5 * (j3d[HEAD_BOTTOM] + j3d[HEAD_TOP])
    up = j3d[HEAD_TOP] - j3d[HEAD_BOTTOM]
    up = up / np.linalg.norm(up)
    fwd = _rot_y(ang.yaw) @ _rot_x(ang.lean) @ np.array([0.0, 0.0, 1.0])
    left = _rot_y(ang.yaw) @ np.array([1.0, 0.0, 0.0])
    return {"centre": centre, "up": up, "fwd": fwd, "left": left}


def project(points: np.ndarray, ground_xy: tuple[float, float], height_px: float) -> np.ndarray:
    """[..., 3] body points -> [..., 2] pixel (u, v) of an orthographic view; `ground_xy` is the foot point."""
    u = ground_xy[0] + points[..., 0] * height_px
    v = ground_xy[1] - points[..., 1] * height_px
    return np.stack([u, v], axis=-1)
