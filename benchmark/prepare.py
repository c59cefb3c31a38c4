"""Check a Flickr-SoundNet or VGG-SoundSource tree and write its cached sample store.

    python -m benchmark.prepare --dataset flickr --root /data/Flickr-SoundNet --subset 144k
    python -m benchmark.prepare --dataset vggss --root /data/VGGSound --subset 10k --skip-bad
    python -m benchmark.prepare --make-splits --dataset flickr --root /data/Flickr-SoundNet

The store, a Hugging Face `datasets` folder at CACHE/<dataset>/<subset or full>-<size>px (CACHE:
--out, default $AVSL_BENCH_CACHE/real), holds every annotated sample plus the subset list's (every
pair of the tree without --subset): frames resized to --image-size, the VGGish log-mel and the
22.05 kHz waveform of the 3 s centre clip, the GT map from the boxes; built atomically. Bad files stop it with an
error naming the file; --skip-bad leaves those samples out and lists them in the store's info.json.

--make-splits writes the split lists once (datasets/<dataset>/splits/, see that folder's README).
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmark.data import real_splits
from benchmark.data.adapters import RealAdapter, get_adapter, list_adapters
from benchmark.data.real_common import DataError
from benchmark.data.real_store import build_real_store, real_store_path
from benchmark.io import read_json


def real_datasets() -> list[str]:
    return [n for n in list_adapters() if isinstance(get_adapter(n), RealAdapter)]


def _adapter(dataset: str) -> RealAdapter:
    if dataset not in real_datasets():
        raise ValueError(f"unknown dataset {dataset!r}; use one of {', '.join(real_datasets())}")
    return get_adapter(dataset)


def prepare(dataset: str, root, *, out=None, image_size: int = 224, skip_bad: bool = False, subset: str | None = None,
            require_rate: int | None = None, workers: int = 4, chunk: int = 256, log=print) -> Path:
    """Read the tree, decode every sample and write the store under `out` (a folder of stores,
    default $AVSL_BENCH_CACHE/real); returns the store's folder."""
    root = Path(root).resolve()
    # Media are fully decoded (and rate-checked) while building, so the reader skips header checks.
    read = _adapter(dataset).read(root, subset=subset, skip_bad=skip_bad, require_rate=require_rate, check_media=False)
    path = real_store_path(dataset, subset, image_size, root=out)
    log(f"{dataset}: {len(read.records)} samples to decode from {root} ({len(read.skipped)} skipped so far)")
    info = {"root": str(root), "subset": subset, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    build_real_store(path, dataset, read, image_size=image_size, skip_bad=skip_bad, require_rate=require_rate,
                     info=info, chunk=chunk, workers=workers)
    done = read_json(path / "info.json")
    log(f"wrote {path}: {done['counts']}")
    for s in done["skipped"][:10]:
        log(f"  skipped {s['file']}: {s['problem']}")
    if len(done["skipped"]) > 10:
        log(f"  ... {len(done['skipped']) - 10} more in {path / 'info.json'}")
    return path


def make_splits(dataset: str, root, *, splits_dir=None, force: bool = False, subsets=("144k",), log=print) -> dict:
    """The split lists; the unlabeled list of every subset in `subsets` is required (the paper profile
    trains on 144k), others are written when their list file is at the root."""
    made = _adapter(dataset).make_splits(root, splits_dir, force=force, subsets=tuple(subsets))
    log(f"wrote the {dataset} split lists to {splits_dir or real_splits.real_split_dir(dataset)} "
        f"({made['annotated']} annotated samples, seed {made['seed']})")
    return made


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=real_datasets(), required=True)
    p.add_argument("--root", type=Path, required=True, help="the dataset tree (frames/, audio/, annotations, lists)")
    p.add_argument("--out", type=Path, metavar="CACHE",
                   help="folder of prepared stores; the store goes to CACHE/<dataset>/<subset>-<size>px "
                        "(default CACHE: $AVSL_BENCH_CACHE/real; run_all --data-root reads it)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--subset", choices=("10k", "144k"),
                   help="also store the EZ-VSL subset list's samples; with --make-splits: the unlabeled list "
                        "that must be made (default 144k, the paper profile's); other lists present are made too")
    p.add_argument("--skip-bad", action="store_true", help="leave bad samples out (listed in info.json)")
    p.add_argument("--require-rate", type=int, metavar="HZ",
                   help="refuse tracks at any other sample rate instead of resampling them")
    p.add_argument("--workers", type=int, default=4, help="decoding threads")
    p.add_argument("--make-splits", action="store_true", help="write the split lists (once) instead of a store")
    p.add_argument("--splits-dir", type=Path, help="where --make-splits writes (default datasets/<dataset>/splits)")
    p.add_argument("--force", action="store_true", help="with --make-splits: remake existing lists")
    args = p.parse_args(argv)
    try:
        if args.make_splits:
            make_splits(args.dataset, args.root, splits_dir=args.splits_dir, force=args.force,
                        subsets=(args.subset or "144k",))
        else:
            prepare(args.dataset, args.root, out=args.out, image_size=args.image_size, skip_bad=args.skip_bad,
                    subset=args.subset, require_rate=args.require_rate, workers=args.workers)
    except (DataError, ValueError) as err:  # SplitError is a ValueError too
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
