"""claims.md: does each claim the paper makes hold in our runs? A paired test across seeds.

Per-seed differences (or differences of changes, `relative_to`; sign flipped where lower is better), two-sided
t-tests Holm-corrected within the suite, a verdict and the smallest detectable effect (docs/protocol.md §4).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

import methods
from benchmark.io import write_text_atomic
from benchmark.suites import Claim, Suite, stand_in

ALPHA = 0.05
POWER = 0.8
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
    out = {"n": n, "seeds": [int(s) for s in d.index], "mean": float(d.mean()) if n else float("nan"),
           "std": float(d.std(ddof=1)) if n > 1 else float("nan")}
    if n > 1 and out["std"] > 0:
        se = out["std"] / math.sqrt(n)
        t = out["mean"] / se
        half = stats.t.ppf(1 - ALPHA / 2, n - 1) * se
        out.update(t=t, p_two_sided=float(2 * stats.t.sf(abs(t), n - 1)), d_z=out["mean"] / out["std"],
                   ci=(out["mean"] - half, out["mean"] + half))
    return out


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN entries are left out of the family and stay NaN)."""
    idx = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m, out, running = len(idx), [float("nan")] * len(p_values), 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def verdict(res: dict, p_adjusted: float | None = None) -> str:
    if res.get("n", 0) < 2:
        return "not resolved (fewer than 2 paired seeds)"
    if "t" not in res:
        return "not resolved (no variance across seeds)"
    p = res["p_two_sided"] if p_adjusted is None else p_adjusted
    if p < ALPHA:
        return "supported" if res["mean"] > 0 else "contradicted"
    return "not resolved"


def min_detectable_dz(n: int, alpha: float, power: float = POWER) -> float:
    """Smallest standardised paired effect d_z that a two-sided paired t-test on n seeds detects with `power`."""
    df, crit = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)

    def shortfall(dz: float) -> float:
        nc = dz * math.sqrt(n)
        # scipy's noncentral t gives NaN far in its tails: there the wrong-side term is ~0 and the other ~1
        upper, lower = stats.nct.sf(crit, df, nc), stats.nct.cdf(-crit, df, nc)
        upper = (1.0 if nc > crit else 0.0) if math.isnan(upper) else upper
        return upper + (0.0 if math.isnan(lower) else lower) - power

    hi = 10.0
    while shortfall(hi) < 0:  # few seeds and a strict α need very large effects
        hi *= 10
        if hi > 1e6:
            return float("inf")
    return float(optimize.brentq(shortfall, 1e-6, hi))


def claims_table(long: pd.DataFrame, claims: list[Claim], collapsed: dict | None = None,
                 rising: dict | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """One row per claim. `collapsed` ({(label, evaluation): seeds of runs below the centre floor}, None if
    unchecked) and `rising` ({evaluation: labels still rising when the budget ended on its training domain}, None
    if unchecked) add a column each: a verdict that involves either is about the setup, not the methods
    (docs/protocol.md §5). Collapsed runs are counted among the claim's paired seeds, and a resolved verdict whose
    losing side has such runs says so in the verdict itself."""
    results = [paired(long, c.evaluation, c.a, c.b, c.metric, c.relative_to) for c in claims]
    adjusted = holm([r.get("p_two_sided", float("nan")) for r in results])
    rows = []
    for c, res, p_adj in zip(claims, results, adjusted):
        metric = c.metric
        tested = "t" in res
        on = c.evaluation + (f" − {c.relative_to}" if c.relative_to else "")
        rows.append({
            "Claim": c.text,
            "Evaluation": on if metric == "ciou" else f"{on} ({metric})",
            "Ours: mean Δ [95 % CI] (n)": (f"{res['mean']:+.2f} [{res['ci'][0]:+.2f}, {res['ci'][1]:+.2f}] ({res['n']})"
                                           if tested else f"{res['mean']:+.2f} ({res['n']})" if res.get("n") else "—"),
            "d_z": f"{res['d_z']:.2f}" if tested else "—",
            "p (raw)": f"{res['p_two_sided']:.4f}" if tested else "—",
            "p (Holm)": f"{p_adj:.4f}" if tested else "—",
            "Verdict": verdict(res, p_adj if tested else None),
        })
        evals = [c.evaluation] + ([c.relative_to] if c.relative_to else [])
        if collapsed is not None:
            seeds = set(res.get("seeds", ()))
            low = {(lab, ev): len(seeds & collapsed.get((lab, ev), set())) for lab in (c.a, c.b) for ev in evals}
            bad = [f"{lab} on {ev}: {k} of {res['n']}" for (lab, ev), k in low.items() if k]
            rows[-1]["Runs below the centre floor"] = "; ".join(bad) if bad else "none"
            loser = {"supported": c.b, "contradicted": c.a}.get(rows[-1]["Verdict"])
            if loser is not None and any(k for (lab, _), k in low.items() if lab == loser):
                rows[-1]["Verdict"] += " (against runs below the centre floor: about the setup)"
        if rising is not None:
            late = [f"{lab} on {ev}" for ev in evals for lab in (c.a, c.b) if lab in rising.get(ev, ())]
            rows[-1]["Still rising"] = "; ".join(late) if late else "none"
    return pd.DataFrame(rows), results


def power_note(results: list[dict], n_claims: int) -> str:
    """One line: the smallest effect the suite's seed count could resolve (80 % power, Holm's first and last step)."""
    ns = [r["n"] for r in results if r.get("n", 0) > 1]
    if not ns:
        return "No claim has two paired seeds: nothing can be resolved."
    n = min(ns)
    strict, loose = min_detectable_dz(n, ALPHA / max(n_claims, 1)), min_detectable_dz(n, ALPHA)
    spreads = [r["std"] for r in results if "t" in r]
    line = (f"Smallest effect this suite could resolve: with n = {n} paired seeds and {n_claims} claims (Holm), a "
            f"difference is detected with {POWER:.0%} power only if d_z ≥ {strict:.2f} (the smallest p, tested at "
            f"α/{n_claims}) to d_z ≥ {loose:.2f} (the largest, at α)")
    if spreads:
        s = float(np.median(spreads))
        line += (f"; at the median seed-to-seed spread of the differences here (std {s:.2f}) that is "
                 f"{strict * s:.1f} to {loose * s:.1f} points")
    return line + "."


def trained_labels(suite: Suite) -> set[str]:
    return {e.label for e in suite.methods if methods.get_method(e.name).trainable}


def below_floor(long: pd.DataFrame, trained: set[str]) -> tuple[dict, pd.DataFrame]:
    """({evaluation: centre floor CIoU}, the primary CIoU rows of trained labels below their evaluation's floor)."""
    ciou = long[(long.metric == "ciou") & long.primary]
    floor_of = {ev: float(v) for ev, v in ciou[ciou.label == "center"].groupby("evaluation")["value"].mean().items()}
    low = ciou[ciou.label.isin(trained) & ciou.evaluation.isin(list(floor_of))]
    # a boolean array, not a list: an empty list would select no *columns* when no trained run has finished
    return floor_of, low[low.value.to_numpy() < low.evaluation.map(floor_of).to_numpy(dtype=float)]


def write_claims(path: Path, suite: Suite, long: pd.DataFrame, banner: list[str] = (),
                 rising: set | None = None) -> Path:
    """claims.md: the suite's claims tested on the long frame (benchmark/suite_results.py); `banner` flags a
    partial suite; `rising`: the (training domain, label) pairs still rising when the budget ended
    (leaderboard.still_rising), None if unchecked."""
    claims = suite.claims
    floor_of, low = below_floor(long, trained_labels(suite))
    collapsed = {key: set(g.seed) for key, g in low.groupby(["label", "evaluation"])} if floor_of else None
    late = None if rising is None else {ev.name: {lab for train, lab in rising if train == ev.train}
                                        for ev in suite.evaluations}
    table, results = claims_table(long, claims, collapsed, late)
    lines = [f"# Claims check: {suite.name}", "",
             f"Each row is a claim of the paper the suite file cites (`benchmark/suites/{suite.name}.yaml`), tested "
             "on our runs with a two-sided paired t-test across seeds; "
             f"the suite's {len(claims)} claims are one family, Holm-corrected (α = {ALPHA}). Δ = first − second "
             "method, in CIoU points unless stated, with the 95 % confidence interval of its mean; "
             "d_z = mean(Δ)/std(Δ). A claim is *supported* or *contradicted* only if its Holm-corrected p < α.", "",
             power_note(results, len(claims)), ""] + list(banner)
    if stand_in(suite):
        lines += ["> Synthetic data and light backbones: a claim that does not hold here says nothing about the "
                  "paper's real-data result, only about this setting.", ""]
    notes = ["- Evaluation `E − R`: the claim compares each method's change from R to E (e.g. the cross-dataset "
             "drop), per seed: Δ = (A_E − A_R) − (B_E − B_R)."] if any(c.relative_to for c in claims) else []
    notes += [f"- {METRIC_NOTES[m]}; Δ is signed so that a positive value favours the first method."
              for m in sorted({c.metric for c in claims} & set(METRIC_NOTES))]
    if collapsed is None:
        notes.append("- Collapsed runs are not checked here: the suite has no `center` floor.")
    elif any(v for v in collapsed.values()):
        notes.append("- *Runs below the centre floor*: a method whose runs fall below the fixed centred-Gaussian map did "
                     "not learn to localize there; a verdict against it says that, not that one method is better.")
    if late and any(late.values()):
        notes.append("- *Still rising*: a method whose validation CIoU was still rising with 95 % confidence when the "
                     "shared budget ended (the leaderboard's checks); a verdict against it may be about the budget.")
    lines += notes + ([""] if notes else [])
    lines += [table.to_markdown(index=False, disable_numparse=True), ""]
    write_text_atomic(path, "\n".join(lines))
    return path
