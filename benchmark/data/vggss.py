"""VGG-SoundSource as the field ships it (LVS `metadata/vggss.json`, EZ-VSL `datasets.py`).

Tree:

    ROOT/frames/<id>.jpg        <id> = <YouTube id>_<start second, 6 digits>, e.g. zpWuikVorYg_000032
    ROOT/audio/<id>.wav
    ROOT/vggss.json             LVS annotations (required)
    ROOT/vggss_10k.txt          EZ-VSL subset lists (optional; needed for --subset)
    ROOT/vggss_144k.txt
    ROOT/vggsound.csv           VGGSound's label file (optional): `ytid,start,label,split` rows;
                                gives the unannotated samples a class (open-set restriction)

vggss.json: a JSON list of {"file": id, "class": name, "bbox": [[x0, y0, x1, y1], ...]}
with coordinates normalised to [0, 1] (EZ-VSL clips them to [0, 1] and scales by 224).
Some real boxes have zero area; they are kept (they add nothing to the union map).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmark.data.real_common import (DataError, RealSample, ReadResult, Skips, check_box, check_layout,
                                        checked_media, collect, wanted_keys)

BOX_SCALE = 1.0
ANNOTATIONS = "vggss.json"
LABELS = "vggsound.csv"
SUBSET_LISTS = {"10k": "vggss_10k.txt", "144k": "vggss_144k.txt"}


def load_annotations(path: Path, skips: Skips | None = None) -> dict[str, tuple[str | None, list]]:
    """{id: (class name, [boxes])}. A bad entry is an error, or with skip_bad a recorded skip."""
    skips = skips or Skips()
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
            k, value = _entry(path, i, entry)
            if k in out or k in twice:  # which copy is right cannot be told: drop both
                twice.add(k)
                out.pop(k, None)
                raise DataError(path, f"malformed JSON: entry {i}: file {k!r} is annotated twice", k)
            out[k] = value
        except DataError as err:
            skips.report(err, key if isinstance(key, str) else None)
    return out


def _entry(path, i: int, entry) -> tuple[str, tuple[str | None, list]]:
    if not isinstance(entry, dict):
        raise DataError(path, f"malformed JSON: entry {i} is a {type(entry).__name__}, not an object")
    key, boxes, cls = entry.get("file"), entry.get("bbox"), entry.get("class")
    if not isinstance(key, str) or not key:
        raise DataError(path, f"malformed JSON: entry {i} has no \"file\" id")
    if not isinstance(boxes, list) or not all(isinstance(b, list) for b in boxes):
        raise DataError(path, f"malformed JSON: entry {i} ({key!r}): \"bbox\" must be a list of [x0, y0, x1, y1]", key)
    if cls is not None and not isinstance(cls, str):
        raise DataError(path, f"malformed JSON: entry {i} ({key!r}): \"class\" must be a string", key)
    checked = [check_box(b, BOX_SCALE, path, f"entry {i} ({key!r}) box {j}") for j, b in enumerate(boxes)]
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
    skips = Skips(skip_bad)
    annotated = load_annotations(root / ANNOTATIONS, skips)
    labels = load_vggsound_labels(root / LABELS) if (root / LABELS).exists() else {}
    bad = skips.keys
    wanted = wanted_keys(root, "VGG-SS", annotated, keys, subset, SUBSET_LISTS)

    def record(key: str) -> RealSample:
        image, audio = checked_media(root, key, check_media, require_rate)
        cls, boxes = annotated.get(key, (labels.get(key), []))
        return RealSample(key, image, audio, [boxes] if boxes else [], BOX_SCALE, cls)

    return collect(root, wanted - bad, record, skips)
