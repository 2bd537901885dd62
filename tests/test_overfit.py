"""Overfit one SynthTrack clip with the `tiny` model: the first proof that model, matcher and losses fit together.

RLE is a negative log-likelihood that goes below zero once sigma shrinks, so "the loss drops 5x" is checked on the
parts that are bounded below by zero: the classification terms (summed) and the L1 error of the matched keypoints.
The accuracy check uses the PoseTrack threshold: a joint is correct within 0.5 * headSize = 0.3 head-box diagonals.
Seeds 0-6 all pass these checks (about 1 minute each on one core); a few joints of the pose-decoder output can stay
just outside 0.3 after 300 steps, so the 90 % check applies to the refined output, the model's final answer.
"""
from __future__ import annotations

import numpy as np
import torch

from pavenet_lite.config import PAVENetConfig
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.data.synthtrack import generate_synthtrack, preset_with
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model

STEPS, LR, MAX_SIZE, SEED = 300, 2e-3, 96, 2


def synthtrack_clip(root):
    """One fixed clip (F = 3, two people) and the head-box diagonal of each GT person in clip pixels."""
    generate_synthtrack(root, preset_with("mini", n_train=1, n_val=0, frames=4, people=(2, 2)), seed=0,
                        progress=False, workers=1)
    ds = PoseTrackClips(root, "train", num_frames=3, max_size=MAX_SIZE, train=False)
    clips, masks, targets = collate_clips([ds[0]])
    (h, w), (oh, ow) = targets[0]["size"].tolist(), targets[0]["orig_size"].tolist()
    video, centre = ds.videos[ds.samples[0][0]], ds.samples[0][1]
    head_boxes = {p.track_id: p.head_box for p in video.frames[centre].people}
    diag = [np.hypot((b[2] - b[0]) * w / ow, (b[3] - b[1]) * h / oh)
            for b in (head_boxes[int(t)] for t in targets[0]["track_ids"])]
    return clips, masks, targets, torch.tensor(diag, dtype=torch.float32)


def matched_errors(outputs, criterion, targets):
    """Joint errors in clip pixels of the matched last-layer and refined poses: two `[G, K]`, rows in GT order."""
    (qi, gi), = criterion.matcher(outputs, targets)
    h, w = targets[0]["size"].tolist()
    scale = torch.tensor([w, h], dtype=torch.float32)
    gt = targets[0]["keypoints"][gi]
    pose = ((outputs["pred_keypoints"][0, qi] - gt) * scale).norm(dim=-1)
    row = {q: r for r, q in enumerate(outputs["refine_query_index"].tolist())}
    refined = outputs["refine_outputs"][-1]["pred_keypoints"][[row[q] for q in qi.tolist()]]
    refine = ((refined - gt) * scale).norm(dim=-1)
    order = gi.argsort()
    return pose[order], refine[order]


def overfit(clips, masks, targets, seed=SEED, steps=STEPS):
    torch.manual_seed(seed)
    cfg = PAVENetConfig.tiny(enc_layers=1, num_queries=10)  # fewer layers and queries: a faster CPU test
    model = build_model(cfg)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0, foreach=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + np.cos(np.pi * i / steps)))
    history = []
    for _ in range(steps):
        outputs = model(clips, masks, select=criterion.selector(targets))
        terms = criterion(outputs, targets, model.flows)
        optimizer.zero_grad()
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        schedule.step()
        history.append({k: v.item() for k, v in terms.items()})
        if len(history) == 1:
            first_errors = matched_errors(outputs, criterion, targets)
    model.eval()
    with torch.no_grad():
        outputs = model(clips, masks, select=criterion.selector(targets))
        final = {k: v.item() for k, v in criterion(outputs, targets, model.flows).items()}
    return history, final, first_errors, matched_errors(outputs, criterion, targets)


def test_tiny_model_overfits_one_synthtrack_clip(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops: more threads only add overhead (and spin badly on a loaded machine)
    try:
        clips, masks, targets, diag = synthtrack_clip(tmp_path)
        history, final, (pose0, _), (pose, refine) = overfit(clips, masks, targets)
    finally:
        torch.set_num_threads(threads)
    ann = targets[0]["annotated"]
    assert all(np.isfinite(list(h.values())).all() for h in history)

    def cls_sum(terms):
        return sum(v for k, v in terms.items() if k.startswith("loss_cls_"))

    assert cls_sum(final) <= cls_sum(history[0]) / 5
    assert final["loss"] < history[0]["loss"]
    assert pose[ann].mean() <= pose0[ann].mean() / 5
    pose, refine = pose / diag[:, None], refine / diag[:, None]             # [G, K] in head-box diagonals
    assert pose[ann].mean() < 0.1 and refine[ann].mean() < 0.1
    assert (refine[ann] <= 0.3).float().mean() >= 0.9                       # the model's final output
