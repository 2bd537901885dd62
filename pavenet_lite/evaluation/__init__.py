"""Evaluation: PoseTrack per-joint mAP as the official poseval computes it, OKS AP, and prediction files."""
from __future__ import annotations

from pavenet_lite.evaluation.breakdown import joint_recall_breakdown
from pavenet_lite.evaluation.drawn import drawn_skeletons
from pavenet_lite.evaluation.oks_ap import evaluate_oks_ap
from pavenet_lite.evaluation.posetrack_map import EvaluationError, PoseTrackAP, evaluate_posetrack, run_eval
from pavenet_lite.evaluation.writer import PredictionWriteError, write_predictions

__all__ = ["EvaluationError", "PoseTrackAP", "evaluate_posetrack", "run_eval", "evaluate_oks_ap",
           "PredictionWriteError", "write_predictions", "joint_recall_breakdown",
           "drawn_skeletons"]
