"""Many annotation files read as `VideoArrays`, in two processes where that pays, with serial results.

Parsing JSON is CPU-bound and holds the GIL, so threads do not help; a forked child process reads the second half of
the files (by bytes) while this process reads the first. Each file's outcome (arrays or the exception it raised)
and the warnings it gave come back in file order, and `replay` re-raises and re-warns them in that order, so the
result, the first error and the warnings are those of reading the files one by one. Serial where fork is not
available (Windows, macOS default), on one core, or for a few megabytes, where starting a process costs more than
it saves; also serial, for the files concerned, if the child dies.
"""
from __future__ import annotations

import multiprocessing
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pavenet_lite.data.posetrack_arrays import VideoArrays, read_arrays

PARALLEL_MIN_BYTES = 4_000_000  # below this, a process start (tens of ms) costs about what it saves


@dataclass
class Outcome:
    """What reading one file gave: `arrays`, or the `error` it raised; `warnings` (message, category) in order."""

    arrays: VideoArrays | None
    error: BaseException | None
    warnings: list[tuple[str, type[Warning]]]


def _read(job: tuple[Path, str]) -> Outcome:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            arrays, error = read_arrays(*job), None
        except Exception as e:  # handed to the caller, raised there in file order
            arrays, error = None, e
    return Outcome(arrays, error, [(str(w.message), w.category) for w in caught])


def _child(jobs: list[tuple[Path, str]], conn) -> None:
    conn.send([_read(job) for job in jobs])
    conn.close()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def read_many(jobs: list[tuple[Path, str]], workers: int | None = None) -> list[Outcome]:
    """Read every (path, kind) of `jobs`; outcomes in job order.

    workers: 1 (serial), 2 (a child process reads the second half), or None: 2 where fork exists, two cores are
    usable and the files hold >= PARALLEL_MIN_BYTES, else 1.
    """
    if workers is None:
        size = sum(p.stat().st_size for p, _ in jobs if p.is_file())
        workers = 2 if usable_cores() >= 2 and size >= PARALLEL_MIN_BYTES else 1
    if workers < 2 or len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [_read(job) for job in jobs]
    total = np.cumsum([p.stat().st_size if p.is_file() else 0 for p, _ in jobs])
    split = min(max(int(np.searchsorted(total, total[-1] / 2)), 1), len(jobs) - 1)  # halves of equal bytes
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(jobs[split:], send), daemon=True)
    child.start()
    send.close()  # our copy: the pipe then reports EOF if the child dies
    mine = [_read(job) for job in jobs[:split]]
    try:
        theirs = receive.recv()
    except (EOFError, OSError):  # the child died (killed, out of memory): read its files here
        theirs = [_read(job) for job in jobs[split:]]
    receive.close()
    child.join()
    return mine + theirs


def replay(outcome: Outcome) -> VideoArrays:
    """Give the warnings of one outcome again, here, then its error or its arrays."""
    for message, category in outcome.warnings:
        warnings.warn(message, category, stacklevel=3)
    if outcome.error is not None:
        raise outcome.error
    return outcome.arrays
