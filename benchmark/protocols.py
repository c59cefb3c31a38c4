"""Named evaluation protocols: how a heatmap becomes a binary prediction (docs/protocol.md §2): the upsampling to
the GT size, the threshold rule and its comparison; the rest is shared (benchmark/metrics.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    upsample: str          # F.interpolate mode: "bilinear" or "bicubic"
    align_corners: bool
    rule: str              # "rank": sorted(flat)[int(H*W*value)]; "fixed": value; "gt_area": top-N, N = GT area
    value: float = 0.5
    strict: bool = False   # select `> thr` instead of `>= thr`
    source: str = ""

    @property
    def threshold(self):
        """What the runner's `threshold` key has always said: "median", a number, or "gt_area"."""
        if self.rule == "rank":
            return "median" if self.value == 0.5 else f"rank{self.value:g}"
        return float(self.value) if self.rule == "fixed" else "gt_area"


DEFAULT = "ezvsl"

PROTOCOLS = {p.name: p for p in (
    Protocol("ezvsl", "bilinear", True, "rank", 0.5, False,
             "EZ-VSL test.py (the harness's headline): median, ties selected"),
    Protocol("ssltie", "bilinear", False, "rank", 0.5, True,
             "LVS test.py and SSL-TIE main.py: cv2.resize INTER_LINEAR (half-pixel centres, as "
             "align_corners=False), strictly above the median value"),
    Protocol("fixed0.5", "bilinear", True, "fixed", 0.5, False,
             "absolute 0.5 on the min-max normalised map (the harness's secondary table)"),
    Protocol("slavc", "bicubic", True, "rank", 0.5, False,
             "SLAVC test.py --relative_prediction: bicubic (align_corners=True), top 50 %"),
    Protocol("ezvsl_val", "bicubic", False, "rank", 0.5, False,
             "EZ-VSL train.py validation: bicubic (align_corners=False), median"),
    Protocol("gt_area", "bilinear", True, "gt_area", 0.0, True,
             "Senocak et al. (ICCV 2023) adaptive cIoU: strictly above sorted(flat)[H*W - N], "
             "N = #(gt != 0), N = H*W // 2 for an empty GT"),
)}

# GT-area buckets, as fractions of the image area: SLAVC's evaluator uses 32^2 and 96^2 pixels
# (COCO's small / medium limits) at 224 px; its 'huge' (>= 144^2) bucket is part of 'large' here.
AREA_BUCKETS = (("small", 0.0, (32 / 224) ** 2), ("medium", (32 / 224) ** 2, (96 / 224) ** 2),
                ("large", (96 / 224) ** 2, float("inf")))


def get_protocol(name) -> Protocol:
    if isinstance(name, Protocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def fixed_protocol(t: float) -> Protocol:
    """An absolute threshold t on the normalised map (the `evaluate(threshold=t)` form)."""
    return PROTOCOLS["fixed0.5"] if t == 0.5 else Protocol(f"fixed{t:g}", "bilinear", True, "fixed", float(t))
