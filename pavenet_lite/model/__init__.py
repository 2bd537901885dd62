"""PAVE-Net model: `build_model(cfg)` -> `PAVENet`; `postprocess` turns outputs into people in pixels."""
from pavenet_lite.model.backbone import BackboneWeightsError, load_backbone_weights
from pavenet_lite.model.flow import RealNVP
from pavenet_lite.model.pavenet import PAVENet, build_model
from pavenet_lite.model.postprocess import postprocess

__all__ = ["PAVENet", "build_model", "postprocess", "RealNVP", "load_backbone_weights", "BackboneWeightsError"]
