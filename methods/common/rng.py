"""Per-step random generators derived from (seed, step, rank, stream): a resumed run replays exactly what an
uninterrupted one would have drawn, with no RNG state to save (docs/design.md §4)."""
from __future__ import annotations

import hashlib

import torch


def step_generator(seed: int, step: int, rank: int = 0, stream: str = "") -> torch.Generator:
    digest = hashlib.blake2b(f"{seed}/{step}/{rank}/{stream}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF)
