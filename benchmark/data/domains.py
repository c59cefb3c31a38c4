"""A domain = one sample store + its committed split lists, resolved to store rows."""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.data.adapters import adapter_for, get_adapter
from benchmark.data.label_lists import load_label_list
from benchmark.data.real_splits import load_real_split, real_split_dir
from benchmark.data.splits import SplitError, load_split
from benchmark.data.store import SampleTable, StoreError, build_synthetic_store, synthetic_store_path
from benchmark.data.synthetic import SPLITS
from benchmark.io import lock_for, remove_stale_temporaries
from methods.config import given

@dataclass
class DomainData:
    dataset: str  # the adapter's name (benchmark/data/adapters.py)
    name: str
    table: SampleTable
    rows: dict[str, list[int]]  # split -> store rows
    hashes: dict[str, str] = field(default_factory=dict)  # split -> sha256 of its list


def load_synthetic_domain(profile: str, domain: str, data, main_process_first=None) -> DomainData:
    """Load (building on first use) the synthetic store of one domain. A profile may use another profile's
    split lists (`data: {splits: <profile>}`), e.g. `bench` those of `default`."""
    ids, hashes = {}, {}
    for split in SPLITS:
        ids[split], hashes[split] = load_split("synthetic", data.splits or profile, domain, split)
    all_ids = sorted({i for v in ids.values() for i in v})
    path = synthetic_store_path(profile, domain, given(data), all_ids)  # the profile's keys: the cache key
    guard = main_process_first() if main_process_first else contextlib.nullcontext()
    with guard:  # one process builds, the others wait and then read
        remove_stale_temporaries(path.parent)  # builds killed before (their process gone)
        if not (path / "info.json").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with lock_for(path.with_name(path.name + ".lock")):  # another invocation may be building it
                if not (path / "info.json").exists():
                    build_synthetic_store(path, domain, data, all_ids)
    table = SampleTable(path)
    return DomainData("synthetic", domain, table, {s: table.rows(v) for s, v in ids.items()}, hashes)


def load_domain(data, profile: str, domain: str, data_root=None, main_process_first=None) -> DomainData:
    """Domain `name` or `name:<class subset>` of a profile's data, loaded by its dataset's adapter: a synthetic
    store (built on first use), or a prepared real store under `data_root` (benchmark.prepare)."""
    base, _, classes = domain.partition(":")
    loaded = adapter_for(data, base).load(data, profile, base, data_root, main_process_first)
    return restrict_classes(loaded, classes) if classes else loaded


def with_label_budget(loaded: DomainData, data, profile: str, budget: str, seed: int, base=None) -> DomainData:
    """Domain `<name>@<budget>` at a training seed: its labeled split is the committed labeled-subset list of that
    budget and seed (benchmark/data/label_lists.py), its unlabeled split the rest of the training pool (labeled +
    unlabeled, in store order); val and test are unchanged. The list's hash joins the split hashes (the run's
    identity) as `labels`. `base`: the lists' folder (default: the adapter's `labels_dir`)."""
    base = Path(base) if base is not None else adapter_for(data, loaded.name).labels_dir(data, profile, loaded.name)
    ids, digest = load_label_list(base, budget, seed)
    where = base / budget / f"seed{seed}.txt"
    if loaded.table.keys is None:  # synthetic: integer ids, every one in the store
        rows = loaded.table.rows([int(i) for i in ids])
    else:
        rows, missing = loaded.table.rows_for_keys(ids)
        missing += [loaded.table.keys[r] for r in rows if not loaded.table.has_box[r]]
        if missing:
            raise SplitError(f"{where}: {len(missing)} ids are not in the store {loaded.table.path} with boxes "
                             f"(e.g. {missing[:3]})")
    pool = set(loaded.rows["labeled"]) | set(loaded.rows["unlabeled"])
    held_out = set(rows) & (set(loaded.rows["val"]) | set(loaded.rows["test"]))
    if held_out or (loaded.table.keys is None and not set(rows) <= pool):
        raise SplitError(f"{where}: not drawn from the training pool of {loaded.name} "
                         f"({len(held_out)} ids are val or test samples)")
    chosen = set(rows)
    return DomainData(loaded.dataset, f"{loaded.name}@{budget}", loaded.table,
                      {**loaded.rows, "labeled": rows, "unlabeled": sorted(pool - chosen)},
                      {**loaded.hashes, "labels": f"{budget}/seed{seed}={digest}"})


def restrict_classes(data: DomainData, which: str) -> DomainData:
    """The same domain with every split restricted to samples whose sounding class is in subset `which`."""
    return get_adapter(data.dataset).restrict(data, which)


def keep_classes(data: DomainData, which: str, keep: set[int], record: str, on_unknown=None) -> DomainData:
    """Every split restricted to rows whose class id is in `keep`; `record` goes into the split hashes.
    `on_unknown(split, count)` is called for a split with rows of no class (id < 0)."""
    rows = {}
    for split, r in data.rows.items():
        cls = [int(c) for c in data.table.get(r)["class_id"].tolist()] if r else []
        if on_unknown and any(c < 0 for c in cls):
            on_unknown(split, sum(c < 0 for c in cls))
        rows[split] = [row for row, c in zip(r, cls) if c in keep]
    return DomainData(data.dataset, f"{data.name}:{which}", data.table, rows, {**data.hashes, "classes": record})


# ----------------------------------------------------------------------------- real data
REAL_SPLITS = ("labeled", "val", "test")  # plus unlabeled_<subset>, or the rest of the store


def _resolve_keys(table: SampleTable, split_file: str, keys: list[str], skipped: dict, allow_missing: bool,
                  need_boxes: bool, hashes: dict, split: str) -> list[int]:
    """Store rows of a split's keys. Keys not in the store (or without boxes in a split that
    needs them) are an error naming the split file, each with the reason prepare recorded;
    with allow_missing they are dropped and the drop is recorded in `hashes` (run.json)."""
    rows, missing = table.rows_for_keys(keys)
    boxless = [table.keys[r] for r in rows if need_boxes and not table.has_box[r]]
    bad = missing + boxless
    if not bad:
        return rows
    why = [f"{k} ({skipped.get(k, 'not in the store')})" for k in missing[:5]]
    why += [f"{k} (no boxes)" for k in boxless[:5]]
    msg = (f"{split_file}: {len(bad)} of {len(keys)} keys cannot be used from the store {table.path}: "
           f"{', '.join(why)}{' ...' if len(bad) > len(why) else ''}")
    if not allow_missing:
        raise SplitError(msg + "; prepare the missing samples, or pass allow_missing=True to drop them (recorded)")
    drop = set(boxless)
    kept = [r for r in rows if table.keys[r] not in drop]
    if not kept:
        raise SplitError(msg + "; nothing of the split is left")
    digest = hashlib.sha256("\n".join(sorted(bad)).encode()).hexdigest()
    hashes[f"{split}:dropped"] = f"{len(bad)} keys, sha256 {digest}"
    return kept


def load_real_domain(dataset: str, store, *, subset: str | None = None, splits_dir=None,
                     allow_missing: bool = False, test_list: str = "test") -> DomainData:
    """The prepared Flickr-SoundNet / VGG-SS store in folder `store` (benchmark.prepare; the runner
    names it with `real_store_path`) with its committed split lists (string ids) resolved to store rows. The unlabeled split is unlabeled_<subset>
    (subset: the argument, else the store's), or with no subset every store row outside
    labeled/val/test. `test_list` is the test split's file (the adapter's choice, e.g. one of Flickr's
    three lists, docs/protocol.md §1)."""
    table = _real_table(dataset, store)
    subset = subset if subset is not None else table.info.get("subset")
    skipped = {s["key"]: f"skipped by prepare --skip-bad: {s['file']}: {s['problem']}"
               for s in table.info.get("skipped", []) if s.get("key")}
    base = Path(splits_dir) if splits_dir is not None else real_split_dir(dataset)
    rows, hashes, held_out = {}, {}, set()
    files = {**{s: s for s in REAL_SPLITS}, "test": test_list}
    for split in REAL_SPLITS:
        keys, hashes[split] = load_real_split(dataset, files[split], base)
        held_out.update(keys)
        rows[split] = _resolve_keys(table, str(base / f"{files[split]}.txt"), keys, skipped, allow_missing, True,
                                    hashes, split)
    if subset:
        name = f"unlabeled_{subset}"
        keys, hashes["unlabeled"] = load_real_split(dataset, name, base)
        rows["unlabeled"] = _resolve_keys(table, str(base / f"{name}.txt"), keys, skipped, allow_missing, False,
                                          hashes, "unlabeled")
    else:
        rest = sorted(set(table.keys) - held_out)
        rows["unlabeled"] = table.rows_for_keys(rest)[0]
        hashes["unlabeled"] = "store-rest:" + hashlib.sha256("\n".join(rest).encode()).hexdigest()
    trained = set(rows["test"]) & (set(rows["labeled"]) | set(rows["val"]))
    if trained:  # a public list of the whole annotated set (VGG-SS's 5,158) holds our labeled / val samples
        raise SplitError(f"{base / f'{test_list}.txt'}: {len(trained)} test samples are labeled or val samples "
                         "here; this list scores models trained elsewhere (benchmark.score --test-list), "
                         "never a run trained here")
    return DomainData(dataset, dataset, table, rows, hashes)


def _real_table(dataset: str, store) -> SampleTable:
    path = Path(store)
    if not (path / "info.json").exists():
        raise StoreError(f"{path}: no prepared {dataset} store; run `python -m benchmark.prepare --dataset {dataset} "
                         "--root PATH` first")
    table = SampleTable(path)
    if table.info.get("dataset") != dataset or table.keys is None:
        raise StoreError(f"{path}: not a {dataset} store (it holds {table.info.get('dataset')!r})")
    return table


def load_real_test(dataset: str, store, test_list: str, splits_dir=None) -> tuple[DomainData, list[str]]:
    """Only the test list of a prepared store, for scoring maps (benchmark.score): the domain with its `test` rows,
    and the listed ids the store lacks (media gone when it was prepared), which are not scored, as the EZ-VSL,
    SLAVC and FNAC loaders score the listed files present."""
    table = _real_table(dataset, store)
    base = Path(splits_dir) if splits_dir is not None else real_split_dir(dataset)
    keys, digest = load_real_split(dataset, test_list, base)
    rows, absent = table.rows_for_keys(keys)
    boxless = [table.keys[r] for r in rows if not table.has_box[r]]
    if boxless or not rows:
        raise SplitError(f"{base / f'{test_list}.txt'}: " + (f"{len(boxless)} ids have no boxes in the store "
                         f"{table.path} (e.g. {boxless[:3]})" if boxless else f"no id is in the store {table.path}"))
    return DomainData(dataset, dataset, table, {"test": rows}, {"test": digest}), absent


def restrict_real_classes(data: DomainData, which: str, splits_dir=None) -> DomainData:
    """Every split restricted to samples of the heard / unheard classes (VGG-SS open set,
    class lists datasets/vggss/splits/{heard,unheard}_classes.txt)."""
    base = Path(splits_dir) if splits_dir is not None else real_split_dir(data.dataset)
    names, digest = load_real_split(data.dataset, f"{which}_classes", base)
    keep = {i for i, c in enumerate(data.table.info.get("classes", [])) if c in set(names)}

    def unknown(split, count):
        raise SplitError(f"{base / f'{which}_classes.txt'}: {count} samples of split {split!r} have no class "
                         f"in the store {data.table.path}; put VGGSound's vggsound.csv at the dataset root and "
                         "prepare again")
    return keep_classes(data, which, keep, f"{which}_classes={digest}", unknown)
