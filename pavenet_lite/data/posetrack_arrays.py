"""PoseTrack annotation files read for evaluation: one `json.loads` per file, numpy on whole lists.

`read_video` builds one `Person` per annotation and checks every value in Python; on a PoseTrack18-val-sized set
that is most of the cost of an evaluation. `read_arrays` reads a PoseTrack18/21 file into `VideoArrays`: the keypoint
lists of all annotations become one array in one `np.array` call, checked by a few vectorised tests (shape, number
type, finiteness, integer ids, known image ids, head boxes). When any test fails, or the file is anything else
(PoseTrack17 `annolist`), the already parsed JSON goes through `video_from_json`: it finds the first bad entry and
raises its error naming the file and the field, or accepts what the fast tests were too strict for. So `read_arrays`
accepts exactly the files `read_video` accepts, with the same errors and warnings, and the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pavenet_lite.data.annotations import Video
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.data.posetrack import (
    KINDS, parse_json, pt18_joint_order, read_text, video_from_json, warn_unknown_images)
from pavenet_lite.joints import NUM_PT18

_MAX_EXACT_INT = 2 ** 53  # beyond it the reader's int(float(v)) is not v: such ids take the general path


@dataclass
class VideoArrays:
    """One video as flat arrays: n people in (frame, file order) order, F frames, joints in PT18 order.

    file_names [F] str and image_ids [F] int64 of the frames; offsets [F + 1]: the people of frame t are the rows
    offsets[t]:offsets[t + 1]. keypoints [n, 17, 2] pixels (0 where not annotated); annotated [n, 17] bool;
    head_box [n, 4] corners x1, y1, x2, y2 (NaN rows: no head box); scores [n, 17] per-joint scores (0 where the
    person has none; `scored` [n] says which have); track_id [n] int64; ignore_regions: frame t -> polygons [V, 2].
    """

    name: str
    path: str | None
    file_names: list[str]
    image_ids: np.ndarray
    offsets: np.ndarray
    keypoints: np.ndarray
    annotated: np.ndarray
    head_box: np.ndarray
    scores: np.ndarray
    scored: np.ndarray
    track_id: np.ndarray
    ignore_regions: dict[int, list[np.ndarray]] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.file_names)

    @property
    def frame(self) -> np.ndarray:
        """[n] frame index of each person."""
        return np.repeat(np.arange(self.num_frames), np.diff(self.offsets))

    def where(self, t: int, track_id: int | None = None) -> str:
        """`<file>: frame t ('<file_name>')[, person track_id k]`, the place of a problem in messages."""
        who = "" if track_id is None else f", person track_id {track_id}"
        return f"{self.path or self.name}: frame {t} ({self.file_names[t]!r}){who}"


class _NotFast(Exception):
    """A vectorised check failed: let `video_from_json` find the entry and say what is wrong with it."""


def read_arrays(path: str | Path, kind: str = "gt") -> VideoArrays:
    """Read one PoseTrack18/21 or PoseTrack17 file as `VideoArrays`; `kind` and every error as in `read_video`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    text = read_text(path)
    data = parse_json(text, path)
    try:
        return _read_pt18(data, text, path, kind)
    except _NotFast:
        return arrays_from_video(video_from_json(data, path, kind))


def arrays_from_video(video: Video) -> VideoArrays:
    """The `VideoArrays` of a `Video`; a person field of the wrong shape raises AnnotationError naming it."""
    people = [(t, k, p) for t, f in enumerate(video.frames) for k, p in enumerate(f.people)]
    n = len(people)

    def stack(values: list, shape: tuple[int, ...], dtype: type, name: str) -> np.ndarray:
        """One value per person -> [n, *shape] with one concatenate; names the first person of the wrong shape."""
        for (t, k, p), v in zip(people, values):
            if getattr(v, "shape", None) != shape and np.shape(v) != shape:
                raise AnnotationError(video.path or video.name, f"frames[{t}].people[{k}].{name} (track_id "
                                      f"{p.track_id})", f"shape {list(shape)}", str(list(np.shape(v))))
        if not values:
            return np.zeros((0,) + shape, dtype=dtype)
        return np.concatenate(values, axis=0, dtype=dtype, casting="unsafe").reshape((n,) + shape)

    no_box, no_scores = np.full(4, np.nan), np.zeros(NUM_PT18)
    return VideoArrays(
        name=video.name, path=video.path, file_names=[f.file_name for f in video.frames],
        image_ids=np.array([int(f.image_id) for f in video.frames], dtype=np.int64).reshape(-1),
        offsets=np.concatenate([[0], np.cumsum([len(f.people) for f in video.frames], dtype=np.int64)]),
        keypoints=stack([p.keypoints for _, _, p in people], (NUM_PT18, 2), np.float64, "keypoints"),
        annotated=stack([p.annotated for _, _, p in people], (NUM_PT18,), bool, "annotated"),
        head_box=stack([no_box if p.head_box is None else p.head_box for _, _, p in people], (4,), np.float64,
                       "head_box"),
        scores=stack([no_scores if p.scores is None else p.scores for _, _, p in people], (NUM_PT18,), np.float64,
                     "scores"),
        scored=np.array([p.scores is not None for _, _, p in people], dtype=bool).reshape(-1),
        track_id=np.array([int(p.track_id) for _, _, p in people], dtype=np.int64).reshape(-1),
        ignore_regions={t: list(f.ignore_regions) for t, f in enumerate(video.frames) if f.ignore_regions})


# ------------------------------------------------------------------------------------------- vectorised checks

def _bool_in_list(text: str) -> bool:
    """Whether a JSON true/false may stand in a list: numpy would read it as 1/0 among numbers, the reader rejects
    it. A bool in a list follows '[' or ','; one as an object value follows ':'. (A string that merely contains
    ',true' only sends the file down the general path.)"""
    for word in ("true", "false"):
        i = text.find(word)
        while i >= 0:
            j = i - 1
            while j >= 0 and text[j] in " \t\r\n":
                j -= 1
            if j >= 0 and text[j] in "[,":
                return True
            i = text.find(word, i + len(word))
    return False


def _is_number(values: list) -> bool:
    return set(map(type, values)) <= {int, float}  # `type`, not isinstance: bool is an int


def _ints(values: list) -> np.ndarray:
    """JSON integers (3 or 3.0) -> int64 [len(values)]."""
    if not _is_number(values):
        raise _NotFast
    a = np.array(values).reshape(-1)  # int64, float64 (some floats) or object (ints beyond int64)
    if a.dtype.kind not in "if" or not np.isfinite(a).all() or (np.abs(a) > _MAX_EXACT_INT).any() \
            or (a != np.round(a)).any():
        raise _NotFast
    return a.astype(np.int64)


def _rows(values: list, width: int) -> np.ndarray:
    """A list of lists of `width` finite numbers -> float64 [len(values), width]."""
    if not values:
        return np.zeros((0, width))
    try:
        a = np.array(values)
    except ValueError:  # ragged
        raise _NotFast from None
    if a.dtype.kind not in "if" or a.shape != (len(values), width) or not np.isfinite(a).all():
        raise _NotFast  # strings, null, nested lists, wrong lengths, NaN/inf
    return a.astype(np.float64, copy=False)


def _optional_rows(values: list, width: int, absent=lambda v: v is None or v == []) -> tuple[np.ndarray, np.ndarray]:
    """An optional field holding `width` numbers, one value per annotation -> (present [m], rows [present, width])."""
    if None not in values and [] not in values:  # the usual file: every annotation has it (else _rows fails)
        return np.ones(len(values), dtype=bool), _rows(values, width)
    present = np.array([not absent(v) for v in values], dtype=bool).reshape(-1)
    return present, _rows([v for v, p in zip(values, present) if p], width)


def _polygons(xs: object, ys: object) -> list[np.ndarray]:
    """`ignore_regions_x` / `_y` of one image -> polygons [V, 2]."""
    if type(xs) is not list or type(ys) is not list or len(xs) != len(ys):
        raise _NotFast
    polygons = []
    for x, y in zip(xs, ys):
        if type(x) is not list or type(y) is not list or len(x) != len(y):
            raise _NotFast
        polygons.append(_rows(x and [x, y], len(x)).T.reshape(len(x), 2))
    return polygons


def _read_pt18(data: object, text: str, path: Path, kind: str) -> VideoArrays:
    """The fast path: the checks of `posetrack._read_pt18`, vectorised; `_NotFast` when one fails."""
    if type(data) is not dict or "annolist" in data or type(data.get("images")) is not list or _bool_in_list(text):
        raise _NotFast
    images = data["images"]
    order = pt18_joint_order(data, path)  # its errors come first in the reader too
    n = len(order)
    plain = "\\" not in text  # no escapes: a key absent from the text is absent from every object

    def column(items: list[dict], key: str) -> list:
        return [item.get(key) for item in items] if f'"{key}"' in text or not plain else [None] * len(items)

    try:
        image_ids = _ints([img["id"] for img in images])
        names = [img["file_name"] for img in images]
        sizes = column(images, "width") + column(images, "height")
        regions = zip(range(len(images)), column(images, "ignore_regions_x"), column(images, "ignore_regions_y"))
    except (KeyError, TypeError, AttributeError):  # a field missing, an entry that is not an object
        raise _NotFast from None
    if set(map(type, names)) - {str} or "" in names or len(np.unique(image_ids)) != len(image_ids):
        raise _NotFast
    _ints([s for s in sizes if s is not None])
    ignore = {t: _polygons(x or [], y or []) for t, x, y in regions if x or y}

    anns = data.get("annotations") or []
    if type(anns) is not list:
        raise _NotFast
    try:
        ann_ids = _ints([a["image_id"] for a in anns])
    except (KeyError, TypeError):
        raise _NotFast from None
    by_id = np.argsort(image_ids)
    pos = np.minimum(np.searchsorted(image_ids[by_id], ann_ids), max(len(images) - 1, 0))
    kept = image_ids[by_id][pos] == ann_ids if len(images) else np.zeros(len(anns), dtype=bool)
    if kind == "gt" and not kept.all():
        raise _NotFast
    frame = by_id[pos[kept]]  # [m] frame of each kept annotation
    kept_anns = anns if kept.all() else [a for a, k in zip(anns, kept) if k]
    try:
        track_id = _ints([a["track_id"] for a in kept_anns])
        triples = _rows([a["keypoints"] for a in kept_anns], 3 * n).reshape(-1, n, 3)  # [m, n, 3]
    except (KeyError, TypeError):
        raise _NotFast from None
    has_head, head = _optional_rows(column(kept_anns, "bbox_head"), 4)
    _optional_rows(column(kept_anns, "bbox"), 4)  # checked, not used by the evaluation
    scored, score_rows = _optional_rows(column(kept_anns, "scores"), n, lambda v: not v)  # as in poseval: [] = none
    person_scores = [v for v in column(kept_anns, "score") if v is not None]
    if not _is_number(person_scores) or not np.isfinite(np.array(person_scores, dtype=np.float64)).all():
        raise _NotFast

    m = len(kept_anns)
    on = ~((triples[..., 0] == 0) & (triples[..., 1] == 0) & (triples[..., 2] == 0))  # (0, 0, 0) = not annotated
    annotated = np.zeros((m, NUM_PT18), dtype=bool)
    annotated[:, order] = on
    if kind == "gt" and (annotated.any(axis=1) & ~has_head).any():
        raise _NotFast  # GT joints without a head box
    keypoints = np.zeros((m, NUM_PT18, 2))
    keypoints[:, order] = np.where(on[..., None], triples[..., :2], 0.0)
    head_box = np.full((m, 4), np.nan)
    head_box[has_head] = np.concatenate([head[:, :2], head[:, :2] + head[:, 2:]], axis=1)
    scores = np.zeros((m, NUM_PT18))
    scores[np.ix_(np.flatnonzero(scored), order)] = score_rows
    if not kept.all():
        warn_unknown_images(path, ann_ids[~kept].tolist())

    by_frame = np.argsort(frame, kind="stable")  # people of a frame keep their file order
    counts = np.bincount(frame, minlength=len(images))
    return VideoArrays(
        name=path.stem, path=str(path), file_names=names, image_ids=image_ids,
        offsets=np.concatenate([[0], np.cumsum(counts)]), keypoints=keypoints[by_frame],
        annotated=annotated[by_frame], head_box=head_box[by_frame], scores=scores[by_frame],
        scored=scored[by_frame], track_id=track_id[by_frame], ignore_regions=ignore)
