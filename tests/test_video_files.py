"""Reading a video as frames (`data.video_files.load_frames`): folder order, and errors that name the path."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pavenet_lite.data.video_files import load_frames


def _video(n: int) -> np.ndarray:
    """n frames [n, 40, 64, 3] uint8 of seeded noise, each frame different."""
    return np.random.default_rng(0).integers(0, 256, (n, 40, 64, 3), dtype=np.uint8)


def test_load_frames_reads_a_folder_sorted_by_name(tmp_path):
    frames = _video(3)
    for i in (2, 0, 1):  # written out of order
        Image.fromarray(frames[i]).save(tmp_path / f"{i:06d}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    np.testing.assert_array_equal(load_frames(tmp_path), frames)


def test_load_frames_errors_name_the_path(tmp_path):
    missing = tmp_path / "no_such_video.mp4"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_frames(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"{empty}: no .jpg"):
        load_frames(empty)
    text = tmp_path / "video.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match=f"{text}: expected a frames folder.*'.txt'"):
        load_frames(text)
