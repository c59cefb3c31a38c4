"""Labeled-subset lists for label-budget curves (the `labels` suite; docs/protocol.md §9).

For each training domain, label budget and training seed: a committed list of the sample ids that keep their
labels, with a manifest of sha256 hashes beside it, as the split lists (docs/design.md §3). The rest of the
domain's training pool is its unlabeled pool; validation and test never change.

- Pool: the split lists' labeled + unlabeled ids (synthetic), or the annotated training pairs (real data: the
  adapter's `label_pool`).
- Budgets and streams: the adapter's `label_budgets` and `label_streams` (benchmark/data/adapters.py).
- Draw: one permutation of the sorted pool per (pool, seed), `numpy.random.default_rng([SPLIT_SEED, stream,
  seed])`, with a stream per pool; budget b keeps the first n_b entries, so within a seed the budgets are
  **nested** (2 % ⊂ 5 % ⊂ 10 % ⊂ 25 %) and a curve's steps are labels added, not another draw.
- Files: `<labels dir>/<budget>/seed<k>.txt` (ids sorted, one per line), `manifest.json` ({"<budget>/seed<k>":
  sha256}) and `made.json` (seed, stream, pool size and digest, budget sizes). The labels dir is the adapter's
  `labels_dir`: `datasets/synthetic/splits/<profile>/labels/<domain>/`, `datasets/<dataset>/splits/labels/`.

    python -m benchmark.data.label_lists --dataset synthetic --profile default
    python -m benchmark.data.label_lists --dataset flickr --root /data/flickr
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from benchmark.data.adapters import RealAdapter, get_adapter, list_adapters
from benchmark.data.real_splits import real_split_dir
from benchmark.data.splits import SPLIT_SEED, SplitError, load_split, sha256_file, verify_against_manifest
from benchmark.data.synthetic import SyntheticAdapter
from benchmark.io import read_json, write_json_atomic, write_text_atomic
from methods.config import ConfigError, load_yaml

MAKE_HINT = "make them with `python -m benchmark.data.label_lists` (docs/protocol.md §9)"


def budget_size(spec, pool: int, name: str = "") -> int:
    """Samples a budget keeps of a pool of `pool`: a fraction rounded half up, a count, or all (None)."""
    n = pool if spec is None else int(np.floor(spec * pool + 0.5)) if isinstance(spec, float) else int(spec)
    if not 0 < n <= pool:
        raise SplitError(f"label budget {name!r} ({spec}) needs {n} samples of a pool of {pool}")
    return n


def draw_label_lists(pool: list, budgets: dict, seed: int, stream: int) -> dict[str, list]:
    """{budget: sorted ids}: the first n_b entries of one permutation of the sorted pool (nested budgets)."""
    pool = sorted(pool)
    perm = np.random.default_rng([SPLIT_SEED, stream, seed]).permutation(len(pool))
    return {name: sorted(pool[i] for i in perm[:budget_size(spec, len(pool), name)]) for name, spec in budgets.items()}


def pool_digest(pool: list) -> str:
    return hashlib.sha256("".join(f"{e}\n" for e in sorted(pool)).encode()).hexdigest()


def write_label_lists(base: Path, pool: list, budgets: dict, seeds, stream: int, pool_note: str,
                      force: bool = False) -> Path:
    """Write every (budget, seed) list under `base` and its manifest and made.json. A list is written once: one
    with other ids is an error unless `force`; seeds may be added later (the others stay)."""
    made = {"seed": SPLIT_SEED, "stream": stream, "nested": True, "pool": pool_note, "pool_size": len(pool),
            "pool_sha256": pool_digest(pool),
            "budgets": {name: budget_size(spec, len(pool), name) for name, spec in budgets.items()}}
    old = read_json(base / "made.json") if (base / "made.json").exists() else None
    if old is not None and not force and {k: v for k, v in old.items() if k != "seeds"} != made:
        raise SplitError(f"{base}/made.json: these label lists were made from another pool or with other budgets; "
                         "they are written once (force remakes them, which changes every result's hash)")
    manifest = read_json(base / "manifest.json") if (base / "manifest.json").exists() and not force else {}
    for seed in seeds:
        for name, ids in draw_label_lists(pool, budgets, seed, stream).items():
            path, text = base / name / f"seed{seed}.txt", "".join(f"{i}\n" for i in ids)
            if path.exists() and path.read_text() != text and not force:
                raise SplitError(f"{path}: exists with other ids; label lists are written once")
            write_text_atomic(path, text)
            manifest[f"{name}/seed{seed}"] = sha256_file(path)
    seeds_made = sorted(set((old or {}).get("seeds", []) if not force else []) | set(seeds))
    write_json_atomic(base / "made.json", {**made, "seeds": seeds_made})
    write_json_atomic(base / "manifest.json", dict(sorted(manifest.items())))
    return base


def load_label_list(base: Path, budget: str, seed: int) -> tuple[list[str], str]:
    """(ids as strings, sha256) of one labeled-subset list, verified against its manifest."""
    manifest_path, path = base / "manifest.json", base / budget / f"seed{seed}.txt"
    if not manifest_path.exists():
        raise SplitError(f"{manifest_path}: missing; the label lists were never made: {MAKE_HINT}")
    digest = verify_against_manifest(manifest_path, f"{budget}/seed{seed}", path,
                                     f"; seed {seed} or budget {budget!r} has no list: {MAKE_HINT}")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids or len(set(ids)) != len(ids):
        raise SplitError(f"{path}: empty or with duplicate ids")
    return ids, digest


def budget_sizes(base: Path) -> dict[str, int]:
    """{budget: number of labeled samples} of a labels dir (its made.json), {} if none were made."""
    return dict(read_json(base / "made.json").get("budgets", {})) if (base / "made.json").exists() else {}


# ----------------------------------------------------------------------------- makers
def profile_seeds(lists: str, source: str) -> list[int]:
    """Seeds of every profile that uses these lists: synthetic lists of profile `lists` serve it and every profile
    with `data.splits: <lists>` (bench uses default's); the real lists serve every real-data profile."""
    from benchmark.suites import PROFILES_PATH  # import cycle: suites -> data

    seeds = set()
    for name, prof in load_yaml(PROFILES_PATH).items():
        data = prof.get("data", {})
        if data.get("source") != source:
            continue
        if source == "real" or name == lists or data.get("splits") == lists:
            seeds.update(prof.get("seeds", []))
    return sorted(seeds)


def make_synthetic_label_lists(profile: str, seeds=None, force: bool = False) -> list[Path]:
    """The lists of both synthetic domains, from the committed split lists of `profile`."""
    adapter = SyntheticAdapter()
    seeds = profile_seeds(profile, adapter.source) if seeds is None else seeds
    out = []
    for domain, stream in adapter.label_streams.items():
        pool = sorted(i for s in ("labeled", "unlabeled") for i in load_split(adapter.name, profile, domain, s)[0])
        note = f"synthetic/{profile}/{domain} labeled + unlabeled split lists"
        out.append(write_label_lists(adapter.labels_dir(None, profile, domain), pool, adapter.label_budgets, seeds,
                                     stream, note, force))
    return out


def make_real_label_lists(dataset: str, root=None, seeds=None, base=None, force: bool = False,
                          budgets: dict | None = None) -> Path:
    """The lists of a real dataset from its annotated training pool (the adapter's `label_pool`: the committed
    split lists, and for Flickr the annotation files under `root`). `base`: the split lists' folder (the lists go
    to its `labels/`); `budgets`: default the adapter's `label_budgets`."""
    adapter = get_adapter(dataset)
    declared = adapter.require("label_budgets", "label budgets")
    base = Path(base) if base is not None else real_split_dir(dataset)
    pool, note = adapter.label_pool(root, base)
    seeds = profile_seeds("", adapter.source) if seeds is None else seeds
    return write_label_lists(base / "labels", pool, budgets or declared, seeds, adapter.label_streams[dataset], note,
                             force)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=list_adapters())
    p.add_argument("--profile", help="synthetic: whose split lists (e.g. default, smoke)")
    p.add_argument("--root", type=Path, help="real data: the dataset root (Flickr: its Annotations/ folder)")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")],
                   help="default: the seeds of every profile that uses these lists")
    p.add_argument("--force", action="store_true", help="remake existing lists (changes every result's hash)")
    args = p.parse_args(argv)
    try:
        if isinstance(get_adapter(args.dataset), RealAdapter):
            out = [make_real_label_lists(args.dataset, args.root, args.seeds, force=args.force)]
        elif not args.profile:
            p.error(f"--profile is required for the {args.dataset} dataset")
        else:
            out = make_synthetic_label_lists(args.profile, args.seeds, args.force)
    except ConfigError as err:  # a dataset without label budgets
        p.error(str(err))
    for path in out:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
