"""The fair-comparison protocol (docs/protocol.md §3–§5, docs/methods.md §8): partial unlabeled pools without
repeats, XPL's logged diagnostics and distinct model B, Eq. 8's literal InfoNCE, the learning-rate grid, runs
shared between suites, and the leaderboard's convergence report and checks."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from benchmark.suites import Budget, Claim
from benchmark.trainer import TrainContext, _Samplers, draw_batches, train
from methods.base import BatchPlan, Pool, StepState
from methods.common.losses import gmp_infonce, infonce
from tests.conftest import make_method, set_up, write_run


def test_small_pool_is_drawn_once_and_labeled_rows_fill_the_batch(smoke_suite, smoke_domains, accelerator):
    """A curriculum that admitted 3 rows for an unlabeled share of 6: each once, 5 labeled, logged."""
    m = make_method("xpl", smoke_suite)
    data = smoke_domains["flickr"]
    ctx = TrainContext(m, data, set_up(m, data, 10, accelerator=accelerator))
    admitted = list(ctx.run.unlabeled_rows[:3])
    m.unlabeled_pool = lambda step, ctx: Pool("epoch0", admitted, 4)
    m.batch_plan = lambda step: BatchPlan(labeled=2, unlabeled=6)
    lb, ulb = draw_batches(m, ctx, _Samplers(0), 5)
    assert sorted(ulb["index"].tolist()) == sorted(admitted)  # every admitted row once, no repeat
    assert lb["index"].shape[0] == 5 and ulb["index"].shape[0] + lb["index"].shape[0] == 8
    m.unlabeled_pool = lambda step, ctx: Pool("epoch0", [], 4)
    lb, ulb = draw_batches(m, ctx, _Samplers(0), 6)
    assert ulb is None and lb["index"].shape[0] == 8  # nothing admitted: a labeled-only step
    assert ctx.shortfall == [(5, 3, 6), (6, 0, 6)]


def test_xpl_curriculum_never_repeats_rows(smoke_suite, smoke_domains, accelerator):
    m = make_method("xpl", smoke_suite, {"rho_floor": -1.0, "ramp_r0": 0.02})
    data = smoke_domains["flickr"]
    m.attach(m.build_models())
    ctx = TrainContext(m, data, set_up(m, data, 10, accelerator=accelerator))
    rows = m.unlabeled_pool(9, ctx).rows
    assert 0 < len(rows) < 6 and len(set(rows)) == len(rows) == m.curriculum["admitted"]


def test_xpl_models_read_different_inputs(smoke_suite):
    """Model B is a raw-waveform encoder, A a log-mel one: distinct backbones on different inputs."""
    m = make_method("xpl", smoke_suite)
    models = m.build_models()
    assert (models["a"].audio_key, models["b"].audio_key) == ("audio", "waveform")
    assert type(models["a"].audio).__name__ != type(models["b"].audio).__name__


def test_xpl_diagnostics_logged_with_validation(smoke_suite, smoke_domains, accelerator, tmp_path):
    m = make_method("xpl", smoke_suite, {"rho_floor": -1.0, "ramp_r0": 0.5, "min_epoch_steps": 2,
                                         "warmup_fraction": 0.0})
    budget = Budget(steps=6, global_batch_size=8, eval_every=2, ckpt_every=100, eval_batch_size=16)
    res = train(m, smoke_domains["flickr"], budget=budget, seed=0, accelerator=accelerator, ckpt_dir=tmp_path,
                run_meta={"config_hash": "h"}, log=lambda *a: None)
    for point in res.history:
        assert -1.0 <= point["agreement_ab"] <= 1.0
    ssl = [p for p in res.history if "admitted" in p]
    assert ssl and all(p["admitted"] >= 0 and p["curriculum_epoch"] >= 0 for p in ssl)


def test_gmp_infonce_known_answer():
    """Eq. 8 literally: max-pool the visual features over space, normalise, cosine with the audio, CE both ways."""
    torch.manual_seed(0)
    v_raw, a = torch.randn(4, 8, 3, 3), F.normalize(torch.randn(4, 8), dim=1)
    pooled = F.normalize(v_raw.flatten(2).max(dim=2).values, dim=1)
    logits = pooled @ a.t() / 0.03
    labels = torch.arange(4)
    expected = F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)
    assert gmp_infonce(v_raw, a, 0.03).item() == pytest.approx(expected.item(), rel=1e-6)
    out = {"v_raw": v_raw, "v": F.normalize(v_raw, dim=1), "a": a}
    assert infonce(out, "gmp", 0.03).item() == pytest.approx(expected.item(), rel=1e-6)
    assert infonce(out, "mil", 0.03).item() != pytest.approx(expected.item(), rel=1e-3)
    with pytest.raises(ValueError, match="unknown InfoNCE form"):
        infonce(out, "avg", 0.03)


def test_nce_pool_switch_changes_the_loss(smoke_suite, smoke_domains, tiny_batch):
    losses = {}
    for kind in ("mil", "gmp"):
        torch.manual_seed(0)
        m = make_method("supervised", smoke_suite, {"nce_pool": kind, "augment": False})
        m.attach(m.build_models())
        set_up(m, smoke_domains["flickr"], 10)
        losses[kind] = m.training_step(tiny_batch, None, StepState(0, 10, 0))[1]["l_nce"].item()
    assert losses["mil"] != pytest.approx(losses["gmp"])


def _smoke(name="table1", **changes):
    from benchmark.suites import load_suite

    suite = load_suite(name, "smoke", seeds=[0, 1], only_methods=["supervised"])
    return dataclasses.replace(suite, evaluations=[e for e in suite.evaluations if e.train == "flickr"],
                               **changes)


def test_a_run_tested_on_more_sets_is_reused_for_fewer(tmp_path):
    """table1's VGGSS-like training is tested on both sets (in-domain and cross-dataset); a suite that tests the
    same training in-domain only copies it, keeping that test's numbers, rows and previews, and trains nothing."""
    from accelerate import Accelerator

    from benchmark.runner import run_dir, run_suite
    from benchmark.suites import load_suite

    both = load_suite("table1", "smoke", seeds=[0], only_methods=["supervised"])
    both = dataclasses.replace(both, evaluations=[e for e in both.evaluations if e.train == "vggss"])
    one = dataclasses.replace(both, name="labels", evaluations=[e for e in both.evaluations if e.test == "vggss"])
    lines = []
    run_suite(both, tmp_path, Accelerator(cpu=True), log=lines.append)
    source = run_dir(tmp_path, both, "vggss", "supervised", 0)
    assert json.loads((source / "run.json").read_text())["config"]["tests"] == ["vggss", "flickr"]
    lines.clear()
    run_suite(one, tmp_path, Accelerator(cpu=True), log=lines.append)
    assert not any(x.startswith("done") for x in lines)
    assert any("reuse supervised" in x and "(its tests vggss only)" in x for x in lines)
    copy = run_dir(tmp_path, one, "vggss", "supervised", 0)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (source, copy))
    assert set(b["tests"]) == {"vggss"} and b["tests"]["vggss"] == a["tests"]["vggss"]
    assert b["best_val"] == a["best_val"] and b["config_hash"] != a["config_hash"]
    rows = [json.loads(x) for x in (source / "per_sample.jsonl").read_text().splitlines()]
    kept = [json.loads(x) for x in (copy / "per_sample.jsonl").read_text().splitlines()]
    assert kept == [r for r in rows if r["test"] == "vggss"] and len(kept) < len(rows)
    assert set(json.loads((copy / "previews.json").read_text())) == {"vggss"}
    # the copy verifies like any run: the next invocation skips it as finished
    lines.clear()
    run_suite(one, tmp_path, Accelerator(cpu=True), log=lines.append)
    assert any(x.startswith("skip supervised") for x in lines)
    # and the subset copy is the same as a run trained for that test alone
    fresh = tmp_path / "fresh"
    run_suite(one, fresh, Accelerator(cpu=True), log=lines.append)
    c = json.loads((run_dir(fresh, one, "vggss", "supervised", 0) / "metrics.json").read_text())
    assert c["tests"] == b["tests"] and c["best_val"] == b["best_val"]


def test_lr_grid_is_chosen_on_validation_and_the_tuning_run_is_reused(tmp_path):
    from accelerate import Accelerator

    from benchmark.runner import run_dir, run_suite

    suite = _smoke(lr_grid=(1e-3, 3e-4), tune_seeds=(0,))
    lines = []
    run_suite(suite, tmp_path, Accelerator(cpu=True), log=lines.append)
    grid = run_dir(tmp_path, suite, "flickr", "supervised", 0).parent / "lr-grid"
    vals = {lr: json.loads((grid / f"lr{lr:g}" / "seed0" / "metrics.json").read_text())["best_val"]
            for lr in (1e-3, 3e-4)}
    chosen = max((1e-3, 3e-4), key=lambda lr: (vals[lr]["ciou"], vals[lr]["auc"]))
    for seed in (0, 1):
        run = json.loads((run_dir(tmp_path, suite, "flickr", "supervised", seed) / "run.json").read_text())
        assert run["config"]["method_config"]["lr"] == chosen and run["lr_selection"]["chosen"] == chosen
    main0 = run_dir(tmp_path, suite, "flickr", "supervised", 0)
    assert json.loads((main0 / "run.json").read_text())["copied_from"].endswith(f"lr{chosen:g}/seed0")
    assert sum(line.startswith("done") for line in lines) == 3  # two grid runs + seed 1; seed 0 reused

    # A second suite with the same run (another name, label unchanged) trains nothing: every run is reused.
    other = _smoke(lr_grid=(1e-3, 3e-4), tune_seeds=(0,))
    other = dataclasses.replace(other, name="ablation")
    lines.clear()
    run_suite(other, tmp_path, Accelerator(cpu=True), log=lines.append)
    assert not any(line.startswith("done") for line in lines) and sum("reuse" in x for x in lines) == 4
    a = json.loads((run_dir(tmp_path, suite, "flickr", "supervised", 1) / "metrics.json").read_text())
    b = json.loads((run_dir(tmp_path, other, "flickr", "supervised", 1) / "metrics.json").read_text())
    assert a["tests"] == b["tests"] and a["config_hash"] != b["config_hash"]


def test_several_tuning_seeds_choose_the_rate_by_their_mean_and_both_grid_runs_are_main_runs(tmp_path):
    from accelerate import Accelerator

    from benchmark.runner import run_dir, run_suite

    suite = _smoke(lr_grid=(1e-3, 3e-4), tune_seeds=(0, 1))
    lines = []
    run_suite(suite, tmp_path, Accelerator(cpu=True), log=lines.append)
    vals = {(lr, seed): json.loads((run_dir(tmp_path, suite, "flickr", "supervised", seed).parent / "lr-grid"
                                    / f"lr{lr:g}" / f"seed{seed}" / "metrics.json").read_text())["best_val"]
            for lr in (1e-3, 3e-4) for seed in (0, 1)}
    mean = {lr: tuple(sum(vals[lr, s][k] for s in (0, 1)) / 2 for k in ("ciou", "auc")) for lr in (1e-3, 3e-4)}
    chosen = max((1e-3, 3e-4), key=lambda lr: mean[lr])
    for seed in (0, 1):
        run = json.loads((run_dir(tmp_path, suite, "flickr", "supervised", seed) / "run.json").read_text())
        assert run["config"]["method_config"]["lr"] == chosen and run["copied_from"].endswith(f"lr{chosen:g}/seed{seed}")
        selection = run["lr_selection"]
        assert selection["tune_seeds"] == [0, 1] and "tune_seed" not in selection
        assert selection["val_ciou_auc"] == {f"{lr:g}": pytest.approx(list(mean[lr])) for lr in (1e-3, 3e-4)}
        assert selection["val_ciou_auc_per_seed"][f"{chosen:g}"]["1"] == [vals[chosen, 1]["ciou"], vals[chosen, 1]["auc"]]
    assert sum(line.startswith("done") for line in lines) == 4  # the four grid runs; both main runs reused


def test_adding_a_tuning_seed_trains_only_the_missing_grid_run_and_updates_the_records(tmp_path):
    """Runs tuned at seed 0 stay valid when the grid gains seed 1: the rate at seed 1 that a main run already
    trained is copied from it, and a main run whose rate is still chosen keeps its numbers, its record updated."""
    from accelerate import Accelerator

    from benchmark.runner import run_dir, run_suite
    from benchmark.verify import load_run

    run_suite(_smoke(lr_grid=(1e-3, 3e-4), tune_seeds=(0,)), tmp_path, Accelerator(cpu=True), log=lambda line: None)
    suite = _smoke(lr_grid=(1e-3, 3e-4), tune_seeds=(0, 1))
    before = {seed: load_run(run_dir(tmp_path, suite, "flickr", "supervised", seed)) for seed in (0, 1)}
    lines = []
    run_suite(suite, tmp_path, Accelerator(cpu=True), log=lines.append)
    assert sum(line.startswith("done") for line in lines) == 1  # the other rate at seed 1
    for seed in (0, 1):
        metrics, run = load_run(run_dir(tmp_path, suite, "flickr", "supervised", seed))  # verifies the new digests
        assert run["lr_selection"]["tune_seeds"] == [0, 1]
        if run["config"]["method_config"]["lr"] == before[seed][1]["config"]["method_config"]["lr"]:
            assert metrics["tests"] == before[seed][0]["tests"] and metrics["files"] != before[seed][0]["files"]
    lines.clear()
    run_suite(suite, tmp_path, Accelerator(cpu=True), log=lines.append)
    assert not any(line.startswith("done") or "record updated" in line for line in lines)


def test_a_grid_whose_training_ran_for_other_tests_is_not_trained_again(tmp_path):
    """The negatives suite trains what table1 trained (other tests, same training): where table1's weights are not
    on this machine, its grid runs' validation still decides the rate, and only the main runs train."""
    from accelerate import Accelerator

    from benchmark.runner import run_dir, run_suite

    table1 = _smoke(lr_grid=(1e-3, 3e-4), tune_seeds=(0,))
    run_suite(table1, tmp_path, Accelerator(cpu=True), log=lambda line: None)
    for weights in tmp_path.rglob("best_model.pt"):
        weights.unlink()  # trained on another machine
    negatives = _smoke("negatives", lr_grid=(1e-3, 3e-4), tune_seeds=(0,), seeds=(0,))
    lines = []
    run_suite(negatives, tmp_path, Accelerator(cpu=True), log=lines.append)
    assert sum("validation of the same training in" in line for line in lines) == 2
    assert sum(line.startswith("done") for line in lines) == 1  # seed 0 only: no grid run trains
    assert not (run_dir(tmp_path, negatives, "flickr", "supervised", 0).parent / "lr-grid").exists()
    ours = json.loads((run_dir(tmp_path, negatives, "flickr", "supervised", 0) / "run.json").read_text())
    theirs = json.loads((run_dir(tmp_path, table1, "flickr", "supervised", 0) / "run.json").read_text())
    assert ours["lr_selection"]["val_ciou_auc"] == theirs["lr_selection"]["val_ciou_auc"]
    assert ours["lr_selection"]["chosen"] == theirs["lr_selection"]["chosen"]
    assert set(ours["lr_selection"]["val_from"]) == {"0.001", "0.0003"}


def test_training_report_and_checks(tmp_path):
    """The leaderboard states convergence per method and flags collapsed runs and an oracle that is beaten."""
    from benchmark.leaderboard import val_slope, write_leaderboard
    from benchmark.suites import load_suite

    suite = load_suite("table1", "smoke", seeds=[0, 1], only_methods=["center", "supervised", "oracle"])
    base = tmp_path / "table1" / "runs" / "smoke" / "train-flickr"
    for label, method, scores in (("center", "center", (30.0, 30.0)), ("supervised", "supervised", (60.0, 20.0)),
                                  ("oracle", "oracle", (50.0, 50.0))):
        for seed, c in enumerate(scores):
            d = base / label / f"seed{seed}"
            history = [{"step": s, "ciou": 40.0 + s / 10} for s in range(100, 1001, 100)]
            write_run(d, {"config_hash": "x", "method": method, "label": label, "seed": seed, "train": "flickr",
                          "primary_variant": "main", "variants": ["main"],
                          "tests": {"flickr": {"main": {"ciou": c, "auc": c}}}}, {
                "seed": seed, "best_val_step": 1000, "val_history": history,
                "config": {"train": "flickr", "label": label, "budget": {"steps": 1000} if method != "center" else None,
                           "method_config": {"lr": 1e-3}}})
    text = write_leaderboard(suite, tmp_path).read_text()
    report = text.split("## Training: convergence")[1].split("## Checks")[0]
    assert "100.00 ± 0.00 (2)" in report  # 0.1 CIoU per step = 100 per 1,000 steps
    assert "**Collapsed runs** (test CIoU below the centre floor): supervised seed 1 on flickr (20.0 < 30.0)" in text
    assert "Oracle on flickr: the in-domain ceiling" in text  # supervised's mean 40 < oracle 50
    assert val_slope([{"step": 900, "ciou": 1.0}, {"step": 1000, "ciou": 1.0}], 1000) is None  # too few points
    assert ("**Still rising when the budget ended** (validation slope over the last 20 % above 0 with 95 % "
            "confidence; a verdict against these is about the budget): supervised on flickr (+100.00 ± 0.00 CIoU per "
            "1,000 steps, best step 1000 / 1000), oracle on flickr") in text  # in the suite's order


def test_still_rising_needs_a_slope_above_zero_with_confidence():
    import pandas as pd

    from benchmark.leaderboard import still_rising

    frame = pd.DataFrame([{"train": "flickr", "label": label, "slope": s, "best": 900, "steps": 1000}
                          for label, slopes in (("up", (5.0, 6.0, 5.5)), ("noisy", (5.0, -4.0, 6.0)),
                                                ("flat", (0.0, 0.0)), ("one_seed", (10.0,)), ("none", (None, None)))
                          for s in slopes])
    assert list(still_rising(frame.groupby(["train", "label"]))) == [("flickr", "up")]


def test_a_control_takes_the_rate_tuned_for_the_row_it_varies(tmp_path, monkeypatch):
    """`lr_of`: the control is trained at the rate chosen for its source row, even when --methods leaves the
    source out (its grid runs are still made, its main runs are not)."""
    import benchmark.suites as suites
    from accelerate import Accelerator

    from benchmark.runner import run_dir, run_suite

    (tmp_path / "c.yaml").write_text(
        "suite: c\nversion: 1\nevaluations: [{name: flickr, train: flickr, test: flickr}]\n"
        "methods: [supervised, {name: supervised, as: sup_gmp, overrides: {nce_pool: gmp}, lr_of: supervised}]\n")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    suite = dataclasses.replace(suites.load_suite("c", "smoke", seeds=[1], only_methods=["sup_gmp"]),
                                lr_grid=(1e-3, 3e-4), tune_seeds=(0,))
    assert [e.label for e in suite.methods] == ["sup_gmp"] and "supervised" in suite.lr_sources
    results = tmp_path / "results"
    run_suite(suite, results, Accelerator(cpu=True), log=lambda *a: None)
    grid = run_dir(results, suite, "flickr", "supervised", 0).parent / "lr-grid"
    assert sorted(p.name for p in grid.iterdir()) == ["lr0.0003", "lr0.001"]
    assert not run_dir(results, suite, "flickr", "supervised", 1).exists()
    run = json.loads((run_dir(results, suite, "flickr", "sup_gmp", 1) / "run.json").read_text())
    assert run["lr_selection"]["from_label"] == "supervised"
    assert run["config"]["method_config"]["lr"] == run["lr_selection"]["chosen"]


def test_lr_of_must_name_a_tuned_label(tmp_path, monkeypatch):
    import benchmark.suites as suites

    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    head = "suite: c\nversion: 1\nevaluations: [{name: flickr, train: flickr, test: flickr}]\n"
    for methods_line in ("methods: [{name: supervised, as: s, lr_of: nope}]\n",
                         "methods: [{name: supervised, as: s, lr_of: s}]\n",
                         "methods: [supervised, {name: supervised, as: a, lr_of: supervised}, "
                         "{name: supervised, as: b, lr_of: a}]\n"):
        (tmp_path / "c.yaml").write_text(head + methods_line)
        with pytest.raises(suites.SuiteError, match="lr_of"):
            suites.load_suite("c", "smoke")


def test_claims_name_runs_below_the_floor_and_still_rising():
    import pandas as pd

    from benchmark.claims import claims_table

    rows = [{"evaluation": "e", "label": lab, "metric": "ciou", "primary": True, "seed": s, "value": v}
            for lab, vals in (("a", [60, 62, 61]), ("b", [10, 50, 12])) for s, v in enumerate(vals)]
    claims = [Claim("a", "b", "e")]
    table, _ = claims_table(pd.DataFrame(rows), claims, {("b", "e"): {0, 2}})
    assert table["Runs below the centre floor"].iloc[0] == "b on e: 2 of 3"
    assert table["Verdict"].iloc[0] == "not resolved"
    # counted among the paired seeds only: a seed that a lacks is not a paired run of b
    table, _ = claims_table(pd.DataFrame(rows[:2] + rows[3:]), claims, {("b", "e"): {0, 2}})
    assert table["Runs below the centre floor"].iloc[0] == "b on e: 1 of 2"
    # a resolved verdict against a side whose runs are below the floor says that it is about the setup
    rows = [{"evaluation": "e", "label": lab, "metric": "ciou", "primary": True, "seed": s, "value": base + s % k}
            for lab, base, k in (("a", 60, 2), ("b", 10, 3)) for s in range(5)]
    table, _ = claims_table(pd.DataFrame(rows), claims, {("b", "e"): {3}})
    assert table["Verdict"].iloc[0] == "supported (against runs below the centre floor: about the setup)"
    assert claims_table(pd.DataFrame(rows), claims, {("a", "e"): {3}})[0]["Verdict"].iloc[0] == "supported"
    assert "Runs below the centre floor" not in claims_table(pd.DataFrame(rows), claims)[0]  # unchecked: no column
    assert claims_table(pd.DataFrame(rows), claims, rising={"e": {"a"}})[0]["Still rising"].iloc[0] == "a on e"
    assert claims_table(pd.DataFrame(rows), claims, rising={"e": set()})[0]["Still rising"].iloc[0] == "none"


def test_a_method_with_its_papers_own_budget_trains_on_it_and_the_table_says_so(tmp_path):
    """Profile.method_budgets: only the named method's runs change budget (and identity); the trainer runs that
    many steps, the run records it, the leaderboard header names it (docs/protocol.md §3)."""
    from accelerate import Accelerator

    from benchmark.leaderboard import write_leaderboard
    from benchmark.runner import run_dir, run_suite
    from benchmark.suites import Budget, budget_of, load_suite

    paper = load_suite("table1", "paper")
    assert budget_of(paper, "fnac") == dataclasses.replace(paper.budget, steps=16860, global_batch_size=256)
    assert budget_of(paper, "xpl") is paper.budget  # the others' (and their runs' identities) unchanged

    shared = _smoke(seeds=[0])
    own = dataclasses.replace(shared.budget, steps=4, eval_every=2)
    suite = dataclasses.replace(shared, method_budgets={"supervised": Budget(**dataclasses.asdict(own))})
    run_suite(suite, tmp_path, Accelerator(cpu=True), log=lambda *a, **k: None)
    run = json.loads((run_dir(tmp_path, suite, "flickr", "supervised", 0) / "run.json").read_text())
    assert run["config"]["budget"]["steps"] == 4 and [h["step"] for h in run["val_history"]] == [2, 4]
    assert shared.budget.steps != 4
    text = write_leaderboard(suite, tmp_path).read_text()
    assert "except, on their papers' public budgets (docs/protocol.md §3): supervised 4 steps at global batch" in text


def test_method_budgets_are_checked(tmp_path, monkeypatch):
    import yaml

    import benchmark.suites as suites
    from methods.config import ConfigError

    profiles = yaml.safe_load(suites.PROFILES_PATH.read_text())
    profiles["typo"] = {**profiles["smoke"], "method_budgets": {"fnak": {"steps": 4}}}
    profiles["field"] = {**profiles["smoke"], "method_budgets": {"fnac": {"stepz": 4}}}
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    monkeypatch.setattr(suites, "PROFILES_PATH", tmp_path / "profiles.yaml")
    with pytest.raises(suites.SuiteError, match=r"profiles.yaml: typo: method_budgets: fnak: no method 'fnak'"):
        suites.load_suite("table1", "typo")
    with pytest.raises(ConfigError, match=r"method_budgets: fnac: unknown key\(s\) \['stepz'\]"):
        suites.load_suite("table1", "field")
