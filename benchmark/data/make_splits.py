"""Write the committed split lists of the synthetic dataset (run once per profile).

    python -m benchmark.data.make_splits --profile default
"""
from __future__ import annotations

import argparse

import yaml

from benchmark.data import synthetic
from benchmark.data.splits import make_synthetic_splits
from benchmark.suites import PROFILES_PATH


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", required=True)
    p.add_argument("--force", action="store_true", help="remake existing lists (changes every result's hash)")
    args = p.parse_args(argv)
    sizes = yaml.safe_load(PROFILES_PATH.read_text())[args.profile]["data"]["sizes"]
    out = make_synthetic_splits(args.profile, sizes, synthetic.DOMAINS, force=args.force)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
