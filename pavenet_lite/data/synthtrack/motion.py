"""SynthTrack motions: walking, running, waving, turning and crouching, on smooth ground trajectories that cross.

A `Track` is one person over a whole video: body, motion kind and a ground trajectory (x in world pixels, depth s in
[0, 1], 0 = far, 1 = near). `Track.ground(t)` and `Track.angles(t)` give the ground point and the joint angles at
frame t, smooth in t. Walkers and runners may start outside the view and walk in, or walk out; their body faces the
direction they move, so left and right swap in the image with the walking direction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from pavenet_lite.data.synthtrack.skeleton import Angles, Body, sample_body

MOTIONS: tuple[str, ...] = ("walk", "run", "wave", "turn", "crouch")
_MOTION_P = (0.4, 0.15, 0.15, 0.15, 0.15)
_SPEED = {"walk": 0.032, "run": 0.075}   # ground speed, body heights per frame
_DEPTH_UNITS = 6.0                        # body heights per unit of depth s (sets the yaw of diagonal walkers)


@dataclass
class Track:
    """One person in one video. Positions in world pixels, depth s in [0, 1].

    `size` scales the scene's height-at-depth curve for this person; `height0` is the height in world px at s0.
    """

    track_id: int
    body: Body
    kind: str
    phase: float      # gait phase at t = 0, radians
    omega: float      # gait frequency, radians per frame
    x0: float
    s0: float
    vx: float         # world px per frame
    vs: float         # depth units per frame
    wobble: float     # amplitude (world px) of a slow sideways sine on the path
    wobble_omega: float
    yaw0: float
    arm: int          # waving arm: 0 left, 1 right
    size: float
    height0: float

    def ground(self, t: float) -> tuple[float, float]:
        """(x, s) of the point between the feet at frame t."""
        x = self.x0 + self.vx * t + self.wobble * np.sin(self.wobble_omega * t + self.phase)
        s = float(np.clip(self.s0 + self.vs * t, 0.0, 1.0))
        return float(x), s

    def _yaw(self, t: float) -> float:
        if self.kind in ("walk", "run"):
            dx = (self.vx + self.wobble * self.wobble_omega * np.cos(self.wobble_omega * t + self.phase))
            dz = self.vs * _DEPTH_UNITS * self.height0  # +s = towards the camera = +z
            return float(np.arctan2(dx, dz))
        if self.kind == "turn":
            return self.yaw0 + 1.9 * np.sin(0.09 * t + self.phase)
        return self.yaw0

    def angles(self, t: float) -> Angles:
        """Joint angles at frame t (see `Angles`)."""
        p = self.phase + self.omega * t
        sin = np.sin(p)
        yaw = self._yaw(t)
        if self.kind in ("walk", "run"):
            run = self.kind == "run"
            amp = 0.65 if run else 0.4
            swing = (amp * sin, -amp * sin)
            # The knee bends while the leg swings forwards (and more when running).
            bend = 1.3 if run else 0.7
            knee = (bend * max(0.0, np.cos(p)) + 0.1, bend * max(0.0, -np.cos(p)) + 0.1)
            arm_amp = 0.75 if run else 0.35
            return Angles(hip=swing, knee=knee, shoulder=(-arm_amp * sin, arm_amp * sin),
                          elbow=(1.4, 1.4) if run else (0.3, 0.3), lean=0.22 if run else 0.05, yaw=yaw)
        if self.kind == "wave":
            abd = [0.15, 0.15]
            fore = [0.0, 0.0]
            abd[self.arm] = 1.9
            fore[self.arm] = 0.75 + 0.45 * sin
            return Angles(shoulder_abd=(abd[0], abd[1]), forearm_abd=(fore[0], fore[1]), elbow=(0.1, 0.1),
                          yaw=yaw)
        if self.kind == "crouch":
            depth = 0.5 - 0.5 * np.cos(p)  # 0 standing .. 1 deepest squat
            return Angles(hip=(1.1 * depth, 1.1 * depth), knee=(2.0 * depth, 2.0 * depth),
                          shoulder=(0.9 * depth, 0.9 * depth), elbow=(0.3, 0.3), lean=0.45 * depth, yaw=yaw)
        arms = 0.15 * sin
        return Angles(shoulder=(arms, -arms), yaw=yaw)  # "turn": standing, turning back and forth


def sample_track(rng: np.random.Generator, track_id: int, view_x: tuple[float, float],
                 height_at: Callable[[float], float], kinds: tuple[str, ...] = MOTIONS,
                 enter_p: float = 0.35) -> Track:
    """A random person whose path lies around the visible world interval `view_x` = (x_min, x_max).

    `height_at(s)` gives the body height in world px at depth s. Walkers other than track 0 start just outside the
    view with probability `enter_p` (so they walk in); everybody else starts inside.
    """
    p = np.array([_MOTION_P[MOTIONS.index(k)] for k in kinds])
    kind = str(rng.choice(kinds, p=p / p.sum()))
    phase = float(rng.uniform(0, 2 * np.pi))
    body = sample_body(rng)
    s0 = float(rng.uniform(0.0, 1.0))
    size = float(rng.uniform(0.88, 1.12))
    h0 = float(height_at(s0) * size)
    width = view_x[1] - view_x[0]
    x0 = float(rng.uniform(view_x[0] + 0.08 * width, view_x[1] - 0.08 * width))
    vx = vs = wobble = 0.0
    omega = 0.0
    if kind in ("walk", "run"):
        direction = float(rng.choice([-1.0, 1.0]))
        vx = direction * _SPEED[kind] * h0 * rng.uniform(0.8, 1.2)
        vs = float(rng.uniform(-0.012, 0.012))
        wobble = float(rng.uniform(0.0, 0.3)) * h0  # slow enough never to reverse the walking direction
        if track_id > 0 and rng.random() < enter_p:  # track 0 starts in view, so no video is empty
            edge = view_x[0] if direction > 0 else view_x[1]
            x0 = edge - direction * 0.1 * h0 - wobble * np.sin(phase)  # ground(0) just outside the view
        # A stride is about 0.8 body heights per gait cycle, so the feet do not slide.
        omega = 2 * np.pi * abs(vx) / (0.8 * h0)
    elif kind == "crouch":
        omega = float(rng.uniform(0.12, 0.22))
    else:
        omega = float(rng.uniform(0.25, 0.45))
        vx = float(rng.uniform(-0.004, 0.004)) * h0
    return Track(track_id=track_id, body=body, kind=kind, phase=phase, omega=omega,
                 x0=x0, s0=s0, vx=vx, vs=vs, wobble=wobble, wobble_omega=float(rng.uniform(0.02, 0.06)),
                 yaw0=float(rng.uniform(-np.pi, np.pi)) if kind != "wave" else float(rng.uniform(-0.7, 0.7)),
                 arm=int(rng.integers(2)), size=size, height0=h0)
