"""Baselines that PAVE-Net is compared against: the two-stage (top-down) video pose pipeline."""
from pavenet_lite.baselines.topdown import (TopDownConfig, TopDownPoseEstimator, box_crops, decode_detections,
                                            decode_heatmaps, keypoint_targets, topdown_loss, train_topdown)

__all__ = ["TopDownConfig", "TopDownPoseEstimator", "box_crops", "decode_detections", "decode_heatmaps",
           "keypoint_targets", "topdown_loss", "train_topdown"]
