"""SLAVC's joint positive + negative ("non-sounding") localisation metrics, as SLAVC's public code computes them.

Reference: Mo & Morgado, NeurIPS 2022, code github stoneMo/SLAVC (commit 05b429c), files `test.py`
(function `validate`: how maps and confidences are made) and `utils.py` (class `EvaluatorFull`: cIoU, precision,
recall, AP, F1). Written from reading that code, not copied; every step names the place it follows.

Pipeline per test pair (test.py `validate`):
  raw map S = cos(img, aud) / tau at feature resolution  ->  bicubic upsampling to 224x224 (align_corners=True)
  ->  FIXED-range rescale s = (S - (-1/tau)) / (1/tau - (-1/tau)), the same bounds for every sample (not a
  per-sample min-max)  ->  confidence = mean of the top quarter of the 224x224 values of s  ->  localisation =
  s >= 0.5 (default) or, with `--relative_prediction`, the top 50 % of the per-sample min-max normalised s.
Positives are "correct" when cIoU >= 0.5 (EvaluatorFull `iou_thrs=(0.5, 0.75)`); negatives (no boxes) count
only through their confidence. The default confidence threshold is 0.5 (EvaluatorFull `default_conf_thr=0.5`,
also passed explicitly by test.py `validate`), i.e. on the fixed-range scale a mean top-quarter cosine of 0.

Arrays are numpy or torch; everything is converted to numpy float64 except the upsampling (torch, float32 like
SLAVC's model output).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

NEGATIVE_TYPES = ("silence", "noise", "offscreen", "mismatched")
DEFAULT_CONF_THR = 0.5   # utils.py EvaluatorFull.__init__ default_conf_thr=0.5; test.py validate passes 0.5
DEFAULT_PRED_THR = 0.5   # test.py get_arguments --pred_thr default 0.5 (absolute threshold on s)
DEFAULT_PRED_SIZE = 0.5  # test.py get_arguments --pred_size default 0.5 (only with --relative_prediction)
DEFAULT_CIOU_THR = 0.5   # utils.py EvaluatorFull calc_ap / f1_at_50 / ap_at_50 use 0.5


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def upsample(raw, size: int = 224) -> np.ndarray:
    """(h, w) map -> (size, size), as test.py `validate`: F.interpolate(..., mode='bicubic', align_corners=True)."""
    t = torch.as_tensor(np.asarray(raw.detach().cpu() if isinstance(raw, torch.Tensor) else raw), dtype=torch.float32)
    return F.interpolate(t[None, None], size=(size, size), mode="bicubic", align_corners=True)[0, 0].numpy()


def fixed_range(raw, vmin: float, vmax: float) -> np.ndarray:
    """SLAVC's score map: (raw - vmin) / (vmax - vmin) with bounds fixed for ALL samples (test.py `validate`,
    `min_max_norm(heatmap_av, -1/tau, 1/tau)`). Affine and sample-independent, so it keeps the raw map's level."""
    return (_np(raw) - vmin) / (vmax - vmin)


def slavc_scores(raw, tau: float) -> np.ndarray:
    """Fixed-range rescale of an S = cos/tau map with SLAVC's bounds av_min=-1/tau, av_max=1/tau (test.py `validate`)."""
    return fixed_range(raw, -1.0 / tau, 1.0 / tau)


def confidence(scores) -> float:
    """Mean of the top quarter of the map's values (test.py `validate`: np.sort(s.flatten())[-n//4:].mean()).
    Python parses `-n//4` as (-n)//4, so the top ceil(n/4) values are averaged (n/4 for 224x224)."""
    flat = np.sort(_np(scores).ravel())
    return float(flat[(-flat.size) // 4:].mean())


def localize(scores, relative: bool = False, pred_thr: float = DEFAULT_PRED_THR,
             pred_size: float = DEFAULT_PRED_SIZE) -> np.ndarray:
    """Binary localisation map (test.py `validate` + utils.py `EvaluatorFull.update`: infer[pred >= thr] = 1).
    relative=False (SLAVC's default; its scripts do not pass --relative_prediction): pred = s, thr = pred_thr.
    relative=True: pred = per-sample min-max of s (utils.py `normalize_img`, left as is when max == min),
    thr = sorted(pred)[int(n * pred_size)], so about the top (1 - pred_size) of the pixels, ties included."""
    s = _np(scores)
    if not relative:
        return (s >= pred_thr).astype(np.float64)
    lo, hi = s.min(), s.max()
    pred = (s - lo) / (hi - lo) if hi != lo else s
    thr = np.sort(pred.ravel())[int(pred.size * pred_size)]
    return (pred >= thr).astype(np.float64)


def ciou(infer, gt) -> float:
    """utils.py `EvaluatorFull.update`: sum(infer*gt) / (sum(gt) + sum(infer*(gt==0))), GT soft in [0,1].
    An all-zero GT gives 0 when pixels are selected and 0/0 = NaN when none are (as numpy does in SLAVC); NaN is
    never >= a cIoU threshold, so such a pair can never be a correct localisation."""
    infer, gt = _np(infer), _np(gt)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum(infer * gt) / (np.sum(gt) + np.sum(infer * (gt == 0))))


def precision_recall(is_pos, cious, confs, thr, ciou_thr: float = DEFAULT_CIOU_THR):
    """utils.py `EvaluatorFull.calc_precision_recall`, vectorised over `thr` (scalar or 1-D).
    Detected = confidence >= thr. Negative detected: FP. Positive detected: TP if cIoU >= ciou_thr, else FP
    (right sound, wrong place). Positive not detected: FN. Negatives never count as FN or TN.
    precision = TP/(TP+FP), 1 when nothing is detected; recall = TP/(TP+FN), 1 when TP+FN == 0."""
    pos = np.asarray(is_pos, dtype=bool)
    good = pos & (_np(cious) >= ciou_thr)          # NaN cIoU -> False
    det = _np(confs)[None, :] >= np.atleast_1d(_np(thr))[:, None]
    tp = (det & good).sum(1)
    fp = (det & ~good).sum(1)
    fn = (~det & pos).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(tp + fp == 0, 1.0, tp / np.maximum(tp + fp, 1))
        r = np.where(tp + fn == 0, 1.0, tp / np.maximum(tp + fn, 1))
    return (p[0], r[0]) if np.ndim(thr) == 0 else (p, r)


def average_precision(is_pos, cious, confs, ciou_thr: float = DEFAULT_CIOU_THR) -> float:
    """utils.py `EvaluatorFull.calc_ap`, on the joint set (its positives-only filter is commented out):
    thresholds = the sorted confidences without the largest, walked from high to low with stride
    max(1, N // 200); P, R at each; P_max[i] = max(P[i:]); AP = sum_i P_max[i] * (R[i+1] - R[i]).
    Quirks kept: the segment from recall 0 to R[0] is not counted, the LEFT point's interpolated precision weighs
    each segment, and N == 1 gives no threshold and AP = 0."""
    c = _np(confs)
    thrs = np.sort(c)[:-1][::-max(1, c.size // 200)]
    if thrs.size == 0:
        return 0.0
    p, r = precision_recall(is_pos, cious, c, thrs, ciou_thr)
    p_max = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum(p_max[:-1] * np.diff(r)))


def f1_curve(is_pos, cious, confs, ciou_thr: float = DEFAULT_CIOU_THR, stride: int | None = None):
    """utils.py `EvaluatorFull.finalize_stats`: F1 = 2PR/(P+R) (0 when P+R == 0) at the thresholds
    sorted(confidences)[::max(1, N // 10)] (about 10, ascending). Returns (thresholds, F1s).
    `stride=1` evaluates every confidence (the exact maximum); SLAVC's own grid is the default."""
    c = _np(confs)
    thrs = np.sort(c)[::stride or max(1, c.size // 10)]
    p, r = precision_recall(is_pos, cious, c, thrs, ciou_thr)
    with np.errstate(invalid="ignore", divide="ignore"):
        return thrs, np.where(p + r > 0, 2 * p * r / (p + r), 0.0)


def max_f1(is_pos, cious, confs, ciou_thr: float = DEFAULT_CIOU_THR, stride: int | None = None) -> float:
    """Max of `f1_curve` (SLAVC prints the whole F1 list in finalize_stats; the paper reports its maximum)."""
    return float(np.max(f1_curve(is_pos, cious, confs, ciou_thr, stride)[1]))


def false_alarm_rates(confs, neg_types, thr: float = DEFAULT_CONF_THR) -> dict:
    """Fraction of negatives with confidence >= thr, per negative type and over all negatives ('all').
    ">=" is SLAVC's detection rule (utils.py `calc_precision_recall`, a negative above threshold is a FP);
    the per-type split is ours (SLAVC labels every negative `non-sounding`). Types with no pair are left out."""
    c, types = _np(confs), np.asarray(neg_types, dtype=object)
    out = {t: float(np.mean(c[types == t] >= thr)) for t in dict.fromkeys(types.tolist())}
    if c.size:
        out["all"] = float(np.mean(c >= thr))
    return out


def separation(pos_confs, neg_confs) -> float:
    """P(a positive's confidence > a negative's), ties counted half: the area under the ROC curve of telling
    sounding from non-sounding pairs by confidence alone, whatever the threshold (ours, not SLAVC's: its fixed
    threshold 0.5 can sit below every pair's confidence, as it does for a cosine map positive everywhere).
    0.5 = the level of the map carries nothing about the sound; 1 = every positive above every negative."""
    pos, neg = _np(pos_confs), _np(neg_confs)
    if not pos.size or not neg.size:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))  # average ranks: ties count half
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def pair_scores(scores, gt, sounding: bool, relative: bool = False) -> tuple[float, float]:
    """(confidence, cIoU) of one pair whose map is already on SLAVC's score scale; cIoU NaN for a negative
    (SLAVC computes one against an all-zero GT but never reads it)."""
    conf = confidence(scores)
    return conf, (ciou(localize(scores, relative), gt) if sounding else float("nan"))


def set_metrics(is_pos, cious, confs, neg_types, *, conf_thr: float = DEFAULT_CONF_THR,
                ciou_thr: float = DEFAULT_CIOU_THR) -> dict:
    """The joint-set numbers from every pair's (confidence, cIoU): AP, max-F1, precision and recall at the
    default confidence, the false-alarm rate per negative type, and the share of positives localised
    (cIoU >= ciou_thr under SLAVC's score-map rule, whatever their confidence)."""
    is_pos, cious, confs = np.asarray(is_pos, dtype=bool), _np(cious), _np(confs)
    p, r = precision_recall(is_pos, cious, confs, conf_thr, ciou_thr)
    types = np.asarray(neg_types, dtype=object)
    with np.errstate(invalid="ignore"):
        localised = float(np.mean(cious[is_pos] >= ciou_thr)) if is_pos.any() else float("nan")
    return {"AP": average_precision(is_pos, cious, confs, ciou_thr), "max_F1": max_f1(is_pos, cious, confs, ciou_thr),
            "precision": float(p), "recall": float(r), "localised": localised,
            "false_alarm": false_alarm_rates(confs[~is_pos], types[~is_pos], conf_thr),
            "separation": {t: separation(confs[is_pos], confs[~is_pos][types[~is_pos] == t])
                           for t in dict.fromkeys(types[~is_pos].tolist())}}


def evaluate(maps, labels, gts, neg_types=None, *, value_range=None, relative: bool = False,
             conf_thr: float = DEFAULT_CONF_THR, ciou_thr: float = DEFAULT_CIOU_THR) -> dict:
    """All metrics on a joint set. maps: per pair a 2-D map at GT resolution (call `upsample` first for
    feature-resolution maps, as SLAVC does); it must be on SLAVC's score scale, or give value_range=(vmin, vmax)
    for the fixed-range rescale (e.g. (-1/tau, 1/tau) for cos/tau maps). NEVER a per-sample min-max map: that
    erases the level that tells negatives apart. labels: 'sounding' / 'non-sounding' (or bools, True = sounding).
    gts: per pair a GT map (ignored for negatives; None allowed). neg_types: per pair, used for negatives only."""
    is_pos = np.array([l is True or l == "sounding" for l in labels], dtype=bool)
    if value_range is not None:
        maps = [fixed_range(m, *value_range) for m in maps]
    scored = [pair_scores(m, g, p, relative) for m, g, p in zip(maps, gts, is_pos)]
    confs = np.array([c for c, _ in scored])
    cious = np.array([c for _, c in scored])
    types = ["non-sounding"] * len(labels) if neg_types is None else list(neg_types)
    return {"confidence": confs, "ciou": cious,
            **set_metrics(is_pos, cious, confs, types, conf_thr=conf_thr, ciou_thr=ciou_thr)}
