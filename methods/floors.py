"""Sanity floors: maps that ignore the audio (and the image). Any real method must beat them."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import Method


@dataclass(frozen=True)
class CenterConfig:
    map_size: int = 8  # resolution of the returned map (upsampled at evaluation like every method's)
    sigma: float = 0.25  # std of the Gaussian, as a fraction of the image side


class CenterPrior(Method):
    """A fixed centred Gaussian: the 'photographers centre the subject' prior."""

    name = "center"
    paper = "sanity floor (fixed centred Gaussian)"
    trainable = False
    reference_only = True
    uses_labels = False
    Config = CenterConfig
    raw_range = (0.0, 1.0)  # the Gaussian's values, the same for every sample: a constant confidence

    def localize(self, batch, variant=None):
        n, s = batch["image"].shape[0], self.config.map_size
        coords = (torch.arange(s, dtype=torch.float32) + 0.5) / s - 0.5
        g = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * self.config.sigma**2))
        return g.expand(n, s, s).to(batch["image"].device).clone()


@dataclass(frozen=True)
class RandomConfig:
    map_size: int = 8


class RandomMap(Method):
    """Uniform noise, seeded by the sample index so it is deterministic and process-independent."""

    name = "random"
    paper = "sanity floor (uniform random map)"
    trainable = False
    reference_only = True
    uses_labels = False
    Config = RandomConfig
    raw_range = (0.0, 1.0)

    def localize(self, batch, variant=None):
        s = self.config.map_size
        maps = [
            torch.rand(s, s, generator=torch.Generator().manual_seed(int(i) * 7919 + 17))
            for i in batch["index"].tolist()
        ]
        return torch.stack(maps).to(batch["image"].device)
