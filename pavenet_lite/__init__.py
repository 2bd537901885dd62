"""pavenet_lite: PAVE-Net in pure PyTorch for teaching and reproduction."""
__version__ = "0.1.0"
