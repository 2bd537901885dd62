"""Clip-consistent augmentation: one parameter draw per clip, applied identically to all F frames.

A video model learns from how people move between frames, so every frame of a clip must get the same flip, zoom,
rotation, crop and colour change; otherwise the augmentation itself would invent motion. All geometry is composed
into one 3x3 affine matrix `A` (original-frame pixels -> output pixels), used twice:

* for the image: one `grid_sample` call warps the F frames at once (inverse map, bilinear);
* for the annotations: keypoints, head boxes and person boxes are multiplied by the same `A`.

Pixel convention: integer coordinates are pixel centres (pixel (i, j) spans [j - 0.5, j + 0.5] horizontally), which
is what `grid_sample(align_corners=True)` uses too, so the image and the keypoints cannot drift apart.
The output keeps the aspect ratio with the long side = `max_size` and is not padded (`collate_clips` pads).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as nnf

from pavenet_lite.data.annotations import Person
from pavenet_lite.joints import PT18_NAMES, flip_permutation

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PT18_FLIP_PERM = flip_permutation(PT18_NAMES)  # [17] left <-> right


@dataclass
class AugmentConfig:
    """Ranges of the training augmentation. A probability of 1 forces an operation on, 0 switches it off."""

    flip_prob: float = 0.5
    scale_range: tuple[float, float] = (0.75, 1.25)  # zoom about the frame centre (> 1 zooms in)
    rotate_prob: float = 0.5
    max_rotation: float = 30.0                       # degrees, uniform in [-max, max]
    crop_prob: float = 0.5
    min_crop: float = 0.6                            # a crop keeps at least this fraction of each side
    brightness: float = 0.3                          # factor uniform in [1 - b, 1 + b]
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.05                                # shift in turns of the colour wheel, uniform in [-h, h]


# Named strengths (`PAVENetConfig.augment`). "light" keeps flips, a mild zoom and the colours, and drops rotation and
# cropping: on SynthTrack the CPU-sized `tiny` model reaches twice the mAP with it in the same 2,400 steps, also on an
# unseen seed; over a long run "full" generalises better, and "light" for the last steps sharpens the scores
# (docs/experiments.md, "Augmentation").
AUGMENTATIONS: dict[str, AugmentConfig] = {
    "full": AugmentConfig(),
    "light": AugmentConfig(scale_range=(0.9, 1.1), rotate_prob=0.0, crop_prob=0.0),
}


@dataclass
class ClipParams:
    """One draw of the augmentation, shared by all frames of a clip. `crop` = (x0, y0, w, h): the window's left/top
    edge and size in pixels of the frame after flip, rotation and zoom (edges at half-integers: (-0.5, -0.5, W, H) is
    the whole frame)."""

    flip: bool = False
    scale: float = 1.0
    angle: float = 0.0
    crop: tuple[float, float, float, float] | None = None
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0


def sample_params(rng: np.random.Generator, width: int, height: int, cfg: AugmentConfig) -> ClipParams:
    """Draw one augmentation for a `width` x `height` clip. Always consumes the same number of random values, so a
    probability change does not shift the draws of the other operations."""
    u = rng.random(13)
    rotate, crop = u[2] < cfg.rotate_prob, u[4] < cfg.crop_prob
    cw, ch = width * (cfg.min_crop + (1 - cfg.min_crop) * u[5]), height * (cfg.min_crop + (1 - cfg.min_crop) * u[6])
    lo, hi = cfg.scale_range
    return ClipParams(
        flip=bool(u[0] < cfg.flip_prob),
        scale=float(lo + (hi - lo) * u[1]),
        angle=float(cfg.max_rotation * (2 * u[3] - 1)) if rotate else 0.0,
        crop=(float(-0.5 + (width - cw) * u[7]), float(-0.5 + (height - ch) * u[8]), float(cw), float(ch))
        if crop else None,
        brightness=float(1 + cfg.brightness * (2 * u[9] - 1)),
        contrast=float(1 + cfg.contrast * (2 * u[10] - 1)),
        saturation=float(1 + cfg.saturation * (2 * u[11] - 1)),
        hue=float(cfg.hue * (2 * u[12] - 1)),
    )


def clip_affine(params: ClipParams, width: int, height: int, max_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine `A` [3, 3] mapping original-frame pixels to output pixels, and the output size (h, w).

    Order: flip, rotation + zoom about the frame centre, crop, resize so that the long side is `max_size`.
    """
    cx, cy = (width - 1) / 2, (height - 1) / 2
    flip = np.array([[-1.0, 0, width - 1], [0, 1, 0], [0, 0, 1]]) if params.flip else np.eye(3)
    t = math.radians(params.angle)
    c, s = params.scale * math.cos(t), params.scale * math.sin(t)
    # Counter-clockwise on screen (y points down): rotate about the centre, then zoom.
    rotate = np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy], [0, 0, 1]])
    x0, y0, cw, ch = params.crop if params.crop is not None else (-0.5, -0.5, float(width), float(height))
    crop = np.array([[1.0, 0, -x0 - 0.5], [0, 1, -y0 - 0.5], [0, 0, 1]])
    r = max_size / max(cw, ch)
    out_w, out_h = max(1, round(cw * r)), max(1, round(ch * r))
    rx, ry = out_w / cw, out_h / ch
    # Pixel edges map to pixel edges: (u + 0.5) * r - 0.5.
    resize = np.array([[rx, 0, 0.5 * rx - 0.5], [0, ry, 0.5 * ry - 0.5], [0, 0, 1]])
    return resize @ crop @ rotate @ flip, (out_h, out_w)


def _edge_scale(size_from: tuple[int, int], size_to: tuple[int, int]) -> np.ndarray:
    """Affine mapping pixels of an image of size (h, w) `size_from` onto the same image resized to `size_to`."""
    sx, sy = size_to[1] / size_from[1], size_to[0] / size_from[0]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])


def warp_clip(frames: torch.Tensor, affine: np.ndarray, out_size: tuple[int, int]) -> torch.Tensor:
    """Warp `frames` [F, 3, H, W] float by `affine` (frame pixels -> output pixels) to [F, 3, h, w] = `out_size`.

    When the warp shrinks the frames, they are first resized with antialiasing to the output scale, so that
    bilinear sampling does not alias (PoseTrack frames are 1280 px wide, model inputs a few hundred).
    """
    _, _, height, width = frames.shape
    shrink = math.sqrt(abs(np.linalg.det(affine[:2, :2])))
    if shrink < 1:
        size = (max(1, round(height * shrink)), max(1, round(width * shrink)))
        frames = nnf.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
        affine = affine @ np.linalg.inv(_edge_scale((height, width), size))
        height, width = size
    out_h, out_w = out_size
    inverse = np.linalg.inv(affine)  # output pixel -> source pixel
    ys, xs = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    src = inverse[:2, :2] @ np.stack([xs.ravel(), ys.ravel()]) + inverse[:2, 2:]  # [2, h*w]
    gx = 2 * src[0] / max(width - 1, 1) - 1  # align_corners=True: -1 / +1 are the first / last pixel centres
    gy = 2 * src[1] / max(height - 1, 1) - 1
    grid = torch.from_numpy(np.stack([gx, gy], -1).reshape(1, out_h, out_w, 2)).to(frames.dtype)
    grid = grid.expand(frames.shape[0], -1, -1, -1)  # [F, h, w, 2], the same geometry for every frame
    return nnf.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _hue_matrix(turns: float) -> torch.Tensor:
    """[3, 3] RGB -> RGB rotation of the chroma plane (YIQ) by `turns` of a full turn; keeps luma."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          dtype=torch.float64)
    c, s = math.cos(2 * math.pi * turns), math.sin(2 * math.pi * turns)
    rot = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)
    return (torch.linalg.inv(to_yiq) @ rot @ to_yiq).float()


def photometric(clip: torch.Tensor, params: ClipParams) -> torch.Tensor:
    """Brightness, contrast, saturation and hue of `clip` [F, 3, h, w] in [0, 1]; the same change for all frames
    (contrast pivots on the mean grey of the whole clip, not of each frame)."""
    grey_weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    clip = clip * params.brightness
    mean_grey = (clip * grey_weights).sum(1).mean()
    clip = (clip - mean_grey) * params.contrast + mean_grey
    grey = (clip * grey_weights).sum(1, keepdim=True)  # [F, 1, h, w]
    clip = grey + (clip - grey) * params.saturation
    if params.hue != 0:
        clip = torch.einsum("ij,fjhw->fihw", _hue_matrix(params.hue), clip)
    return clip.clamp(0, 1)


def normalize(clip: torch.Tensor) -> torch.Tensor:
    """[..., 3, h, w] RGB in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (clip - mean) / std


def denormalize(clip: torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize`, clamped to [0, 1] (for display)."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (clip * std + mean).clamp(0, 1)


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[n, 2] pixels -> [n, 2] pixels."""
    return points @ affine[:2, :2].T + affine[:2, 2]


def _box_corners(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], dtype=np.float64)


def transform_people(people: Sequence[Person], affine: np.ndarray, out_size: tuple[int, int],
                     flip: bool) -> list[Person]:
    """Move people (PT18 order, original-frame pixels) into the output frame of `clip_affine`.

    A horizontal flip also swaps left/right joint labels. A keypoint that lands outside [0, w) x [0, h) becomes
    not annotated and not visible. Head boxes are the axis-aligned box of the 4 moved corners, not clipped (their
    size sets the PCKh threshold); person boxes (x, y, w, h) likewise, then clipped to the output frame.
    """
    out_h, out_w = out_size
    perm = PT18_FLIP_PERM if flip else np.arange(len(PT18_NAMES))
    moved = []
    for p in people:
        keypoints = _apply(affine, p.keypoints[perm])  # [17, 2]
        inside = ((keypoints[:, 0] >= 0) & (keypoints[:, 0] < out_w) & (keypoints[:, 1] >= 0)
                  & (keypoints[:, 1] < out_h))
        annotated = p.annotated[perm] & inside
        head_box = box = None
        if p.head_box is not None:
            corners = _apply(affine, _box_corners(*p.head_box))
            head_box = np.concatenate([corners.min(0), corners.max(0)])
        if p.box is not None:
            x, y, w, h = p.box
            corners = _apply(affine, _box_corners(x, y, x + w, y + h))
            lo, hi = np.clip(corners.min(0), 0, [out_w, out_h]), np.clip(corners.max(0), 0, [out_w, out_h])
            box = np.concatenate([lo, hi - lo])
        moved.append(dataclasses.replace(
            p, keypoints=np.where(annotated[:, None], keypoints, 0.0), annotated=annotated,
            visible=p.visible[perm] & annotated, head_box=head_box, box=box,
            scores=None if p.scores is None else p.scores[perm]))
    return moved


class ClipTransform:
    """The transform of one clip: train = random geometry + colour (one draw per clip) then resize; eval = resize.

    Call with `frames` [F, H', W', 3] uint8 (or a list of F such arrays), the centre-frame `people` in
    original-frame pixels, a `numpy.random.Generator` (train) and `orig_size` (h, w) of the original frame when the
    arrays were decoded at a reduced size (JPEG draft mode). Returns (clip [F, 3, h, w] float32 ImageNet-normalised,
    people in output pixels, affine [3, 3] original-frame pixels -> output pixels); long side of (h, w) = max_size.
    """

    def __init__(self, max_size: int, train: bool, cfg: AugmentConfig | None = None) -> None:
        self.max_size, self.train, self.cfg = max_size, train, cfg or AugmentConfig()

    def __call__(self, frames: np.ndarray | Sequence[np.ndarray], people: Sequence[Person],
                 rng: np.random.Generator | None = None, orig_size: tuple[int, int] | None = None,
                 ) -> tuple[torch.Tensor, list[Person], np.ndarray]:
        array = np.stack(list(frames)) if not isinstance(frames, np.ndarray) else frames  # [F, H', W', 3]
        clip = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255)  # [F, 3, H', W']
        height, width = orig_size if orig_size is not None else clip.shape[-2:]
        if self.train:
            if rng is None:
                raise ValueError("the training transform needs a numpy.random.Generator (rng)")
            params = sample_params(rng, width, height, self.cfg)
        else:
            params = ClipParams()
        affine, out_size = clip_affine(params, width, height, self.max_size)
        # The arrays may be smaller than the original frame: compose with original -> array pixels.
        to_array = _edge_scale((height, width), tuple(clip.shape[-2:]))
        clip = warp_clip(clip, affine @ np.linalg.inv(to_array), out_size)  # [F, 3, h, w]
        if self.train:
            clip = photometric(clip, params)
        return normalize(clip).float(), transform_people(people, affine, out_size, params.flip), affine
