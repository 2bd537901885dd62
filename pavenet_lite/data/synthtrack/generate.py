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

Determinism: video i of split s draws from `numpy.random.default_rng([seed, s, i])`, so a video does not depend on
the worker that made it, on the other videos, or on the preset's video count; same seed -> identical bytes.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.posetrack_writer import posetrack18_image_id, write_json_atomic, write_video
from pavenet_lite.data.synthtrack import scene
from pavenet_lite.data.synthtrack.motion import MOTIONS, Track, sample_track
from pavenet_lite.data.synthtrack.render import Canvas, draw_person, person_geometry, sample_look
from pavenet_lite.data.synthtrack.skeleton import Angles, sample_body
from pavenet_lite.joints import MODEL_TO_PT18, NUM_PT18

VERSION = 1
_EARS = [3, 4]
_VISIBLE_WINDOW = 4


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


def _draw_small_figure(rng: np.random.Generator, ss: int):
    """A closure drawing a standing unannotated figure (for the distant crowd of an ignore region)."""
    def draw(canvas: Canvas, foot: np.ndarray, height: float) -> None:
        body = sample_body(rng)
        ang = Angles(yaw=float(rng.uniform(-np.pi, np.pi)), shoulder=(0.2, -0.2))
        geo = person_geometry(body, ang, (float(foot[0]), float(foot[1])), height)
        draw_person(canvas, geo, body, sample_look(rng, height * ss), height, label=None)
    return draw


def _render_video(job: _Job) -> dict[str, int]:
    """Render and write one video; returns its counts for the manifest."""
    p = job.preset
    rng = np.random.default_rng([job.seed, 0 if job.split == "train" else 1, job.index])
    ss, size = p.supersample, (p.width, p.height)
    world = (int(round(p.width * (1 + 2 * scene.MARGIN))), int(round(p.height * (1 + 2 * scene.MARGIN))))
    horizon = world[1] * rng.uniform(0.33, 0.45)

    def foot_y(s: float) -> float:
        return world[1] * (0.535 + 0.32 * s)

    def height_at(s: float) -> float:
        return p.height * p.person_scale * (0.5 + 0.5 * s)

    view_x = (world[0] / 2 - p.width / 2, world[0] / 2 + p.width / 2)
    camera = scene.sample_camera(rng, world, size, p.camera_motion)
    background = scene.draw_background(rng, world, ss, horizon, p.clutter, p.distractors, 0.2 * height_at(0.5))
    ignore = None
    if rng.random() < p.ignore_p:
        centre = np.array([rng.uniform(*view_x), horizon + rng.uniform(0.02, 0.08) * world[1]])
        ignore = scene.draw_ignore_crowd(Canvas(background, None, ss), rng, centre, 0.4 * height_at(0.0),
                                         _draw_small_figure(rng, ss))
    tracks: list[Track] = [sample_track(rng, k, view_x, height_at, p.kinds, p.enter_p) for k in range(job.n_people)]
    looks = [sample_look(rng, 1.6 * height_at(1.0) * ss) for _ in tracks]
    occluders = [scene.sample_occluder(rng, k, view_x, height_at, p.frames)
                 for k in range(int(rng.poisson(p.occluders)))]
    labeled = labeled_frames(job.split, p.frames, rng, p.train_labeled)
    degraded = rng.random(p.frames) < p.degrade_p

    name = sequence_name(job.split, job.seq)
    img_dir = Path(job.out_dir) / "images" / job.split / name
    img_dir.mkdir(parents=True, exist_ok=True)
    n = len(tracks)
    uv = np.zeros((p.frames, n, NUM_PT18, 2))
    inside = np.zeros((p.frames, n, NUM_PT18), bool)
    visible = np.zeros((p.frames, n, NUM_PT18), bool)
    head_boxes = np.zeros((p.frames, n, 4))
    boxes = np.zeros((p.frames, n, 4))
    frames: list[Frame] = []
    for t in range(p.frames):
        image = camera.frame_background(background, t, size, ss)
        labels = Image.new("I", size, 0)
        canvas = Canvas(image, labels, ss)
        zoom = camera.at(t)[2]
        items = [(tr.ground(t)[1], 0, k) for k, tr in enumerate(tracks)] + [(o.s, 1, k) for k, o in
                                                                              enumerate(occluders)]
        for _, kind, k in sorted(items):  # far to near
            if kind == 1:
                o = occluders[k]
                for poly, colour in o.polygons(t, foot_y(o.s)):
                    canvas.polygon(camera.to_image(poly, t, size), fill=colour, label=scene.OCCLUDER_LABEL + k)
                continue
            tr = tracks[k]
            x, s = tr.ground(t)
            ground = camera.to_image(np.array([x, foot_y(s)]), t, size)
            height = height_at(s) * tr.size * zoom
            geo = person_geometry(tr.body, tr.angles(t), (float(ground[0]), float(ground[1])), height)
            x_prev, s_prev = tr.ground(t - 1)
            velocity = ground - camera.to_image(np.array([x_prev, foot_y(s_prev)]), t - 1, size)
            if np.linalg.norm(velocity) > p.motion_blur_px:
                lo = np.floor(geo["uv"].min(0) - 0.3 * height).clip(0, None).astype(int)
                hi = np.ceil(geo["uv"].max(0) + 0.3 * height).astype(int).clip(None, size)
                if (hi > lo).all():
                    box = (lo[0] * ss, lo[1] * ss, hi[0] * ss, hi[1] * ss)
                    before = image.crop(box)
                    after = before.copy()
                    outline = draw_person(Canvas(after, labels, ss, offset=lo), geo, tr.body, looks[k], height, k + 1)
                    image.paste(scene.motion_blur(before, after, velocity, ss), box[:2])
                else:
                    outline = draw_person(canvas, geo, tr.body, looks[k], height, k + 1)
            else:
                outline = draw_person(canvas, geo, tr.body, looks[k], height, k + 1)
            uv[t, k] = geo["uv"]
            head_boxes[t, k] = geo["head_box"]
            boxes[t, k] = outline
        frame = image.reduce(ss)
        if degraded[t]:
            frame = scene.degrade(frame, rng)
        frame.save(img_dir / f"{t:06d}.jpg", quality=p.jpeg_quality)
        lab = np.asarray(labels)
        inside[t] = ((uv[t, ..., 0] >= 1) & (uv[t, ..., 0] <= p.width - 1) &
                     (uv[t, ..., 1] >= 1) & (uv[t, ..., 1] <= p.height - 1))
        inside[t, :, _EARS] = False
        col = uv[t, ..., 0].astype(int).clip(0, p.width - 1)
        row = uv[t, ..., 1].astype(int).clip(0, p.height - 1)
        owner = lab[row, col]                                                          # [n, 17]
        visible[t] = inside[t] & ((owner == 0) | (owner == np.arange(1, n + 1)[:, None]))

    seen = visible[:, :, list(MODEL_TO_PT18)].any(-1)                                  # [frames, n]
    counts = {"frames": p.frames, "labeled_frames": int(labeled.sum()), "people": 0, "joints_visible": 0,
              "joints_occluded": 0}
    for t in range(p.frames):
        file_name = f"images/{job.split}/{name}/{t:06d}.jpg"
        people = []
        if labeled[t]:
            window = seen[max(0, t - _VISIBLE_WINDOW):t + _VISIBLE_WINDOW + 1].any(0)
            for k in range(n):
                if inside[t, k, list(MODEL_TO_PT18)].sum() < 3 or not window[k]:
                    continue
                box = boxes[t, k].copy()
                box[[0, 2]] = box[[0, 2]].clip(0, p.width)
                box[[1, 3]] = box[[1, 3]].clip(0, p.height)
                people.append(Person(keypoints=uv[t, k], annotated=inside[t, k], visible=visible[t, k],
                                     track_id=k, head_box=head_boxes[t, k],
                                     box=np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]])))
                counts["joints_visible"] += int(visible[t, k].sum())
                counts["joints_occluded"] += int((inside[t, k] & ~visible[t, k]).sum())
        counts["people"] += len(people)
        regions = []
        if ignore is not None:
            poly = camera.to_image(ignore, t, size)
            if poly[:, 0].max() > 0 and poly[:, 0].min() < p.width:
                regions.append(poly)
        frames.append(Frame(file_name=file_name, image_id=posetrack18_image_id(file_name), is_labeled=bool(labeled[t]),
                            people=people, ignore_regions=regions))
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
