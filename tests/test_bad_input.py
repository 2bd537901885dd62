"""Hostile and careless input, through the `pavenet` command: a one-line error (exit 2) naming the file, or a loud
warning where the numbers stay poseval's, and never a changed file. Plus: a run killed with SIGKILL and resumed
ends bit-identical to the run that was never interrupted.

Each row of `CASES` is one case: the command, the exit code, a phrase of the message, and the files that must not
change. Every row runs with the model and the training step booby-trapped: a check that can be made before the
long work must be made before it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest
import torch

from pavenet_lite.checkpoint import load_checkpoint, save_checkpoint
from pavenet_lite.cli import main
from pavenet_lite.config import PAVENetConfig
from pavenet_lite.data.annotations import Frame, Video
from pavenet_lite.data.posetrack import read_split, read_video
from pavenet_lite.data.image_ids import posetrack18_image_id
from pavenet_lite.data.posetrack_writer import write_video
from pavenet_lite.evaluation import write_predictions
from pavenet_lite.model import build_model
from pavenet_lite.predict import Predictor
from pavenet_lite.quickstart import SHIPPED_CHECKPOINT, _as_predictions
from pavenet_lite.train import Trainer

REPO = Path(__file__).resolve().parents[1]
# A model small enough that a training step takes a few tens of milliseconds on one core.
TINY = ["--set", "max_size=64", "num_queries=6", "num_refine=3", "enc_layers=1", "pose_layers=1"]


class Pickled:
    """Any class: a checkpoint holding an instance of it needs full unpickling (weights_only=False) to load."""


def _train_args(data: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--steps", str(steps), "--batch-size", "2",
            "--warmup", "1", "--val-videos", "1", "--seed", "5", *extra, *TINY]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _renamed(video: Video, seq: int) -> Video:
    """`video` as another sequence (folder NNNNNN_mpii_test, image ids to match), frames in reverse order."""
    frames = []
    for f, src in zip(video.frames, reversed(video.frames)):
        parts = f.file_name.split("/")
        parts[-2] = f"{seq:06d}_mpii_test"
        name = "/".join(parts)
        frames.append(Frame(name, posetrack18_image_id(name), src.is_labeled, src.people))
    return Video(f"{seq:06d}_mpii_test", frames)


@pytest.fixture(scope="module")
def w(synth_small, tmp_path_factory) -> SimpleNamespace:
    """Every input the cases need, built once. Cases must leave all of it unchanged (and are checked for that)."""
    base = tmp_path_factory.mktemp("bad_input")
    gt_dir = synth_small / "annotations" / "val"
    w = SimpleNamespace(data=synth_small, gt=gt_dir, shipped=SHIPPED_CHECKPOINT, exported=base / "exported.pt")
    shutil.copy(SHIPPED_CHECKPOINT, w.exported)
    main(_train_args(synth_small, base / "run", 1))
    w.run = base / "run"
    w.best_only = base / "best_only"
    w.best_only.mkdir()
    shutil.copy(w.run / "best.pt", w.best_only / "best.pt")
    w.broken_metrics = _copy(w.run, base / "broken_metrics")
    with open(w.broken_metrics / "metrics.jsonl", "a") as f:
        f.write('{"step": 1, "loss": 0.5\n')  # a half-written row
    w.broken_card = _copy(w.run, base / "broken_card")
    (w.broken_card / "card.json").write_text((w.run / "card.json").read_text()[:40])

    state = load_checkpoint(SHIPPED_CHECKPOINT)
    w.mismatch = base / "mismatch.pt"
    save_checkpoint({**state, "config": {**state["config"], "num_queries": state["config"]["num_queries"] + 1}},
                    w.mismatch)
    w.stringly = base / "stringly.pt"
    save_checkpoint({**state, "config": {**state["config"], "hidden_dim": "64"}}, w.stringly)
    w.pickled = base / "pickled.pt"
    torch.save({"format": 1, "model": state["model"], "config": state["config"], "extra": Pickled()}, w.pickled)

    w.frames_bad = base / "frames_bad"
    w.frames_bad.mkdir()
    first = sorted((synth_small / "images" / "val").iterdir())[0]
    shutil.copy(sorted(first.iterdir())[0], w.frames_bad / "000000.jpg")
    (w.frames_bad / "000001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    w.frames = base / "frames"
    w.frames.mkdir()
    shutil.copy(sorted(first.iterdir())[0], w.frames / "000000.jpg")
    w.mp4 = base / "clip.mp4"
    w.mp4.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(100))  # an MP4 header, then nothing
    w.webm = base / "clip.webm"
    w.webm.write_bytes(b"\x1a\x45\xdf\xa3")

    gt = read_split(synth_small, "val")
    w.preds = base / "preds"
    write_predictions(gt, {v.name: [f.people for f in p.frames] for v, p in zip(gt, _as_predictions(gt))}, w.preds)
    pred_file = sorted(w.preds.glob("*.json"))[0]
    w.preds_unknown = _copy(w.preds, base / "preds_unknown")
    _edit_json(w.preds_unknown / pred_file.name, lambda d: d["annotations"][0].update(image_id=999))
    w.preds_reversed = _copy(w.preds, base / "preds_reversed")
    _edit_json(w.preds_reversed / pred_file.name, lambda d: d["images"].reverse())
    # Two GT videos, and their (perfect) prediction files saved under each other's name.
    w.gt2 = base / "gt2"
    two = [gt[0], _renamed(gt[0], 999)]
    for v in two:
        write_video(v, w.gt2 / f"{v.name}.json")
    w.preds_swapped = base / "preds_swapped"
    write_predictions(two, {v.name: [f.people for f in p.frames] for v, p in zip(two, _as_predictions(two))},
                      w.preds_swapped)
    a, b = (w.preds_swapped / f"{v.name}.json" for v in two)
    a.rename(base / "tmp.json")
    b.rename(a)
    (base / "tmp.json").rename(b)
    w.gt_empty = base / "gt_empty"
    w.gt_empty.mkdir()
    shutil.copy(gt_dir / pred_file.name, w.gt_empty / pred_file.name)
    _edit_json(w.gt_empty / pred_file.name, lambda d: d.update(annotations=[]))

    w.no_val = _copy(synth_small, base / "no_val")
    shutil.rmtree(w.no_val / "annotations" / "val")
    w.escape = _copy(synth_small, base / "escape")
    for p in (w.escape / "annotations" / "val").glob("*.json"):
        _edit_json(p, lambda d: [img.update(file_name="../" + img["file_name"]) for img in d["images"]])
    w.other_data = _copy(synth_small, base / "other_data")
    w.file = base / "a_file.txt"
    w.file.write_text("not a folder")
    w.folder_gif = base / "out.gif"
    w.folder_gif.mkdir()
    return w


@dataclass
class Case:
    name: str
    argv: Callable[[SimpleNamespace, Path], list[str]]
    code: int
    phrase: str
    unchanged: Callable[[SimpleNamespace, Path], list[Path]] = lambda w, tmp: []
    setup: Callable[[pytest.MonkeyPatch], None] | None = None
    marks: list = field(default_factory=list)


def _no_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # an import of it fails, as if not installed


def _predict(ckpt, data, out, *extra):
    return ["predict", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out), "--quiet", *extra]


def _demo(ckpt, video, out, *extra):
    return ["demo", "--checkpoint", str(ckpt), "--video", str(video), "--out", str(out), *extra]


CASES = [
    # -- work or data lost ---------------------------------------------------------------------------------------
    Case("train: no val split, found before training", lambda w, t: _train_args(w.no_val, t / "r", 2), 2,
         "annotations/val", lambda w, t: [t / "r"]),
    Case("train --resume: no such run folder", lambda w, t: _train_args(w.data, t / "typo", 2, "--resume"), 2,
         "last.pt: not found", lambda w, t: [t / "typo"]),
    Case("train --resume: only best.pt", lambda w, t: _train_args(w.data, w.best_only, 2, "--resume"), 2,
         "last.pt: not found", lambda w, t: [w.best_only]),
    Case("train: into an existing run", lambda w, t: _train_args(w.data, w.run, 2), 2, "pass --resume",
         lambda w, t: [w.run]),
    Case("predict: --out is the GT folder", lambda w, t: _predict(w.shipped, w.data, w.gt, "--force"), 2,
         "replace the ground truth", lambda w, t: [w.data / "annotations"]),
    Case("predict: --out holds predictions", lambda w, t: _predict(w.shipped, w.data, w.preds), 2, "--force",
         lambda w, t: [w.preds]),
    Case("export: --out is the run's last.pt", lambda w, t: ["export", "--run", str(w.run), "--out",
                                                              str(w.run / "last.pt"), "--force"], 2,
         "file of the run itself", lambda w, t: [w.run]),
    Case("export: --out exists", lambda w, t: ["export", "--run", str(w.run), "--out", str(w.exported)], 2,
         "--force", lambda w, t: [w.exported]),
    Case("synth: into another data set", lambda w, t: ["synth", "--out", str(w.other_data), "--quiet"], 2,
         "pass --force", lambda w, t: [w.other_data]),
    Case("synth: --out is a file", lambda w, t: ["synth", "--out", str(w.file), "--quiet"], 2, "is a file",
         lambda w, t: [w.file]),
    # -- tracebacks before: now one line -------------------------------------------------------------------------
    Case("eval --json: a folder", lambda w, t: ["eval", "--gt", str(w.gt), "--pred", str(w.preds), "--json",
                                                 str(w.preds)], 2, "is a folder", lambda w, t: [w.preds]),
    Case("eval --json: under a file", lambda w, t: ["eval", "--gt", str(w.gt), "--pred", str(w.preds), "--json",
                                                     str(w.file / "ap.json")], 2, "is a file",
         lambda w, t: [w.file]),
    Case("predict: --out is a file", lambda w, t: _predict(w.shipped, w.data, w.file), 2, "is a file",
         lambda w, t: [w.file]),
    Case("demo: --out is a folder", lambda w, t: _demo(w.shipped, w.frames, w.folder_gif), 2, "is a folder",
         lambda w, t: [w.folder_gif]),
    Case("demo: --out under a file", lambda w, t: _demo(w.shipped, w.frames, w.file / "x.gif"), 2, "is a file",
         lambda w, t: [w.file]),
    Case("demo: --poses under a file", lambda w, t: _demo(w.shipped, w.frames, t / "x.gif", "--poses",
                                                          str(w.file / "p.csv")), 2, "is a file",
         lambda w, t: [w.file, t / "x.gif"]),
    Case("demo: a corrupt jpg", lambda w, t: _demo(w.shipped, w.frames_bad, t / "x.gif"), 2,
         "000001.jpg: not a readable image", lambda w, t: [t / "x.gif"]),
    Case("demo: a truncated mp4", lambda w, t: _demo(w.shipped, w.mp4, t / "x.gif"), 2, "clip.mp4",
         lambda w, t: [t / "x.gif"]),
    Case("demo: MP4 output without the writer", lambda w, t: _demo(w.shipped, w.frames, t / "x.mp4"), 2,
         "imageio-ffmpeg", lambda w, t: [t / "x.mp4"], setup=_no_writer),
    Case("demo: other video suffix", lambda w, t: _demo(w.shipped, w.webm, t / "x.gif"), 2, ".mkv",
         lambda w, t: [t / "x.gif"]),
    Case("demo: --fps 0", lambda w, t: _demo(w.shipped, w.frames, t / "x.gif", "--fps", "0"), 2,
         "fps must be a number > 0", lambda w, t: [t / "x.gif"]),
    Case("predict: config does not fit the weights", lambda w, t: _predict(w.mismatch, w.data, t / "p"), 2,
         "mismatch.pt: the weights do not fit", lambda w, t: [t / "p"]),
    Case("predict: a string where a number belongs", lambda w, t: _predict(w.stringly, w.data, t / "p"), 2,
         "stringly.pt: PAVENetConfig.hidden_dim: expected an integer, got '64'", lambda w, t: [t / "p"]),
    Case("predict: a pickled object", lambda w, t: _predict(w.pickled, w.data, t / "p"), 2,
         "pickled.pt: holds a Python object (tests.test_bad_input.Pickled)", lambda w, t: [t / "p"]),
    Case("predict: --device gpu0", lambda w, t: _predict(w.shipped, w.data, t / "p", "--device", "gpu0"), 2,
         "expected cpu, cuda", lambda w, t: [t / "p"]),
    Case("train: --device cuda without CUDA", lambda w, t: _train_args(w.data, t / "r", 2, "--device", "cuda"), 2,
         "no CUDA device", lambda w, t: [t / "r"],
         marks=[pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")]),
    Case("train: --set max_size=abc", lambda w, t: _train_args(w.data, t / "r", 2) + ["max_size=abc"], 2,
         "max_size=abc: expected an integer", lambda w, t: [t / "r"]),
    Case("train: --set hidden_dim=64.0", lambda w, t: _train_args(w.data, t / "r", 2) + ["hidden_dim=64.0"], 2,
         "hidden_dim=64.0: expected an integer", lambda w, t: [t / "r"]),
    Case("train: --set max_size=96.5", lambda w, t: _train_args(w.data, t / "r", 2) + ["max_size=96.5"], 2,
         "expected an integer", lambda w, t: [t / "r"]),
    Case("train: --set num_frames", lambda w, t: _train_args(w.data, t / "r", 2) + ["num_frames=5"], 2,
         "--frames", lambda w, t: [t / "r"]),
    Case("train --resume: broken metrics.jsonl", lambda w, t: _train_args(w.data, w.broken_metrics, 2, "--resume"),
         2, "metrics.jsonl: line 3", lambda w, t: [w.broken_metrics]),
    Case("export: broken card.json", lambda w, t: ["export", "--run", str(w.broken_card), "--out", str(t / "x.pt")],
         2, "card.json: expected a run card", lambda w, t: [w.broken_card, t / "x.pt"]),
    # -- silently wrong before -----------------------------------------------------------------------------------
    Case("eval: no evaluated frame", lambda w, t: ["eval", "--gt", str(w.gt_empty), "--pred", str(w.preds)], 2,
         "no frame to evaluate", lambda w, t: [w.gt_empty, w.preds]),
    Case("eval: prediction for an unknown image", lambda w, t: ["eval", "--gt", str(w.gt), "--pred",
                                                                 str(w.preds_unknown)], 0,
         "image_id listed in no entry of `images`", lambda w, t: [w.preds_unknown]),
    Case("eval: frames in reverse order", lambda w, t: ["eval", "--gt", str(w.gt), "--pred", str(w.preds_reversed)],
         0, "not the GT frame at the same position", lambda w, t: [w.preds_reversed]),
    Case("eval: two files swapped", lambda w, t: ["eval", "--gt", str(w.gt2), "--pred", str(w.preds_swapped)], 0,
         "not the GT frame at the same position", lambda w, t: [w.preds_swapped]),
    Case("predict: a file_name outside the data set", lambda w, t: _predict(w.shipped, w.escape, t / "p"), 2,
         "a path inside the dataset root", lambda w, t: [t / "p"]),
]


def _snapshot(path: Path) -> object:
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}
    return path.read_bytes() if path.exists() else None


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_bad_input_through_the_cli(case: Case, w, tmp_path, capsys, monkeypatch):
    def long_work(*_, **__):
        raise AssertionError("the long work started before the input was checked")

    monkeypatch.setattr(Trainer, "train_step", long_work)
    monkeypatch.setattr(Predictor, "_run", long_work)
    if case.setup:
        case.setup(monkeypatch)
    argv = case.argv(w, tmp_path)
    watched = case.unchanged(w, tmp_path)
    before = [_snapshot(p) for p in watched]
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == case.code, err
    assert case.phrase in err, err
    if code == 2:
        assert err.startswith(f"pavenet {argv[0]}: error: ") and err.count("\n") == 1, err
    else:
        assert f"pavenet {argv[0]}: warning: " in err
    for path, old in zip(watched, before):
        assert _snapshot(path) == old, f"{path} changed"


def test_pairing_warnings_leave_poseval_numbers_alone(w):
    """Warned or not, the table is what poseval prints: the swapped files score against the other video."""
    from pavenet_lite.evaluation import evaluate_posetrack

    with pytest.warns(UserWarning, match="not the GT frame at the same position"):
        swapped = evaluate_posetrack(w.gt2, w.preds_swapped)
    gts = [read_video(p) for p in sorted(w.gt2.glob("*.json"))]
    # poseval's pairing, by hand: prediction file k scored frame by frame against GT file k, by position.
    preds = [read_video(w.preds_swapped / Path(g.path).name, kind="pred") for g in gts]
    by_position = [Video(g.name, [Frame(gf.file_name, gf.image_id, gf.is_labeled, pf.people)
                                  for gf, pf in zip(g.frames, p.frames)]) for g, p in zip(gts, preds)]
    assert evaluate_posetrack(gts, by_position).to_dict() == swapped.to_dict()
    assert swapped.total < evaluate_posetrack(gts, _as_predictions(gts)).total == 100.0


def test_files_get_the_users_umask(w, tmp_path):
    old = os.umask(0o027)
    try:
        main(["eval", "--gt", str(w.gt), "--pred", str(w.preds), "--json", str(tmp_path / "ap.json")])
        save_checkpoint({"model": {}, "config": {}}, tmp_path / "c.pt")
    finally:
        os.umask(old)
    for name in ("ap.json", "c.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640


def test_a_failing_final_validation_keeps_the_trained_weights(synth_small, tmp_path, monkeypatch):
    """last.pt is written before the final validation; --resume then runs only the validation that failed."""
    def broken(self):
        raise RuntimeError("validation died")

    monkeypatch.setattr(Trainer, "validate", broken)
    with pytest.raises(RuntimeError, match="validation died"):
        main(_train_args(synth_small, tmp_path, 2))
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == 2 and state["val_pending"]
    monkeypatch.undo()
    for stale in (".last.pt.abc123.tmp", "best.pt.x1y2.tmp"):  # as kills during saves leave them
        (tmp_path / stale).write_bytes(b"partial")
    main(_train_args(synth_small, tmp_path, 2, "--resume"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_map" in r] == [2]
    assert not load_checkpoint(tmp_path / "last.pt")["val_pending"]
    assert json.loads((tmp_path / "card.json").read_text())["learning_curve"][0][0] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_force_starts_over_and_val_every_writes_last(synth_small, tmp_path):
    main(_train_args(synth_small, tmp_path, 2, "--val-every", "1"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_map" in r] == [1, 2]
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2  # --ckpt-every is 100: validations wrote it
    main(_train_args(synth_small, tmp_path, 1, "--force"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 1] and load_checkpoint(tmp_path / "last.pt")["step"] == 1


def _run_rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "step_s", "data_s")} for r in rows]


def test_sigkill_mid_run_then_resume_is_bit_identical(synth_small, tmp_path):
    steps = 8
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    main(_train_args(synth_small, straight, steps, "--ckpt-every", "1"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "pavenet_lite"] + _train_args(synth_small, killed, steps, "--ckpt-every", "1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    interrupted_at = load_checkpoint(killed / "last.pt")["step"]
    assert interrupted_at < steps
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["step"] == b["step"] == steps
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert all(torch.equal(a["optimizer"]["state"][i][k], b["optimizer"]["state"][i][k])
               for i in a["optimizer"]["state"] for k in a["optimizer"]["state"][i])
    assert _run_rows(straight) == _run_rows(killed)
    assert not list(killed.glob(".*.tmp"))
    torch.manual_seed(5)  # as the Trainer does before building the model: the weights did move from there
    init = build_model(PAVENetConfig.from_dict(a["config"])).state_dict()
    assert any(not torch.equal(init[k], a["model"][k]) for k in init)


def test_a_metrics_row_cut_by_a_kill_is_dropped_a_broken_row_is_not(tmp_path):
    from pavenet_lite.files import OutputError, read_jsonl

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')  # the last append never finished
    assert read_jsonl(path, "rows") == [{"step": 1}, {"step": 2}]
    path.write_text('{"step": 1}\n{"step": 2\n{"step": 3}\n')
    with pytest.raises(OutputError, match=r"metrics\.jsonl: line 2"):
        read_jsonl(path, "rows")


@pytest.mark.parametrize("name", ["../x/000000.jpg", "/etc/passwd", "images/../../000000.jpg", "C:\\x.jpg"])
def test_image_paths_stay_inside_the_dataset_root(tmp_path, name):
    from pavenet_lite.data.posetrack import AnnotationError, image_path

    with pytest.raises(AnnotationError, match="a path inside the dataset root"):
        image_path(tmp_path, Frame(name, 0, True, []))
    assert image_path(tmp_path, Frame("images/val/a/000000.jpg", 0, True, [])) == tmp_path / "images/val/a/000000.jpg"


def test_synth_regenerates_its_own_stale_data_set_and_refuses_others(tmp_path):
    from pavenet_lite.data.synthtrack import generate_synthtrack, preset_with
    from pavenet_lite.files import OutputError

    small = preset_with("mini", n_train=1, n_val=0, frames=2, people=(1, 1))
    root = generate_synthtrack(tmp_path / "d", small, seed=0, progress=False, workers=1)
    manifest = json.loads((root / "synthtrack.json").read_text())
    stray = root / "images" / "train" / "stray.jpg"
    stray.write_bytes(b"old")
    _edit_json(root / "synthtrack.json", lambda d: d.update(version=d["version"] - 1))
    generate_synthtrack(root, small, seed=0, progress=False, workers=1)  # an older version of itself: remade
    assert not stray.exists() and json.loads((root / "synthtrack.json").read_text()) == manifest
    with pytest.raises(OutputError, match="pass --force"):
        generate_synthtrack(root, small, seed=1, progress=False, workers=1)
    generate_synthtrack(root, small, seed=1, progress=False, workers=1, overwrite=True)
    assert json.loads((root / "synthtrack.json").read_text())["seed"] == 1
