"""FNAC (Sun et al., CVPR 2023), docs/methods.md §11: EZ-VSL's multiple-instance InfoNCE plus three
false-negative-aware terms that pull the audio-visual similarity rows towards the intra-modal ones.

Self-supervised like EZ-VSL (docs/methods.md §6), whose data path, augmentation, inference map and OGL variant it
keeps; what it adds is the feature dropout (docs/methods.md §10.3) and the loss of docs/methods.md §11.2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from methods.common.augment import feature_dropout
from methods.common.localizer import audio_input
from methods.common.losses import gather_with_local_grad, mil_logits, symmetric_ce
from methods.ez_vsl import EZVSL


@dataclass(frozen=True)
class FNACConfig:
    lr: float
    weight_decay: float
    tau: float
    augment: bool
    ogl_alpha: float
    audio_encoder: Literal["profile", "resnet18_spectrogram"]  # as EZ-VSL's (docs/methods.md §6)
    dropout_img: float  # on the visual backbone's feature map, before the projection (docs/methods.md §10.3)
    dropout_aud: float  # on the audio backbone's vector, before the head
    w_fns1: float  # weight of L_FNS1 = L1(softmax(A Aᵀ/τ), softmax(logits))
    w_tns: float  # weight of L_TNS = L1(softmax(A Aᵀ/τ), softmax(F Fᵀ/τ))
    w_fns2: float  # weight of L_FNS2 = L1(softmax(V̄ V̄ᵀ/τ), softmax(logits))
    high_conf_thresh: float  # foreground: min–max normalised own map above this
    nce_only_epochs: int  # the first epochs train the InfoNCE alone ...
    public_epochs: int  # ... of this many: the harness keeps the fraction of its own budget (docs/methods.md §11.3)


def fnac_losses(v: torch.Tensor, a: torch.Tensor, tau: float, high_conf_thresh: float) -> dict:
    """FNAC's loss terms (docs/methods.md §11.2) on L2-normalised v (B,D,h,w) and a (B,D), every term carrying
    gradient as in the public code: {"nce", "fns1", "tns", "fns2"}."""
    logits = mil_logits(v, a, tau)  # (B, B): max over locations of cos(v_n[:, p], a_m) / τ
    aud_attn = a @ a.t() / tau
    v_avg = v.mean(dim=(2, 3))  # average-pooled normalised features, not normalised again
    img_attn = v_avg @ v_avg.t() / tau
    own = torch.einsum("ndhw,nd->nhw", v, a) / tau  # each sample's own map (the diagonal of the similarities)
    lo, hi = own.amin(dim=(1, 2), keepdim=True), own.amax(dim=(1, 2), keepdim=True)
    foreground = ((own - lo) / (hi - lo + 1e-5) > high_conf_thresh).unsqueeze(1)
    frg = (v * foreground).flatten(2).mean(dim=2)  # mean over all h·w locations, background counted as zeros
    frg_attn = frg @ frg.t() / tau
    soft_logits = logits.softmax(dim=1)
    return {"nce": symmetric_ce(logits),
            "fns1": F.l1_loss(aud_attn.softmax(dim=1), soft_logits),
            "tns": F.l1_loss(aud_attn.softmax(dim=1), frg_attn.softmax(dim=1)),
            "fns2": F.l1_loss(img_attn.softmax(dim=1), soft_logits)}


class FNAC(EZVSL):
    name = "fnac"
    paper = ("Sun et al., Learning Audio-Visual Source Localization via False Negative Aware Contrastive Learning, "
             "CVPR 2023")
    Config = FNACConfig

    def on_setup(self):
        super().on_setup()
        # FNAC trains the InfoNCE alone for its first 5 of 30 epochs: the same fraction of this run's steps
        self.fnac_start = round(self.run.steps * self.config.nce_only_epochs / self.config.public_epochs)

    def training_step(self, labeled, unlabeled, state):
        rows, c = unlabeled["index"], self.config
        out = self.models["a"](self.training_view(unlabeled, state), audio_input(self.models["a"], unlabeled),
                               drop_visual=feature_dropout(c.dropout_img, state.seed, state.step, rows, "dropout_v"),
                               drop_audio=feature_dropout(c.dropout_aud, state.seed, state.step, rows, "dropout_a"))
        acc = self.run.accelerator
        world = 1 if acc is None else acc.num_processes
        # the global batch's similarities; scaled by the process count as mil_infonce (docs/methods.md §1.7)
        terms = fnac_losses(gather_with_local_grad(out["v"], acc), gather_with_local_grad(out["a"], acc),
                            c.tau, c.high_conf_thresh)
        loss = terms["nce"]
        if state.step >= self.fnac_start:
            loss = loss + c.w_fns1 * terms["fns1"] + c.w_tns * terms["tns"] + c.w_fns2 * terms["fns2"]
        return world * loss, {f"l_{k}": t.detach() for k, t in terms.items()}
