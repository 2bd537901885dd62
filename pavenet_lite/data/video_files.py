"""A video as an array of frames `[T, H, W, 3]` uint8: from a folder of images, a GIF or an MP4 (and what imageio
reads). Inference on whole videos (`predict.Predictor.predict_video`, `render_demo`) starts here."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def load_frames(source: str | Path) -> np.ndarray:
    """A video as `[T, H, W, 3]` uint8: a folder of images (sorted by name), a GIF, or an MP4 (needs imageio)."""
    from PIL import Image, ImageSequence

    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not files:
            raise ValueError(f"{path}: no .jpg/.jpeg/.png frames in this folder")
        frames = [_read_image(p) for p in files]
        for p, f in zip(files, frames):
            if f.shape != frames[0].shape:
                raise ValueError(f"{p}: frame size {f.shape[1]}x{f.shape[0]} differs from {files[0].name} "
                                 f"({frames[0].shape[1]}x{frames[0].shape[0]}); all frames of a video must match")
        return np.stack(frames)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file or frames folder")
    suffix = path.suffix.lower()
    try:
        if suffix == ".gif":
            with Image.open(path) as gif:
                frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
        elif suffix in VIDEO_SUFFIXES:
            try:
                import imageio.v3 as iio
            except ImportError:
                raise ValueError(f"{path}: reading video files needs the optional extra: pip install -e .[video]"
                                 ) from None
            frames = [f[..., :3] for f in iio.imiter(path)]
        else:
            raise ValueError(f"{path}: expected a frames folder (.jpg/.jpeg/.png) or a video file "
                             f"({', '.join(('.gif',) + VIDEO_SUFFIXES)}), got suffix {suffix!r}")
    except (ValueError, FileNotFoundError):
        raise
    except Exception as e:  # decoders raise OSError, RuntimeError, ... for truncated or foreign files
        raise ValueError(f"{path}: not a readable {suffix} video ({type(e).__name__}: "
                         f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no detail'}); truncated?") from None
    if not frames:
        raise ValueError(f"{path}: holds no frames")
    return np.stack(frames)


VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv")


def _read_image(path: Path) -> np.ndarray:
    """One frame file as `[H, W, 3]` uint8; an unreadable file raises `ValueError` naming it."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except OSError as e:  # PIL's UnidentifiedImageError and truncated-file errors are OSErrors
        raise ValueError(f"{path}: not a readable image ({e}); expected a .jpg/.jpeg/.png frame") from None
