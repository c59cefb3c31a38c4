"""Batch order as a pure function of (seed, stream, step): resume needs no sampler state, and 1 or N processes
see the same global batches, each taking its contiguous slice (docs/design.md §4)."""
from __future__ import annotations

import torch

from methods.common.rng import step_generator


class PoolSampler:
    def __init__(self, rows: list[int], batch: int, seed: int, stream: str):
        if batch <= 0:
            raise ValueError("batch must be positive")
        if len(rows) < batch:
            raise ValueError(f"pool {stream!r} has {len(rows)} samples, fewer than its batch of {batch}")
        self.rows = torch.as_tensor(rows, dtype=torch.long)
        self.batch, self.seed, self.stream = batch, seed, stream
        self.per_pass = len(rows) // batch  # drop the ragged tail of each pass

    def _perm(self, pass_index: int) -> torch.Tensor:
        if getattr(self, "_cached", (None,))[0] != pass_index:
            gen = step_generator(self.seed, pass_index, 0, self.stream)
            self._cached = (pass_index, torch.randperm(len(self.rows), generator=gen))
        return self._cached[1]

    def global_batch(self, step: int) -> list[int]:
        pass_index, offset = divmod(step, self.per_pass)
        idx = self._perm(pass_index)[offset * self.batch:(offset + 1) * self.batch]
        return self.rows[idx].tolist()

    def local_batch(self, step: int, rank: int, world: int) -> list[int]:
        rows = self.global_batch(step)
        per = len(rows) // world
        return rows[rank * per:(rank + 1) * per]
