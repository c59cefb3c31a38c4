"""Leaderboard: the long frame of a suite's finished runs -> mean ± 95 % CI (n) tables in markdown.

`write_leaderboard` writes the tables, the training report and the checks, and has the claims, the CSV and the
figures written beside them (docs/design.md §6, docs/protocol.md §4-§5).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import methods
from benchmark import figures, metadata
from benchmark.claims import below_floor, paired, trained_labels, write_claims
from benchmark.io import write_text_atomic
from benchmark.data.adapters import adapter_for
from benchmark.data.label_lists import budget_sizes
from benchmark.suite_results import (FALSE_ALARM, METRICS, NEGATIVE, SECONDARY, SEPARATION, FinishedRun, collect,
                                     load_runs, write_csv)
from benchmark.suites import Evaluation, Suite, budget_free, suite_adapters, stand_in

HEART = "xpl"  # the method the harness is built around: label-budget tables compare it with each other method
SHOWN = {"ciou": "CIoU", "auc": "AUC", "ciou_fixed0.5": "CIoU@0.5", "auc_fixed0.5": "AUC@0.5",
         "neg_ap": "AP", "neg_max_f1": "max-F1", "neg_precision": "Precision@0.5", "neg_localised": "Localised"}


def shown(metric: str) -> str:
    if metric.startswith(SEPARATION):
        return f"Separation {metric[len(SEPARATION):]}"
    return SHOWN.get(metric) or f"False alarm {metric[len(FALSE_ALARM):]}"


def lower_is_better(metric: str) -> bool:
    return metric.startswith(FALSE_ALARM)


def ci_half_width(std: float, n: int) -> float:
    """Half-width of the 95 % confidence interval of a mean of n values with sample std `std`."""
    if n < 2 or pd.isna(std):
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * std / n ** 0.5)


def aggregate(long: pd.DataFrame) -> pd.DataFrame:
    keys = ["evaluation", "label", "method", "variant", "primary", "metric"]
    agg = long.groupby(keys, sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    agg["ci"] = [ci_half_width(s, n) for s, n in zip(agg["std"], agg["count"])]
    return agg


def _fmt(mean, ci, n) -> str:
    if pd.isna(mean):
        return "—"
    spread = f" ± {ci:.2f}" if n > 1 and not pd.isna(ci) else ""
    return f"{mean:.2f}{spread} ({int(n)})"


def markdown_table(rows: list[dict]) -> str:
    """Rows of cells already formatted as text. tabulate would parse number-like text again: a column of Δ cells
    would lose its signs ('+0.00' printed as 0) once no cell in it is '—'."""
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def _row_name(label: str, method: str, variant: str, primary: bool, control: bool = False) -> str:
    name = label if primary else f"{label} [{variant}]"
    cls = methods.get_method(method)
    return f"{name} *(reference)*" if cls.reference_only else f"{name} *(control)*" if control else name


def evaluation_table(suite: Suite, agg: pd.DataFrame, ev: Evaluation, metrics=METRICS, with_paper=True) -> str:
    sub = agg[agg.evaluation == ev.name]
    paper = suite.paper.get("methods", {})
    lines, means = [], {}
    order = [(e.label, e.name, e.control) for e in suite.methods]
    for label, method, control in order:
        cls = methods.get_method(method)
        variants = list(dict.fromkeys(sub[sub.label == label]["variant"])) or ["main"]
        if control:  # a control answers one question with its headline map; its other maps add rows, not answers
            variants = list(dict.fromkeys(sub[(sub.label == label) & sub.primary]["variant"])) or variants[:1]
        for variant in variants:
            cells = sub[(sub.label == label) & (sub.variant == variant)]
            primary = bool(cells["primary"].iloc[0]) if len(cells) else True
            row = {"Method": _row_name(label, method, variant, primary, control)}
            for metric in metrics:
                c = cells[cells.metric == metric]
                mean, ci, n = (c["mean"].iloc[0], c["ci"].iloc[0], c["count"].iloc[0]) if len(c) else (float("nan"),) * 3
                if with_paper:
                    p = paper.get(label if primary else "", {}).get(ev.name, {}).get(metric)
                    row[f"Paper {shown(metric)}"] = f"{p:.2f}" if p is not None else "—"
                row[f"Ours {shown(metric)}"] = _fmt(mean, ci, n)
                if primary and not cls.reference_only and not control and not pd.isna(mean):
                    means.setdefault(metric, []).append((mean, len(lines)))
            if metrics == METRICS:
                c = cells[cells.metric == "ciou_shuffled"]
                row["CIoU, audio shuffled"] = _fmt(*c[["mean", "ci", "count"]].iloc[0]) if len(c) else "—"
            if ev.in_domain:
                ind = agg[(agg.evaluation == ev.in_domain) & (agg.label == label) & (agg.variant == variant)
                          & (agg.metric == "ciou")]
                c = sub[(sub.label == label) & (sub.variant == variant) & (sub.metric == "ciou")]
                row["Δ CIoU vs in-domain"] = (f"{c['mean'].iloc[0] - ind['mean'].iloc[0]:+.2f}"
                                              if len(ind) and len(c) else "—")
            lines.append(row)
    for metric, vals in means.items():  # bold the best competitor mean
        best = (min if lower_is_better(metric) else max)(v for v, _ in vals)
        for v, i in vals:
            if v == best:
                key = f"Ours {shown(metric)}"
                lines[i][key] = f"**{lines[i][key]}**"
    return markdown_table(lines)


def budget_groups(suite: Suite) -> dict[str, list[Evaluation]]:
    """A label-budget suite's evaluations by the evaluation they expand (its name before `@`), in budget order;
    {} for any other suite."""
    groups: dict[str, list[Evaluation]] = {}
    for ev in suite.evaluations:
        if ev.budget:
            groups.setdefault(ev.name.partition("@")[0], []).append(ev)
    return groups


def labels_of(suite: Suite, ev: Evaluation) -> int | None:
    """Number of labeled samples at an evaluation's budget (its lists' made.json)."""
    base = ev.train.partition("@")[0]
    return budget_sizes(adapter_for(suite.data, base).labels_dir(suite.data, suite.profile, base)).get(ev.budget)


def _cell(agg: pd.DataFrame, ev: str, label: str, metric: str) -> tuple:
    c = agg[(agg.evaluation == ev) & (agg.label == label) & agg.primary & (agg.metric == metric)]
    return tuple(c[["mean", "ci", "count"]].iloc[0]) if len(c) else (float("nan"),) * 3


def budget_table(suite: Suite, agg: pd.DataFrame, evs: list[Evaluation], metric: str = "ciou") -> str:
    """Rows = methods (primary maps), columns = the label budgets of one domain, mean ± 95 % CI (n). The oracle
    and floors, trained once whatever the budget, fill one column of their own."""
    lines, best = [], {}
    for e in suite.methods:
        cls, free = methods.get_method(e.name), budget_free(e.name)
        row = {"Method": _row_name(e.label, e.name, "", True, e.control)}
        for ev in evs:
            mean, ci, n = _cell(agg, ev.name, e.label, metric)
            key = f"{ev.budget} ({labels_of(suite, ev) or '?'} labels)"
            row[key] = "—" if free else _fmt(mean, ci, n)
            if not (free or cls.reference_only or e.control or pd.isna(mean)):
                best.setdefault(key, []).append((mean, len(lines)))
        row["Budget-free (oracle: all labels; floors: none)"] = _fmt(*_cell(agg, evs[0].name, e.label, metric)) \
            if free else "—"
        lines.append(row)
    for key, vals in best.items():  # bold the best competitor mean per budget
        for v, i in vals:
            if v == max(m for m, _ in vals):
                lines[i][key] = f"**{lines[i][key]}**"
    return markdown_table(lines)


def _competitors(suite: Suite) -> list:
    """The suite's entries that compete at a budget: no floor, no oracle, no budget-free row."""
    return [e for e in suite.methods
            if not (budget_free(e.name) or methods.get_method(e.name).reference_only)]


def _paired_cells(suite: Suite, long: pd.DataFrame, evs: list[Evaluation], a: str, b: str) -> dict:
    """Test CIoU of label a minus label b per budget, paired within seed: mean ± 95 % CI (n seeds both have)."""
    cells = {}
    for ev in evs:
        res = paired(long, ev.name, a, b)
        half = (res["ci"][1] - res["ci"][0]) / 2 if "ci" in res else float("nan")
        sign = "+" if res["n"] and res["mean"] > 0 else ""
        cells[f"{ev.budget} ({labels_of(suite, ev) or '?'} labels)"] = \
            sign + _fmt(res["mean"], half, res["n"]) if res["n"] else "—"
    return cells


def budget_gain_table(suite: Suite, long: pd.DataFrame, evs: list[Evaluation], reference: str) -> str:
    """Each competitor minus `reference` at each budget, paired within seed (a seed's labeled list is the same
    for every method), mean ± 95 % CI (n seeds both have): what the unlabeled pool gives at that budget."""
    return markdown_table([{"Method": _row_name(e.label, e.name, "", True, e.control),
                            **_paired_cells(suite, long, evs, e.label, reference)}
                           for e in _competitors(suite) if e.label != reference])


def budget_versus_table(suite: Suite, long: pd.DataFrame, evs: list[Evaluation], subject: str,
                        skip: tuple[str, ...] = ()) -> str:
    """`subject` minus each other competitor (but those in `skip`) at each budget, paired within seed."""
    return markdown_table([{"Comparison": f"{subject} − {e.label}",
                            **_paired_cells(suite, long, evs, subject, e.label)}
                           for e in _competitors(suite) if e.label not in (subject, *skip)])


def _budget_sections(suite: Suite, agg: pd.DataFrame, results_dir: Path, metrics=METRICS,
                     long: pd.DataFrame | None = None) -> list[str]:
    out = []
    reference = next((e.label for e in suite.methods if e.name == "supervised" and not e.control), None)
    subject = next((e.label for e in suite.methods if e.name == HEART and not e.control), None)
    for name, evs in budget_groups(suite).items():
        title = next(e.title for e in suite.evaluations if e.name == evs[0].name).rpartition(", label budget")[0]
        for metric in metrics:
            out += [f"## {title}: {SHOWN[metric]} by label budget", "", budget_table(suite, agg, evs, metric), ""]
        if long is not None and reference:
            out += [f"### {title}: CIoU gain over {reference}, paired within seed", "",
                    f"Each method's test CIoU minus {reference}'s on the same seed, hence the same labeled list: "
                    "mean ± 95 % CI (Student t) over the seeds both have, (n). Descriptive, not a test of a claim.",
                    "", budget_gain_table(suite, long, evs, reference), ""]
        if long is not None and subject and reference:
            out += [f"### {title}: {subject} against each other method, paired within seed", "",
                    f"{subject}'s test CIoU minus the other method's on the same seed (its gain over {reference} "
                    "is in the table above): mean ± 95 % CI (Student t) over the seeds both have, (n). A dead "
                    "run (the collapse check) counts at its score. Descriptive, not a test of a claim.", "",
                    budget_versus_table(suite, long, evs, subject, skip=(reference,)), ""]
    if metrics == METRICS:
        sizes = {ev.name: labels_of(suite, ev) for evs in budget_groups(suite).values() for ev in evs}
        path = figures.label_budget_figure(suite, results_dir, agg, budget_groups(suite), sizes, long)
        out += [f"![CIoU vs labels](figures/{path.name})", ""] if path else []
    return out


def run_seconds(runs: list[dict]) -> float:
    """Sum of the finished runs' wall times (from run.json): the suite's cost even when resumed."""
    return sum(run.get("wall_seconds", 0.0) for run in runs)


def _tally(runs: list[dict], key) -> str:
    counts: dict[str, int] = {}
    for run in runs:
        counts[key(run)] = counts.get(key(run), 0) + 1
    return ", ".join(f"{k} ({n} runs)" for k, n in sorted(counts.items()))


def run_commits(runs: list[dict]) -> str:
    """The commits the runs were trained at (a table may be rewritten later, at another commit)."""
    def commit(run):
        git = run.get("git") or {}
        return (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    return _tally(runs, commit)


def run_torch_versions(runs: list[dict]) -> str:
    """The torch releases the runs were trained with: not part of a run's identity, yet runs repeat bit for bit
    only at the same release (docs/design.md §4), so a table says which it mixes."""
    return _tally(runs, lambda run: f"torch {(run.get('versions') or {}).get('torch', 'unknown')}")


def run_hardware(runs: list[dict]) -> str:
    """The CPU kinds (and GPUs) the runs were trained on: not part of a run's identity either, yet float kernels
    differ between them, so a run repeats bit for bit only on its own kind (docs/design.md §5)."""
    def kind(run: dict) -> str:
        hw = run.get("hardware") or {}
        return hw.get("cpu", "unknown CPU") + (f" + {hw['gpu']}" if "gpu" in hw else "")
    return _tally(runs, kind)


def missing_runs(suite: Suite, long: pd.DataFrame) -> list[str]:
    """`label seed k on evaluation` for every run the suite asks for that has not finished yet."""
    done = set(zip(long.label, long.seed, long.evaluation))
    return [f"{e.label} seed {s} on {ev.name}" for ev in suite.evaluations for e in suite.methods
            for s in suite.seeds if (e.label, s, ev.name) not in done]


def _incomplete_note(suite: Suite, long: pd.DataFrame) -> list[str]:
    missing = missing_runs(suite, long)
    if not missing:
        return []
    total = len(suite.evaluations) * len(suite.methods) * len(suite.seeds)
    shown = ", ".join(missing[:12]) + (f", … ({len(missing) - 12} more)" if len(missing) > 12 else "")
    return [f"> **Incomplete: {total - len(missing)} of {total} (run, evaluation) results have finished.** "
            f"Missing: {shown}. Cells average the seeds that have finished, and a claim pairs only the seeds "
            "both sides have: read no verdict from this table until the suite is complete "
            "(rerun the same command: finished runs are skipped).", ""]


def _weights_note(runs: list[FinishedRun]) -> list[str]:
    """Flag runs whose paper backbones were randomly initialised (no --weights): not the paper's setup."""
    missing: dict[str, int] = {}
    for finished in runs:
        if finished.metrics.get("pretrained", "n/a") in ("none", "partial"):
            label = finished.folder.parent.name
            missing[label] = missing.get(label, 0) + 1
    if not missing:
        return []
    runs = ", ".join(f"{k} ({v} runs)" for k, v in sorted(missing.items()))
    return [f"> **Without pretrained weights:** {runs} trained some backbones from random initialisation "
            "(no `--weights` file given), unlike the paper.", ""]


def _own_budgets(suite: Suite) -> str:
    """The methods that train on their paper's public budget instead of the shared one (Profile.method_budgets)."""
    own = [f"{name} {b.steps} steps at global batch {b.global_batch_size}"
           for name, b in suite.method_budgets.items() if any(e.name == name for e in suite.methods)]
    return f"; except, on their papers' public budgets (docs/protocol.md §3): {', '.join(own)}" if own else ""


def _lr_protocol(suite: Suite) -> str:
    grid = suite.lr_grid
    if not grid:
        return ""
    seeds = suite.tune_seeds
    at = f"at seed {seeds[0]}" if len(seeds) == 1 else f"by the mean over seeds {', '.join(map(str, seeds))}"
    return f"; learning rate per method and training domain chosen on validation from {list(grid)} {at} (table below)"


def val_slope(history: list[dict], steps: int, tail: float = 0.2) -> float | None:
    """Least-squares slope of validation CIoU over the last `tail` of the budget, in CIoU points per 1,000
    steps: near 0 when training has plateaued. None with fewer than 3 validations there."""
    late = [(h["step"], h["ciou"]) for h in history if h["step"] >= (1 - tail) * steps]
    if len(late) < 3:
        return None
    x, y = np.array(late, dtype=float).T
    return float(np.polyfit(x, y, 1)[0] * 1000)


def convergence(suite: Suite, runs: list[dict]) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """((training domain, method label), its trained runs' frame) in the suite's order (`runs`: their run.json):
    per run, the validation slope over the last 20 %, the best-on-val step, the final val CIoU and the rate."""
    rows = []
    for run in runs:
        if not run.get("val_history") or (run.get("config") or {}).get("budget") is None:
            continue  # floors: nothing was trained
        steps = run["config"]["budget"]["steps"]
        rows.append({"train": run["config"]["train"], "label": run["config"]["label"], "seed": run["seed"],
                     "slope": val_slope(run["val_history"], steps), "best": run.get("best_val_step"), "steps": steps,
                     "final": run["val_history"][-1]["ciou"], "lr": (run.get("lr_selection") or {}).get("chosen",
                     run["config"]["method_config"].get("lr"))})
    if not rows:
        return []
    order = {e.label: i for i, e in enumerate(suite.methods)}
    budgets = {ev.train: i for i, ev in enumerate(suite.evaluations) if ev.budget}  # in the suite's order

    def place(key):
        return key[0].partition("@")[0], budgets.get(key[0], -1), order.get(key[1], 99)
    return sorted(pd.DataFrame(rows).groupby(["train", "label"]), key=lambda x: place(x[0]))


def still_rising(groups) -> dict[tuple[str, str], str]:
    """{(training, method): what to print} of the `groups` (convergence) whose validation slope over the last 20 %
    is above 0 with 95 % confidence (2 seeds or more): training had not plateaued when the budget ended, so a
    verdict against them may be about the budget (docs/protocol.md §5)."""
    found = {}
    for key, g in groups:
        slopes = g["slope"].dropna()
        if len(slopes) < 2:
            continue
        half = ci_half_width(slopes.std(), len(slopes))
        if slopes.mean() - half > 0:
            found[key] = (f"{key[1]} on {key[0]} (+{slopes.mean():.2f} ± {half:.2f} CIoU per 1,000 steps, best step "
                          f"{int(g['best'].median())} / {int(g['steps'].iloc[0])})")
    return found


def training_report(suite: Suite, groups: list, rising: dict | None, long: pd.DataFrame) -> list[str]:
    """Per training domain and method (`groups`: convergence): validation slope over the last 20 %, best-on-val
    step, the chosen learning rate; then the checks a verdict needs: no collapsed run, the oracle as the
    in-domain ceiling, training that had plateaued (`rising`: still_rising, None without trained runs)."""
    out = []
    if groups:
        out += ["## Training: convergence and learning rate", "",
                "Slope = least-squares slope of validation CIoU over the last 20 % of the budget, in CIoU points per "
                "1,000 steps (mean ± 95 % CI over seeds): near 0 when training has plateaued. Best step = median step "
                "of the best-on-validation checkpoint.", ""]
        table = []
        for (train, label), g in groups:
            slopes = g["slope"].dropna()
            table.append({"Training": train, "Method": label,
                          "Val slope, last 20 %": _fmt(slopes.mean(), ci_half_width(slopes.std(), len(slopes)),
                                                       len(slopes)) if len(slopes) else "—",
                          "Best step (median)": f"{int(g['best'].median())} / {int(g['steps'].iloc[0])}",
                          "Final val CIoU": _fmt(g["final"].mean(), ci_half_width(g["final"].std(), len(g)), len(g)),
                          "lr": ", ".join(f"{v:g}" for v in sorted(set(g["lr"])))})
        out += [markdown_table(table), ""]
    out += ["## Checks", ""] + _checks(suite, long) + _rising_check(rising) + [""]
    return out


def _rising_check(rising: dict | None) -> list[str]:
    if rising is None:
        return []
    if not rising:
        return ["- Plateau: no trained method's validation slope over the last 20 % is above 0 with 95 % confidence."]
    return ["- **Still rising when the budget ended** (validation slope over the last 20 % above 0 with 95 % "
            "confidence; a verdict against these is about the budget): " + ", ".join(rising.values()) + "."]


def _checks(suite: Suite, long: pd.DataFrame) -> list[str]:
    """Runs below the centre floor on their own test set (collapsed), and whether the oracle is the in-domain
    ceiling: both make a verdict about methods unsafe if they fail, so they are stated, never hidden."""
    lines = []
    ciou = long[(long.metric == "ciou") & long.primary]
    trained = trained_labels(suite)
    floor_of, low = below_floor(long, trained)
    if not floor_of:
        lines.append("- Collapsed runs: not checked (no `center` floor in this suite).")
    elif low.empty:
        lines.append("- Collapsed runs: none. Every trained run scores above the centre floor on its test set.")
    else:
        bad = ", ".join(f"{r.label} seed {r.seed} on {r.evaluation} ({r.value:.1f} < {floor_of[r.evaluation]:.1f})"
                        for r in low.itertuples())
        lines.append(f"- **Collapsed runs** (test CIoU below the centre floor): {bad}.")
    oracle = [e.label for e in suite.methods if e.name == "oracle"]
    for ev in (e for e in suite.evaluations if not e.in_domain) if oracle else []:
        means = ciou[ciou.evaluation == ev.name].groupby("label")["value"].mean()
        if oracle[0] not in means:
            continue
        above = means[(means > means[oracle[0]]) & means.index.isin(trained - set(oracle))]
        lines.append(f"- Oracle on {ev.name}: " + ("the in-domain ceiling (no method's mean is above it)."
                     if above.empty else "**not the ceiling**: " + ", ".join(f"{k} {v:.1f}" for k, v in above.items())
                     + f" > oracle {means[oracle[0]]:.1f}."))
    return lines


def data_note(suite: Suite) -> str:
    paper = suite.paper.get("source") or "n/a"
    notes = " ".join(a.note(suite.data) for a in suite_adapters(suite))
    if stand_in(suite):
        return (f"> {notes} The *Paper* columns are from a different dataset and setup — {paper} — and are shown "
                "for orientation only: **the two are not comparable**.")
    return f"> {notes} Split lists and their hashes are in `datasets/` and each run.json. Paper columns: {paper}."


def negatives_section(suite: Suite, agg: pd.DataFrame) -> list[str]:
    """SLAVC's joint-set metrics for the evaluations that score negative pairs (docs/protocol.md §8)."""
    evs = [ev for ev in suite.evaluations if ev.negatives]
    if not evs:
        return []
    out = ["## Negative audio: does the method know when the sound is not in the picture?", "",
           "Each test picture is also heard with a track whose source is not in it (docs/protocol.md §8.1). "
           "A method's confidence is the mean of the top quarter of its raw map, upsampled and rescaled with a "
           "range fixed for every sample, never min-max normalised; a pair is called sounding at confidence "
           "≥ 0.5. *AP* and *max-F1* are SLAVC's, over positives and negatives together (a positive counts as "
           "found only if it is called sounding and its cIoU ≥ 0.5); *Precision@0.5* at the default confidence; "
           "*Localised*: % of positives with cIoU ≥ 0.5 under SLAVC's score-map rule, whatever their confidence; "
           "*False alarm <type>*: % of that type's negatives called sounding (lower is better). A fixed map "
           "(the centre floor) has one confidence for every pair: it cannot tell a negative from a positive.",
           "*Separation <type>* (ours, not SLAVC's) is threshold-free: the % of (positive, negative) pairs in which "
           "the positive has the higher confidence, ties half (the area under the ROC curve). 50 means the map's "
           "level says nothing about whether the sound is in the picture: the method localizes objects; near 100 "
           "means it knows.", ""]
    for ev in evs:
        present = set(agg[agg.evaluation == ev.name]["metric"])
        for metrics in ([m for m in NEGATIVE if m in present] + sorted(m for m in present if m.startswith(FALSE_ALARM)),
                        sorted(m for m in present if m.startswith(SEPARATION))):
            if metrics:
                only = agg[agg.metric.isin(metrics)]  # the headline maps: other variants are not scored on negatives
                out += [f"### {ev.title}", "", evaluation_table(suite, only, ev, tuple(metrics), with_paper=False), ""]
        out += separation_reading(suite, agg, ev)
    return out


def separation_reading(suite: Suite, agg: pd.DataFrame, ev: Evaluation) -> list[str]:
    """Who localizes the sound and who localizes objects, read off the separation cells: per method, the negative
    types whose separation is above 50 % with its whole 95 % interval (more than one seed needed)."""
    sub = agg[(agg.evaluation == ev.name) & agg.metric.str.startswith(SEPARATION)]
    lines = []
    for entry in suite.methods:
        cells = sub[sub.label == entry.label]
        if cells.empty:
            continue
        knows = [m[len(SEPARATION):] for m, mean, ci, n in zip(cells.metric, cells["mean"], cells.ci, cells["count"])
                 if n > 1 and mean - ci > 50]
        others = [m[len(SEPARATION):] for m in cells.metric if m[len(SEPARATION):] not in knows]
        lines.append(f"- `{entry.label}`: " + (f"its confidence drops for {', '.join(knows)}" if knows else
                                               "its confidence does not drop for any negative type")
                     + (f"; not (or not surely) for {', '.join(others)}" if knows and others else "") + ".")
    return [f"Reading ({ev.name}; separation above 50 % with its whole 95 % interval):", "", *lines, ""] if lines else []


def write_leaderboard(suite: Suite, results_dir: Path, wall_seconds: float | None = None,
                      num_processes: int = 1, domains=None) -> Path:
    finished = load_runs(suite, results_dir)
    long = collect(suite, finished)
    if long.empty:
        raise RuntimeError(f"no finished runs of suite {suite.name} ({suite.profile}) under {results_dir}")
    agg = aggregate(long)
    base = results_dir / suite.name
    name = "leaderboard.md" if suite.published else f"leaderboard.{suite.profile}.md"
    git = metadata.git_info()
    runs = [r.run for r in finished]
    out = [f"# Leaderboard: {suite.name} (suite version {suite.version}, profile `{suite.profile}`)", "",
           data_note(suite), ""]
    out += [suite.description, "",
            f"- Seeds: {suite.seeds}; cells are the mean over seeds ± the half-width of its 95 % confidence "
            "interval (Student t), with n in brackets. "
            "CIoU = % of test samples with cIoU ≥ 0.5, AUC = area under the success curve, both under the "
            "`ezvsl` protocol (bilinear upsampling, pixels ≥ the median selected; docs/protocol.md §2; "
            "`python -m benchmark.score` rescores exported maps under the others).",
            f"- Budget: {suite.budget.steps} optimizer steps, global batch {suite.budget.global_batch_size}; "
            "checkpoint chosen on the validation split (never test)" + _own_budgets(suite) + _lr_protocol(suite)
            + ".",
            f"- Runs trained at commit {run_commits(runs)}, with {run_torch_versions(runs)}, on "
            f"{run_hardware(runs)}; tables written at {(git['commit'] or 'unknown')[:12]}"
            f"{' (dirty)' if git['dirty'] else ''}; {datetime.now(timezone.utc):%Y-%m-%d}; {num_processes} process(es)"
            + f"; training + testing time summed over runs {run_seconds(runs) / 60:.1f} min"
            + (f" (this invocation {wall_seconds / 60:.1f} min)" if wall_seconds else ""),
            "- *(reference)* rows are sanity floors or the label-rich oracle, not competitors; *(control)* rows "
            "switch one part of a method off to show where a gain comes from; "
            "`[variant]` rows are other maps of the same trained runs (e.g. XPL's model B).",
            "- *CIoU, audio shuffled* is a control: each test image paired with another sample's sound. A method "
            "that localizes sounds drops towards the floors; one that only finds salient objects does not.", ""]
    out += _incomplete_note(suite, long) + _weights_note(finished)
    budgeted = bool(budget_groups(suite))  # a label-budget suite: one table per domain, budgets as columns
    for ev in [] if budgeted else suite.evaluations:
        out += [f"## {ev.title}", "", evaluation_table(suite, agg, ev), ""]
        out += [f"![{kind} {ev.name}](figures/{f.name})"
                for kind, f in figures.draw(suite, results_dir, ev, finished, domains)]
        out += [""]
    out += _budget_sections(suite, agg, results_dir, long=long) if budgeted else []
    groups = convergence(suite, runs)
    rising = still_rising(groups) if groups else None
    out += training_report(suite, groups, rising, long)
    out += ["## Secondary: fixed threshold 0.5 on the min–max normalised map", "",
            "Not the paper's protocol; shown because the median rule favours large objects.", ""]
    out += _budget_sections(suite, agg, results_dir, SECONDARY) if budgeted else []
    for ev in [] if budgeted else suite.evaluations:
        out += [f"### {ev.title}", "", evaluation_table(suite, agg, ev, SECONDARY, with_paper=False), ""]
    out += negatives_section(suite, agg)
    if suite.claims:
        claims_name = name.replace("leaderboard", "claims")
        write_claims(base / claims_name, suite, long, _incomplete_note(suite, long), set(rising or ()))
        out[2:2] = [f"Claims of the paper tested on these runs: [{claims_name}]({claims_name}).", ""]
    path = base / name
    write_text_atomic(path, "\n".join(out))
    write_csv(long, base / name.replace(".md", ".csv"))
    return path
