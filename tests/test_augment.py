"""The batched augmentations equal the per-image torchvision reference bit for bit, so the committed
runs (augmented one image at a time) are reproduced exactly by the faster code.

No tolerance: the equality holds at both ends of the supported torch range (2.3.0 / torchvision 0.18.0 and
2.9.1 / 0.24.1), and one uint8 level off would be another augmentation. A release on which it fails has changed
an op's arithmetic and must be looked at before the range admits it."""
from __future__ import annotations

import pytest
import torch

from methods.common.augment import UpscaledImages, colour_randaugment, crop_flip, sample_generators
from tests.augment_reference import colour_randaugment_reference, crop_flip_reference


def _edge_images(g: torch.Generator, n: int, h: int, w: int) -> torch.Tensor:
    images = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    images[0] = 0
    images[1] = 255
    images[2] = images[2] // 64 * 64  # few levels: ties in equalize, flat autocontrast channels
    images[3, 1] = 7  # one constant channel
    return images


def _assert_same_colour(images: torch.Tensor, seed: int, step: int, **kw) -> None:
    rows = torch.arange(len(images))
    batched = colour_randaugment(images, sample_generators(seed, step, rows, "t"), **kw)
    reference = colour_randaugment_reference(images, sample_generators(seed, step, rows, "t"), **kw)
    assert batched.dtype == torch.uint8
    assert torch.equal(batched, reference), (seed, step, (batched.int() - reference.int()).abs().max())


def test_colour_randaugment_equals_per_image_reference_on_store_images(smoke_domains):
    data = smoke_domains["flickr"]
    images = data.table.get(data.rows["unlabeled"])["image"]
    changed = 0
    for step in range(12):  # 12 x 96 images x 2 ops: every op with many magnitudes and signs
        _assert_same_colour(images, 0, step)
        changed += int((colour_randaugment(images, sample_generators(0, step, torch.arange(len(images)), "t"))
                        != images).any())
    assert changed == 12  # the comparison is not between two identities


@pytest.mark.parametrize("h,w", [(64, 64), (37, 45), (3, 3), (2, 5), (224, 224)])
def test_colour_randaugment_equals_reference_on_edge_images(h, w):
    g = torch.Generator().manual_seed(h * 1000 + w)
    n = 8 if h == 224 else 32
    for step in range(3 if h == 224 else 8):
        _assert_same_colour(_edge_images(g, n, h, w), 1, step)
    _assert_same_colour(_edge_images(g, n, h, w), 2, 0, num_ops=3, max_magnitude=5)


def test_every_op_is_exercised_by_the_equality_tests():
    from methods.common.augment import COLOUR_OPS, _draw_ops

    seen = set()
    for step in range(8):
        ops, mags = _draw_ops(sample_generators(1, step, torch.arange(32), "t"), 2, 10)
        seen |= {(COLOUR_OPS[o], m < 0) for r in range(2) for o, m in zip(ops[r], mags[r])}
    assert {op for op, _ in seen} == set(COLOUR_OPS)
    assert {("brightness", True), ("brightness", False), ("sharpness", True), ("contrast", True)} <= seen


def test_crop_flip_with_kept_resizes_equals_reference(smoke_domains):
    data = smoke_domains["flickr"]
    table = data.table
    one = table.get([0])["image"]
    kept = UpscaledImages(max_bytes=20 * upscaled_bytes(one))  # fills up: later rows are resized per batch
    for step in range(10):
        rows = torch.randint(0, len(data.rows["unlabeled"]), (24,), generator=torch.Generator().manual_seed(step))
        rows = torch.as_tensor([data.rows["unlabeled"][r] for r in rows])  # duplicates included
        images = table.get(rows.tolist())["image"]
        ours = crop_flip(kept(images, rows), sample_generators(0, step, rows, "a"), images.shape[-2:])
        assert torch.equal(ours, crop_flip_reference(images, sample_generators(0, step, rows, "a")))
    assert len(kept.kept) == 20 and kept.nbytes <= kept.max_bytes


def upscaled_bytes(image: torch.Tensor) -> int:
    return UpscaledImages()(image, torch.tensor([0])).nbytes


def test_prefill_keeps_the_pool_up_to_its_budget(smoke_domains):
    data = smoke_domains["flickr"]
    rows = data.rows["unlabeled"]
    kept = UpscaledImages()
    kept.prefill(data.table, rows, chunk=16)
    assert sorted(kept.kept) == sorted(rows)
    small = UpscaledImages(max_bytes=5 * kept.kept[rows[0]].nbytes)
    small.prefill(data.table, rows, chunk=16)
    assert len(small.kept) == 5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the colour ops on the device vs on the CPU")
def test_colour_randaugment_on_the_gpu_matches_the_cpu():
    """On the device the ops run with the same per-image draws (generators on the host), but CUDA's kernels may
    round a float32 blend or mean differently from the CPU's fused multiply-add. Tolerance: one uint8 level at
    most, on under 1 % of the pixels of a 224 px batch of 64 (any larger gap is another augmentation, not
    rounding); the integer ops (solarize, posterize, sharpness's blur) and the draws are exact either way."""
    g = torch.Generator().manual_seed(7)
    images = _edge_images(g, 64, 224, 224)
    rows = torch.arange(len(images))
    for step in range(4):
        cpu = colour_randaugment(images, sample_generators(3, step, rows, "t"))
        gpu = colour_randaugment(images.cuda(), sample_generators(3, step, rows, "t")).cpu()
        diff = (cpu.int() - gpu.int()).abs()
        assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01, (step, int(diff.max()),
                                                                     float((diff > 0).float().mean()))
