"""Training on part of a split: the first-class way to fit PoseTrack into a course's GPU budget.

A subset is a set of videos (annotation files of `root/annotations/<split>/`), chosen in one of two ways:

* `count=N`: N videos spread evenly over the split sorted by file name, video round(i * n / N) for i < N. The choice
  depends on the file names only (no seed), so it is the same on every machine, and it spans the split's sources
  (PoseTrack names start with a running number, then the source collection) instead of taking its first N;
* `video_list=FILE`: the names in a text file, one per line (file name with or without `.json`; blank lines and
  `#` comments ignored).

Only the chosen files are read. SynthTrack data (`pavenet synth`) and real PoseTrack share the layout.
"""
from __future__ import annotations

from pathlib import Path

from pavenet_lite.data.annotations import Video
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.data.posetrack import read_video


def spread(names: list[str], count: int) -> list[str]:
    """`count` of the sorted `names`, evenly spaced from the first (round(i * n / count) for i < count)."""
    n = len(names)
    if not 1 <= count <= n:
        raise ValueError(f"cannot spread {count} videos over {n}")
    return [names[int(i * n / count + 0.5)] for i in range(count)]


def read_video_list(path: str | Path, available: list[str]) -> list[str]:
    """Video names listed in `path`, in file order, each checked against `available` (names without `.json`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video list not found (a text file, one video name per line)")
    known, chosen = set(available), []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        name = line.split("#", 1)[0].strip().removesuffix(".json")
        if not name:
            continue
        if name not in known:
            close = [a for a in available if name in a][:3]
            raise ValueError(f"{path}, line {number}: video {name!r} is not in the split"
                             + (f" (did you mean {', '.join(close)}?)" if close else ""))
        if name in chosen:
            raise ValueError(f"{path}, line {number}: video {name!r} is listed twice")
        chosen.append(name)
    if not chosen:
        raise ValueError(f"{path}: the video list names no video")
    return chosen


def read_subset(root: str | Path, split: str, count: int | None = None, video_list: str | Path | None = None,
                require_labeled: bool = False) -> list[Video] | None:
    """The chosen videos of `root/annotations/<split>/`, read; None when neither `count` nor `video_list` is given
    (the caller reads the whole split)."""
    if count is None and video_list is None:
        return None
    if count is not None and video_list is not None:
        raise ValueError("give either a number of train videos or a video list, not both")
    ann_dir = Path(root) / "annotations" / split
    files = {p.stem: p for p in sorted(ann_dir.glob("*.json"))}
    if not files:
        raise AnnotationError(ann_dir, "*.json", "at least one annotation file", "none")
    names = sorted(files)
    if count is not None and not 1 <= count <= len(names):
        raise ValueError(f"{ann_dir}: asked for {count} train videos, the split has {len(names)}")
    chosen = spread(names, count) if count is not None else read_video_list(video_list, names)
    return [read_video(files[name], "gt", require_labeled) for name in chosen]
