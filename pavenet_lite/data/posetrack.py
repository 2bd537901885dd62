"""Readers of PoseTrack annotation files: PoseTrack17 (`annolist`) and PoseTrack18/21 (COCO-like), one file per video.

Both formats become the one in-memory representation of `pavenet_lite.data.annotations` (Video -> Frame -> Person),
with keypoints as `[17, 2]` pixel arrays in PT18 order whatever the file's order was:

* PoseTrack18/21: keypoints are mapped by the names of the file's `categories[0].keypoints` (PT18 order when the file
  has no category list). A joint stored as (0, 0, 0) is not annotated; any other joint is annotated whatever its
  visibility flag v, and visible means v > 0 (docs/posetrack_eval.md). `bbox_head` [x, y, w, h] becomes the head box
  corners (x1, y1, x2, y2).
* PoseTrack17: the listed points are the annotated ones, with poseval joint ids mapped by `joints.POSEVAL_TO_PT18`;
  the person's x1/y1/x2/y2 is the head box. PT17 files carry no image ids: we compute the PoseTrack18 id from the
  file name when it follows the PoseTrack naming, else use the frame's position.

Every problem with the input raises `AnnotationError` naming the file, the field (`annotations[3].keypoints`) and
what was expected, instead of a KeyError from deep inside.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, NoReturn

import numpy as np

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.data.image_ids import posetrack18_image_id
from pavenet_lite.joints import NUM_PT18, POSEVAL_TO_PT18, PT18_NAMES

__all__ = ["AnnotationError", "read_video", "video_from_json", "read_text", "parse_json", "read_dir", "read_split",
           "image_path"]

KINDS = ("gt", "pred")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Fields:
    """Typed access to JSON values; every failure raises AnnotationError naming `path` and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, expected: str, got: str | None = None) -> NoReturn:
        raise AnnotationError(self.path, field, expected, got)

    def req(self, obj: dict, key: str, where: str) -> Any:
        if key not in obj:
            self.fail(f"{where}.{key}" if where else key, "a value (required field is missing)")
        return obj[key]

    def dict_(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            self.fail(where, "a JSON object", type(value).__name__)
        return value

    def list_(self, value: Any, where: str) -> list:
        if not isinstance(value, list):
            self.fail(where, "a JSON list", type(value).__name__)
        return value

    def scalar(self, value: Any, where: str) -> Any:
        """PoseTrack17 wraps every value in a 1-element list; accept both the wrapped and the bare value."""
        if isinstance(value, list):
            if len(value) != 1:
                self.fail(where, "a value or a 1-element list", _show(value))
            return value[0]
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, "a number", _show(value))
        if not math.isfinite(value):
            self.fail(where, "a finite number", _show(value))
        return float(value)

    def integer(self, value: Any, where: str) -> int:
        number = self.number(value, where)
        if number != int(number):
            self.fail(where, "an integer", _show(value))
        return int(number)

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, "a non-empty string", _show(value))
        return value

    def numbers(self, value: Any, where: str, n: int | None, what: str = "") -> np.ndarray:
        """A list of `n` finite numbers (any length when n is None) -> float64 array [n]."""
        values = self.list_(value, where)
        if n is not None and len(values) != n:
            self.fail(where, what or f"{n} numbers", f"{len(values)}")
        if all(type(v) in (int, float) for v in values):  # fast path; `type` because bool is an int
            array = np.asarray(values, dtype=np.float64).reshape(len(values))
            if np.isfinite(array).all():
                return array
        for i, v in enumerate(values):  # slow path: find the first bad value for the message
            self.number(v, f"{where}[{i}]")
        return np.asarray(values, dtype=np.float64).reshape(len(values))


def read_text(path: Path) -> str:
    """The UTF-8 text of an annotation file; a missing, unreadable or non-UTF-8 file raises AnnotationError."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise AnnotationError(path, "<file>", "an existing annotation file") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(path, "<json>", "UTF-8 JSON text", str(e)) from None
    except OSError as e:
        raise AnnotationError(path, "<file>", "a readable annotation file", str(e)) from None


def parse_json(text: str, path: Path) -> Any:
    """`json.loads(text)`; malformed JSON raises AnnotationError naming `path`, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        got = f"{e.msg} at line {e.lineno}, column {e.colno} (truncated or malformed file?)"
        raise AnnotationError(path, "<json>", "valid JSON", got) from None


def _empty_person(track_id: int) -> Person:
    return Person(keypoints=np.zeros((NUM_PT18, 2)), annotated=np.zeros(NUM_PT18, dtype=bool),
                  visible=np.zeros(NUM_PT18, dtype=bool), track_id=track_id)


# ----------------------------------------------------------------------------------------------------- PoseTrack18/21
def pt18_joint_order(data: dict, path: Path) -> np.ndarray:
    """PT18 index of each keypoint triple of the file, from `categories[0].keypoints` (PT18 order if absent)."""
    return _pt18_joint_order(data, _Fields(path))


def _pt18_joint_order(data: dict, f: _Fields) -> np.ndarray:
    """PT18 index of each keypoint triple of the file, from `categories[0].keypoints` (PT18 order if absent)."""
    categories = data.get("categories")
    if not categories:
        return np.arange(NUM_PT18)
    f.list_(categories, "categories")
    category = f.dict_(categories[0], "categories[0]")
    if "keypoints" not in category:
        return np.arange(NUM_PT18)
    names = f.list_(category["keypoints"], "categories[0].keypoints")
    order = []
    for i, name in enumerate(names):
        if name not in PT18_NAMES:
            f.fail(f"categories[0].keypoints[{i}]", f"a PoseTrack18 joint name ({', '.join(PT18_NAMES)})",
                   _show(name))
        if PT18_NAMES.index(name) in order:
            f.fail(f"categories[0].keypoints[{i}]", "each joint name once", f"{name!r} again")
        order.append(PT18_NAMES.index(name))
    return np.asarray(order, dtype=np.int64)


def _pt18_box(ann: dict, key: str, where: str, f: _Fields) -> np.ndarray | None:
    """[x, y, w, h] or None (absent or empty list)."""
    value = ann.get(key)
    if value is None or value == []:
        return None
    return f.numbers(value, f"{where}.{key}", 4, "4 numbers [x, y, w, h]")


def _pt18_person(ann: dict, where: str, order: np.ndarray, kind: str, f: _Fields) -> Person:
    n = len(order)
    track_id = f.integer(f.req(ann, "track_id", where), f"{where}.track_id")
    triples = f.numbers(f.req(ann, "keypoints", where), f"{where}.keypoints", 3 * n,
                        f"{3 * n} numbers ({n} joints x 3)").reshape(n, 3)
    person = _empty_person(track_id)
    annotated = ~((triples[:, 0] == 0) & (triples[:, 1] == 0) & (triples[:, 2] == 0))  # (0, 0, 0) = not annotated
    person.annotated[order] = annotated
    person.visible[order] = annotated & (triples[:, 2] > 0)
    person.keypoints[order] = np.where(annotated[:, None], triples[:, :2], 0.0)

    head = _pt18_box(ann, "bbox_head", where, f)
    if head is not None:
        person.head_box = np.array([head[0], head[1], head[0] + head[2], head[1] + head[3]])
    elif kind == "gt" and person.annotated.any():
        f.fail(f"{where}.bbox_head", "a head box [x, y, w, h] (ground truth with annotated joints needs one)")
    person.box = _pt18_box(ann, "bbox", where, f)

    scores = ann.get("scores")
    if scores:  # an empty list counts as missing, as in poseval
        person.scores = np.zeros(NUM_PT18)
        person.scores[order] = f.numbers(scores, f"{where}.scores", n, f"{n} per-joint scores")
    if ann.get("score") is not None:
        person.score = f.number(ann["score"], f"{where}.score")
    return person


def _pt18_ignore_regions(img: dict, where: str, f: _Fields) -> list[np.ndarray]:
    xs, ys = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
    f.list_(xs, f"{where}.ignore_regions_x")
    f.list_(ys, f"{where}.ignore_regions_y")
    if len(xs) != len(ys):
        f.fail(f"{where}.ignore_regions_y", f"{len(xs)} polygons (as many as ignore_regions_x)", f"{len(ys)}")
    regions = []
    for r, (x, y) in enumerate(zip(xs, ys)):
        px = f.numbers(x, f"{where}.ignore_regions_x[{r}]", None)
        py = f.numbers(y, f"{where}.ignore_regions_y[{r}]", len(px), f"{len(px)} numbers (as many as x)")
        regions.append(np.stack([px, py], axis=1))  # [n, 2]
    return regions


def _read_pt18(data: dict, kind: str, f: _Fields) -> list[Frame]:
    images = f.list_(f.req(data, "images", ""), "images")
    order = _pt18_joint_order(data, f)
    frames: list[Frame] = []
    index_of: dict[int, int] = {}
    explicit_label: list[bool] = []
    for i, img in enumerate(images):
        where = f"images[{i}]"
        f.dict_(img, where)
        image_id = f.integer(f.req(img, "id", where), f"{where}.id")
        if image_id in index_of:
            f.fail(f"{where}.id", "unique image ids", f"{image_id}, already used by images[{index_of[image_id]}]")
        index_of[image_id] = i
        frame = Frame(file_name=f.string(f.req(img, "file_name", where), f"{where}.file_name"),
                      image_id=image_id, is_labeled=bool(img.get("is_labeled", False)),
                      ignore_regions=_pt18_ignore_regions(img, where, f))
        explicit_label.append("is_labeled" in img)
        for key in ("width", "height"):
            if img.get(key) is not None:
                setattr(frame, key, f.integer(img[key], f"{where}.{key}"))
        frames.append(frame)

    annotations = f.list_(data.get("annotations") or [], "annotations")
    dropped: list[int] = []
    for a, ann in enumerate(annotations):
        where = f"annotations[{a}]"
        f.dict_(ann, where)
        image_id = f.integer(f.req(ann, "image_id", where), f"{where}.image_id")
        if image_id not in index_of:
            if kind == "gt":
                f.fail(f"{where}.image_id", "the id of an entry of `images`", str(image_id))
            dropped.append(image_id)  # poseval silently drops prediction entries of unknown images; we say so
            continue
        frames[index_of[image_id]].people.append(_pt18_person(ann, where, order, kind, f))
    if dropped:
        warn_unknown_images(f.path, dropped)
    for frame, explicit in zip(frames, explicit_label):
        if not explicit:  # prediction files and minimal GT: a frame with people is a labelled frame
            frame.is_labeled = bool(frame.people)
    return frames


def warn_unknown_images(path: Path, dropped: list[int]) -> None:
    """The warning for prediction annotations whose `image_id` is in no entry of `images` (poseval drops them)."""
    warnings.warn(f"{path}: {len(dropped)} annotations have an image_id listed in no entry of `images` (e.g. "
                  f"{sorted(set(dropped))[:3]}); poseval ignores them, so they count as not predicted", stacklevel=5)


# ------------------------------------------------------------------------------------------------------- PoseTrack17
def _pt17_person(rect: dict, where: str, kind: str, f: _Fields) -> Person:
    person = _empty_person(f.integer(f.scalar(f.req(rect, "track_id", where), f"{where}.track_id"),
                                     f"{where}.track_id"))
    annopoints = rect.get("annopoints") or []
    if isinstance(annopoints, list):
        annopoints = annopoints[0] if annopoints else {}
    f.dict_(annopoints, f"{where}.annopoints[0]")
    scores = np.zeros(NUM_PT18)
    has_score = False
    for p, point in enumerate(f.list_(annopoints.get("point") or [], f"{where}.annopoints[0].point")):
        pw = f"{where}.annopoints[0].point[{p}]"
        f.dict_(point, pw)
        joint = f.integer(f.scalar(f.req(point, "id", pw), f"{pw}.id"), f"{pw}.id")
        if not 0 <= joint < len(POSEVAL_TO_PT18):
            f.fail(f"{pw}.id", f"a poseval joint id 0..{len(POSEVAL_TO_PT18) - 1}", str(joint))
        j = POSEVAL_TO_PT18[joint]
        if person.annotated[j]:
            f.fail(f"{pw}.id", "each joint id once per person", f"id {joint} again")
        person.keypoints[j] = [f.number(f.scalar(f.req(point, c, pw), f"{pw}.{c}"), f"{pw}.{c}") for c in "xy"]
        person.annotated[j] = True
        visible = f.scalar(point.get("is_visible", 1), f"{pw}.is_visible")  # MPII files sometimes store "1"
        person.visible[j] = str(visible).strip().lower() not in ("0", "false", "")
        if point.get("score") is not None:
            scores[j] = f.number(f.scalar(point["score"], f"{pw}.score"), f"{pw}.score")
            has_score = True
    person.scores = scores if has_score else None

    corners = [c for c in ("x1", "y1", "x2", "y2") if c in rect]
    if len(corners) == 4:
        person.head_box = np.array([f.number(f.scalar(rect[c], f"{where}.{c}"), f"{where}.{c}")
                                    for c in ("x1", "y1", "x2", "y2")])
    elif corners or (kind == "gt" and person.annotated.any()):
        f.fail(f"{where}.x1/y1/x2/y2", "a head box x1, y1, x2, y2 (ground truth with annotated joints needs one)",
               f"only {corners}")
    if rect.get("score") is not None:
        person.score = f.number(f.scalar(rect["score"], f"{where}.score"), f"{where}.score")
    return person


def _pt17_ignore_regions(entry: dict, where: str, f: _Fields) -> list[np.ndarray]:
    regions = []
    for r, region in enumerate(f.list_(entry.get("ignore_regions") or [], f"{where}.ignore_regions")):
        rw = f"{where}.ignore_regions[{r}]"
        points = f.list_(f.req(f.dict_(region, rw), "point", rw), f"{rw}.point")
        poly = [[f.number(f.scalar(f.req(f.dict_(pt, f"{rw}.point[{p}]"), c, f"{rw}.point[{p}]"),
                                   f"{rw}.point[{p}].{c}"), f"{rw}.point[{p}].{c}") for c in "xy"]
                for p, pt in enumerate(points)]
        regions.append(np.asarray(poly, dtype=np.float64).reshape(len(poly), 2))  # [n, 2]
    return regions


def _pt17_image_id(file_name: str, position: int) -> int:
    try:
        return posetrack18_image_id(file_name)
    except ValueError:  # not PoseTrack naming: the frame's position is unique within the file
        return position


def _read_pt17(data: dict, kind: str, f: _Fields) -> list[Frame]:
    frames: list[Frame] = []
    index_of: dict[int, int] = {}
    for i, entry in enumerate(f.list_(data["annolist"], "annolist")):
        where = f"annolist[{i}]"
        f.dict_(entry, where)
        image = f.scalar(f.req(entry, "image", where), f"{where}.image")
        name = f.string(f.scalar(f.req(f.dict_(image, f"{where}.image[0]"), "name", f"{where}.image[0]"),
                                 f"{where}.image[0].name"), f"{where}.image[0].name")
        image_id = _pt17_image_id(name, i)
        if image_id in index_of:
            f.fail(f"{where}.image[0].name", "unique frames", f"{name!r}, already used by annolist[{index_of[image_id]}]")
        index_of[image_id] = i
        rects = f.list_(entry.get("annorect") or [], f"{where}.annorect")
        people = [_pt17_person(f.dict_(r, f"{where}.annorect[{k}]"), f"{where}.annorect[{k}]", kind, f)
                  for k, r in enumerate(rects)]
        labeled = f.scalar(entry["is_labeled"], f"{where}.is_labeled") if "is_labeled" in entry else bool(people)
        frames.append(Frame(file_name=name, image_id=image_id, is_labeled=bool(labeled), people=people,
                            ignore_regions=_pt17_ignore_regions(entry, where, f)))
    return frames


# ------------------------------------------------------------------------------------------------------- public API
def read_video(path: str | Path, kind: str = "gt", require_labeled: bool = False) -> Video:
    """Read one PoseTrack17 or PoseTrack18/21 file (format detected from its keys) into a `Video`.

    kind: "gt" (every person with annotated joints needs a head box; annotations must point at listed images) or
        "pred" (no head boxes needed; annotations of unknown images are dropped, as poseval does).
    require_labeled: raise if the video has no labelled frame (training needs at least one).
    Frames keep the file's order; unlabelled frames are kept with no people. Keypoints `[17, 2]` pixels, PT18 order.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    return video_from_json(parse_json(read_text(path), path), path, kind, require_labeled)


def video_from_json(data: Any, path: str | Path, kind: str = "gt", require_labeled: bool = False) -> Video:
    """`read_video` of a file already parsed by `json.loads` (`data`); errors still name `path`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    f = _Fields(path)
    f.dict_(data, "<top level>")
    if "annolist" in data:
        frames, label_field = _read_pt17(data, kind, f), "annolist[*].is_labeled"
    elif "images" in data or "annotations" in data:
        frames, label_field = _read_pt18(data, kind, f), "images[*].is_labeled"
    else:
        f.fail("<top level>", "a PoseTrack17 'annolist' or a PoseTrack18 'images' key", _show(sorted(data)))
    if require_labeled and not any(fr.is_labeled for fr in frames):
        f.fail(label_field, "at least one labelled frame", f"none of {len(frames)} frames")
    return Video(name=path.stem, frames=frames, path=str(path))


def read_dir(ann_dir: str | Path, kind: str = "gt", progress: bool = False,
             require_labeled: bool = False) -> list[Video]:
    """Read every `*.json` of a directory (one video each), sorted by file name."""
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise AnnotationError(ann_dir, "<directory>", "an existing directory of PoseTrack JSON files")
    files = sorted(ann_dir.glob("*.json"))
    if not files:
        raise AnnotationError(ann_dir, "*.json", "at least one annotation file", "an empty directory")
    from tqdm.auto import tqdm  # on use: its import would slow the start of every command that reads a file

    return [read_video(p, kind, require_labeled)
            for p in tqdm(files, desc=f"read {ann_dir.name}", disable=not progress)]


def read_split(root: str | Path, split: str, kind: str = "gt", progress: bool = False,
               require_labeled: bool = False) -> list[Video]:
    """Read `root/annotations/<split>/*.json` (the PoseTrack18 layout), sorted by file name."""
    return read_dir(Path(root) / "annotations" / split, kind, progress, require_labeled)


def image_path(root: str | Path, frame: Frame, where: str = "file_name") -> Path:
    """The image of `frame`: its `file_name` (e.g. `images/val/000342_mpii_test/000000.jpg`) under the dataset root.

    A `file_name` that is absolute or climbs out with `..` raises `AnnotationError` (`where` names the frame):
    a dataset reads its own images only.
    """
    name = PurePosixPath(frame.file_name.replace("\\", "/"))
    if name.is_absolute() or PureWindowsPath(frame.file_name).drive or ".." in name.parts:
        raise AnnotationError(root, where, "a path inside the dataset root (relative, without '..')",
                              repr(frame.file_name))
    return Path(root) / frame.file_name
