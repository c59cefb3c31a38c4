"""What the Flickr-SoundNet and VGG-SoundSource readers share: the error type, the sample record, skip
bookkeeping, id lists and box checks. Every problem is a `DataError` naming the file; with `skip_bad` a reader
records it and leaves the sample out (the store's info.json keeps the skips)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Boxes may overshoot the image by this fraction of its side (rounding in the annotation
# tools); they are clipped, as the reference code clips. Anything further out is an error.
BOX_TOLERANCE = 0.01


class DataError(ValueError):
    """A problem with one file of a real dataset tree."""

    def __init__(self, file, problem: str, key: str | None = None):
        self.file, self.problem, self.key = str(file), problem, key
        super().__init__(f"{self.file}: {problem}")


@dataclass
class RealSample:
    """One audio-visual pair as the tree ships it: per annotator a list of (x0, y0, x1, y1) boxes in the scale
    `box_scale` (256 for Flickr XML, 1.0 for VGG-SS), empty without boxes; `class_name` None when not given."""

    key: str
    image: Path
    audio: Path
    annotators: list[list[tuple[float, float, float, float]]] = field(default_factory=list)
    box_scale: float = 1.0
    class_name: str | None = None

    @property
    def has_box(self) -> bool:
        return any(self.annotators)


@dataclass
class Skips:
    """Collects DataErrors when skip_bad is on; raises them otherwise."""

    skip_bad: bool = False
    items: list[dict] = field(default_factory=list)

    def report(self, err: DataError, key: str | None = None) -> None:
        if not self.skip_bad:
            raise err
        self.items.append({"key": key if key is not None else err.key, "file": err.file, "problem": err.problem})

    @property
    def keys(self) -> set[str]:
        return {s["key"] for s in self.items if s["key"] is not None}


def read_id_list(path: Path) -> list[str]:
    """Ids of a list file as the field ships them: one per line; for .csv files the first
    comma-separated field (flickr_test.csv has `id,count` rows). Order kept, blanks dropped."""
    if not path.exists():
        raise DataError(path, "list file not found")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read list file ({err})") from None
    ids = []
    for line in text.splitlines():
        key = line.split(",")[0].strip() if path.suffix == ".csv" else line.strip()
        if key:
            ids.append(key)
    if not ids:
        raise DataError(path, "empty list: no sample ids")
    return ids


def check_box(values, scale: float, file, what: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) as floats in [0, scale]; small overshoot clipped, the rest an error."""
    if len(values) != 4:
        raise DataError(file, f"{what}: a box needs 4 coordinates (x0, y0, x1, y1), got {len(values)}")
    try:
        box = [float(v) for v in values]
    except (TypeError, ValueError):
        raise DataError(file, f"{what}: box coordinates {list(values)!r} are not numbers") from None
    tol = BOX_TOLERANCE * scale
    if any(not (-tol <= v <= scale + tol) for v in box):  # also catches NaN
        raise DataError(file, f"{what}: box {box} lies outside the image (coordinates must be in [0, {scale:g}])")
    x0, y0, x1, y1 = (min(max(v, 0.0), scale) for v in box)
    if x1 < x0 or y1 < y0:
        raise DataError(file, f"{what}: box {box} is inverted (needs x0 <= x1 and y0 <= y1)")
    return (x0, y0, x1, y1)


@dataclass
class ReadResult:
    records: list[RealSample]
    skipped: list[dict]  # {"key", "file", "problem"} of every sample left out (skip_bad)
    clipped_boxes: list[dict] = field(default_factory=list)  # {"key", "box", "clipped"}: kept after clipping


def collect(root: Path, keys, make_record, skips: Skips) -> ReadResult:
    """Build a record per key (sorted, unique); bad ones go through `skips`."""
    keys = sorted(set(keys))
    if not keys:
        raise DataError(root, "no samples found (empty tree or empty list)")
    records = []
    for key in keys:
        try:
            records.append(make_record(key))
        except DataError as err:
            skips.report(err, key)
    if not records:
        raise DataError(root, f"no usable samples: all {len(keys)} were skipped as bad")
    return ReadResult(records, skips.items)


def media_paths(root: Path, key: str) -> tuple[Path, Path]:
    """frames/<id>.jpg and audio/<id>.wav, the layout both datasets ship in (EZ-VSL, LVS)."""
    image, audio = root / "frames" / f"{key}.jpg", root / "audio" / f"{key}.wav"
    for path, what in ((image, "frame"), (audio, "audio")):
        if not path.exists():
            raise DataError(path, f"{what} file not found (sample {key!r})", key)
    return image, audio


def find_list(root: Path, names: tuple[str, ...]) -> Path:
    """The first of a list's accepted file names that exists at the root (the repositories ship the same
    list under different names, e.g. flickr_144k.txt in EZ-VSL and SLAVC, .csv elsewhere)."""
    for name in names:
        if (root / name).exists():
            return root / name
    raise DataError(root / names[0], "list file not found" + (f" (nor {', '.join(names[1:])})" if names[1:] else ""))


def subset_list(root: Path, dataset: str, subset: str, subset_lists: dict) -> Path:
    if subset not in subset_lists:
        raise ValueError(f"unknown {dataset} subset {subset!r}; known: {sorted(subset_lists)}")
    return find_list(root, subset_lists[subset])


def wanted_keys(root: Path, dataset: str, annotated, keys, subset: str | None, subset_lists: dict) -> set[str]:
    """The samples a reader returns: `keys` if given (then only those), else every annotated sample
    plus the `subset` list (10k / 144k), else every annotated sample plus every pair in the tree."""
    if keys is not None:
        return set(keys)
    if subset is not None:
        return set(annotated) | set(read_id_list(subset_list(root, dataset, subset, subset_lists)))
    return set(annotated) | tree_keys(root)


def check_layout(root: Path, dataset: str) -> None:
    if not root.is_dir():
        raise DataError(root, f"{dataset} root folder not found")
    for sub in ("frames", "audio"):
        if not (root / sub).is_dir():
            raise DataError(root / sub, f"folder not found: a {dataset} root holds frames/<id>.jpg and audio/<id>.wav")


def tree_keys(root: Path) -> set[str]:
    """Every id with a frame or a track (a lone one is reported as a missing partner)."""
    return {p.stem for p in (root / "frames").glob("*.jpg")} | {p.stem for p in (root / "audio").glob("*.wav")}
