"""Light CPU backbones for the synthetic profiles.

GroupNorm rather than BatchNorm: per-sample outputs then do not depend on how a
global batch is split across processes, so 1-process and N-process runs agree.
"""
from __future__ import annotations

import torch
from torch import nn

from methods.common.weights import WeightsError, load_pretrained


def _conv(cin: int, cout: int, stride: int, groups: int = 8) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(groups, cout), cout),
        nn.ReLU(inplace=True),
    )


def _stages(cin: int, width: int, depth: int) -> tuple[nn.Sequential, int]:
    """Three stride-2 stages of `depth` 3x3 convs (width, 2x, 4x channels), and their output channels."""
    layers = []
    for cout in (width, 2 * width, 4 * width):
        layers.append(_conv(cin, cout, 2))
        layers += [_conv(cout, cout, 1) for _ in range(depth - 1)]
        cin = cout
    return nn.Sequential(*layers), cin


class LightVisualCNN(nn.Module):
    """Image (B,3,H,W) -> feature map (B,C,H/8,W/8): three stride-2 stages.

    `weights`: a local file of this network's state dict, e.g. the class-pretrained initialisation that
    `python -m benchmark.pretrain` builds from synthetic images (docs/protocol.md §7)."""

    def __init__(self, width: int = 32, depth: int = 2, weights: str | None = None):
        super().__init__()
        self.body, self.out_channels = _stages(3, width, depth)
        if weights:  # sets self.pretrained (the record for run.json); without, the network is one that takes
            load_pretrained(self, weights, what="light_cnn")  # no weights ("n/a"), as runs before this option

    def forward(self, x):
        return self.body(x)


class MelCNN2d(nn.Module):
    """Log-mel (B,1,F,T) -> vector (B,C): 2-D convolutions, global max pool (EZ-VSL style)."""

    input_key = "audio"  # the batch column this audio backbone reads

    def __init__(self, width: int = 32, depth: int = 2):
        super().__init__()
        self.body, self.out_channels = _stages(1, width, depth)

    def forward(self, x):
        return self.body(x).amax(dim=(2, 3))


class MelCNN1d(nn.Module):
    """Log-mel (B,1,F,T) -> vector (B,C): mel bins as channels, 1-D convolutions over time.

    A different inductive bias from MelCNN2d (no frequency translation invariance), so
    two models built from the two encoders make different mistakes (XPL's model B).
    """

    input_key = "audio"

    def __init__(self, n_mels: int = 64, width: int = 64, depth: int = 3):
        super().__init__()
        layers, cin = [], n_mels
        for i in range(depth):
            cout = width * (2 if i == depth - 1 else 1)
            layers += [nn.Conv1d(cin, cout, 5, stride=2, padding=2, bias=False), nn.GroupNorm(8, cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.body(x.squeeze(1)).amax(dim=2)


class WaveCNN1d(nn.Module):
    """Raw waveform (B,1,N) -> vector (B,C), in the spirit of SoundNet (docs/methods.md §2.1): XPL's model B on
    the synthetic profiles. It reads a different input from A (the samples, not A's fixed log-mel) through a
    different encoder: a *learned* filterbank (a strided convolution over 25 ms windows every 10 ms, as many
    filters as A has mel bands), log-compressed energies, then strided 1-D convolutions over time with a
    kernel of 3 (A's: 5) and a global max pool. The paper pairs VGGish on log-mel with SoundNet on the
    waveform so that the two models see the sound differently ("distinct backbones", Sec. 2.3). A plain strided
    stack on the samples (SoundNet's own) learned the synthetic classes far more slowly, at twice the CPU time.
    """

    input_key = "waveform"

    def __init__(self, filters: int = 64, width: int = 48, depth: int = 3, window: int = 400, hop: int = 160):
        super().__init__()
        self.filterbank = nn.Conv1d(1, filters, window, stride=hop, bias=False)
        self.norm = nn.GroupNorm(8, filters)
        layers, cin = [], filters
        for i in range(depth):
            cout = width * (2 if i == depth - 1 else 1)
            layers += [nn.Conv1d(cin, cout, 3, stride=2, padding=1, bias=False), nn.GroupNorm(8, cout),
                       nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        energy = torch.log1p(self.filterbank(x).square())  # (B, filters, frames): a learned log-spectrogram
        return self.body(self.norm(energy)).amax(dim=2)


# The paper's backbones; that module imports torchvision only when a ResNet-18 is built.
from methods.common.paper_backbones import ResNet18Audio, ResNet18Visual, SoundNet8, VGGish  # noqa: E402

VISUAL_BACKBONES = {"light_cnn": LightVisualCNN, "resnet18": ResNet18Visual}
AUDIO_BACKBONES = {"mel_cnn2d": MelCNN2d, "mel_cnn1d": MelCNN1d, "wave_cnn1d": WaveCNN1d, "vggish": VGGish,
                   "soundnet8": SoundNet8, "resnet18_audio": ResNet18Audio}


def build_backbone(table: dict, spec: dict, what: str) -> nn.Module:
    spec = dict(spec)
    kind = spec.pop("type", None)
    expected = spec.pop("weights_sha256", None)  # the file content the run's identity names (suites.with_weights)
    if kind not in table:
        raise ValueError(f"unknown {what} backbone type {kind!r}; known: {sorted(table)}")
    module = table[kind](**spec)
    found = (getattr(module, "pretrained", None) or {}).get("sha256")
    if expected and found != expected:
        raise WeightsError(f"{what} weights file {spec.get('weights')} has sha256 {found}, not the {expected} this "
                           "run names: a different file (give the run's own with --weights)")
    return module
