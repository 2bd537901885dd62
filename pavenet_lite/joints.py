"""PoseTrack joint tables: the one definition of joint names, orders, flip pairs and OKS sigmas.

Three joint orders meet in this project:

* **PT18 order** (17 joints, COCO layout with the eyes replaced by head_bottom/head_top): the order of the
  `keypoints` arrays in PoseTrack18/21 files and of SynthTrack files. The ears are never annotated.
* **Model order** (K = 15): PT18 order with the two ears dropped. Every tensor of the model, the matcher and the
  losses uses it: 0 nose, 1 head_bottom, 2 head_top, 3/4 left/right shoulder, ..., 13/14 left/right ankle.
* **poseval order** (15 joints, MPII-like ids of PoseTrack17 `annolist` files and of the official evaluator).
"""
from __future__ import annotations

import numpy as np

PT18_NAMES: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_PT18 = len(PT18_NAMES)  # 17

# Model order = PT18 order without the ears (never annotated in PoseTrack).
MODEL_TO_PT18: tuple[int, ...] = (0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
MODEL_NAMES: tuple[str, ...] = tuple(PT18_NAMES[i] for i in MODEL_TO_PT18)
K = len(MODEL_NAMES)  # 15

# poseval ids (eval_helpers.Joint): id -> name. "neck" is PT18's head_bottom.
POSEVAL_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "nose", "head_top",
)
_POSEVAL_TO_PT18_NAME = {"neck": "head_bottom"}
POSEVAL_TO_PT18: tuple[int, ...] = tuple(
    PT18_NAMES.index(_POSEVAL_TO_PT18_NAME.get(n, n)) for n in POSEVAL_NAMES)
PT18_TO_POSEVAL: dict[int, int] = {pt18: pv for pv, pt18 in enumerate(POSEVAL_TO_PT18)}
MODEL_TO_POSEVAL: tuple[int, ...] = tuple(PT18_TO_POSEVAL[i] for i in MODEL_TO_PT18)

# Columns of the printed PoseTrack table: poseval ids averaged per column (docs/posetrack_eval.md).
TABLE_COLUMNS: dict[str, tuple[int, ...]] = {
    "Head": (14, 12, 13), "Shou": (8, 9), "Elb": (7, 10), "Wri": (6, 11),
    "Hip": (2, 3), "Knee": (1, 4), "Ankl": (0, 5),
}


def _flip_pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, n in enumerate(names):
        if n.startswith("left_"):
            pairs.append((i, names.index("right_" + n[len("left_"):])))
    return tuple(pairs)


PT18_FLIP_PAIRS = _flip_pairs(PT18_NAMES)
MODEL_FLIP_PAIRS = _flip_pairs(MODEL_NAMES)


def flip_permutation(names: tuple[str, ...] = MODEL_NAMES) -> np.ndarray:
    """Index array `perm` such that `kpts[..., perm, :]` swaps left and right joints."""
    perm = np.arange(len(names))
    for a, b in _flip_pairs(names):
        perm[a], perm[b] = b, a
    return perm


# Skeleton edges in model order, for drawing.
MODEL_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (1, 3), (1, 4), (3, 5), (5, 7), (4, 6), (6, 8),
    (3, 9), (4, 10), (9, 10), (9, 11), (11, 13), (10, 12), (12, 14),
)
PT18_SKELETON: tuple[tuple[int, int], ...] = tuple(
    (MODEL_TO_PT18[a], MODEL_TO_PT18[b]) for a, b in MODEL_SKELETON)

# OKS sigmas in PT18 order. One definition for the matcher, the losses and the OKS AP. We take the values of the
# official PAVE-Net matcher (OksCost): COCO sigmas with the shoulder value 0.079 for head_bottom and head_top. mmpose
# reuses the eye value 0.025 there, which makes neck and head-top far stricter than the annotation noise of those
# loosely defined points (the official code has two inconsistent tables).
PT18_OKS_SIGMAS = np.array([
    0.026, 0.079, 0.079, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089], dtype=np.float64)
MODEL_OKS_SIGMAS = PT18_OKS_SIGMAS[list(MODEL_TO_PT18)]  # [K]


def pt18_to_model(a: np.ndarray) -> np.ndarray:
    """Select the K=15 model joints from an array whose axis -2 (or -1 for 1-D) holds the 17 PT18 joints."""
    idx = list(MODEL_TO_PT18)
    return a[idx] if a.ndim == 1 else a[..., idx, :]


def model_to_pt18(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Scatter model-order joints `[..., K, D]` (or `[K]`) into PT18 order `[..., 17, D]`; ears get `fill`."""
    if a.ndim == 1:
        out = np.full((NUM_PT18,), fill, dtype=a.dtype)
        out[list(MODEL_TO_PT18)] = a
        return out
    out = np.full(a.shape[:-2] + (NUM_PT18, a.shape[-1]), fill, dtype=a.dtype)
    out[..., list(MODEL_TO_PT18), :] = a
    return out
