"""Standard AVSL localisation metrics (cIoU / AUC) under named protocols, one vectorised torch path.

Default protocol `ezvsl`, reproduced from the public EZ-VSL evaluation code (stoneMo/EZ-VSL test.py, utils.py),
cross-checked with LVS; its steps and the other protocols: docs/protocol.md §2, benchmark/protocols.py.

Deliberate choices where the reference is silent or ill-defined:
* upsampling, normalisation and thresholding run in float32 whatever the input dtype, as in EZ-VSL (float32
  model output, F.interpolate, numpy float32 normalise/sort/compare); the
  fixed threshold is compared in float32 too. Sums equal EZ-VSL's float64 sums (float64
  infer_map and GT) exactly: float32 where that is exact (see _ciou_chunk), numpy float64
  otherwise; cIoU is float64. Maps whose range is tiny relative to
  their offset lose resolution in float32, exactly as in the reference;
* maps already at the GT size are not resampled (torch's kernels copy them too);
* a constant map (raw max == min, or zero range after upsampling) normalises
  to all zeros. Upsampling a constant map yields ulp-level noise, which the
  reference would stretch to [0, 1]; testing the raw map avoids that. With the
  `>=` rank rule every pixel is then selected (same as the reference, which
  leaves constant maps unnormalised and selects all pixels >= the constant);
  with `>` or a fixed threshold t > 0 no pixel is selected;
* empty GT (sum(gt) == 0): cIoU = 0 (what the reference formula gives when pixels
  are selected); 0/0 (empty GT and empty prediction) is also defined as 0;
* NaN or +-Inf in heatmaps, NaN or values outside [0, 1] in GT: ValueError.
Box -> map conversion: see `consensus_gt_map` / `union_gt_map`.

tests/metrics_reference.py is the per-sample loop this path is tested against (identical per-sample cIoU for
every protocol).
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.protocols import AREA_BUCKETS, DEFAULT, PROTOCOLS, Protocol, fixed_protocol, get_protocol

# The reference builds thresholds as 0.05*i in Python floats, not linspace.
AUC_THRESHOLDS = [0.05 * i for i in range(21)]
# 2**20 pixels per chunk (~20 maps at 224x224): bounded memory, and each pass stays in cache
# (the path is memory-bound: 1.6 ms per map with 2**22, 1.2 with 2**20 on this 2-core CPU).
_CHUNK_PIXELS = 1 << 20


def _check_inputs(heatmaps, gt_maps):
    heatmaps = torch.as_tensor(heatmaps)
    gt_maps = torch.as_tensor(gt_maps)
    if heatmaps.dim() == 4 and heatmaps.shape[1] == 1:  # (N, 1, h, w) model output
        heatmaps = heatmaps[:, 0]
    if heatmaps.dim() != 3 or gt_maps.dim() != 3:
        raise ValueError(f"expected heatmaps (N,h,w) and gt_maps (N,H,W), got "
                         f"{tuple(heatmaps.shape)} and {tuple(gt_maps.shape)}")
    if heatmaps.shape[0] != gt_maps.shape[0] or heatmaps.shape[0] == 0:
        raise ValueError(f"need the same non-zero N, got {heatmaps.shape[0]} heatmaps "
                         f"and {gt_maps.shape[0]} GT maps")
    if not heatmaps.is_floating_point():
        heatmaps = heatmaps.float()
    bad = ~torch.isfinite(heatmaps).flatten(1).all(1)
    if bad.any():
        idx = bad.nonzero().flatten()[:10].tolist()
        kind = "NaN" if torch.isnan(heatmaps).any() else "Inf"
        raise ValueError(f"heatmaps contain {kind} values (non-finite samples, first: {idx})")
    return heatmaps, gt_maps


def _kth_smallest(v, k):
    """Row-wise value of sorted(row)[k] (exact selection)."""
    if v.device.type == "cpu":
        # numpy's SIMD partition is ~3x faster than torch.kthvalue on CPU; same value.
        return torch.from_numpy(np.partition(v.numpy(), k, axis=1)[:, k:k + 1])
    return v.kthvalue(k + 1, dim=1, keepdim=True).values


def _normalised(hm, H, W, mode="bilinear", align_corners=True):
    """Upsample (c,h,w) to (H,W) and min-max normalise -> (c, H*W) float32."""
    c = hm.shape[0]
    lo, hi = torch.aminmax(hm.flatten(1), dim=1)
    if hm.shape[1:] != (H, W):
        v = F.interpolate(hm[:, None], size=(H, W), mode=mode, align_corners=align_corners)
    else:  # same size: no resampling (torch's kernels copy, too)
        v = hm.clone()
    v = v.reshape(c, H * W)
    vmin, vmax = torch.aminmax(v, dim=1, keepdim=True)
    rng = vmax - vmin
    const = (lo == hi) | (rng[:, 0] == 0)
    # In place, but the same float32 ops as the reference (v - min) / (max - min).
    v.sub_(vmin).div_(rng.masked_fill_(const[:, None], 1.0))
    if const.any():
        v[const] = 0.0
    return v


def _kth_per_row(v, k):
    """Row i's sorted(row)[k[i]] (a different k per row)."""
    if v.device.type == "cpu":  # one partition per row: ~20x faster than sorting the rows
        x, ks = v.numpy(), k.tolist()
        return torch.from_numpy(np.array([[np.partition(x[i], ks[i])[ks[i]]] for i in range(len(ks))], x.dtype))
    return v.sort(dim=1).values.gather(1, k[:, None])


def _select(v, nz, p: Protocol):
    """Binary prediction (c, H*W) of normalised maps v under protocol p; nz = [gt != 0]."""
    n_pix = v.shape[1]
    if p.rule == "rank":  # reference: np.sort(flat)[int(H*W*value)]
        t = _kth_smallest(v, int(n_pix * p.value)).to(v.device)
    elif p.rule == "fixed":
        t = torch.tensor(float(p.value), dtype=v.dtype, device=v.device)
    elif p.rule == "gt_area":  # sorted(flat)[H*W - N]; an empty GT counts as half the image
        area = nz.sum(1)
        area = torch.where(area == 0, n_pix // 2, area)
        t = _kth_per_row(v, n_pix - area).to(v.device)
    else:
        raise ValueError(f"unknown threshold rule {p.rule!r}")
    return v > t if p.strict else v >= t


def _ciou_chunk(hm, gt, protocols):
    """([per-sample cIoU of one chunk for each protocol], #(gt != 0) per sample); hm (c,h,w) float32, gt (c,H,W)."""
    c, H, W = gt.shape
    if gt.dtype != torch.bool:
        lo, hi = torch.aminmax(gt)  # NaN propagates and fails the test below
        if not (lo >= 0 and hi <= 1):
            raise ValueError("gt_maps must have values in [0, 1] (no NaN)")
    g = gt.reshape(c, H * W)
    if g.dtype in (torch.float16, torch.bfloat16, torch.bool):
        g = g.float()  # exact
    # GT values on a 2**-j grid (e.g. {0, .5, 1}) with H*W*2**j < 2**24: every partial sum of
    # pred*gt is a float32 integer multiple of 2**-j, so float32 sums are exact in any order
    # (the reference's float64 sums are exact too). Other maps are summed as the reference does.
    odd = (g * 2.0 ** (24 - (H * W).bit_length())).frac_().any(1).nonzero().flatten().tolist()
    g32 = g.float()  # exact wherever the float32 sums are used
    nz = g != 0
    gsum = g32.sum(1).double()
    out = [None] * len(protocols)
    for up in dict.fromkeys((p.upsample, p.align_corners) for p in protocols):
        v = _normalised(hm, H, W, *up)  # one upsampling per mode, shared by its protocols
        for j, p in enumerate(protocols):
            if (p.upsample, p.align_corners) != up:
                continue
            pred = _select(v, nz, p)
            # sum(pred*gt) as one batched GEMV; sum(pred*[gt==0]) = #pred - #(pred & gt != 0)
            inter = torch.bmm(g32[:, None, :], pred.to(torch.float32)[:, :, None])[:, 0, 0].double()
            extra = (pred.sum(1) - (pred & nz).sum(1)).double()
            denom = gsum + extra
            ciou = torch.where(denom > 0, inter / torch.where(denom > 0, denom, 1.0), 0.0).cpu()
            for i in odd:
                ciou[i] = _ciou_like_reference(pred[i].reshape(H, W).cpu().numpy(),
                                               g[i].reshape(H, W).double().cpu().numpy())
            out[j] = ciou
    return out, nz.sum(1).cpu()


def _ciou_like_reference(pred, gt):
    """The reference's float64 sums for one map (same numpy reductions, same order)."""
    infer_map = np.zeros(gt.shape)
    infer_map[pred] = 1
    num = np.sum(infer_map * gt)
    den = np.sum(gt) + np.sum(infer_map * (gt == 0))
    return float(num / den) if den > 0 else 0.0


def _cious(heatmaps, gt_maps, protocols):
    """([per-sample cIoU (N,) float64 for each protocol], GT area fractions (N,) float64), chunked."""
    heatmaps, gt_maps = _check_inputs(heatmaps, gt_maps)
    n, H, W = gt_maps.shape
    step = max(1, _CHUNK_PIXELS // (H * W))
    parts, areas = [], []
    with torch.inference_mode():
        for s in range(0, n, step):
            hm = heatmaps[s:s + step].to(torch.float32)
            if not torch.isfinite(hm).all():
                raise ValueError("heatmap values overflow float32 (|value| > 3.4e38)")
            cious, area = _ciou_chunk(hm, gt_maps[s:s + step].to(hm.device), protocols)
            parts.append(cious)
            areas.append(area)
    # the area-bucket key: the fraction of the GT's pixels with gt != 0
    return [torch.cat(p) for p in zip(*parts)], torch.cat(areas).double() / (H * W)


def _protocol_of(threshold, protocol) -> Protocol:
    if protocol is not None:
        return get_protocol(protocol)
    if threshold == "median":
        return PROTOCOLS[DEFAULT]
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be 'median' or a number, got {threshold!r}")
    return fixed_protocol(float(threshold))


def success_curve(ciou_per_sample):
    """(thresholds, rates): rates[i] = fraction of samples with cIoU >= 0.05*i."""
    c = torch.as_tensor(ciou_per_sample, dtype=torch.float64).flatten().cpu()
    n = c.numel()
    if n == 0:
        raise ValueError("empty cIoU list")
    rates = torch.tensor([int((c >= t).sum()) / n for t in AUC_THRESHOLDS], dtype=torch.float64)
    return torch.tensor(AUC_THRESHOLDS, dtype=torch.float64), rates


def _summary(ciou, threshold, areas=None):
    """CIoU (@0.5), AUC, mean cIoU (all 0-100) and, given GT areas, CIoU and n per area bucket."""
    thr, rates = success_curve(ciou)
    n = ciou.numel()
    # sklearn.metrics.auc == numpy trapezoid for increasing x; use numpy so the
    # summation order (and last bit) matches the reference implementation.
    auc = float(np.trapezoid(rates.numpy(), thr.numpy()))
    res = {"ciou": 100.0 * (int((ciou >= 0.5).sum()) / n), "auc": 100.0 * auc,
           "ciou_mean": 100.0 * float(np.mean(ciou.numpy())),
           "ciou_per_sample": ciou, "n": n, "threshold": threshold}
    if areas is not None:
        for name, lo, hi in AREA_BUCKETS:
            inside = ciou[(areas >= lo) & (areas < hi)]
            k = inside.numel()
            res[f"ciou_{name}"] = 100.0 * (int((inside >= 0.5).sum()) / k) if k else None
            res[f"n_{name}"] = k
    return res


def evaluate(heatmaps: torch.Tensor, gt_maps: torch.Tensor, *, threshold: str | float = "median",
             protocol: str | Protocol | None = None) -> dict:
    """heatmaps (N,h,w) [or (N,1,h,w)] any float dtype/resolution; gt_maps (N,H,W) in [0,1].

    protocol: a name of benchmark.protocols.PROTOCOLS (or a Protocol); without it, threshold
    "median" is the default `ezvsl` protocol and a float t an absolute threshold (normalised >= t).
    Returns {"ciou", "auc", "ciou_mean" (0-100), "ciou_{small,medium,large}" (0-100, None for an
    empty bucket), "n_{small,medium,large}", "ciou_per_sample" (N,) float64 on CPU, "n",
    "threshold"}. Runs on the heatmaps' device, in chunks.
    """
    p = _protocol_of(threshold, protocol)
    (ciou,), areas = _cious(heatmaps, gt_maps, [p])
    return _summary(ciou, p.threshold, areas)


def evaluate_protocols(heatmaps, gt_maps, protocols=None) -> dict:
    """{protocol name: evaluate()'s dict} for the named protocols (default: all), in one pass."""
    ps = [get_protocol(p) for p in (protocols if protocols is not None else PROTOCOLS)]
    cious, areas = _cious(heatmaps, gt_maps, ps)
    return {p.name: _summary(c, p.threshold, areas) for p, c in zip(ps, cious)}


def evaluate_all(heatmaps, gt_maps) -> dict:
    """What the runner records: the `ezvsl` protocol under the plain keys, `fixed0.5` under '*_fixed0.5'."""
    res = evaluate_protocols(heatmaps, gt_maps, [DEFAULT, "fixed0.5"])
    out = res[DEFAULT]
    for k in ("ciou", "auc", "ciou_mean", "ciou_per_sample"):
        out[f"{k}_fixed0.5"] = res["fixed0.5"][k]
    return out


def _box_to_pixels(box, size, box_scale):
    """(x0,y0,x1,y1) in a box_scale frame -> int pixel bounds in a size frame, as the reference (Flickr
    int(224 * int(v) / 256), VGG-SS int(clip(v, 0, 1) * 224)); clipped to [0, box_scale] first (the reference's
    Flickr path truncates out-of-range ends by slicing instead)."""
    if len(box) != 4:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box!r}")
    scale = size if box_scale is None else box_scale
    out = []
    for v in box:
        v = min(max(float(v), 0.0), float(scale))
        out.append(int(v) if box_scale is None else int(size * v / scale))
    return out


def _box_sum(boxes, size, box_scale):
    m = torch.zeros(size, size, dtype=torch.float64)
    for box in boxes:
        x0, y0, x1, y1 = _box_to_pixels(box, size, box_scale)
        m[y0:y1, x0:x1] += 1  # exclusive end, rows = y, as temp[ymin:ymax, xmin:xmax] = 1
    return m


def consensus_gt_map(annotations, size: int, box_scale: float | None = None) -> torch.Tensor:
    """Flickr-SoundNet consensus map (size, size) float32 in {0, .5, 1}: as the reference, every box of every
    annotator (or of a flat list) adds its own indicator map, then /2 and clip at 1. Flickr XML: box_scale=256."""
    boxes = [b for a in annotations for b in ([a] if _is_box(a) else a)]
    return (_box_sum(boxes, size, box_scale) / 2).clamp(max=1).float()


def union_gt_map(boxes, size: int, box_scale: float | None = None) -> torch.Tensor:
    """VGG-SS map (size, size) float32: binary union of boxes (box_scale=1.0 for normalised boxes). LVS and the
    later stoneMo repos use the union; EZ-VSL's dataset code applies the Flickr /2 rule to VGG-SS."""
    return (_box_sum(boxes, size, box_scale) > 0).float()


def _is_box(a):
    return len(a) == 4 and all(isinstance(v, numbers.Real) for v in a)
