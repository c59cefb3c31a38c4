"""Verified result files (benchmark/verify.py): a finished run whose files were edited, deleted or truncated is
refused with one clear error naming the file; --validate reports it, --repair reruns it; the migration that adds
digests to older runs is idempotent and changes no number."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import run_all
from benchmark import migrate_results
from benchmark.leaderboard import write_leaderboard
from benchmark.suites import load_suite
from benchmark.verify import DamagedRun, UnverifiedRun, load_run
from tests.conftest import write_run

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "table1" / "runs" / "bench" / "train-flickr" / "supervised" / "seed0"
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


def test_a_run_without_digests_is_refused_naming_the_migration(tmp_path):
    suite, run = _board(tmp_path)
    _edit(run / "metrics.json", lambda m: m.pop("files"))
    with pytest.raises(UnverifiedRun, match=r"records no file digests.*python -m benchmark.migrate_results "
                                            rf"--results-dir {re.escape(str(tmp_path))}"):
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


def test_migration_adds_digests_once_and_changes_no_number(tmp_path, capsys):
    """On a committed run in the old format (no `files`), and beside a damaged one that it must leave alone."""
    run = tmp_path / "table1" / "runs" / "bench" / "train-flickr" / "supervised" / "seed0"
    shutil.copytree(COMMITTED, run)
    _edit(run / "metrics.json", lambda m: m.pop("files", None))
    old = json.loads((run / "metrics.json").read_text())
    damaged = run.parent / "seed1"
    shutil.copytree(run, damaged)
    _edit(damaged / "metrics.json", lambda m: m["tests"]["flickr"]["main"].update(ciou=99.0))
    damaged_bytes = (damaged / "metrics.json").read_bytes()

    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 1  # the damaged run is reported
    captured = capsys.readouterr()
    assert f"migrated: {run}" in captured.out and f"damaged: {damaged / 'metrics.json'}: tests.flickr.main.ciou" \
        in captured.err
    migrated = (run / "metrics.json").read_bytes()
    new = json.loads(migrated)
    assert {k: v for k, v in new.items() if k != "files"} == old  # every number as it was
    assert set(new["files"]) == {"per_sample.jsonl", "run.json"}
    metrics, _ = load_run(run)  # now verifies
    assert (damaged / "metrics.json").read_bytes() == damaged_bytes

    shutil.rmtree(damaged)
    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 0  # rerun: nothing left to do
    assert "1 verified" in capsys.readouterr().out
    assert (run / "metrics.json").read_bytes() == migrated


def test_migration_fixes_a_copy_an_older_runner_made_of_a_migrated_run(tmp_path, capsys):
    """Older code's copy_run (still running beside the migration) carries `files` over and rewrites run.json."""
    source = tmp_path / "table1" / "runs" / "bench" / "train-flickr" / "supervised" / "seed0"
    shutil.copytree(COMMITTED, source)
    _edit(source / "metrics.json", lambda m: m.pop("files", None))
    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 0
    copy = tmp_path / "ablation" / "runs" / "bench" / "train-flickr" / "xpl" / "seed0"
    shutil.copytree(source, copy)
    _edit(copy / "run.json", lambda r: r.update(copied_from=str(source)))
    with pytest.raises(DamagedRun, match="run.json: sha256"):
        load_run(copy)
    capsys.readouterr()
    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 0
    assert f"migrated: {copy}" in capsys.readouterr().out
    load_run(copy)
    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 0 and "2 verified" in capsys.readouterr().out


def _legacy(config: dict) -> dict:
    """`config` as the runner recorded it before model roles: the profile's whole model section, B under `b`."""
    section = load_suite(config["suite"], config["profile"]).model_spec
    return {**config, "model": {**{k: v for k, v in section.items() if k != "roles"}, "b": section["roles"]["b"]}}


@pytest.mark.parametrize("label", ["supervised", "xpl"])
def test_identity_migration_rewrites_every_record_once(tmp_path, capsys, label):
    """A run recorded before model roles (run.json, metrics.json, best_model.pt's record, a checkpoint) gets
    today's config and hash in each; the numbers stay; a second pass changes nothing."""
    import torch

    from benchmark.checkpoint import WEIGHTS_RECORD
    from benchmark.io import write_json_atomic
    from benchmark.metadata import config_hash
    from benchmark.verify import file_digests

    committed = COMMITTED.parent.parent / label / "seed0"
    run = tmp_path / committed.relative_to(REPO / "results")
    shutil.copytree(committed, run)
    today = json.loads((committed / "run.json").read_text())
    old = _legacy(today["config"])
    old_hash = config_hash(old)
    write_json_atomic(run / "run.json", {**today, "config": old, "config_hash": old_hash})
    _edit(run / "metrics.json", lambda m: m.update(config_hash=old_hash, files=file_digests(run)))
    torch.save({"a": {"w": torch.ones(1)}, WEIGHTS_RECORD: old}, run / "best_model.pt")
    (run / "ckpt" / "step_00000500").mkdir(parents=True)
    write_json_atomic(run / "ckpt" / "step_00000500" / "meta.json", {"config_hash": old_hash, "step": 500})
    unfinished = run.parent / "seed9"  # an interrupted run whose checkpoint records its config
    (unfinished / "ckpt" / "step_00000500").mkdir(parents=True)
    write_json_atomic(unfinished / "ckpt" / "step_00000500" / "meta.json",
                      {"config_hash": old_hash, "config": old, "step": 500})

    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 0
    assert f"migrated: {run}" in capsys.readouterr().out
    metrics, new = load_run(run)  # verifies: digests and numbers
    assert new["config"] == today["config"] and new["config_hash"] == metrics["config_hash"] == today["config_hash"]
    assert metrics["tests"] == json.loads((committed / "metrics.json").read_text())["tests"]
    assert torch.load(run / "best_model.pt", weights_only=True)[WEIGHTS_RECORD] == today["config"]
    for folder in (run, unfinished):
        meta = json.loads((folder / "ckpt" / "step_00000500" / "meta.json").read_text())
        assert meta == {"config_hash": today["config_hash"], "config": today["config"], "step": 500}
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 0  # idempotent
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files


def test_identity_migration_names_a_checkpoint_it_cannot_migrate(tmp_path, capsys):
    from benchmark.io import write_json_atomic

    ckpt = tmp_path / "table1" / "runs" / "bench" / "train-flickr" / "xpl" / "seed0" / "ckpt" / "step_00000500"
    ckpt.mkdir(parents=True)
    write_json_atomic(ckpt / "meta.json", {"config_hash": "old", "step": 500})
    assert migrate_results.main(["--results-dir", str(tmp_path)]) == 1
    assert f"{ckpt / 'meta.json'}: records no config to migrate; delete {ckpt.parent}" in capsys.readouterr().err
