"""Checks of evaluator input that poseval does not make: they change no number, they say when one is meaningless.

poseval pairs prediction frames with GT frames by position and never compares what the frames are, so predictions
listed in another order, or a prediction file saved under another video's name, are scored against the wrong
frames without a word. `warn_misaligned` says so loudly (the score is still poseval's). A GT set where no frame
lists a person evaluates nothing, and poseval prints a table of zeros; `require_frames` makes that an error.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from pavenet_lite.data.posetrack_arrays import VideoArrays
from pavenet_lite.evaluation.pairing import EvaluationError


def _misaligned(gt: VideoArrays, pred: VideoArrays) -> list[int]:
    """Positions t where the prediction frame is another image than the GT frame: both the image id and the
    file name differ (either one agreeing is enough, as other tools write one of them their own way)."""
    n = min(gt.num_frames, pred.num_frames)
    other_id = np.flatnonzero(gt.image_ids[:n] != pred.image_ids[:n]).tolist()  # names compared only there
    return [t for t in other_id if gt.file_names[t] != pred.file_names[t]]


def warn_misaligned(pairs: Sequence[tuple[VideoArrays, VideoArrays]]) -> None:
    """One warning naming the prediction files whose frames do not line up with their GT files' frames."""
    found = []
    for gt, pred in pairs:
        bad = _misaligned(gt, pred)
        if bad:
            t = bad[0]
            found.append(f"{pred.path or pred.name}: {len(bad)} of {gt.num_frames} frames (frame {t}: image_id "
                         f"{int(pred.image_ids[t])} {pred.file_names[t]!r}, GT {int(gt.image_ids[t])} "
                         f"{gt.file_names[t]!r})")
    if found:
        more = f"; and {len(found) - 3} more files" if len(found) > 3 else ""
        warnings.warn("prediction frames that are not the GT frame at the same position: " + "; ".join(found[:3])
                      + more + ". poseval pairs frames by position, so these predictions are scored against other "
                      "frames; write the frames in GT order, one file per GT file, same name", stacklevel=4)


def require_frames(num_frames: int, pairs: Sequence[tuple[VideoArrays, VideoArrays]]) -> None:
    """Raise `EvaluationError` when no GT frame lists a person: there is nothing to score."""
    if num_frames == 0:
        where = ", ".join(g.path or g.name for g, _ in pairs[:3]) + (" ..." if len(pairs) > 3 else "")
        total = sum(g.num_frames for g, _ in pairs)
        raise EvaluationError(f"{where}: no frame to evaluate; none of the {total} GT frames of {len(pairs)} "
                              f"video(s) lists a person (expected ground truth with annotated people)")
