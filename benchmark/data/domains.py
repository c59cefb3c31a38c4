"""A domain = one sample store + its committed split lists, resolved to store rows."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from benchmark.data.splits import load_split
from benchmark.data.store import SampleTable, build_synthetic_store, synthetic_store_path

SYNTHETIC_SPLITS = ("labeled", "unlabeled", "val", "test")


@dataclass
class DomainData:
    dataset: str
    name: str
    table: SampleTable
    rows: dict[str, list[int]]  # split -> store rows
    hashes: dict[str, str] = field(default_factory=dict)  # split -> sha256 of its list


def load_synthetic_domain(profile: str, domain: str, data_cfg: dict, main_process_first=None) -> DomainData:
    """Load (building on first use) the synthetic store of one domain."""
    ids, hashes = {}, {}
    for split in SYNTHETIC_SPLITS:
        ids[split], hashes[split] = load_split("synthetic", profile, domain, split)
    all_ids = sorted({i for v in ids.values() for i in v})
    path = synthetic_store_path(profile, domain, data_cfg, all_ids)
    guard = main_process_first() if main_process_first else contextlib.nullcontext()
    with guard:  # one process builds, the others wait and then read
        if not (path / "info.json").exists():
            build_synthetic_store(path, domain, data_cfg, all_ids)
    table = SampleTable(path)
    return DomainData("synthetic", domain, table, {s: table.rows(v) for s, v in ids.items()}, hashes)


def restrict_classes(data: DomainData, which: str) -> DomainData:
    """The same domain with every split restricted to samples whose sounding class is heard/unheard (open set)."""
    from benchmark.data import synthetic

    classes = {"heard": synthetic.HEARD_CLASSES, "unheard": synthetic.UNHEARD_CLASSES}.get(which)
    if classes is None:
        raise ValueError(f"unknown class subset {which!r} of domain {data.name!r}; use heard or unheard")
    keep = set(classes)
    rows = {}
    for split, r in data.rows.items():
        cls = data.table.get(r)["class_id"].tolist()
        rows[split] = [row for row, c in zip(r, cls) if int(c) in keep]
    return DomainData(data.dataset, f"{data.name}:{which}", data.table, rows,
                      {**data.hashes, "classes": f"{which}={sorted(keep)}"})
