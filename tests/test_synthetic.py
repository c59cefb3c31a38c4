"""Fast checks of the procedural audio-visual dataset (benchmark.data.synthetic)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import synthetic as syn

N = 150  # samples per domain for the distribution checks (~0.5 s per domain)


@pytest.fixture(scope="module")
def samples():
    return {d: [syn.make_sample(d, i) for i in range(N)] for d in syn.DOMAINS}


def _gt_area_fraction(s, size=64):
    """Fraction of pixels inside the union of all GT boxes (all annotators)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    m = np.zeros((size, size), bool)
    for boxes in s["annotations"]:
        for x0, y0, x1, y1 in boxes:
            m |= (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    return m.mean()


def test_constants():
    assert syn.DOMAINS == ("flickr", "vggss")
    assert len(syn.CLASS_NAMES) == syn.NUM_CLASSES == 12
    assert len(set(syn.CLASS_NAMES)) == syn.NUM_CLASSES
    assert len(syn.HEARD_CLASSES) == 8 and len(syn.UNHEARD_CLASSES) == 4
    assert set(syn.HEARD_CLASSES).isdisjoint(syn.UNHEARD_CLASSES)
    assert set(syn.HEARD_CLASSES) | set(syn.UNHEARD_CLASSES) == set(range(syn.NUM_CLASSES))
    assert isinstance(syn.GENERATOR_VERSION, int)


@pytest.mark.parametrize("domain", syn.DOMAINS)
def test_deterministic(domain):
    a, b = syn.make_sample(domain, 17), syn.make_sample(domain, 17)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["audio"], b["audio"])
    for k in ("annotations", "class_id", "object_classes", "offscreen_class", "sample_rate"):
        assert a[k] == b[k]


def test_ids_and_domains_differ():
    a, b = syn.make_sample("flickr", 1), syn.make_sample("flickr", 2)
    c = syn.make_sample("vggss", 1)
    assert not np.array_equal(a["image"], b["image"]) and not np.array_equal(a["audio"], b["audio"])
    assert not np.array_equal(a["image"], c["image"])


@pytest.mark.parametrize("kw", [{}, {"image_size": 96, "clip_seconds": 0.5, "sample_rate": 8000}])
def test_shapes_and_dtypes(kw):
    size, n = kw.get("image_size", 64), round(kw.get("clip_seconds", 1.0) * kw.get("sample_rate", 16000))
    for d in syn.DOMAINS:
        s = syn.make_sample(d, 3, **kw)
        assert s["image"].dtype == np.uint8 and s["image"].shape == (size, size, 3)
        assert s["audio"].dtype == np.float32 and s["audio"].shape == (n,)
        assert s["sample_rate"] == kw.get("sample_rate", 16000)
        _check_boxes(s, size)


def test_audio_independent_of_image_size():
    a, b = syn.make_sample("vggss", 9), syn.make_sample("vggss", 9, image_size=128)
    assert np.array_equal(a["audio"], b["audio"]) and a["class_id"] == b["class_id"]


def _check_boxes(s, size):
    for boxes in s["annotations"]:
        assert len(boxes) >= 1
        for box in boxes:
            x0, y0, x1, y1 = box
            assert all(isinstance(v, float) for v in box)
            assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size


@pytest.mark.parametrize("domain", syn.DOMAINS)
def test_annotations_and_labels(samples, domain):
    for s in samples[domain]:
        _check_boxes(s, 64)
        assert s["class_id"] in s["object_classes"]
        assert all(0 <= c < syn.NUM_CLASSES for c in s["object_classes"])
        assert s["offscreen_class"] == -1 or s["offscreen_class"] not in s["object_classes"]
        n_snd = s["object_classes"].count(s["class_id"])
        if domain == "flickr":  # 3 annotators, one box each
            assert len(s["annotations"]) == 3 and all(len(a) == 1 for a in s["annotations"])
            assert n_snd == 1
        else:  # one annotator listing every sounding instance
            assert len(s["annotations"]) == 1 and len(s["annotations"][0]) == n_snd in (1, 2)


@pytest.mark.parametrize("domain", syn.DOMAINS)
def test_sounding_class_matches(samples, domain):
    for i, s in enumerate(samples[domain][:50]):
        assert syn.sounding_class(domain, i) == s["class_id"]


@pytest.mark.parametrize("domain", syn.DOMAINS)
def test_multiple_distinct_objects(samples, domain):
    frac = np.mean([len(set(s["object_classes"])) >= 2 for s in samples[domain]])
    assert frac >= 0.8


def test_box_area_ranges(samples):
    fl = np.array([_gt_area_fraction(s) for s in samples["flickr"]])
    vg = np.array([_gt_area_fraction(s) for s in samples["vggss"]])
    # flickr: large sounding objects, nearly always >= 25% (success is possible)
    assert 0.32 <= np.median(fl) <= 0.5 and (fl >= 0.25).mean() >= 0.9 and fl.max() <= 0.7
    # vggss: smaller on average and more varied; a good share below 25% (hard cases)
    assert np.median(vg) < np.median(fl) and 0.2 <= np.median(vg) <= 0.4
    assert 0.15 <= (vg < 0.25).mean() <= 0.6 and vg.std() > fl.std()


def test_every_class_in_both_domains_with_different_mix():
    counts = {d: np.bincount([syn.sounding_class(d, i) for i in range(1200)], minlength=syn.NUM_CLASSES)
              for d in syn.DOMAINS}
    for d in syn.DOMAINS:
        assert (counts[d] > 0).all()
    assert np.abs(counts["flickr"] - counts["vggss"]).max() > 40


@pytest.mark.parametrize("domain", syn.DOMAINS)
def test_audio_valid(samples, domain):
    for s in samples[domain]:
        a = s["audio"]
        assert np.isfinite(a).all() and np.abs(a).max() <= 1.0 and np.abs(a).max() > 0.1


def test_offscreen_rate_and_domain_style(samples):
    for d in syn.DOMAINS:
        rate = np.mean([s["offscreen_class"] >= 0 for s in samples[d]])
        assert 0.1 <= rate <= 0.45
    # flickr: bright daylight; vggss: darker indoor scenes
    bright = {d: np.mean([s["image"].mean() for s in samples[d]]) for d in syn.DOMAINS}
    assert bright["flickr"] > bright["vggss"] + 20


def test_sounding_position_not_fixed(samples):
    """Sounding boxes must spread over the image, not sit at the centre."""
    cx = np.array([(a[0][0] + a[0][2]) / 2 for s in samples["flickr"] for a in s["annotations"][:1]])
    assert (cx < 28).mean() > 0.25 and (cx > 36).mean() > 0.25


def test_unknown_domain():
    with pytest.raises(ValueError):
        syn.make_sample("audioset", 0)
