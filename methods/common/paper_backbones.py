"""The paper's backbones (docs/methods.md §1.2–§1.3), with optional local pretrained weights.

Each takes `weights=None | path`; nothing is ever downloaded. Without weights the
module is randomly initialised and `pretrained` stays None (the run flags it).
Layer names follow the public PyTorch ports, so their files load key for key:

- ResNet18Visual: torchvision's resnet18 ImageNet file (resnet18-f37072fd.pth);
  same names, `fc.*` ignored.
- VGGish: harritaylor/torchvggish (vggish-10086976.pth): `features.{0,3,6,8,11,13}`
  convs and `embeddings.{0,2,4}` linears; its PCA `pproc.*` is ignored.
- SoundNet8: smallflyingpig/SoundNet_Pytorch (sound8.pth, converted from the
  TF port eborboihuc/SoundNet-tensorflow of the original Torch model): blocks
  `conv1`..`conv7` = Sequential(conv `.0`, batchnorm `.1`, ...). Its convs are Conv2d
  with (k, 1) kernels; ours are Conv1d, so the trailing 1 is squeezed on load.
  `conv8.*` / `conv8_2.*` (object / scene classifiers) are ignored.
"""
from __future__ import annotations

import torch
from torch import nn

from methods.common.audio_frontends import VGGISH_EXAMPLE_FRAMES, VGGISH_MEL_BANDS, ezvsl_log_spectrogram
from methods.common.weights import load_pretrained


class ResNet18Visual(nn.Module):
    """ImageNet-normalised image (B,3,H,W) -> layer4 map (B,512,H/32,W/32)."""

    def __init__(self, weights: str | None = None):
        super().__init__()
        from torchvision.models import resnet18  # lazy: torchvision.models is heavy, only paper profiles need it

        net = resnet18(weights=None)
        # torchvision's attribute names, so its state dict maps one to one
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = 512
        self.pretrained = None
        if weights:
            load_pretrained(self, weights, ignore=("fc.",), what="ResNet-18")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class VGGish(nn.Module):
    """Log-mel (B,1,64,T) from `vggish_logmel` -> 128-d embedding averaged over the T//96 examples.

    `examples="center"` uses only the centre 0.96 s example (docs/methods.md §1.2; an alternative).
    `final_relu=False` gives Google's current pre-activation embedding; the torchvggish port keeps a ReLU there
    (a known difference from the TensorFlow model). Either way the weights are the same.
    """

    input_key = "audio"

    def __init__(self, weights: str | None = None, examples: str = "mean", final_relu: bool = False):
        super().__init__()
        if examples not in ("mean", "center"):
            raise ValueError(f"VGGish examples must be 'mean' or 'center', got {examples!r}")
        self.examples = examples
        layers, cin = [], 1
        for stage in ((64,), (128,), (256, 256), (512, 512)):
            for cout in stage:
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)  # convs at indices 0,3,6,8,11,13 as in the port
        head = [nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
                nn.Linear(4096, 128)]
        self.embeddings = nn.Sequential(*head, *([nn.ReLU(inplace=True)] if final_relu else []))
        self.out_channels = 128
        self.pretrained = None
        if weights:
            load_pretrained(self, weights, ignore=("pproc.",), what="VGGish")

    def forward(self, x):
        b, _, bands, t = x.shape
        n = t // VGGISH_EXAMPLE_FRAMES
        if bands != VGGISH_MEL_BANDS or n == 0:
            raise ValueError(f"VGGish expects (B,1,{VGGISH_MEL_BANDS},T>=96) log-mel, got {tuple(x.shape)}")
        if self.examples == "center":
            start = (n // 2) * VGGISH_EXAMPLE_FRAMES
            x, n = x[..., start:start + VGGISH_EXAMPLE_FRAMES], 1
        # (B,1,64,n*96) -> (B*n,1,96 frames,64 bands): the layout VGGish was trained on
        ex = x[:, 0, :, : n * VGGISH_EXAMPLE_FRAMES].reshape(b, bands, n, VGGISH_EXAMPLE_FRAMES)
        ex = ex.permute(0, 2, 3, 1).reshape(b * n, 1, VGGISH_EXAMPLE_FRAMES, bands)
        h = self.features(ex)  # (B*n,512,6,4)
        # the TF original flattens channels-last; the first FC's weights assume that order
        emb = self.embeddings(h.permute(0, 2, 3, 1).flatten(1))
        return emb.view(b, n, -1).mean(dim=1)


# (out channels, kernel, stride, padding, max-pool after) of SoundNet-8's conv1..conv7
_SOUNDNET8 = (
    (16, 64, 2, 32, 8), (32, 32, 2, 16, 8), (64, 16, 2, 8, None), (128, 8, 2, 4, None),
    (256, 4, 2, 2, 4), (512, 4, 2, 2, None), (1024, 4, 2, 2, None),
)


def _squeeze_conv2d(key: str, t: torch.Tensor) -> torch.Tensor:
    """The port's (out,in,k,1) Conv2d kernels -> our (out,in,k) Conv1d kernels."""
    return t.squeeze(-1) if t.dim() == 4 and t.shape[-1] == 1 else t


class SoundNet8(nn.Module):
    """Raw waveform (B,1,N) at 22.05 kHz in [-1,1] -> conv7 (1024 ch) mean-pooled over time. SoundNet was trained
    on waveforms scaled to [-256, 256]: `input_scale` applies that here, so the stored waveform stays in [-1, 1]."""

    input_key = "waveform"

    def __init__(self, weights: str | None = None, input_scale: float = 256.0):
        super().__init__()
        self.input_scale = input_scale
        cin = 1
        for i, (cout, k, s, p, pool) in enumerate(_SOUNDNET8, start=1):
            block = [nn.Conv1d(cin, cout, k, stride=s, padding=p), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
            if pool:
                block.append(nn.MaxPool1d(pool, pool))
            setattr(self, f"conv{i}", nn.Sequential(*block))
            cin = cout
        self.out_channels = cin
        self.pretrained = None
        if weights:
            load_pretrained(self, weights, ignore=("conv8.", "conv8_2."), what="SoundNet-8", adapt=_squeeze_conv2d)

    def forward(self, x):
        if x.dim() == 2:
            x = x[:, None]
        x = x * self.input_scale
        for i in range(1, len(_SOUNDNET8) + 1):
            x = getattr(self, f"conv{i}")(x)
        return x.mean(dim=2)


class ResNet18Audio(nn.Module):
    """EZ-VSL's own audio encoder (stoneMo/EZ-VSL model.py), for its faithful variant: the waveform's log
    spectrogram (`ezvsl_log_spectrogram`, 257 bins) through a ResNet-18 trained from scratch, with a
    1-channel 7×7 conv1 and a global *max* pool in place of the average pool -> (B, 512). EZ-VSL initialises
    its convs Kaiming-normal (fan_out) and its norms' scales N(1, 0.02), done here too.
    """

    input_key = "waveform"

    def __init__(self, sample_rate: int = 22050):
        super().__init__()
        from torchvision.models import resnet18  # lazy: as ResNet18Visual

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.avgpool, net.fc = nn.AdaptiveMaxPool2d(1), nn.Identity()
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, mean=1, std=0.02)
                nn.init.constant_(m.bias, 0)
        self.net, self.sample_rate, self.out_channels = net, sample_rate, 512
        self.pretrained = None  # EZ-VSL trains its audio network from scratch

    def forward(self, x):
        return self.net(ezvsl_log_spectrogram(x, self.sample_rate))
