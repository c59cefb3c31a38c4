"""Prediction files for `python -m benchmark.score`: one .npz per test set.

    sample_ids  (N,) strings: synthetic data, the store's integer `sample_id` written in decimal
                (the ids of the committed split lists); Flickr-SoundNet / VGG-SS, the dataset's own
                key (the store's `key`, as in datasets/*/splits/*.txt)
    maps        (N, h, w) real numbers, any resolution (upsampled to the GT size when scored)

Saved without pickling (`np.savez`), so it loads anywhere with `allow_pickle=False`.
"""
from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from benchmark.data.domains import DomainData
from benchmark.io import open_atomic


class PredictionError(ValueError):
    pass


def split_ids(data: DomainData, split: str = "test") -> list[str]:
    """The sample ids of a split, in the split's (the runner's) order."""
    rows = data.rows[split]
    if data.table.keys is not None:
        return [data.table.keys[r] for r in rows]
    return [str(data.table.sample_ids[r]) for r in rows]


def write_predictions(path: str | Path, sample_ids: list[str], maps: np.ndarray) -> None:
    """Atomically: the file is complete or absent."""
    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) != len(sample_ids):
        raise PredictionError(f"{path}: need maps (N, h, w) for N = {len(sample_ids)} ids, got {maps.shape}")
    with open_atomic(path, "wb") as f:
        np.savez(f, sample_ids=np.asarray(sample_ids, dtype=str), maps=maps)


def listed(ids, most: int = 20) -> str:
    ids = list(ids)
    return ", ".join(ids[:most]) + (f" ... ({len(ids)} in all)" if len(ids) > most else "")


def read_predictions(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(sample ids, maps (N, h, w)) of a prediction file; PredictionError naming the file and the problem."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"sample_ids", "maps"} - set(f.files)
            if missing:
                raise PredictionError(f"{path}: no array {', '.join(sorted(missing))} (it holds {sorted(f.files)})")
            ids, maps = f["sample_ids"], f["maps"]
    except PredictionError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:  # absent, not .npz, truncated, pickled
        raise PredictionError(f"{path}: cannot read as a .npz of arrays ({err})") from None
    if ids.ndim != 1 or ids.dtype.kind not in "USiu":
        raise PredictionError(f"{path}: sample_ids must be a 1-D array of strings, got {ids.dtype} {ids.shape}")
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids.tolist()]
    if maps.ndim != 3 or maps.dtype.kind not in "fiu" or 0 in maps.shape[1:]:
        raise PredictionError(f"{path}: maps must be a real-valued (N, h, w) array, got {maps.dtype} {maps.shape}")
    if len(maps) != len(ids):
        raise PredictionError(f"{path}: {len(maps)} maps for {len(ids)} sample ids")
    dup = [i for i, k in Counter(ids).items() if k > 1]
    if dup:
        raise PredictionError(f"{path}: duplicate sample ids: {listed(dup)}")
    if maps.dtype.kind == "f":
        bad = ~np.isfinite(maps).reshape(len(maps), -1).all(1)
        if bad.any():
            raise PredictionError(f"{path}: NaN or Inf in the maps of {listed(np.asarray(ids)[bad].tolist())}")
    return ids, maps


def match_test_set(path, ids: list[str], test_ids: list[str], allow_missing: bool) -> tuple[list[int], list[str]]:
    """(for each test sample with a prediction, in test order: its index in the file; the test ids without one)."""
    where = {i: k for k, i in enumerate(ids)}
    known = set(test_ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise PredictionError(f"{path}: {len(unknown)} sample ids are not in the test set: {listed(unknown)}")
    missing = [i for i in test_ids if i not in where]
    if missing and not allow_missing:
        raise PredictionError(f"{path}: {len(missing)} of {len(test_ids)} test samples have no map: "
                              f"{listed(missing)} (--allow-missing scores the others)")
    if len(missing) == len(test_ids):
        raise PredictionError(f"{path}: no test sample has a map")
    return [where[i] for i in test_ids if i in where], missing
