"""Files the commands write: atomic, with the user's permissions, never over existing work unless asked.

* `atomic_write`: a hidden temporary file in the target's folder (`.NAME.XXXX.tmp`), flushed and fsynced, then
  renamed over the target. A reader never sees half a file; a kill leaves the previous file (and at most a stale
  temporary file, which `remove_stale_temps` clears at the next run). Files get mode 0666 minus the umask, as
  `open()` would give them (`mkstemp` alone would leave 0600).
* `check_output_file` / `check_output_dir`: a path the command will write, checked before any long work.
* `refuse_existing`: the refusal to replace existing results without an explicit flag.
* `read_json`: JSON that the package wrote itself (run cards, metrics), with errors naming the file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable


class OutputError(ValueError):
    """An output path that cannot or may not be written; the message names it and the way out."""


def file_mode() -> int:
    """Permission bits of a new file under the current umask (0666 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call `write(f)` on a temporary file next to `path`, then move it over `path`; returns `path`.

    If `write` (or anything after it) fails, `path` keeps its previous content and no temporary file remains.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    """Write `text` (UTF-8, newlines as given) to `path` with `atomic_write`."""
    return atomic_write(path, lambda f: f.write(text))


def remove_stale_temps(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files an interrupted `atomic_write` of `folder/NAME` left (for each of `names`);
    `NAME.*.tmp` too, the name earlier versions gave them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for name in names for pattern in (f".{name}.*.tmp", f"{name}.*.tmp") for p in folder.glob(pattern)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """`path` can be created or replaced as a file: it is not a folder and no folder above it is a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; expected the path of a {what}")
    _check_parents(path, what)
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """`path` is or can become a folder: it is not a file and no folder above it is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file; expected a {what}")
    _check_parents(path, what)
    return path


def _check_parents(path: Path, what: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{path}: cannot write the {what} there, {parent} is a file, not a folder")
            return


def refuse_existing(paths: Iterable[str | os.PathLike], what: str, flag: str) -> None:
    """Raise `OutputError` if any of `paths` exists: `what` (e.g. "a training run") would be replaced.

    `flag` says how to proceed anyway, e.g. "pass --force to replace them".
    """
    found = [str(p) for p in paths if Path(p).exists()]
    if found:
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise OutputError(f"{', '.join(found[:3])}{more}: already hold{'s' if len(found) == 1 else ''} {what}; "
                          f"nothing was written; {flag}")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file or folder (after resolving links and `..`)."""
    return Path(a).resolve() == Path(b).resolve()


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises a `ValueError` naming it and `what` it is."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputError(f"{path}: not found; expected {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise OutputError(f"{path}: cannot be read as {what} ({e})") from None
    except json.JSONDecodeError as e:
        raise OutputError(f"{path}: expected {what} (JSON), got malformed JSON at line {e.lineno}, column {e.colno}"
                          f" ({e.msg}); a truncated or hand-edited file?") from None


def read_jsonl(path: str | os.PathLike, what: str) -> list[Any]:
    """One JSON value per non-empty line; a bad line raises a `ValueError` naming the file and the line.

    A malformed last line without its newline is a row cut by a kill while it was appended: it is dropped.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) and not text.endswith("\n"):
                break
            raise OutputError(f"{path}: line {i}: expected {what} (one JSON object per line), got malformed JSON "
                              f"({e.msg}); a truncated or hand-edited file?") from None
    return rows
