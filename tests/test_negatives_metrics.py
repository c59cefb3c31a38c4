"""benchmark/negatives.py: SLAVC's joint positive + negative metrics (stoneMo/SLAVC utils.py EvaluatorFull,
test.py validate). Hand-computed cases, edge cases, a loop transcription of SLAVC's AP, and the reason the
confidence must come from the fixed-range (not per-sample min-max) map."""
from fractions import Fraction as Fr

import numpy as np
import pytest
import torch

from benchmark import negatives as neg

# Hand case (5 pairs):            s0    s1      s2    s3    s4
IS_POS = np.array([True, False, True, True, False])
CIOU = np.array([1.0, np.nan, 1.0, 0.0, np.nan])   # s3: sound detected in the wrong place
CONF = np.array([0.9, 0.8, 0.6, 0.3, 0.1])
TYPES = ["silence", "noise"]                        # negatives s1, s4


def test_hand_precision_recall_at_default_threshold():
    # conf >= 0.5: s0 TP, s1 FP (negative), s2 TP; s3 FN (not detected); s4 not detected (no effect)
    p, r = neg.precision_recall(IS_POS, CIOU, CONF, neg.DEFAULT_CONF_THR)
    assert neg.DEFAULT_CONF_THR == 0.5
    assert (p, r) == pytest.approx((2 / 3, 2 / 3), abs=1e-15)


def test_hand_ap():
    # thresholds = sorted(conf)[:-1] high->low = 0.8, 0.6, 0.3, 0.1 (the top confidence 0.9 is not one)
    # P = 1/2, 2/3, 2/4, 2/5 ; R = 1/3, 2/3, 1, 1 ; Pmax = 2/3, 2/3, 1/2, 2/5
    # AP = 2/3*(1/3) + 2/3*(1/3) + 1/2*0 = 4/9  (segment [0, 1/3] not counted, as in SLAVC)
    assert neg.average_precision(IS_POS, CIOU, CONF) == pytest.approx(float(Fr(4, 9)), abs=1e-15)


def test_hand_max_f1():
    # thresholds sorted(conf)[::1]: 0.1 -> P 2/5 R 1 F 4/7; 0.3 -> 1/2, 1, 2/3; 0.6 -> 2/3, 2/3, 2/3;
    # 0.8 -> 1/2, 1/3, 2/5; 0.9 -> 1, 1/3, 1/2
    thrs, f1 = neg.f1_curve(IS_POS, CIOU, CONF)
    np.testing.assert_allclose(thrs, [0.1, 0.3, 0.6, 0.8, 0.9])
    np.testing.assert_allclose(f1, [4 / 7, 2 / 3, 2 / 3, 2 / 5, 1 / 2], atol=1e-15)
    assert neg.max_f1(IS_POS, CIOU, CONF) == pytest.approx(2 / 3, abs=1e-15)


def test_hand_false_alarms():
    fa = neg.false_alarm_rates(CONF[~IS_POS], TYPES)
    assert fa == {"silence": 1.0, "noise": 0.0, "all": 0.5}
    # ">=": a negative exactly at the threshold is a false alarm
    assert neg.false_alarm_rates([0.5, 0.4999], ["offscreen", "offscreen"]) == {"offscreen": 0.5, "all": 0.5}


def _box_gt():
    gt = np.zeros((224, 224))
    gt[:112, :112] = 1                               # exactly a quarter of the image
    return gt


def test_hand_case_end_to_end_from_maps():
    gt = _box_gt()
    def pos(v_in, v_out=0.0):
        m = np.full((224, 224), v_out)
        m[:112, :112] = v_in
        return m
    maps = [pos(0.9), np.full((224, 224), 0.8), pos(0.6), pos(0.3), np.full((224, 224), 0.1)]
    labels = ["sounding", "non-sounding", "sounding", "sounding", "non-sounding"]
    types = [None, "silence", None, None, "noise"]
    res = neg.evaluate(maps, labels, [gt, None, gt, gt, None], types)
    np.testing.assert_allclose(res["confidence"], CONF)           # top quarter = the box
    np.testing.assert_allclose(res["ciou"][[0, 2, 3]], [1.0, 1.0, 0.0])  # 0.3 < pred_thr 0.5: nothing selected
    assert res["AP"] == pytest.approx(4 / 9, abs=1e-15)
    assert res["max_F1"] == pytest.approx(2 / 3, abs=1e-15)
    assert (res["precision"], res["recall"]) == pytest.approx((2 / 3, 2 / 3), abs=1e-15)
    assert res["false_alarm"] == {"silence": 1.0, "noise": 0.0, "all": 0.5}


def test_confidence_is_top_ceil_quarter_mean():
    assert neg.confidence(np.arange(8.0)) == pytest.approx(6.5)           # top 2 of 8
    assert neg.confidence(np.arange(49.0).reshape(7, 7)) == pytest.approx(np.arange(36, 49).mean())  # top 13 of 49
    assert neg.confidence(torch.arange(4.0)) == 3.0


def test_fixed_range_and_upsample():
    tau = 0.03
    raw = torch.tensor([[-1 / tau, 0.0], [1 / tau, 0.0]])
    np.testing.assert_allclose(neg.slavc_scores(raw, tau), [[0.0, 0.5], [1.0, 0.5]], atol=1e-6)
    up = neg.upsample(np.arange(49.0).reshape(7, 7))
    assert up.shape == (224, 224)
    assert up[0, 0] == pytest.approx(0.0, abs=1e-4) and up[-1, -1] == pytest.approx(48.0, abs=1e-4)  # align_corners


def test_localize_relative_top_half():
    s = np.arange(16.0).reshape(4, 4) / 100           # distinct values
    assert neg.localize(s, relative=True).sum() == 8   # thr = sorted[int(16 * 0.5)] -> top 8
    assert neg.localize(s).sum() == 0                  # absolute 0.5: nothing (all < 0.5)
    assert neg.localize(np.full((4, 4), 0.2), relative=True).sum() == 16  # constant: all >= itself


# ---------- edge cases ----------

def test_no_negatives():
    is_pos = np.array([True, True, True])
    cious, confs = np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.7, 0.2])
    # thresholds 0.7, 0.2: P = 1/2, 2/3 ; R = 1/2, 1 ; Pmax = 2/3, 2/3 -> AP = 2/3 * 1/2 = 1/3
    assert neg.average_precision(is_pos, cious, confs) == pytest.approx(1 / 3, abs=1e-15)
    assert neg.false_alarm_rates([], []) == {}
    res = neg.evaluate([np.full((224, 224), c) for c in confs], [True] * 3, [_box_gt()] * 3)
    assert res["false_alarm"] == {}


def test_all_negatives_above_threshold():
    is_pos = np.array([True, False, False])
    cious, confs = np.array([1.0, np.nan, np.nan]), np.array([0.55, 0.9, 0.7])
    fa = neg.false_alarm_rates(confs[1:], ["silence", "mismatched"])
    assert fa == {"silence": 1.0, "mismatched": 1.0, "all": 1.0}
    assert neg.precision_recall(is_pos, cious, confs, 0.5) == pytest.approx((1 / 3, 1.0))
    # thresholds 0.7, 0.55: P = 0 (R 0), 1/3 (R 1); Pmax = 1/3, 1/3 -> AP = 1/3
    assert neg.average_precision(is_pos, cious, confs) == pytest.approx(1 / 3, abs=1e-15)


def test_ties_in_confidence():
    # a correct positive and a negative at the same confidence are detected together (">=")
    is_pos = np.array([True, False, True])
    cious, confs = np.array([1.0, np.nan, 1.0]), np.array([0.6, 0.6, 0.2])
    assert neg.precision_recall(is_pos, cious, confs, 0.6) == pytest.approx((0.5, 0.5))
    # thresholds sorted[:-1] reversed = 0.6, 0.2: P = 1/2, 2/3; R = 1/2, 1; Pmax = 2/3, 2/3 -> AP = 1/3
    assert neg.average_precision(is_pos, cious, confs) == pytest.approx(1 / 3, abs=1e-15)
    # all equal: a single threshold point, no recall segment -> AP 0
    assert neg.average_precision(is_pos, cious, np.full(3, 0.4)) == 0.0


def test_single_pair_gives_zero_ap():
    assert neg.average_precision([True], [1.0], [0.9]) == 0.0


def test_all_zero_gt():
    gt = np.zeros((224, 224))
    assert neg.ciou(np.ones((224, 224)), gt) == 0.0
    assert np.isnan(neg.ciou(np.zeros((224, 224)), gt))
    # a "sounding" pair with an empty GT is never correct: detected -> FP (then TP+FN == 0, so SLAVC's recall
    # is 1), not detected -> FN
    assert neg.precision_recall([True], [np.nan], [0.9], 0.5) == (0.0, 1.0)
    assert neg.precision_recall([True], [np.nan], [0.2], 0.5) == (1.0, 0.0)
    res = neg.evaluate([np.full((224, 224), 0.9), np.full((224, 224), 0.2)], [True, True], [gt, gt])
    assert res["ciou"][0] == 0.0 and np.isnan(res["ciou"][1])
    assert res["precision"] == 0.0


def test_soft_gt_ciou():
    gt = np.zeros((2, 2)); gt[0] = [1.0, 0.5]          # flickr consensus map: 1 and 0.5
    infer = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert neg.ciou(infer, gt) == pytest.approx(1.0 / (1.5 + 1.0))


# ---------- against a literal loop transcription of SLAVC's calc_precision_recall / calc_ap ----------

def _slavc_pr(bb, ciou, conf, thr, ciou_thr=0.5):
    tp = fp = fn = 0
    for b, c, s in zip(bb, ciou, conf):
        if b == 0:
            fp += s >= thr
        elif s >= thr:
            tp += c >= ciou_thr
            fp += not (c >= ciou_thr)
        else:
            fn += 1
    return (1.0 if tp + fp == 0 else tp / (tp + fp)), (1.0 if tp + fn == 0 else tp / (tp + fn))


def _slavc_ap(bb, ciou, conf, ciou_thr=0.5):
    prec, rec = [], []
    for thr in np.sort(np.array(conf))[:-1][::-max(1, len(conf) // 200)]:
        p, r = _slavc_pr(bb, ciou, conf, thr, ciou_thr)
        prec.append(p); rec.append(r)
    pm = [np.max(prec[i:]) for i in range(len(prec))]
    return sum(pm[i] * (rec[i + 1] - rec[i]) for i in range(len(pm) - 1))


@pytest.mark.parametrize("n,seed", [(7, 0), (60, 1), (450, 2), (1001, 3)])   # n >= 400: stride > 1
def test_matches_slavc_loop(n, seed):
    rng = np.random.default_rng(seed)
    bb = rng.integers(0, 3, n)                                   # 0 boxes = negative
    cious = np.where(bb > 0, rng.random(n), np.nan)
    conf = np.round(rng.random(n), 2)                            # rounded: many ties
    is_pos = bb > 0
    for ct in (0.5, 0.75):
        assert neg.average_precision(is_pos, cious, conf, ct) == pytest.approx(_slavc_ap(bb, cious, conf, ct), abs=1e-12)
        grid = sorted(conf)[::max(1, n // 10)]
        f1 = [2 * p * r / (p + r) if p + r > 0 else 0.0 for p, r in (_slavc_pr(bb, cious, conf, t, ct) for t in grid)]
        np.testing.assert_allclose(neg.f1_curve(is_pos, cious, conf, ct)[1], f1, atol=1e-12)
        assert neg.precision_recall(is_pos, cious, conf, 0.5, ct) == pytest.approx(_slavc_pr(bb, cious, conf, 0.5, ct))


# ---------- why the confidence must come from the fixed-range map, not a per-sample min-max ----------

def _minmax(m):                                   # SLAVC utils.py normalize_img: per-sample min-max
    return (m - m.min()) / (m.max() - m.min())


def test_minmax_map_cannot_separate_negatives_raw_can():
    tau = 0.03
    gt = _box_gt()
    yy, xx = np.mgrid[:224, :224]
    bump = np.exp(-(((yy - 56) ** 2 + (xx - 56) ** 2) / (2 * 30.0 ** 2)))   
    shape = gt + 0.1 * bump                         # object box plus a smooth bump
    pos_raw = (-0.2 + 0.7 * shape) / tau            # cos/tau: strong audio-visual agreement on the object
    neg_raw = (-0.3 + 0.07 * shape) / tau           # silence: low similarity everywhere, same shape
    maps_raw = [pos_raw] * 3 + [neg_raw] * 3
    labels = [True] * 3 + [False] * 3
    types = [None] * 3 + ["silence", "noise", "offscreen"]
    gts = [gt] * 3 + [None] * 3

    raw = neg.evaluate(maps_raw, labels, gts, types, value_range=(-1 / tau, 1 / tau))
    assert raw["false_alarm"]["all"] == 0.0
    assert raw["precision"] == 1.0 and raw["max_F1"] == 1.0
    assert raw["confidence"][:3].min() > 0.5 > raw["confidence"][3:].max()

    mm = neg.evaluate([_minmax(m) for m in maps_raw], labels, gts, types)
    np.testing.assert_allclose(mm["confidence"][3:], mm["confidence"][:3], rtol=1e-12)   # identical levels
    assert mm["false_alarm"] == {"silence": 1.0, "noise": 1.0, "offscreen": 1.0, "all": 1.0}
    assert mm["precision"] == 0.5 and mm["max_F1"] < raw["max_F1"]


def test_separation_is_the_auc_of_confidences():
    """P(positive > negative), ties half; 0.5 when the confidence carries nothing, 1 when it separates."""
    assert neg.separation([0.9, 0.8], [0.1, 0.2, 0.3]) == 1.0
    assert neg.separation([0.1], [0.9]) == 0.0
    assert neg.separation([0.5, 0.5], [0.5]) == 0.5  # a fixed map: every confidence equal
    rng = np.random.default_rng(0)
    pos, negs = rng.normal(1, 1, 40), rng.normal(0, 1, 30)
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in negs])
    assert neg.separation(pos, negs) == pytest.approx(brute)
    assert np.isnan(neg.separation([], [0.1]))
