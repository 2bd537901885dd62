"""Trainer: exact resume, atomic checkpoints, config mismatch errors, DDP replicas on gloo."""
from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from pavenet_lite.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pavenet_lite.data.clips import collate_clips
from pavenet_lite.data.sampling import ClipOrder, RunOrder
from pavenet_lite.data.transforms import AUGMENTATIONS
from pavenet_lite.train import TrainConfig, Trainer
from tests.conftest import FAST_MODEL


def _cfg(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), steps=4, batch_size=2, warmup=1, seed=3, val_videos=1,
                progress=False, overrides=dict(FAST_MODEL), ckpt_every=1000)
    return TrainConfig(**{**base, **kw})


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(synth_small, tmp_path):
    straight = Trainer(_cfg(synth_small, tmp_path / "a"))
    straight.fit()
    interrupted = Trainer(_cfg(synth_small, tmp_path / "b"))
    interrupted.fit(stop_at=2)
    assert interrupted.step == 2 and (tmp_path / "b" / "last.pt").exists()
    resumed = Trainer(_cfg(synth_small, tmp_path / "b"))  # a fresh process would build exactly this
    resumed.fit(resume=True)
    assert resumed.step == 4
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ after resume: {different[:5]}"
    # And training did something: the weights moved away from the initialisation.
    init = _weights(Trainer(_cfg(synth_small, tmp_path / "c")))
    assert any(not torch.equal(init[k], a[k]) for k in a)


def test_metrics_and_checkpoints_are_written(synth_small, tmp_path):
    trainer = Trainer(_cfg(synth_small, tmp_path, steps=2, log_every=1))
    history = trainer.fit()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(history) == 3  # two training rows + one validation row
    assert "loss" in history[0] and "val_map" in history[-1] and 0.0 <= history[-1]["val_map"] <= 100.0
    assert all(0.0 <= row["data_s"] <= row["step_s"] for row in history[:2])  # loader wait is part of a step
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == 2 and state["config"]["max_size"] == FAST_MODEL["max_size"]
    assert (tmp_path / "best.pt").exists()


def test_resume_with_another_config_fails_clearly(synth_small, tmp_path):
    Trainer(_cfg(synth_small, tmp_path, steps=1)).fit()
    other = Trainer(_cfg(synth_small, tmp_path, frames=1, steps=2))
    with pytest.raises(CheckpointError, match=r"last\.pt.*num_frames: checkpoint 3 vs requested 1"):
        other.fit(resume=True)


def test_resume_from_a_checkpoint_written_before_a_config_field_existed(synth_small, tmp_path):
    Trainer(_cfg(synth_small, tmp_path, steps=1)).fit()
    state = load_checkpoint(tmp_path / "last.pt")
    del state["config"]["pose_anchor"]  # as written by pavenet_lite before the centre-anchored ablation
    save_checkpoint(state, tmp_path / "last.pt")
    resumed = Trainer(_cfg(synth_small, tmp_path, steps=2))
    resumed.fit(resume=True)
    assert resumed.step == 2
    state["config"]["pose_anchor"] = "centre"
    save_checkpoint(state, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match=r"pose_anchor: checkpoint 'centre' vs requested 'per_frame'"):
        Trainer(_cfg(synth_small, tmp_path, steps=3)).fit(resume=True)


def test_trainer_feeds_the_neighbour_term_its_targets(synth_small, tmp_path):
    trainer = Trainer(_cfg(synth_small, tmp_path, steps=1, log_every=1, overrides={**FAST_MODEL, "loss_neighbour": 1.0}))
    history = trainer.fit()
    assert trainer.dataset.with_frame_targets and history[0]["loss_neighbour_frames"] > 0


@pytest.mark.parametrize("augment", ["full", "light"])
def test_trainer_uses_the_configured_augmentation(synth_small, tmp_path, augment):
    trainer = Trainer(_cfg(synth_small, tmp_path, overrides={**FAST_MODEL, "augment": augment}))
    assert trainer.dataset.transform.cfg == AUGMENTATIONS[augment]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}, "config": {}}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"model": {"w": torch.zeros(2)}, "config": {}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", None])
def test_bad_checkpoint_files_name_the_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(path)


def test_checkpoint_without_model_field(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="expected a dict with fields 'model' and 'config'"):
        load_checkpoint(path)


def test_clip_order_shards_cover_the_epoch_once():
    shards = [list(ClipOrder(10, seed=1, epoch=2, rank=r, world=3)) for r in range(3)]
    assert all(len(s) == 4 for s in shards)  # ceil(10 / 3), padded by repetition like DistributedSampler
    assert set().union(*map(set, shards)) == set(range(10))
    assert list(ClipOrder(10, 1, 2)) != list(ClipOrder(10, 1, 3))  # a new order every epoch
    assert list(ClipOrder(10, 1, 2, start=4)) == list(ClipOrder(10, 1, 2))[4:]


def _ddp_worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainer = Trainer(_cfg(data, out, steps=2, batch_size=1, val_every=0))
    trainer.fit(stop_at=2)  # no validation: it runs on rank 0 alone
    flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    torch.save(flat, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def _epoch_by_epoch_batches(dataset, seed, batch, steps_per_epoch, start_step, count):
    """Reference: one shuffled, drop_last pass per epoch after `set_epoch`, as a per-epoch loader would give."""
    out, (epoch, offset) = [], divmod(start_step, steps_per_epoch)
    while len(out) < count:
        dataset.set_epoch(epoch)
        order = list(ClipOrder(len(dataset), seed, epoch, start=offset * batch))
        for s in range(steps_per_epoch - offset):
            out.append([dataset[i] for i in order[s * batch:(s + 1) * batch]])
        epoch, offset = epoch + 1, 0
    return out[:count]


@pytest.mark.parametrize("start_step", [0, 3])
def test_one_loader_gives_the_batches_of_epoch_by_epoch_loaders(synth_small, tmp_path, start_step):
    trainer = Trainer(_cfg(synth_small, tmp_path, batch_size=3))
    trainer.step = start_step
    spe = trainer.steps_per_epoch
    assert 2 <= spe < 8  # the batches below cross at least one epoch boundary
    count = 2 * spe
    reference = _epoch_by_epoch_batches(trainer.dataset, 3, 3, spe, start_step, count)
    batches = trainer._batches()
    for step, expected in enumerate(reference):
        clips, masks, targets = next(batches)
        ref_clips, ref_masks, _ = collate_clips(expected)
        assert torch.equal(clips, ref_clips) and torch.equal(masks, ref_masks), step
        assert [(t["video"], t["frame_index"]) for t in targets] == [(t["video"], t["frame_index"])
                                                                     for _, t in expected]
        for t, (_, e) in zip(targets, expected):
            assert torch.equal(t["keypoints"], e["keypoints"])
    assert next(iter(RunOrder(10, 1, 0, 1, 2, 5, start_step=7))) == 10 + list(ClipOrder(10, 1, 1))[4]


def test_a_batch_larger_than_the_train_split_fails_clearly(synth_small, tmp_path):
    with pytest.raises(ValueError, match=r"train split has \d+ labelled clips, fewer than one optimizer step takes"):
        Trainer(_cfg(synth_small, tmp_path, batch_size=10_000))


def test_loader_workers_give_the_same_batches(synth_small, tmp_path):
    batches = [Trainer(_cfg(synth_small, tmp_path / str(w), batch_size=2, num_workers=w))._batches() for w in (0, 2)]
    for _ in range(3):
        (a, _, ta), (b, _, tb) = next(batches[0]), next(batches[1])
        assert torch.equal(a, b) and all(torch.equal(x["keypoints"], y["keypoints"]) for x, y in zip(ta, tb))


def test_ddp_replicas_stay_identical_on_gloo(synth_small, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(synth_small), str(tmp_path)), nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert torch.equal(w0, w1)
    init = torch.cat([p.detach().flatten() for p in Trainer(_cfg(synth_small, tmp_path / "x")).model.parameters()])
    assert not torch.equal(w0, init)


def test_resume_drops_metrics_logged_after_the_checkpoint(synth_small, tmp_path):
    Trainer(_cfg(synth_small, tmp_path, log_every=1)).fit(stop_at=2)
    with open(tmp_path / "metrics.jsonl", "a") as f:  # a crash after step 2 would have logged step 3 already
        f.write('{"step": 3, "loss": 1.0}\n')
    Trainer(_cfg(synth_small, tmp_path, log_every=1)).fit(resume=True)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    # The clock continues across the resume: times never go back, and the card's wall time covers both processes.
    times = [r["time"] for r in rows]
    assert times == sorted(times) and times[2] > times[1] > 0
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["wall_time_s"] >= round(times[-1], 1) - 0.1 and card["learning_curve"][-1][1] == rows[-1]["time"]


def test_export_keeps_weights_config_and_card_only(synth_small, tmp_path):
    from pavenet_lite.checkpoint import export_checkpoint

    trainer = Trainer(_cfg(synth_small, tmp_path / "run", steps=1))
    trainer.fit()
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["steps"] == 1 and card["command"].startswith("pavenet train --config tiny")
    export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "slim.pt", card=card)
    slim = load_checkpoint(tmp_path / "slim.pt")
    assert set(slim) == {"format", "model", "config", "step", "card"}
    assert all(torch.equal(slim["model"][k], v) for k, v in trainer.eval_model().state_dict().items())
    assert json.loads((tmp_path / "slim.json").read_text()) == card
