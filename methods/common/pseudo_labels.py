"""XPL's pseudo-label pieces as plain functions (docs/methods.md §2.2–§2.3): sharpening, the PL-EMA
memory bank, Pearson agreement and curriculum selection.
"""
from __future__ import annotations

import torch


def sharpen(prob: torch.Tensor, slope: float = 10.0) -> torch.Tensor:
    """φ(x) = σ(a(x − 0.5)) (Eq. 4, with the printed "1 +" read as an OCR error)."""
    return torch.sigmoid(slope * (prob - 0.5))


def hard_label(prob: torch.Tensor) -> torch.Tensor:
    """Vanilla pseudo-label: 1[S ≥ 0.5] (the a → ∞ limit of φ)."""
    return (prob >= 0.5).to(prob.dtype)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample Pearson correlation of two batches of maps (B,h,w) -> (B,); −1 where either is constant."""
    a = a.flatten(1).double()
    b = b.flatten(1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denom = (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt()
    rho = (a * b).sum(1) / denom.clamp_min(1e-12)
    return torch.where(denom > 1e-12, rho, torch.full_like(rho, -1.0)).float()


def admitted_fraction(epoch: int, r0: float, ramp_epochs: int) -> float:
    """r_e: rises linearly from r0 at SSL epoch 0 to 1 at epoch `ramp_epochs`."""
    if ramp_epochs <= 0:
        return 1.0
    return min(1.0, r0 + (1.0 - r0) * epoch / ramp_epochs)


def select_by_agreement(rho: torch.Tensor, fraction: float, floor: float) -> torch.Tensor:
    """Indices admitted: the top `fraction` by ρ, and only those with ρ > floor (docs/methods.md §2.2).

    Ties are broken by index so every process picks the same set.
    """
    n = rho.numel()
    k = max(0, min(n, int(round(fraction * n))))
    order = torch.sort(-rho.double(), stable=True).indices[:k]  # stable: equal ρ in index order
    keep = order[rho[order] > floor]
    return keep.sort().values


class MemoryBank:
    """Per-sample soft pseudo-labels at map resolution with an EMA per visit (Eq. 5): PL_i ← β·PL_i + (1−β)·PL̂_i,
    the first visit copies PL̂_i. fp32 [N, h, w] + a bool flag: 144k × 7 × 7 × 4 B ≈ 28 MB per model.

    The bank lives where the labels are (moved there at the first update, also after a checkpoint is loaded), so
    a step reads nothing back to the host; its state_dict is a host copy (docs/design.md §4)."""

    def __init__(self, size: int, map_hw: tuple[int, int], beta: float):
        self.beta = beta
        self.values = torch.zeros(size, *map_hw)
        self.initialized = torch.zeros(size, dtype=torch.bool)

    def update(self, index: torch.Tensor, instant: torch.Tensor) -> torch.Tensor:
        """Update rows `index` with instant labels (B,h,w); returns the updated rows.

        Duplicate indices in one call keep the last occurrence (it never happens with our samplers).
        """
        if self.values.device != instant.device:
            self.values, self.initialized = self.values.to(instant.device), self.initialized.to(instant.device)
        index = index.to(instant.device, non_blocking=True)  # the batch's index is on the host
        instant = instant.detach().float()
        old = self.values[index]
        # where, not a boolean mask: masked indexing waits for the device to count the mask
        new = torch.where(self.initialized[index, None, None], self.beta * old + (1 - self.beta) * instant, instant)
        self.values[index] = new
        self.initialized.index_fill_(0, index, True)  # a scalar fill: no host value to copy over
        return new

    def read(self, index: torch.Tensor) -> torch.Tensor:
        return self.values[index.to(self.values.device, non_blocking=True)]

    def nbytes(self) -> int:
        return self.values.element_size() * self.values.nelement() + self.initialized.nelement()

    def state_dict(self) -> dict:
        return {"values": self.values.to("cpu", copy=True), "initialized": self.initialized.to("cpu", copy=True)}

    def load_state_dict(self, state: dict) -> None:
        self.values = state["values"].clone()
        self.initialized = state["initialized"].clone()
