"""Image pre-processing and augmentation.

Colour-only RandAugment for the label-using methods (docs/methods.md §1.6: no geometric ops, so
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


COLOUR_OPS = ("identity", "autocontrast", "equalize", "solarize", "posterize", "color", "contrast",
              "brightness", "sharpness")
SIGNED_OPS = ("color", "contrast", "brightness", "sharpness")  # RandAugment draws a sign for these


def colour_randaugment(images: torch.Tensor, generators: list[torch.Generator], num_ops: int = 2,
                       max_magnitude: int = 10) -> torch.Tensor:
    """Per-image colour RandAugment on uint8 (B,3,H,W): `num_ops` ops, magnitude ~ U{1..max}.

    One generator per image (`sample_generators`), so an image's augmentation does not depend on its process or
    batch position; each op runs once over all images that drew it, with per-image magnitudes and signs, and
    equals torchvision's per-image calls bit for bit (tests/test_augment.py; a per-image loop cost a quarter of
    a training step on the CPU).
    """
    if images.dtype != torch.uint8:  # torchvision clamps to the dtype's range: 0..255 only for uint8
        raise TypeError(f"colour_randaugment needs uint8 images, got {images.dtype}")
    ops, mags = _draw_ops(generators, num_ops, max_magnitude)
    out = images
    for r in range(num_ops):
        # images sorted by op, so that each op runs on one contiguous slice
        order = sorted(range(len(generators)), key=lambda i: ops[r][i])
        perm = torch.tensor(order, device=images.device)
        sorted_images = out.index_select(0, perm)  # advanced indexing is 20x slower on uint8
        start = 0
        for k, name in enumerate(COLOUR_OPS):
            stop = start + ops[r].count(k)
            if stop > start and name != "identity":
                part = sorted_images[start:stop]
                part.copy_(_BATCHED_OPS[name](part, [mags[r][i] for i in order[start:stop]]))
            start = stop
        out = sorted_images.index_select(0, torch.argsort(perm))
    return out


def _draw_ops(generators: list[torch.Generator], num_ops: int, max_magnitude: int) -> tuple[list, list]:
    """ops[r][i], mags[r][i]: image i's r-th op and signed magnitude in [-1, 1], drawn in the per-image
    order op, magnitude, sign."""
    ops = [[0] * len(generators) for _ in range(num_ops)]
    mags = [[0.0] * len(generators) for _ in range(num_ops)]
    for i, generator in enumerate(generators):
        for r in range(num_ops):
            op = int(torch.randint(len(COLOUR_OPS), (1,), generator=generator))
            mag = float(torch.randint(1, max_magnitude + 1, (1,), generator=generator)) / 10.0
            if COLOUR_OPS[op] in SIGNED_OPS and float(torch.rand(1, generator=generator)) < 0.5:
                mag = -mag
            ops[r][i], mags[r][i] = op, mag
    return ops, mags


# Batched ops: uint8 (k,3,H,W) and k signed magnitudes -> uint8. Each repeats torchvision's float32
# arithmetic for a tensor image (transforms.v2.functional._color) with a per-image factor.

def _per_image(values: list[float], like: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    # Python doubles cast once (on the host), as torch casts a scalar argument for a float32 kernel; then moved
    # to `like`'s device (one small non-blocking copy)
    out = torch.tensor(values, dtype=torch.float64).to(dtype).view(-1, 1, 1, 1)
    return out if like.device.type == "cpu" else out.pin_memory().to(like.device, non_blocking=True)


def _fma32(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """x*y + z rounded once, as torch's CPU `z.add(x, alpha=y)` computes it (a fused multiply-add),
    but with a per-image y. addcmul's kernel, value*x*y + z with value 1, compiles to the same fused
    op on the x86 and ARM builds; the bit-identity test against tests/augment_reference.py guards it."""
    return torch.addcmul(z, x, y)


def _blend(images: torch.Tensor, other: torch.Tensor, factors: list[float]) -> torch.Tensor:
    """torchvision's `_blend`: image * r + other * (1 - r), the second term fused, clamped, truncated."""
    ratio = _per_image(factors, images)
    alpha = _per_image([1.0 - f for f in factors], images)
    return _fma32(other, alpha, images.float() * ratio).clamp_(0, 255).to(torch.uint8)


def _factors(mags: list[float]) -> list[float]:
    return [1 + 0.9 * m for m in mags]


def _grey(images: torch.Tensor) -> torch.Tensor:
    r, g, b = images.unbind(dim=-3)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(-3).floor_()


def _contrast(images: torch.Tensor, mags: list[float]) -> torch.Tensor:
    grey = _grey(images)
    if grey[0].numel() * 255 < 2**24:
        # integer pixels whose sum stays below 2^24: every partial sum is exact in float32, so one
        # batched mean equals torchvision's per-image mean whatever the summation order
        mean = torch.mean(grey, dim=(-3, -2, -1), keepdim=True)
    else:
        mean = torch.stack([torch.mean(g, dim=(-3, -2, -1), keepdim=True) for g in grey])
    return _blend(images, mean, _factors(mags))


def _sharpness(images: torch.Tensor, mags: list[float]) -> torch.Tensor:
    """torchvision blurs with the 3×3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13 in float32 and rounds. The
    exact value is q/13 with q an integer, at least 1/26 away from a rounding tie, far more than the
    float32 error of the convolution (< 1e-3 at 8 bits): so the rounded blur is (q + 6) // 13 in
    integers, whatever order the convolution sums in."""
    if images.shape[-1] <= 2 or images.shape[-2] <= 2:
        return images
    x = images.to(torch.int16)
    rows = x[..., :-2, :] + x[..., 1:-1, :] + x[..., 2:, :]
    q = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:] + 4 * x[..., 1:-1, 1:-1]
    out = images.float()
    inner = out[..., 1:-1, 1:-1]  # borders keep the original pixels
    blurred = torch.div(q + 6, 13, rounding_mode="floor").float()
    inner.copy_(_fma32(blurred.sub_(inner), _per_image([1.0 - f for f in _factors(mags)], images), inner))
    return out.clamp_(0, 255).to(torch.uint8)


def _solarize(images: torch.Tensor, mags: list[float]) -> torch.Tensor:
    threshold = _per_image([int(255 * (1 - m)) for m in mags], images, torch.uint8)  # 0..229
    # x >= threshold -> 255 - x, as torch.where(.., bitwise_not(x), x) but a fraction of its time
    return images.bitwise_xor((images >= threshold).to(torch.uint8).mul_(255))


def _posterize(images: torch.Tensor, mags: list[float]) -> torch.Tensor:
    bits = [max(1, 8 - int(round(4 * m))) for m in mags]
    return images & _per_image([((1 << n) - 1) << (8 - n) for n in bits], images, torch.uint8)


_BATCHED_OPS = {
    "autocontrast": lambda x, m: TF.autocontrast(x),  # per image and channel already
    "equalize": lambda x, m: TF.equalize(x),
    "solarize": _solarize,
    "posterize": _posterize,
    "color": lambda x, m: _blend(x, _grey(x), _factors(m)),
    "contrast": _contrast,
    "brightness": lambda x, m: (x.float() * _per_image(_factors(m), x)).clamp_(0, 255).to(torch.uint8),
    "sharpness": _sharpness,
}


def sample_generators(seed: int, step: int, rows: torch.Tensor, stream: str) -> list[torch.Generator]:
    """One generator per sample, from (seed, step, sample row, stream); `rows` on the host (a device tensor would
    cost a sync)."""
    return [step_generator(seed, step, int(r), stream) for r in rows.tolist()]


def feature_dropout(p: float, seed: int, step: int, rows: torch.Tensor, stream: str):
    """Dropout on a batch of feature maps or vectors (B, ...) with rate `p`, as torch's `nn.Dropout` in training
    (zero with probability p, the rest scaled by 1/(1−p)), but each sample's mask drawn from its own generator
    (seed, step, row, stream), so a resumed or multi-process run draws the same masks (docs/design.md §4;
    SLAVC's and FNAC's feature dropout, docs/methods.md §10.3). None when p = 0 (nothing to drop)."""
    if p <= 0:
        return None

    def drop(x: torch.Tensor) -> torch.Tensor:
        gens = sample_generators(seed, step, rows, stream)
        keep = torch.stack([torch.rand(x.shape[1:], generator=g) >= p for g in gens]).to(x.device)
        return x * keep / (1 - p)

    return drop


def colour_view(images: torch.Tensor, rows: torch.Tensor, state, stream: str, config) -> torch.Tensor:
    """The normalised training view of uint8 `images`: colour RandAugment drawn per sample from (seed, step,
    row, stream) when config.augment (config: augment, randaug_ops, randaug_max_magnitude; state: a StepState)."""
    if config.augment:
        gens = sample_generators(state.seed, state.step, rows, stream)
        images = colour_randaugment(images, gens, config.randaug_ops, config.randaug_max_magnitude)  # on its device
    return normalize(images)


class UpscaledImages:
    """EZ-VSL's training resize (×246/224, bicubic, before the random crop) gives the same pixels at every
    visit of an image, so it is done once per sample row and kept, rounded to uint8: the crop and flip
    that follow only select pixels, and the rounding is per pixel, so the crops are the same bit for
    bit. Rows beyond `max_bytes` are resized with their batch, as before."""

    def __init__(self, scale: float = 246 / 224, max_bytes: int = 1 << 30):
        self.scale, self.max_bytes = scale, max_bytes
        self.kept: dict[int, torch.Tensor] = {}
        self.nbytes = 0

    def __call__(self, images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        keys = rows.tolist()  # host rows (the trainer's batches keep their index on the host)
        missing = [i for i, r in enumerate(keys) if r not in self.kept]
        fresh = {}
        if missing:  # the kept images live in host memory: only the missing rows come back from the device
            part = images.index_select(0, torch.tensor(missing, device=images.device)).cpu()
            fresh = dict(zip(missing, upscale(part, self.scale)))
        big = torch.stack([fresh[i] if i in fresh else self.kept[r] for i, r in enumerate(keys)])
        for i, image in fresh.items():
            if keys[i] not in self.kept and self.nbytes + image.nbytes <= self.max_bytes:
                self.kept[keys[i]] = image.clone()  # not a view: the batch it came from is freed
                self.nbytes += image.nbytes
        return big

    def prefill(self, table, rows: list[int], chunk: int = 256) -> None:
        """Resize a training pool up front (up to `max_bytes`), so every step runs at the kept rate."""
        for start in range(0, len(rows), chunk):
            if self.nbytes >= self.max_bytes:
                break
            part = torch.as_tensor(rows[start:start + chunk])
            self(table.get(part.tolist())["image"], part)


def upscale(images: torch.Tensor, scale: float = 246 / 224) -> torch.Tensor:
    """uint8 images resized up by `scale`, bicubic, clamped and rounded back to uint8."""
    h, w = images.shape[-2:]
    big = F.interpolate(images.float(), size=(int(round(h * scale)), int(round(w * scale))), mode="bicubic",
                        align_corners=False)
    return big.clamp_(0, 255).round_().to(torch.uint8)


def crop_flip(big: torch.Tensor, generators: list[torch.Generator], size: tuple[int, int]) -> torch.Tensor:
    """EZ-VSL's training augmentation after the resize (`upscale`): random crop of `size`, random h-flip."""
    big_h, big_w = big.shape[-2:]
    h, w = size
    draws = [(int(torch.randint(0, big_h - h + 1, (1,), generator=g)),
              int(torch.randint(0, big_w - w + 1, (1,), generator=g)),
              float(torch.rand(1, generator=g)) < 0.5) for g in generators]
    crops = [big[i, :, y:y + h, x:x + w] for i, (y, x, _) in enumerate(draws)]
    return torch.stack([crop.flip(-1) if flip else crop for crop, (_, _, flip) in zip(crops, draws)])
