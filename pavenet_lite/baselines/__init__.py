"""Baselines that PAVE-Net is compared against: the two-stage (top-down) video pose pipeline."""
from pavenet_lite.baselines.topdown import (TopDownConfig, TopDownPoseEstimator, decode_detections, topdown_loss,
                                            train_topdown)

__all__ = ["TopDownConfig", "TopDownPoseEstimator", "decode_detections", "topdown_loss", "train_topdown"]
