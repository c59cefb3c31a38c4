"""Test oracle: per-image colour RandAugment (one torchvision call per image and op) and EZ-VSL's resize,
crop and flip of the whole batch at every call.

`methods.common.augment` (batched over images, resize kept per row) must equal these bit for bit
(tests/test_augment.py). It is how every committed run up to the batched version augmented its images.
"""
from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF


def _colour_ops(img: torch.Tensor, mag: float) -> dict:
    """RandAugment's photometric ops; `mag` in [-1, 1] (RandAugment magnitude / 10, signed)."""
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


def colour_randaugment_reference(images: torch.Tensor, generators: list[torch.Generator], num_ops: int = 2,
                                 max_magnitude: int = 10) -> torch.Tensor:
    from methods.common.augment import COLOUR_OPS, SIGNED_OPS

    out = torch.empty_like(images)
    for i in range(images.shape[0]):
        img, generator = images[i], generators[i]
        for _ in range(num_ops):
            op = COLOUR_OPS[int(torch.randint(len(COLOUR_OPS), (1,), generator=generator))]
            mag = float(torch.randint(1, max_magnitude + 1, (1,), generator=generator)) / 10.0
            if op in SIGNED_OPS and torch.rand(1, generator=generator) < 0.5:
                mag = -mag
            img = _colour_ops(img, mag)[op]()
        out[i] = img
    return out


def crop_flip_reference(images: torch.Tensor, generators: list[torch.Generator],
                        scale: float = 246 / 224) -> torch.Tensor:
    """EZ-VSL's resize, random crop and flip, resizing the whole batch at every call."""
    import torch.nn.functional as F

    b, _, h, w = images.shape
    big_h, big_w = int(round(h * scale)), int(round(w * scale))
    big = F.interpolate(images.float(), size=(big_h, big_w), mode="bicubic", align_corners=False).clamp(0, 255)
    out = []
    for i, g in enumerate(generators):
        y = int(torch.randint(0, big_h - h + 1, (1,), generator=g))
        x = int(torch.randint(0, big_w - w + 1, (1,), generator=g))
        crop = big[i, :, y:y + h, x:x + w]
        out.append(crop.flip(-1) if bool(torch.rand(1, generator=g) < 0.5) else crop)
    return torch.stack(out).round().to(torch.uint8)
