"""Checkpoints: written atomically, read with `weights_only=True`, checked against the expected config.

A checkpoint is a plain dict of tensors and primitive containers, so `torch.load(..., weights_only=True)` can read it
without unpickling arbitrary objects:
`{"format": 1, "model": state_dict, "config": PAVENetConfig as dict, "step": int, ...training state...}`.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the model it is loaded into."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write `state` to `path` atomically: a temp file in the same folder, fsync, then rename over `path`.

    An interrupted save leaves the previous checkpoint intact, never a truncated file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a checkpoint is as readable as any other file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; raise `CheckpointError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable pavenet_lite checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path}: expected a dict with fields 'model' and 'config' (a pavenet_lite checkpoint), "
                              f"found {type(state).__name__} with fields {sorted(state)[:8] if isinstance(state, dict) else '-'}")
    if state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: field 'format' is {state.get('format')!r}, expected {FORMAT_VERSION}")
    return state


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
    state = load_checkpoint(src)
    slim = {"model": state["model"], "config": state["config"], "step": state.get("step")}
    if card is not None:
        slim["card"] = card
    save_checkpoint(slim, dst)
    if card is not None:
        Path(dst).with_suffix(".json").write_text(json.dumps(card, indent=2))
    return Path(dst)
