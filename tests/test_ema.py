"""EMA of the weights: the update against a hand computation, and the Trainer's use of it (validation, checkpoints,
exact resume, export)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pavenet_lite.checkpoint import export_checkpoint, load_checkpoint
from pavenet_lite.ema import ModelEMA
from pavenet_lite.train import TrainConfig, Trainer
from tests.conftest import FAST_MODEL


def test_update_matches_hand_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.5)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    expected = {k: v.clone().float() for k, v in start.items() if v.dtype.is_floating_point}
    for n in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.randn(5, 3))  # moves the BatchNorm statistics and its integer counter
        d = min(0.5, (1 + n) / (10 + n))  # the ramp: 0.1, 0.18, 0.25, 0.31
        for k, v in model.state_dict().items():
            if k in expected:
                expected[k] = d * expected[k] + (1 - d) * v
        ema.update(model)
    got = ema.model.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, rtol=1e-6, atol=1e-6)
    assert got["1.num_batches_tracked"] == model.state_dict()["1.num_batches_tracked"] == 4
    assert ema.updates == 4 and not any(p.requires_grad for p in ema.model.parameters())


def test_rate_ramps_up_to_the_decay():
    ema = ModelEMA(nn.Linear(1, 1), decay=0.99)
    rates = []
    for _ in range(2000):
        rates.append(ema.rate())
        ema.updates += 1
    assert rates[0] == pytest.approx(0.1) and rates[-1] == 0.99 and rates == sorted(rates)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1])
def test_bad_decay_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(nn.Linear(1, 1), decay)


def _cfg(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), steps=4, batch_size=2, warmup=1, seed=3, val_videos=1,
                progress=False, overrides={**FAST_MODEL, "ema_decay": 0.9}, ckpt_every=1000)
    return TrainConfig(**{**base, **kw})


def test_trainer_validates_and_ships_the_average_and_resumes_exactly(synth_small, tmp_path):
    straight = Trainer(_cfg(synth_small, tmp_path / "a"))
    straight.fit()
    live = straight.model.state_dict()
    avg = straight.ema.model.state_dict()
    assert any(not torch.equal(live[k], avg[k]) for k in live)  # the average is not the trained weights
    state = load_checkpoint(tmp_path / "a" / "last.pt")
    assert all(torch.equal(state["model"][k], avg[k]) for k in avg)
    assert all(torch.equal(state["train_model"][k], live[k]) for k in live)
    assert state["ema_updates"] == 4
    best = load_checkpoint(tmp_path / "a" / "best.pt")  # written by validation, which saw the average
    assert all(torch.equal(best["model"][k], avg[k]) for k in avg)
    slim = load_checkpoint(export_checkpoint(tmp_path / "a" / "last.pt", tmp_path / "slim.pt"))
    assert "train_model" not in slim and all(torch.equal(slim["model"][k], avg[k]) for k in avg)

    interrupted = Trainer(_cfg(synth_small, tmp_path / "b"))
    interrupted.fit(stop_at=2)
    resumed = Trainer(_cfg(synth_small, tmp_path / "b"))
    resumed.fit(resume=True)
    for mine, theirs in ((resumed.model, straight.model), (resumed.ema.model, straight.ema.model)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert [k for k in a if not torch.equal(a[k], b[k])] == []
