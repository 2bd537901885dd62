"""SynthTrack scenes: textured backgrounds with clutter and limb-like distractors, a slowly panning and zooming camera,
moving occluders, motion blur and degraded frames.

The world is a canvas larger than the frame (margin on each side); the camera picks a moving window of it. World and
image coordinates are pixels: `u = (X - cx) * zoom + W / 2`. The background is drawn once per video at `ss` times
the resolution and resampled per frame, which keeps every frame a few PIL calls.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from pavenet_lite.data.synthtrack.render import Canvas, capsule_polygon

MARGIN = 0.15  # world canvas = frame size x (1 + 2 * MARGIN)
OCCLUDER_LABEL = 60000  # label-image ids from here on belong to occluders; people are 1 + track index


@dataclass
class Camera:
    """Camera centre (world px) and zoom as smooth functions of the frame index."""

    cx: float
    cy: float
    pan: tuple[float, float]   # amplitude (px) in x and y
    zoom_amp: float
    omega: float
    phase: float

    def at(self, t: float) -> tuple[float, float, float]:
        """(cx, cy, zoom) at frame t."""
        a = self.omega * t + self.phase
        cx = self.cx + self.pan[0] * np.sin(a)
        cy = self.cy + self.pan[1] * np.sin(0.7 * a + 1.0)
        return cx, cy, 1.0 + self.zoom_amp * (0.5 - 0.5 * np.cos(0.8 * a))

    def to_image(self, pts: np.ndarray, t: float, size: tuple[int, int]) -> np.ndarray:
        """[..., 2] world px -> [..., 2] image px at frame t (`size` = (W, H) of the frame)."""
        cx, cy, z = self.at(t)
        return (np.asarray(pts, dtype=np.float64) - [cx, cy]) * z + [size[0] / 2, size[1] / 2]

    def frame_background(self, canvas: Image.Image, t: float, size: tuple[int, int], ss: int) -> Image.Image:
        """The background seen at frame t, `ss` times the frame size.

        The world canvas (drawn at `ss` x) is resampled to frame resolution and then enlarged by pixel repetition:
        the background ends up exactly as sharp as a frame-resolution view, at a fraction of the cost.
        """
        cx, cy, z = self.at(t)
        w, h = size
        box = (ss * (cx - w / (2 * z)), ss * (cy - h / (2 * z)), ss * (cx + w / (2 * z)), ss * (cy + h / (2 * z)))
        view = canvas.resize(size, Image.Resampling.BILINEAR, box=box)
        return view.resize((w * ss, h * ss), Image.Resampling.NEAREST)


def sample_camera(rng: np.random.Generator, world: tuple[float, float], size: tuple[int, int],
                  motion: float) -> Camera:
    """A camera centred on the world that pans by up to `motion` x the margin and zooms in by up to 12 %."""
    pan = (motion * MARGIN * size[0] * rng.uniform(0.3, 0.9), motion * MARGIN * size[1] * rng.uniform(0.0, 0.4))
    return Camera(cx=world[0] / 2, cy=world[1] / 2, pan=pan, zoom_amp=motion * rng.uniform(0.0, 0.12),
                  omega=float(rng.uniform(0.02, 0.05)), phase=float(rng.uniform(0, 2 * np.pi)))


def _noise_image(rng: np.random.Generator, size: tuple[int, int], cells: int, amp: float) -> np.ndarray:
    """[H, W] smooth random field: a coarse random grid upsampled bicubically."""
    coarse = rng.normal(0.0, 1.0, size=(cells, max(2, cells * size[0] // size[1])))
    img = Image.fromarray(((coarse + 4) * 32).clip(0, 255).astype(np.uint8))
    return (np.asarray(img.resize(size, Image.Resampling.BICUBIC), dtype=np.float64) - 128) / 32 * amp


def draw_distractor(canvas: Canvas, rng: np.random.Generator, at: np.ndarray, length: float) -> None:
    """A chain of 2-3 tapered capsules in skin or cloth colours: looks like a limb, belongs to nobody."""
    colour = tuple(int(v) for v in (rng.integers(20, 235, 3) if rng.random() < 0.5 else
                                    np.array([225, 185, 150]) * rng.uniform(0.3, 1.0)))
    p = np.asarray(at, dtype=np.float64)
    angle = rng.uniform(0, 2 * np.pi)
    r = length * rng.uniform(0.08, 0.16)
    for _ in range(int(rng.integers(2, 4))):
        q = p + length * np.array([np.cos(angle), np.sin(angle)])
        canvas.polygon(capsule_polygon(p, q, r, 0.85 * r), fill=colour, label=None)
        p, angle, r = q, angle + rng.uniform(-1.2, 1.2), 0.85 * r


def draw_background(rng: np.random.Generator, world: tuple[int, int], ss: int, horizon: float,
                    clutter: int, distractors: int, limb_px: float) -> Image.Image:
    """World canvas at `ss` x resolution: wall and floor with smooth texture, clutter shapes and distractor limbs."""
    w, h = world
    wall, floor = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
    rows = np.arange(h * ss)[:, None, None] / ss
    base = np.where(rows < horizon, wall, floor).astype(np.float64) * np.ones((1, w * ss, 1))
    base += _noise_image(rng, (w * ss, h * ss), 6, 18.0)[..., None]
    base += rng.normal(0.0, 5.0, size=base.shape[:2])[..., None]  # fine grain
    canvas = Canvas(Image.fromarray(base.clip(0, 255).astype(np.uint8)), None, ss)
    # Floor boards: perspective lines from a vanishing point on the horizon.
    vx = rng.uniform(0.3, 0.7) * w
    line = tuple(int(v) for v in floor * 0.75)
    for x in np.linspace(-w, 2 * w, int(rng.integers(6, 14))):
        canvas.draw.line([(vx * ss, horizon * ss), (x * ss, h * ss)], fill=line, width=ss)
    for _ in range(clutter):
        colour = tuple(int(v) for v in rng.integers(10, 245, 3))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        sx, sy = rng.uniform(0.03, 0.18) * w, rng.uniform(0.03, 0.25) * h
        box = [(cx - sx) * ss, (cy - sy) * ss, (cx + sx) * ss, (cy + sy) * ss]
        shape = rng.integers(3)
        if shape == 0:
            canvas.draw.rectangle(box, fill=colour, outline=tuple(c // 2 for c in colour), width=ss)
        elif shape == 1:
            canvas.draw.ellipse(box, fill=colour)
        else:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = np.stack([cx + sx * np.cos(ang), cy + sy * np.sin(ang)], 1) * ss
            canvas.draw.polygon([tuple(v) for v in pts], fill=colour)
    for _ in range(distractors):
        draw_distractor(canvas, rng, np.array([rng.uniform(0, w), rng.uniform(0.2 * h, h)]),
                        limb_px * rng.uniform(0.5, 1.3))
    return canvas.image


@dataclass
class Occluder:
    """A moving panel (cart, sign, passing object) at depth s: drawn between people according to its depth."""

    x0: float
    vx: float
    s: float
    width: float
    height: float
    colour: tuple[int, int, int]
    stripe: tuple[int, int, int]
    index: int

    def polygons(self, t: float, foot_y: float) -> list[tuple[list, tuple[int, int, int]]]:
        x = self.x0 + self.vx * t
        body = [(x - self.width / 2, foot_y - self.height), (x + self.width / 2, foot_y - self.height),
                (x + self.width / 2, foot_y), (x - self.width / 2, foot_y)]
        band_y = foot_y - 0.6 * self.height
        band = [(x - self.width / 2, band_y), (x + self.width / 2, band_y),
                (x + self.width / 2, band_y + 0.12 * self.height), (x - self.width / 2, band_y + 0.12 * self.height)]
        return [(body, self.colour), (band, self.stripe)]


def sample_occluder(rng: np.random.Generator, index: int, view_x: tuple[float, float],
                    height_at: Callable[[float], float], n_frames: int) -> Occluder:
    """An occluder that crosses the view during the video (it enters from one side and leaves by the other)."""
    s = float(rng.uniform(0.2, 1.0))
    h = height_at(s) * rng.uniform(0.45, 0.9)
    width = h * rng.uniform(0.4, 1.4)
    direction = rng.choice([-1.0, 1.0])
    span = view_x[1] - view_x[0] + width
    vx = direction * span / n_frames * rng.uniform(0.7, 1.5)
    start = view_x[0] - width / 2 if direction > 0 else view_x[1] + width / 2
    x0 = start + direction * rng.uniform(-0.3, 0.5) * span
    return Occluder(x0=float(x0), vx=float(vx), s=s, width=float(width), height=float(h),
                    colour=tuple(int(v) for v in rng.integers(20, 235, 3)),
                    stripe=tuple(int(v) for v in rng.integers(20, 235, 3)), index=index)


def motion_blur(before: Image.Image, after: Image.Image, velocity: np.ndarray, ss: int,
                exposure: float = 0.5) -> Image.Image:
    """Smear what changed between `before` and `after` (one person drawn) along `velocity` (image px / frame).

    The camera integrates over `exposure` frames. The person's pixels, premultiplied by their coverage mask, and the
    mask itself are box-blurred along x and y by the distance moved during the exposure, then laid over the
    unchanged background: the smear fades into the true background instead of a dark halo. (An axis-aligned box
    is exact for the mostly horizontal motion of walkers and a fair approximation otherwise.)
    """
    mask = ImageChops.difference(before, after).convert("L").point(lambda v: 255 if v > 0 else 0)
    radius = tuple(float(r) for r in np.abs(np.asarray(velocity)) * ss * exposure / 2)
    blur = ImageFilter.BoxBlur(radius)
    colour = Image.composite(after, Image.new("RGB", after.size), mask).filter(blur)   # premultiplied person
    cover = mask.filter(blur)
    background = ImageChops.multiply(before, Image.merge("RGB", [ImageChops.invert(cover)] * 3))
    return ImageChops.add(colour, background)


def degrade(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A heavily degraded frame: strong defocus blur, strong sensor noise, or a dark noisy frame."""
    kind = rng.integers(3)
    if kind == 0:
        return img.filter(ImageFilter.GaussianBlur(rng.uniform(2.0, 3.5)))
    arr = np.asarray(img, dtype=np.float64)
    if kind == 2:
        arr = arr * rng.uniform(0.25, 0.45)
    arr = arr + rng.normal(0.0, rng.uniform(20.0, 40.0), size=arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def draw_ignore_crowd(canvas: Canvas, rng: np.random.Generator, centre: np.ndarray, size: float,
                      draw_figure: Callable[[Canvas, np.ndarray, float], None]) -> np.ndarray:
    """A far-away group of small unannotated figures; returns its enclosing polygon [4, 2] in world px.

    `draw_figure(canvas, foot_xy, height)` draws one small person. PoseTrack marks such groups as ignore regions.
    """
    n = int(rng.integers(3, 7))
    for i in range(n):
        foot = centre + [(i - n / 2 + rng.uniform(-0.3, 0.3)) * 0.35 * size, rng.uniform(-0.1, 0.1) * size]
        draw_figure(canvas, foot, size * rng.uniform(0.85, 1.1))
    x0, x1 = centre[0] - 0.25 * size * n, centre[0] + 0.25 * size * n
    y0, y1 = centre[1] - 1.35 * size, centre[1] + 0.25 * size
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
