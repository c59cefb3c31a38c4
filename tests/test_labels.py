"""The `labels` suite (docs/protocol.md §9): committed labeled-subset lists per budget and seed (what the tool
makes, nested, hashed), label-budget domains in the runner (rows, identity, folders), small labeled pools in the
trainer, the real-data path on a Flickr fixture, and a smoke run to the leaderboard and figure."""
from __future__ import annotations

import filecmp

import pytest
from accelerate import Accelerator

from benchmark import metadata
from benchmark.data.label_lists import draw_label_lists, load_label_list, make_real_label_lists, write_label_lists
from benchmark.data.splits import SplitError, load_split
from benchmark.data.synthetic import DOMAINS, SyntheticAdapter
from benchmark.runner import DomainCache, resolved_config, run_dir
from benchmark.suites import SuiteError, load_suite, training_domain
from benchmark.trainer import TrainContext, _Samplers, draw_batches
from methods.base import BatchPlan
from tests.conftest import make_method, set_up

SIZES = {"default": {"2pct": 55, "5pct": 138, "10pct": 275, "25pct": 688},  # of a pool of 250 + 2,500
         "smoke": {"2pct": 2, "5pct": 6, "10pct": 12, "25pct": 30}}  # of 24 + 96


def _pool(profile: str, domain: str) -> list[int]:
    return sorted(i for s in ("labeled", "unlabeled") for i in load_split("synthetic", profile, domain, s)[0])


def _same_tree(a, b) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not (cmp.left_only or cmp.right_only), (a, cmp.left_only, cmp.right_only)
    assert filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)[0] == sorted(cmp.common_files)
    for sub in cmp.common_dirs:
        _same_tree(a / sub, b / sub)


@pytest.mark.parametrize("profile", ["default", "smoke"])
def test_committed_lists_are_what_the_tool_makes(profile, tmp_path):
    """Files, manifest (hashes) and made.json, byte for byte; seeds: every profile using these lists."""
    seeds = {"default": [0, 1, 2, 3, 4], "smoke": [0, 1]}[profile]  # bench uses default's lists
    for domain in DOMAINS:
        committed = SyntheticAdapter().labels_dir(None, profile, domain)
        adapter = SyntheticAdapter()
        made = write_label_lists(tmp_path / domain, _pool(profile, domain), adapter.label_budgets, seeds,
                                 adapter.label_streams[domain],
                                 f"synthetic/{profile}/{domain} labeled + unlabeled split lists")
        _same_tree(committed, made)
        for seed in seeds:
            lists = {b: load_label_list(committed, b, seed)[0] for b in SIZES[profile]}  # verified hashes
            assert {b: len(ids) for b, ids in lists.items()} == SIZES[profile]
            order = list(SIZES[profile])
            for small, big in zip(order, order[1:]):  # nested within a seed
                assert set(lists[small]) < set(lists[big])
            assert {int(i) for i in lists["25pct"]} <= set(_pool(profile, domain))
        other = load_label_list(committed, "25pct", 1)[0]
        assert other != load_label_list(committed, "25pct", 0)[0]  # each seed its own draw


def test_lists_are_written_once_and_verified(tmp_path):
    pool = list(range(100))
    write_label_lists(tmp_path, pool, {"a": 0.1, "b": 0.5}, [0], 9, "test pool")
    write_label_lists(tmp_path, pool, {"a": 0.1, "b": 0.5}, [0, 1], 9, "test pool")  # a seed added
    assert load_label_list(tmp_path, "a", 1)[0] == [str(i) for i in draw_label_lists(pool, {"a": 0.1}, 1, 9)["a"]]
    with pytest.raises(SplitError, match="written once"):
        write_label_lists(tmp_path, pool[:-1], {"a": 0.1, "b": 0.5}, [0], 9, "test pool")
    with (tmp_path / "a" / "seed0.txt").open("a") as f:
        f.write("99\n")
    with pytest.raises(SplitError, match="seed0.txt: sha256"):
        load_label_list(tmp_path, "a", 0)
    with pytest.raises(SplitError, match="seed 7 or budget 'a' has no list"):
        load_label_list(tmp_path, "a", 7)


def test_budget_domains_split_the_pool(monkeypatch):
    suite = load_suite("labels", "smoke")
    domains = DomainCache(suite, Accelerator(cpu=True))
    base = domains("flickr")
    pool = set(base.rows["labeled"]) | set(base.rows["unlabeled"])
    for budget, n in SIZES["smoke"].items():
        for seed in (0, 1):
            d = domains(f"flickr@{budget}", seed)
            labeled, unlabeled = set(d.rows["labeled"]), set(d.rows["unlabeled"])
            ids, digest = load_label_list(SyntheticAdapter().labels_dir(suite.data, "smoke", "flickr"), budget, seed)
            assert d.rows["labeled"] == base.table.rows(ids) and len(labeled) == n
            assert not labeled & unlabeled and labeled | unlabeled == pool
            assert d.rows["val"] == base.rows["val"] and d.rows["test"] == base.rows["test"]
            assert d.hashes == {**base.hashes, "labels": f"{budget}/seed{seed}={digest}"}
    with pytest.raises(SplitError, match="seed 5 or budget"):
        domains("flickr@5pct", 5)


def test_identity_includes_the_list_hash_and_the_folder_the_budget(tmp_path):
    suite = load_suite("labels", "smoke")
    domains = DomainCache(suite, Accelerator(cpu=True))
    entry = next(e for e in suite.methods if e.label == "supervised")
    config = resolved_config(suite, entry, "flickr@5pct", ["flickr"], 0, domains)
    digest = load_label_list(SyntheticAdapter().labels_dir(suite.data, "smoke", "flickr"), "5pct", 0)[1]
    assert config["split_sha256"]["flickr@5pct"]["labels"] == f"5pct/seed0={digest}"
    assert config["split_sha256"]["flickr"] == domains("flickr").hashes  # the test domain: no budget
    hashes = {metadata.config_hash(resolved_config(suite, entry, f"flickr@{b}", ["flickr"], s, domains))
              for b in ("5pct", "10pct") for s in (0, 1)}
    assert len(hashes) == 4  # another list (budget or seed) is another run
    assert run_dir(tmp_path, suite, "flickr@5pct", "supervised", 0) == \
        tmp_path / "labels/runs/smoke/train-flickr-labels-5pct/supervised/seed0"
    # budget-free rows train once, on the domain without a budget
    assert training_domain("oracle", "flickr@5pct") == "flickr" and training_domain("center", "vggss@2pct") == "vggss"
    assert training_domain("xpl", "flickr@5pct") == "flickr@5pct" and training_domain("xpl", "flickr") == "flickr"


def test_suite_checks_budgets(tmp_path, monkeypatch):
    import benchmark.suites as suites

    (tmp_path / "b.yaml").write_text("suite: b\nversion: 1\nmethods: [center]\nevaluations: [{name: o, "
                                     "train: 'vggss:heard', test: vggss}]\nlabel_budgets: {synthetic: [5pct]}\n")
    (tmp_path / "c.yaml").write_text("suite: c\nversion: 1\nmethods: [center]\nevaluations: [{name: o, "
                                     "train: 'vggss@5pct', test: vggss}]\n")
    (tmp_path / "d.yaml").write_text("suite: d\nversion: 1\nmethods: [center]\nevaluations: [{name: o, "
                                     "train: vggss, test: vggss}]\nlabel_budgets: {synthetic: [5pct, 3pct]}\n")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    with pytest.raises(SuiteError, match="without a class subset"):
        load_suite("b", "smoke")
    with pytest.raises(SuiteError, match="comes from `label_budgets`"):
        load_suite("c", "smoke")
    with pytest.raises(SuiteError, match=r"dataset 'synthetic' has no budget \['3pct'\]"):  # the adapter's
        load_suite("d", "smoke")
    monkeypatch.undo()
    with pytest.raises(SuiteError, match="seed 9 or budget"):
        suites.validate_suite(load_suite("labels", "smoke", seeds=[9]))
    report = suites.validate_suite(load_suite("labels", "bench"))  # bench: default's lists, seeds 0-4
    assert "labels vggss@25pct seed 4: 688 ids" in "\n".join(report)


def test_small_labeled_pool_is_drawn_once(smoke_suite, accelerator):
    """2 labeled samples for a labeled share of 8: each once per step, a batch of 2 (no repeat)."""
    suite = load_suite("labels", "smoke")
    data = DomainCache(suite, accelerator)("flickr@2pct", 0)
    m = make_method("supervised", smoke_suite)
    ctx = TrainContext(m, data, set_up(m, data, 10, accelerator=accelerator))
    lb, ulb = draw_batches(m, ctx, _Samplers(0), 3)
    assert ulb is None and sorted(lb["index"].tolist()) == sorted(data.rows["labeled"])
    m = make_method("hard_pl", smoke_suite)
    ctx = TrainContext(m, data, set_up(m, data, 10, accelerator=accelerator))
    assert ctx.run.labeled_rows == tuple(data.rows["labeled"]) and ctx.run.unlabeled_rows == tuple(data.rows["unlabeled"])
    m.batch_plan = lambda step: BatchPlan(labeled=4, unlabeled=4)
    lb, ulb = draw_batches(m, ctx, _Samplers(0), 3)
    assert lb["index"].shape[0] == 2 and ulb["index"].shape[0] == 4 and ctx.shortfall == []


def test_real_flickr_label_lists_on_a_fixture(tmp_path):
    """The real-data path: Flickr's annotated training pool (ROOT/Annotations minus val and test), lists drawn
    and written beside the split lists, a prepared store's domain at a budget."""
    from benchmark.data.domains import load_real_domain, with_label_budget
    from benchmark.data.export import export_flickr, flickr_key
    from benchmark.data.flickr import make_flickr_splits
    from benchmark.prepare import prepare

    root, splits = tmp_path / "flickr", tmp_path / "splits"
    export_flickr(root, range(14), annotated=range(12), test=[0], image_size=32, clip_seconds=1.0)
    made = make_flickr_splits(root, splits, sizes={"labeled": 3, "val": 2})
    assert made["annotated"] == 12
    with pytest.raises(SplitError, match="need --root"):
        make_real_label_lists("flickr", None, [0], splits)
    budgets = {"two": 2, "five": 5, "all": None}
    make_real_label_lists("flickr", root, [0, 1], splits, budgets=budgets)
    val, test = (load_split_real(splits, s) for s in ("val", "test"))
    pool = {flickr_key(i) for i in range(12)} - set(val) - set(test)  # 12 annotated - 1 test - 2 val
    lists = {b: load_label_list(splits / "labels", b, 0)[0] for b in budgets}
    assert [len(v) for v in lists.values()] == [2, 5, 9] and set(lists["all"]) == pool
    assert set(lists["two"]) < set(lists["five"])
    store = prepare("flickr", root, out=tmp_path / "stores", image_size=32, workers=1, log=lambda *_: None)
    base = load_real_domain("flickr", store, splits_dir=splits)
    d = with_label_budget(base, None, "paper", "five", 1, base=splits / "labels")
    keys = {s: {d.table.keys[r] for r in rows} for s, rows in d.rows.items()}
    assert keys["labeled"] == set(load_label_list(splits / "labels", "five", 1)[0])
    assert not keys["labeled"] & keys["unlabeled"] and d.rows["test"] == base.rows["test"]
    assert keys["unlabeled"] == {base.table.keys[r] for r in base.rows["labeled"] + base.rows["unlabeled"]} \
        - keys["labeled"]


def load_split_real(base, name):
    from benchmark.data.real_splits import load_real_split

    return load_real_split("flickr", name, base)[0]


def test_smoke_suite_end_to_end(tmp_path, capsys):
    import run_all

    out = tmp_path / "results"
    assert run_all.main(["--suite", "labels", "--profile", "smoke", "--methods", "center,supervised,oracle",
                         "--seeds", "0", "--results-dir", str(out)]) == 0
    runs = out / "labels" / "runs" / "smoke"
    assert (runs / "train-flickr-labels-2pct" / "supervised" / "seed0" / "metrics.json").exists()
    assert sorted(p.name for p in (runs / "train-flickr").iterdir() if p.is_dir()) == ["center", "oracle"]
    assert not (runs / "train-flickr-labels-2pct" / "oracle").exists()
    board = (out / "labels" / "leaderboard.smoke.md").read_text()
    assert "## Flickr-like, in-domain: CIoU by label budget" in board and "| 2pct (2 labels)" in board
    assert (out / "labels" / "figures" / "ciou_vs_labels.smoke.png").stat().st_size
    # the table is the whole suite's: the methods and seeds not run are listed as missing, not left out
    assert "Incomplete: 24 of 96" in board and "Missing: center seed 1 on flickr@2pct, supervised seed 1" in board
    assert "- Seeds: [0, 1];" in board
    assert not (out / "labels" / "claims.smoke.md").exists()  # the paper claims nothing about label amounts
    # rerun: every run is skipped, the budget-free ones once
    capsys.readouterr()
    assert run_all.main(["--suite", "labels", "--profile", "smoke", "--methods", "center,supervised,oracle",
                         "--seeds", "0", "--results-dir", str(out)]) == 0
    log = capsys.readouterr().out
    assert "done " not in log and log.count("skip oracle train=flickr seed=0") == 1
    assert log.count("skip supervised train=flickr@") == 4


def test_gain_table_pairs_each_method_with_supervised_within_seed():
    import pandas as pd

    from benchmark.leaderboard import budget_gain_table, budget_groups
    from benchmark.suite_results import COLUMNS

    suite = load_suite("labels", "smoke")
    evs = budget_groups(suite)["flickr"]
    values = {("supervised", 0): 50.0, ("supervised", 1): 60.0, ("supervised", 2): 70.0,
              ("xpl", 0): 52.0, ("xpl", 1): 63.0}  # xpl's seed 2 missing: pairs use seeds 0 and 1 only
    long = pd.DataFrame([{"evaluation": evs[0].name, "label": m, "method": m, "variant": "a", "primary": True,
                          "seed": s, "metric": "ciou", "value": v} for (m, s), v in values.items()], columns=COLUMNS)
    table = budget_gain_table(suite, long, evs, "supervised")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:]}
    assert set(rows) == {"hard_pl", "attention10k_ssl", "xpl"}  # no oracle, floor or reference row
    assert rows["xpl"][0] == "+2.50 ± 6.35 (2)"  # diffs 2, 3: t(0.975, 1) = 12.706 x 0.5
    assert rows["xpl"][1:] == ["—"] * 3 and rows["hard_pl"] == ["—"] * 4


def test_versus_table_pairs_xpl_with_each_other_method_within_seed():
    import pandas as pd

    from benchmark.leaderboard import budget_groups, budget_versus_table
    from benchmark.suite_results import COLUMNS

    suite = load_suite("labels", "smoke")
    evs = budget_groups(suite)["flickr"]
    values = {("hard_pl", 0): 60.0, ("hard_pl", 1): 70.0, ("hard_pl", 2): 80.0,
              ("xpl", 0): 58.0, ("xpl", 1): 67.0, ("xpl", 2): 79.0, ("supervised", 0): 10.0}
    long = pd.DataFrame([{"evaluation": evs[1].name, "label": m, "method": m, "variant": "a", "primary": True,
                          "seed": s, "metric": "ciou", "value": v} for (m, s), v in values.items()], columns=COLUMNS)
    table = budget_versus_table(suite, long, evs, "xpl", skip=("supervised",))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:]}
    assert set(rows) == {"xpl − hard_pl", "xpl − attention10k_ssl"}  # no self, skipped, oracle or floor row
    assert rows["xpl − hard_pl"][1] == "-2.00 ± 2.48 (3)"  # diffs -2, -3, -1: t(0.975, 2) = 4.303 x 1/sqrt(3)
    assert rows["xpl − hard_pl"][0] == "—" and rows["xpl − attention10k_ssl"] == ["—"] * 4
