"""Speed of benchmark.metrics against the per-sample reference loop (issue 6).

    python -m benchmark.perf_metrics [n]

builds n random 7x7 heatmaps and a realistic mix of 224x224 GT maps (Flickr
consensus maps from random boxes of 1-3 annotators, VGG-SS union maps), times
the reference loop once (it is slow) and the fast path (best of a few repeats),
checks that the per-sample cIoU of both thresholds are identical (exact
equality) and prints {n, reference_s, fast_s, speedup, identical, ...}.

reference_s is one reference call (the median rule), so `speedup` compares
evaluate_all, which also computes the fixed-0.5 variant, with half of the
reference work it replaces; reference_fixed_s (the second reference call) and
speedup_vs_both_reference_calls give the like-for-like figure. Times are
measured in this process with the current torch thread setting (the reference
is a per-sample loop: measure with torch.set_num_threads(1) to compare cores
fairly); the reference includes its float64 copy of the GT batch (about 2 GB
at n=5000). The fast path's one-time per-shape probe (~20 ms) is not timed.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

from benchmark import metrics
from benchmark.metrics_reference import evaluate_reference

SIZE = 224


def _random_boxes(rng, k):
    """k boxes (x0, y0, x1, y1) in pixels of a SIZE frame, at least 8 px wide and high."""
    lo = rng.uniform(0, SIZE - 8, (k, 2))
    hi = lo + rng.uniform(8, SIZE, (k, 2))
    return [(a[0], a[1], min(b[0], SIZE), min(b[1], SIZE)) for a, b in zip(lo, hi)]


def make_batch(n: int, seed: int = 0):
    """(heatmaps (n,7,7) float32, gt (n,224,224) float32): half consensus, half union maps."""
    rng = np.random.default_rng(seed)
    heatmaps = torch.from_numpy(rng.standard_normal((n, 7, 7)).astype(np.float32))
    gt = torch.empty(n, SIZE, SIZE)
    for i in range(n):
        if i % 2:  # Flickr-style: 1-3 annotators with 1-2 boxes each, consensus rule
            anns = [_random_boxes(rng, int(rng.integers(1, 3))) for _ in range(int(rng.integers(1, 4)))]
            gt[i] = metrics.consensus_gt_map(anns, SIZE)
        else:  # VGG-SS-style: union of 1-3 boxes
            gt[i] = metrics.union_gt_map(_random_boxes(rng, int(rng.integers(1, 4))), SIZE)
    return heatmaps, gt


def _best_of(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def metrics_speed(n: int = 5000, seed: int = 0, repeats: int = 3) -> list[dict]:
    """Like for like: `evaluate` (median threshold, the headline cIoU) against the reference's median
    call, and `evaluate_all` (median and fixed 0.5) against the reference's two calls. The fast code is
    timed best of `repeats`, the reference once (it is slow)."""
    heatmaps, gt = make_batch(n, seed)
    metrics.evaluate_all(heatmaps[:4], gt[:4])  # one-time shape probe, not timed
    median, median_s = _best_of(lambda: metrics.evaluate(heatmaps, gt), repeats)
    both, both_s = _best_of(lambda: metrics.evaluate_all(heatmaps, gt), repeats)
    hm_np, gt_np = heatmaps.numpy(), gt.numpy()
    t = time.perf_counter()
    ref_med = evaluate_reference(hm_np, gt_np)
    reference_s = time.perf_counter() - t
    t = time.perf_counter()
    ref_fixed = evaluate_reference(hm_np, gt_np, threshold=0.5)
    reference_fixed_s = time.perf_counter() - t

    def same(ours, ref, suffix=""):
        return (torch.equal(ours["ciou_per_sample" + suffix], ref["ciou_per_sample"])
                and (ours["ciou" + suffix], ours["auc" + suffix]) == (ref["ciou"], ref["auc"]))

    identical = same(median, ref_med) and same(both, ref_med) and same(both, ref_fixed, "_fixed0.5")
    assert identical, "fast metrics differ from the reference"
    return [{"maps": n, "computed": "cIoU at the median threshold (`evaluate`)", "reference s": reference_s,
             "fast s": median_s, "speed-up": reference_s / median_s, "identical": identical},
            {"maps": n, "computed": "median and fixed 0.5 (`evaluate_all`, as the harness runs)",
             "reference s": reference_s + reference_fixed_s, "fast s": both_s,
             "speed-up": (reference_s + reference_fixed_s) / both_s, "identical": identical}]


if __name__ == "__main__":
    import pandas as pd

    print(pd.DataFrame(metrics_speed(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
          .to_markdown(index=False, floatfmt=".3f"))
