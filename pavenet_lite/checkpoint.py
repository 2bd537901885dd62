"""Checkpoints: written atomically, read with `weights_only=True`, checked against the expected config.

A checkpoint is a plain dict of tensors and primitive containers, so `torch.load(..., weights_only=True)` can read it
without unpickling arbitrary objects:
`{"format": 1, "model": state_dict, "config": PAVENetConfig as dict, "step": int, ...training state...}`.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from pavenet_lite.files import atomic_write, same_file, write_text_atomic

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the model it is loaded into."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write `state` to `path` atomically (`files.atomic_write`): an interrupted save leaves the previous checkpoint
    intact, never a truncated file."""
    atomic_write(path, lambda f: torch.save({"format": FORMAT_VERSION, **state}, f), binary=True)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; raise `CheckpointError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        what = f"a Python object ({found.group(1)})" if found else "Python objects"
        raise CheckpointError(f"{path}: holds {what} besides tensors and plain containers; pavenet_lite reads "
                              f"checkpoints with weights_only=True, so it is not a pavenet_lite checkpoint") from None
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable pavenet_lite checkpoint ({type(e).__name__}: "
                              f"{_first_sentence(e)}); a truncated or foreign file?") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path}: expected a dict with fields 'model' and 'config' (a pavenet_lite checkpoint), "
                              f"found {type(state).__name__} with fields {sorted(state)[:8] if isinstance(state, dict) else '-'}")
    if state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: field 'format' is {state.get('format')!r}, expected {FORMAT_VERSION}")
    return state


def _first_sentence(error: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return text[0].split(". ")[0] if text else type(error).__name__


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """`model.load_state_dict(weights)`, with a mismatch reported in one line naming `path` (which tensors are
    missing, unexpected or of another shape) instead of torch's multi-line listing."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: field 'model' must be a dict of tensors, got {type(weights).__name__}")
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} {list(getattr(weights[k], 'shape', []))} vs {list(v.shape)}" for k, v in own.items()
              if k in weights and getattr(weights[k], "shape", None) != v.shape]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {missing[:2]})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})" if unexpected else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[0]}, checkpoint vs model)" if shapes else ""]
        raise CheckpointError(f"{path}: the weights do not fit the model built from the checkpoint's own config: "
                              + "; ".join(p for p in parts if p) + "; the file's 'config' and 'model' disagree")
    model.load_state_dict(weights)


def check_config_matches(path: str | os.PathLike, saved: dict[str, Any], expected: dict[str, Any]) -> None:
    """Raise `CheckpointError` listing every architecture field where the checkpoint differs from `expected`."""
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs requested {v!r}" for k, v in expected.items() if saved.get(k) != v]
    if diffs:
        raise CheckpointError(f"{path}: checkpoint was trained with a different config: " + "; ".join(diffs))


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """{"path", "bytes", "sha256"} of a weight file, so a card names exactly which file weights came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, card: dict[str, Any] | None = None) -> Path:
    """Keep only what inference needs (model weights, config, step, card) from a training checkpoint.

    The optimizer state is twice the size of the weights; a shipped checkpoint does not need it. The card, if given,
    is also written as readable JSON next to the checkpoint (`dst` with suffix `.json`).
    """
    if same_file(src, dst):
        raise CheckpointError(f"{dst}: is the checkpoint being exported; write the export to another file")
    if card is not None and Path(dst).suffix == ".json":
        raise CheckpointError(f"{dst}: the card is written next to the checkpoint as {Path(dst).name}; "
                              "give the checkpoint another suffix (.pt)")
    state = load_checkpoint(src)
    slim = {"model": state["model"], "config": state["config"], "step": state.get("step")}
    if card is not None:
        slim["card"] = card
    save_checkpoint(slim, dst)
    if card is not None:
        write_text_atomic(json.dumps(card, indent=2), Path(dst).with_suffix(".json"))
    return Path(dst)
