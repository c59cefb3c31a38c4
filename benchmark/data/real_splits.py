"""Split lists of the real datasets (string ids), and what their makers (flickr.py, vggss.py) share.

Lists live in datasets/<dataset>/splits/<name>.txt with a manifest.json of sha256 hashes, verified on load
(docs/design.md §3); which are public and which are drawn, and from what: docs/methods.md §1.1 and the
dataset cards.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from benchmark.data.real_common import find_list, read_id_list
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


def choose_test_list(title: str, lists: dict[str, str], choice: str) -> str:
    """The split file of a test-list choice (a profile's `data.<dataset>_test`, or `benchmark.score --test-list`)."""
    if choice not in lists:
        raise SplitError(f"unknown {title} test list {choice!r}; choose one of {sorted(lists)}")
    return lists[choice]


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


def draw(dataset: str, stream: int, pool: list[str], sizes: dict) -> dict[str, list[str]]:
    """labeled, val (and `rest`) drawn from the sorted pool by the fixed split seed and the dataset's own RNG
    stream beside it (synthetic uses 0, 1; Flickr 1001, VGG-SS 1002)."""
    need = sizes["labeled"] + sizes["val"]
    if len(pool) < need:
        raise SplitError(f"{dataset}: only {len(pool)} annotated samples to draw {sizes['labeled']} labeled + "
                         f"{sizes['val']} val from")
    pool = sorted(pool)
    perm = np.random.default_rng([SPLIT_SEED, stream]).permutation(len(pool))
    lists = {"labeled": perm[:sizes["labeled"]], "val": perm[sizes["labeled"]:need], "rest": perm[need:]}
    return {name: sorted(pool[i] for i in idx) for name, idx in lists.items()}


def unlabeled_lists(root: Path, subset_lists: dict, held_out: set[str], requested=("144k",)) -> tuple[dict, dict]:
    """unlabeled_<subset> = the EZ-VSL list minus held-out ids, for every requested subset (its list
    missing is an error, never a silent skip) and every other list present at the root."""
    lists, removed = {}, {}
    for subset, names in subset_lists.items():
        if subset not in requested and not any((root / n).exists() for n in names):
            continue
        ids = list(dict.fromkeys(read_id_list(find_list(root, names))))
        lists[f"unlabeled_{subset}"] = sorted(set(ids) - held_out)
        removed[subset] = len(ids) - len(lists[f"unlabeled_{subset}"])
    return lists, removed


def provenance(dataset: str, stream: int, sizes: dict, annotated: list[str], removed: dict, skips, **extra) -> dict:
    """What made.json records of a draw: seed, stream, sizes, the annotated pool and its digest, what left."""
    digest = hashlib.sha256("".join(f"{e}\n" for e in sorted(annotated)).encode()).hexdigest()
    return {"dataset": dataset, "seed": SPLIT_SEED, "stream": stream, "sizes": dict(sizes),
            "annotated": len(annotated), "annotated_sha256": digest, **extra,
            "unlabeled_removed_held_out": removed, "bad_annotations": skips.items}
