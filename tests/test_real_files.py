"""The field's real files as the public repositories ship them, written from their known facts (names, fields,
odd values), not only from what our exporter writes: datasets/flickr/README.md and datasets/vggss/README.md."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from benchmark.data.export import export_flickr, export_vggss, flickr_key, vggss_key
from benchmark.data.flickr import EXTRA_TEST_IDS, make_flickr_splits, read_flickr
from benchmark.data.flickr import test_split as flickr_test_split
from benchmark.data.real_common import DataError
from benchmark.data.real_splits import load_real_split
from benchmark.data.splits import SplitError
from benchmark.data.vggss import SSPL_TEST, load_annotations, make_vggss_splits, read_vggss
from benchmark.data.vggss import test_split as vggss_test_split
from benchmark.prepare import prepare

S = 32
# An entry of the real vggss.json (LVS / EZ-VSL / SLAVC `metadata/vggss.json`) with the overflowed coordinate
# twelve entries carry, beside a zero-area box and integer 0 / 1 values, which the real file also has.
BAD_X1 = -2.8823037615171176e+16


@pytest.fixture(scope="module")
def flickr_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("flickr") / "root"
    export_flickr(root, range(6), annotated=range(4), test=[0], image_size=S, clip_seconds=1.0)
    return root


def test_flickr_lists_by_their_shipped_names(flickr_tree, tmp_path):
    """EZ-VSL and SLAVC ship metadata/flickr_144k.txt (EZ-VSL's train.py reads metadata/{trainset}.txt); a .csv of
    the same name is accepted too. --make-splits requires the list it is asked for and never skips it silently."""
    root = tmp_path / "root"
    shutil.copytree(flickr_tree, root)
    assert (root / "flickr_144k.txt").exists() and not (root / "flickr_144k.csv").exists()
    assert {r.key for r in read_flickr(root, subset="144k").records} == {flickr_key(i) for i in range(6)}
    made = make_flickr_splits(root, tmp_path / "a", sizes={"labeled": 1, "val": 1})
    assert made["unlabeled_removed_held_out"] == {"10k": 3, "144k": 3}
    assert len(load_real_split("flickr", "unlabeled_144k", tmp_path / "a")[0]) == 3
    (root / "flickr_144k.txt").rename(root / "flickr_144k.csv")
    assert {r.key for r in read_flickr(root, subset="144k").records} == {flickr_key(i) for i in range(6)}
    (root / "flickr_144k.csv").unlink()
    with pytest.raises(DataError, match=r"flickr_144k\.txt: list file not found \(nor flickr_144k\.csv\)"):
        make_flickr_splits(root, tmp_path / "b", sizes={"labeled": 1, "val": 1})
    assert not (tmp_path / "b" / "manifest.json").exists()  # nothing written
    # asked only for the 10k list (present), the missing 144k one is not required
    made = make_flickr_splits(root, tmp_path / "c", sizes={"labeled": 1, "val": 1}, subsets=("10k",))
    assert made["unlabeled_removed_held_out"] == {"10k": 3}


def test_flickr_extra_test_ids_never_train(flickr_tree, tmp_path):
    """Senocak's test_list.txt adds 3908875357 to the 249 ids, SLAVC's flickr_test.csv adds 3908875350: neither
    may be drawn into labeled / val, and each 250 list is the committed 249 plus its own id."""
    root = tmp_path / "root"
    shutil.copytree(flickr_tree, root)
    xml = (root / "Annotations" / f"{flickr_key(1)}.xml").read_bytes()
    for extra in EXTRA_TEST_IDS.values():  # annotated, as they are in Senocak's annotation files
        (root / "Annotations" / f"{extra}.xml").write_bytes(xml)
    made = make_flickr_splits(root, tmp_path / "s", sizes={"labeled": 2, "val": 1})
    assert made["annotated"] == 6
    drawn = set(load_real_split("flickr", "labeled", tmp_path / "s")[0]) | set(
        load_real_split("flickr", "val", tmp_path / "s")[0])
    assert drawn == {flickr_key(i) for i in (1, 2, 3)}  # the only annotated ids left once test and extras are out
    for choice, extra in EXTRA_TEST_IDS.items():
        ids, _ = load_real_split("flickr", flickr_test_split(choice), tmp_path / "s")
        assert ids == sorted([flickr_key(0), extra])
    # the committed lists
    test249, _ = load_real_split("flickr", flickr_test_split("249"))
    assert len(test249) == 249 and not set(EXTRA_TEST_IDS.values()) & set(test249)
    for choice, extra in EXTRA_TEST_IDS.items():
        ids, _ = load_real_split("flickr", flickr_test_split(choice))
        assert len(ids) == 250 and set(ids) - set(test249) == {extra}
    with pytest.raises(SplitError, match="unknown Flickr test list '250'"):
        flickr_test_split("250")


def _vggss_tree(tmp_path):
    root = tmp_path / "vggss"
    export_vggss(root, range(6), annotated=range(6), image_size=S, clip_seconds=1.0)
    entries = json.loads((root / "vggss.json").read_text())
    entries[0]["bbox"] = [[0.1, 0.2, BAD_X1, 0.9], [0.5, 0.5, 0.8, 0.9]]  # the bad box, and a good one
    entries[1]["bbox"] = [[0.25, 0.1, 0.25, 0.6]]  # zero area
    entries[2]["bbox"] = [[0, 0, 1, 1]]  # integers
    entries[3]["bbox"] = [[0.3, 0.4, 0.7, BAD_X1]]  # the only box: clipping empties it
    (root / "vggss.json").write_text(json.dumps(entries))  # json writes -2.8823037615171176e+16 as the real file
    assert "-2.8823037615171176e+16" in (root / "vggss.json").read_text()
    return root, entries


def test_vggss_out_of_range_values_are_clipped_and_kept(tmp_path):
    """As EZ-VSL's evaluator (clip to [0, 1]) and LVS (max(x, 0)): the sample stays, the bad box becomes empty."""
    root, entries = _vggss_tree(tmp_path)
    clipped = []
    ann = load_annotations(root / "vggss.json", clipped=clipped)
    assert len(ann) == 6
    assert ann[vggss_key(0)][1] == [(0.1, 0.2, 0.0, 0.9), (0.5, 0.5, 0.8, 0.9)]
    assert ann[vggss_key(2)][1] == [(0.0, 0.0, 1.0, 1.0)]
    assert [c["key"] for c in clipped] == [vggss_key(0), vggss_key(3)]
    assert clipped[0]["box"] == [0.1, 0.2, BAD_X1, 0.9] and clipped[0]["clipped"] == [0.1, 0.2, 0.0, 0.9]
    out = prepare("vggss", root, out=tmp_path / "store", image_size=S, workers=1, log=lambda *_: None)
    info = json.loads((out / "info.json").read_text())
    assert info["counts"]["samples"] == 6 and info["skipped"] == []
    assert info["clipped_boxes"]["count"] == 2
    from benchmark.data.store import SampleTable

    table = SampleTable(out)
    gt = table.get(list(range(6)))["gt"]
    row = {k: i for i, k in enumerate(table.keys)}
    good = gt[row[vggss_key(0)]]  # only the good box is left: x 0.5..0.8, y 0.5..0.9 of 32 px
    assert good.sum() == (int(0.8 * S) - int(0.5 * S)) * (int(0.9 * S) - int(0.5 * S))
    assert gt[row[vggss_key(1)]].sum() == 0 and gt[row[vggss_key(3)]].sum() == 0  # all-zero GT, still a sample
    assert gt[row[vggss_key(2)]].sum() == S * S
    made = make_vggss_splits(root, tmp_path / "splits", sizes={"labeled": 1, "val": 1}, subsets=("10k",))
    assert made["annotated"] == 6 and made["bad_annotations"] == []  # none dropped from the test list
    assert len(read_vggss(root).records) == 6


def test_vggss_nan_box_is_still_an_error(tmp_path):
    root, entries = _vggss_tree(tmp_path)
    entries[4]["bbox"] = [[0.1, float("nan"), 0.2, 0.3]]
    (root / "vggss.json").write_text(json.dumps(entries))
    with pytest.raises(DataError, match=f"entry 4 \\('{vggss_key(4)}'\\) box 0: .* are not numbers"):
        load_annotations(root / "vggss.json")


def _sspl_list(root, ids):
    """SSPL's vggss_test_4692.csv as shipped: one id a line, no header, in vggss_test.csv's order."""
    (root / SSPL_TEST).write_text("".join(f"{vggss_key(i)}\n" for i in ids))


def test_vggss_public_test_lists(tmp_path):
    """LVS, EZ-VSL, SLAVC and FNAC ship one metadata/vggss_test.csv, the 5,158 ids of vggss.json; SSPL's
    vggss_test_4692.csv is that list less 466 ids. Both are named choices beside our drawn test list."""
    root = tmp_path / "vggss"
    export_vggss(root, range(8), annotated=range(8), image_size=S, clip_seconds=1.0)
    _sspl_list(root, (0, 2, 3, 5))
    made = make_vggss_splits(root, tmp_path / "s", sizes={"labeled": 2, "val": 1}, subsets=("10k",))
    assert made["public_test_lists"] == {"test_5158": 8, "test_4692_sspl": 4}

    def ids(choice):
        return load_real_split("vggss", vggss_test_split(choice), tmp_path / "s")[0]

    assert ids("5158") == sorted(vggss_key(i) for i in range(8))
    assert ids("4692-sspl") == [vggss_key(i) for i in (0, 2, 3, 5)]
    assert len(ids("drawn")) == 5 and set(ids("drawn")) < set(ids("5158"))
    with pytest.raises(SplitError, match="unknown VGG-SS test list '5,158'"):
        vggss_test_split("5,158")
    _sspl_list(root, (0, 2, 99))
    with pytest.raises(SplitError, match=r"vggss_test_4692\.csv: 1 ids are not annotated in vggss\.json"):
        make_vggss_splits(root, tmp_path / "t", sizes={"labeled": 2, "val": 1}, subsets=("10k",))


def test_score_a_prepared_vggss_store_on_each_test_list(tmp_path, monkeypatch, capsys):
    """benchmark.score --data-root on a prepared store with a video gone (prepare --skip-bad): the 5,158 list is
    scored on the samples present, the gone one reported; a run trained here may not test on it."""
    import yaml

    import benchmark.data.real_splits as real_splits
    import benchmark.suites as suites
    from benchmark import metrics, score
    from benchmark.data.domains import load_real_domain
    from benchmark.data.store import SampleTable

    root, stores = tmp_path / "vggss", tmp_path / "stores"
    export_vggss(root, range(10), annotated=range(10), image_size=S, clip_seconds=1.0)
    _sspl_list(root, range(1, 10, 2))
    monkeypatch.setattr(real_splits, "DATASETS_DIR", tmp_path / "datasets")  # this export's own split lists
    make_vggss_splits(root, None, sizes={"labeled": 3, "val": 1}, subsets=("10k",))
    gone = vggss_key(9)
    (root / "frames" / f"{gone}.jpg").unlink()  # a video no longer on YouTube
    store = prepare("vggss", root, out=stores, image_size=S, skip_bad=True, workers=1, log=lambda *_: None)
    profiles = yaml.safe_load(suites.PROFILES_PATH.read_text())
    profiles["tiny-real"] = {**profiles["paper"], "data": {"source": "real", "image_size": S, "clip_seconds": 1.0}}
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    monkeypatch.setattr(suites, "PROFILES_PATH", tmp_path / "profiles.yaml")

    keys = [vggss_key(i) for i in range(10)]
    maps = np.random.default_rng(0).random((10, 7, 7)).astype(np.float32)
    table = SampleTable(store)
    preds, out = tmp_path / "preds.npz", tmp_path / "scores.json"

    def scored(listed, *extra):  # a map for every listed id, the gone one's too
        np.savez(preds, sample_ids=np.asarray(listed), maps=maps[[keys.index(k) for k in listed]])
        out.unlink(missing_ok=True)
        argv = ["--predictions", str(preds), "--dataset", "vggss", "--profile", "tiny-real", "--data-root",
                str(stores), "--out", str(out), *extra]
        assert score.main(argv) == 0
        return json.loads(out.read_text())

    drawn = load_real_split("vggss", "test", tmp_path / "datasets" / "vggss" / "splits")[0]
    for choice, listed in (("5158", keys), ("4692-sspl", keys[1::2]), ("drawn", drawn)):
        got = scored(listed, *(["--test-list", choice] if choice != "drawn" else []))  # drawn: the profile's
        present = [k for k in sorted(listed) if k != gone]
        gt = table.get(table.rows_for_keys(present)[0])["gt"]
        want = metrics.evaluate(maps[[keys.index(k) for k in present]], gt)
        ez = got["protocols"]["ezvsl"]
        assert got["test_list"] == choice and got["n_test"] == got["n_scored"] == ez["n"] == len(present)
        assert got["not_in_store"] == ([gone] if gone in listed else []) and got["missing"] == []
        assert (ez["ciou"], ez["auc"], ez["ciou_mean"]) == (want["ciou"], want["auc"], want["ciou_mean"])
    assert f"1 ids of the 5158 test list are not in the store, not scored: {gone}" in capsys.readouterr().out
    with pytest.raises(SplitError, match="test samples are labeled or val samples here"):
        load_real_domain("vggss", store, test_list="test_5158", allow_missing=True)
    assert score.main(["--predictions", str(preds), "--dataset", "vggss", "--profile", "tiny-real",
                       "--data-root", str(stores), "--test-list", "250-slavc"]) == 2
    assert "unknown VGG-SS test list '250-slavc'" in capsys.readouterr().err


def test_resampling_an_odd_rate_has_bounded_memory(tmp_path):
    """44,056 Hz, a real video rate: a gcd-sized sinc filter took 4.6 GB here; the resampler must not. Run in a
    fresh process so its peak resident memory is this decode's."""
    import soundfile as sf

    rate, seconds = 44056, 3.0
    t = np.arange(int(rate * seconds * 2)) / rate
    sf.write(str(tmp_path / "a.wav"), 0.5 * np.sin(2 * np.pi * 1000.0 * t), rate, subtype="PCM_16")
    code = ("import resource, sys, numpy as np; from pathlib import Path\n"
            "from benchmark.data.real_media import load_centre_clip\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "clips, sr = load_centre_clip(Path(sys.argv[1]), (16000, 22050), 3.0)\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "y = clips[16000]; f = np.abs(np.fft.rfft(y)).argmax() * 16000 / len(y)\n"
            "print(sr, len(clips[16000]), len(clips[22050]), round(f), (after - before) // 1024)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.wav")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    sr, n16, n22, freq, grew_mb = map(int, out.stdout.split())
    assert (sr, n16, n22, freq) == (rate, 48000, 66150, 1000)
    assert grew_mb < 200, f"resampling 3 s at {rate} Hz grew the resident memory by {grew_mb} MB"


def test_sixteen_bit_png_is_scaled_by_its_depth(tmp_path):
    """Pillow opens a 16-bit grayscale PNG as I;16 and convert('RGB') clips it to white; scale by 65535 instead."""
    from PIL import Image

    from benchmark.data.real_media import load_frame

    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as im:
        assert im.mode.startswith("I")  # the case this guards
    frame = load_frame(tmp_path / "f.png", 64)
    assert frame.shape == (3, 64, 64)
    assert abs(frame.mean() - 127.5) < 2 and frame.min() <= 1 and frame.max() >= 254
    assert (frame == 255).mean() < 0.02  # was 99.5 % white
