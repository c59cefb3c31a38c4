"""Test oracle: a plain per-sample reference for benchmark.metrics (the public evaluation loops, one sample at a time).

Mirrors stoneMo/EZ-VSL test.py `validate` + utils.py `Evaluator` one sample
at a time in numpy, with the same documented choices as metrics.py (float32
maps as in EZ-VSL, constant map -> zeros, empty GT -> 0, non-finite input ->
ValueError). The other protocols (benchmark/protocols.py) follow their public code's
logic: SLAVC test.py's relative prediction (bicubic, `np.sort(flat)[int(n * pred_size)]`),
EZ-VSL train.py's validation (bicubic, align_corners=False), SSL-TIE's and Senocak et al.'s
`infer > thres`, and Senocak et al.'s adaptive threshold `np.sort(flat)[H*W - #(gt != 0)]`.
Slow on purpose: it is the yardstick the vectorised code is tested against.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.protocols import AREA_BUCKETS, DEFAULT, PROTOCOLS, Protocol, fixed_protocol, get_protocol


def _upsample(hm: np.ndarray, H: int, W: int, mode: str, align_corners: bool) -> np.ndarray:
    # EZ-VSL test: F.interpolate(..., mode='bilinear', align_corners=True); one sample at a time.
    if hm.shape == (H, W):
        return hm
    t = torch.from_numpy(hm)[None, None]
    return F.interpolate(t, size=(H, W), mode=mode, align_corners=align_corners)[0, 0].numpy()


def _normalize_img(value: np.ndarray, raw_const: bool) -> np.ndarray:
    # utils.normalize_img; constant maps -> zeros (documented deviation, see metrics.py).
    vmin, vmax = value.min(), value.max()
    if raw_const or vmax - vmin == 0:
        return np.zeros_like(value)
    return (value - vmin) / (vmax - vmin)


def _cal_ciou(infer: np.ndarray, gtmap: np.ndarray, thres: float, strict: bool = False) -> float:
    # utils.Evaluator.cal_CIOU (`>` in SSL-TIE / Senocak et al.), with 0/0 -> 0 instead of NaN.
    infer_map = np.zeros(gtmap.shape)
    infer_map[(infer > thres) if strict else (infer >= thres)] = 1
    num = np.sum(infer_map * gtmap)
    den = np.sum(gtmap) + np.sum(infer_map * (gtmap == 0))
    return float(num / den) if den > 0 else 0.0


def _threshold(pred: np.ndarray, gt: np.ndarray, p: Protocol):
    n = pred.size
    if p.rule == "rank":  # EZ-VSL: int(H*W*0.5); SLAVC: int(n * pred_size)
        return np.sort(pred.flatten())[int(n * p.value)]
    if p.rule == "fixed":
        return np.float32(p.value)
    gt_nums = int((gt != 0).sum())  # Senocak et al.: empty GT -> half the image
    if gt_nums == 0:
        gt_nums = n // 2
    return np.sort(pred.flatten())[n - gt_nums]


def evaluate_reference(heatmaps: np.ndarray, gt_maps: np.ndarray, threshold="median", protocol=None) -> dict:
    heatmaps = np.asarray(heatmaps, dtype=np.float64)  # check before the float32 cast
    gt_maps = np.asarray(gt_maps, dtype=np.float64)  # EZ-VSL GT maps are float64
    if heatmaps.ndim == 4 and heatmaps.shape[1] == 1:
        heatmaps = heatmaps[:, 0]
    if heatmaps.ndim != 3 or gt_maps.ndim != 3 or len(heatmaps) != len(gt_maps) or len(gt_maps) == 0:
        raise ValueError("expected heatmaps (N,h,w) and gt_maps (N,H,W) with the same N > 0")
    if not np.isfinite(heatmaps).all():
        raise ValueError("heatmaps contain NaN or Inf values")
    heatmaps = heatmaps.astype(np.float32)  # EZ-VSL heatmaps are float32
    if not np.isfinite(heatmaps).all():
        raise ValueError("heatmap values overflow float32")
    if np.isnan(gt_maps).any() or (gt_maps < 0).any() or (gt_maps > 1).any():
        raise ValueError("gt_maps must be finite with values in [0, 1]")

    if protocol is not None:
        p = get_protocol(protocol)
    else:
        p = PROTOCOLS[DEFAULT] if threshold == "median" else fixed_protocol(float(threshold))
    cious, areas = [], []
    for hm, gt in zip(heatmaps, gt_maps):
        H, W = gt.shape
        pred = _normalize_img(_upsample(hm, H, W, p.upsample, p.align_corners), hm.max() == hm.min())
        cious.append(_cal_ciou(pred, gt, _threshold(pred, gt, p), p.strict))
        areas.append(int((gt != 0).sum()) / (H * W))

    cious = np.array(cious)
    n = len(cious)
    # Evaluator.finalize_AUC / finalize_AP50
    x = [0.05 * i for i in range(21)]
    rates = [np.sum(cious >= t) / n for t in x]
    auc = float(np.trapezoid(rates, x))  # what sklearn.metrics.auc computes
    res = {"ciou": 100.0 * float(np.mean(cious >= 0.5)), "auc": 100.0 * auc,
           "ciou_mean": 100.0 * float(np.mean(cious)),
           "ciou_per_sample": torch.from_numpy(cious), "n": n, "threshold": p.threshold}
    for name, lo, hi in AREA_BUCKETS:  # SLAVC's Evaluator: a cIoU list per size bucket
        inside = [c for c, a in zip(cious, areas) if lo <= a < hi]
        res[f"ciou_{name}"] = 100.0 * float(np.mean(np.array(inside) >= 0.5)) if inside else None
        res[f"n_{name}"] = len(inside)
    return res
