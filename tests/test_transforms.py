"""Clip-consistent augmentation: dots drawn at keypoints end up where the transformed keypoints say."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pavenet_lite.config import AUGMENT_NAMES
from pavenet_lite.data.annotations import Person
from pavenet_lite.data.transforms import (
    AUGMENTATIONS, AugmentConfig, ClipParams, ClipTransform, clip_affine, denormalize, normalize, photometric,
    sample_params, transform_people)

ALL_ON = AugmentConfig(flip_prob=1.0, rotate_prob=1.0, crop_prob=1.0, scale_range=(0.8, 1.3))
NO_AUG = AugmentConfig(flip_prob=0.0, rotate_prob=0.0, crop_prob=0.0, scale_range=(1.0, 1.0), brightness=0.0,
                       contrast=0.0, saturation=0.0, hue=0.0)
LEFT_WRIST, RIGHT_WRIST, NOSE = 9, 10, 0  # PT18 indices, by hand from docs/posetrack_eval.md


def person(points: dict[int, tuple[float, float]], track_id: int = 1, **kw) -> Person:
    p = Person(keypoints=np.zeros((17, 2)), annotated=np.zeros(17, bool), visible=np.zeros(17, bool),
               track_id=track_id, **kw)
    for j, xy in points.items():
        p.keypoints[j], p.annotated[j], p.visible[j] = xy, True, True
    return p


def dots(height: int, width: int, points_per_frame: list[list[tuple[float, float]]], sigma: float) -> np.ndarray:
    """[F, H, W, 3] uint8 black frames with a Gaussian dot (peak 255) at each point."""
    yy, xx = np.mgrid[:height, :width]
    frames = np.zeros((len(points_per_frame), height, width, 3), np.uint8)
    for f, points in enumerate(points_per_frame):
        img = np.zeros((height, width))
        for x, y in points:
            img = np.maximum(img, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)))
        frames[f] = (255 * img)[..., None].astype(np.uint8)
    return frames


def brightest(img: torch.Tensor) -> tuple[int, int]:
    """(x, y) of the brightest pixel of [3, h, w]."""
    grey = img.mean(0)
    i = int(grey.argmax())
    return i % grey.shape[1], i // grey.shape[1]


@pytest.mark.parametrize("height,width,max_size,sigma", [(120, 160, 128, 1.2), (90, 200, 160, 1.2),
                                                         (600, 800, 96, 6.0)])
def test_dot_follows_its_keypoint(height, width, max_size, sigma):
    """Each frame has one dot at a different place; every frame is warped by the one returned affine."""
    transform = ClipTransform(max_size, train=True, cfg=ALL_ON)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(6):
        points = [(rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height) for _ in range(3)]
        clip, _, affine = transform(dots(height, width, [[p] for p in points], sigma), [], rng)
        h, w = clip.shape[-2:]
        assert max(h, w) == max_size
        for f, (x, y) in enumerate(points):
            # Reference: apply the 3x3 matrix by hand to the homogeneous point.
            u, v, s = affine @ np.array([x, y, 1.0])
            assert s == 1.0
            if not (3 <= u < w - 3 and 3 <= v < h - 3):
                continue
            bx, by = brightest(denormalize(clip[f]))
            assert np.hypot(bx - u, by - v) <= 1.5, (f, (u, v), (bx, by))
            checked += 1
    assert checked >= 8


def test_all_frames_get_the_same_geometry_and_colour():
    frames = dots(100, 140, [[(30, 40), (100, 70)]] * 3, 1.5)
    frames[1] = frames[0]
    clip, _, _ = ClipTransform(112, train=True, cfg=AugmentConfig(flip_prob=1, rotate_prob=1, crop_prob=1))(
        frames, [], np.random.default_rng(3))
    assert torch.equal(clip[0], clip[1]) and torch.equal(clip[0], clip[2])


def test_keypoints_move_with_the_dots_and_stay_in_the_frame():
    height, width = 120, 160
    points = {NOSE: (40.0, 30.0), LEFT_WRIST: (120.0, 90.0), RIGHT_WRIST: (80.0, 60.0)}
    rng = np.random.default_rng(7)
    transform = ClipTransform(128, train=True, cfg=ALL_ON)
    for _ in range(4):
        frames = dots(height, width, [list(points.values())] * 3, 1.2)
        clip, (moved,), affine = transform(frames, [person(points)], rng)
        h, w = clip.shape[-2:]
        for j, (x, y) in points.items():
            # After a flip the left wrist is labelled right wrist, and the other way around.
            label = {LEFT_WRIST: RIGHT_WRIST, RIGHT_WRIST: LEFT_WRIST}.get(j, j)
            u, v = (affine @ np.array([x, y, 1.0]))[:2]
            inside = 0 <= u < w and 0 <= v < h
            assert moved.annotated[label] == inside and moved.visible[label] == inside
            if inside:
                np.testing.assert_allclose(moved.keypoints[label], (u, v), atol=1e-9)
            else:
                np.testing.assert_array_equal(moved.keypoints[label], (0, 0))
        assert moved.annotated.sum() <= 3


def test_eval_transform_resizes_only():
    """200 x 100 frame, long side 100: factor 0.5, pixel edges kept: u = (x + 0.5) * 0.5 - 0.5."""
    frames = dots(100, 200, [[(150, 30)]], 2.0)
    p = person({NOSE: (150.0, 30.0), LEFT_WRIST: (10.0, 80.0)}, head_box=np.array([140.0, 20.0, 160.0, 40.0]),
               box=np.array([0.0, 10.0, 180.0, 80.0]))
    clip, (moved,), _ = ClipTransform(100, train=False)(frames, [p])
    assert clip.shape == (1, 3, 50, 100) and clip.dtype == torch.float32
    np.testing.assert_allclose(moved.keypoints[NOSE], (74.75, 14.75))
    np.testing.assert_allclose(moved.keypoints[LEFT_WRIST], (4.75, 39.75))
    np.testing.assert_allclose(moved.head_box, (69.75, 9.75, 79.75, 19.75))
    np.testing.assert_allclose(moved.box, (0.0, 4.75, 89.75, 40.0))  # x1 = -0.25 clipped to 0, x2 = 89.75
    assert brightest(denormalize(clip[0])) == (75, 15)


def test_flip_by_hand_swaps_left_and_right():
    """Flip only, 100 x 50 frame kept at size: x -> 99 - x, and the joint labels swap."""
    affine, size = clip_affine(ClipParams(flip=True), 100, 50, 100)
    assert size == (50, 100)
    p = person({LEFT_WRIST: (10.0, 20.0), NOSE: (50.0, 5.0)}, head_box=np.array([40.0, 0.0, 60.0, 10.0]))
    p.visible[LEFT_WRIST] = False  # occluded, still annotated
    p.scores = np.arange(17) / 17
    (moved,) = transform_people([p], affine, size, flip=True)
    np.testing.assert_allclose(moved.keypoints[RIGHT_WRIST], (89.0, 20.0))
    np.testing.assert_allclose(moved.keypoints[NOSE], (49.0, 5.0))
    assert moved.annotated[RIGHT_WRIST] and not moved.annotated[LEFT_WRIST]
    assert not moved.visible[RIGHT_WRIST] and moved.visible[NOSE]
    assert moved.scores[RIGHT_WRIST] == p.scores[LEFT_WRIST]
    np.testing.assert_allclose(moved.head_box, (39.0, 0.0, 59.0, 10.0))


def test_rotation_by_hand():
    """90 degrees counter-clockwise on screen about the centre (49.5, 49.5) of a 100 x 100 frame:
    the point right of the centre goes above it."""
    affine, _ = clip_affine(ClipParams(angle=90.0), 100, 100, 100)
    np.testing.assert_allclose(affine @ [69.5, 49.5, 1], (49.5, 29.5, 1), atol=1e-9)
    np.testing.assert_allclose(affine @ [49.5, 29.5, 1], (29.5, 49.5, 1), atol=1e-9)


def test_keypoint_cropped_away_becomes_not_annotated():
    """Crop the 100 x 100 window with left/top edges at 49.5 of a 200 x 200 frame, then resize to 50."""
    affine, size = clip_affine(ClipParams(crop=(49.5, 49.5, 100.0, 100.0)), 200, 200, 50)
    assert size == (50, 50)
    (moved,) = transform_people([person({NOSE: (10.0, 10.0), LEFT_WRIST: (100.0, 100.0)})], affine, size, False)
    assert not moved.annotated[NOSE] and not moved.visible[NOSE]
    np.testing.assert_array_equal(moved.keypoints[NOSE], (0, 0))
    assert moved.annotated[LEFT_WRIST]
    np.testing.assert_allclose(moved.keypoints[LEFT_WRIST], ((100 - 50 + 0.5) * 0.5 - 0.5,) * 2)


def test_same_seed_same_clip_other_seed_other_clip():
    frames = dots(60, 80, [[(20, 20)], [(40, 30)], [(60, 40)]], 1.5)
    transform = ClipTransform(64, train=True)
    a, _, ma = transform(frames, [], np.random.default_rng(11))
    b, _, mb = transform(frames, [], np.random.default_rng(11))
    c, _, mc = transform(frames, [], np.random.default_rng(12))
    assert torch.equal(a, b) and np.array_equal(ma, mb)
    assert not np.array_equal(ma, mc)


def test_train_transform_needs_an_rng():
    with pytest.raises(ValueError, match="Generator"):
        ClipTransform(64, train=True)(dots(10, 10, [[(5, 5)]], 1.0), [])


def test_no_augmentation_equals_eval():
    frames = (np.random.default_rng(0).random((3, 40, 60, 3)) * 255).astype(np.uint8)
    a, _, _ = ClipTransform(48, train=True, cfg=NO_AUG)(frames, [], np.random.default_rng(0))
    b, _, _ = ClipTransform(48, train=False)(frames, [])
    torch.testing.assert_close(a, b)


def test_every_config_name_has_an_augmentation():
    assert tuple(AUGMENTATIONS) == AUGMENT_NAMES


def test_light_augmentation_never_rotates_or_crops():
    rng = np.random.default_rng(0)
    draws = [sample_params(rng, 384, 216, AUGMENTATIONS["light"]) for _ in range(400)]
    assert all(p.angle == 0.0 and p.crop is None and 0.9 <= p.scale <= 1.1 for p in draws)
    assert 150 < sum(p.flip for p in draws) < 250 and len({p.brightness for p in draws}) == 400
    full = [sample_params(rng, 384, 216, AUGMENTATIONS["full"]) for _ in range(400)]
    assert sum(p.angle != 0.0 for p in full) > 150 and sum(p.crop is not None for p in full) > 150


def test_photometric_by_hand():
    rng = np.random.default_rng(0)
    clip = torch.tensor(rng.random((2, 3, 4, 5)), dtype=torch.float32) * 0.5
    out = photometric(clip, ClipParams(brightness=1.5))
    torch.testing.assert_close(out, (clip * 1.5).clamp(0, 1))
    grey = clip.mean(1, keepdim=True).expand(-1, 3, -1, -1).contiguous()  # R = G = B
    torch.testing.assert_close(photometric(grey, ClipParams(saturation=0.2, hue=0.1)), grey, atol=1e-5, rtol=0)
    torch.testing.assert_close(photometric(clip, ClipParams(hue=1.0)), clip, atol=1e-5, rtol=0)  # a full turn
    # Contrast pivots on the clip's mean grey (weights 0.299, 0.587, 0.114), the same for both frames.
    mean = (0.299 * clip[:, 0] + 0.587 * clip[:, 1] + 0.114 * clip[:, 2]).mean()
    torch.testing.assert_close(photometric(clip, ClipParams(contrast=0.5)), ((clip - mean) * 0.5 + mean).clamp(0, 1))


def test_normalize_imagenet():
    x = torch.rand(2, 3, 4, 4)
    n = normalize(x)
    torch.testing.assert_close(n[:, 1], (x[:, 1] - 0.456) / 0.224)
    torch.testing.assert_close(denormalize(n), x)
