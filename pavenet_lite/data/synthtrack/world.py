"""One SynthTrack video as a world: background, camera, people and occluders, rendered one frame at a time.

`World.render(t)` draws frame t far to near (people and occluders sorted by depth) and returns, besides the image,
the projected joints of every person and which of them are visible: the label image drawn alongside the colours
says who is on top at each joint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from pavenet_lite.data.synthtrack import scene
from pavenet_lite.data.synthtrack.motion import Track, sample_track
from pavenet_lite.data.synthtrack.render import Canvas, Look, draw_person, person_geometry, sample_look
from pavenet_lite.data.synthtrack.skeleton import Angles, sample_body

if TYPE_CHECKING:  # generate.py imports this module
    from pavenet_lite.data.synthtrack.generate import SynthTrackPreset

_EARS = [3, 4]


@dataclass
class RenderedFrame:
    """Frame t: image (frame size), and per person (n = number of tracks) pixel joints uv [n, 17, 2], inside-frame
    joints [n, 17] (ears excluded), visible joints [n, 17], head boxes [n, 4] and drawn outline boxes [n, 4] (xyxy)."""

    image: Image.Image
    uv: np.ndarray
    inside: np.ndarray
    visible: np.ndarray
    head_boxes: np.ndarray
    outlines: np.ndarray


def _small_figure(rng: np.random.Generator, ss: int) -> Callable[[Canvas, np.ndarray, float], None]:
    """A function drawing a standing unannotated figure (the distant crowd of an ignore region)."""
    def draw(canvas: Canvas, foot: np.ndarray, height: float) -> None:
        body = sample_body(rng)
        ang = Angles(yaw=float(rng.uniform(-np.pi, np.pi)), shoulder=(0.2, -0.2))
        geo = person_geometry(body, ang, (float(foot[0]), float(foot[1])), height)
        draw_person(canvas, geo, body, sample_look(rng, height * ss), height, label=None)
    return draw


class World:
    """The world of one video (see module doc); all randomness comes from `rng`."""

    def __init__(self, preset: SynthTrackPreset, n_people: int, rng: np.random.Generator) -> None:
        p = preset
        self.preset, self.ss, self.size = p, p.supersample, (p.width, p.height)
        self.world = (int(round(p.width * (1 + 2 * scene.MARGIN))), int(round(p.height * (1 + 2 * scene.MARGIN))))
        horizon = self.world[1] * rng.uniform(0.33, 0.45)
        view_x = (self.world[0] / 2 - p.width / 2, self.world[0] / 2 + p.width / 2)
        self.camera = scene.sample_camera(rng, self.world, self.size, p.camera_motion)
        self.background = scene.draw_background(rng, self.world, self.ss, horizon, p.clutter, p.distractors,
                                                0.2 * self.height_at(0.5))
        self.ignore: np.ndarray | None = None  # [4, 2] world px
        if rng.random() < p.ignore_p:
            centre = np.array([rng.uniform(*view_x), horizon + rng.uniform(0.02, 0.08) * self.world[1]])
            self.ignore = scene.draw_ignore_crowd(Canvas(self.background, None, self.ss), rng, centre,
                                                  0.4 * self.height_at(0.0), _small_figure(rng, self.ss))
        self.tracks: list[Track] = [sample_track(rng, k, view_x, self.height_at, p.kinds, p.enter_p)
                                    for k in range(n_people)]
        self.looks: list[Look] = [sample_look(rng, 1.6 * self.height_at(1.0) * self.ss) for _ in self.tracks]
        self.occluders = [scene.sample_occluder(rng, k, view_x, self.height_at, p.frames)
                          for k in range(int(rng.poisson(p.occluders)))]

    def foot_y(self, s: float) -> float:
        """World y of the feet of a person at depth s (0 far, 1 near): nearer people stand lower in the image."""
        return self.world[1] * (0.535 + 0.32 * s)

    def height_at(self, s: float) -> float:
        """Standing height in world px of an average person at depth s."""
        return self.preset.height * self.preset.person_scale * (0.5 + 0.5 * s)

    def ignore_region(self, t: int) -> np.ndarray | None:
        """The ignore polygon [4, 2] in image px at frame t, or None when there is none or it is out of view."""
        if self.ignore is None:
            return None
        poly = self.camera.to_image(self.ignore, t, self.size)
        return poly if poly[:, 0].max() > 0 and poly[:, 0].min() < self.size[0] else None

    def _draw_track(self, canvas: Canvas, image: Image.Image, labels: Image.Image, k: int,
                    t: int) -> tuple[dict, np.ndarray]:
        """Draw track k at frame t (motion-blurred when fast); returns its geometry and outline box."""
        tr, cam, size, ss = self.tracks[k], self.camera, self.size, self.ss
        x, s = tr.ground(t)
        ground = cam.to_image(np.array([x, self.foot_y(s)]), t, size)
        height = self.height_at(s) * tr.size * cam.at(t)[2]
        geo = person_geometry(tr.body, tr.angles(t), (float(ground[0]), float(ground[1])), height)
        x_prev, s_prev = tr.ground(t - 1)
        velocity = ground - cam.to_image(np.array([x_prev, self.foot_y(s_prev)]), t - 1, size)  # image px / frame
        margin = 0.2 * height + np.abs(velocity)  # room for the limbs' width and the smear
        lo = np.floor(geo["uv"].min(0) - margin).clip(0, None).astype(int)
        hi = np.ceil(geo["uv"].max(0) + margin).astype(int).clip(None, size)
        if np.linalg.norm(velocity) > self.preset.motion_blur_px and (hi > lo).all():
            # Draw the person into a crop of the frame, then smear the crop along the motion.
            box = (lo[0] * ss, lo[1] * ss, hi[0] * ss, hi[1] * ss)
            before = image.crop(box)
            after = before.copy()
            outline = draw_person(Canvas(after, labels, ss, offset=lo), geo, tr.body, self.looks[k], height, k + 1)
            image.paste(scene.motion_blur(before, after, velocity, ss), box[:2])
        else:
            outline = draw_person(canvas, geo, tr.body, self.looks[k], height, k + 1)
        return geo, outline

    def render(self, t: int) -> RenderedFrame:
        """Draw frame t (see `RenderedFrame`). Label ids: 0 background, k + 1 person k, >= OCCLUDER_LABEL occluders."""
        n, (w, h) = len(self.tracks), self.size
        image = self.camera.frame_background(self.background, t, self.size, self.ss)
        labels = Image.new("I", self.size, 0)
        canvas = Canvas(image, labels, self.ss)
        uv, head_boxes, outlines = np.zeros((n, 17, 2)), np.zeros((n, 4)), np.zeros((n, 4))
        items = [(tr.ground(t)[1], 0, k) for k, tr in enumerate(self.tracks)]
        items += [(o.s, 1, k) for k, o in enumerate(self.occluders)]
        for _, kind, k in sorted(items):  # far to near
            if kind == 1:
                o = self.occluders[k]
                for poly, colour in o.polygons(t, self.foot_y(o.s)):
                    canvas.polygon(self.camera.to_image(poly, t, self.size), fill=colour,
                                   label=scene.OCCLUDER_LABEL + k)
            else:
                geo, outlines[k] = self._draw_track(canvas, image, labels, k, t)
                uv[k], head_boxes[k] = geo["uv"], geo["head_box"]
        inside = (uv[..., 0] >= 1) & (uv[..., 0] <= w - 1) & (uv[..., 1] >= 1) & (uv[..., 1] <= h - 1)
        inside[:, _EARS] = False
        owner = np.asarray(labels)[uv[..., 1].astype(int).clip(0, h - 1), uv[..., 0].astype(int).clip(0, w - 1)]
        # A joint is hidden when somebody else (or an occluder) is on top of it; self-occlusion counts as visible.
        visible = inside & ((owner == 0) | (owner == np.arange(1, n + 1)[:, None]))                  # [n, 17]
        return RenderedFrame(image.reduce(self.ss), uv, inside, visible, head_boxes, outlines)
