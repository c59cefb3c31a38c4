"""benchmark.score: a prediction file scores exactly what the runner records; bad files are clear errors."""
import json
import re

import numpy as np
import pytest
import torch

from benchmark import localize, score
from benchmark.predictions import read_predictions, split_ids, write_predictions
from tests.conftest import make_method

SMOKE = ["--dataset", "synthetic", "--domain", "flickr", "--profile", "smoke"]


@pytest.fixture(scope="module")
def center_file(tmp_path_factory, smoke_domains):
    path = tmp_path_factory.mktemp("preds") / "center.npz"
    argv = ["--method", "center", "--profile", "smoke", "--export-predictions", str(path), "--domain", "flickr"]
    assert localize.main(argv) == 0
    return path


def _score(tmp_path, preds, *extra):
    out = tmp_path / "scores.json"
    rc = score.main(["--predictions", str(preds), *SMOKE, "--out", str(out), *extra])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


def test_center_floor_scores_what_the_runner_records(center_file, smoke_suite, smoke_domains, accelerator, tmp_path):
    from benchmark.evaluate import evaluate_tests

    method = make_method("center", smoke_suite)
    data = smoke_domains["flickr"]
    numbers, _, _ = evaluate_tests(method, {"flickr": data}, accelerator, smoke_suite.budget.eval_batch_size)
    runner = numbers["flickr"]["main"]  # what metrics.json holds
    rc, got = _score(tmp_path, center_file, "--protocol", "all")
    assert rc == 0
    ez, fixed = got["protocols"]["ezvsl"], got["protocols"]["fixed0.5"]
    assert (ez["ciou"], ez["auc"], ez["n"]) == (runner["ciou"], runner["auc"], runner["n"])
    assert (fixed["ciou"], fixed["auc"]) == (runner["ciou_fixed0.5"], runner["auc_fixed0.5"])
    assert ez["ciou_mean"] == runner["ciou_mean"] and ez["ciou_large"] == runner["ciou_large"]
    assert got["n_scored"] == got["n_test"] == len(data.rows["test"]) == 32 and got["missing"] == []
    assert set(got["protocols"]) == {"ezvsl", "ssltie", "fixed0.5", "slavc", "ezvsl_val", "gt_area"}


def test_file_order_and_dtype_do_not_matter(center_file, tmp_path):
    ids, maps = read_predictions(center_file)
    perm = np.random.default_rng(0).permutation(len(ids))
    shuffled = tmp_path / "shuffled.npz"
    write_predictions(shuffled, [ids[i] for i in perm], maps[perm].astype(np.float64))
    assert _score(tmp_path / "a", center_file)[1]["protocols"] == _score(tmp_path / "b", shuffled)[1]["protocols"]


def test_sample_ids_are_the_split_list_ids(center_file, smoke_domains):
    from benchmark.data.splits import load_split

    ids, maps = read_predictions(center_file)
    assert ids == split_ids(smoke_domains["flickr"])
    assert ids == [str(i) for i in load_split("synthetic", "smoke", "flickr", "test")[0]]  # the committed list
    assert maps.shape == (32, 8, 8) and maps.dtype == np.float32


def test_allow_missing_scores_the_rest(center_file, smoke_domains, tmp_path):
    from benchmark import metrics

    ids, maps = read_predictions(center_file)
    part = tmp_path / "part.npz"
    write_predictions(part, ids[5:], maps[5:])
    rc, _ = _score(tmp_path / "strict", part)
    assert rc == 2
    rc, got = _score(tmp_path / "lenient", part, "--allow-missing")
    assert rc == 0 and got["missing"] == ids[:5] and got["n_scored"] == 27
    data = smoke_domains["flickr"]
    want = metrics.evaluate(maps[5:], data.table.get(data.rows["test"][5:])["gt"])
    assert got["protocols"]["ezvsl"]["ciou"] == want["ciou"] and got["protocols"]["ezvsl"]["auc"] == want["auc"]


def _bad_files(ids, maps):
    nan = maps.copy()
    nan[3, 0, 0] = np.nan
    inf = maps.copy()
    inf[4, 1, 1] = np.inf
    return {
        "not in the test set: 99999, x": (ids[:-2] + ["99999", "x"], maps),
        "have no map": (ids[1:], maps[1:]),
        f"duplicate sample ids: {ids[0]}": (ids[:-1] + [ids[0]], maps),
        f"NaN or Inf in the maps of {ids[3]}": (ids, nan),
        f"NaN or Inf in the maps of {ids[4]}": (ids, inf),
        r"maps must be a real-valued \(N, h, w\) array": (ids, maps[:, None]),
        "32 maps for 31 sample ids": (ids[:-1], maps),
    }


@pytest.mark.parametrize("case", range(7))
def test_bad_prediction_files_fail_clearly(center_file, tmp_path, capsys, case):
    ids, maps = read_predictions(center_file)
    message, (bad_ids, bad_maps) = list(_bad_files(ids, maps).items())[case]
    path = tmp_path / "bad.npz"
    np.savez(path, sample_ids=np.asarray(bad_ids, dtype=str), maps=bad_maps)
    rc, written = _score(tmp_path, path)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and written is None
    assert len(err) == 1 and err[0].startswith(f"error: {path}: ")
    assert re.search(message, err[0]), err[0]


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),                      # no such file
    (b"not a zip file", "cannot read"),
    ("no_maps", "no array maps"),
])
def test_unreadable_files_fail_clearly(tmp_path, capsys, content, message):
    path = tmp_path / "p.npz"
    if content == "no_maps":
        np.savez(path, sample_ids=np.array(["1"]))
    elif content is not None:
        path.write_bytes(content)
    rc, written = _score(tmp_path, path)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and written is None and len(err) == 1
    assert err[0].startswith(f"error: {path}: ") and message in err[0]


def test_unknown_protocol_and_dataset_mismatch(center_file, tmp_path, capsys):
    assert _score(tmp_path, center_file, "--protocol", "lvs")[0] == 2
    assert "unknown protocol 'lvs'" in capsys.readouterr().err
    rc = score.main(["--predictions", str(center_file), "--dataset", "vggss", "--profile", "smoke"])
    assert rc == 2 and "profile 'smoke' is for synthetic data" in capsys.readouterr().err


def test_a_trained_runs_exported_maps_score_its_metrics_json(tmp_path, smoke_suite, accelerator):
    from benchmark.runner import DomainCache, run_one
    from benchmark.suites import MethodEntry

    numbers = run_one(smoke_suite, MethodEntry("supervised", "supervised"), "flickr", ["flickr"], 0, tmp_path,
                      accelerator, DomainCache(smoke_suite, accelerator), log=lambda *a: None)
    recorded = json.loads(next(tmp_path.glob("**/seed0/metrics.json")).read_text())["tests"]["flickr"]["main"]
    assert recorded == numbers["tests"]["flickr"]["main"]
    preds = tmp_path / "supervised.npz"
    checkpoint = next(tmp_path.glob("**/seed0/best_model.pt"))
    assert localize.main(["--method", "supervised", "--checkpoint", str(checkpoint),
                          "--export-predictions", str(preds)]) == 0  # the run's test set, from its run.json
    rc, got = _score(tmp_path, preds, "--protocol", "all")
    ez, fixed = got["protocols"]["ezvsl"], got["protocols"]["fixed0.5"]
    assert rc == 0 and ez["n"] == recorded["n"] == 32
    assert (ez["ciou"], ez["auc"], ez["ciou_mean"]) == (recorded["ciou"], recorded["auc"], recorded["ciou_mean"])
    assert (fixed["ciou"], fixed["auc"]) == (recorded["ciou_fixed0.5"], recorded["auc_fixed0.5"])


def test_center_floor_file_scores_the_committed_bench_floor(tmp_path):
    """The committed table1 `center` run (bench profile, Flickr-like: 27.40 CIoU / 44.95 AUC) from a prediction
    file: its map for every id of the run's test list, scored as `benchmark.score` does against a store of those
    samples alone (bench's whole store, 3,500 samples, is slower to build)."""
    from pathlib import Path

    from benchmark.data.domains import DomainData
    from benchmark.data.splits import load_split
    from benchmark.data.store import SampleTable, build_synthetic_store
    from benchmark.runner import build_method
    from benchmark.suites import load_profile

    run = Path(__file__).resolve().parents[1] / "results/table1/runs/bench/train-flickr/center/seed0"
    committed = json.loads((run / "metrics.json").read_text())["tests"]["flickr"]["main"]
    config = json.loads((run / "run.json").read_text())["config"]
    data = load_profile("bench").data
    ids, digest = load_split("synthetic", data.splits, "flickr", "test")
    assert digest == config["split_sha256"]["flickr"]["test"]  # the list the run was tested on
    table = SampleTable(build_synthetic_store(tmp_path / "store", "flickr", data, ids))
    maps = build_method(config).localize({"image": torch.zeros(len(ids), 1)})
    preds = tmp_path / "center.npz"
    write_predictions(preds, [str(i) for i in ids], maps.numpy())
    test_set = DomainData("synthetic", "flickr", table, {"test": table.rows(ids)})
    got = score.score_predictions(preds, *read_predictions(preds), test_set, ["ezvsl", "fixed0.5"])
    ez, fixed = got["protocols"]["ezvsl"], got["protocols"]["fixed0.5"]
    assert (ez["ciou"], ez["auc"], ez["n"]) == (committed["ciou"], committed["auc"], committed["n"])
    assert (fixed["ciou"], fixed["auc"]) == (committed["ciou_fixed0.5"], committed["auc_fixed0.5"])
