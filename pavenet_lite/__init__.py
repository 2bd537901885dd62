"""pavenet_lite: PAVE-Net (pose-aware video transformer) in pure PyTorch, for teaching and reproduction.

The public API, in the order a tensor meets it: data -> model -> matcher/losses -> train -> predict -> evaluation.
Names are imported on first use, so that `pavenet --help` and the data tools start without importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "PAVENetConfig": "pavenet_lite.config", "get_config": "pavenet_lite.config",
    "PAVENet": "pavenet_lite.model", "build_model": "pavenet_lite.model", "postprocess": "pavenet_lite.model",
    "HungarianMatcher": "pavenet_lite.matcher", "SetCriterion": "pavenet_lite.losses",
    "Trainer": "pavenet_lite.train", "TrainConfig": "pavenet_lite.train",
    "Predictor": "pavenet_lite.predict", "render_demo": "pavenet_lite.predict", "write_poses": "pavenet_lite.predict",
    "evaluate_posetrack": "pavenet_lite.evaluation", "run_eval": "pavenet_lite.evaluation",
}
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'pavenet_lite' has no attribute {name!r}")
