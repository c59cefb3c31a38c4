"""The cached sample store: decoded images, log-mel features and GT maps in a Hugging Face `datasets` folder,
built once per (dataset, profile, domain) into a temporary folder and renamed into place (docs/design.md §3)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from benchmark.data import synthetic
from benchmark.data.features import FEATURE_SPEC, N_MELS, logmel
from benchmark.io import named_write_error, read_json, remove_stale_temporaries, replace_dir_atomic, tmp_tag, write_json_atomic
from methods.config import given

STORE_FORMAT = 2  # 2: the raw waveform column (XPL's model B reads it, docs/methods.md §2.1)


class StoreError(RuntimeError):
    pass


def cache_root() -> Path:
    return Path(os.environ.get("AVSL_BENCH_CACHE", Path.home() / ".cache" / "avsl-bench"))


def synthetic_store_path(profile: str, domain: str, data_cfg: dict, ids: list[int]) -> Path:
    """The store's folder; `data_cfg`: the keys the profile's `data:` set (`methods.config.given`)."""
    key = json.dumps({"cfg": data_cfg, "gen": synthetic.GENERATOR_VERSION, "fmt": STORE_FORMAT, "feat": FEATURE_SPEC,
                      "ids": hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root() / "synthetic" / profile / f"{domain}-{digest}"


def build_synthetic_store(path: Path, domain: str, data, ids: list[int], chunk: int = 1024) -> Path:
    """Generate every sample of `ids` (`data`: a profile's SyntheticData), compute features and GT maps, save
    atomically."""
    import datasets as hf  # lazy: as in SampleTable

    size, sr, gt_map = data.image_size, data.sample_rate, synthetic.SyntheticAdapter().gt_map
    remove_stale_temporaries(path.parent)  # builds killed before (their process is gone)
    tmp = path.with_name(path.name + tmp_tag())
    shutil.rmtree(tmp, ignore_errors=True)
    parts = []
    for start in range(0, len(ids), chunk):
        samples = [synthetic.make_sample(domain, i, image_size=size, clip_seconds=data.clip_seconds,
                                         sample_rate=sr) for i in ids[start:start + chunk]]
        waves = np.stack([s["audio"] for s in samples])
        mel = logmel(torch.from_numpy(waves), sr)
        gts = [gt_map(domain, s["annotations"], size) for s in samples]
        parts.append({
            "sample_id": ids[start:start + chunk],
            "image": np.stack([s["image"].transpose(2, 0, 1) for s in samples]),
            "audio": mel.numpy().astype(np.float16),
            "waveform": waves[:, None].astype(np.float16),
            "gt": torch.stack(gts).numpy().astype(np.float16),
            "class_id": [int(s["class_id"]) for s in samples],
            "annotations": [json.dumps(s["annotations"]) for s in samples],
        })
    frames, wave_len = parts[0]["audio"].shape[-1], parts[0]["waveform"].shape[-1]
    features = hf.Features({
        "sample_id": hf.Value("int64"),
        "image": hf.Array3D((3, size, size), "uint8"),
        "audio": hf.Array3D((1, N_MELS, frames), "float16"),
        "waveform": hf.Array2D((1, wave_len), "float16"),  # the clip itself, for raw-waveform encoders
        "gt": hf.Array2D((size, size), "float16"),
        "class_id": hf.Value("int32"),
        "annotations": hf.Value("string"),
    })
    ds = hf.concatenate_datasets([hf.Dataset.from_dict(p, features=features) for p in parts])
    try:
        ds.save_to_disk(str(tmp / "data"))
        write_json_atomic(tmp / "info.json", {"format": STORE_FORMAT, "domain": domain, "n": len(ids),
                                              "generator_version": synthetic.GENERATOR_VERSION, "data": given(data)})
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_dir_atomic(tmp, path)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise named_write_error(err, tmp) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-built store behind
        raise
    return path


class SampleTable:
    """Rows of one store, fetched by sample id as batched torch tensors."""

    COLUMNS = ("image", "audio", "gt", "class_id")
    OPTIONAL_COLUMNS = ("waveform",)

    def __init__(self, path: Path, in_memory_bytes: int = 4 << 30):
        import datasets as hf  # lazy: ~1 s to import; localize's overlay imports this module but reads no store

        info_path = path / "info.json"
        if not info_path.exists():
            raise StoreError(f"{path}: not a complete sample store (no info.json); delete it to rebuild")
        self.info = read_json(info_path)
        try:
            ds = hf.load_from_disk(str(path / "data"))
        except Exception as err:  # truncated or corrupt arrow files
            raise StoreError(f"{path}/data: cannot be read ({err}); delete the folder to rebuild") from None
        self.path = path
        # The raw waveform (SoundNet-style encoders' input): real-data stores and synthetic stores from format 2.
        self.columns_read = self.COLUMNS + tuple(c for c in self.OPTIONAL_COLUMNS if c in ds.column_names)
        # numpy format (the numpy formatter still widens uint8 images to int64: get() casts them back)
        self.ds = ds.with_format("numpy", columns=list(self.columns_read))
        # Real-data stores: the dataset's own string ids and which rows have boxes.
        self.keys = [str(k) for k in ds["key"]] if "key" in ds.column_names else None
        self.row_of_key = {k: r for r, k in enumerate(self.keys)} if self.keys is not None else None
        self.has_box = [bool(b) for b in ds["has_box"]] if "has_box" in ds.column_names else None
        ids = [int(i) for i in ds["sample_id"]]
        self.sample_ids = ids
        self.row_of = {int(i): r for r, i in enumerate(ids)}
        if len(self.row_of) != len(ids):
            raise StoreError(f"{path}: duplicate sample ids")
        # Small stores live in memory as tensors (fast slicing); big ones stay memory-mapped.
        # Real-data stores are read through arrow, which keeps the stored dtypes (uint8 images,
        # float16 features: the numpy formatter widens them, 8x the memory for images).
        self._arrow = ds.with_format("arrow", columns=list(self.columns_read)) if self.keys is not None else None
        self.columns = None
        if ds.data.nbytes <= in_memory_bytes:
            whole = self.ds[:] if self._arrow is None else self._arrow_rows(slice(None))
            self.columns = {c: torch.from_numpy(whole[c]) for c in self.columns_read}
            self.columns["image"] = self.columns["image"].to(torch.uint8)  # see get()

    def __len__(self) -> int:
        return len(self.row_of)

    def rows(self, sample_ids) -> list[int]:
        try:
            return [self.row_of[int(i)] for i in sample_ids]
        except KeyError as err:
            raise StoreError(f"{self.path}: sample id {err.args[0]} is not in this store") from None

    def _arrow_rows(self, rows) -> dict:
        import pyarrow as pa  # lazy, as datasets: a heavy import only store reads need

        table = self._arrow[rows]  # a gather gives one chunk per row: converted at once, not chunk by chunk
        out = {}
        for c in self.columns_read:
            col = table.column(c)
            if isinstance(col.type, pa.ExtensionType):  # datasets' ArrayND: nested lists of the stored dtype
                flat = pa.chunked_array([ch.storage for ch in col.chunks], type=col.type.storage_type).combine_chunks()
                n = len(flat)
                while pa.types.is_fixed_size_list(flat.type) or pa.types.is_list(flat.type):
                    flat = flat.flatten()
                out[c] = flat.to_numpy(zero_copy_only=False, writable=True).reshape(n, *col.type.shape)
            else:
                out[c] = np.concatenate([ch.to_numpy(zero_copy_only=False) for ch in col.chunks]) if col.num_chunks \
                    else np.zeros((0,), np.float32)
        return out

    def rows_for_keys(self, keys) -> tuple[list[int], list[str]]:
        """(rows of the keys found, keys not in this store) for a real-data store's string ids."""
        if self.row_of_key is None:
            raise StoreError(f"{self.path}: this store has no string keys (not a real-data store)")
        rows, missing = [], []
        for k in keys:
            r = self.row_of_key.get(str(k))
            if r is None:
                missing.append(str(k))
            else:
                rows.append(r)
        return rows, missing

    def get(self, rows: list[int], half: bool = False) -> dict:
        """The columns of `rows`: uint8 images, float32 features and GT maps (`half`: the stored float16 kept, for
        a cast on the device after a copy of half the bytes), int64 index."""
        if self.columns is not None:
            idx = torch.as_tensor(rows, dtype=torch.long)
            batch = {c: t.index_select(0, idx) for c, t in self.columns.items()}  # t[idx] is ~20x slower
        else:
            batch = self.ds[rows] if self._arrow is None else self._arrow_rows(rows)
            batch = {c: torch.from_numpy(batch[c]) for c in self.columns_read}
        # The numpy formatter of HF datasets widens the stored uint8 images to int64; the colour
        # augmentations clamp to the dtype's range, so they must see uint8 (0..255).
        batch["image"] = batch["image"].to(torch.uint8)
        for c in ("audio", "waveform", "gt"):
            if c in batch and not (half and batch[c].dtype == torch.float16):
                batch[c] = batch[c].float()
        batch["index"] = torch.as_tensor(rows, dtype=torch.long)
        return batch
