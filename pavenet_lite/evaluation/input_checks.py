"""Checks of evaluator input that poseval does not make: they change no number, they say when one is meaningless.

poseval pairs prediction frames with GT frames by position and never compares what the frames are, so predictions
listed in another order, or a prediction file saved under another video's name, are scored against the wrong
frames without a word. `warn_misaligned` says so loudly (the score is still poseval's). A GT set where no frame
lists a person evaluates nothing, and poseval prints a table of zeros; `require_frames` makes that an error.
"""
from __future__ import annotations

import warnings
from typing import Sequence

from pavenet_lite.data.annotations import Video
from pavenet_lite.evaluation.pairing import EvaluationError


def _misaligned(gt: Video, pred: Video) -> list[int]:
    """Positions t where the prediction frame is another image than the GT frame: both the image id and the
    file name differ (either one agreeing is enough, as other tools write one of them their own way)."""
    return [t for t, (g, p) in enumerate(zip(gt.frames, pred.frames))
            if g.image_id != p.image_id and g.file_name != p.file_name]


def warn_misaligned(pairs: Sequence[tuple[Video, Video]]) -> None:
    """One warning naming the prediction files whose frames do not line up with their GT files' frames."""
    found = []
    for gt, pred in pairs:
        bad = _misaligned(gt, pred)
        if bad:
            t = bad[0]
            g, p = gt.frames[t], pred.frames[t]
            found.append(f"{pred.path or pred.name}: {len(bad)} of {len(gt.frames)} frames (frame {t}: image_id "
                         f"{p.image_id} {p.file_name!r}, GT {g.image_id} {g.file_name!r})")
    if found:
        more = f"; and {len(found) - 3} more files" if len(found) > 3 else ""
        warnings.warn("prediction frames that are not the GT frame at the same position: " + "; ".join(found[:3])
                      + more + ". poseval pairs frames by position, so these predictions are scored against other "
                      "frames; write the frames in GT order, one file per GT file, same name", stacklevel=3)


def require_frames(num_frames: int, pairs: Sequence[tuple[Video, Video]]) -> None:
    """Raise `EvaluationError` when no GT frame lists a person: there is nothing to score."""
    if num_frames == 0:
        where = ", ".join(g.path or g.name for g, _ in pairs[:3]) + (" ..." if len(pairs) > 3 else "")
        total = sum(len(g.frames) for g, _ in pairs)
        raise EvaluationError(f"{where}: no frame to evaluate; none of the {total} GT frames of {len(pairs)} "
                              f"video(s) lists a person (expected ground truth with annotated people)")
