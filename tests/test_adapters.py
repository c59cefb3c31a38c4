"""Dataset adapters: every registered adapter provides what the callers use (benchmark/data/adapters.py), and
the typed config files (suites, profiles, method configs with `include`) refuse bad keys naming file and key."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import methods
from benchmark.data import flickr, synthetic, vggss
from benchmark.data.adapters import DATA, Adapter, RealAdapter, adapter_for, get_adapter, list_adapters
from benchmark.suites import load_profile, load_suite
from methods.config import ConfigError, given

# what the callers ask of every adapter (runner, suites, domains, stores, leaderboard, score, perf, prepare)
METHODS = ("load", "split_lists", "restrict", "gt_map", "note", "labels_dir")
REAL_METHODS = ("read", "make_splits", "test_list", "label_pool")


@pytest.mark.parametrize("name", list_adapters())
def test_adapter_provides_what_callers_use(name):
    adapter = get_adapter(name)
    assert isinstance(adapter, Adapter) and adapter.name == name and adapter.title
    assert adapter.card.is_file(), "every dataset has a card: datasets/<name>/README.md"
    assert adapter.source in DATA and adapter.domains and isinstance(adapter.generated, bool)
    assert load_profile(adapter.default_profile).data.source == adapter.source
    assert set(adapter.class_subsets) <= {"heard", "unheard"}
    for method in METHODS + (REAL_METHODS if isinstance(adapter, RealAdapter) else ()):
        assert callable(getattr(adapter, method, None)), f"{name} lacks {method}"
    if isinstance(adapter, RealAdapter):
        assert adapter.domains == (name,)
    data = load_profile(adapter.default_profile).data  # the label-budget lists' folder (docs/protocol.md §9)
    for d in adapter.domains:
        where = adapter.labels_dir(data, adapter.default_profile, d)
        assert where.is_relative_to(adapter.card.parent / "splits") and "labels" in where.parts
    assert adapter.note(load_profile(adapter.default_profile).data)


@pytest.mark.parametrize("name", list_adapters())
def test_declared_features_hold(name):
    """Label budgets with a stream per domain that no other list uses, negatives it can make, a bool for
    pretraining: what the labels suite, the negatives suite and benchmark.pretrain ask of the adapter."""
    adapter = get_adapter(name)
    for budget, spec in adapter.label_budgets.items():
        assert spec is None or (type(spec) is float and 0 < spec <= 1) or (type(spec) is int and spec > 0), budget
    assert set(adapter.label_streams) == (set(adapter.domains) if adapter.label_budgets else set())
    others = [s for n in list_adapters() if n != name for s in get_adapter(n).label_streams.values()]
    split_streams = {*range(len(synthetic.DOMAINS)), flickr.SPLIT_STREAM, vggss.SPLIT_STREAM}
    assert not set(adapter.label_streams.values()) & (set(others) | split_streams)
    assert adapter.negatives in (None, "generated", "slavc") and isinstance(adapter.class_pretraining, bool)
    if adapter.negatives == "slavc":
        assert (adapter.card.parent / "splits" / "test_plus_silent.csv").is_file()
    if adapter.negatives == "generated" or adapter.class_pretraining:
        assert adapter.generated, "only the generator makes negative audio and class-labelled images"


def test_a_missing_feature_names_the_dataset(monkeypatch, capsys):
    from benchmark import pretrain
    from benchmark.data.flickr import Flickr
    from benchmark.data.label_lists import make_real_label_lists
    from benchmark.data.negative_pairs import negative_pairs

    monkeypatch.setattr(Flickr, "label_budgets", {})
    monkeypatch.setattr(Flickr, "negatives", None)
    with pytest.raises(ConfigError, match=r"dataset 'flickr' \(Flickr-SoundNet\) has no label budgets"):
        make_real_label_lists("flickr")
    with pytest.raises(ConfigError, match="dataset 'flickr' .* has no negative pairs"):
        negative_pairs(SimpleNamespace(name="flickr", dataset="flickr"), None)
    with pytest.raises(ConfigError, match="dataset 'flickr' .* has no label budgets"):
        load_suite("labels", "paper")
    assert pretrain.main(["--profile", "paper", "--out", "unused.safetensors"]) == 2
    assert "dataset 'flickr' (Flickr-SoundNet) has no class-pretraining images" in capsys.readouterr().err


@pytest.mark.parametrize("name", list_adapters())
def test_gt_rule_marks_the_box(name):
    adapter = get_adapter(name)
    box = (2.0, 2.0, 6.0, 6.0)
    for domain in adapter.domains:
        gt = adapter.gt_map(domain, [[box]] * 3, 8, box_scale=8.0)
        assert gt.shape == (8, 8) and float(gt[3, 3]) == 1.0 and float(gt[0, 0]) == 0.0 and gt.max() <= 1


def test_domains_find_their_adapter():
    synthetic, real = load_profile("smoke").data, load_profile("paper").data
    assert adapter_for(synthetic, "vggss:heard").name == "synthetic"
    assert adapter_for(real, "flickr").name == "flickr" and adapter_for(real, "vggss:unheard").name == "vggss"
    assert adapter_for(real, "flickr@1k").name == "flickr" and adapter_for(synthetic, "vggss@5pct").name == "synthetic"
    with pytest.raises(ConfigError, match="Flickr-SoundNet has no class subset 'heard'"):
        adapter_for(real, "flickr").check_subset("flickr:heard")
    with pytest.raises(ConfigError, match="unknown dataset 'is3'"):
        adapter_for(real, "is3")


def test_synthetic_split_lists_load():
    data = load_profile("smoke").data
    lists = get_adapter("synthetic").split_lists(data, "smoke", "flickr")
    assert [name for name, _ in lists][0] == "synthetic/smoke/flickr/labeled"
    assert all(len(load()[0]) > 0 for _, load in lists)


def test_profile_data_and_budget_are_checked(tmp_path, monkeypatch):
    import yaml

    import benchmark.suites as suites

    profiles = yaml.safe_load(suites.PROFILES_PATH.read_text())
    bad = {"subset": {**profiles["smoke"], "data": {**profiles["smoke"]["data"], "subset": "10k"}},
           "source": {**profiles["smoke"], "data": {**profiles["smoke"]["data"], "source": "reel"}},
           "budget": {**profiles["smoke"], "budget": {**profiles["smoke"]["budget"], "steps": "six"}},
           "workers": {**profiles["smoke"], "loader_workers": -1}}
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setattr(suites, "PROFILES_PATH", tmp_path / "profiles.yaml")
    with pytest.raises(ConfigError, match=r"profiles.yaml: subset: key 'data': unknown key\(s\) \['subset'\]"):
        load_profile("subset")
    with pytest.raises(ConfigError, match="key 'source': 'reel' is not one of"):
        load_profile("source")
    with pytest.raises(ConfigError, match=r"key 'budget': key 'steps': expected int, got 'six'"):
        load_profile("budget")
    with pytest.raises(ConfigError, match=r"profiles.yaml: workers: loader_workers -1: expected 0 or more"):
        load_profile("workers")


def test_defaults_stay_out_of_the_identity():
    import yaml

    import benchmark.suites as suites

    suite = load_suite("table1", "bench")
    assert suite.budget.grad_clip == 10.0 and "grad_clip" not in given(suite.budget)  # a default, never set
    assert given(suite.data) == yaml.safe_load(suites.PROFILES_PATH.read_text())["bench"]["data"]


def test_method_config_include(tmp_path, monkeypatch):
    import methods.base as base

    sup = methods.get_method("supervised")
    (tmp_path / "supervised.yaml").write_text((base.CONFIG_DIR / "supervised.yaml").read_text())
    (tmp_path / "oracle.yaml").write_text("include: supervised.yaml\nlr: 3.0e-4\n")
    (tmp_path / "hard_pl.yaml").write_text("include: hard_pl.yaml\n")
    monkeypatch.setattr(base, "CONFIG_DIR", tmp_path)
    oracle = base.load_method_config(methods.get_method("oracle"))
    assert oracle.lr == 3.0e-4 and oracle.tau == base.load_method_config(sup).tau
    with pytest.raises(ConfigError, match="include cycle"):
        base.load_method_config(methods.get_method("hard_pl"))


def test_gt_rule_is_the_stores():
    from benchmark import metrics

    boxes = [[(1.0, 1.0, 4.0, 4.0)], [(2.0, 2.0, 5.0, 5.0)]]
    assert torch.equal(get_adapter("flickr").gt_map("flickr", boxes, 8), metrics.consensus_gt_map(boxes, 8))
    assert torch.equal(get_adapter("synthetic").gt_map("vggss", boxes, 8),
                       metrics.union_gt_map([b for a in boxes for b in a], 8))
