"""Inference: `Predictor` runs a trained PAVE-Net on clips, whole videos and PoseTrack splits; `render_demo` draws it.

A video of T frames gives T clips: clip t holds frames t-T..t+T with the missing neighbours at either end replaced by
the nearest existing frame (the same rule as training), so every frame, first and last included, gets poses.
People are the top-k pose queries by score after the joint decoder; there is no NMS (the paper's claim).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from pavenet_lite.checkpoint import load_checkpoint, load_weights
from pavenet_lite.config import PAVENetConfig
from pavenet_lite.data.annotations import Frame, Person, Video, person_from_model
from pavenet_lite.data.clips import PoseTrackClips, clip_frame_indices, collate_clips
from pavenet_lite.data.posetrack import read_split
from pavenet_lite.data.posetrack_writer import write_json_atomic
from pavenet_lite.data.transforms import ClipTransform
from pavenet_lite.data.video_files import load_frames
from pavenet_lite.evaluation import PoseTrackAP, evaluate_posetrack, write_predictions
from pavenet_lite.files import OutputError, check_output_dir, check_output_file, refuse_existing, write_text_atomic
from pavenet_lite.joints import MODEL_NAMES
from pavenet_lite.model import build_model, postprocess

People = list[dict[str, np.ndarray]]  # per person: "keypoints" [K, 2] px, "keypoint_scores" [K], "score", "query"
# clips [B, F, 3, H, W], masks [B, H, W], original sizes [B, 2] (h, w) -> per clip its people (PT18 order, pixels)
PersonsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], list[list[Person]]]


# People drawn by the demo: the official video demo's threshold. `evaluation.drawn_skeletons` judges what it shows.
DEMO_THRESHOLD = 0.3


class Predictor:
    """A model in eval mode plus the eval-time preprocessing of its config.

    `top_k` people per frame (default `cfg.num_refine`); `oks_nms` applies OKS-NMS (threshold 0.45) as the
    July-2025 official code does. PAVE-Net is NMS-free, so it is off by default; an under-trained model has not yet
    learned to score duplicate queries down, and NMS shows how much that costs.
    """

    def __init__(self, model: torch.nn.Module, cfg: PAVENetConfig, device: str | torch.device = "cpu",
                 top_k: int | None = None, oks_nms: bool = False):
        self.cfg = cfg
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.top_k = top_k or cfg.num_refine
        self.oks_nms = oks_nms
        self.transform = ClipTransform(cfg.max_size, train=False)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu",
                        top_k: int | None = None, oks_nms: bool = False) -> Predictor:
        """Load a checkpoint written by `Trainer` (read with `weights_only=True`)."""
        state = load_checkpoint(path, map_location="cpu")
        cfg = PAVENetConfig.from_dict(state["config"], source=str(path))
        model = build_model(cfg)
        load_weights(model, state["model"], path)
        return cls(model, cfg, device=device, top_k=top_k, oks_nms=oks_nms)

    @torch.no_grad()
    def _run(self, clips: torch.Tensor, masks: torch.Tensor, orig_sizes: torch.Tensor,
             return_attention: bool = False) -> tuple[list[dict[str, torch.Tensor]], dict[str, Any]]:
        """clips `[B, F, 3, H, W]`, masks `[B, H, W]`, orig_sizes `[B, 2]` (h, w) -> `postprocess` results per clip
        (original-frame pixels, model joint order), raw outputs."""
        self.model.eval()
        out = self.model(clips.to(self.device), masks.to(self.device), return_attention=return_attention)
        return postprocess(out, orig_sizes.to(self.device), top_k=self.top_k, oks_nms=self.oks_nms), out

    def persons(self, clips: torch.Tensor, masks: torch.Tensor, orig_sizes: torch.Tensor) -> list[list[Person]]:
        """The evaluator's representation straight from a batch: per clip its people as `Person`s (PT18 order,
        original-frame pixels, per-joint scores), track id = rank by score. Shapes as `_run`."""
        return [[person_from_model(r["keypoints"][i].numpy(), r["keypoint_scores"][i].numpy(), track_id=i,
                                   score=float(r["scores"][i])) for i in range(len(r["scores"]))]
                for r in self._run(clips, masks, orig_sizes)[0]]

    def _people(self, clips: torch.Tensor, masks: torch.Tensor, orig_sizes: torch.Tensor,
                return_attention: bool = False) -> tuple[list[People], dict[str, Any]]:
        """People dicts (model joint order, with the query index that drawings colour by) per clip, raw outputs."""
        results, out = self._run(clips, masks, orig_sizes, return_attention)
        people = [[{"keypoints": r["keypoints"][i].numpy(),              # [K, 2] px
                    "keypoint_scores": r["keypoint_scores"][i].numpy(),  # [K]
                    "score": float(r["scores"][i]), "query": int(r["query_index"][i])}
                   for i in range(len(r["scores"]))] for r in results]
        return people, out

    def _batch(self, windows: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """B windows `[F, H, W, 3]` uint8 -> clips `[B, F, 3, h, w]`, masks `[B, h, w]`, original sizes `[B, 2]`."""
        clips, masks, _ = collate_clips([(self.transform(w, [])[0], {}) for w in windows])
        return clips, masks, torch.tensor([w.shape[1:3] for w in windows])

    def predict_clip(self, frames: np.ndarray | Sequence[np.ndarray], return_attention: bool = False
                     ) -> People | tuple[People, dict[str, Any]]:
        """People of the centre frame of one clip of F frames (`[F, H, W, 3]` uint8, in time order)."""
        frames = np.stack(list(frames)) if not isinstance(frames, np.ndarray) else frames
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] != self.cfg.num_frames:
            raise ValueError(f"predict_clip: expected frames [F={self.cfg.num_frames}, H, W, 3] uint8, "
                             f"got {tuple(frames.shape)}")
        people, out = self._people(*self._batch([frames]), return_attention=return_attention)
        return (people[0], out) if return_attention else people[0]

    def predict_video(self, source: str | Path | np.ndarray, batch_size: int = 8, progress: bool = False
                      ) -> list[People]:
        """People for every frame of a video: a frames folder, a GIF/MP4 file, or an array `[T, H, W, 3]` uint8."""
        from tqdm.auto import tqdm

        frames = load_frames(source) if not isinstance(source, np.ndarray) else source
        n = len(frames)
        results: list[People] = []
        for start in tqdm(range(0, n, batch_size), disable=not progress, desc="frames"):
            windows = [frames[clip_frame_indices(t, self.cfg.num_frames, n)]
                       for t in range(start, min(n, start + batch_size))]
            results.extend(self._people(*self._batch(windows))[0])
        return results

    def predict_videos(self, root: str | Path, split: str, videos: list[Video], batch_size: int = 8,
                       progress: bool = False) -> dict[str, list[list[Person]]]:
        """Predict every labelled frame of `videos` (read from split `split` of `root`).

        Returns video name -> people per frame (all frames; unlabelled ones empty), PT18 order, track id = rank.
        """
        return predict_labelled_frames(self.persons, root, split, videos, self.cfg.num_frames, self.cfg.max_size,
                                       batch_size, progress)

    def predict_posetrack(self, root: str | Path, split: str, out_dir: str | Path, max_videos: int | None = None,
                          progress: bool = False) -> list[Path]:
        """Write one PoseTrack18 prediction file per video of the split (what poseval and `pavenet eval` read).

        Files already in `out_dir` are replaced; `out_dir` may not be the dataset's own annotations
        (`check_prediction_dir`)."""
        check_prediction_dir(root, split, out_dir, overwrite=True)
        videos = read_split(root, split)[:max_videos]
        return write_predictions(videos, self.predict_videos(root, split, videos, progress=progress), out_dir)

    def evaluate(self, root: str | Path, split: str = "val", max_videos: int | None = None,
                 progress: bool = False) -> PoseTrackAP:
        """PoseTrack mAP (poseval protocol) of this model on a split, computed in memory."""
        return evaluate_posetrack(*self.predict_split(root, split, max_videos, progress))

    def predict_split(self, root: str | Path, split: str = "val", max_videos: int | None = None,
                      progress: bool = False) -> tuple[list[Video], list[Video]]:
        """(GT videos, prediction videos) of a split, in memory, ready for any evaluator of `evaluation`."""
        videos = read_split(root, split)[:max_videos]
        return videos, prediction_videos(videos, self.predict_videos(root, split, videos, progress=progress))


def predict_labelled_frames(persons: PersonsFn, root: str | Path, split: str, videos: Sequence[Video],
                            num_frames: int, max_size: int, batch_size: int = 8, progress: bool = False
                            ) -> dict[str, list[list[Person]]]:
    """The evaluation loop shared by PAVE-Net and the baselines: every labelled frame of `videos` (split `split` of
    `root`) as a clip of `num_frames` frames resized to `max_size`, through `persons(clips, masks, orig_sizes)`.

    Returns video name -> people per frame (all frames; unlabelled ones empty).
    """
    from tqdm.auto import tqdm

    ds = PoseTrackClips(root, split, num_frames=num_frames, max_size=max_size, train=False, videos=videos)
    # An explicit generator keeps the global RNG untouched, so validating mid-training does not shift dropout.
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, collate_fn=collate_clips,
                                         generator=torch.Generator())
    preds: dict[str, list[list[Person]]] = {v.name: [[] for _ in v.frames] for v in videos}
    with tqdm(total=len(ds), disable=not progress, desc=f"predict {split}") as bar:
        for clips, masks, targets in loader:
            sizes = torch.stack([t["orig_size"] for t in targets])                     # [B, 2] (h, w)
            for t, people in zip(targets, persons(clips, masks, sizes)):
                preds[t["video"]][t["frame_index"]] = people
            bar.update(len(targets))
    return preds


def check_prediction_dir(root: str | Path, split: str, out_dir: str | Path, overwrite: bool) -> None:
    """`out_dir` can take the prediction files of `root`'s split `split`: a folder (or none yet) outside
    `root/annotations`, and, unless `overwrite`, holding no file of the same name as a GT file of the split."""
    out_dir = check_output_dir(out_dir, "prediction folder")
    annotations = (Path(root) / "annotations").resolve()
    if out_dir.resolve() == annotations or annotations in out_dir.resolve().parents:
        raise OutputError(f"{out_dir}: is inside the dataset's annotations ({annotations}); predictions written "
                          f"there would replace the ground truth; choose another --out")
    if not overwrite:
        gt_files = sorted((Path(root) / "annotations" / split).glob("*.json"))
        refuse_existing([out_dir / p.name for p in gt_files], "prediction files",
                        "pass --force to replace them, or choose another --out")


def prediction_videos(videos: Sequence[Video], people: dict[str, list[list[Person]]]) -> list[Video]:
    """GT `videos` with their people replaced by predictions (video name -> people per frame), frames kept."""
    return [Video(v.name, [Frame(f.file_name, f.image_id, f.is_labeled, ppl)
                           for f, ppl in zip(v.frames, people[v.name])]) for v in videos]


def write_poses(people: Sequence[People], out: str | Path, threshold: float = 0.0) -> Path:
    """Per-frame poses of a video (`Predictor.predict_video` output) as `.json` or `.csv`, written atomically.

    Only people with score >= `threshold` are written. `person` is the rank of the person in its frame by score:
    PAVE-Net estimates poses frame by frame, it does not link people across frames (that is a tracker's job).
    - JSON: {"joints": [K names], "frames": [{"frame": t, "people": [{"person", "score", "keypoints" [K][2] px,
      "keypoint_scores" [K]}]}]}, one entry per frame, empty frames included;
    - CSV: one row per joint: frame, person, score, joint, x, y, joint_score.
    """
    out = _poses_path(out)
    kept = [[p for p in ppl if p["score"] >= threshold] for ppl in people]
    if out.suffix.lower() == ".json":
        frames = [{"frame": t, "people": [{"person": i, "score": round(float(p["score"]), 4),
                                           "keypoints": np.round(p["keypoints"].astype(float), 2).tolist(),
                                           "keypoint_scores": np.round(p["keypoint_scores"].astype(float), 4).tolist()}
                                          for i, p in enumerate(ppl)]} for t, ppl in enumerate(kept)]
        return write_json_atomic({"joints": list(MODEL_NAMES), "frames": frames}, out)
    rows = ["frame,person,score,joint,x,y,joint_score"]
    rows += [f"{t},{i},{p['score']:.4f},{name},{x:.2f},{y:.2f},{js:.4f}"
             for t, ppl in enumerate(kept) for i, p in enumerate(ppl)
             for name, (x, y), js in zip(MODEL_NAMES, p["keypoints"], p["keypoint_scores"])]
    return write_text_atomic("\n".join(rows) + "\n", out)


def _poses_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"{path}: expected a poses file ending in .json or .csv")
    return path


def render_demo(predictor: Predictor, video: str | Path | np.ndarray, out: str | Path,
                threshold: float = DEMO_THRESHOLD,
                fps: float = 8.0, max_frames: int | None = None, progress: bool = True,
                poses_out: str | Path | None = None) -> Path:
    """Skeleton overlay of every frame (people with score >= threshold, coloured by query) to a GIF or MP4;
    with `poses_out`, the same people's coordinates to a .json or .csv file too (`write_poses`)."""
    from pavenet_lite.viz import overlay_people, write_gif, write_mp4

    from pavenet_lite.viz.video import check_mp4_writer

    # Everything that can fail after the prediction is checked before it.
    out = Path(out)
    if out.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"{out}: expected an output ending in .gif or .mp4")
    check_output_file(out, "demo video")
    if not (isinstance(fps, (int, float)) and fps > 0):
        raise ValueError(f"{out}: fps must be a number > 0, got {fps}")
    if out.suffix.lower() == ".mp4":
        try:
            check_mp4_writer(out)
        except ImportError as e:
            raise ValueError(str(e)) from None
    if poses_out is not None:
        check_output_file(_poses_path(poses_out), "poses file")
    frames = load_frames(video) if not isinstance(video, np.ndarray) else video
    frames = frames[:max_frames]
    people = predictor.predict_video(frames, progress=progress)
    kept = [[p for p in ppl if p["score"] >= threshold] for ppl in people]
    if poses_out is not None:
        write_poses(kept, poses_out)  # exactly the people drawn
    drawn = [overlay_people(f, ppl) for f, ppl in zip(frames, kept)]
    best = max((p["score"] for ppl in people for p in ppl), default=float("nan"))
    if not best >= threshold:
        warnings.warn(f"render_demo: no person reaches the score threshold {threshold} in any frame (highest score "
                      f"{best:.3f}); the video shows no skeleton. Lower --threshold, or train the model longer.")
    if out.suffix.lower() == ".gif":
        write_gif(drawn, out, fps=fps)
    else:
        write_mp4(drawn, out, fps=fps)
    return out
