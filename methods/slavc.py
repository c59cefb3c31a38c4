"""SLAVC (Mo & Morgado, NeurIPS 2022), docs/methods.md §10: self-supervised, never reads boxes.

Two projection heads per modality on the shared backbones (one for audio-visual correspondence, one for
localization), momentum (EMA) target encoders, a large dropout on the visual features, and a cross-modal loss
between each online encoder and the other modality's target. The map is read from the online encoders, as
SLAVC's test script does; the target encoders' map (its training-time validation) is a variant.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from methods.common.augment import feature_dropout, normalize
from methods.common.localizer import LocalizationModel, audio_input, build_localizer, make_audio_head
from methods.common.losses import gather_with_local_grad
from methods.ez_vsl import EZVSL


@dataclass(frozen=True)
class SLAVCConfig:
    lr: float
    weight_decay: float
    tau: float
    augment: bool
    ogl_alpha: float  # the "ogl" variant's weight of the audio-visual map (docs/methods.md §10.5)
    audio_encoder: Literal["profile", "resnet18_spectrogram"]  # as EZ-VSL's (docs/methods.md §6)
    dropout_img: float  # on the visual backbone's feature map, before both projections (docs/methods.md §10.3)
    dropout_aud: float  # on the audio backbone's vector, before both heads
    momentum_img: float  # EMA rate of the target visual backbone and projections (docs/methods.md §10.2)
    momentum_aud: float  # EMA rate of the target audio backbone and heads
    map_from: Literal["online", "target"]  # the encoders the headline map is read from (docs/methods.md §10.4)


class TwoHeads(nn.Module):
    """The shared localization model (its projections are head 1) plus a second visual projection and audio
    head (head 2) on the same backbones, as SLAVC's img_proj1/2 and aud_proj1/2."""

    def __init__(self, spec: dict):
        super().__init__()
        self.loc: LocalizationModel = build_localizer(spec)
        dim = self.loc.visual_proj.out_channels
        self.visual_proj2 = nn.Conv2d(self.loc.visual.out_channels, dim, 1)
        self.audio_head2 = make_audio_head(spec.get("audio_head", "mlp"), self.loc.audio.out_channels, dim)

    def forward(self, images, audio, drop_visual=None, drop_audio=None) -> dict:
        """{"v": (v1, v2), "a": (a1, a2)}: L2-normalised features of both heads."""
        feats = self.loc.visual(images)
        feats = feats if drop_visual is None else drop_visual(feats)
        aud = self.loc.audio(audio)
        aud = aud if drop_audio is None else drop_audio(aud)
        return {"v": (F.normalize(self.loc.visual_proj(feats), dim=1), F.normalize(self.visual_proj2(feats), dim=1)),
                "a": (F.normalize(self.loc.audio_head(aud), dim=1), F.normalize(self.audio_head2(aud), dim=1))}

    def visual_parts(self) -> list[nn.Module]:
        return [self.loc.visual, self.loc.visual_proj, self.visual_proj2]

    def audio_parts(self) -> list[nn.Module]:
        return [self.loc.audio, self.loc.audio_head, self.audio_head2]


class SLAVCNet(nn.Module):
    """Model A of SLAVC: the online `TwoHeads` (trained) and its momentum copy `target` (never in the optimizer:
    no gradient; moved by `momentum_update`). Both are in the state dict, so checkpoints and the best-on-validation
    weights carry the target."""

    def __init__(self, spec: dict):
        super().__init__()
        self.online = TwoHeads(spec)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.audio_key = self.online.loc.audio_key  # the batch column audio_input feeds

    @torch.no_grad()
    def momentum_update(self, m_img: float, m_aud: float) -> None:
        """θ_target ← m·θ_target + (1 − m)·θ_online, per parameter (not the BatchNorm buffers: each copy keeps its
        own running statistics, as SLAVC's _update_momentum_encoder)."""
        for rate, online, target in ((m_img, self.online.visual_parts(), self.target.visual_parts()),
                                     (m_aud, self.online.audio_parts(), self.target.audio_parts())):
            for mod_o, mod_t in zip(online, target):
                for p_o, p_t in zip(mod_o.parameters(), mod_t.parameters()):
                    ema_(p_t, p_o, rate)

    def forward(self, images, audio, which: str = "target", momentum: tuple[float, float] | None = None,
                drops: dict | None = None, target_drops: dict | None = None) -> dict:
        """Training (`momentum` = (m_img, m_aud) given): the EMA update first, as SLAVC's forward in train mode, then
        {"online": features with gradient, "target": features without}, each forward with its own dropout.
        Inference: {"map": the cosine map of the `which` encoders} (no dropout)."""
        if momentum is None:
            return {"map": av_map(getattr(self, which)(images, audio))}
        self.momentum_update(*momentum)
        online = self.online(images, audio, **(drops or {}))
        with torch.no_grad():
            target = self.target(images, audio, **(target_drops or {}))
        return {"online": online, "target": target}


def ema_(target: torch.Tensor, online: torch.Tensor, m: float) -> None:
    """target ← target·m + online·(1 − m), in place, with the public code's arithmetic (two products, one sum)."""
    target.copy_(target * m + online * (1.0 - m))


def av_map(out: dict) -> torch.Tensor:
    """SLAVC's audio-visual map without its 1/τ: the mean of the two heads' cosine maps, in [−1, 1]
    (docs/methods.md §10.4)."""
    (v1, v2), (a1, a2) = out["v"], out["a"]
    return (torch.einsum("bdhw,bd->bhw", v1, a1) + torch.einsum("bdhw,bd->bhw", v2, a2)) / 2


def slavc_direction(v1: torch.Tensor, v2: torch.Tensor, a1: torch.Tensor, a2: torch.Tensor, tau: float) -> torch.Tensor:
    """s[n, m] = log Σ_p softmax_m(⟨v1_n[:,p], a1_m⟩/τ) · softmax_p(⟨v2_n[:,p], a2_m⟩/τ) (docs/methods.md §10.1):
    head 1 asks which sound location p of image n belongs to (softmax over the batch's sounds m), head 2 where
    in image n sound m is (softmax over locations p); the product summed over p is a soft region selection."""
    corr = torch.einsum("ndhw,md->nmhw", v1, a1).flatten(2) / tau  # (n, m, p)
    loc = torch.einsum("ndhw,md->nmhw", v2, a2).flatten(2) / tau
    return torch.log((corr.softmax(dim=1) * loc.softmax(dim=2)).sum(dim=2))


def slavc_loss(online: dict, target: dict, tau: float) -> torch.Tensor:
    """CE(a2i, diag) + CE(i2a, diag), both over the sounds m of each image n, as the public code: i2a pairs the
    online images with the target sounds, a2i the target images with the online sounds (docs/methods.md §10.1)."""
    (v1, v2), (a1, a2) = online["v"], online["a"]
    (tv1, tv2), (ta1, ta2) = target["v"], target["a"]
    i2a = slavc_direction(v1, v2, ta1, ta2, tau)
    a2i = slavc_direction(tv1, tv2, a1, a2, tau)
    labels = torch.arange(i2a.shape[0], device=i2a.device)
    return F.cross_entropy(a2i, labels) + F.cross_entropy(i2a, labels)


class SLAVC(EZVSL):
    name = "slavc"
    paper = "Mo & Morgado, A Closer Look at Weakly-Supervised Audio-Visual Source Localization, NeurIPS 2022"
    Config = SLAVCConfig

    def build_network(self, spec):
        return SLAVCNet(spec)

    def training_step(self, labeled, unlabeled, state):
        c, rows, acc = self.config, unlabeled["index"], self.run.accelerator

        def dropped(stream):  # an independent dropout draw per forward, as SLAVC's one nn.Dropout called twice
            return dict(drop_visual=feature_dropout(c.dropout_img, state.seed, state.step, rows, f"dropout_v{stream}"),
                        drop_audio=feature_dropout(c.dropout_aud, state.seed, state.step, rows, f"dropout_a{stream}"))

        net = self.models["a"]
        out = net(self.training_view(unlabeled, state), audio_input(net, unlabeled),
                  momentum=(c.momentum_img, c.momentum_aud), drops=dropped(""), target_drops=dropped("_target"))
        # the global batch's sounds and images as candidates; scaled by the process count as mil_infonce
        # (docs/methods.md §1.7)
        world = 1 if acc is None else acc.num_processes
        online, target = ({k: tuple(gather_with_local_grad(x, acc) for x in xs) for k, xs in out[part].items()}
                          for part in ("online", "target"))
        loss = world * slavc_loss(online, target, c.tau)
        return loss, {"l_slavc": loss.detach()}

    def report_variants(self):
        # the headline map is from the encoders SLAVC's test.py reads (the online ones); the other ones follow
        other = "target" if self.config.map_from == "online" else "online"
        return ["main", other] + (["ogl"] if self.prior_spec() is not None else [])

    @torch.no_grad()
    def localize(self, batch, variant=None):
        """"main": SLAVC's evaluated map (docs/methods.md §10.4) as a cosine in [−1, 1]; "target" / "online": the
        other encoders'; "ogl": SLAVC's object-guided mix of the main map (docs/methods.md §10.5)."""
        variants = self.report_variants()
        if variant is not None and variant not in variants:
            raise ValueError(f"slavc has no variant {variant!r}; it has {variants}")
        net, images = self.models["a"], normalize(batch["image"])
        which = variant if variant == variants[1] else self.config.map_from
        av = net(images, audio_input(net, batch), which=which)["map"]
        if variant == "ogl":
            # SLAVC's test.py mixes at fixed ranges, not per sample: (S/τ + 1/τ)/(2/τ) = (cos + 1)/2 and S_OBJ/2.5
            a = self.config.ogl_alpha
            return a * (av + 1) / 2 + (1 - a) * self.object_map(images, av.shape[-2:]) / 2.5
        return av
