"""Leaderboard aggregation: mean ± 95 % CI over seeds, missing runs shown as a dash, best in bold; claims with
Holm's correction."""
from __future__ import annotations

import pytest

from benchmark.leaderboard import markdown_table, write_leaderboard
from benchmark.suites import Claim, load_suite
from tests.conftest import write_run


def _fake_run(root, suite, train, label, method, seed, tests, run=None):
    folder = root / suite.name / "runs" / suite.profile / f"train-{train}" / label / f"seed{seed}"
    write_run(folder, {"config_hash": "x", "method": method, "label": label, "seed": seed, "train": train,
                       "primary_variant": "main", "variants": ["main"],
                       "tests": {t: {"main": {"ciou": c, "auc": a, "ciou_fixed0.5": c, "auc_fixed0.5": a}}
                                 for t, (c, a) in tests.items()}}, run)


def test_mean_std_missing_and_bold(tmp_path):
    suite = load_suite("table1", "smoke", seeds=[0, 1], only_methods=["center", "supervised", "ezvsl"])
    for seed, c in ((0, 40.0), (1, 50.0)):
        _fake_run(tmp_path, suite, "flickr", "supervised", "supervised", seed, {"flickr": (c, 45.0)})
        _fake_run(tmp_path, suite, "flickr", "ezvsl", "ezvsl", seed, {"flickr": (10.0, 20.0)})
        _fake_run(tmp_path, suite, "flickr", "center", "center", seed, {"flickr": (60.0, 60.0)})
    text = write_leaderboard(suite, tmp_path).read_text()
    flickr = text.split("## Flickr-like, in-domain")[1].split("##")[0]
    # mean ± half-width of the 95 % CI: t(0.975, 1) · 7.07 / √2 = 12.706 · 5 = 63.53; best competitor bold
    assert "**45.00 ± 63.53 (2)**" in flickr
    assert "60.00 ± 0.00 (2)" in flickr and "**60.00" not in flickr  # a floor is never "best"
    assert "84.68" in flickr  # the paper's number beside ours
    vggss = text.split("## VGGSS-like, in-domain")[1].split("##")[0]
    assert "| supervised " in vggss and "—" in vggss and " 0.00 (" not in vggss  # missing runs: a dash, never 0
    # 3 labels x 2 seeds x 3 evaluations asked for, only flickr ran: the header says so and names what is missing
    assert "**Incomplete: 6 of 18 (run, evaluation) results have finished.**" in text
    assert "Missing: center seed 0 on vggss" in text


def test_claims_paired_test_known_answers():
    import math

    import pandas as pd

    from benchmark.claims import paired, verdict

    def frame(a, b):
        rows = [{"evaluation": "flickr", "label": lab, "metric": "ciou", "primary": True, "seed": s, "value": v}
                for lab, vals in (("a", a), ("b", b)) for s, v in enumerate(vals)]
        return pd.DataFrame(rows)

    res = paired(frame([50, 52, 54], [40, 41, 42]), "flickr", "a", "b")
    assert res["n"] == 3 and res["mean"] == 11 and res["std"] == 1
    assert math.isclose(res["t"], 11 * math.sqrt(3)) and math.isclose(res["d_z"], 11)
    assert verdict(res) == "supported"
    assert verdict(paired(frame([40, 41, 42], [50, 52, 54]), "flickr", "a", "b")) == "contradicted"
    assert verdict(paired(frame([41, 39, 42], [40, 40, 40]), "flickr", "a", "b")) == "not resolved"
    assert verdict(paired(frame([41], [40]), "flickr", "a", "b")).startswith("not resolved (fewer")


def test_claims_file_written_beside_leaderboard(tmp_path):
    suite = load_suite("table1", "smoke", seeds=[0, 1])
    for seed, (x, s) in enumerate(((50.0, 40.0), (52.0, 41.0))):
        _fake_run(tmp_path, suite, "flickr", "xpl", "xpl", seed, {"flickr": (x, 45.0)})
        _fake_run(tmp_path, suite, "flickr", "supervised", "supervised", seed, {"flickr": (s, 45.0)})
    board = write_leaderboard(suite, tmp_path).read_text()
    claims = (tmp_path / "table1" / "claims.smoke.md").read_text()
    assert "claims.smoke.md" in board
    # Δ = 10, 11: mean 10.5 ± t(0.975, 1) · 0.707 / √2 = 6.35
    assert "| XPL > supervised-only" in claims and "+10.50 [+4.15, +16.85] (2)" in claims
    assert "not resolved (fewer than 2 paired seeds)" in claims  # vggss rows: no runs
    assert "**Incomplete:" in claims  # a partial suite is flagged where the verdicts are


def test_holm_known_answer():
    import math

    from benchmark.claims import holm

    # sorted 0.01, 0.02, 0.04 -> 3·0.01, max(0.03, 2·0.02), max(0.04, 1·0.04); NaN stays out of the family
    adjusted = holm([0.04, 0.01, float("nan"), 0.02])
    assert adjusted[:2] == pytest.approx([0.04, 0.03]) and math.isnan(adjusted[2]) and adjusted[3] == pytest.approx(0.04)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2·0.5 capped at 1; monotone: max(1.0, 0.9)


def test_holm_can_overturn_a_raw_verdict():
    import pandas as pd

    from benchmark.claims import claims_table

    rows = [{"evaluation": "e", "label": lab, "metric": "ciou", "primary": True, "seed": s, "value": v}
            for lab, vals in (("a", [52, 50, 53, 51, 55]), ("b", [50, 49, 50, 50, 51]), ("c", [50, 50, 50, 50, 50.5]))
            for s, v in enumerate(vals)]
    claims = [Claim("a", "b", "e")] + [Claim("a", "c", "e")] * 9
    table, results = claims_table(pd.DataFrame(rows), claims)
    assert results[0]["p_two_sided"] < 0.05  # significant alone ...
    assert table["Verdict"].iloc[0] == "not resolved"  # ... but not after Holm over 10 claims
    assert float(table["p (Holm)"].iloc[0]) > float(table["p (raw)"].iloc[0])


def test_min_detectable_effect_matches_power():
    import math

    from scipy import stats

    from benchmark.claims import min_detectable_dz

    for n, alpha in ((5, 0.05), (5, 0.005), (10, 0.05)):
        dz = min_detectable_dz(n, alpha)
        crit, nc = stats.t.ppf(1 - alpha / 2, n - 1), dz * math.sqrt(n)
        assert stats.nct.sf(crit, n - 1, nc) == pytest.approx(0.8, abs=1e-5)  # the wrong-side tail is < 1e-6 here
    assert min_detectable_dz(5, 0.005) > min_detectable_dz(5, 0.05) > min_detectable_dz(10, 0.05)


def test_claim_with_unknown_label_is_refused(tmp_path, monkeypatch):
    import benchmark.suites as suites

    (tmp_path / "c.yaml").write_text("suite: c\nversion: 1\nmethods: [center]\n"
                                     "evaluations: [{name: flickr, train: flickr, test: flickr}]\n"
                                     "claims: [{a: xpll, b: center, evaluation: flickr}]\n")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    with pytest.raises(suites.SuiteError, match="'xpll' is not a method label"):
        load_suite("c", "smoke")


def test_relative_claim_and_lower_is_better_metric():
    import pandas as pd

    from benchmark.claims import paired

    rows = [{"evaluation": ev, "label": lab, "metric": "ciou", "primary": True, "seed": s, "value": v}
            for ev, lab, vals in (("in", "a", [80, 70, 60]), ("cross", "a", [78, 69, 57]),  # a drops 2, 1, 3
                                  ("in", "b", [90, 80, 85]), ("cross", "b", [80, 75, 80]))  # b drops 10, 5, 5
            for s, v in enumerate(vals)]
    res = paired(pd.DataFrame(rows), "cross", "a", "b", relative_to="in")
    assert res["n"] == 3 and res["mean"] == (8 + 4 + 2) / 3  # per-seed difference of drops, a's smaller
    vol = [{"evaluation": "in", "label": lab, "metric": "val_fluctuation", "primary": True, "seed": s, "value": v}
           for lab, vals in (("a", [1.0, 2.0, 1.5]), ("b", [5.0, 6.0, 8.0])) for s, v in enumerate(vals)]
    assert paired(pd.DataFrame(vol), "in", "a", "b", "val_fluctuation")["mean"] > 0  # lower fluctuation favours a


def test_val_fluctuation_reads_the_second_half_of_the_curve():
    from benchmark.suite_results import val_fluctuation

    rising = [{"step": s, "ciou": c} for s, c in ((100, 0.0), (200, 90.0), (300, 40.0), (400, 50.0), (500, 60.0))]
    assert val_fluctuation(rising, 500) == pytest.approx(0.0, abs=1e-9)  # a steady rise is stable
    zigzag = rising[:2] + [{"step": 300, "ciou": 40.0}, {"step": 400, "ciou": 46.0}, {"step": 500, "ciou": 40.0}]
    # line through (300,40),(400,46),(500,40) is flat at 42: residuals -2, 4, -2
    assert val_fluctuation(zigzag, 500) == pytest.approx((24 / 3) ** 0.5)
    assert val_fluctuation(rising[:4], 500) is None  # two late points: too few to judge
    assert val_fluctuation([], 500) is None


def test_claim_on_unknown_metric_or_reference_is_refused(tmp_path, monkeypatch):
    import benchmark.suites as suites

    head = ("suite: c\nversion: 1\nmethods: [center, random]\n"
            "evaluations: [{name: flickr, train: flickr, test: flickr}]\n")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    (tmp_path / "c.yaml").write_text(head + "claims: [{a: center, b: random, evaluation: flickr, metric: f1}]\n")
    with pytest.raises(suites.SuiteError, match="key 'metric': 'f1' is not one of"):
        load_suite("c", "smoke")
    (tmp_path / "c.yaml").write_text(head + "claims: [{a: center, b: random, evaluation: flickr, relative_to: vg}]\n")
    with pytest.raises(suites.SuiteError, match="relative_to 'vg'"):
        load_suite("c", "smoke")


def test_header_names_the_commits_torch_releases_and_cpus_the_runs_were_trained_at(tmp_path):
    suite = load_suite("table1", "smoke", seeds=[0, 1], only_methods=["supervised"])
    for seed, commit, torch, cpu in ((0, "a" * 40, "2.9.1", "Intel Xeon"), (1, "b" * 40, "2.4.0", "AMD EPYC")):
        _fake_run(tmp_path, suite, "flickr", "supervised", "supervised", seed, {"flickr": (40.0, 45.0)},
                  {"git": {"commit": commit, "dirty": seed == 1}, "wall_seconds": 1.0, "versions": {"torch": torch},
                   "hardware": {"cpu": cpu}})
    text = write_leaderboard(suite, tmp_path).read_text()
    assert ("Runs trained at commit aaaaaaaaaaaa (1 runs), bbbbbbbbbbbb (dirty) (1 runs), with torch 2.4.0 (1 runs), "
            "torch 2.9.1 (1 runs), on AMD EPYC (1 runs), Intel Xeon (1 runs); tables written at") in text


def test_formatted_cells_are_printed_as_formatted():
    """A column whose cells all look like numbers keeps its text: signs, trailing zeros, learning rates."""
    table = markdown_table([{"Δ CIoU vs in-domain": "+0.00", "lr": "0.001"},
                            {"Δ CIoU vs in-domain": "-19.36", "lr": "0.0003"}])
    assert "+0.00" in table and "-19.36" in table and "0.0003" in table and "| 0 " not in table


def test_header_names_the_protocol_and_each_datasets_test_list(tmp_path):
    import dataclasses

    suite = load_suite("table1", "paper", seeds=[0], only_methods=["center"])
    suite = dataclasses.replace(suite, data=dataclasses.replace(suite.data, flickr_test="250-slavc"))
    _fake_run(tmp_path, suite, "flickr", "center", "center", 0, {"flickr": (30.0, 40.0)})
    header = write_leaderboard(suite, tmp_path).read_text().split("\n## ")[0]
    assert "under the `ezvsl` protocol" in header
    assert "**Real data: Flickr-SoundNet**, scored on the `250-slavc`-id test list" in header
    assert "**Real data: VGG-SoundSource**, scored on the `drawn` test list" in header
