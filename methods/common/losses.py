"""Losses on localization maps (docs/methods.md §1.4, §1.7, §2.5)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def score_map(cos_map: torch.Tensor, kind: str = "affine") -> torch.Tensor:
    """Map a cosine map in [-1, 1] to a probability map in [0, 1] (docs/methods.md §1.4, reading 1 of §9)."""
    if kind == "affine":
        return (cos_map + 1) / 2
    if kind == "clamp":
        return cos_map.clamp(1e-6, 1 - 1e-6)
    if kind == "sigmoid":
        return torch.sigmoid(cos_map / 0.03)
    if kind == "minmax":
        flat = cos_map.flatten(1)
        lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
        return (cos_map - lo) / (hi - lo).clamp_min(1e-6)
    raise ValueError(f"unknown score_map {kind!r}")


def pixel_bce(target: torch.Tensor, prob: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """H(P, S): binary cross-entropy averaged over pixels (docs/methods.md §1.4)."""
    prob = prob.clamp(1e-6, 1 - 1e-6)
    loss = -(target * prob.log() + (1 - target) * (1 - prob).log()).flatten(1).mean(1)
    return loss if per_sample else loss.mean()


def downsample_target(gt: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Full-resolution GT map (B,H,W) -> soft target at map resolution by block averaging (docs/methods.md §1.5)."""
    return F.adaptive_avg_pool2d(gt.float().unsqueeze(1), size).squeeze(1)


def gather_with_local_grad(x: torch.Tensor, accelerator) -> torch.Tensor:
    """All processes' rows of `x`, in rank order; only this process's rows carry gradient."""
    if accelerator is None or accelerator.num_processes == 1:
        return x
    everyone = accelerator.gather(x.detach().contiguous())
    n, r = x.shape[0], accelerator.process_index
    return torch.cat([everyone[:r * n], x, everyone[(r + 1) * n:]])


def mil_infonce(v: torch.Tensor, a: torch.Tensor, tau: float = 0.03, accelerator=None) -> torch.Tensor:
    """EZ-VSL's multiple-instance contrastive loss on normalised v (B,D,h,w) and a (B,D): max over locations, the
    sum of the CE over rows and columns (as the official code). Over several processes: the global batch's
    negatives, scaled by the process count so DDP's gradient average equals the 1-process gradient."""
    world = 1 if accelerator is None else accelerator.num_processes
    v, a = gather_with_local_grad(v, accelerator), gather_with_local_grad(a, accelerator)
    return world * _mil_infonce(v, a, tau)


def _mil_infonce(v: torch.Tensor, a: torch.Tensor, tau: float) -> torch.Tensor:
    return symmetric_ce(mil_logits(v, a, tau))


def mil_logits(v: torch.Tensor, a: torch.Tensor, tau: float) -> torch.Tensor:
    """logits[n, m] = max_{h,w} ⟨v_n[:, h, w], a_m⟩ / τ: EZ-VSL's multiple-instance similarity
    (docs/methods.md §1.7, §6)."""
    return torch.einsum("ndhw,md->nmhw", v, a).flatten(2).amax(dim=2) / tau


def gmp_infonce(v_raw: torch.Tensor, a: torch.Tensor, tau: float = 0.03, accelerator=None) -> torch.Tensor:
    """Eq. 8 read literally: V_j = GMP(f(v_j)), the channel-wise global max-pool of the (projected, not yet
    normalised) visual map, then s = cosine(A_i, V_j); CE over rows + columns. Same process handling as
    `mil_infonce`."""
    world = 1 if accelerator is None else accelerator.num_processes
    pooled = F.normalize(v_raw.amax(dim=(2, 3)), dim=1)
    pooled, a = gather_with_local_grad(pooled, accelerator), gather_with_local_grad(a, accelerator)
    return world * symmetric_ce(pooled @ a.t() / tau)


def infonce(out: dict, kind: str, tau: float, accelerator=None) -> torch.Tensor:
    """The audio-visual InfoNCE of Eq. 8 in the form `kind` (docs/methods.md §1.7): "mil" = EZ-VSL's max over
    the cosine map (our default), "gmp" = max-pool the visual features first, then cosine."""
    if kind == "mil":
        return mil_infonce(out["v"], out["a"], tau, accelerator)
    if kind == "gmp":
        return gmp_infonce(out["v_raw"], out["a"], tau, accelerator)
    raise ValueError(f"unknown InfoNCE form {kind!r}; use mil or gmp")


def add_infonce(loss, logs: dict, out: dict, config, accelerator, log_key: str = "l_nce"):
    """`loss` + λu·InfoNCE(out) when config.lambda_u > 0 (its value logged as `log_key`), else `loss`: the
    auxiliary audio-visual term of the supervised recipe (config: lambda_u, nce_pool, tau)."""
    if config.lambda_u <= 0:
        return loss
    l_nce = infonce(out, config.nce_pool, config.tau, accelerator)
    logs[log_key] = l_nce.detach()
    return loss + config.lambda_u * l_nce


def symmetric_ce(logits: torch.Tensor) -> torch.Tensor:
    """logits[i, j] = similarity of visual i and audio j over τ; positives on the diagonal."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)
