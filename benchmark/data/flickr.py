"""Flickr-SoundNet as the field ships it (EZ-VSL `datasets.py`, LVS `test.py`, Senocak's 5k set): reader and
split maker.

The tree and how the annotation XML is read (by name, else by position, as the reference readers):
datasets/flickr/README.md.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from benchmark.data.adapters import RealAdapter
from benchmark.data.real_common import (DataError, RealSample, ReadResult, Skips, check_box, check_layout, collect,
                                        read_id_list, wanted_keys)
from benchmark.data.real_media import checked_media
from benchmark.data.real_splits import (SPLIT_SIZES, choose_test_list, draw, load_real_split, provenance,
                                        real_split_dir, unlabeled_lists, write_splits)
from benchmark.data.splits import SplitError
from benchmark.io import read_json
from benchmark.metrics import consensus_gt_map

BOX_SCALE = 256.0
SPLIT_STREAM = 1001  # its RNG stream beside splits.SPLIT_SEED for drawing labeled / val
# accepted file names per subset, first found wins: EZ-VSL's train.py reads metadata/{trainset}.txt
SUBSET_LISTS = {"10k": ("flickr_10k.txt", "flickr_10k.csv"), "144k": ("flickr_144k.txt", "flickr_144k.csv")}
TEST_LIST = "flickr_test.csv"
# The field's Flickr test sets (docs/protocol.md §1): LVS and EZ-VSL score 249 ids (the committed test.txt);
# Senocak's original test_list.txt and SLAVC's flickr_test.csv have 250, each with a different 250th id.
# Neither extra id may enter labeled / val, whichever list a run scores on.
EXTRA_TEST_IDS = {"250-senocak": "3908875357", "250-slavc": "3908875350"}
TEST_LISTS = {"249": "test", "250-senocak": "test_250_senocak", "250-slavc": "test_250_slavc"}  # -> split file
COORDS = ("xmin", "ymin", "xmax", "ymax")


def parse_annotation(path: Path) -> list[list[tuple]]:
    """Per annotator a list of (x0, y0, x1, y1) boxes on the 256 scale."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (ET.ParseError, OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"malformed XML ({err})") from None
    groups = []
    for gi, group in enumerate(root):
        boxes = []
        for bi, el in enumerate(b for b in group if b.tag == "bbox"):
            where = f"<{group.tag}> #{gi} <bbox> #{bi}"
            named = {c.tag: c.text for c in el}
            if all(t in named for t in COORDS):
                values = [named[t] for t in COORDS]
            else:
                kids = list(el)
                if len(kids) != 5:
                    raise DataError(path, f"malformed XML: {where} has {len(kids)} children; expected "
                                          "<xmin> <ymin> <xmax> <ymax>, or a label then the four coordinates")
                values = [k.text for k in kids[1:]]
            boxes.append(check_box(values, BOX_SCALE, path, where))
        if boxes:
            groups.append(boxes)
    if not groups:
        raise DataError(path, "malformed XML: no <bbox> under the root's children")
    return groups


def read_flickr(root, *, subset: str | None = None, keys=None, skip_bad: bool = False,
                require_rate: int | None = None, check_media: bool = True) -> ReadResult:
    """Records of every annotated pair plus the wanted ones: `keys` if given (then only
    those), else the `subset` list (10k / 144k), else every pair in the tree."""
    root = Path(root)
    check_layout(root, "Flickr-SoundNet")
    ann_dir = root / "Annotations"
    annotated = {p.stem for p in ann_dir.glob("*.xml")} if ann_dir.is_dir() else set()
    wanted = wanted_keys(root, "Flickr", annotated, keys, subset, SUBSET_LISTS)

    def record(key: str) -> RealSample:
        image, audio = checked_media(root, key, check_media, require_rate)
        annotators = parse_annotation(ann_dir / f"{key}.xml") if key in annotated else []
        return RealSample(key, image, audio, annotators, BOX_SCALE, None)

    return collect(root, wanted, record, Skips(skip_bad))


# ----------------------------------------------------------------------------- split lists (made once)
def make_flickr_splits(root, base=None, sizes: dict = SPLIT_SIZES, force: bool = False,
                       subsets=("144k",)) -> dict:
    """labeled/val from the annotated pairs minus test; test = the committed list (else the
    root's flickr_test.csv); unlabeled from flickr_10k.txt / flickr_144k.txt (.csv accepted)."""
    root, base = Path(root), Path(base) if base is not None else real_split_dir("flickr")
    ann_dir = root / "Annotations"
    if not ann_dir.is_dir():
        raise DataError(ann_dir, "folder not found: the annotated pairs' XML files are needed to draw the splits")
    skips, annotated = Skips(skip_bad=True), []
    for path in sorted(ann_dir.glob("*.xml")):
        try:
            parse_annotation(path)
            annotated.append(path.stem)
        except DataError as err:
            skips.report(err, path.stem)
    lists = {}
    if (base / "manifest.json").exists() and "test" in read_json(base / "manifest.json"):
        test, _ = load_real_split("flickr", "test", base)
    else:
        test = lists["test"] = sorted(set(read_id_list(root / TEST_LIST)))
    for variant, extra in EXTRA_TEST_IDS.items():  # the 250-id test lists: the 249 plus their own extra id
        if "test" in lists or not (base / f"{TEST_LISTS[variant]}.txt").exists():
            lists[TEST_LISTS[variant]] = sorted(set(test) | {extra})
    drawn = draw("flickr", SPLIT_STREAM, sorted(set(annotated) - set(test) - set(EXTRA_TEST_IDS.values())), sizes)
    lists.update(labeled=drawn["labeled"], val=drawn["val"])
    held_out = set(test) | set(drawn["labeled"]) | set(drawn["val"])
    unlabeled, removed = unlabeled_lists(root, SUBSET_LISTS, held_out, subsets)
    lists.update(unlabeled)
    made = provenance("flickr", SPLIT_STREAM, sizes, annotated, removed, skips,
                      test_without_annotation=sorted(set(test) - set(annotated)))
    write_splits(base, lists, made, force)
    return made


def flickr_label_pool(root, base=None) -> tuple[list[str], str]:
    """The annotated training pool label budgets are drawn from (benchmark/data/label_lists.py): every pair with
    valid annotation XML under ROOT/Annotations minus the committed test and val lists and both extra test ids;
    the committed labeled list must lie inside it (else the lists were made from other annotation files)."""
    if root is None:
        raise SplitError("flickr label lists need --root: the annotated pool is read from ROOT/Annotations/")
    base = Path(base) if base is not None else real_split_dir("flickr")
    ann_dir = Path(root) / "Annotations"
    if not ann_dir.is_dir():
        raise DataError(ann_dir, "folder not found: the annotated pairs' XML files are needed for the label pool")
    annotated = []
    for path in sorted(ann_dir.glob("*.xml")):
        try:
            parse_annotation(path)
            annotated.append(path.stem)
        except DataError:
            continue  # as make_flickr_splits: a pair without valid boxes is never labeled
    held_out = set(EXTRA_TEST_IDS.values())
    for name in ("val", *TEST_LISTS.values()):
        held_out.update(load_real_split("flickr", name, base)[0])
    pool = sorted(set(annotated) - held_out)
    labeled = load_real_split("flickr", "labeled", base)[0]
    outside = sorted(set(labeled) - set(pool))
    if outside:
        raise SplitError(f"{base / 'labeled.txt'}: {len(outside)} ids (e.g. {outside[:3]}) are not annotated training "
                         f"pairs under {ann_dir}: the split lists were made from other annotation files")
    return pool, "flickr annotated pairs (valid XML under ROOT/Annotations) minus val, the test lists, extra test ids"


# ----------------------------------------------------------------------------- the dataset adapter
def test_split(choice: str) -> str:
    """The split file of a Flickr test-list choice (a profile's `data.flickr_test`)."""
    return choose_test_list("Flickr", TEST_LISTS, choice)


class Flickr(RealAdapter):
    name, title = "flickr", "Flickr-SoundNet"
    # Senocak's ~5k annotated pairs include the test and val pairs, so no 5k budget can be drawn: `all` is the
    # whole annotated training pool (about 4.5k; its size is in made.json)
    label_budgets, label_streams = {"1k": 1000, "2.5k": 2500, "all": None}, {"flickr": 3101}
    negatives = "slavc"
    read, make_splits = staticmethod(read_flickr), staticmethod(make_flickr_splits)

    def test_list(self, data):
        return test_split(data.flickr_test)

    def label_pool(self, root, base):
        return flickr_label_pool(root, base)

    def gt_map(self, domain, annotators, size, box_scale=None):
        """The consensus of the annotators' boxes (docs/methods.md §1.5)."""
        return consensus_gt_map(annotators, size, box_scale=box_scale)

    def note(self, data):
        return (f"**Real data: Flickr-SoundNet**, scored on the `{data.flickr_test}`-id test list "
                "(`datasets/flickr/README.md`).")
