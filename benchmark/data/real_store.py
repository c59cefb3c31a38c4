"""Sample stores of real Flickr-SoundNet / VGG-SoundSource trees, built by `benchmark.prepare`: the synthetic
store's columns plus the string `key` and `has_box`, rows in sorted key order, read with `SampleTable`."""
from __future__ import annotations

import concurrent.futures
import json
import shutil
from pathlib import Path

import datasets as hf
import numpy as np
import torch

from benchmark.data.adapters import get_adapter
from benchmark.data.real_common import DataError, Skips
from benchmark.data.real_media import CLIP_SECONDS, load_centre_clip, load_frame
from benchmark.data.store import cache_root
from benchmark.io import remove_stale_temporaries, replace_dir_atomic, tmp_tag, write_json_atomic
from methods.common.audio_frontends import SOUNDNET_SAMPLE_RATE, VGGISH_SAMPLE_RATE, vggish_logmel

REAL_STORE_FORMAT = 1


def real_store_path(dataset: str, subset: str | None, image_size: int, root: Path | None = None) -> Path:
    """<root>/<dataset>/<subset>-<size>px; root: a folder of prepared stores (prepare --out,
    run_all --data-root), default $AVSL_BENCH_CACHE/real."""
    base = Path(root) if root is not None else cache_root() / "real"
    return base / dataset / f"{subset or 'full'}-{image_size}px"


def _real_features(size: int, frames: int, n_mels: int, wave_len: int):
    return hf.Features({
        "sample_id": hf.Value("int64"),
        "key": hf.Value("string"),
        "image": hf.Array3D((3, size, size), "uint8"),
        "audio": hf.Array3D((1, n_mels, frames), "float16"),
        "waveform": hf.Array2D((1, wave_len), "float16"),
        "gt": hf.Array2D((size, size), "float16"),
        "class_id": hf.Value("int32"),
        "annotations": hf.Value("string"),
        "has_box": hf.Value("bool"),
    })


def audio_columns(clips: list[dict]) -> dict[str, torch.Tensor]:
    """The stores' audio columns from centre clips ({rate: float32 samples}, `load_centre_clip`): the VGGish
    log-mel of the 16 kHz clip (B,1,64,frames) and the 22.05 kHz waveform for SoundNet (B,1,N), float32."""
    return {"audio": vggish_logmel(torch.from_numpy(np.stack([c[VGGISH_SAMPLE_RATE] for c in clips]))),
            "waveform": torch.from_numpy(np.stack([c[SOUNDNET_SAMPLE_RATE] for c in clips]))[:, None]}


def _decode(rec, size: int, rates: tuple[int, int], require_rate):
    """(frame, clips, source rate) of one record, or the DataError it raised."""
    try:
        return load_frame(rec.image, size), *load_centre_clip(rec.audio, rates, require_rate=require_rate)
    except DataError as err:
        err.key = rec.key
        return err


def _real_chunk(dataset: str, records, first_row: int, size: int, classes: dict, require_rate, skips, pool,
                source_rates: dict) -> dict | None:
    """Columns of one chunk of records; samples whose files fail to decode go to `skips`."""
    adapter = get_adapter(dataset)
    rates = (VGGISH_SAMPLE_RATE, SOUNDNET_SAMPLE_RATE)
    kept, frames, clips = [], [], []
    for rec, out in zip(records, pool.map(lambda r: _decode(r, size, rates, require_rate), records)):
        if isinstance(out, DataError):
            skips.report(out, rec.key)
            continue
        kept.append(rec)
        frames.append(out[0])
        clips.append(out[1])
        source_rates[str(out[2])] = source_rates.get(str(out[2]), 0) + 1
    if not kept:
        return None
    audio = audio_columns(clips)
    gts, anns = [], []
    for rec in kept:
        # the protocol's rule (docs/methods.md §1.5); pairs without boxes get an all-zero map
        gts.append(adapter.gt_map(dataset, rec.annotators, size, rec.box_scale) if rec.has_box
                   else torch.zeros(size, size))
        # Same convention as the synthetic store: per annotator, pixel boxes at the store's size.
        anns.append(json.dumps([[[round(v * size / rec.box_scale, 4) for v in b] for b in a] for a in rec.annotators]))
    return {
        "sample_id": list(range(first_row, first_row + len(kept))),
        "key": [r.key for r in kept],
        "image": np.stack(frames),
        "audio": audio["audio"].numpy().astype(np.float16),
        "waveform": audio["waveform"].numpy().astype(np.float16),
        "gt": torch.stack(gts).numpy().astype(np.float16),
        "class_id": [classes.get(r.class_name, -1) for r in kept],
        "annotations": anns,
        "has_box": [r.has_box for r in kept],
    }


def build_real_store(path: Path, dataset: str, read, *, image_size: int, skip_bad: bool = False,
                     require_rate: int | None = None, info: dict | None = None, chunk: int = 256,
                     workers: int = 4) -> Path:
    """Decode the records of `read` (a reader's ReadResult), compute inputs and GT maps and
    save the store atomically: built in a temporary folder (chunk by chunk, so a 144k-sample
    tree never sits in memory) and renamed into place with info.json written last."""
    records = sorted(read.records, key=lambda r: r.key)
    skips = Skips(skip_bad, list(read.skipped))
    classes = {c: i for i, c in enumerate(sorted({r.class_name for r in records if r.class_name}))}
    remove_stale_temporaries(path.parent)  # builds killed before (their process is gone)
    tmp = path.with_name(path.name + tmp_tag())
    shutil.rmtree(tmp, ignore_errors=True)
    bars = hf.is_progress_bar_enabled()
    hf.disable_progress_bars()  # one bar per saved chunk would flood the log
    try:
        parts, n, source_rates = [], 0, {}
        with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:  # PIL/libsndfile decode off the GIL
            for start in range(0, len(records), chunk):
                cols = _real_chunk(dataset, records[start:start + chunk], n, image_size, classes, require_rate,
                                   skips, pool, source_rates)
                if cols is None:
                    continue
                features = _real_features(image_size, cols["audio"].shape[-1], cols["audio"].shape[-2],
                                          cols["waveform"].shape[-1])
                part = tmp / "parts" / f"{len(parts):05d}"
                hf.Dataset.from_dict(cols, features=features).save_to_disk(str(part))
                parts.append(part)
                n += len(cols["key"])
        if not n:
            raise DataError(info.get("root", path) if info else path, "no usable samples: every one was skipped as bad")
        ds = hf.concatenate_datasets([hf.load_from_disk(str(p)) for p in parts])
        ds.save_to_disk(str(tmp / "data"))
        with_boxes = int(sum(ds["has_box"]))
        del ds
        shutil.rmtree(tmp / "parts")
        write_json_atomic(tmp / "info.json", {
            **(info or {}), "format": REAL_STORE_FORMAT, "dataset": dataset, "image_size": image_size, "n": n,
            "counts": {"samples": n, "with_boxes": with_boxes, "skipped": len(skips.items)},
            "skipped": skips.items, "classes": sorted(classes, key=classes.get),
            # boxes clipped into the image as the public evaluators clip them (datasets/vggss/README.md)
            "clipped_boxes": {"count": len(read.clipped_boxes), "boxes": read.clipped_boxes},
            "image": "RGB, bicubic resize to image_size x image_size, no crop",
            "audio": {"clip_seconds": CLIP_SECONDS, "logmel": "VGGish front end at 16 kHz",
                      "vggish_rate": VGGISH_SAMPLE_RATE, "waveform_rate": SOUNDNET_SAMPLE_RATE,
                      "source_rates": source_rates, "require_rate": require_rate},
        })
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_dir_atomic(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-built store behind
        raise
    finally:
        if bars:
            hf.enable_progress_bars()
    return path
