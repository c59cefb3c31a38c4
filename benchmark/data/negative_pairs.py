"""Negative (non-sounding) test pairs: each a test picture heard with a track whose source is not in it
(docs/protocol.md §8.1). Scored with the domain's own positives by benchmark/negatives.py.

Synthetic domains: every test picture four times, with silence, noise, an off-screen class's clip, and another
test clip whose sounding class is not in the picture. Real domains: SLAVC's extended test lists as its public
repository ships them (`metadata/{flickr,vggss}_test_plus_silent.csv`, committed as
datasets/<name>/splits/test_plus_silent.csv).
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.data import synthetic
from benchmark.data.adapters import get_adapter
from benchmark.data.domains import DomainData
from benchmark.data.features import logmel
from benchmark.data.real_splits import real_split_dir
from benchmark.data.splits import SplitError
from methods.common.localizer import AUDIO_KEYS

SYNTHETIC_TYPES = (*synthetic.NEGATIVE_AUDIO, "mismatched")
SLAVC_LIST = "test_plus_silent.csv"  # datasets/<name>/splits/: SLAVC's file, byte for byte
SLAVC_HEADER = ["video", "audio", "label"]


@dataclass(frozen=True)
class NegativePairs:
    """Pair i = the picture of store row image_rows[i] with the audio `columns([i])` gives."""

    image_rows: tuple[int, ...]
    types: tuple[str, ...]  # negative type of each pair
    digest: str  # sha256 of what defines the pairs: a run's identity records it
    table: object  # the domain's store (SampleTable)
    audio_rows: tuple[int, ...] | None = None  # store rows whose audio a pair takes (real lists, mismatched)
    synth: dict | None = None  # synthetic: {"domain", "sample_ids", "clip_seconds", "sample_rate"}
    left_out: int = 0  # pairs of the list whose picture is in a training or validation split

    def __len__(self) -> int:
        return len(self.image_rows)

    def columns(self, pairs: list[int]) -> dict[str, torch.Tensor]:
        """The audio columns (those of AUDIO_KEYS the store has) of `pairs`, as the store would give them."""
        out: dict[str, list] = {}
        stored = [p for p in pairs if self.types[p] not in synthetic.NEGATIVE_AUDIO]
        if stored:
            got = self.table.get([self.audio_rows[p] for p in stored])
            for k in AUDIO_KEYS:
                if k in got:
                    out[k] = dict(zip(stored, got[k]))
        made = [p for p in pairs if self.types[p] in synthetic.NEGATIVE_AUDIO]
        if made:
            s = self.synth
            waves = torch.from_numpy(np.stack([
                synthetic.negative_audio(s["domain"], s["sample_ids"][p], self.types[p],
                                         clip_seconds=s["clip_seconds"], sample_rate=s["sample_rate"])
                for p in made]))
            # the store keeps both columns in float16 (benchmark/data/store.py): round as it does
            columns = {"audio": logmel(waves, s["sample_rate"]), "waveform": waves[:, None]}
            for k, v in columns.items():
                out.setdefault(k, {}).update(zip(made, v.half().float()))
        return {k: torch.stack([v[p] for p in pairs]) for k, v in out.items()}


def _digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def synthetic_plan(domain: str, test_ids: list[int], test_hash: str | None, clip_seconds: float,
                   sample_rate: int) -> tuple[list[int], str]:
    """(partner position of each test sample for its mismatched pair, the pairs' digest): needs only the test
    list, not the store. The partner is the next test clip in list order (cyclically) whose sounding class is
    not in the picture."""
    base = domain.split(":")[0]
    scenes = [synthetic.scene_classes(base, i) for i in test_ids]
    sounding = [synthetic.sounding_class(base, i) for i in test_ids]
    n, partners = len(test_ids), []
    for k, scene in enumerate(scenes):
        j = next((j % n for j in range(k + 1, k + n) if sounding[j % n] not in scene), None)
        if j is None:
            raise SplitError(f"test split of {domain}: no clip of a class outside sample {test_ids[k]}'s picture")
        partners.append(j)
    record = {"kind": "synthetic-negatives", "generator": synthetic.GENERATOR_VERSION, "domain": domain,
              "test": test_hash, "clip_seconds": clip_seconds, "sample_rate": sample_rate,
              "types": list(SYNTHETIC_TYPES), "mismatched": [test_ids[j] for j in partners]}
    return partners, _digest(record)


def synthetic_negatives(data: DomainData, clip_seconds: float, sample_rate: int) -> NegativePairs:
    """Every test picture with silence, noise, an off-screen clip and a mismatched clip (synthetic_plan)."""
    rows = data.rows["test"]
    ids = [int(data.table.sample_ids[r]) for r in rows]
    partners, digest = synthetic_plan(data.name, ids, data.hashes.get("test"), clip_seconds, sample_rate)
    image_rows, types, audio_rows = [], [], []
    for kind in SYNTHETIC_TYPES:
        image_rows += rows
        types += [kind] * len(rows)
        audio_rows += [rows[j] for j in partners] if kind == "mismatched" else rows
    return NegativePairs(tuple(image_rows), tuple(types), digest, data.table, tuple(audio_rows),
                         {"domain": data.name.split(":")[0], "sample_ids": ids * len(SYNTHETIC_TYPES),
                          "clip_seconds": clip_seconds, "sample_rate": sample_rate})


def read_slavc_list(path: Path) -> list[tuple[str, str]]:
    """(video, audio) of every `non-sounding` row of a SLAVC `*_test_plus_silent.csv`. As SLAVC's
    `datasets.py::get_test_dataset`: rows whose label is `non-sounding` are the negatives; the header
    `video,audio,label` is the only other row the real files have (CRLF line ends, no final newline).
    Any other row is an error naming the file and line."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise SplitError(f"{path}: cannot read ({err.strerror or err})") from None
    if not rows or rows[0] != SLAVC_HEADER:
        raise SplitError(f"{path}: expected the header {','.join(SLAVC_HEADER)}, found {rows[0] if rows else 'nothing'}")
    pairs = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or row[2] != "non-sounding" or not row[0] or not row[1]:
            raise SplitError(f"{path}: line {n}: expected `video,audio,non-sounding`, found {','.join(row)!r}")
        pairs.append((row[0], row[1]))
    if not pairs:
        raise SplitError(f"{path}: no non-sounding pair")
    return pairs


def slavc_negatives(data: DomainData, path: Path | None = None) -> NegativePairs:
    """SLAVC's negatives of a prepared real domain. Types: `own_track` where the list pairs a video with its own
    track (a video whose sound source is off screen: 379 of VGG-SS's 5,158), else `mismatched` (another
    video's track). Every id must be in the store: an error names the list and the missing keys. Pairs whose
    picture is in the domain's labeled, val or unlabeled split are left out and counted (`left_out`)."""
    path = Path(path) if path is not None else real_split_dir(data.dataset) / SLAVC_LIST
    pairs = read_slavc_list(path)
    keys = sorted({k for pair in pairs for k in pair})
    found, missing = data.table.rows_for_keys(keys)
    if missing:
        raise SplitError(f"{path}: {len(missing)} of {len(keys)} ids are not in the store {data.table.path} "
                         f"(e.g. {', '.join(missing[:5])}): prepare a store from SLAVC's extended test data")
    row = dict(zip(keys, found))
    # Our VGG-SS labeled / val lists are drawn from the annotated test pool SLAVC's list pairs: a picture a
    # method trained or selected on is no test picture, so its pairs are left out (counted in the record).
    seen = {r for split in ("labeled", "val", "unlabeled") for r in data.rows.get(split, [])}
    kept = [(v, a) for v, a in pairs if row[v] not in seen]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return NegativePairs(tuple(row[v] for v, _ in kept), tuple("own_track" if v == a else "mismatched" for v, a in kept),
                         _digest({"kind": "slavc-negatives", "list_sha256": digest, "left_out": len(pairs) - len(kept),
                                  "splits": {k: data.hashes.get(k) for k in ("labeled", "val", "unlabeled")}}),
                         data.table, tuple(row[a] for _, a in kept), left_out=len(pairs) - len(kept))


def negative_pairs(data: DomainData, suite_data) -> NegativePairs:
    """The negative pairs of a test domain (whole domains only: a class subset has no negative list)."""
    if ":" in data.name:
        raise SplitError(f"negative pairs are defined for whole test domains, not {data.name!r}")
    if get_adapter(data.dataset).require("negatives", "negative pairs") == "generated":
        return synthetic_negatives(data, suite_data.clip_seconds, suite_data.sample_rate)
    return slavc_negatives(data)
