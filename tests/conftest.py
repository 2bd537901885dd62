"""Shared fixtures: one small SynthTrack dataset per test session, and a shrunken `tiny` model config."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pavenet_lite.data.synthtrack import generate_synthtrack, preset_with

# `tiny` shrunk further so that a training step takes a fraction of a second on 2 cores.
FAST_MODEL = dict(max_size=96, num_queries=12, num_refine=4)


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory) -> Path:
    """SynthTrack: 2 train + 1 val videos of 8 frames, 2-3 people (seed 0)."""
    preset = preset_with("mini", n_train=2, n_val=1, frames=8, people=(2, 3))
    return generate_synthtrack(tmp_path_factory.mktemp("synth") / "small", preset, seed=0, progress=False, workers=1)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """On 2 cores shared with other processes, 2 OpenMP threads stall each other (up to 37x slower): use 1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
