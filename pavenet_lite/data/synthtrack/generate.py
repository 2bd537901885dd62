"""SynthTrack generation: presets, one video per job, the exact PoseTrack18 layout on disk.

    DIR/images/{train,val}/NNNNNN_mpii_{train,test}/000000.jpg      frames, 6-digit names from 0, JPEG
    DIR/annotations/{train,val}/NNNNNN_mpii_{train,test}.json       one PoseTrack18 file per video
    DIR/synthtrack.json                                             manifest: preset, seed, counts, version

Annotation rules (PoseTrack-like):
* A joint is annotated when it lies inside the frame (1 px border); the ears are never annotated. An annotated joint
  hidden by another person or an occluder keeps its true position with v = 0 (as in PoseTrack21), so predicting it
  needs temporal context. Self-occlusion counts as visible.
* A person is annotated in a labelled frame when >= 3 of its 15 evaluated joints are inside the frame and it shows
  at least one visible joint within +-4 frames (nobody is annotated after being hidden for long).
* `bbox_head` is the box of the drawn head ellipse (unclipped); `bbox` the drawn body's box clipped to the frame.
* `is_labeled`: train videos have one contiguous labelled block (PT18 train style); val videos are labelled PT17-val
  style: a dense central block of half the frames plus every 4th frame outside it. Unlabelled frames list no people.
* Ignore regions: some videos contain a distant group of small unannotated figures; its polygon is an ignore region
  in every frame where it is in view.

Determinism: video i of split s draws from `numpy.random.default_rng([seed, s, i, crc32(preset name)])`, so a video
does not depend on the worker that made it or on the other videos; same seed -> identical bytes.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.posetrack_writer import posetrack18_image_id, write_json_atomic, write_video
from pavenet_lite.data.synthtrack import scene
from pavenet_lite.data.synthtrack.motion import MOTIONS
from pavenet_lite.data.synthtrack.world import World
from pavenet_lite.joints import MODEL_TO_PT18

VERSION = 1
_VISIBLE_WINDOW = 4  # frames: a person hidden for longer than this is not annotated


@dataclass(frozen=True)
class SynthTrackPreset:
    """Everything that defines a SynthTrack data set besides the seed. Frame size is 384 x 216 (16:9) by default."""

    name: str
    n_train: int
    n_val: int
    frames: int                           # frames per video
    people: tuple[int, int]               # min, max people per video (inclusive)
    val_people: tuple[int, ...] = ()      # exact people count of each val video (overrides `people` and n_val)
    kinds: tuple[str, ...] = MOTIONS      # motion kinds to draw from
    enter_p: float = 0.35                 # probability that a walker starts outside the view and walks in
    width: int = 384
    height: int = 216
    person_scale: float = 0.62            # standing height of the nearest people / frame height
    occluders: float = 1.0                # mean number of moving occluders per video
    degrade_p: float = 0.04               # probability that a frame is heavily blurred / noisy / dark
    ignore_p: float = 0.3                 # probability that a video has an ignore region
    camera_motion: float = 1.0            # pan / zoom amplitude multiplier
    clutter: int = 14
    distractors: int = 6
    train_labeled: float = 0.6            # fraction of a train video in its contiguous labelled block
    motion_blur_px: float = 2.5           # image speed (px / frame) above which a person is motion-blurred
    jpeg_quality: int = 90
    supersample: int = 2                  # people and background are drawn at this factor, then box-downsampled


PRESETS: dict[str, SynthTrackPreset] = {
    "mini": SynthTrackPreset("mini", n_train=4, n_val=2, frames=20, people=(1, 4)),
    "default": SynthTrackPreset("default", n_train=48, n_val=12, frames=40, people=(2, 6)),
    "crowd": SynthTrackPreset("crowd", n_train=2, n_val=6, frames=16, people=(10, 20),
                              val_people=(1, 2, 4, 8, 16, 30), kinds=("wave", "turn", "crouch"), enter_p=0.0,
                              person_scale=0.45, camera_motion=0.3, occluders=0.5),
    "hard": SynthTrackPreset("hard", n_train=24, n_val=8, frames=40, people=(3, 7), occluders=3.0,
                             degrade_p=0.15, ignore_p=0.5, distractors=12),
}


def labeled_frames(split: str, n_frames: int, rng: np.random.Generator, train_fraction: float) -> np.ndarray:
    """[n_frames] bool: a contiguous random block (train) or a central dense block + every 4th frame (val)."""
    out = np.zeros(n_frames, bool)
    if split == "train":
        length = max(1, int(round(train_fraction * n_frames)))
        start = int(rng.integers(0, n_frames - length + 1))
        out[start:start + length] = True
    else:
        length = max(1, n_frames // 2)
        start = (n_frames - length) // 2
        out[start:start + length] = True
        out[::4] = True
    return out


def sequence_name(split: str, seq: int) -> str:
    return f"{seq:06d}_mpii_{'train' if split == 'train' else 'test'}"


@dataclass(frozen=True)
class _Job:
    out_dir: str
    split: str
    index: int
    seq: int
    n_people: int
    seed: int
    preset: SynthTrackPreset


def _render_video(job: _Job) -> dict[str, int]:
    """Render and write one video (JPEG frames + PoseTrack18 JSON); returns its counts for the manifest."""
    p = job.preset
    rng = np.random.default_rng([job.seed, 0 if job.split == "train" else 1, job.index, zlib.crc32(p.name.encode())])
    world = World(p, job.n_people, rng)
    labeled = labeled_frames(job.split, p.frames, rng, p.train_labeled)
    degraded = rng.random(p.frames) < p.degrade_p
    name = sequence_name(job.split, job.seq)
    img_dir = Path(job.out_dir) / "images" / job.split / name
    img_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for t in range(p.frames):
        r = world.render(t)
        image = scene.degrade(r.image, rng) if degraded[t] else r.image
        image.save(img_dir / f"{t:06d}.jpg", quality=p.jpeg_quality)
        rendered.append(r)

    model = list(MODEL_TO_PT18)
    seen = np.stack([r.visible[:, model].any(-1) for r in rendered])                  # [frames, n]
    counts = {"frames": p.frames, "labeled_frames": int(labeled.sum()), "people": 0, "joints_visible": 0,
              "joints_occluded": 0}
    frames: list[Frame] = []
    for t, r in enumerate(rendered):
        file_name = f"images/{job.split}/{name}/{t:06d}.jpg"
        people = []
        if labeled[t]:
            recently_seen = seen[max(0, t - _VISIBLE_WINDOW):t + _VISIBLE_WINDOW + 1].any(0)
            for k in range(len(world.tracks)):
                if r.inside[k, model].sum() < 3 or not recently_seen[k]:
                    continue
                x1, y1, x2, y2 = r.outlines[k].clip(0, [p.width, p.height, p.width, p.height])
                people.append(Person(keypoints=r.uv[k], annotated=r.inside[k], visible=r.visible[k], track_id=k,
                                     head_box=r.head_boxes[k], box=np.array([x1, y1, x2 - x1, y2 - y1])))
                counts["joints_visible"] += int(r.visible[k].sum())
                counts["joints_occluded"] += int((r.inside[k] & ~r.visible[k]).sum())
        counts["people"] += len(people)
        region = world.ignore_region(t)
        frames.append(Frame(file_name=file_name, image_id=posetrack18_image_id(file_name), is_labeled=bool(labeled[t]),
                            people=people, ignore_regions=[] if region is None else [region]))
    write_video(Video(name=name, frames=frames), Path(job.out_dir) / "annotations" / job.split / f"{name}.json")
    return counts


def _jobs(out_dir: Path, preset: SynthTrackPreset, seed: int) -> list[_Job]:
    rng = np.random.default_rng([seed, 2])  # people counts only; the videos have their own streams
    jobs = [_Job(str(out_dir), "train", i, i + 1, int(rng.integers(preset.people[0], preset.people[1] + 1)), seed,
                 preset) for i in range(preset.n_train)]
    val_people = preset.val_people or tuple(int(rng.integers(preset.people[0], preset.people[1] + 1))
                                            for _ in range(preset.n_val))
    jobs += [_Job(str(out_dir), "val", i, preset.n_train + i + 1, k, seed, preset) for i, k in enumerate(val_people)]
    return jobs


def generate_synthtrack(out_dir: str | Path, preset: str | SynthTrackPreset = "mini", seed: int = 0,
                        progress: bool = True, workers: int | None = None) -> Path:
    """Generate a SynthTrack data set in the PoseTrack18 layout under `out_dir`; returns `out_dir` as a Path.

    `preset` is a name of `PRESETS` or a `SynthTrackPreset`. `workers` processes render videos in parallel (None:
    one per CPU core; 1: no subprocesses). If `out_dir/synthtrack.json` already records the same preset, seed and
    version, nothing is regenerated (the manifest is written last, so its presence means a complete data set).
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"SynthTrack preset {preset!r} is unknown; expected one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    out_dir = Path(out_dir)
    manifest_path = out_dir / "synthtrack.json"
    header = {"dataset": "SynthTrack", "version": VERSION, "layout": "PoseTrack18", "seed": seed,
              "preset": json.loads(json.dumps(asdict(preset)))}
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if {k: old.get(k) for k in header} == header:
            return out_dir
    jobs = _jobs(out_dir, preset, seed)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    bar = tqdm(total=len(jobs), desc=f"SynthTrack {preset.name}", unit="video", disable=not progress)
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(_render_video(job))
            bar.update()
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = []
            for r in pool.imap(_render_video, jobs):
                results.append(r)
                bar.update()
    bar.close()
    splits = {}
    for split in ("train", "val"):
        rs = [r for j, r in zip(jobs, results) if j.split == split]
        splits[split] = {"videos": len(rs), **{k: sum(r[k] for r in rs) for k in results[0]}}
    write_json_atomic({**header, "frame_size": [preset.width, preset.height], "splits": splits}, manifest_path)
    return out_dir


def preset_with(name: str, **changes) -> SynthTrackPreset:
    """A named preset with some fields changed, e.g. `preset_with("mini", frames=8)`."""
    return replace(PRESETS[name], **changes)
