"""The audio-visual localization model shared by every trained method (docs/methods.md §1.3–§1.4).

M[h,w] = cos(g(a), f(v)[:, h, w]): a visual encoder gives a feature map, an audio
encoder gives one vector, both L2-normalised in a shared `dim`-d space.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from methods.common.backbones import AUDIO_BACKBONES, VISUAL_BACKBONES, build_backbone

# Batch columns an audio backbone may read: log-mel features, or a raw waveform (SoundNet).
AUDIO_KEYS = ("audio", "waveform")


class LocalizationModel(nn.Module):
    def __init__(self, visual: dict, audio: dict, dim: int = 128, audio_head: str = "mlp"):
        super().__init__()
        self.visual = build_backbone(VISUAL_BACKBONES, visual, "visual")
        self.visual_proj = nn.Conv2d(self.visual.out_channels, dim, 1)
        self.audio = build_backbone(AUDIO_BACKBONES, audio, "audio")
        self.audio_key = getattr(self.audio, "input_key", "audio")  # which batch column to feed it
        self.audio_head = make_audio_head(audio_head, self.audio.out_channels, dim)

    def encode_audio(self, audio: torch.Tensor, drop: Callable | None = None) -> torch.Tensor:
        feats = self.audio(audio)
        return F.normalize(self.audio_head(feats if drop is None else drop(feats)), dim=1)

    def forward(self, images: torch.Tensor, audio: torch.Tensor, drop_visual: Callable | None = None,
                drop_audio: Callable | None = None) -> dict:
        """`drop_visual` / `drop_audio` (SLAVC's and FNAC's feature dropout, docs/methods.md §10.3): applied to
        the backbones' outputs before the projections; None leaves them as they are."""
        feats = self.visual(images)
        v_raw = self.visual_proj(feats if drop_visual is None else drop_visual(feats))
        v = F.normalize(v_raw, dim=1)
        a = self.encode_audio(audio, drop_audio)
        cos_map = torch.einsum("bdhw,bd->bhw", v, a)
        return {"v": v, "v_raw": v_raw, "a": a, "map": cos_map}


def make_audio_head(kind: str, in_channels: int, dim: int) -> nn.Module:
    """The audio projection to the shared `dim`-d space."""
    if kind == "mlp":  # FC-ReLU-FC head to the shared space, as in DMT/XPL's audio branch
        return nn.Sequential(nn.Linear(in_channels, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
    if kind == "linear":  # EZ-VSL's aud_proj
        return nn.Linear(in_channels, dim)
    raise ValueError(f"unknown audio_head {kind!r}; use mlp or linear")


def build_localizer(model_spec: dict, **override) -> LocalizationModel:
    spec = {**model_spec, **override}
    return LocalizationModel(visual=spec["visual"], audio=spec["audio"], dim=spec.get("dim", 128),
                             audio_head=spec.get("audio_head", "mlp"))


def audio_input(model: nn.Module, batch: dict) -> torch.Tensor:
    """The batch column `model`'s audio backbone reads (models A and B of XPL may differ)."""
    key = getattr(unwrap(model), "audio_key", "audio")
    if key not in batch:
        raise KeyError(f"the audio backbone needs batch column {key!r}; the data store has {sorted(batch)}")
    return batch[key]


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DDP / compile wrappers."""
    while hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)
