"""The real-data path end to end without the real data: synthetic samples exported in the Flickr-SoundNet
and VGG-SS layouts, prepared into stores, run through run_all with a real-data profile (light models, and
XPL's model B on SoundNet-8 reading the raw waveform), then localize on one exported pair."""
from __future__ import annotations

import json

import yaml

import run_all
from benchmark import localize
from benchmark.data.export import export_flickr, export_vggss, flickr_key
from benchmark.data.flickr import make_flickr_splits
from benchmark.data.vggss import make_vggss_splits
from benchmark.prepare import prepare

SIZE = 32
TINY_REAL = {  # the paper profile's data and shapes, light models, a few steps
    "data": {"source": "real", "image_size": SIZE, "clip_seconds": 3.0},
    "model": {"visual": {"type": "light_cnn", "width": 8, "depth": 1},
              "audio": {"type": "mel_cnn1d", "n_mels": 64, "width": 16, "depth": 2}, "dim": 32,
              "roles": {"b": {"audio": {"type": "soundnet8"}}}},
    "budget": {"steps": 4, "global_batch_size": 8, "eval_every": 2, "ckpt_every": 2, "eval_batch_size": 16},
    "method_overrides": {"lr": 1.0e-3}, "mixed_precision": "bf16", "seeds": [0],
}


def test_real_data_suite_end_to_end(tmp_path, monkeypatch):
    import benchmark.data.real_splits as real_splits
    import benchmark.suites as suites

    ids, annotated = range(28), range(20)
    export_flickr(tmp_path / "flickr", ids, annotated=annotated, test=[0, 1, 2, 3], image_size=SIZE)
    export_vggss(tmp_path / "vggss", ids, annotated=annotated, image_size=SIZE)
    stores = tmp_path / "stores"
    for name in ("flickr", "vggss"):
        prepare(name, tmp_path / name, out=stores, image_size=SIZE, workers=1, log=lambda *_: None)
    monkeypatch.setattr(real_splits, "DATASETS_DIR", tmp_path / "datasets")  # this export's own split lists
    make_flickr_splits(tmp_path / "flickr", None, sizes={"labeled": 8, "val": 4})
    make_vggss_splits(tmp_path / "vggss", None, sizes={"labeled": 8, "val": 4})
    profiles = yaml.safe_load(suites.PROFILES_PATH.read_text())
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump({**profiles, "tiny-real": TINY_REAL}))
    monkeypatch.setattr(suites, "PROFILES_PATH", tmp_path / "profiles.yaml")

    results = tmp_path / "results"
    args = ["--suite", "table1", "--profile", "tiny-real", "--methods", "center,supervised,xpl",
            "--data-root", str(stores), "--results-dir", str(results)]
    assert run_all.main([*args, "--validate"]) == 0
    assert run_all.main(args) == 0

    board = (results / "table1" / "leaderboard.tiny-real.md").read_text()
    assert "Synthetic data" not in board and "Real data" in board
    assert "Without pretrained weights:** xpl (2 runs)" in board  # SoundNet-8 randomly initialised
    run_dir = results / "table1" / "runs" / "tiny-real" / "train-flickr" / "xpl" / "seed0"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["pretrained_weights"]["b"] == {"audio": None} and run["config"]["dataset"] == "real"
    assert run["config"]["split_sha256"]["flickr"]["test"]  # the lists' hashes are recorded
    per_sample = [json.loads(line) for line in (run_dir / "per_sample.jsonl").read_text().splitlines()]
    assert {r["sample_id"] for r in per_sample if r["test"] == "flickr"} == {0, 1, 2, 3}  # the 4 test pairs

    key = flickr_key(0)
    out = tmp_path / "overlay.png"
    assert localize.main(["--method", "xpl", "--checkpoint", str(run_dir / "best_model.pt"),
                          "--image", str(tmp_path / "flickr" / "frames" / f"{key}.jpg"),
                          "--audio", str(tmp_path / "flickr" / "audio" / f"{key}.wav"), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
