"""Real-data adapters (Flickr-SoundNet, VGG-SoundSource) on small synthetic exports of both
layouts: export -> read -> prepare -> store -> splits -> domain, every bad input, interruption."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from benchmark import metrics
from benchmark.data import real_store as store_mod
from benchmark.data.domains import load_real_domain, restrict_real_classes
from benchmark.data.export import export_flickr, export_vggss, flickr_key, vggss_key
from benchmark.data.flickr import make_flickr_splits, parse_annotation, read_flickr
from benchmark.data.real_common import DataError
from benchmark.data.real_splits import load_real_split
from benchmark.data.splits import SplitError
from benchmark.data.store import SampleTable, StoreError
from benchmark.data.vggss import make_vggss_splits, read_vggss
from benchmark.prepare import main as prepare_main
from benchmark.prepare import prepare

S = 48  # image size of exports and stores: small keeps the file fast
IDS, ANNOTATED = range(6), range(4)
READERS = {"flickr": read_flickr, "vggss": read_vggss}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("real-trees")
    return {
        "flickr": (base / "flickr", export_flickr(base / "flickr", IDS, annotated=ANNOTATED, test=[0], image_size=S)),
        "vggss": (base / "vggss", export_vggss(base / "vggss", IDS, annotated=ANNOTATED, image_size=S)),
    }


@pytest.fixture(scope="module")
def stores(trees, tmp_path_factory):
    base = tmp_path_factory.mktemp("real-stores")
    quiet = dict(image_size=S, workers=1, log=lambda *_: None)
    return {"flickr": prepare("flickr", trees["flickr"][0], out=base, **quiet),
            "vggss": prepare("vggss", trees["vggss"][0], out=base, subset="10k", **quiet)}


@pytest.fixture()
def tree_copy(trees, tmp_path):
    def copy(dataset):
        dst = tmp_path / dataset
        shutil.copytree(trees[dataset][0], dst)
        return dst
    return copy


# ----------------------------------------------------------------------------- round trip
def test_flickr_round_trip(trees, stores):
    root, exported = trees["flickr"]
    read = read_flickr(root)
    assert [r.key for r in read.records] == sorted(exported) and read.skipped == []
    for r in read.records:  # the XML gives back the 256-scale boxes the export wrote, per annotator
        assert r.annotators == [[tuple(float(v) for v in b) for b in a] for a in exported[r.key].get("annotators", [])]
    table = SampleTable(stores["flickr"])
    assert table.keys == sorted(exported) and table.sample_ids == list(range(len(exported)))
    assert table.has_box == [int(k) - 7_000_000_000 in ANNOTATED for k in table.keys]
    batch = table.get(list(range(len(table))))
    assert batch["image"].dtype == torch.uint8 and batch["audio"].shape[1:] == (1, 64, 288)
    assert batch["waveform"].shape[1:] == (1, 66150) and (batch["class_id"] == -1).all()
    rows = table.ds.with_format(None)  # the annotations json column
    for row, (key, rec) in enumerate(zip(table.keys, read.records)):
        s = exported[key]
        jpeg_err = float((batch["image"][row].float() - torch.from_numpy(s["image"]).permute(2, 0, 1)).abs().mean())
        assert jpeg_err < 4
        assert (batch["waveform"][row, 0] - torch.from_numpy(s["audio"])).abs().max() < 1e-3  # 3 s track = the clip
        if rec.has_box:
            want = metrics.consensus_gt_map(rec.annotators, S, box_scale=256)
            assert torch.equal(batch["gt"][row], want) and set(want.unique().tolist()) <= {0.0, 0.5, 1.0}
            stored = json.loads(rows[row]["annotations"])  # pixel boxes at S, within the 1/256 rounding
            err = max(abs(a - b) for sa, oa in zip(stored, s["annotations"]) for sb, ob in zip(sa, oa)
                      for a, b in zip(sb, ob))
            assert err <= 0.5 * S / 256 + 1e-3
        else:
            assert batch["gt"][row].abs().sum() == 0 and rows[row]["annotations"] == "[]"
    assert table.info["counts"] == {"samples": 6, "with_boxes": 4, "skipped": 0}
    assert table.info["audio"]["source_rates"] == {"22050": 6}


def test_vggss_round_trip(trees, stores):
    from benchmark.data import synthetic

    root, exported = trees["vggss"]
    table = SampleTable(stores["vggss"])
    batch = table.get(list(range(len(table))))
    read = read_vggss(root, subset="10k")
    assert table.keys == sorted(exported) == [r.key for r in read.records]
    for row, (key, rec) in enumerate(zip(table.keys, read.records)):
        s = exported[key]  # every id has a class (annotations or vggsound.csv)
        assert table.info["classes"][int(batch["class_id"][row])] == synthetic.CLASS_NAMES[s["class_id"]]
        if "bbox" in s:
            assert rec.annotators == [[tuple(b) for b in s["bbox"]]]
            assert torch.equal(batch["gt"][row], metrics.union_gt_map(rec.annotators[0], S, box_scale=1.0))
            orig = metrics.union_gt_map([b for a in s["annotations"] for b in a], S)
            inter = (orig * batch["gt"][row]).sum() / torch.maximum(orig, batch["gt"][row]).sum()
            assert inter > 0.9  # pixel truncation of normalised vs pixel boxes moves an edge by <= 1 px
            stored = json.loads(table.ds.with_format(None)[row]["annotations"])[0]
            flat = [b for a in s["annotations"] for b in a]
            assert np.allclose(np.array(stored), np.array(flat), atol=2e-4)
        else:
            assert not table.has_box[row] and batch["gt"][row].abs().sum() == 0
    assert table.info["subset"] == "10k"


# ----------------------------------------------------------------------------- splits and domains
def test_flickr_splits_and_domain(trees, stores, tmp_path):
    root, exported = trees["flickr"]
    made = make_flickr_splits(root, tmp_path / "splits", sizes={"labeled": 1, "val": 1})
    assert made["annotated"] == 4
    test, _ = load_real_split("flickr", "test", tmp_path / "splits")
    assert test == [flickr_key(0)]  # from the root's flickr_test.csv
    data = load_real_domain("flickr", stores["flickr"], splits_dir=tmp_path / "splits")
    keys = {s: [data.table.keys[r] for r in rows] for s, rows in data.rows.items()}
    assert keys["test"] == test and len(keys["labeled"]) == len(keys["val"]) == 1
    held = set(keys["labeled"]) | set(keys["val"]) | set(test)
    assert set(keys["labeled"] + keys["val"]) <= {flickr_key(i) for i in ANNOTATED} - set(test)
    assert set(keys["unlabeled"]) == set(exported) - held  # unlabeled_10k = the 10k list minus held-out ids
    # made once: remaking gives the same lists; an edited list is caught by its hash
    make_flickr_splits(root, tmp_path / "splits", sizes={"labeled": 1, "val": 1})
    with (tmp_path / "splits" / "val.txt").open("a") as f:
        f.write(flickr_key(5) + "\n")
    with pytest.raises(SplitError, match="val.txt: sha256"):
        load_real_domain("flickr", stores["flickr"], splits_dir=tmp_path / "splits")


def test_vggss_splits_domain_and_open_set(trees, stores, tmp_path):
    from benchmark.data import synthetic

    root, exported = trees["vggss"]
    make_vggss_splits(root, tmp_path / "splits", sizes={"labeled": 1, "val": 1})
    data = load_real_domain("vggss", stores["vggss"], splits_dir=tmp_path / "splits")
    assert sorted(len(data.rows[s]) for s in ("labeled", "val", "test")) == [1, 1, 2]
    assert len(data.rows["unlabeled"]) == len(IDS) - len(ANNOTATED)
    names = {}
    for which, classes in (("heard", synthetic.HEARD_CLASSES), ("unheard", synthetic.UNHEARD_CLASSES)):
        # class lists: the classes of EZ-VSL's heard / unheard test ids (here: by the synthetic split)
        names[which] = set(load_real_split("vggss", f"{which}_classes", tmp_path / "splits")[0])
        assert {synthetic.CLASS_NAMES.index(n) for n in names[which]} <= set(classes)
        sub = restrict_real_classes(data, which, tmp_path / "splits")
        for split, rows in sub.rows.items():
            cls = data.table.get(data.rows[split])["class_id"].tolist() if data.rows[split] else []
            assert rows == [r for r, c in zip(data.rows[split], cls) if data.table.info["classes"][c] in names[which]]
    assert names["heard"] and names["unheard"] and not names["heard"] & names["unheard"]


def test_split_keys_missing_from_store(tree_copy, tmp_path):
    root = tree_copy("flickr")
    make_flickr_splits(root, tmp_path / "splits", sizes={"labeled": 1, "val": 1})
    quiet = dict(image_size=S, skip_bad=True, workers=1, log=lambda *_: None)
    (root / "frames" / f"{flickr_key(5)}.jpg").write_bytes(b"not a jpeg")  # an unlabeled pair
    out = prepare("flickr", root, out=tmp_path / "store", subset="10k", **quiet)
    info = json.loads((out / "info.json").read_text())
    assert [s["key"] for s in info["skipped"]] == [flickr_key(5)]
    assert "cannot read image" in info["skipped"][0]["problem"]
    with pytest.raises(SplitError) as err:  # named: the split file, the key, why it is missing
        load_real_domain("flickr", out, splits_dir=tmp_path / "splits")
    assert "unlabeled_10k.txt: 1 of 3 keys" in str(err.value) and flickr_key(5) in str(err.value)
    assert "skipped by prepare --skip-bad" in str(err.value)
    data = load_real_domain("flickr", out, splits_dir=tmp_path / "splits", allow_missing=True)
    assert len(data.rows["unlabeled"]) == 2 and data.hashes["unlabeled:dropped"].startswith("1 keys, sha256 ")
    (root / "frames" / f"{flickr_key(0)}.jpg").write_bytes(b"not a jpeg")  # the only test pair
    out = prepare("flickr", root, out=tmp_path / "store", subset="10k", **quiet)
    with pytest.raises(SplitError, match="test.txt: 1 of 1 keys .* nothing of the split is left"):
        load_real_domain("flickr", out, splits_dir=tmp_path / "splits", allow_missing=True)


# ----------------------------------------------------------------------------- bad inputs
def _corrupt_frame(root, key):
    (root / "frames" / f"{key}.jpg").write_bytes(b"\x00garbage")


def _corrupt_wav(root, key):
    (root / "audio" / f"{key}.wav").write_bytes(b"RIFF....WAVEjunk")


def _missing_audio(root, key):
    (root / "audio" / f"{key}.wav").unlink()


def _resampled_wav(root, key):
    import soundfile as sf

    path = root / "audio" / f"{key}.wav"
    sf.write(str(path), sf.read(str(path))[0], 16000, subtype="PCM_16")  # same samples, another rate


def _xml(root, key, text):
    (root / "Annotations" / f"{key}.xml").write_text(text)


def _vggss_entry(root, key, **change):
    entries = json.loads((root / "vggss.json").read_text())
    for e in entries:
        if e["file"] == key:
            e.update(change)
    (root / "vggss.json").write_text(json.dumps(entries))


# (dataset, id, break it, file it breaks, problem, reader kwargs)
BAD = [
    ("flickr", 1, _missing_audio, "audio/{k}.wav", "not found", {}),
    ("flickr", 1, _corrupt_frame, "frames/{k}.jpg", "cannot read image", {}),
    ("flickr", 4, _corrupt_wav, "audio/{k}.wav", "cannot read audio", {}),
    ("flickr", 2, lambda r, k: _xml(r, k, "<annotation><object><bbox>"), "Annotations/{k}.xml", "malformed XML", {}),
    ("flickr", 2, lambda r, k: _xml(r, k, "<annotation><object><bbox><a>0</a><xmin>10</xmin><ymin>10</ymin>"
                                         "<xmax>400</xmax><ymax>90</ymax></bbox></object></annotation>"),
     "Annotations/{k}.xml", "outside the image", {}),
    ("flickr", 3, _resampled_wav, "audio/{k}.wav", "sample rate 16000 Hz, but 22050 Hz is required",
     {"require_rate": 22050}),
    ("vggss", 1, _corrupt_frame, "frames/{k}.jpg", "cannot read image", {}),
    ("vggss", 2, lambda r, k: _vggss_entry(r, k, bbox="oops"), "vggss.json", "malformed JSON", {}),
    # out-of-range VGG-SS coordinates are clipped as the reference does (tests/test_real_files.py); NaN is not a box
    ("vggss", 3, lambda r, k: _vggss_entry(r, k, bbox=[[0.2, float("nan"), 0.5, 0.9]]), "vggss.json",
     "are not numbers", {}),
    ("vggss", 5, _missing_audio, "audio/{k}.wav", "not found", {}),
]


@pytest.mark.parametrize("dataset,i,breaker,file,problem,kwargs", BAD,
                         ids=[f"{b[0]}-{b[4].split()[0]}-{b[4].split()[-1]}" for b in BAD])
def test_bad_input_named_and_skipped(tree_copy, dataset, i, breaker, file, problem, kwargs):
    root = tree_copy(dataset)
    key = flickr_key(i) if dataset == "flickr" else vggss_key(i)
    breaker(root, key)
    path = str(root / file.format(k=key))
    with pytest.raises(DataError) as err:
        READERS[dataset](root, **kwargs)
    assert str(err.value).startswith(path + ":") and problem in str(err.value)
    read = READERS[dataset](root, skip_bad=True, **kwargs)  # skipped, recorded, the rest read
    assert read.skipped == [{"key": key, "file": path, "problem": err.value.problem}]
    assert key not in [r.key for r in read.records] and len(read.records) == len(IDS) - 1


def test_errors_found_only_by_decoding(tree_copy, tmp_path):
    """A truncated JPEG opens (header) but fails to decode; prepare names it, or skips and records it."""
    root = tree_copy("flickr")
    frame = root / "frames" / f"{flickr_key(2)}.jpg"
    frame.write_bytes(frame.read_bytes()[:len(frame.read_bytes()) // 2])
    read_flickr(root)  # the header check passes
    with pytest.raises(DataError, match=f"^{frame}: cannot read image"):
        prepare("flickr", root, out=tmp_path / "a", image_size=S, workers=1, log=lambda *_: None)
    assert not [f for f in (tmp_path / "a").rglob("*") if f.is_file()]  # nothing written
    with pytest.raises(DataError, match="sample rate 22050 Hz, but 16000 Hz is required"):
        prepare("flickr", root, out=tmp_path / "b", image_size=S, workers=1, require_rate=16000, log=lambda *_: None)
    out = prepare("flickr", root, out=tmp_path / "c", image_size=S, workers=1, skip_bad=True, log=lambda *_: None)
    table = SampleTable(out)
    assert flickr_key(2) not in table.keys and table.info["skipped"][0]["file"] == str(frame)


def test_whole_file_errors_are_not_skippable(tree_copy):
    """A file that is not a list at all, or an empty list, stops the read even with skip_bad."""
    root = tree_copy("vggss")
    (root / "vggss.json").write_text('[{"file": "x", ')
    for skip in (False, True):
        with pytest.raises(DataError, match=f"^{root / 'vggss.json'}: malformed JSON"):
            read_vggss(root, skip_bad=skip)
    (root / "vggss.json").write_text("[]")
    with pytest.raises(DataError, match="vggss.json: empty list"):
        read_vggss(root, skip_bad=True)
    root = tree_copy("flickr")
    (root / "flickr_10k.txt").write_text("\n")
    with pytest.raises(DataError, match=f"^{root / 'flickr_10k.txt'}: empty list"):
        read_flickr(root, subset="10k", skip_bad=True)
    with pytest.raises(DataError, match="Annotations/nope.xml: annotation file not found"):
        parse_annotation(root / "Annotations" / "nope.xml")


def test_positional_flickr_xml(tmp_path):
    """Boxes are also read by position (first child skipped), as the reference readers do."""
    path = tmp_path / "a.xml"
    path.write_text("<annotation><object><bbox><n>x</n><a>1</a><b>2</b><c>30</c><d>40</d></bbox></object>"
                    "<object><bbox><n>y</n><a>0</a><b>0</b><c>256</c><d>257</d></bbox></object></annotation>")
    assert parse_annotation(path) == [[(1.0, 2.0, 30.0, 40.0)], [(0.0, 0.0, 256.0, 256.0)]]  # 1 px overshoot clipped


def test_centre_clip(tmp_path):
    """The 3 s centre of a longer track; a shorter one repeated (EZ-VSL); stereo averaged."""
    import soundfile as sf

    from benchmark.data.real_media import load_centre_clip

    ramp = (np.arange(5 * 1000) / 5000).astype(np.float32)  # 5 s at 1 kHz
    sf.write(str(tmp_path / "long.wav"), np.stack([ramp, ramp], 1), 1000, subtype="FLOAT")
    clip, rate = load_centre_clip(tmp_path / "long.wav", (1000,))
    assert rate == 1000 and np.array_equal(clip[1000], ramp[1000:4000])
    sf.write(str(tmp_path / "short.wav"), ramp[:1000], 1000, subtype="FLOAT")
    clip, _ = load_centre_clip(tmp_path / "short.wav", (1000, 2000))
    assert np.array_equal(clip[1000], np.tile(ramp[:1000], 3)) and clip[2000].shape == (6000,)


# ----------------------------------------------------------------------------- interruption, CLI
def test_interrupted_prepare_leaves_nothing(trees, tmp_path, monkeypatch):
    calls, real = [], store_mod._real_chunk

    def dies_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed mid-build
        return real(*args, **kwargs)

    monkeypatch.setattr(store_mod, "_real_chunk", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        prepare("flickr", trees["flickr"][0], out=tmp_path, image_size=S, workers=1, chunk=2, log=lambda *_: None)
    assert len(calls) == 2
    out = store_mod.real_store_path("flickr", None, S, root=tmp_path)
    assert not out.exists() and not [f for f in tmp_path.rglob("*") if f.is_file()]  # no store, no temporary folder
    with pytest.raises(StoreError, match="not a complete sample store"):
        SampleTable(out)


def test_cli_reports_error_with_file(tmp_path, capsys):
    assert prepare_main(["--dataset", "vggss", "--root", str(tmp_path / "none")]) == 2
    assert f"{tmp_path / 'none'}: VGG-SoundSource root folder not found" in capsys.readouterr().err


def test_committed_flickr_test_list():
    ids, digest = load_real_split("flickr", "test")  # LVS metadata/flickr_test.csv (249 rows), hash-verified
    assert len(ids) == 249 and all(i.isdigit() for i in ids) and len(digest) == 64


def test_store_and_split_lookup_errors(trees, tmp_path):
    with pytest.raises(StoreError, match="no prepared flickr store; run `python -m benchmark.prepare"):
        load_real_domain("flickr", tmp_path / "nowhere")
    with pytest.raises(SplitError, match="manifest.json: missing; the vggss split lists were never made"):
        load_real_split("vggss", "labeled", tmp_path / "splits")
    # the CLI names the problem: 3 annotated non-test pairs cannot give 2,500 + 250
    code = prepare_main(["--make-splits", "--dataset", "flickr", "--root", str(trees["flickr"][0]),
                         "--splits-dir", str(tmp_path / "splits")])
    assert code == 2 and not (tmp_path / "splits" / "labeled.txt").exists()
