"""Verified result files (benchmark/verify.py): a finished run whose files were edited, deleted or truncated is
refused with one clear error naming the file; --validate reports it, --repair reruns it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import run_all
from benchmark.leaderboard import write_leaderboard
from benchmark.suites import load_suite
from benchmark.verify import DamagedRun
from tests.conftest import write_run

SMOKE = ["--suite", "table1", "--profile", "smoke", "--methods", "center", "--seeds", "0"]


def _board(tmp_path):
    """Two finished fake runs of one smoke label; returns (suite, the folder of seed 0)."""
    suite = load_suite("table1", "smoke", seeds=[0, 1], only_methods=["supervised"])
    base = tmp_path / "table1" / "runs" / "smoke" / "train-flickr" / "supervised"
    for seed in (0, 1):
        write_run(base / f"seed{seed}", {"config_hash": "x", "method": "supervised", "label": "supervised",
                                         "seed": seed, "train": "flickr", "primary_variant": "main",
                                         "variants": ["main"], "tests": {"flickr": {"main": {"ciou": 15.0,
                                                                                             "auc": 20.0}}}})
    write_leaderboard(suite, tmp_path)  # intact: accepted
    return suite, base / "seed0"


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def test_an_edited_number_in_metrics_json_is_refused_naming_the_file(tmp_path):
    suite, run = _board(tmp_path)
    _edit(run / "metrics.json", lambda m: m["tests"]["flickr"]["main"].update(ciou=99.0))
    with pytest.raises(DamagedRun, match=rf"{re.escape(str(run / 'metrics.json'))}: tests.flickr.main.ciou is 99.0 but "
                                         r"per_sample.jsonl gives 15.0"):
        write_leaderboard(suite, tmp_path)


@pytest.mark.parametrize("name", ["per_sample.jsonl", "run.json"])
def test_a_deleted_or_edited_run_file_is_refused(tmp_path, name):
    suite, run = _board(tmp_path)
    text = (run / name).read_text()
    (run / name).unlink()
    with pytest.raises(DamagedRun, match=rf"{re.escape(str(run / name))}: missing"):
        write_leaderboard(suite, tmp_path)
    (run / name).write_text(text + "\n")  # changed after the run finished (only a blank line added)
    with pytest.raises(DamagedRun, match=rf"{re.escape(str(run / name))}: sha256 .* is not the .* its metrics.json records"):
        write_leaderboard(suite, tmp_path)


def test_a_run_without_digests_is_refused(tmp_path):
    suite, run = _board(tmp_path)
    _edit(run / "metrics.json", lambda m: m.pop("files"))
    with pytest.raises(DamagedRun, match=rf"{re.escape(str(run / 'metrics.json'))}: records no file digests"):
        write_leaderboard(suite, tmp_path)


def test_truncated_metrics_json_is_one_error_line_and_validate_reports_it(tmp_path, capsys):
    args = [*SMOKE, "--results-dir", str(tmp_path)]
    assert run_all.main(args) == 0
    metrics = tmp_path / "table1" / "runs" / "smoke" / "train-flickr" / "center" / "seed0" / "metrics.json"
    metrics.write_text(metrics.read_text()[:100])
    capsys.readouterr()
    assert run_all.main(args) == 1  # no traceback: main returns
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: DamagedRun: {metrics}: not valid JSON")
    assert run_all.main([*args, "--validate"]) == 1
    out = capsys.readouterr().out
    assert f"damaged: {metrics}: not valid JSON" in out and "1 of 2 finished runs" in out and ": valid" not in out


def test_repair_reruns_a_run_from_before_the_digests(tmp_path, capsys):
    """A metrics.json without file digests (written before results were verified) is refused, and --repair trains
    that run again with the same numbers."""
    args = [*SMOKE, "--results-dir", str(tmp_path)]
    assert run_all.main(args) == 0
    run = tmp_path / "table1" / "runs" / "smoke" / "train-flickr" / "center" / "seed0"
    intact = json.loads((run / "metrics.json").read_text())
    _edit(run / "metrics.json", lambda m: m.pop("files"))
    capsys.readouterr()
    assert run_all.main([*args, "--validate"]) == 1 and "records no file digests" in capsys.readouterr().out
    assert run_all.main([*args, "--repair"]) == 0
    assert "done center train=flickr seed=0" in capsys.readouterr().out
    rebuilt = json.loads((run / "metrics.json").read_text())
    assert rebuilt.pop("files")["per_sample.jsonl"] == intact.pop("files")["per_sample.jsonl"]
    assert rebuilt == intact  # run.json differs only by its timings
    assert run_all.main([*args, "--validate"]) == 0


def test_repair_reruns_the_damaged_run(tmp_path, capsys):
    args = [*SMOKE, "--results-dir", str(tmp_path)]
    assert run_all.main(args) == 0
    run = tmp_path / "table1" / "runs" / "smoke" / "train-vggss" / "center" / "seed0"
    intact = json.loads((run / "metrics.json").read_text())
    _edit(run / "metrics.json", lambda m: m["tests"]["vggss"]["main"].update(auc=99.0))
    capsys.readouterr()
    assert run_all.main(args) == 1 and "tests.vggss.main.auc is 99.0" in capsys.readouterr().err
    assert run_all.main([*args, "--repair"]) == 0
    out = capsys.readouterr().out
    assert f"repair: {run / 'metrics.json'}: tests.vggss.main.auc is 99.0" in out
    assert "done center train=vggss seed=0" in out and "skip center train=flickr seed=0" in out  # only it reruns
    assert json.loads((run / "metrics.json").read_text())["tests"] == intact["tests"]
    assert run_all.main([*args, "--validate"]) == 0

