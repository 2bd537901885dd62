"""Writing frames as GIF (Pillow) or MP4 (imageio-ffmpeg, which ships its own ffmpeg binary), and the preview GIF
of a SynthTrack/PoseTrack video with its ground-truth skeletons."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import imageio_ffmpeg
import numpy as np
from PIL import Image

from pavenet_lite.data.posetrack import image_path, read_video
from pavenet_lite.files import atomic_write
from pavenet_lite.viz.skeleton import overlay_people


def _check_frames(frames: Sequence[np.ndarray], path: Path) -> list[np.ndarray]:
    arrays = [np.asarray(f) for f in frames]
    if not arrays:
        raise ValueError(f"{path}: no frames to write")
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[-1] != 3 or a.shape != shape:
            raise ValueError(f"{path}: frame {i} must be [H, W, 3] uint8 like frame 0 {shape}, "
                             f"got {a.shape} {a.dtype}")
    return arrays


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 8.0) -> Path:
    """Write frames [H, W, 3] uint8 as a looping GIF at `fps` frames per second; returns the path."""
    path = Path(path)
    arrays = _check_frames(frames, path)
    if not fps > 0:
        raise ValueError(f"{path}: fps must be a number > 0, got {fps}")
    images = [Image.fromarray(a) for a in arrays]
    return atomic_write(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                       duration=int(round(1000 / fps)), loop=0, optimize=False),
                        binary=True)


def write_mp4(frames: Sequence[np.ndarray], path: str | Path, fps: float = 8.0) -> Path:
    """Write frames [H, W, 3] uint8 as an H.264 MP4 at `fps` frames per second; returns the path."""
    path = Path(path)
    arrays = _check_frames(frames, path)
    if not fps > 0:
        raise ValueError(f"{path}: fps must be a number > 0, got {fps}")
    h, w = arrays[0].shape[:2]
    # H.264 with yuv420p needs even sizes: pad one black row / column rather than resample.
    ph, pw = h + h % 2, w + w % 2
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(str(path), (pw, ph), fps=fps, macro_block_size=2)
    writer.send(None)
    for a in arrays:
        padded = np.zeros((ph, pw, 3), np.uint8)
        padded[:h, :w] = a
        writer.send(padded)
    writer.close()
    return path


def render_preview_gif(root: str | Path, split: str = "val", out_path: str | Path = "preview.gif",
                       max_frames: int = 24, video: int = 0, scale: int = 2, fps: float = 8.0) -> Path:
    """A GIF of one video of `root/annotations/<split>` with its ground-truth skeletons (labelled frames).

    `video` indexes the split's files sorted by name. Occluded (annotated, not visible) joints are hollow.
    """
    files = sorted((Path(root) / "annotations" / split).glob("*.json"))
    if not files:
        raise ValueError(f"{Path(root) / 'annotations' / split}: no annotation files (*.json) to preview")
    if not 0 <= video < len(files):
        raise ValueError(f"video index {video} out of range: split {split!r} has {len(files)} videos")
    v = read_video(files[video])
    drawn = []
    for frame in v.frames[:max_frames]:
        with Image.open(image_path(root, frame)) as img:
            drawn.append(overlay_people(np.asarray(img.convert("RGB")), frame.people, scale=scale))
    return write_gif(drawn, out_path, fps=fps)
