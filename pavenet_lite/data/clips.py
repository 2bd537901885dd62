"""Clips of F = 2T+1 frames around each labelled frame, the PyTorch Dataset over them, and the batch collate.

PoseTrack labels only some frames of a video, but the model looks at the T frames before and after the labelled
(centre) frame as well. One sample = one labelled frame of one video; the targets are of the centre frame, plus, on
request, where the same people (by track id) are in the other frames of the clip when those are labelled.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.data.errors import AnnotationError, MissingImageError
from pavenet_lite.data.posetrack import image_path, read_split
from pavenet_lite.data.transforms import AugmentConfig, ClipTransform, transform_people
from pavenet_lite.joints import K, pt18_to_model
from pavenet_lite.keypoint_ops import pixels_to_normalised


def clip_frame_indices(center: int, num_frames: int, video_len: int) -> list[int]:
    """Frame indices of the clip around `center`: [center - T, ..., center + T] with F = `num_frames` = 2T+1.

    At the ends of the video the missing neighbours are replaced by the nearest existing frame (the first or the
    last), so a clip always has F frames: clip_frame_indices(0, 5, 10) = [0, 0, 0, 1, 2].
    """
    if num_frames < 1 or num_frames % 2 == 0:
        raise ValueError(f"num_frames must be odd and >= 1 (F = 2T+1), got {num_frames}")
    if not 0 <= center < video_len:
        raise ValueError(f"center must be a frame index in [0, {video_len}), got {center}")
    half = num_frames // 2
    return [min(max(center + d, 0), video_len - 1) for d in range(-half, half + 1)]


def _box_xyxy(person: Person, joints: np.ndarray) -> np.ndarray | None:
    """Person box in output pixels: the annotated box when it has an area, else the extent of `joints` [k, 2]."""
    if person.box is not None and person.box[2] > 0 and person.box[3] > 0:
        x, y, w, h = person.box
        return np.array([x, y, x + w, y + h])
    return np.concatenate([joints.min(0), joints.max(0)])


def build_target(people: Sequence[Person], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Centre-frame targets in model order (K = 15) from people in output pixels (PT18 order).

    People without any annotated model joint (all joints cropped away, or box-only annotations) are left out: there is
    nothing for the model to regress. Coordinates are normalised by the unpadded size (h, w), edge-based:
    (x + 0.5) / w, (y + 0.5) / h (`keypoint_ops.pixels_to_normalised`), so 0 and 1 are the outer edges of the first
    and last pixel, as for the model's token grid and `grid_sample(align_corners=False)`.
    Returns keypoints [G, K, 2], annotated [G, K], visible [G, K], areas [G], boxes [G, 4] (xyxy), track_ids [G].
    """
    h, w = size
    keypoints, annotated, visible, areas, boxes, track_ids = [], [], [], [], [], []
    for p in people:
        ann = pt18_to_model(p.annotated)
        if not ann.any():
            continue
        kp = pt18_to_model(p.keypoints)  # [K, 2] pixels
        box = _box_xyxy(p, kp[ann])
        # At least one pixel of area: OKS divides by it, and a single annotated joint has zero extent.
        areas.append(max((box[2] - box[0]) * (box[3] - box[1]), 1.0) / (w * h))
        keypoints.append(pixels_to_normalised(kp, w, h))
        annotated.append(ann)
        visible.append(pt18_to_model(p.visible) & ann)
        boxes.append(pixels_to_normalised(box.reshape(2, 2), w, h).reshape(4))
        track_ids.append(p.track_id)
    g = len(keypoints)
    return {
        "keypoints": torch.tensor(np.array(keypoints).reshape(g, K, 2), dtype=torch.float32),
        "annotated": torch.tensor(np.array(annotated, dtype=bool).reshape(g, K)),
        "visible": torch.tensor(np.array(visible, dtype=bool).reshape(g, K)),
        "areas": torch.tensor(np.array(areas).reshape(g), dtype=torch.float32),
        "boxes": torch.tensor(np.array(boxes).reshape(g, 4), dtype=torch.float32),
        "track_ids": torch.tensor(np.array(track_ids).reshape(g), dtype=torch.int64),
    }


def frame_targets(video: Video, indices: Sequence[int], affine: np.ndarray, size: tuple[int, int],
                  track_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each centre-frame GT person is in every frame of the clip: keypoints `[G, F, K, 2]` (normalised as in
    `build_target`) and annotated `[G, F, K]`, False where frame `indices[f]` is unlabelled or the person (same track
    id) is absent there. `affine` is the clip's transform (a negative determinant means a flip). Only the optional
    neighbour-frame loss (`PAVENetConfig.loss_neighbour`) reads them; the paper supervises the centre frame alone."""
    flip = bool(np.linalg.det(affine[:2, :2]) < 0)
    G, Fr = len(track_ids), len(indices)
    keypoints, annotated = torch.zeros(G, Fr, K, 2), torch.zeros(G, Fr, K, dtype=torch.bool)
    for f, t in enumerate(indices):
        if G == 0 or not video.frames[t].is_labeled:
            continue
        there = build_target(transform_people(video.frames[t].people, affine, size, flip), size)
        row = {int(tid): i for i, tid in enumerate(there["track_ids"])}
        for g, tid in enumerate(track_ids.tolist()):
            if tid in row:
                keypoints[g, f], annotated[g, f] = there["keypoints"][row[tid]], there["annotated"][row[tid]]
    return keypoints, annotated


class PoseTrackClips(Dataset):
    """One sample per labelled frame: (clip [F, 3, h, w] float32, target dict) as in docs/design.md.

    root/split: a PoseTrack18-layout dataset (`root/annotations/<split>/*.json`, images under `root`), or pass the
    already read `videos` (images are still loaded from `root`). `all_frames=True` makes one sample per frame,
    labelled or not (inference on whole videos; unlabelled centre frames have empty targets). Training (`train=True`) draws one augmentation per
    clip from an RNG seeded by (seed, epoch, index), so a sample is the same whatever worker loads it; call
    `set_epoch(e)` to get new draws each epoch. Evaluation only resizes (long side = `max_size`).
    `with_frame_targets` adds `frame_keypoints` / `frame_annotated` (`frame_targets`) to every target.
    """

    def __init__(self, root: str | Path, split: str, num_frames: int = 3, max_size: int = 192, train: bool = True,
                 seed: int = 0, videos: Sequence[Video] | None = None, augment: AugmentConfig | None = None,
                 all_frames: bool = False, with_frame_targets: bool = False) -> None:
        clip_frame_indices(0, num_frames, 1)  # validates F early
        self.root, self.split, self.num_frames, self.train, self.seed = Path(root), split, num_frames, train, seed
        self.with_frame_targets = with_frame_targets
        self.videos = list(videos) if videos is not None else read_split(root, split, "gt", require_labeled=train)
        self.samples = [(v, t) for v, video in enumerate(self.videos)
                        for t in (range(len(video.frames)) if all_frames else video.labeled_indices)]
        self.transform = ClipTransform(max_size, train, augment)
        # Zoom-in (scale up to hi, crop down to min_crop) needs more source pixels than the output has.
        cfg = self.transform.cfg
        self._zoom = max(cfg.scale_range[1], 1.0) / cfg.min_crop if train else 1.0
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, video: Video, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Frame `index` of `video` as [H', W', 3] uint8, decoded at reduced size when it is much larger than needed
        (JPEG draft mode), and the original size (h, w)."""
        frame = video.frames[index]
        field = f"frame {index} (file_name {frame.file_name!r}) of {video.path or video.name}"
        path = image_path(self.root, frame, field)
        try:
            with Image.open(path) as img:
                orig_w, orig_h = img.size
                need = self.transform.max_size * self._zoom
                if need < max(orig_w, orig_h):
                    k = need / max(orig_w, orig_h)
                    img.draft("RGB", (int(np.ceil(orig_w * k)), int(np.ceil(orig_h * k))))
                array = np.asarray(img.convert("RGB"))
        except FileNotFoundError:
            raise MissingImageError(path, field, "an existing image file") from None
        except (UnidentifiedImageError, OSError) as e:
            raise MissingImageError(path, field, "a readable image file", str(e)) from None
        for key, actual in (("width", orig_w), ("height", orig_h)):
            declared = getattr(frame, key)
            if declared is not None and declared != actual:
                raise AnnotationError(video.path or video.name, f"frame {index} {key}",
                                      f"the {key} of {path}", f"{declared} != {actual}")
        return array, (orig_h, orig_w)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.get(i, self.epoch)

    def get(self, i: int, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Sample `i` as drawn in `epoch` (what `set_epoch(epoch)` then `[i]` gives), without changing `self.epoch`."""
        v, center = self.samples[i]
        video = self.videos[v]
        indices = clip_frame_indices(center, self.num_frames, len(video.frames))
        loaded = {t: self._load(video, t) for t in sorted(set(indices))}  # repeated end frames are read once
        orig_size = loaded[center][1]
        for t, (_, size) in loaded.items():
            if size != orig_size:
                raise AnnotationError(image_path(self.root, video.frames[t]), "image size",
                                      f"{orig_size[1]}x{orig_size[0]} like the centre frame of the clip",
                                      f"{size[1]}x{size[0]}")
        shapes = {loaded[t][0].shape for t in indices}
        frames = [loaded[t][0] for t in indices]
        if len(shapes) > 1:  # draft decoding sizes differ only if the JPEG encodings differ: match the centre frame
            frames = [np.asarray(Image.fromarray(a).resize(frames[len(frames) // 2].shape[1::-1])) for a in frames]
        rng = np.random.default_rng([self.seed, epoch, i]) if self.train else None
        clip, people, transform_affine = self.transform(np.stack(frames), video.frames[center].people, rng, orig_size)
        size = tuple(clip.shape[-2:])
        target = build_target(people, size)
        if self.with_frame_targets:  # ~10 % of a sample's loading time, so only for the loss that reads them
            target["frame_keypoints"], target["frame_annotated"] = frame_targets(
                video, indices, transform_affine, size, target["track_ids"])
        frame = video.frames[center]
        target.update(size=torch.tensor(size, dtype=torch.int64), orig_size=torch.tensor(orig_size, dtype=torch.int64),
                      video=video.name, frame_index=center, image_id=frame.image_id)
        return clip, target


def collate_clips(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Stack clips of different sizes: zero-pad bottom/right to the batch max.

    batch: B pairs (clip [F, 3, h_b, w_b], target). Returns clips [B, F, 3, H, W], masks [B, H, W] bool (True =
    padding; one mask per clip since all its frames share one size) and the list of B targets.
    """
    frames = {clip.shape[0] for clip, _ in batch}
    if len(frames) != 1:
        raise ValueError(f"all clips of a batch need the same number of frames F, got {sorted(frames)}")
    height = max(clip.shape[-2] for clip, _ in batch)
    width = max(clip.shape[-1] for clip, _ in batch)
    clips = torch.zeros(len(batch), frames.pop(), 3, height, width)  # [B, F, 3, H, W]
    masks = torch.ones(len(batch), height, width, dtype=torch.bool)  # [B, H, W]
    for b, (clip, _) in enumerate(batch):
        h, w = clip.shape[-2:]
        clips[b, :, :, :h, :w] = clip
        masks[b, :h, :w] = False
    return clips, masks, [target for _, target in batch]
