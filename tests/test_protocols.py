"""Every named protocol: the vectorised path equals the per-sample reference loop exactly."""
import numpy as np
import pytest
import torch

from benchmark import metrics
from benchmark.metrics import consensus_gt_map, evaluate, evaluate_all, evaluate_protocols, union_gt_map
from tests.metrics_reference import evaluate_reference
from benchmark.protocols import AREA_BUCKETS, PROTOCOLS, get_protocol

SUMMARY_KEYS = ("ciou", "auc", "ciou_mean", "n", "threshold", "ciou_small", "ciou_medium", "ciou_large",
                "n_small", "n_medium", "n_large")


def _batch(n, side, size, seed, flickr):
    """Maps with ties, a constant map, GT boxes of every bucket's size and one empty GT."""
    g = torch.Generator().manual_seed(seed)
    hm = torch.randn(n, side, side, generator=g)
    hm[1::5] = (hm[1::5] * 1.5).round()     # few levels: ties at the threshold after upsampling
    hm[2::5] = hm[2::5].clamp(max=0.2)      # a plateau at the top
    hm[4] = -1.25                           # constant
    gts = []
    for i in range(n):
        side_px = [0.1, 0.3, 0.7][i % 3] * size  # small, medium, large objects
        x0, y0 = (torch.rand(2, generator=g) * (size - side_px)).tolist()
        box = (x0, y0, x0 + side_px, y0 + side_px)
        if flickr:  # two annotators, offset boxes: values {0, .5, 1}
            other = tuple(v + side_px / 4 for v in box)
            gts.append(consensus_gt_map([[box], [other]], size))
        else:
            gts.append(union_gt_map([box], size))
    gts[7].zero_()                          # an empty GT
    return hm, torch.stack(gts)


CASES = [(7, 64, True), (8, 64, False), (7, 224, True), (64, 64, True), (64, 64, False)]


@pytest.mark.parametrize("side, size, flickr", CASES)
def test_every_protocol_equals_reference(side, size, flickr):
    hm, gt = _batch(30, side, size, seed=side * 7 + size + flickr, flickr=flickr)
    ours = evaluate_protocols(hm, gt)
    assert list(ours) == list(PROTOCOLS)
    for name in PROTOCOLS:
        ref = evaluate_reference(hm.numpy(), gt.numpy(), protocol=name)
        assert torch.equal(ours[name]["ciou_per_sample"], ref["ciou_per_sample"]), name
        for k in SUMMARY_KEYS:
            assert ours[name][k] == ref[k], (name, k)
        single = evaluate(hm, gt, protocol=name)  # one protocol alone: same numbers
        assert torch.equal(single["ciou_per_sample"], ref["ciou_per_sample"]), name
    # the protocols do disagree on these maps (the test can tell them apart); at the GT size
    # nothing is resampled, so the bicubic protocols equal `ezvsl` there
    distinct = len({tuple(r["ciou_per_sample"].tolist()) for r in ours.values()})
    assert distinct == (len(PROTOCOLS) if side < size else len(PROTOCOLS) - 2)


def test_chunking_does_not_change_any_protocol(monkeypatch):
    hm, gt = _batch(25, 7, 64, seed=3, flickr=True)
    full = evaluate_protocols(hm, gt)
    monkeypatch.setattr(metrics, "_CHUNK_PIXELS", 4 * 64 * 64)
    chunked = evaluate_protocols(hm[:, None].double(), gt)
    for name in PROTOCOLS:
        assert torch.equal(full[name]["ciou_per_sample"], chunked[name]["ciou_per_sample"]), name


# 4x4 hand-computed answers (distinct values 0..15, GT = top-left 2x2 holding 15, 14, 13, 7).
HM4 = torch.tensor([[15., 14, 3, 2], [13, 7, 1, 0], [12, 11, 10, 9], [8, 6, 5, 4]])
GT4 = torch.zeros(4, 4)
GT4[:2, :2] = 1


def _one(hm, gt, name):
    return evaluate(hm[None], gt[None], protocol=name)["ciou_per_sample"][0].item()


def test_known_answers_4x4():
    # median = sorted[8] = 8: `>=` keeps 8..15 (3 in GT, 5 out) -> 3/9; `>` keeps 9..15 -> 3/(4+4)
    assert _one(HM4, GT4, "ezvsl") == pytest.approx(3 / 9)
    assert _one(HM4, GT4, "ssltie") == pytest.approx(3 / 8)
    # N = 4: sorted[16 - 4] = 12, strictly above -> 13, 14, 15: 3 / (4 + 0)
    assert _one(HM4, GT4, "gt_area") == 0.75
    # fixed 0.5 on (v - 0) / 15 keeps v >= 7.5 -> same 8 pixels as the median
    assert _one(HM4, GT4, "fixed0.5") == pytest.approx(3 / 9)
    # same size as the GT: no resampling, so the bicubic protocols equal their bilinear twins
    assert _one(HM4, GT4, "slavc") == _one(HM4, GT4, "ezvsl") == _one(HM4, GT4, "ezvsl_val")


def test_ties_and_constant_maps_per_comparison():
    hm = torch.zeros(4, 4)
    hm[:2, :2] = 1
    hm[3, 2:] = 1                                      # 6 ones: sorted[8] == 0
    assert _one(hm, GT4, "ezvsl") == pytest.approx(4 / 16)  # ties selected: every pixel
    assert _one(hm, GT4, "ssltie") == pytest.approx(4 / 6)  # strictly above 0: the ones
    const = torch.full((4, 4), 3.0)
    assert _one(const, GT4, "ezvsl") == pytest.approx(4 / 16)
    assert _one(const, GT4, "ssltie") == 0.0 and _one(const, GT4, "gt_area") == 0.0


def test_gt_area_of_empty_gt_is_half_the_image():
    # empty GT: N = 16 // 2 = 8 -> threshold sorted[8]; cIoU is 0 either way, but the reference
    # and the vectorised path must agree that it is defined (no index error, no NaN)
    empty = torch.zeros(4, 4)
    assert _one(HM4, empty, "gt_area") == 0.0
    ref = evaluate_reference(HM4[None].numpy(), empty[None].numpy(), protocol="gt_area")
    assert ref["ciou_per_sample"].tolist() == [0.0]


def test_bicubic_protocols_use_their_own_upsampling():
    hm, gt = _batch(12, 7, 64, seed=9, flickr=False)
    a, b = (evaluate(hm, gt, protocol=n)["ciou_per_sample"] for n in ("ezvsl", "slavc"))
    c = evaluate(hm, gt, protocol="ezvsl_val")["ciou_per_sample"]
    assert not torch.equal(a, b) and not torch.equal(b, c)  # bilinear / bicubic ac=True / ac=False


def test_area_buckets_and_mean():
    hm, gt = _batch(30, 7, 64, seed=4, flickr=False)
    res = evaluate(hm, gt)
    areas = (gt != 0).flatten(1).double().mean(1)
    for name, lo, hi in AREA_BUCKETS:
        inside = res["ciou_per_sample"][(areas >= lo) & (areas < hi)]
        assert res[f"n_{name}"] == len(inside) > 0
        assert res[f"ciou_{name}"] == pytest.approx(100 * (inside >= 0.5).double().mean().item())
    assert sum(res[f"n_{b}"] for b, _, _ in AREA_BUCKETS) == res["n"] == 30
    assert res["ciou_mean"] == pytest.approx(100 * res["ciou_per_sample"].mean().item())
    # a bucket with no sample is None (JSON null), not 0
    big = evaluate(hm[2::3], gt[2::3])
    assert big["n_small"] == 0 and big["ciou_small"] is None


def test_evaluate_all_keeps_its_keys_and_adds_the_new_ones():
    hm, gt = _batch(10, 7, 64, seed=5, flickr=True)
    res = evaluate_all(hm, gt)
    old = {"ciou", "auc", "ciou_per_sample", "n", "threshold", "ciou_fixed0.5", "auc_fixed0.5",
           "ciou_per_sample_fixed0.5"}
    assert old <= set(res) and res["threshold"] == "median"
    assert {"ciou_mean", "ciou_mean_fixed0.5", "ciou_small", "n_large"} <= set(res)
    fixed = evaluate(hm, gt, threshold=0.5)
    assert (res["ciou_fixed0.5"], res["auc_fixed0.5"], res["ciou_mean_fixed0.5"]) == \
        (fixed["ciou"], fixed["auc"], fixed["ciou_mean"])


def test_unknown_protocol_is_an_error():
    with pytest.raises(ValueError, match="unknown protocol 'lvs'.*ezvsl"):
        get_protocol("lvs")
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_reference(HM4[None].numpy(), GT4[None].numpy(), protocol="lvs")


def test_protocol_table_is_documented():
    # every protocol named in docs/protocol.md §2 and the README's Protocol section
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "protocol.md").read_text()
    readme = (root / "README.md").read_text()
    for name in PROTOCOLS:
        assert f"`{name}`" in doc and f"`{name}`" in readme, name
    assert np.isclose(AREA_BUCKETS[0][2], (32 / 224) ** 2)
