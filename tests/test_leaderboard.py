"""Leaderboard aggregation: mean ± std over seeds, missing runs shown as a dash, best in bold."""
from __future__ import annotations

from benchmark.io import write_json_atomic
from benchmark.leaderboard import write_leaderboard
from benchmark.suites import load_suite


def _fake_run(root, suite, train, label, method, seed, tests):
    path = root / suite.name / "runs" / suite.profile / f"train-{train}" / label / f"seed{seed}" / "metrics.json"
    write_json_atomic(path, {"config_hash": "x", "method": method, "label": label, "seed": seed, "train": train,
                             "primary_variant": "main", "variants": ["main"],
                             "tests": {t: {"main": {"ciou": c, "auc": a, "ciou_fixed0.5": c, "auc_fixed0.5": a}}
                                       for t, (c, a) in tests.items()}})


def test_mean_std_missing_and_bold(tmp_path):
    suite = load_suite("table1", "smoke", seeds=[0, 1], only_methods=["center", "supervised", "ezvsl"])
    for seed, c in ((0, 40.0), (1, 50.0)):
        _fake_run(tmp_path, suite, "flickr", "supervised", "supervised", seed, {"flickr": (c, 45.0)})
        _fake_run(tmp_path, suite, "flickr", "ezvsl", "ezvsl", seed, {"flickr": (10.0, 20.0)})
        _fake_run(tmp_path, suite, "flickr", "center", "center", seed, {"flickr": (60.0, 60.0)})
    text = write_leaderboard(suite, tmp_path).read_text()
    flickr = text.split("## Flickr-like, in-domain")[1].split("##")[0]
    assert "**45.00 ± 7.07 (2)**" in flickr  # mean ± sample std (ddof=1), best competitor bold
    assert "60.00 ± 0.00 (2)" in flickr and "**60.00" not in flickr  # a floor is never "best"
    assert "84.68" in flickr  # the paper's number beside ours
    vggss = text.split("## VGGSS-like, in-domain")[1].split("##")[0]
    assert "| supervised " in vggss and "—" in vggss and " 0.00 (" not in vggss  # missing runs: a dash, never 0
