"""The audio-visual localization model shared by every trained method (docs/methods.md §1.3–§1.4).

M[h,w] = cos(g(a), f(v)[:, h, w]): a visual encoder gives a feature map, an audio
encoder gives one vector, both L2-normalised in a shared `dim`-d space.
"""
from __future__ import annotations

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
        if audio_head == "mlp":  # FC-ReLU-FC head to the shared space, as in DMT/XPL's audio branch
            self.audio_head = nn.Sequential(
                nn.Linear(self.audio.out_channels, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        elif audio_head == "linear":  # EZ-VSL's aud_proj
            self.audio_head = nn.Linear(self.audio.out_channels, dim)
        else:
            raise ValueError(f"unknown audio_head {audio_head!r}; use mlp or linear")

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_head(self.audio(audio)), dim=1)

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> dict:
        v_raw = self.visual_proj(self.visual(images))
        v = F.normalize(v_raw, dim=1)
        a = self.encode_audio(audio)
        cos_map = torch.einsum("bdhw,bd->bhw", v, a)
        return {"v": v, "v_raw": v_raw, "a": a, "map": cos_map}


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
