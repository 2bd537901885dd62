"""The errors the data layer raises at its boundary (annotation files, image files).

Each message names the file, the field and what was expected, so that a user can fix the input without reading the
reader's code: `val/000342_mpii_test.json: annotations[3].keypoints: expected 51 numbers (17 x 3), got 48`.
"""
from __future__ import annotations

from pathlib import Path


class AnnotationError(ValueError):
    """An annotation file (or directory) that cannot be read as PoseTrack: names the file, the field and the rule."""

    def __init__(self, path: str | Path, field: str, expected: str, got: str | None = None) -> None:
        self.path, self.field, self.expected, self.got = str(path), field, expected, got
        tail = "" if got is None else f", got {got}"
        super().__init__(f"{self.path}: {field}: expected {expected}{tail}")

    def __reduce__(self):
        # Rebuilt from its four parts (the default would call __init__ with the message alone), so that an error
        # raised while reading in a worker process arrives whole.
        return type(self), (self.path, self.field, self.expected, self.got)


class MissingImageError(AnnotationError):
    """A frame listed in an annotation file whose image file is missing or unreadable."""
