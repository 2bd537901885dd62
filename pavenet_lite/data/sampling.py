"""The order in which training reads clips: a pure function of (seed, epoch, rank), so a resumed run replays exactly
the batches the uninterrupted run would have seen, on any number of workers.

`ClipOrder` is one epoch's shuffled indices for one process; `RunOrder` chains epochs into one endless sampler of
run-wide ids `epoch * n + i`; `EpochIndexed` reads a `PoseTrackClips` through those ids, so clip i gets the
augmentation draw of its epoch.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import torch
from torch.utils.data import Dataset, Sampler

from pavenet_lite.data.clips import PoseTrackClips


class ClipOrder(Sampler[int]):
    """Shuffled clip indices of one epoch for one rank, starting at `start`: a pure function of (seed, epoch, rank)."""

    def __init__(self, n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g).tolist()
        per_rank = math.ceil(n / world)
        perm = (perm * math.ceil(per_rank * world / n))[: per_rank * world]  # pad by repeating, as DistributedSampler
        self.indices = perm[rank::world][start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class RunOrder(Sampler[int]):
    """Run-wide sample ids `epoch * n + i` for one rank, from optimizer step `start_step` on, without end.

    Epoch e is `ClipOrder(n, seed, e, rank, world)` cut to the `steps_per_epoch` full steps of `per_rank_step` clips
    it holds: the same batches as one drop_last loader per epoch, but one loader serves the whole run, so its workers
    are not restarted (and their queues not drained) at every epoch boundary.
    """

    def __init__(self, n: int, seed: int, rank: int, world: int, per_rank_step: int, steps_per_epoch: int,
                 start_step: int = 0):
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.per_rank_step, self.steps_per_epoch, self.start_step = per_rank_step, steps_per_epoch, start_step

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start_step, self.steps_per_epoch)
        while True:
            order = ClipOrder(self.n, self.seed, epoch, self.rank, self.world, start=offset * self.per_rank_step)
            for i in order.indices[: (self.steps_per_epoch - offset) * self.per_rank_step]:
                yield epoch * self.n + i
            epoch, offset = epoch + 1, 0


class EpochIndexed(Dataset):
    """A `PoseTrackClips` read through `RunOrder` ids: item `epoch * n + i` is clip i as drawn in that epoch."""

    def __init__(self, clips: PoseTrackClips):
        self.clips, self.n = clips, len(clips)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, dict[str, Any]]:
        epoch, i = divmod(j, self.n)
        return self.clips.get(i, epoch)
