"""Image pre-processing and augmentation.

Colour-only RandAugment for the label-using methods (spec §2.7: no geometric ops, so
maps stay aligned with boxes and pseudo-labels); EZ-VSL keeps its crop + flip.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from methods.common.rng import step_generator

# Mean/std of ImageNet: the paper's backbones expect it; harmless for the light ones.
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    x = images_uint8.float() / 255.0
    return (x - _MEAN.to(x.device)) / _STD.to(x.device)


def _colour_ops(img: torch.Tensor, mag: float) -> dict:
    """RandAugment's photometric ops; `mag` in [0, 1] (RandAugment magnitude / 10)."""
    return {
        "identity": lambda: img,
        "autocontrast": lambda: TF.autocontrast(img),
        "equalize": lambda: TF.equalize(img),
        "solarize": lambda: TF.solarize(img, int(255 * (1 - mag))),
        "posterize": lambda: TF.posterize(img, max(1, 8 - int(round(4 * mag)))),
        "color": lambda: TF.adjust_saturation(img, 1 + 0.9 * mag),
        "contrast": lambda: TF.adjust_contrast(img, 1 + 0.9 * mag),
        "brightness": lambda: TF.adjust_brightness(img, 1 + 0.9 * mag),
        "sharpness": lambda: TF.adjust_sharpness(img, 1 + 0.9 * mag),
    }


COLOUR_OPS = tuple(_colour_ops(torch.zeros(3, 2, 2, dtype=torch.uint8), 0.0))


def colour_randaugment(images: torch.Tensor, generators: list[torch.Generator], num_ops: int = 2,
                       max_magnitude: int = 10) -> torch.Tensor:
    """Per-image colour RandAugment on uint8 (B,3,H,W): `num_ops` ops, magnitude ~ U{1..max}.

    One generator per image (see `sample_generators`), so an image's augmentation does not
    depend on which process or batch position it lands in. Signs of the enhancement ops
    are drawn too, as in torchvision's RandAugment.
    """
    if images.dtype != torch.uint8:  # torchvision clamps to the dtype's range: 0..255 only for uint8
        raise TypeError(f"colour_randaugment needs uint8 images, got {images.dtype}")
    out = torch.empty_like(images)
    for i in range(images.shape[0]):
        img, generator = images[i], generators[i]
        for _ in range(num_ops):
            op = COLOUR_OPS[int(torch.randint(len(COLOUR_OPS), (1,), generator=generator))]
            mag = float(torch.randint(1, max_magnitude + 1, (1,), generator=generator)) / 10.0
            if op in ("color", "contrast", "brightness", "sharpness") and torch.rand(1, generator=generator) < 0.5:
                mag = -mag
            img = _colour_ops(img, mag)[op]()
        out[i] = img
    return out


def sample_generators(seed: int, step: int, rows: torch.Tensor, stream: str) -> list[torch.Generator]:
    """One generator per sample, from (seed, step, sample row, stream)."""
    return [step_generator(seed, step, int(r), stream) for r in rows.tolist()]


def crop_flip(images: torch.Tensor, generators: list[torch.Generator], scale: float = 246 / 224) -> torch.Tensor:
    """EZ-VSL's training augmentation: resize up by 246/224, random crop back, random h-flip."""
    b, _, h, w = images.shape
    big_h, big_w = int(round(h * scale)), int(round(w * scale))
    big = F.interpolate(images.float(), size=(big_h, big_w), mode="bicubic", align_corners=False)
    big = big.clamp(0, 255)
    draws = [(int(torch.randint(0, big_h - h + 1, (1,), generator=g)), int(torch.randint(0, big_w - w + 1, (1,), generator=g)),
              bool(torch.rand(1, generator=g) < 0.5)) for g in generators]
    ys = [d[0] for d in draws]
    xs = [d[1] for d in draws]
    flips = torch.tensor([d[2] for d in draws])
    out = torch.stack([big[i, :, ys[i]:ys[i] + h, xs[i]:xs[i] + w] for i in range(b)])
    out[flips] = out[flips].flip(-1)
    return out.round().to(torch.uint8)
