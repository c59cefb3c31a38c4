"""VGG-SoundSource as the field ships it (LVS `metadata/vggss.json`, EZ-VSL `datasets.py`): reader and split maker.

The tree, the annotation format and how its odd boxes are clipped: datasets/vggss/README.md.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmark.data.adapters import RealAdapter
from benchmark.data.real_common import (DataError, RealSample, ReadResult, Skips, check_layout, collect, read_id_list,
                                        wanted_keys)
from benchmark.data.real_media import checked_media
from benchmark.data.real_splits import (SPLIT_SIZES, choose_test_list, draw, provenance, real_split_dir,
                                        unlabeled_lists, write_splits)
from benchmark.data.splits import SplitError
from benchmark.metrics import union_gt_map

BOX_SCALE = 1.0
SPLIT_STREAM = 1002  # its RNG stream beside splits.SPLIT_SEED for drawing labeled / val / test
ANNOTATIONS = "vggss.json"
LABELS = "vggsound.csv"
SUBSET_LISTS = {"10k": ("vggss_10k.txt", "vggss_10k.csv"), "144k": ("vggss_144k.txt", "vggss_144k.csv")}
SSPL_TEST = "vggss_test_4692.csv"  # zjsong/SSPL metadata/: vggss_test.csv in its order, 466 ids left out
# The field's VGG-SS test lists (a profile's `data.vggss_test`; docs/protocol.md §2) -> split file. LVS, EZ-VSL,
# SLAVC and FNAC ship one vggss_test.csv: the 5,158 ids of vggss.json. Both public lists hold our labeled / val
# samples, so only `drawn` can test a run trained here (load_real_domain refuses the others).
TEST_LISTS = {"drawn": "test", "5158": "test_5158", "4692-sspl": "test_4692_sspl"}


def load_annotations(path: Path, skips: Skips | None = None,
                     clipped: list | None = None) -> dict[str, tuple[str | None, list]]:
    """{id: (class name, [boxes])}. A bad entry is an error, or with skip_bad a recorded skip; every
    box clipped into [0, 1] is appended to `clipped` as {key, box (as shipped), clipped}."""
    skips = skips or Skips()
    clipped = [] if clipped is None else clipped
    try:
        entries = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(path, f"malformed JSON ({err})") from None
    if not isinstance(entries, list):
        raise DataError(path, f"malformed JSON: expected a list of {{file, class, bbox}} entries, "
                              f"got {type(entries).__name__}")
    if not entries:
        raise DataError(path, "empty list: no annotated samples")
    out, twice = {}, set()
    for i, entry in enumerate(entries):
        key = entry.get("file") if isinstance(entry, dict) else None
        try:
            k, value = _entry(path, i, entry, clipped)
            if k in out or k in twice:  # which copy is right cannot be told: drop both
                twice.add(k)
                out.pop(k, None)
                raise DataError(path, f"malformed JSON: entry {i}: file {k!r} is annotated twice", k)
            out[k] = value
        except DataError as err:
            skips.report(err, key if isinstance(key, str) else None)
    return out


def clip_unit_box(values, file, what: str) -> tuple[tuple[float, float, float, float], bool]:
    """(x0, y0, x1, y1) clipped into [0, 1] as EZ-VSL's evaluator does, and whether clipping changed it.
    Not four numbers, or a NaN, is an error; an inverted box after clipping is kept and renders empty."""
    if len(values) != 4:
        raise DataError(file, f"{what}: a box needs 4 coordinates (x0, y0, x1, y1), got {len(values)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or any(v != v for v in values):
        raise DataError(file, f"{what}: box coordinates {list(values)!r} are not numbers")
    box = tuple(min(max(float(v), 0.0), 1.0) for v in values)
    return box, box != tuple(float(v) for v in values)


def _entry(path, i: int, entry, clipped: list) -> tuple[str, tuple[str | None, list]]:
    if not isinstance(entry, dict):
        raise DataError(path, f"malformed JSON: entry {i} is a {type(entry).__name__}, not an object")
    key, boxes, cls = entry.get("file"), entry.get("bbox"), entry.get("class")
    if not isinstance(key, str) or not key:
        raise DataError(path, f"malformed JSON: entry {i} has no \"file\" id")
    if not isinstance(boxes, list) or not all(isinstance(b, list) for b in boxes):
        raise DataError(path, f"malformed JSON: entry {i} ({key!r}): \"bbox\" must be a list of [x0, y0, x1, y1]", key)
    if cls is not None and not isinstance(cls, str):
        raise DataError(path, f"malformed JSON: entry {i} ({key!r}): \"class\" must be a string", key)
    checked = []
    for j, b in enumerate(boxes):
        box, changed = clip_unit_box(b, path, f"entry {i} ({key!r}) box {j}")
        checked.append(box)
        if changed:
            clipped.append({"key": key, "box": list(b), "clipped": list(box)})
    return key, (cls, checked)


def load_vggsound_labels(path: Path) -> dict[str, str]:
    """{id: class} from VGGSound's vggsound.csv (`ytid,start,label,split`, no header)."""
    labels = {}
    try:
        rows = list(csv.reader(Path(path).read_text().splitlines()))
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read label file ({err})") from None
    for n, row in enumerate(rows, 1):
        if not row or row[0].startswith("#"):
            continue
        try:
            labels[f"{row[0]}_{int(row[1]):06d}"] = row[2]
        except (IndexError, ValueError):
            raise DataError(path, f"line {n}: expected `youtube_id,start_seconds,label,split`, got {row!r}") from None
    return labels


def read_vggss(root, *, subset: str | None = None, keys=None, skip_bad: bool = False,
               require_rate: int | None = None, check_media: bool = True) -> ReadResult:
    """Records of every annotated sample plus the wanted ones: `keys` if given (then only
    those), else the `subset` list (10k / 144k), else every pair in the tree."""
    root = Path(root)
    check_layout(root, "VGG-SoundSource")
    skips, clipped = Skips(skip_bad), []
    annotated = load_annotations(root / ANNOTATIONS, skips, clipped)
    labels = load_vggsound_labels(root / LABELS) if (root / LABELS).exists() else {}
    bad = skips.keys
    wanted = wanted_keys(root, "VGG-SS", annotated, keys, subset, SUBSET_LISTS)

    def record(key: str) -> RealSample:
        image, audio = checked_media(root, key, check_media, require_rate)
        cls, boxes = annotated.get(key, (labels.get(key), []))
        return RealSample(key, image, audio, [boxes] if boxes else [], BOX_SCALE, cls)

    result = collect(root, wanted - bad, record, skips)
    result.clipped_boxes = clipped
    return result


# ----------------------------------------------------------------------------- split lists (made once)
def make_vggss_splits(root, base=None, sizes: dict = SPLIT_SIZES, force: bool = False,
                      subsets=("144k",)) -> dict:
    """labeled/val/test from vggss.json (test = the rest); test_5158 = every annotated id, test_4692_sspl = SSPL's
    list if at the root; heard/unheard class lists from EZ-VSL's vggss_heard_test.csv / vggss_unheard_test.csv;
    unlabeled from vggss_10k.txt / vggss_144k.txt."""
    root, base = Path(root), Path(base) if base is not None else real_split_dir("vggss")
    skips = Skips(skip_bad=True)
    annotated = load_annotations(root / ANNOTATIONS, skips)
    boxed = sorted(k for k, (_, boxes) in annotated.items() if boxes)
    drawn = draw("vggss", SPLIT_STREAM, boxed, sizes)
    lists = {"labeled": drawn["labeled"], "val": drawn["val"], "test": drawn["rest"], "test_5158": boxed}
    if (root / SSPL_TEST).exists():
        sspl = sorted(set(read_id_list(root / SSPL_TEST)))
        unknown = sorted(set(sspl) - set(boxed))
        if unknown:
            raise SplitError(f"{root / SSPL_TEST}: {len(unknown)} ids are not annotated in {ANNOTATIONS} "
                             f"(e.g. {unknown[:3]})")
        lists["test_4692_sspl"] = sspl
    classes = {}
    for which in ("heard", "unheard"):
        path = root / f"vggss_{which}_test.csv"
        if path.exists():
            classes[which] = sorted({annotated[k][0] for k in read_id_list(path) if k in annotated and annotated[k][0]})
    if len(classes) == 2:
        both = set(classes["heard"]) & set(classes["unheard"])
        if both:
            raise SplitError(f"{root}: classes {sorted(both)[:5]} are both heard and unheard in the EZ-VSL test lists")
        lists.update(heard_classes=classes["heard"], unheard_classes=classes["unheard"])
    unlabeled, removed = unlabeled_lists(root, SUBSET_LISTS, set(boxed), subsets)
    lists.update(unlabeled)
    made = provenance("vggss", SPLIT_STREAM, sizes, boxed, removed, skips,
                      test_note="drawn from vggss.json with the fixed seed: differs from the standard vggss_test.csv",
                      public_test_lists={k: len(v) for k, v in lists.items() if k.startswith("test_")})
    write_splits(base, lists, made, force)
    return made


# ----------------------------------------------------------------------------- the dataset adapter
def test_split(choice: str) -> str:
    """The split file of a VGG-SS test-list choice (a profile's `data.vggss_test`)."""
    return choose_test_list("VGG-SS", TEST_LISTS, choice)


class VGGSS(RealAdapter):
    name, title = "vggss", "VGG-SoundSource"
    class_subsets = ("heard", "unheard")  # splits/{heard,unheard}_classes.txt: the open set
    # the annotated training pool is labeled.txt itself (2.5k)
    label_budgets, label_streams = {"1k": 1000, "2.5k": 2500}, {"vggss": 3102}
    negatives = "slavc"

    read, make_splits = staticmethod(read_vggss), staticmethod(make_vggss_splits)

    def test_list(self, data):
        return test_split(data.vggss_test)

    def gt_map(self, domain, annotators, size, box_scale=None):
        """The union of every box (docs/methods.md §1.5)."""
        return union_gt_map([b for a in annotators for b in a], size, box_scale=box_scale)

    def note(self, data):
        drawn = (": the annotated samples outside our labeled / val draw, so it differs from the field's 5,158"
                 if data.vggss_test == "drawn" else "")
        return (f"**Real data: VGG-SoundSource**, scored on the `{data.vggss_test}` test list{drawn} "
                "(`datasets/vggss/README.md`).")
