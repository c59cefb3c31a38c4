"""Split lists of the real datasets (string ids) and the one-off split maker.

Lists live in datasets/<dataset>/splits/<name>.txt (one id, or class name, per line) with a
manifest.json of sha256 hashes; loading verifies them, so an edited list is caught. Names:
`labeled`, `val`, `test`, `unlabeled_10k`, `unlabeled_144k`, and for VGG-SS
`heard_classes` / `unheard_classes` (class names).

Which lists are public and which are made (docs/methods.md §1.1): Flickr's test list is LVS/EZ-VSL's
flickr_test.csv and is committed. The 2.5k labeled and 250 val pairs are drawn from the
annotated pairs of the user's tree minus test; VGG-SS's labeled/val/test are drawn from
vggss.json (the only boxes are there), so that test set differs from the standard one. The
draws use splits.SPLIT_SEED (fixed forever, independent of training seeds) and depend only
on the annotation files, not on which media files a user managed to download. Unlabeled
lists are EZ-VSL's 10k/144k lists minus every labeled/val/test id.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from benchmark.data.adapters import get_adapter
from benchmark.data.real_common import DataError, Skips, read_id_list
from benchmark.data.splits import DATASETS_DIR, SPLIT_SEED, SplitError, sha256_file, verify_against_manifest
from benchmark.io import read_json, write_json_atomic, write_text_atomic

SPLIT_SIZES = {"labeled": 2500, "val": 250}  # docs/methods.md §1.1
MAKE_HINT = "make them once with `python -m benchmark.prepare --make-splits --dataset {d} --root PATH`"


def real_split_dir(dataset: str) -> Path:
    return DATASETS_DIR / dataset / "splits"


def load_real_split(dataset: str, name: str, base=None) -> tuple[list[str], str]:
    """(entries, sha256) of one split list, verified against the manifest."""
    base = Path(base) if base is not None else real_split_dir(dataset)
    manifest_path, path = base / "manifest.json", base / f"{name}.txt"
    if not manifest_path.exists():
        raise SplitError(f"{manifest_path}: missing; the {dataset} split lists were never made: "
                         + MAKE_HINT.format(d=dataset))
    digest = verify_against_manifest(manifest_path, name, path, "; " + MAKE_HINT.format(d=dataset))
    entries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not entries:
        raise SplitError(f"{path}: empty split list")
    if len(set(entries)) != len(entries):
        raise SplitError(f"{path}: duplicate entries")
    return entries, digest


def write_splits(base: Path, lists: dict[str, list[str]], made: dict, force: bool = False) -> Path:
    """Write lists (once: a different existing list is an error unless `force`), then the manifest."""
    base.mkdir(parents=True, exist_ok=True)
    manifest = read_json(base / "manifest.json") if (base / "manifest.json").exists() else {}
    for name, entries in lists.items():
        path, text = base / f"{name}.txt", "".join(f"{e}\n" for e in entries)
        if path.exists() and path.read_text() != text and not force:
            raise SplitError(f"{path}: exists with other entries; split lists are written once (use --force to remake, "
                             "which changes every result's split hash)")
        write_text_atomic(path, text)
        manifest[name] = sha256_file(path)
    previous = read_json(base / "made.json") if (base / "made.json").exists() else {}
    write_json_atomic(base / "made.json", {**previous, **made})  # provenance of every list made so far
    write_json_atomic(base / "manifest.json", manifest)
    return base


def _draw(dataset: str, pool: list[str], sizes: dict) -> dict[str, list[str]]:
    """labeled, val (and `rest`) drawn from the sorted pool by the fixed split seed."""
    need = sizes["labeled"] + sizes["val"]
    if len(pool) < need:
        raise SplitError(f"{dataset}: only {len(pool)} annotated samples to draw {sizes['labeled']} labeled + "
                         f"{sizes['val']} val from")
    pool = sorted(pool)
    perm = np.random.default_rng([SPLIT_SEED, get_adapter(dataset).split_stream]).permutation(len(pool))
    lists = {"labeled": perm[:sizes["labeled"]], "val": perm[sizes["labeled"]:need], "rest": perm[need:]}
    return {name: sorted(pool[i] for i in idx) for name, idx in lists.items()}


def _unlabeled(root: Path, subset_lists: dict, held_out: set[str], requested=("144k",)) -> tuple[dict, dict]:
    """unlabeled_<subset> = the EZ-VSL list minus held-out ids, for every requested subset (its list
    missing is an error, never a silent skip) and every other list present at the root."""
    from benchmark.data.real_common import find_list

    lists, removed = {}, {}
    for subset, names in subset_lists.items():
        if subset not in requested and not any((root / n).exists() for n in names):
            continue
        ids = list(dict.fromkeys(read_id_list(find_list(root, names))))
        lists[f"unlabeled_{subset}"] = sorted(set(ids) - held_out)
        removed[subset] = len(ids) - len(lists[f"unlabeled_{subset}"])
    return lists, removed


def _digest(entries) -> str:
    return hashlib.sha256("".join(f"{e}\n" for e in sorted(entries)).encode()).hexdigest()


def make_flickr_splits(root, base=None, sizes: dict = SPLIT_SIZES, force: bool = False,
                       subsets=("144k",)) -> dict:
    """labeled/val from the annotated pairs minus test; test = the committed list (else the
    root's flickr_test.csv); unlabeled from flickr_10k.txt / flickr_144k.txt (.csv accepted)."""
    from benchmark.data.flickr import EXTRA_TEST_IDS, SUBSET_LISTS, TEST_LIST, TEST_LISTS, parse_annotation

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
    drawn = _draw("flickr", sorted(set(annotated) - set(test) - set(EXTRA_TEST_IDS.values())), sizes)
    lists.update(labeled=drawn["labeled"], val=drawn["val"])
    unlabeled, removed = _unlabeled(root, SUBSET_LISTS, set(test) | set(drawn["labeled"]) | set(drawn["val"]), subsets)
    lists.update(unlabeled)
    made = {"dataset": "flickr", "seed": SPLIT_SEED, "stream": get_adapter("flickr").split_stream, "sizes": dict(sizes),
            "annotated": len(annotated), "annotated_sha256": _digest(annotated),
            "test_without_annotation": sorted(set(test) - set(annotated)),
            "unlabeled_removed_held_out": removed, "bad_annotations": skips.items}
    write_splits(base, lists, made, force)
    return made


def make_vggss_splits(root, base=None, sizes: dict = SPLIT_SIZES, force: bool = False,
                      subsets=("144k",)) -> dict:
    """labeled/val/test from vggss.json (test = the rest); heard/unheard class lists from EZ-VSL's
    vggss_heard_test.csv / vggss_unheard_test.csv; unlabeled from vggss_10k.txt / vggss_144k.txt."""
    from benchmark.data.vggss import ANNOTATIONS, SUBSET_LISTS, load_annotations

    root, base = Path(root), Path(base) if base is not None else real_split_dir("vggss")
    skips = Skips(skip_bad=True)
    annotated = load_annotations(root / ANNOTATIONS, skips)
    boxed = sorted(k for k, (_, boxes) in annotated.items() if boxes)
    drawn = _draw("vggss", boxed, sizes)
    lists = {"labeled": drawn["labeled"], "val": drawn["val"], "test": drawn["rest"]}
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
    unlabeled, removed = _unlabeled(root, SUBSET_LISTS, set(boxed), subsets)
    lists.update(unlabeled)
    made = {"dataset": "vggss", "seed": SPLIT_SEED, "stream": get_adapter("vggss").split_stream, "sizes": dict(sizes),
            "annotated": len(boxed), "annotated_sha256": _digest(boxed),
            "test_note": "drawn from vggss.json with the fixed seed: differs from the standard vggss_test.csv",
            "unlabeled_removed_held_out": removed, "bad_annotations": skips.items}
    write_splits(base, lists, made, force)
    return made
