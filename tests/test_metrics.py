"""Tests for benchmark.metrics (cIoU / AUC protocol of EZ-VSL) and its reference."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark import metrics
from benchmark.metrics import (consensus_gt_map, evaluate, evaluate_all, success_curve,
                               union_gt_map)
from tests.metrics_reference import evaluate_reference

# 4x4 example used for hand-computed answers (distinct values 0..15).
HM4 = torch.tensor([[15., 14, 3, 2],
                    [13, 7, 1, 0],
                    [12, 11, 10, 9],
                    [8, 6, 5, 4]])
GT4 = torch.zeros(4, 4)
GT4[:2, :2] = 1  # 4 GT pixels holding values 15, 14, 13, 7


def _one(hm, gt, **kw):
    return evaluate(hm[None], gt[None], **kw)["ciou_per_sample"][0].item()


def test_known_answer_4x4_median():
    # median index int(16*0.5)=8 -> threshold value 8; selected {8..15} (8 pixels):
    # 15,14,13 inside GT, 12,11,10,9,8 outside -> 3 / (4 + 5)
    assert _one(HM4, GT4) == pytest.approx(3 / 9)
    res = evaluate(HM4[None], GT4[None])
    assert res["ciou"] == 0.0 and res["n"] == 1 and res["threshold"] == "median"


def test_known_answer_soft_gt_exactly_half_counts_as_success():
    gt = GT4.clone()
    gt[2, :2] = 0.5  # values 12, 11 now on half-weight GT
    # inter = 3*1 + 2*0.5 = 4; sum(gt) = 5; selected on gt==0: 10, 9, 8 -> 4 / (5 + 3)
    assert _one(HM4, gt) == 0.5
    assert evaluate(HM4[None], gt[None])["ciou"] == 100.0  # cIoU >= 0.5, not > 0.5


def test_fixed_threshold_known_answer():
    # normalised >= 0.9 keeps 15/15 and 14/15 only: both in GT -> 2 / (4 + 0)
    assert _one(HM4, GT4, threshold=0.9) == 0.5
    # >= 0.5 keeps v >= 7.5: same 8 pixels as the median here
    assert _one(HM4, GT4, threshold=0.5) == pytest.approx(3 / 9)


def test_median_ties_are_selected():
    hm = torch.zeros(4, 4)
    hm[:2, :2] = 1
    hm[3, 2:] = 1  # 6 ones, 10 zeros: sorted[8] == 0 -> every pixel selected (>=)
    assert _one(hm, GT4) == pytest.approx(4 / 16)  # strict '>' would give 4/6
    hm[3, :2] = 1
    hm[2, 2:] = 1  # 10 ones: sorted[8] == 1 -> exactly the ones
    assert _one(hm, GT4) == pytest.approx(4 / 10)


def test_median_index_odd_size():
    # 3x3: int(9*0.5) = 4 -> 5th smallest; values 0..8 -> 5 pixels selected
    hm = torch.arange(9.).reshape(3, 3)
    assert _one(hm, torch.ones(3, 3)) == pytest.approx(5 / 9)


def _half_planes(n_side=7, size=224):
    """GT = one half of the image; heatmap a strict ramp towards that half."""
    ramp = -torch.arange(n_side, dtype=torch.float32).expand(n_side, n_side)  # high at x=0
    hms, gts = [], []
    for k in range(4):
        gt = torch.zeros(size, size)
        gt[:, : size // 2] = 1
        hms.append(torch.rot90(ramp, k))
        gts.append(torch.rot90(gt, k))
    return torch.stack(hms), torch.stack(gts)


def test_perfect_and_inverted_predictions():
    hm, gt = _half_planes()
    good = evaluate(hm, gt)
    assert torch.equal(good["ciou_per_sample"], torch.ones(4, dtype=torch.float64))
    assert good["ciou"] == 100.0 and good["auc"] == pytest.approx(100.0)
    bad = evaluate(-hm, gt)
    assert torch.equal(bad["ciou_per_sample"], torch.zeros(4, dtype=torch.float64))
    # only t=0 succeeds: area = 0.05 * (1 + 0) / 2
    assert bad["ciou"] == 0.0 and bad["auc"] == pytest.approx(2.5)


def test_constant_map():
    gt = consensus_gt_map([[(0, 0, 100, 100)], [(50, 50, 150, 150)]], 224)
    hm = torch.full((1, 7, 7), 0.1)
    # upsampling a constant is not exactly constant: why constancy is read on the raw map
    up = F.interpolate(hm[None], size=(224, 224), mode="bilinear", align_corners=True)
    assert up.max() > up.min()
    expect = gt.double().sum() / (gt.double().sum() + (gt == 0).sum())  # every pixel selected
    res = evaluate_all(hm, gt[None])
    assert res["ciou_per_sample"][0].item() == pytest.approx(expect.item())
    assert res["ciou_per_sample_fixed0.5"][0].item() == 0.0  # constant -> zeros -> nothing >= 0.5
    ref = evaluate_reference(hm.numpy(), gt[None].numpy())
    assert torch.equal(ref["ciou_per_sample"], res["ciou_per_sample"])


def test_empty_gt_gives_zero():
    hm = torch.randn(2, 7, 7)
    hm[1] = 3.0  # constant + fixed threshold: empty prediction and empty GT (0/0)
    gt = torch.zeros(2, 32, 32)
    res = evaluate_all(hm, gt)
    assert res["ciou_per_sample"].tolist() == [0.0, 0.0]
    assert res["ciou_per_sample_fixed0.5"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("values, auc", [
    ([0.5] * 3, 52.5),    # t_0..t_10 succeed (0.05*10 == 0.5): 10*0.05 + 0.025
    ([0.15] * 3, 12.5),   # 0.05*3 = 0.15000000000000002 > 0.15: only t_0..t_2
    ([1.0] * 2, 100.0),
    ([0.0] * 2, 2.5),
    ([0.0, 1.0], 51.25),  # 0.05*(1+0.5)/2 + 0.95*0.5
])
def test_auc_of_known_lists(values, auc):
    thr, rates = success_curve(torch.tensor(values, dtype=torch.float64))
    assert thr.shape == rates.shape == (21,)
    assert thr[3].item() == 0.05 * 3 and thr[-1].item() == 1.0
    assert 100 * float(np.trapezoid(rates.numpy(), thr.numpy())) == pytest.approx(auc)
    assert metrics._summary(torch.tensor(values, dtype=torch.float64), "median")["auc"] == pytest.approx(auc)


def test_consensus_map_values():
    anns = [[(0, 0, 4, 4)], [(2, 2, 6, 6)], [(3, 3, 8, 8)]]  # three annotators, 8x8 frame
    m = consensus_gt_map(anns, 8)
    assert m.shape == (8, 8)
    assert set(m.unique().tolist()) == {0.0, 0.5, 1.0}
    assert m[0, 0] == 0.5 and m[1, 3] == 0.5      # one annotator
    assert m[2, 2] == 1.0 and m[3, 3] == 1.0      # two / three annotators (clipped at 1)
    assert m[4, 4] == 1.0 and m[7, 7] == 0.5      # end-exclusive: A covers 0..3 only
    assert m[0, 7] == 0.0 and m[7, 0] == 0.0
    assert torch.equal(consensus_gt_map([b for a in anns for b in a], 8), m)  # flat list too


def test_consensus_box_scaling_flickr():
    # 256-frame box -> int(224 * v / 256): (8.75, 17.5, 87.5, 175) -> (8, 17, 87, 175)
    m = consensus_gt_map([[(10, 20, 100, 200)]], 224, box_scale=256)
    assert m[17, 8] == 0.5 and m[174, 86] == 0.5
    assert m[16, 8] == 0 and m[17, 7] == 0 and m[175, 86] == 0 and m[174, 87] == 0
    assert m.sum().item() == 0.5 * (175 - 17) * (87 - 8)


def test_union_map_vggss_normalised():
    boxes = [(0.1, 0.2, 0.5, 0.9), (0.4, -0.1, 1.2, 0.3)]  # second box clipped to [0, 1]
    m = union_gt_map(boxes, 224, box_scale=1.0)
    # box1 -> cols 22..111, rows 44..200; box2 -> cols 89..223, rows 0..66
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert m[44, 22] == 1 and m[43, 22] == 0 and m[44, 21] == 0
    assert m[200, 111] == 1 and m[201, 111] == 0 and m[200, 112] == 0
    assert m[0, 223] == 1 and m[66, 89] == 1 and m[67, 150] == 0
    assert m[50, 100] == 1  # overlap stays 1
    assert m.sum().item() == 157 * 90 + 67 * 135 - (67 - 44) * (112 - 89)


def resize_bilinear_align_corners(x: np.ndarray, H: int, W: int) -> np.ndarray:
    """From-scratch numpy bilinear resize, align_corners=True: the check on torch's."""
    h, w = x.shape
    ys = np.arange(H) * ((h - 1) / (H - 1)) if H > 1 else np.zeros(1)
    xs = np.arange(W) * ((w - 1) / (W - 1)) if W > 1 else np.zeros(1)
    y0 = np.minimum(np.floor(ys).astype(int), h - 1); y1 = np.minimum(y0 + 1, h - 1)
    x0 = np.minimum(np.floor(xs).astype(int), w - 1); x1 = np.minimum(x0 + 1, w - 1)
    wy = (ys - y0)[:, None]; wx = (xs - x0)[None, :]
    top = x[y0][:, x0] * (1 - wx) + x[y0][:, x1] * wx
    bot = x[y1][:, x0] * (1 - wx) + x[y1][:, x1] * wx
    return top * (1 - wy) + bot * wy


def test_numpy_bilinear_matches_torch_align_corners():
    x = torch.randn(7, 7, dtype=torch.float64)
    ours = resize_bilinear_align_corners(x.numpy(), 64, 50)
    theirs = F.interpolate(x[None, None], size=(64, 50), mode="bilinear", align_corners=True)[0, 0]
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-12)


def _random_case(n, side, size, seed):
    g = torch.Generator().manual_seed(seed)
    hm = torch.randn(n, side, side, generator=g)
    hm[::7] = (hm[::7] * 2).round()   # coarse values -> ties after upsampling
    hm[3] = 0.25                      # a constant map
    gts = []
    for i in range(n):
        k = int(torch.randint(1, 4, (1,), generator=g))
        boxes = (torch.rand(k, 4, generator=g) * size).tolist()
        boxes = [(min(a, c), min(b, d), max(a, c), max(b, d)) for a, b, c, d in boxes]
        gts.append(consensus_gt_map([[b] for b in boxes], size) if i % 2 else union_gt_map(boxes, size))
    gts[5].zero_()                    # an empty GT
    return hm, torch.stack(gts)


@pytest.mark.parametrize("side, size", [(7, 64), (8, 64), (7, 224), (8, 224)])
def test_vectorised_equals_reference(side, size):
    hm, gt = _random_case(50, side, size, seed=side * 1000 + size)
    for thr in ("median", 0.5, 0.3):
        a = evaluate(hm, gt, threshold=thr)
        b = evaluate_reference(hm.numpy(), gt.numpy(), threshold=thr)
        assert torch.equal(a["ciou_per_sample"], b["ciou_per_sample"])
        assert (a["ciou"], a["auc"], a["n"], a["threshold"]) == (b["ciou"], b["auc"], b["n"], b["threshold"])
    assert 0 < a["auc"] < 100  # non-degenerate case


def test_chunking_and_input_forms_do_not_change_results(monkeypatch):
    hm, gt = _random_case(30, 7, 64, seed=1)
    full = evaluate_all(hm, gt)
    monkeypatch.setattr(metrics, "_CHUNK_PIXELS", 7 * 64 * 64)  # chunks of 7 maps
    chunked = evaluate_all(hm[:, None].double(), gt)             # (N,1,h,w), float64
    for k in ("ciou_per_sample", "ciou_per_sample_fixed0.5"):
        assert torch.equal(full[k], chunked[k])
    # same-resolution maps skip upsampling; still identical to the reference
    hm2 = torch.randn(10, 64, 64)
    assert torch.equal(evaluate(hm2, gt[:10])["ciou_per_sample"],
                       evaluate_reference(hm2.numpy(), gt[:10].numpy())["ciou_per_sample"])


def test_evaluate_all_keys_and_fixed_variant():
    hm, gt = _random_case(20, 7, 64, seed=2)
    res = evaluate_all(hm, gt)
    fixed = evaluate(hm, gt, threshold=0.5)
    assert res["ciou_fixed0.5"] == fixed["ciou"] and res["auc_fixed0.5"] == fixed["auc"]
    assert torch.equal(res["ciou_per_sample_fixed0.5"], fixed["ciou_per_sample"])
    assert res["threshold"] == "median" and fixed["threshold"] == 0.5
    assert res["ciou_per_sample"].dtype == torch.float64 and res["ciou_per_sample"].shape == (20,)
    assert not torch.equal(res["ciou_per_sample"], res["ciou_per_sample_fixed0.5"])


def test_invalid_inputs_raise():
    gt = torch.zeros(2, 16, 16)
    gt[:, :8] = 1
    hm = torch.randn(2, 7, 7)
    hm[1, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        evaluate(hm, gt)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_reference(hm.numpy(), gt.numpy())
    hm[1, 3, 3] = float("inf")
    with pytest.raises(ValueError, match="Inf"):
        evaluate_all(hm, gt)
    hm[1, 3, 3] = 0.0
    for bad in (gt * 2, gt.masked_fill(gt == 0, float("nan"))):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            evaluate(hm, bad)
    with pytest.raises(ValueError):
        evaluate(hm, gt[:1])
    with pytest.raises(ValueError):
        evaluate(hm, gt, threshold="mean")


# ---------------------------------------------------------------------------
# Ties, chunking, unusual GT values and magnitudes: exactly the reference's numbers.
# ---------------------------------------------------------------------------

def _tie_heavy_case(n, size=224, seed=0):
    """Quantised maps (many exact ties after upsampling), plateaus, constant maps (also last)."""
    g = torch.Generator().manual_seed(seed)
    hm = torch.randn(n, 7, 7, generator=g)
    hm[0::4] = (hm[0::4] * 2).round() / 2             # half-integer levels
    hm[1::4] = hm[1::4].round().clamp(-1, 1)          # three levels
    hm[2::4] = torch.where(hm[2::4] > 0.3, 0.3, hm[2::4])  # a plateau at the top
    hm[3] = 0.25                                      # constant maps: at the start ...
    hm[-1] = 0.0                                      # ... and at the end of the batch
    hm[-2] = -7.5
    _, gt = _random_case(n, 7, size, seed)
    return hm, gt


def _assert_same_as_reference(hm, gt, thresholds=("median", 0.5)):
    gt_ref = gt.float().numpy() if gt.dtype in (torch.float16, torch.bool) else gt.numpy()
    for thr in thresholds:
        a = evaluate(hm, gt, threshold=thr)
        b = evaluate_reference(hm.numpy(), gt_ref, threshold=thr)
        assert torch.equal(a["ciou_per_sample"], b["ciou_per_sample"]), thr
        assert (a["ciou"], a["auc"]) == (b["ciou"], b["auc"]), thr


def test_equals_reference_on_ties():
    hm, gt = _tie_heavy_case(40)
    _assert_same_as_reference(hm, gt, ("median", 0.5, 0.25, 1.0, 0.0, -0.5, 1.5, 0.999))
    res = evaluate_all(hm, gt)
    assert torch.equal(res["ciou_per_sample_fixed0.5"], evaluate(hm, gt, threshold=0.5)["ciou_per_sample"])


def test_chunks_and_random_maps(monkeypatch):
    hm, gt = _random_case(45, 7, 224, seed=11)
    hm[-3:] = 1.0  # constant maps closing the batch (and a chunk)
    full = evaluate_all(hm, gt)
    monkeypatch.setattr(metrics, "_CHUNK_PIXELS", 224 * 224 * 4)  # chunks of 8 maps
    chunked = evaluate_all(hm, gt)
    for k in ("ciou_per_sample", "ciou_per_sample_fixed0.5"):
        assert torch.equal(full[k], chunked[k])
    _assert_same_as_reference(hm, gt)
    _assert_same_as_reference(hm * 1e-4 + 3.0, gt)  # tiny range on a large offset
    _assert_same_as_reference(hm[:, :, :5], gt[:, :, :150])  # non-square, W % 8 != 0


def test_unusual_gt_and_magnitudes_are_exact():
    hm, gt = _random_case(24, 7, 224, seed=5)
    soft = gt.clone()
    soft[1] *= 0.3                      # GT values outside {0, 0.5, 1}: summed as the reference does
    soft[2] = torch.where(soft[2] > 0, torch.tensor(1e-30), soft[2])
    soft[4, 0, 0] = -0.0                # still a valid GT (equal to 0)
    _assert_same_as_reference(hm, soft)
    _assert_same_as_reference(hm, gt.half())
    _assert_same_as_reference(hm, gt > 0)   # bool GT
    big = hm.clone()
    big[0] *= 1e35                      # magnitudes where float32 rounding is not all relative
    big[1] *= 1e-25
    _assert_same_as_reference(big, gt)
