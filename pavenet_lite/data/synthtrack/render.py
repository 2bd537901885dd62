"""Drawing SynthTrack people with PIL: tapered-capsule limbs, an elliptic head with face or hair, textured clothes.

Every person is drawn twice: in colour into the (supersampled) frame, and as a flat id into a label image at frame
resolution. The label image records who is on top at every pixel, so a joint is occluded exactly when another
person or an occluder covers it. Parts are drawn far to near (3-D depth after the yaw), so people and their own limbs
overlap correctly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pavenet_lite.data.synthtrack import skeleton as sk
from pavenet_lite.data.synthtrack.skeleton import Angles, Body

# (joint a, joint b, radius field of Body, material) for every limb capsule. "sleeve" / "leg" are shirt / pants
# for long sleeves / long trousers and bare skin otherwise.
_LIMBS = (
    (sk.L_SHOULDER, sk.L_ELBOW, "r_upper_arm", "shirt"), (sk.L_ELBOW, sk.L_WRIST, "r_forearm", "sleeve"),
    (sk.R_SHOULDER, sk.R_ELBOW, "r_upper_arm", "shirt"), (sk.R_ELBOW, sk.R_WRIST, "r_forearm", "sleeve"),
    (sk.L_HIP, sk.L_KNEE, "r_thigh", "pants"), (sk.L_KNEE, sk.L_ANKLE, "r_shin", "leg"),
    (sk.R_HIP, sk.R_KNEE, "r_thigh", "pants"), (sk.R_KNEE, sk.R_ANKLE, "r_shin", "leg"),
)
_TORSO_HALF_DEPTH = 0.06  # body-height units: keeps the torso solid in side view


@dataclass
class Look:
    """Appearance of one person: RGB colours and two clothing textures (supersampled pixels, period `tile`)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: Image.Image
    pants: Image.Image
    tile: int
    long_sleeves: bool
    long_pants: bool


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> np.ndarray:
    return rng.integers(lo, hi, size=3)


def _fabric(rng: np.random.Generator, size: int, reps: int) -> Image.Image:
    """A `size`-periodic RGB texture of reps x reps tiles: plain, stripes, checks or dots, plus weave noise."""
    yy, xx = np.mgrid[0:size, 0:size]
    base, other = _colour(rng), _colour(rng)
    period = int(rng.choice([4, 6, 8, 12]))  # 2 * period divides the tile, so tiles join seamlessly
    pattern = rng.choice(["plain", "hstripes", "vstripes", "checks", "dots"], p=[0.35, 0.2, 0.15, 0.15, 0.15])
    if pattern == "hstripes":
        sel = (yy // period) % 2 == 0
    elif pattern == "vstripes":
        sel = (xx // period) % 2 == 0
    elif pattern == "checks":
        sel = ((yy // period) + (xx // period)) % 2 == 0
    elif pattern == "dots":
        sel = ((yy % period - period / 2) ** 2 + (xx % period - period / 2) ** 2) < (period / 3.5) ** 2
    else:
        sel = np.zeros((size, size), bool)
    tile = np.where(sel[..., None], other, base).astype(np.float64)
    tile += rng.normal(0.0, 7.0, size=(size, size, 1))  # weave grain, shared by the channels
    return Image.fromarray(np.tile(np.clip(tile, 0, 255).astype(np.uint8), (reps, reps, 1)))


def sample_look(rng: np.random.Generator, max_part_px: float, tile: int = 48) -> Look:
    """Random skin, hair and clothes; textures cover body parts up to `max_part_px` supersampled pixels."""
    reps = int(np.ceil(max_part_px / tile)) + 1
    skin_tone = rng.uniform(0.25, 1.0)
    skin = tuple(int(v) for v in np.array([235, 195, 160]) * skin_tone + np.array([20, 10, 5]) * (1 - skin_tone))
    hair = tuple(int(v) for v in rng.choice([[30, 20, 15], [90, 60, 30], [200, 170, 90], [140, 140, 140],
                                             [120, 40, 20]]))
    return Look(skin=skin, hair=hair, shirt=_fabric(rng, tile, reps), pants=_fabric(rng, tile, reps), tile=tile,
                long_sleeves=bool(rng.random() < 0.6), long_pants=bool(rng.random() < 0.75))


_HALF = np.linspace(-np.pi / 2, np.pi / 2, 8)
_ROUND = np.linspace(0, 2 * np.pi, 20, endpoint=False)


def capsule_polygon(p: np.ndarray, q: np.ndarray, rp: float, rq: float) -> np.ndarray:
    """[16, 2] outline of a tapered capsule from p (radius rp) to q (radius rq): two half-circles joined by lines."""
    angle = np.arctan2(q[1] - p[1], q[0] - p[0])
    a_q, a_p = angle + _HALF, angle + np.pi + _HALF
    cap_q = np.stack([q[0] + rq * np.cos(a_q), q[1] + rq * np.sin(a_q)], axis=1)
    cap_p = np.stack([p[0] + rp * np.cos(a_p), p[1] + rp * np.sin(a_p)], axis=1)
    return np.concatenate([cap_q, cap_p])


def ellipse_polygon(centre: np.ndarray, up: np.ndarray, half_h: float, half_w: float) -> np.ndarray:
    """[20, 2] points of an ellipse with semi-axis `half_h` along the 2-D unit vector `up` and `half_w` across it."""
    across = np.array([-up[1], up[0]])
    return centre + np.outer(np.cos(_ROUND) * half_h, up) + np.outer(np.sin(_ROUND) * half_w, across)


class Canvas:
    """A colour image drawn at `ss` times the label resolution, plus the full-frame label image (or None).

    `offset` (label pixels) is where the colour image's top-left corner lies in the frame, so a small crop of the
    frame can be drawn into (motion blur) while the labels still go to the full frame.
    """

    def __init__(self, image: Image.Image, labels: Image.Image | None, ss: int,
                 offset: tuple[float, float] | np.ndarray = (0, 0)) -> None:
        self.image, self.ss, self.offset = image, ss, np.asarray(offset, dtype=np.float64)
        self.draw = ImageDraw.Draw(image)
        self.draw_labels = ImageDraw.Draw(labels) if labels is not None else None

    def polygon(self, pts: np.ndarray, fill: tuple[int, int, int], label: int | None,
                texture: Image.Image | None = None, anchor: np.ndarray | None = None, tile: int = 1) -> None:
        """Fill a polygon (label-resolution coordinates) with a colour, or with a `tile`-periodic `texture` that is
        anchored at the label-resolution point `anchor`."""
        pts = np.asarray(pts, dtype=np.float64)
        big = (pts - self.offset) * self.ss
        if texture is None:
            self.draw.polygon(big.ravel().tolist(), fill=fill)
        else:
            x0, y0 = np.floor(big.min(0)).astype(int)
            x1, y1 = np.ceil(big.max(0)).astype(int) + 1
            mask = Image.new("L", (x1 - x0, y1 - y0), 0)
            ImageDraw.Draw(mask).polygon((big - [x0, y0]).ravel().tolist(), fill=255)
            # Texture coordinates follow the body (anchor), so the cloth moves with the person; `texture` holds
            # several periods of a `tile`-periodic pattern, so a crop shifted by a multiple of the tile is seamless.
            ax, ay = (np.asarray(anchor) - self.offset) * self.ss
            sx, sy = int(x0 - ax) % tile, int(y0 - ay) % tile
            self.image.paste(texture.crop((sx, sy, sx + mask.width, sy + mask.height)), (int(x0), int(y0)), mask)
        if label is not None and self.draw_labels is not None:
            self.draw_labels.polygon(pts.ravel().tolist(), fill=label)


def person_geometry(body: Body, ang: Angles, ground: tuple[float, float], height: float) -> dict:
    """Pixel geometry of one person: joints [17, 2], depth [17], head ellipses and head box (x1, y1, x2, y2)."""
    j3d = sk.joints_3d(body, ang)
    uv = sk.project(j3d, ground, height)                                            # [17, 2]
    head = sk.head_geometry(body, ang, j3d)
    centre = sk.project(head["centre"], ground, height)
    up2 = uv[sk.HEAD_TOP] - uv[sk.HEAD_BOTTOM]
    up2 = up2 / max(np.linalg.norm(up2), 1e-6)
    half_h, half_w = 0.5 * body.head * height, 0.5 * body.head * body.head_aspect * height
    fwd, left = head["fwd"], head["left"]
    fwd2 = np.array([fwd[0], -fwd[1]]) * half_w                                    # image-plane facing offset
    hair = ellipse_polygon(centre - 0.22 * fwd2 - 0.1 * half_h * up2, up2, 1.06 * half_h, 1.04 * half_w)
    face = ellipse_polygon(centre + 0.12 * fwd2 + 0.04 * half_h * up2, up2, 0.9 * half_h, 0.9 * half_w)
    outline = np.concatenate([hair, face])
    eyes = [centre + 0.8 * fwd2 + 0.12 * half_h * up2 + side * 0.38 * half_w * np.array([left[0], -left[1]])
            for side in (1.0, -1.0)]
    return {"uv": uv, "depth": j3d[:, 2], "hair": hair, "face": face, "facing": float(fwd[2]), "eyes": eyes,
            "head_box": np.concatenate([outline.min(0), outline.max(0)])}


def draw_person(canvas: Canvas, geo: dict, body: Body, look: Look, height: float, label: int | None) -> np.ndarray:
    """Draw one person far-to-near; returns its outline box (x1, y1, x2, y2) in label pixels."""
    uv, depth = geo["uv"], geo["depth"]
    anchor = uv[sk.HEAD_BOTTOM]
    material = {"shirt": look.shirt, "pants": look.pants,
                "sleeve": look.shirt if look.long_sleeves else None, "leg": look.pants if look.long_pants else None}
    parts: list[tuple[float, np.ndarray, Image.Image | None]] = []
    for a, b, radius, mat in _LIMBS:
        r = getattr(body, radius) * height
        r_end = r * (0.8 if mat in ("sleeve", "leg") else 0.9)  # limbs taper towards the hands and feet
        poly = capsule_polygon(uv[a], uv[b], r, r_end)
        parts.append((0.5 * (depth[a] + depth[b]), poly, material[mat]))
    sh = 0.5 * (uv[sk.L_SHOULDER] + uv[sk.R_SHOULDER])
    hp = 0.5 * (uv[sk.L_HIP] + uv[sk.R_HIP])
    quad = np.stack([uv[sk.L_SHOULDER], uv[sk.R_SHOULDER], uv[sk.R_HIP], uv[sk.L_HIP]])
    quad = quad.mean(0) + (quad - quad.mean(0)) * 1.12  # grown a little so shoulders and hips look round
    torso_depth = float(np.mean(depth[[sk.L_SHOULDER, sk.R_SHOULDER, sk.L_HIP, sk.R_HIP]])) - 0.01 * body.head
    core = capsule_polygon(hp, sh, _TORSO_HALF_DEPTH * height, _TORSO_HALF_DEPTH * height)
    parts.append((torso_depth - 1e-3, core, look.shirt))
    parts.append((torso_depth, quad, look.shirt))
    neck = capsule_polygon(sh, uv[sk.HEAD_BOTTOM], 0.03 * height, 0.025 * height)
    parts.append((torso_depth + 1e-3, neck, None))
    parts.sort(key=lambda p: p[0])
    boxes = []
    for _, poly, tex in parts:
        canvas.polygon(poly, fill=look.skin, label=label, texture=tex, anchor=anchor, tile=look.tile)
        boxes.append(np.asarray(poly))
    back, front = (geo["face"], geo["hair"]) if geo["facing"] < 0 else (geo["hair"], geo["face"])
    canvas.polygon(back, fill=look.skin if back is geo["face"] else look.hair, label=label)
    canvas.polygon(front, fill=look.skin if front is geo["face"] else look.hair, label=label)
    if geo["facing"] > 0.25:
        r = max(0.6, 0.012 * height)
        for e in geo["eyes"]:
            canvas.polygon(ellipse_polygon(e, np.array([0.0, -1.0]), r, r), fill=(25, 20, 20), label=None)
    allpts = np.concatenate(boxes + [geo["hair"], geo["face"]])
    return np.concatenate([allpts.min(0), allpts.max(0)])
