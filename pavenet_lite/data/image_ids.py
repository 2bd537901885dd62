"""PoseTrack18 image ids, computed from a frame's file name as the official tools do (reader and writer alike)."""
from __future__ import annotations

import re

# Sequence type -> the leading digit T of a PoseTrack18 image id (poseval `posetrack18_fname2id`).
SEQUENCE_TYPES: dict[str, int] = {"mpii": 1, "bonn": 2, "mpiinew": 3}
_FOLDER_RE = re.compile(r"^(\d+)_(mpii|bonn|mpiinew)(_.*)?$")
_BASENAME_RE = re.compile(r"^(\d+)\.jpg$")


class PoseTrackFileNameError(ValueError):
    """A frame `file_name` does not follow the PoseTrack18 naming `.../NNNNNN_{mpii|bonn|mpiinew}_.../<int>.jpg`."""


def posetrack18_image_id(file_name: str) -> int:
    """PoseTrack18 image id of a frame: T * 10^10 + seq * 10^4 + frame (docs/posetrack_eval.md).

    T = 1 for mpii, 2 for bonn, 3 for mpiinew; `seq` is the number that starts the parent folder name and `frame` the
    integer basename (< 10^4). Example: `images/val/000342_mpii_test/000007.jpg` -> 10003420007.
    """
    parts = file_name.replace("\\", "/").split("/")
    if len(parts) < 2:
        raise PoseTrackFileNameError(
            f"file_name {file_name!r}: expected a parent folder NNNNNN_{{mpii|bonn|mpiinew}}_... and a frame <int>.jpg")
    folder, base = parts[-2], parts[-1]
    m_folder, m_base = _FOLDER_RE.match(folder), _BASENAME_RE.match(base)
    if m_folder is None:
        raise PoseTrackFileNameError(
            f"file_name {file_name!r}: parent folder {folder!r} must look like NNNNNN_{{mpii|bonn|mpiinew}}_...")
    if m_base is None or int(m_base.group(1)) >= 10**4:
        raise PoseTrackFileNameError(
            f"file_name {file_name!r}: basename {base!r} must be <int>.jpg with int < 10000")
    seq, kind = int(m_folder.group(1)), m_folder.group(2)
    return SEQUENCE_TYPES[kind] * 10**10 + seq * 10**4 + int(m_base.group(1))
