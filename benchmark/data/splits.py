"""Committed split lists (sample ids, one per line) and the manifest of their sha256 hashes, verified on load so
an edited list is caught (docs/design.md §3)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from benchmark.io import read_json, write_json_atomic, write_text_atomic

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS_DIR = REPO_ROOT / "datasets"
SPLIT_NAMES = ("labeled", "unlabeled", "val", "test")
SPLIT_SEED = 20240305  # fixed forever; NOT a training seed


class SplitError(ValueError):
    pass


def split_dir(dataset: str, profile: str) -> Path:
    return DATASETS_DIR / dataset / "splits" / profile


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_synthetic_splits(profile: str, sizes: dict, domains: tuple[str, ...], extra=None, force=False) -> Path:
    """Assign sample ids 0..N-1 of each domain to splits by a fixed-seed permutation.

    `extra(domain, lists) -> {name: ids}` may add derived lists (e.g. open-set ones).
    """
    out = split_dir("synthetic", profile)
    if (out / "manifest.json").exists() and not force:
        raise SplitError(f"{out}/manifest.json exists: split lists are written once (use force to remake)")
    manifest = {}
    for d_index, domain in enumerate(domains):
        total = sum(sizes[s] for s in SPLIT_NAMES)
        perm = np.random.default_rng([SPLIT_SEED, d_index]).permutation(total)
        lists, start = {}, 0
        for s in SPLIT_NAMES:
            lists[s] = sorted(int(i) for i in perm[start:start + sizes[s]])
            start += sizes[s]
        if extra is not None:
            lists.update(extra(domain, lists))
        for s, ids in lists.items():
            path = out / domain / f"{s}.txt"
            write_text_atomic(path, "".join(f"{i}\n" for i in ids))
            manifest[f"{domain}/{s}"] = sha256_file(path)
    write_json_atomic(out / "manifest.json", manifest)
    return out


def verify_against_manifest(manifest_path: Path, key: str, path: Path, hint: str = "") -> str:
    """sha256 of a split list file, checked against its manifest entry (an edited list is refused)."""
    manifest = read_json(manifest_path)
    if key not in manifest:
        raise SplitError(f"{manifest_path}: no split {key!r} (known: {sorted(manifest)}){hint}")
    if not path.exists():
        raise SplitError(f"{path}: split list missing")
    digest = sha256_file(path)
    if digest != manifest[key]:
        raise SplitError(f"{path}: sha256 {digest[:12]}… differs from the manifest's {manifest[key][:12]}…; "
                         "split lists must not be edited")
    return digest


def load_split(dataset: str, profile: str, domain: str, split: str) -> tuple[list[int], str]:
    """(ids, sha256) of one committed split list, verified against the manifest."""
    base = split_dir(dataset, profile)
    manifest_path = base / "manifest.json"
    if not manifest_path.exists():
        raise SplitError(f"{manifest_path}: missing; split lists for {dataset}/{profile} were never made")
    path = base / domain / f"{split}.txt"
    digest = verify_against_manifest(manifest_path, f"{domain}/{split}", path)
    ids = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                ids.append(int(line))
            except ValueError:
                raise SplitError(f"{path}:{n}: not an integer sample id: {line!r}") from None
    if not ids:
        raise SplitError(f"{path}: empty split list")
    return ids, digest
