"""claims.md: does each claim the paper makes hold in our runs? A paired test across seeds.

For a claim "A beats B on evaluation E": per-seed differences d_s = A_s − B_s (same seed,
same data), mean ± std, a one-sided paired t-test and the effect size d_z = mean(d)/std(d).
Verdict: "supported" when the mean difference favours the claim with p < 0.05; "contradicted"
when it favours the other side with p < 0.05; "not resolved" otherwise. Nothing is decided
in advance: the table only reports what was measured.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from scipy import stats

from benchmark.io import write_text_atomic

ALPHA = 0.05


def paired(long: pd.DataFrame, evaluation: str, a: str, b: str, metric: str = "ciou") -> dict:
    """Paired comparison of the primary maps of labels a and b across the seeds both have."""
    sub = long[(long.evaluation == evaluation) & (long.metric == metric) & long.primary]
    wide = sub.pivot_table(index="seed", columns="label", values="value")
    if a not in wide or b not in wide:
        return {"n": 0}
    d = (wide[a] - wide[b]).dropna()
    n = len(d)
    out = {"n": n, "mean": float(d.mean()) if n else float("nan"), "std": float(d.std(ddof=1)) if n > 1 else float("nan")}
    if n > 1 and out["std"] > 0:
        t = out["mean"] / (out["std"] / math.sqrt(n))
        out.update(t=t, p_greater=float(stats.t.sf(t, n - 1)), p_less=float(stats.t.cdf(t, n - 1)),
                   d_z=out["mean"] / out["std"])
    return out


def verdict(res: dict) -> str:
    if res.get("n", 0) < 2:
        return "not resolved (fewer than 2 paired seeds)"
    if "t" not in res:
        return "not resolved (no variance across seeds)"
    if res["p_greater"] < ALPHA:
        return "supported"
    if res["p_less"] < ALPHA:
        return "contradicted"
    return "not resolved"


def claims_table(long: pd.DataFrame, claims: list[dict]) -> pd.DataFrame:
    rows = []
    for c in claims:
        res = paired(long, c["evaluation"], c["a"], c["b"], c.get("metric", "ciou"))
        fmt = (lambda x: f"{x:.2f}") if res.get("n", 0) else (lambda x: "—")
        rows.append({
            "Claim": c.get("text", f"{c['a']} > {c['b']}"),
            "Evaluation": c["evaluation"],
            "Ours: mean Δ ± std (n)": (f"{res['mean']:+.2f} ± {res['std']:.2f} ({res['n']})" if res.get("n", 0) > 1
                                       else "—"),
            "t": fmt(res["t"]) if "t" in res else "—",
            "p (one-sided)": f"{res['p_greater']:.3f}" if "t" in res else "—",
            "d_z": fmt(res["d_z"]) if "t" in res else "—",
            "Verdict": verdict(res),
        })
    return pd.DataFrame(rows)


def write_claims(path: Path, suite_name: str, long: pd.DataFrame, claims: list[dict], synthetic: bool) -> Path:
    lines = [f"# Claims check: {suite_name}", "",
             "Each row is a claim of the XPL paper, tested on our runs with a one-sided paired t-test across seeds "
             f"(α = {ALPHA}); Δ = first − second method, in CIoU points unless stated; d_z = mean(Δ)/std(Δ). "
             "With 3 seeds only large, consistent effects can be supported.", ""]
    if synthetic:
        lines += ["> Synthetic data and light backbones: a claim that does not hold here says nothing about the "
                  "paper's real-data result, only about this setting.", ""]
    lines += [claims_table(long, claims).to_markdown(index=False), ""]
    write_text_atomic(path, "\n".join(lines))
    return path
