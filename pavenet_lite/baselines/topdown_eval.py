"""Accuracy of the two-stage baseline on a PoseTrack-layout split, through the same evaluator as PAVE-Net.

The baseline returns people in edge-based normalised coordinates, like PAVE-Net's outputs, so the same conversion to
original-frame pixels (`normalised_to_pixels`) and the same prediction `Person`s feed `evaluate_posetrack` and
`joint_recall_breakdown`: the two systems are scored by identical code.
"""
from __future__ import annotations

from pathlib import Path

import torch

from pavenet_lite.baselines.topdown import TopDownPoseEstimator
from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.data.posetrack import read_split
from pavenet_lite.evaluation.writer import person_from_model
from pavenet_lite.keypoint_ops import normalised_to_pixels
from pavenet_lite.predict import prediction_videos


@torch.no_grad()
def predict_split_topdown(model: TopDownPoseEstimator, root: str | Path, split: str = "val",
                          max_videos: int | None = None, batch_size: int = 8) -> tuple[list[Video], list[Video]]:
    """(GT videos, prediction videos) for every labelled frame of a split; people ranked by detection score."""
    model.eval()
    videos = read_split(root, split)[:max_videos]
    data = PoseTrackClips(root, split, num_frames=model.cfg.num_frames, max_size=model.cfg.max_size, train=False,
                          videos=videos)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, collate_fn=collate_clips,
                                         generator=torch.Generator())
    people: dict[str, list[list[Person]]] = {v.name: [[] for _ in v.frames] for v in videos}
    for clips, masks, targets in loader:
        for t, out in zip(targets, model(clips, masks)):
            h, w = (float(s) for s in t["orig_size"])
            kpts = normalised_to_pixels(out["keypoints"], w, h, clamp=True)          # [n, K, 2]
            scores = out["scores"][:, None] * out["keypoint_scores"].clamp(0, 1)     # [n, K]
            people[t["video"]][t["frame_index"]] = [
                person_from_model(kpts[i].numpy(), scores[i].numpy(), track_id=i, score=float(out["scores"][i]))
                for i in range(len(kpts))]
    return videos, prediction_videos(videos, people)
