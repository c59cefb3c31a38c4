"""Attention10k-SSL (Senocak et al., CVPR 2018 / TPAMI 2019), in the harness form of docs/methods.md §7.

Model A's backbones with Senocak's attention head: the audio embedding attends over the visual map (the map is
the attention α); a triplet loss L_T on all pairs and L_CE on the labeled samples' boxes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from methods.base import BatchPlan, Method
from methods.common.augment import colour_view, normalize
from methods.common.localizer import audio_input, build_localizer
from methods.common.losses import downsample_target
from methods.common.rng import step_generator


class AttentionLocalizer(nn.Module):
    """A LocalizationModel (backbones, 1×1 projection, FC-ReLU-FC audio head) + the attention head."""

    def __init__(self, model_spec: dict, nonnegative_visual: bool = True, freeze_visual: bool = False):
        super().__init__()
        self.base = build_localizer(model_spec)
        self.nonnegative_visual = nonnegative_visual
        # Senocak attends over a frozen pretrained VGG16's features (docs/methods.md §7): the backbone and our 1x1
        # projection (his has none) stay as loaded / initialised, in eval mode (a ResNet's BatchNorm statistics
        # too). Only a pretrained backbone is frozen: a frozen random one would not be his method.
        pretrained = bool(model_spec["visual"].get("weights"))
        self.frozen = (self.base.visual, self.base.visual_proj) if freeze_visual and pretrained else ()
        for part in self.frozen:
            part.requires_grad_(False)
        dim = self.base.visual_proj.out_channels
        # z -> ReLU -> FC -> ReLU -> FC, back to the audio backbone's feature size (Senocak: 512 -> 1000)
        self.audio_key = self.base.audio_key
        self.back = nn.Sequential(nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, self.base.audio.out_channels))

    def train(self, mode: bool = True):
        super().train(mode)
        for part in self.frozen:
            part.eval()
        return self

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> dict:
        # Senocak puts a ReLU before the audio FC-ReLU-FC; our backbones end in ReLU + max-pool, so f_s >= 0 already.
        f_s = self.base.audio(audio)  # (B, C) pooled audio features: the target space of L_T
        h = F.normalize(self.base.audio_head(f_s), dim=1)
        v = self.base.visual_proj(self.base.visual(images))  # (B, D, h, w), raw: the attended sum uses these
        if self.nonnegative_visual:
            # Senocak attends over VGG conv5_3 after its ReLU: v >= 0 (docs/methods.md §7)
            v = F.relu(v)
        cos = torch.einsum("bdhw,bd->bhw", F.normalize(v, dim=1), h)
        log_att = F.log_softmax(F.relu(cos).flatten(1), dim=1)  # softmax over the h·w positions
        att = log_att.exp()
        z = torch.einsum("bp,bdp->bd", att, v.flatten(2))
        return {"att": att.view_as(cos), "log_att": log_att.view_as(cos), "z": self.back(z), "f_s": f_s, "cos": cos}


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """perm with perm[i] != i for all i (n >= 2): a random cyclic order, each sample paired with its successor."""
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def triplet_softmax_loss(d_pos: torch.Tensor, d_neg: torch.Tensor) -> torch.Tensor:
    """Senocak's L_T: p = softmax([d+, d−]); mean((p − [0, 1])²) — low when d+ ≪ d−.

    Both terms equal p+² (p− − 1 = −p+), so L_T = mean(σ(d+ − d−)²).
    """
    p = torch.softmax(torch.stack([d_pos, d_neg], dim=1), dim=1)
    target = torch.tensor([0.0, 1.0], device=p.device, dtype=p.dtype)
    return (p - target).pow(2).mean()


def attention_ce(target: torch.Tensor, log_att: torch.Tensor) -> torch.Tensor:
    """Per-sample −Σ_p G_p log α_p, G not normalised (Senocak's L_CE)."""
    return -(target * log_att).flatten(1).sum(1)


@dataclass(frozen=True)
class Attention10kConfig:
    lr: float
    weight_decay: float
    labeled_fraction: float
    augment: bool
    randaug_ops: int
    randaug_max_magnitude: int
    nonnegative_visual: bool
    # off by default, so that runs recorded before the field keep their identity; on in the profiles whose visual
    # encoder is pretrained (docs/methods.md §7); a visual encoder without a pretrained file is never frozen
    freeze_visual: bool = False


class Attention10kSSL(Method):
    name = "attention10k_ssl"
    paper = "Attention10k-SSL (Senocak et al., CVPR 2018), harmonized, as in XPL (Guo et al., ICASSP 2024) Table 1"
    uses_unlabeled = True
    Config = Attention10kConfig

    def build_models(self):
        return {"a": AttentionLocalizer(self.model_specs["a"], self.config.nonnegative_visual,
                                        self.config.freeze_visual)}

    def batch_plan(self, step):
        labeled = int(round(self.run.global_batch * self.config.labeled_fraction))  # the whole budget, no warm-up
        return BatchPlan(labeled=labeled, unlabeled=self.run.global_batch - labeled)

    def training_step(self, labeled, unlabeled, state):
        parts = [b for b in (labeled, unlabeled) if b is not None]
        images = torch.cat([colour_view(b["image"], b["index"], state, "augment", self.config) for b in parts])
        audio = torch.cat([audio_input(self.models["a"], b) for b in parts])
        out = self.models["a"](images, audio)
        n, n_l = images.shape[0], 0 if labeled is None else labeled["image"].shape[0]

        # L_T, one negative audio per sample from the same local batch. Senocak's targets are fixed
        # pretrained SoundNet features; here the backbone is trained, so its features are detached as
        # targets (otherwise L_T could be lowered by moving the targets rather than z).
        f_s = out["f_s"].detach()
        if n >= 2:
            neg = derangement(n, step_generator(state.seed, state.step, 0, "negatives")).to(f_s.device)
            d_pos = (out["z"] - f_s).norm(dim=1)
            d_neg = (out["z"] - f_s[neg]).norm(dim=1)
            l_t = triplet_softmax_loss(d_pos, d_neg)
        else:  # no other sample to contrast with
            l_t = out["z"].sum() * 0.0

        # L_CE as Senocak's reference code weighs it (losses.py, SupervisedLoss): a per-sample weight, 1 with
        # boxes and 0 without (their "gt" is never read), and the mean over the whole batch, not over the
        # labeled samples: with 25% labeled, L_CE counts a quarter of what a labeled-only mean would.
        weight = torch.zeros(n, device=images.device)
        weight[:n_l] = 1.0
        target = torch.zeros_like(out["att"])
        if n_l:
            target[:n_l] = downsample_target(labeled["gt"], out["att"].shape[-2:])
        l_ce = (weight * attention_ce(target, out["log_att"])).mean()

        logs = {"l_t": l_t.detach(), "l_ce": l_ce.detach()}
        if n >= 2:
            logs["d_pos_lt_d_neg"] = (d_pos < d_neg).float().mean().detach()
        return l_t + l_ce, logs

    @torch.no_grad()
    def localize(self, batch, variant=None):
        return self.models["a"](normalize(batch["image"]), audio_input(self.models["a"], batch))["att"]

    @torch.no_grad()
    def raw_map(self, batch):
        # the attention is a softmax over positions (it sums to 1 whatever the sound): its level is the
        # cosine it is computed from (docs/methods.md §7)
        return self.models["a"](normalize(batch["image"]), audio_input(self.models["a"], batch))["cos"]
