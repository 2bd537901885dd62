"""The `pavenet` command: parse arguments, call the Python API, print results. Nothing else lives here.

Subcommands: quickstart, synth, train, export, convert, predict, eval, demo, docs. `python -m pavenet_lite ...` is
the same command, and `torchrun --nproc_per_node=G -m pavenet_lite train ...` trains with DDP.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path


def _synth(a: argparse.Namespace) -> None:
    from pavenet_lite.data.synthtrack import generate_synthtrack

    t0 = time.perf_counter()
    root = generate_synthtrack(a.out, preset=a.preset, seed=a.seed, progress=not a.quiet, overwrite=a.force)
    print(f"SynthTrack '{a.preset}' (seed {a.seed}) written to {root} in {time.perf_counter() - t0:.1f} s")


def _train(a: argparse.Namespace) -> None:
    from pavenet_lite.run_card import prepare_run_dir
    from pavenet_lite.train import TrainConfig, Trainer

    overrides = parse_overrides(a.set)
    check_device(a.device)
    prepare_run_dir(a.out, resume=a.resume, force=a.force)
    tcfg = TrainConfig(data=a.data, out=a.out, config=a.config, frames=a.frames, steps=a.steps, epochs=a.epochs,
                       batch_size=a.batch_size, accum=a.accum, lr=a.lr, device=a.device, amp=a.amp,
                       amp_dtype=a.amp_dtype, seed=a.seed, val_every=a.val_every, val_videos=a.val_videos,
                       ckpt_every=a.ckpt_every, num_workers=a.workers, warmup=a.warmup, lr_drop=a.lr_drop,
                       init_from=a.init_from, backbone_weights=a.backbone_weights, train_videos=a.train_videos,
                       video_list=a.video_list, overrides=overrides)
    trainer = Trainer(tcfg)
    history = trainer.fit(resume=a.resume)
    vals = [h for h in history if "val_map" in h]
    if vals and trainer.rank == 0:
        print(f"step {vals[-1]['step']}: val Total mAP {vals[-1]['val_map']:.1f}; checkpoints in {a.out}")


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`["max_size=96", "lr_mult_keywords=backbone,sampling_offsets"]` -> config overrides, each value converted to
    its `PAVENetConfig` field's type (`config.parse_field`); a value of the wrong type raises `ValueError`."""
    from pavenet_lite.config import parse_field

    out: dict[str, object] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"--set {pair!r}: expected FIELD=VALUE")
        if key == "num_frames":
            raise ValueError(f"--set {pair}: the number of frames is set with --frames")
        try:
            out[key] = parse_field(key, value)
        except ValueError as e:
            raise ValueError(f"--set {e}") from None
    return out


def check_device(name: str) -> None:
    """Raise `ValueError` unless `name` is a device this PyTorch can run on (before any work starts)."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r}: expected cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: no CUDA device is usable by this PyTorch ({torch.__version__}, "
                             "torch.cuda.is_available() is False); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {name!r}: expected cpu, cuda, cuda:N or mps")


def _predict(a: argparse.Namespace) -> None:
    from pavenet_lite.predict import Predictor, check_prediction_dir

    check_device(a.device)
    check_prediction_dir(a.data, a.split, a.out, overwrite=a.force)
    predictor = Predictor.from_checkpoint(a.checkpoint, device=a.device, oks_nms=a.oks_nms)
    out = predictor.predict_posetrack(a.data, a.split, a.out, progress=not a.quiet)
    print(f"predictions for {len(out)} videos written to {a.out}")


def _eval(a: argparse.Namespace) -> None:
    from pavenet_lite.evaluation import run_eval

    run_eval(a.gt, a.pred, json_out=a.json)


def _demo(a: argparse.Namespace) -> None:
    from pavenet_lite.predict import DEMO_THRESHOLD, Predictor, render_demo

    check_device(a.device)
    predictor = Predictor.from_checkpoint(a.checkpoint, device=a.device)
    threshold = DEMO_THRESHOLD if a.threshold is None else a.threshold
    path = render_demo(predictor, a.video, a.out, threshold=threshold, fps=a.fps, max_frames=a.max_frames,
                       poses_out=a.poses)
    print(f"demo written to {path}" + (f", poses to {a.poses}" if a.poses else ""))


def _export(a: argparse.Namespace) -> None:
    from pavenet_lite.checkpoint import export_checkpoint
    from pavenet_lite.files import OutputError, check_output_file, read_json, refuse_existing
    from pavenet_lite.run_card import RUN_FILES

    run, out = Path(a.run), check_output_file(a.out, "checkpoint")
    if out.parent.resolve() == run.resolve() and out.name in RUN_FILES:
        raise OutputError(f"{out}: is a file of the run itself; export to a file outside its run files")
    if not a.force:
        refuse_existing([out, out.with_suffix(".json")], "an exported checkpoint or card", "pass --force to replace")
    card = read_json(run / "card.json", "a run card") if (run / "card.json").exists() else None
    out = export_checkpoint(run / a.which, out, card=card)
    print(f"exported {run / a.which} -> {out} ({out.stat().st_size / 1e6:.1f} MB)")


def _convert(a: argparse.Namespace) -> None:
    from pavenet_lite.official_weights import KINDS, convert_checkpoint

    kind, src = a.source
    if kind not in KINDS:
        raise ValueError(f"--from {kind}: expected one of {', '.join(KINDS)}")
    conversion = convert_checkpoint(src, kind, a.out, frames=a.frames)
    print(conversion.report())
    print(f"written to {a.out}")


def _docs(a: argparse.Namespace) -> None:
    from pavenet_lite.docs_site import render_site

    pages = render_site(a.notebooks, a.out, progress=True)
    print(f"{len(pages)} pages written to {a.out} (open {Path(a.out) / 'index.html'})")


def _quickstart(a: argparse.Namespace) -> None:
    from pavenet_lite.quickstart import quickstart

    check_device(a.device)
    quickstart(a.workdir, device=a.device)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pavenet", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quickstart", help="generate SynthTrack-mini, evaluate the shipped checkpoint, render a demo")
    q.add_argument("--workdir", default="runs/quickstart")
    q.add_argument("--device", default="cpu")
    q.set_defaults(func=_quickstart)

    s = sub.add_parser("synth", help="write a SynthTrack dataset in the PoseTrack18 layout")
    s.add_argument("--out", required=True)
    s.add_argument("--preset", default="mini", choices=["mini", "default", "crowd", "hard"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--force", action="store_true",
                   help="OUT holds other data: delete its images/, annotations/ and manifest, then generate")
    s.set_defaults(func=_synth)

    t = sub.add_parser("train", help="train PAVE-Net on a PoseTrack-format dataset")
    t.add_argument("--config", default="tiny", choices=["tiny", "small", "paper"])
    t.add_argument("--data", required=True, help="dataset root with annotations/{train,val} and images/")
    t.add_argument("--out", required=True, help="run directory: checkpoints and metrics.jsonl")
    t.add_argument("--frames", type=int, default=3, help="F = 2T+1 frames per clip (1 = image-only baseline)")
    n = t.add_mutually_exclusive_group(required=True)
    n.add_argument("--steps", type=_at_least(1))
    n.add_argument("--epochs", type=_at_least(1))
    t.add_argument("--batch-size", type=_at_least(1), default=4)
    t.add_argument("--accum", type=_at_least(1), default=1, help="micro-batches per optimizer step")
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--warmup", type=_at_least(0), default=50, help="linear warm-up steps")
    t.add_argument("--lr-drop", type=float, default=0.8, help="fraction of the run after which the lr is x0.1")
    t.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from these weights; a checkpoint with another F (e.g. the F=1 image model) is inflated")
    t.add_argument("--backbone-weights", default=None, metavar="PTH",
                   help="start the backbone from a torchvision ImageNet ResNet state dict on disk (small / paper)")
    v = t.add_mutually_exclusive_group()
    v.add_argument("--train-videos", type=int, default=None, metavar="N",
                   help="train on N videos spread evenly over the split's sorted file names")
    v.add_argument("--video-list", default=None, metavar="FILE", help="train on the videos named in FILE, one a line")
    t.add_argument("--device", default="cpu")
    t.add_argument("--amp", action="store_true", help="mixed precision on CUDA")
    t.add_argument("--amp-dtype", default="bf16", choices=["bf16", "fp16"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--val-every", type=_at_least(0), default=0, help="validate every N steps (0: only at the end)")
    t.add_argument("--val-videos", type=_at_least(1), default=None, help="validate on the first N val videos")
    t.add_argument("--ckpt-every", type=_at_least(1), default=100,
                   help="write RUN_DIR/last.pt every N steps (also before and after every validation)")
    t.add_argument("--workers", type=_at_least(0), default=0)
    o = t.add_mutually_exclusive_group()
    o.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt (which must exist)")
    o.add_argument("--force", action="store_true", help="RUN_DIR holds a run: delete it and start over")
    t.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override PAVENetConfig fields")
    t.set_defaults(func=_train)

    r = sub.add_parser("predict", help="write PoseTrack18 prediction files for a split")
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--split", default="val")
    r.add_argument("--out", required=True)
    r.add_argument("--device", default="cpu")
    r.add_argument("--oks-nms", action="store_true",
                   help="remove duplicates with OKS-NMS as the July-2025 official code does (PAVE-Net is NMS-free)")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--force", action="store_true", help="replace prediction files already in OUT")
    r.set_defaults(func=_predict)

    e = sub.add_parser("eval", help="PoseTrack per-joint AP, as the official poseval computes it")
    e.add_argument("--gt", required=True, help="folder of GT JSON files (PoseTrack17 or 18/21)")
    e.add_argument("--pred", required=True, help="folder of prediction JSON files, same names")
    e.add_argument("--json", default=None, help="write {per_joint, table} to this file")
    e.set_defaults(func=_eval)

    x = sub.add_parser("export", help="slim a run's checkpoint (weights + config + card) for sharing")
    x.add_argument("--run", required=True, help="run directory written by `pavenet train`")
    x.add_argument("--which", default="best.pt", choices=["best.pt", "last.pt"])
    x.add_argument("--out", required=True)
    x.add_argument("--force", action="store_true", help="replace OUT (and its .json card) if they exist")
    x.set_defaults(func=_export)

    c = sub.add_parser("convert", help="the authors' PAVE-Net or PETR checkpoint -> a 'paper' checkpoint")
    c.add_argument("--from", dest="source", nargs=2, required=True, metavar=("KIND", "CKPT"),
                   help="official-pavenet (PoseTrack, F = 3) or official-petr (COCO, R50), and the file you have")
    c.add_argument("--out", required=True, help="pavenet_lite checkpoint to write")
    c.add_argument("--frames", type=int, default=3, help="F of the result (PETR's image weights are inflated)")
    c.set_defaults(func=_convert)

    h = sub.add_parser("docs", help="render the notebooks (with their outputs) to static HTML, no CDN")
    h.add_argument("--notebooks", default="notebooks")
    h.add_argument("--out", default="docs/site")
    h.set_defaults(func=_docs)

    d = sub.add_parser("demo", help="skeleton overlay video from a frames folder, GIF or MP4")
    d.add_argument("--checkpoint", required=True)
    d.add_argument("--video", required=True)
    d.add_argument("--out", required=True, help="output .gif or .mp4")
    d.add_argument("--threshold", type=float, default=None,
                   help="draw people whose score reaches this (default 0.3, as the official video demo)")
    d.add_argument("--fps", type=float, default=8.0)
    d.add_argument("--max-frames", type=_at_least(1), default=None)
    d.add_argument("--poses", default=None, metavar="OUT.json|OUT.csv",
                   help="also write the drawn people's keypoints per frame (person = rank in its frame, no tracking)")
    d.add_argument("--device", default="cpu")
    d.set_defaults(func=_demo)
    return p


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return parse


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        # Warnings are part of the answer (e.g. mis-paired prediction frames): one plain line each on stderr.
        warnings.showwarning = lambda message, *_, **__: print(
            f"pavenet {args.command}: warning: {_one_line(message)}", file=sys.stderr)
        try:
            args.func(args)
        except (ValueError, OSError) as e:
            # Input errors carry a message naming the file and field; a traceback would only hide it. OSErrors from
            # the file system (permissions, a full disk) name their file in `filename`.
            text = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename and e.strerror else str(e)
            print(f"pavenet {args.command}: error: {_one_line(text)}", file=sys.stderr)
            raise SystemExit(2) from None


if __name__ == "__main__":
    main()
