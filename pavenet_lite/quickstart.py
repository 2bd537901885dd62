"""`pavenet quickstart`: the whole pipeline once, on a laptop CPU, in a few minutes.

1. generate SynthTrack-mini (PoseTrack18 layout) and check it with the evaluator's own loader,
2. render a preview GIF of the ground truth,
3. evaluate the shipped checkpoint on SynthTrack-mini val (the PoseTrack table),
4. render a demo GIF of its predictions on a val video.
"""
from __future__ import annotations

from pathlib import Path

SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "pavenet_tiny_f3.pt"


def quickstart(workdir: str | Path = "runs/quickstart", device: str = "cpu",
               checkpoint: str | Path = SHIPPED_CHECKPOINT) -> dict[str, float] | None:
    """Run the steps above into `workdir`; returns the checkpoint's PoseTrack table (None without a checkpoint)."""
    from pavenet_lite.data.posetrack import read_split
    from pavenet_lite.data.synthtrack import generate_synthtrack
    from pavenet_lite.evaluation import evaluate_posetrack
    from pavenet_lite.files import write_text_atomic
    from pavenet_lite.viz import render_preview_gif

    workdir = Path(workdir)
    root = generate_synthtrack(workdir / "synthtrack-mini", preset="mini", seed=0, progress=True)
    for split in ("train", "val"):
        videos = read_split(root, split)
        frames = sum(len(v.labeled_indices) for v in videos)
        people = sum(len(f.people) for v in videos for f in v.frames)
        # GT scored against itself must give 100 on every joint, or the files break a rule of the protocol.
        check = evaluate_posetrack(videos, _as_predictions(videos)).table["Total"]
        print(f"[1/4] SynthTrack-mini {split}: {len(videos)} videos, {frames} labelled frames, {people} people; "
              f"GT-vs-GT mAP {check:.1f}")
    preview = render_preview_gif(root, "val", workdir / "preview.gif")
    print(f"[2/4] ground-truth preview: {preview}")

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        print(f"[3/4] no checkpoint at {checkpoint}: train one with `pavenet train` (see README)")
        return None
    from pavenet_lite.predict import Predictor, render_demo

    predictor = Predictor.from_checkpoint(checkpoint, device=device)
    result = predictor.evaluate(root, "val", progress=True)
    print(f"[3/4] {checkpoint.name} on SynthTrack-mini val (PoseTrack mAP, poseval protocol):")
    print(result.format_table())
    write_text_atomic(result.to_json() + "\n", workdir / "mini_val_map.json")
    first_val = sorted((root / "images" / "val").iterdir())[0]
    demo = render_demo(predictor, first_val, workdir / "demo.gif", progress=False)
    print(f"[4/4] demo: {demo}")
    return result.table


def _as_predictions(videos):
    """GT videos as prediction videos: every annotated joint predicted where it is, with score 1."""
    from dataclasses import replace

    import numpy as np

    from pavenet_lite.data.annotations import Frame, Video

    return [Video(v.name, [Frame(f.file_name, f.image_id, f.is_labeled,
                                 [replace(p, scores=np.ones(len(p.keypoints)), score=1.0) for p in f.people])
                           for f in v.frames]) for v in videos]
