"""claims.md: does each claim the paper makes hold in our runs? A paired test across seeds.

For a claim "A beats B on evaluation E": per-seed differences d_s = A_s − B_s (same seed,
same data), mean ± std, a one-sided paired t-test and the effect size d_z = mean(d)/std(d).
Two refinements, both still one number per seed:
- `relative_to: R` compares changes, not levels: d_s = (A_E − A_R) − (B_E − B_R), e.g. "a smaller
  cross-dataset drop" (E = cross, R = the in-domain evaluation);
- a metric where lower is better (LOWER_IS_BETTER) flips the sign, so d_s > 0 always favours A.
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
LOWER_IS_BETTER = {"val_fluctuation"}
METRIC_NOTES = {"val_fluctuation": "val_fluctuation = RMS deviation of validation CIoU from its least-squares line "
                                   "over the second half of training (CIoU points; lower = more stable; a steady "
                                   "rise scores near 0)"}


def _per_seed(long: pd.DataFrame, evaluation: str, metric: str) -> pd.DataFrame:
    sub = long[(long.evaluation == evaluation) & (long.metric == metric) & long.primary]
    return sub.pivot_table(index="seed", columns="label", values="value")


def paired(long: pd.DataFrame, evaluation: str, a: str, b: str, metric: str = "ciou",
           relative_to: str | None = None) -> dict:
    """Paired comparison of the primary maps of labels a and b across the seeds both have."""
    wide = _per_seed(long, evaluation, metric)
    if relative_to is not None:  # change from the reference evaluation, per seed
        wide = wide - _per_seed(long, relative_to, metric)
    if a not in wide or b not in wide:
        return {"n": 0}
    d = (wide[a] - wide[b]).dropna()
    if metric in LOWER_IS_BETTER:
        d = -d
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
        metric = c.get("metric", "ciou")
        res = paired(long, c["evaluation"], c["a"], c["b"], metric, c.get("relative_to"))
        fmt = (lambda x: f"{x:.2f}") if res.get("n", 0) else (lambda x: "—")
        on = c["evaluation"] + (f" − {c['relative_to']}" if c.get("relative_to") else "")
        rows.append({
            "Claim": c.get("text", f"{c['a']} > {c['b']}"),
            "Evaluation": on if metric == "ciou" else f"{on} ({metric})",
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
    notes = ["- Evaluation `E − R`: the claim compares each method's change from R to E (e.g. the cross-dataset "
             "drop), per seed: Δ = (A_E − A_R) − (B_E − B_R)."] if any(c.get("relative_to") for c in claims) else []
    notes += [f"- {METRIC_NOTES[m]}; Δ is signed so that a positive value favours the first method."
              for m in sorted({c.get("metric", "ciou") for c in claims} & set(METRIC_NOTES))]
    lines += notes + ([""] if notes else [])
    lines += [claims_table(long, claims).to_markdown(index=False), ""]
    write_text_atomic(path, "\n".join(lines))
    return path
