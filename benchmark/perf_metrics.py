"""Speed of benchmark.metrics' vectorised path against the per-sample reference loop.

    python -m benchmark.perf_metrics [n]

builds n random 7x7 heatmaps and a realistic mix of 224x224 GT maps (Flickr
consensus maps from random boxes of 1-3 annotators, VGG-SS union maps) and, for
each protocol (benchmark/protocols.py), times `evaluate(protocol=...)` (best of a
few repeats) and the reference loop (once: it is slow), checks that the per-sample
cIoU are identical (exact equality) and prints a row per protocol, then
`evaluate_all` (ezvsl + fixed0.5, what the runner computes) against the two
reference calls, and `evaluate_protocols` (every protocol, one pass) against all
the reference calls. Times are measured in this process with the current torch
thread setting (the reference is a per-sample loop: use torch.set_num_threads(1)
/ OMP_NUM_THREADS=1 to compare cores fairly); the reference includes its float64
copy of the GT batch.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import torch

from benchmark import metrics
from benchmark.metrics_reference import evaluate_reference
from benchmark.protocols import DEFAULT, PROTOCOLS

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
    """A row per protocol, then the runner's pair and every protocol at once; each checked identical."""
    heatmaps, gt = make_batch(n, seed)
    hm_np, gt_np = heatmaps.numpy(), gt.numpy()
    rows, reference = [], {}
    for name in PROTOCOLS:
        ours, ours_s = _best_of(lambda: metrics.evaluate(heatmaps, gt, protocol=name), repeats)
        t = time.perf_counter()
        ref = evaluate_reference(hm_np, gt_np, protocol=name)
        reference[name] = (ref, time.perf_counter() - t)
        identical = torch.equal(ours["ciou_per_sample"], ref["ciou_per_sample"]) and \
            (ours["ciou"], ours["auc"]) == (ref["ciou"], ref["auc"])
        assert identical, f"protocol {name}: vectorised metrics differ from the reference"
        rows.append({"maps": n, "computed": f"protocol {name} (`evaluate`)", "reference s": reference[name][1],
                     "vectorised s": ours_s, "speed-up": reference[name][1] / ours_s, "identical": identical})
    both, both_s = _best_of(lambda: metrics.evaluate_all(heatmaps, gt), repeats)
    every, every_s = _best_of(lambda: metrics.evaluate_protocols(heatmaps, gt), repeats)
    identical = torch.equal(both["ciou_per_sample"], reference[DEFAULT][0]["ciou_per_sample"]) and \
        torch.equal(both["ciou_per_sample_fixed0.5"], reference["fixed0.5"][0]["ciou_per_sample"]) and \
        all(torch.equal(every[k]["ciou_per_sample"], reference[k][0]["ciou_per_sample"]) for k in PROTOCOLS)
    assert identical, "vectorised metrics differ from the reference"
    pair_s = reference[DEFAULT][1] + reference["fixed0.5"][1]
    all_s = sum(s for _, s in reference.values())
    rows += [{"maps": n, "computed": "ezvsl and fixed0.5 (`evaluate_all`, as the runner)", "reference s": pair_s,
              "vectorised s": both_s, "speed-up": pair_s / both_s, "identical": identical},
             {"maps": n, "computed": "every protocol (`evaluate_protocols`, as `score --protocol all`)",
              "reference s": all_s, "vectorised s": every_s, "speed-up": all_s / every_s, "identical": identical}]
    return rows


if __name__ == "__main__":
    print(pd.DataFrame(metrics_speed(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
          .to_markdown(index=False, floatfmt=".3f"))
