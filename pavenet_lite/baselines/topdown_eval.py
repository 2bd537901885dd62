"""Accuracy of the two-stage baseline on a PoseTrack-layout split, through the same evaluator as PAVE-Net.

The baseline returns people in edge-based normalised coordinates, like PAVE-Net's outputs, so the same conversion to
original-frame pixels (`keypoint_ops.normalised_to_pixels`), the same loop over labelled frames
(`predict.predict_labelled_frames`) and the same prediction `Person`s feed `evaluate_posetrack` and
`joint_recall_breakdown`: the two systems are scored by identical code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pavenet_lite.baselines.topdown import TopDownPoseEstimator
from pavenet_lite.data.annotations import Person, Video, person_from_model
from pavenet_lite.data.posetrack import read_split
from pavenet_lite.keypoint_ops import normalised_to_pixels
from pavenet_lite.predict import predict_labelled_frames, prediction_videos


def topdown_persons(outputs: list[dict[str, Any]], orig_sizes: torch.Tensor) -> list[list[Person]]:
    """The baseline's outputs of B clips (per clip "keypoints" `[n, K, 2]` normalised, "scores" `[n]`,
    "keypoint_scores" `[n, K]`) and the original sizes `[B, 2]` (h, w) -> per clip its people, ranked as given."""
    people = []
    for out, size in zip(outputs, orig_sizes):
        h, w = (float(s) for s in size)
        kpts = normalised_to_pixels(out["keypoints"], w, h, clamp=True)          # [n, K, 2] px
        scores = out["scores"][:, None] * out["keypoint_scores"].clamp(0, 1)     # [n, K]
        people.append([person_from_model(kpts[i].numpy(), scores[i].numpy(), track_id=i,
                                         score=float(out["scores"][i])) for i in range(len(kpts))])
    return people


@torch.no_grad()
def predict_split_topdown(model: TopDownPoseEstimator, root: str | Path, split: str = "val",
                          max_videos: int | None = None, batch_size: int = 8) -> tuple[list[Video], list[Video]]:
    """(GT videos, prediction videos) for every labelled frame of a split; people ranked by detection score."""
    model.eval()
    videos = read_split(root, split)[:max_videos]
    people = predict_labelled_frames(lambda clips, masks, sizes: topdown_persons(model(clips, masks), sizes),
                                     root, split, videos, model.cfg.num_frames, model.cfg.max_size, batch_size)
    return videos, prediction_videos(videos, people)
