"""Negative (non-sounding) test pairs: the synthetic ones, SLAVC's real lists as shipped, and their scoring in a
suite whose trainings are another suite's (weights scored, not retrained; docs/protocol.md §8, design.md §5)."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmark.data import synthetic
from benchmark.data.features import logmel
from benchmark.data.negative_pairs import (SYNTHETIC_TYPES, read_slavc_list, slavc_negatives,
                                           synthetic_negatives)
from benchmark.data.real_splits import real_split_dir
from benchmark.data.splits import SplitError

ROOT = Path(__file__).resolve().parents[1]


def _pairs(domain):
    return synthetic_negatives(domain, clip_seconds=1.0, sample_rate=16000)


def test_every_test_picture_gets_each_negative_type(smoke_domains):
    data = smoke_domains["vggss"]
    rows = data.rows["test"]
    pairs = _pairs(data)
    assert len(pairs) == len(SYNTHETIC_TYPES) * len(rows)
    for k, kind in enumerate(SYNTHETIC_TYPES):
        block = slice(k * len(rows), (k + 1) * len(rows))
        assert list(pairs.image_rows[block]) == rows and set(pairs.types[block]) == {kind}
    assert _pairs(data).digest == pairs.digest  # deterministic


def test_mismatched_clip_is_of_a_class_not_in_the_picture(smoke_domains):
    data = smoke_domains["flickr"]
    pairs = _pairs(data)
    ids = data.table.sample_ids
    for img, aud, kind in zip(pairs.image_rows, pairs.audio_rows, pairs.types):
        if kind == "mismatched":
            assert aud != img
            assert synthetic.sounding_class("flickr", ids[aud]) not in synthetic.scene_classes("flickr", ids[img])


def test_scene_classes_are_the_pictures_objects():
    for i in range(40):
        assert synthetic.scene_classes("vggss", i) == set(synthetic.make_sample("vggss", i)["object_classes"])


def test_negative_audio_columns_are_what_the_store_would_hold(smoke_domains):
    data = smoke_domains["flickr"]
    pairs = _pairs(data)
    n = len(data.rows["test"])
    kinds = {k: SYNTHETIC_TYPES.index(k) * n for k in SYNTHETIC_TYPES}
    cols = pairs.columns([kinds["silence"], kinds["noise"], kinds["offscreen"], kinds["mismatched"]])
    assert set(cols) == {"audio", "waveform"} and cols["audio"].shape[0] == 4
    stored = data.table.get([data.rows["test"][0]])
    assert cols["audio"].shape[1:] == stored["audio"].shape[1:] and cols["waveform"].shape[1:] == stored["waveform"].shape[1:]
    assert torch.count_nonzero(cols["waveform"][0]) == 0  # silence
    silent = logmel(torch.zeros(1, 16000), 16000).half().float()
    assert torch.equal(cols["audio"][0], silent[0])
    sid = data.table.sample_ids[data.rows["test"][0]]
    wave = synthetic.negative_audio("flickr", sid, "offscreen", clip_seconds=1.0, sample_rate=16000)
    assert torch.equal(cols["waveform"][2, 0], torch.from_numpy(wave).half().float())
    partner = data.table.get([pairs.audio_rows[kinds["mismatched"]]])
    assert torch.equal(cols["audio"][3], partner["audio"][0])  # another test clip, as stored


def test_negative_audio_leaves_the_test_clips_unchanged():
    """Its own random stream: making negatives does not change any sample (stores stay valid)."""
    before = synthetic.make_sample("flickr", 7)["audio"]
    a = synthetic.negative_audio("flickr", 7, "noise")
    assert np.array_equal(before, synthetic.make_sample("flickr", 7)["audio"])
    assert np.array_equal(a, synthetic.negative_audio("flickr", 7, "noise")) and np.abs(a).max() > 0.2
    with pytest.raises(ValueError, match="unknown negative audio"):
        synthetic.negative_audio("flickr", 7, "mismatched")


# ---- SLAVC's extended test lists, as stoneMo/SLAVC ships them (metadata/*_test_plus_silent.csv) -------------
# git blob ids of the two files at SLAVC commit 05b429c: the committed copies are those bytes
SLAVC_BLOBS = {"flickr": "037ba41c84c23d7801c920dcfdc515f64a23028c", "vggss": "5ba6b4a4943c287efe07249ca38a7b934d4a7097"}


@pytest.mark.parametrize("dataset", ["flickr", "vggss"])
def test_committed_lists_are_slavcs_files_byte_for_byte(dataset):
    data = (real_split_dir(dataset) / "test_plus_silent.csv").read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert blob == SLAVC_BLOBS[dataset]
    assert b"\r\n" in data and not data.endswith(b"\n")  # the real files: CRLF, no final newline


def test_real_list_facts():
    flickr = read_slavc_list(real_split_dir("flickr") / "test_plus_silent.csv")
    vggss = read_slavc_list(real_split_dir("vggss") / "test_plus_silent.csv")
    assert len(flickr) == 250 and len(vggss) == 5158
    assert flickr[0] == ("10000130166", "10437048305") and flickr[-1] == ("9761803312", "3109408703")
    assert sum(v == a for v, a in vggss) == 379 and sum(v == a for v, a in flickr) == 0
    test_ids = set((ROOT / "datasets/flickr/splits/test_250_slavc.txt").read_text().split())
    assert {v for v, _ in flickr} == test_ids  # every SLAVC test picture once
    assert {a for _, a in flickr} <= test_ids and len({a for _, a in flickr}) == 160  # tracks of other test pairs, some twice


@pytest.mark.parametrize("text, problem", [
    ("video,audio\r\n1,2\r\n", "expected the header"),
    ("video,audio,label\r\n1,2,sounding\r\n", "line 2"),
    ("video,audio,label\r\n1,,non-sounding", "line 2"),
    ("video,audio,label\r\n", "no non-sounding pair"),
])
def test_bad_lists_name_the_file_and_line(tmp_path, text, problem):
    path = tmp_path / "flickr_test_plus_silent.csv"
    path.write_bytes(text.encode())
    with pytest.raises(SplitError, match=problem) as err:
        read_slavc_list(path)
    assert str(path) in str(err.value)


class _Table:
    path = "store"

    def __init__(self, keys):
        self.keys = keys

    def rows_for_keys(self, keys):
        return [self.keys.index(k) for k in keys if k in self.keys], [k for k in keys if k not in self.keys]


def test_slavc_pairs_resolve_to_store_rows_and_missing_ids_are_named(tmp_path):
    path = tmp_path / "vggss_test_plus_silent.csv"
    path.write_bytes(b"video,audio,label\r\nA_1,B_2,non-sounding\r\nC_3,C_3,non-sounding")
    data = SimpleNamespace(dataset="vggss", name="vggss", table=_Table(["B_2", "A_1", "C_3"]), rows={}, hashes={})
    pairs = slavc_negatives(data, path)
    assert pairs.image_rows == (1, 2) and pairs.audio_rows == (0, 2) and pairs.types == ("mismatched", "own_track")
    data.rows = {"labeled": [2], "val": [], "test": [1]}  # C_3's picture was trained on: its pair is left out
    pairs = slavc_negatives(data, path)
    assert pairs.image_rows == (1,) and pairs.left_out == 1
    data.table = _Table(["A_1", "B_2"])
    with pytest.raises(SplitError, match=r"1 of 3 ids are not in the store .*C_3"):
        slavc_negatives(data, path)


# ---- the suite: negatives scored on another suite's trained weights ------------------------------------------
ARGS = ["--profile", "smoke", "--seeds", "0", "--methods", "supervised", "--evaluations", "flickr"]
WEIGHTS = "table1/runs/smoke/train-flickr/supervised/seed0/best_model.pt"


def _run(suite: str, results: Path) -> str:
    """run_all in this process (no start-up to pay); its stdout."""
    import run_all

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert run_all.main([*ARGS, "--suite", suite, "--results-dir", str(results)]) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """table1's Flickr-like supervised run, its best_model.pt without the run record (as files written before
    records existed), then the negatives suite on the same results folder."""
    results = tmp_path_factory.mktemp("negatives")
    _run("table1", results)
    state = torch.load(results / WEIGHTS, weights_only=True)
    torch.save({k: v for k, v in state.items() if k != "run_config"}, results / WEIGHTS)
    return results, _run("negatives", results), state["run_config"]


def test_negatives_suite_scores_table1_weights_without_retraining(scored):
    results, stdout, _ = scored
    assert "(scoring only)" in stdout
    a = json.loads((results / "table1/runs/smoke/train-flickr/supervised/seed0/metrics.json").read_text())
    b = json.loads((results / "negatives/runs/smoke/train-flickr/supervised/seed0/metrics.json").read_text())
    neg = b["tests"]["flickr"]["main"].pop("negatives")
    assert b["tests"]["flickr"] == a["tests"]["flickr"] and b["best_val"] == a["best_val"]  # the same weights
    assert neg["n_negative"] == 4 * neg["n_positive"] and 0 <= neg["AP"] <= 1
    assert set(neg["false_alarm"]) == {*SYNTHETIC_TYPES, "all"}
    run_json = json.loads((results / "negatives/runs/smoke/train-flickr/supervised/seed0/run.json").read_text())
    assert run_json["weights_from"]["config_hash"] == a["config_hash"]
    assert run_json["config"]["negatives"]["flickr"] == neg["pairs_sha256"]
    board = (results / "negatives/leaderboard.smoke.md").read_text()
    assert "## Negative audio" in board and "False alarm silence" in board


def test_weights_of_another_training_are_not_scored(scored, tmp_path):
    """A best_model.pt whose run record names another seed is not this training's: the run trains."""
    import shutil

    results, _, record = scored
    shutil.copytree(results / "table1", tmp_path / "table1")
    state = torch.load(tmp_path / WEIGHTS, weights_only=True)
    torch.save({**state, "run_config": {**record, "seed": 1}}, tmp_path / WEIGHTS)
    out = _run("negatives", tmp_path)
    assert "(scoring only)" not in out and "is not of this training" in out
