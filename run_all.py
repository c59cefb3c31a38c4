"""Train and evaluate every method of a suite, then write its leaderboard.

    python run_all.py --suite table1                      # default profile, on this CPU
    python run_all.py --suite table1 --profile smoke      # seconds
    accelerate launch --num_processes 4 run_all.py --suite table1   # several GPUs
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from benchmark import metadata
from benchmark.checkpoint import CheckpointMismatch
from benchmark.data.store import StoreError
from benchmark.io import remove_stale_temporaries, unwritable
from benchmark.runner import run_suite
from benchmark.suites import (SuiteError, list_suites, load_profile, load_suite, parse_weights, validate_suite,
                              with_weights)
from benchmark.tracking import TRACKERS, missing_tracker
from benchmark.trainer import PROGRESS, NonFiniteLoss
from benchmark.verify import DamagedRun, damaged_runs, finished_runs

RUN_ERRORS = (CheckpointMismatch, StoreError, NonFiniteLoss, DamagedRun, OSError)  # one `error:` line each


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", required=True, help=f"one of: {', '.join(list_suites())}, or all")
    p.add_argument("--profile", default="default", help="smoke | default | bench | bench_pretrained | paper (see benchmark/profiles.yaml)")
    p.add_argument("--seeds", type=_seeds, help="comma-separated, e.g. 0,1,2 (each in [0, 2^32))")
    p.add_argument("--methods", type=lambda s: s.split(","), help="comma-separated method labels of the suite")
    p.add_argument("--evaluations", type=lambda s: s.split(","),
                   help="comma-separated evaluation names of the suite: only their training domains run (with every "
                        "evaluation of those trainings, so each run is the one the whole suite runs)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--validate", action="store_true",
                   help="check config, names, splits and paper keys, and verify every finished run of the suite(s) "
                        "and profile (file digests, numbers against per_sample.jsonl), then stop")
    p.add_argument("--repair", action="store_true",
                   help="before running: delete the metrics.json of every finished run that does not verify, "
                        "so that it is trained again")
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"],
                   help="default: the profile's choice on a GPU (bf16 for paper), no on a CPU")
    p.add_argument("--weights", action="append", default=[], metavar="TYPE=PATH",
                   help="local pretrained weights for a backbone type, e.g. resnet18=resnet18-f37072fd.pth, "
                        "vggish=vggish-10086976.pth, soundnet8=sound8.pth (repeat the flag); never downloaded")
    p.add_argument("--data-root", type=Path,
                   help="real-data profiles: folder with the prepared stores (benchmark.prepare --out); "
                        "default: the cache folder")
    p.add_argument("--cpu", action="store_true", help="force the CPU even if a GPU is present")
    p.add_argument("--loader-workers", type=int, metavar="N",
                   help="threads that fetch the next N steps' batches while a step computes (0: in the step); the "
                        "batches, and so the results, are the same. Default: the profile's loader_workers on a GPU "
                        "(paper: 4), 1 on a CPU")
    p.add_argument("--log-with", choices=TRACKERS,
                   help="also log each run (config, losses, validation points) to TensorBoard (under "
                        "<results-dir>/trackers/) or Weights & Biases; needs the extra of the same name")
    args = p.parse_args(argv)
    if args.loader_workers is not None and args.loader_workers < 0:
        p.error(f"--loader-workers {args.loader_workers}: expected 0 or more")
    return args


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise argparse.ArgumentTypeError(f"{bad}: a seed is an integer in [0, 2^32)")
    return seeds


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt for Ctrl-C."""


def main(argv=None) -> int:
    """Ctrl-C and SIGTERM end with one line naming the run (and step) interrupted, exit 130 / 143; finished
    runs, checkpoints and every complete file stay, and the same command resumes."""
    def on_term(signum, frame):
        raise Terminated

    try:
        previous, installed = signal.signal(signal.SIGTERM, on_term), True
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        previous, installed = None, False
    try:
        return _main(argv)
    except (KeyboardInterrupt, Terminated) as err:
        where = f" at {PROGRESS['run']}" if PROGRESS.get("run") else ""
        step = f", step {PROGRESS['step']}" if PROGRESS.get("run") and PROGRESS.get("step") is not None else ""
        print(f"interrupted{where}{step}; rerun the same command to resume", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _main(argv=None) -> int:
    args = parse_args(argv)
    problem = args.log_with and missing_tracker(args.log_with)
    if problem:  # before anything runs
        print(f"error: {problem}", file=sys.stderr)
        return 2
    names = list_suites() if args.suite == "all" else [args.suite]
    suites = []
    try:  # every suite is checked before any training starts
        weights = parse_weights(args.weights)
        missing = sorted(set(load_profile(args.profile).needs_weights) - set(weights))
        if missing:
            raise SuiteError(f"profile {args.profile!r} needs --weights {missing[0]}=FILE for {missing} "
                             "(light_cnn: FILE from `python -m benchmark.pretrain --profile bench --out FILE`)")
        for name in names:
            one = args.suite != "all"
            suite = load_suite(name, args.profile, args.seeds, args.methods if one else None,
                               args.evaluations if one else None)
            # the leaderboard is always the whole suite's (every method, evaluation and seed of the suite, plus
            # any other seed asked for; missing runs listed): a run of a few methods or seeds must not replace the
            # published table with theirs
            table = load_suite(name, args.profile)
            if args.seeds and not set(args.seeds) <= set(table.seeds):
                table = load_suite(name, args.profile, sorted({*table.seeds, *args.seeds}))
            if weights:
                suite, table = with_weights(suite, weights), with_weights(table, weights)
            suites.append((suite, validate_suite(suite), table))
        for suite, *_ in suites:  # the deepest folder that exists on the way to the runs decides
            problem = unwritable(args.results_dir / suite.name / "runs" / suite.profile)
            if problem:
                raise SuiteError(f"--results-dir {problem}")
    except (SuiteError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.validate:
        code = 0
        for suite, report, _ in suites:
            print("\n".join(report))
            runs = suite_runs(suite, args.results_dir)
            damaged = damaged_runs(runs)
            for problem in damaged.values():
                print(f"damaged: {problem}")
            print(f"{len(runs) - len(damaged)} of {len(runs)} finished runs under {args.results_dir} verify")
            if damaged:
                print(f"suite {suite.name} ({suite.profile}): {len(damaged)} damaged run(s); --repair reruns them")
                code = 1
            else:
                print(f"suite {suite.name} ({suite.profile}): valid")
        return code

    # lazy: matplotlib, scipy and pandas (~2.5 s) are needed only once runs are tabled, not by --validate or --help
    from benchmark.leaderboard import write_leaderboard

    metadata.git_info()  # record the commit the code was imported from, before anything can change it
    on_gpu = torch.cuda.is_available() and not args.cpu
    precision = args.mixed_precision or (suites[0][0].mixed_precision if on_gpu else "no")
    workers = args.loader_workers if args.loader_workers is not None else (
        suites[0][0].loader_workers if on_gpu else 1)
    if precision == "fp16" and not on_gpu:  # it would be recorded while changing nothing on a CPU
        print("error: --mixed-precision fp16 needs a GPU; on a CPU use no (or bf16)", file=sys.stderr)
        return 2
    if precision == "bf16" and on_gpu and not torch.cuda.is_bf16_supported():  # refused, not recorded as bf16
        print(f"error: --mixed-precision bf16: {torch.cuda.get_device_name()} does not support bf16; use fp16 or no",
              file=sys.stderr)
        return 2
    accelerator = Accelerator(cpu=args.cpu, mixed_precision=precision, log_with=args.log_with,
                              project_dir=args.results_dir / "trackers" if args.log_with else None)
    log = print if accelerator.is_main_process else (lambda *a, **k: None)
    if accelerator.is_main_process:  # temporaries of killed writes beside the suite's tables and figures
        for suite, *_ in suites:
            for folder in (args.results_dir / suite.name, args.results_dir / suite.name / "figures"):
                remove_stale_temporaries(folder)
    if args.repair and accelerator.is_main_process:
        for suite, *_ in suites:
            for folder, problem in damaged_runs(suite_runs(suite, args.results_dir)).items():
                log(f"repair: {problem}; deleting {folder / 'metrics.json'} so that the run is trained again")
                (folder / "metrics.json").unlink()
    accelerator.wait_for_everyone()
    try:
        for suite, _, table in suites:
            t0 = time.perf_counter()
            domains = run_suite(dataclasses.replace(suite, loader_workers=workers), args.results_dir, accelerator, log,
                                data_root=args.data_root)
            if accelerator.is_main_process:
                path = write_leaderboard(table, args.results_dir, time.perf_counter() - t0,
                                         accelerator.num_processes, domains)
                log(f"leaderboard: {path}")
    except RUN_ERRORS as err:  # expected failures: one clear line; finished runs stay, a rerun resumes
        hint = " (--validate lists the damaged runs, --repair reruns them)" if isinstance(err, DamagedRun) else ""
        print(f"error: {type(err).__name__}: {err}{hint}", file=sys.stderr)
        return 1
    return 0


def suite_runs(suite, results_dir: Path) -> list[Path]:
    """Finished runs (tuning runs included) of the suite's method labels under its profile."""
    labels = {e.label for e in suite.methods}
    base = results_dir / suite.name / "runs" / suite.profile
    return [f for f in finished_runs(results_dir, suite.name, suite.profile)
            if f.relative_to(base).parts[1] in labels]


if __name__ == "__main__":
    sys.exit(main())
