"""Plain per-sample reference for benchmark.metrics (the EZ-VSL evaluation loop).

Mirrors stoneMo/EZ-VSL test.py `validate` + utils.py `Evaluator` one sample
at a time in numpy, with the same documented choices as metrics.py (float32
maps as in EZ-VSL, constant map -> zeros, empty GT -> 0, non-finite input ->
ValueError).
Slow on purpose: it is the yardstick the vectorised code is tested against.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_bilinear_align_corners(x: np.ndarray, H: int, W: int) -> np.ndarray:
    """From-scratch numpy bilinear resize, align_corners=True (used to check torch's)."""
    h, w = x.shape
    ys = np.arange(H) * ((h - 1) / (H - 1)) if H > 1 else np.zeros(1)
    xs = np.arange(W) * ((w - 1) / (W - 1)) if W > 1 else np.zeros(1)
    y0 = np.minimum(np.floor(ys).astype(int), h - 1); y1 = np.minimum(y0 + 1, h - 1)
    x0 = np.minimum(np.floor(xs).astype(int), w - 1); x1 = np.minimum(x0 + 1, w - 1)
    wy = (ys - y0)[:, None]; wx = (xs - x0)[None, :]
    top = x[y0][:, x0] * (1 - wx) + x[y0][:, x1] * wx
    bot = x[y1][:, x0] * (1 - wx) + x[y1][:, x1] * wx
    return top * (1 - wy) + bot * wy


def _upsample(hm: np.ndarray, H: int, W: int) -> np.ndarray:
    # EZ-VSL: F.interpolate(..., mode='bilinear', align_corners=True); one sample at a time.
    if hm.shape == (H, W):
        return hm
    t = torch.from_numpy(hm)[None, None]
    return F.interpolate(t, size=(H, W), mode="bilinear", align_corners=True)[0, 0].numpy()


def _normalize_img(value: np.ndarray, raw_const: bool) -> np.ndarray:
    # utils.normalize_img; constant maps -> zeros (documented deviation, see metrics.py).
    vmin, vmax = value.min(), value.max()
    if raw_const or vmax - vmin == 0:
        return np.zeros_like(value)
    return (value - vmin) / (vmax - vmin)


def _cal_ciou(infer: np.ndarray, gtmap: np.ndarray, thres: float) -> float:
    # utils.Evaluator.cal_CIOU, with 0/0 -> 0 instead of NaN.
    infer_map = np.zeros(gtmap.shape)
    infer_map[infer >= thres] = 1
    num = np.sum(infer_map * gtmap)
    den = np.sum(gtmap) + np.sum(infer_map * (gtmap == 0))
    return float(num / den) if den > 0 else 0.0


def evaluate_reference(heatmaps: np.ndarray, gt_maps: np.ndarray, threshold="median") -> dict:
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

    cious = []
    for hm, gt in zip(heatmaps, gt_maps):
        H, W = gt.shape
        pred = _normalize_img(_upsample(hm, H, W), hm.max() == hm.min())
        if threshold == "median":
            thr = np.sort(pred.flatten())[int(H * W * 0.5)]
        else:
            thr = np.float32(threshold)
        cious.append(_cal_ciou(pred, gt, thr))

    cious = np.array(cious)
    n = len(cious)
    # Evaluator.finalize_AUC / finalize_AP50
    x = [0.05 * i for i in range(21)]
    rates = [np.sum(cious >= t) / n for t in x]
    auc = float(np.trapezoid(rates, x))  # what sklearn.metrics.auc computes
    return {"ciou": 100.0 * float(np.mean(cious >= 0.5)), "auc": 100.0 * auc,
            "ciou_per_sample": torch.from_numpy(cious), "n": n,
            "threshold": "median" if threshold == "median" else float(threshold)}
