"""run_all on the smoke profile: validation errors, a full run, skip on rerun, the leaderboard."""
from __future__ import annotations

import json

import pytest

import run_all
from benchmark.data.splits import SplitError, load_split, split_dir
from benchmark.suites import SuiteError, load_suite


def test_unknown_suite_and_method_and_profile(capsys):
    assert run_all.main(["--suite", "tabel1", "--validate"]) == 2
    assert "Did you mean 'table1'" in capsys.readouterr().err
    assert run_all.main(["--suite", "table1", "--methods", "xyz", "--validate"]) == 2
    assert "xyz" in capsys.readouterr().err
    with pytest.raises(SuiteError, match="Unknown profile"):
        load_suite("table1", "huge")


def test_validate_reports_splits(capsys):
    assert run_all.main(["--suite", "table1", "--profile", "smoke", "--validate"]) == 0
    out = capsys.readouterr().out
    assert "split synthetic/smoke/flickr/labeled: 24 ids" in out and "valid" in out


def test_every_suite_validates(capsys):
    assert run_all.main(["--suite", "all", "--profile", "smoke", "--validate"]) == 0
    out = capsys.readouterr().out
    for name in ("table1", "ablation", "beta", "openset", "stability"):
        assert f"suite {name} (smoke): valid" in out
    assert "note: paper row" not in out  # every paper row has a method of that label


def test_ablation_overrides_reach_the_config():
    from benchmark.suites import method_overrides
    from methods.base import load_method_config
    import methods

    suite = load_suite("ablation", "smoke")
    xpl = methods.get_method("xpl")
    cfgs = {e.label: load_method_config(xpl, method_overrides(suite, e)) for e in suite.methods if e.name == "xpl"}
    assert not cfgs["without-pl-ema"].pl_ema and cfgs["xpl"].pl_ema
    assert not cfgs["without-cross-refine"].cross_refine and not cfgs["without-data-selection"].data_selection
    assert cfgs["xpl"].lr == 1e-3  # the profile's optimiser override applies to every entry alike


def test_suite_with_unknown_key_is_refused(tmp_path, monkeypatch):
    import benchmark.suites as suites

    bad = tmp_path / "bad.yaml"
    bad.write_text("suite: bad\nversion: 1\nmethods: [center]\nevaluations: []\nbudgett: {}\n")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    with pytest.raises(SuiteError, match=r"bad.yaml: unknown key\(s\) \['budgett'\]"):
        load_suite("bad", "smoke")


def test_edited_split_list_is_caught(tmp_path, monkeypatch):
    import benchmark.data.splits as splits

    src = split_dir("synthetic", "smoke")
    dst = tmp_path / "synthetic" / "splits" / "smoke"
    for f in src.rglob("*"):
        if f.is_file():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dst / f.relative_to(src)).write_bytes(f.read_bytes())
    monkeypatch.setattr(splits, "DATASETS_DIR", tmp_path)
    load_split("synthetic", "smoke", "flickr", "val")
    (dst / "flickr" / "val.txt").write_text("1\n2\n")
    with pytest.raises(SplitError, match="val.txt: sha256 .* differs"):
        load_split("synthetic", "smoke", "flickr", "val")


def test_smoke_suite_end_to_end(tmp_path, capsys):
    args = ["--suite", "table1", "--profile", "smoke", "--results-dir", str(tmp_path),
            "--methods", "center,random,supervised,ezvsl", "--seeds", "0,1"]
    assert run_all.main(args) == 0
    board = (tmp_path / "table1" / "leaderboard.smoke.md").read_text()
    assert "not comparable" in board and "## Cross-dataset" in board
    assert "supervised" in board and "84.68" in board  # paper number beside ours
    assert "ezvsl [ogl]" not in board  # OGL needs a frozen pretrained object model: none on synthetic data
    # the table is the whole suite's, so a run of some methods never replaces a published table with theirs:
    # the others are rows without numbers, listed as missing
    assert "| oracle *(reference)*" in board and "xpl seed 0 on flickr" in board.split("Missing:")[1]
    figures = tmp_path / "table1" / "figures"
    assert (figures / "overlays-cross.smoke.png").stat().st_size > 1000 and (figures / "stability-flickr.smoke.png").exists()
    assert "![overlays cross](figures/overlays-cross.smoke.png)" in board
    run = tmp_path / "table1" / "runs" / "smoke" / "train-vggss" / "supervised" / "seed1"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["tests"]) == {"vggss", "flickr"}  # the cross-dataset test shares the vggss training
    meta = json.loads((run / "run.json").read_text())
    assert meta["config_hash"] == metrics["config_hash"] and meta["seed"] == 1
    assert meta["config"]["split_sha256"]["flickr"]["test"] and meta["versions"]["torch"]
    lines = (run / "per_sample.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 32  # two test sets of 32, one variant

    assert not (run / "ckpt").exists()  # a finished run keeps no resume state
    assert (run / "best_model.pt").exists()  # ... but its best-on-val weights
    previews = json.loads((run / "previews.json").read_text())
    assert len(previews["flickr"]["sample_ids"]) == 6 and len(previews["flickr"]["maps"]["main"][0]) == 8 * 8

    capsys.readouterr()
    assert run_all.main(args) == 0  # a finished suite is skipped, not rerun
    assert capsys.readouterr().out.count("skip ") == 4 * 2 * 2


def test_changed_config_reruns_and_drops_stale_checkpoints(tmp_path, capsys):
    args = ["--suite", "table1", "--profile", "smoke", "--results-dir", str(tmp_path),
            "--methods", "supervised", "--seeds", "0"]
    assert run_all.main(args) == 0
    run = tmp_path / "table1" / "runs" / "smoke" / "train-flickr" / "supervised" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["config_hash"] = "an older config"
    (run / "metrics.json").write_text(json.dumps(metrics))
    stale = run / "ckpt" / "step_00000003"
    stale.mkdir(parents=True)
    (stale / "COMPLETE").touch()
    (stale / "meta.json").write_text(json.dumps({"config_hash": "an older config", "num_processes": 1, "step": 3}))
    capsys.readouterr()
    assert run_all.main(args) == 0
    assert "config changed" in capsys.readouterr().out
    assert json.loads((run / "metrics.json").read_text())["config_hash"] != "an older config"


def test_openset_trains_on_heard_and_tests_on_unheard(tmp_path):
    from benchmark.data import synthetic

    args = ["--suite", "openset", "--profile", "smoke", "--results-dir", str(tmp_path),
            "--methods", "hard_pl", "--seeds", "0"]
    assert run_all.main(args) == 0
    run = tmp_path / "openset" / "runs" / "smoke" / "train-vggss-heard" / "hard_pl" / "seed0"
    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["split_sha256"]["vggss:heard"]["classes"].startswith("heard=")
    per_sample = [json.loads(line) for line in (run / "per_sample.jsonl").read_text().splitlines()]
    ids = {r["sample_id"] for r in per_sample}
    assert ids and all(synthetic.sounding_class("vggss", i) in synthetic.UNHEARD_CLASSES for i in ids)
    # figures find runs whose training domain is a class subset (its folder name has no colon)
    assert (tmp_path / "openset" / "figures" / "overlays-openset.smoke.png").exists()
    assert "figures/overlays-openset.smoke.png" in (tmp_path / "openset" / "leaderboard.smoke.md").read_text()
