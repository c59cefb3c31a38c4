"""Performance figures, printed as tables (README "Performance"). Not a test: numbers depend on the machine.

    python -m benchmark.perf                       # default profile, this machine
    python -m benchmark.perf --steps 30 --skip-metrics
    python -m benchmark.perf --metrics --maps 1000  # section 3 alone, against the reference loop
    python -m benchmark.perf --profile paper       # on a GPU: the paper's shapes (synthetic pixels)

1. Training efficiency: a real training step of each method (`trainer.run_step`) against the floor, the same
   models' forward + backward + optimizer step on ready tensors; medians, 60% into the budget, alternating.
2. Augmentation: the batched colour RandAugment and EZ-VSL's kept resize + crop + flip, per training batch.
3. Evaluation metrics: 5,000 heatmaps scored per protocol, as the runner does, and every protocol at once,
   against the per-sample reference loop of tests/metrics_reference.py where the source tree has it (their
   equality on many more cases is tests/test_protocols.py's).
4. Memory: XPL's memory bank and curriculum state at 144k samples, per model.
5. The default table1 run (from the committed run.json files): time to the leaderboard, where it
   went, and the peak resident memory.

    python -m benchmark.perf --pipeline            # the input pipeline alone, at the paper's shapes (no data)

`--pipeline`: a store of random samples at the paper profile's shapes (224 px frames, VGGish log-mel, SoundNet
22.05 kHz waveform; built once under $AVSL_BENCH_CACHE/perf-pipeline, read memory-mapped as a real store), batches
of 128 drawn by the trainer's own `BatchLoader`: samples/s of the pipeline per worker thread and in total, and the
step time against a stand-in compute of fixed duration (a sleep: a GPU step during which the host waits), serial
and prefetched with 1..N workers, as `overlap = step time / max(data time, compute time)`.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import io
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator

from benchmark import metrics
from benchmark.data.adapters import adapter_for
from benchmark.data.domains import DomainData
from benchmark.data.store import SampleTable, cache_root
from benchmark.io import read_json, write_json_atomic
from benchmark.protocols import PROTOCOLS
from benchmark.suites import MethodEntry, load_suite, new_method
from benchmark.trainer import BatchLoader, TrainContext, _Samplers, draw_batches, prepare_training, run_info, run_step
from methods.base import StepState
from methods.common.audio_frontends import SOUNDNET_SAMPLE_RATE, VGGISH_EXAMPLE_FRAMES
from methods.common.augment import UpscaledImages, colour_randaugment, crop_flip, sample_generators
from methods.common.localizer import audio_input, unwrap
from methods.common.pseudo_labels import MemoryBank

SSL_POINT = 0.6  # fraction of the budget where steps are timed: past every method's warm-up
TIMED_METHODS = ("supervised", "hard_pl", "attention10k_ssl", "ezvsl", "xpl")


class RandomTable:
    """Stand-in store with a real-data profile's shapes (the paper profile without its data): random
    pixels, features and boxes-like maps, drawn once. Speed does not depend on the pixel values."""

    def __init__(self, n: int, data):
        g = torch.Generator().manual_seed(0)
        size, seconds = data.image_size, data.clip_seconds
        frames = int(seconds / 0.96) * VGGISH_EXAMPLE_FRAMES  # whole VGGish examples: 288 for 3 s
        self.columns = {
            "image": torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
            "audio": torch.randn(n, 1, 64, frames, generator=g).half(),
            "waveform": torch.randn(n, 1, int(seconds * SOUNDNET_SAMPLE_RATE), generator=g).half(),
            "gt": (torch.rand(n, size, size, generator=g) > 0.7).half(),
            "class_id": torch.zeros(n, dtype=torch.long),
        }
        self.sample_ids = list(range(n))

    def __len__(self) -> int:
        return len(self.sample_ids)

    def get(self, rows: list[int], half: bool = False) -> dict:
        idx = torch.as_tensor(rows, dtype=torch.long)
        batch = {k: (v[idx].float() if v.dtype == torch.float16 and not half else v[idx])
                 for k, v in self.columns.items()}
        batch["index"] = idx
        return batch


def perf_domain(suite):
    """The profile's Flickr(-like) training domain: a generated store, or random tensors of a real-data
    profile's shapes (real stores need a download)."""
    adapter = adapter_for(suite.data, "flickr")
    if adapter.generated:
        return adapter.load(suite.data, suite.profile, "flickr")
    n = 4 * suite.budget.global_batch_size
    rows = list(range(n))
    return DomainData("random", "flickr", RandomTable(n, suite.data),
                      {"labeled": rows[: n // 2], "unlabeled": rows[n // 2:], "val": rows[:8], "test": rows[:8]})


def _setup(name: str, suite, data, accelerator, seed: int = 0, channels_last: bool = False):
    """A method ready to step, set up by the trainer's own `prepare_training`."""
    method = new_method(suite, MethodEntry(name, name))
    return (method, *prepare_training(method, data, suite.budget, seed, accelerator, channels_last))


def _floor_step(models: dict, shapes: dict, batch: int, accelerator):
    """One step of the bare models: forward (under the run's autocast), a scalar of every output,
    backward, Adam step, on ready tensors of the real batch's shapes."""
    bare = {k: copy.deepcopy(unwrap(m)).train() for k, m in models.items()}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in bare.items()}
    device = accelerator.device
    images = torch.randn(batch, *shapes["image"], device=device)
    audio = {key: torch.randn(batch, *shape, device=device) for key, shape in shapes.items() if key != "image"}

    def step():
        for k, m in bare.items():
            with accelerator.autocast():
                out = m(images, audio_input(m, audio))
                loss = sum(v.float().mean() for v in out.values() if torch.is_tensor(v) and v.requires_grad)
            loss.backward()
            opts[k].step()
            opts[k].zero_grad(set_to_none=True)
    return step


def _time_steps(method, models, optims, ctx, samplers, suite, n: int, warm: int, accelerator) -> dict:
    """Real steps (`trainer.run_step`) and floor steps, interleaved one for one so that both see the same
    machine; medians per step. Curriculum selection passes are timed apart and excluded."""
    total = suite.budget.steps
    first = int(SSL_POINT * total)
    timings = dict.fromkeys(("data", "forward", "backward", "select"), 0.0)
    for step in range(first - warm, first):  # untimed: allocator warm-up, curriculum pass of this epoch
        run_step(method, ctx, samplers, models, optims, StepState(step, total, 0), suite.budget.grad_clip, timings)
    lb, ulb = draw_batches(method, ctx, samplers, first)
    shapes = {k: tuple(v.shape[1:]) for k, v in (lb or ulb).items() if k in ("image", "audio", "waveform")}
    batch = sum(len(b["index"]) for b in (lb, ulb) if b is not None)
    floor_step = _floor_step(models, shapes, batch, accelerator)
    for _ in range(warm):
        floor_step()
    sync = torch.cuda.synchronize if accelerator.device.type == "cuda" else (lambda: None)
    timings = dict.fromkeys(timings, 0.0)
    real, floor = [], []
    for step in range(first, first + n):
        before = dict(timings)
        run_step(method, ctx, samplers, models, optims, StepState(step, total, 0), suite.budget.grad_clip, timings)
        real.append(sum(timings[k] - before[k] for k in ("data", "forward", "backward")))
        sync()
        t = time.perf_counter()
        floor_step()
        sync()
        floor.append(time.perf_counter() - t)
    return {"timings": timings, "batch": batch, "real": statistics.median(real),
            "floor": statistics.median(floor)}


def training_efficiency(suite, data, accelerator, names, n: int, warm: int,
                        channels_last: bool = False) -> pd.DataFrame:
    rows = []
    for name in names:
        method, models, optims, ctx, samplers = _setup(name, suite, data, accelerator, channels_last=channels_last)
        res = _time_steps(method, models, optims, ctx, samplers, suite, n, warm, accelerator)
        t, per_step, floor = res["timings"], res["real"], res["floor"]
        spent = t["data"] + t["forward"] + t["backward"]
        rows.append({"method": name, "models": len(models), "batch": res["batch"],
                     "real s/step": per_step, "floor s/step": floor,
                     "real samples/s": res["batch"] / per_step, "floor samples/s": res["batch"] / floor,
                     "efficiency": floor / per_step,
                     "data %": 100 * t["data"] / spent, "forward %": 100 * t["forward"] / spent,
                     "backward %": 100 * t["backward"] / spent,
                     "selection s (excluded)": t["select"]})
    df = pd.DataFrame(rows)
    sup = df.loc[df.method == "supervised", "real s/step"]
    if len(sup):
        df["× supervised"] = df["real s/step"] / sup.iloc[0]
    return df


def augmentation_speed(suite, data, repeats: int = 10) -> pd.DataFrame:
    """Median ms per training batch of the augmentations as the methods run them."""
    pool = data.rows["unlabeled"]
    rows = torch.as_tensor(pool[: suite.budget.global_batch_size])
    images = data.table.get(rows.tolist())["image"]
    kept = UpscaledImages()
    kept.prefill(data.table, rows.tolist())  # as EZ-VSL does at the start of a run
    cases = {
        "colour RandAugment (2 ops)": lambda g: colour_randaugment(images, g),
        "EZ-VSL resize + crop + flip": lambda g: crop_flip(kept(images, rows), g, images.shape[-2:]),
    }
    out = []
    for name, augment in cases.items():
        times = []
        for step in range(repeats):
            generators = sample_generators(0, step, rows, "perf")
            t = time.perf_counter()
            augment(generators)
            times.append(time.perf_counter() - t)
        out.append({"augmentation": name, "images": len(rows), "ms": 1e3 * statistics.median(times)})
    return pd.DataFrame(out)


def pipeline_store(n: int, size: int = 224, seconds: float = 3.0):
    """A SampleTable of `n` random samples with a real store's columns at `size` px (the paper's shapes at 224),
    built once into $AVSL_BENCH_CACHE/perf-pipeline and read memory-mapped (as a 144k real store is)."""
    import datasets as hf  # lazy: ~1 s to import (real_store imports it too); only --pipeline needs them

    from benchmark.data.real_store import _real_features

    frames, wave = int(seconds / 0.96) * VGGISH_EXAMPLE_FRAMES, int(seconds * SOUNDNET_SAMPLE_RATE)
    path = cache_root() / "perf-pipeline" / f"n{n}-{size}px-{frames}f-{wave}w"
    if not (path / "info.json").exists():
        rng = np.random.default_rng(0)
        ds = hf.Dataset.from_dict({
            "sample_id": list(range(n)), "key": [f"{i:06d}" for i in range(n)],
            "image": rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8),
            "audio": rng.standard_normal((n, 1, 64, frames), dtype=np.float32).astype(np.float16),
            "waveform": rng.standard_normal((n, 1, wave), dtype=np.float32).astype(np.float16),
            "gt": (rng.random((n, size, size)) > 0.7).astype(np.float16),
            "class_id": [0] * n, "annotations": ["[]"] * n, "has_box": [True] * n,
        }, features=_real_features(size, frames, 64, wave))
        ds.save_to_disk(str(path / "data"))
        write_json_atomic(path / "info.json", {"format": "perf-pipeline", "n": n})
    return SampleTable(path, in_memory_bytes=0)


def pipeline(batch: int = 128, size: int = 224, steps: int = 12, compute_ms: float | None = None,
             workers: int = 4, target: float = 5000.0) -> list[str]:
    """The input pipeline at the paper's shapes: the lines `--pipeline` prints (module docstring). Each overlap
    divides a loop's step time by max(data, compute), the data time being the fetch rate measured just before
    that loop with as many threads (the machine's load drifts)."""
    suite = load_suite("table1", "paper")
    suite = dataclasses.replace(suite, budget=dataclasses.replace(suite.budget, global_batch_size=batch,
                                                                  steps=10 ** 9))
    n = 4 * batch
    table = pipeline_store(n, size)
    rows = list(range(n))
    data = DomainData("perf", "flickr", table, {"labeled": rows, "unlabeled": [], "val": [], "test": []})
    method = new_method(suite, MethodEntry("supervised", "supervised"))  # batches of `batch` labeled rows
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    method.setup(run_info(method, data, suite.budget, 0, accelerator))
    ctx, samplers = TrainContext(method, data, method.run), _Samplers(0)
    sync = torch.cuda.synchronize if accelerator.device.type == "cuda" else (lambda: None)
    first = iter(range(0, 10 ** 9, 10 ** 4))  # fresh steps for each measurement

    def loop(depth: int, compute_s: float) -> float:
        """Seconds per step over `steps` steps (after one untimed), batches from a BatchLoader of `depth` threads
        (0: serial), the compute stood in by a sleep: the host thread waits, as for a GPU step."""
        start = next(first)
        with BatchLoader(method, ctx, samplers, start + steps + 1, depth=depth) as loader:
            loader.get(start)
            t = time.perf_counter()
            for step in range(start + 1, start + steps + 1):
                loader.get(step)
                time.sleep(compute_s)
                sync()
            return (time.perf_counter() - t) / steps

    def fetch_rate(n_threads: int, half: bool = False) -> float:
        """Samples/s of `n_threads` threads fetching batches back to back (rows, store, pin + copy on a GPU);
        `half`: the store read alone, float16 kept (a GPU run's host share, less pinning)."""
        start = next(first)

        def work(k):
            for step in range(start + k * steps, start + (k + 1) * steps):
                if half:
                    table.get(samplers.rows("labeled", "all", rows, batch, 0, step, 0, 1), half=True)
                else:
                    draw_batches(method, ctx, samplers, step)
            sync()
        threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return n_threads * steps * batch / (time.perf_counter() - t)

    def overlaps(compute_s: float, label: str) -> list[str]:
        lines = []
        for depth in range(workers + 1):
            data_s = batch / fetch_rate(max(depth, 1))
            step = loop(depth, compute_s)
            name = "serial loop" if not depth else f"prefetch, {depth} worker{'s' * (depth > 1)}"
            lines.append(f"overlap: {step / max(data_s, compute_s):.2f} ({name}{label}; step time {1e3 * step:.1f} "
                         f"ms, data {1e3 * data_s:.1f}, compute {1e3 * compute_s:.1f})")
        return lines

    for step in range(n // batch):  # page the store in
        draw_batches(method, ctx, samplers, step)
    audio, wave = (table.get([0])[k].shape[-1] for k in ("audio", "waveform"))
    gpu = accelerator.device.type == "cuda"
    out = [f"# input pipeline: {batch} samples/batch, {size} px frames, VGGish log-mel (1×64×{audio}), SoundNet "
           f"waveform (1×{wave} at {SOUNDNET_SAMPLE_RATE} Hz); a store of {n} random samples, memory-mapped; device "
           f"{accelerator.device}; {torch.get_num_threads()} torch threads, {os_cpus()} CPUs"]
    rates = {w: fetch_rate(w) for w in range(1, workers + 1)}
    host = fetch_rate(1, half=True)
    out.append(f"pipeline samples/s per worker: {rates[1]:.0f} ({1e3 * batch / rates[1]:.1f} ms per batch: rows, store "
               "read, " + ("pin, copy, cast on the device" if gpu else "fp16→fp32 casts; no pinning or copy on a CPU")
               + f"); the store read alone, float16 kept (a GPU run's host share, less pinning): {host:.0f}")
    out.append("pipeline samples/s in total: " + ", ".join(f"{w} worker{'s' * (w > 1)} {r:.0f}" for w, r in rates.items()))
    gpu_step = batch / target if compute_ms is None else compute_ms / 1e3
    out.append(f"stand-in compute: a sleep of {1e3 * gpu_step:.1f} ms per step"
               + (f" (a GPU step at {target:,.0f} samples/s)" if compute_ms is None else ""))
    out += overlaps(gpu_step, "")
    balanced = batch / rates[1]  # compute as long as one worker's fetch: serial ~2, prefetched ~1
    out += overlaps(balanced, ", compute = data")
    out.append(f"cores to feed {target:,.0f} samples/s: {target / host:.1f} for the store reads of a GPU run, "
               f"{target / rates[1]:.1f} with the casts on the host (the per-worker rates, one core per worker; "
               f"threads scaled {rates[workers] / rates[1]:.2f}× with {workers} workers on these {os_cpus()} CPUs)")
    return out


def os_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _boxes(rng, k: int, size: int = 224) -> list:
    """k boxes (x0, y0, x1, y1) in pixels of a `size` frame, at least 8 px wide and high."""
    lo = rng.uniform(0, size - 8, (k, 2))
    hi = np.minimum(lo + rng.uniform(8, size, (k, 2)), size)
    return [(*a, *b) for a, b in zip(lo, hi)]


REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "metrics_reference.py"


def load_reference():
    """`evaluate_reference` of tests/metrics_reference.py, the per-sample loop the tests hold the metrics equal to;
    None where tests/ is absent (an installed package): it is a test oracle, not part of the harness."""
    if not REFERENCE.exists():
        return None
    spec = importlib.util.spec_from_file_location("metrics_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.evaluate_reference


def metrics_speed(n: int = 5000, seed: int = 0, repeats: int = 3, reference=None) -> pd.DataFrame:
    """Best-of-`repeats` seconds to score n random 7×7 maps against 224×224 GT maps (half Flickr-style
    consensus of 1-3 annotators, half VGG-SS-style unions); with `reference` (load_reference()), the loop's
    seconds on the same maps (once per protocol: it is slow) and whether their per-sample cIoU are identical."""
    rng = np.random.default_rng(seed)
    heatmaps = torch.from_numpy(rng.standard_normal((n, 7, 7)).astype(np.float32))
    gt = torch.empty(n, 224, 224)
    for i in range(n):
        if i % 2:  # Flickr-style: 1-3 annotators with 1-2 boxes each
            gt[i] = metrics.consensus_gt_map([_boxes(rng, int(rng.integers(1, 3))) for _ in range(rng.integers(1, 4))],
                                             224)
        else:
            gt[i] = metrics.union_gt_map(_boxes(rng, int(rng.integers(1, 4))), 224)
    # each case returns {protocol: evaluate()'s dict} for what it computed (evaluate_all is the pair's pass, renamed)
    cases = {f"protocol {p} (`evaluate`)": lambda p=p: {p: metrics.evaluate(heatmaps, gt, protocol=p)}
             for p in PROTOCOLS}
    cases["ezvsl and fixed0.5 (`evaluate_all`, as the runner)"] = \
        lambda: metrics.evaluate_protocols(heatmaps, gt, ["ezvsl", "fixed0.5"])
    cases["every protocol (`evaluate_protocols`, as `score --protocol all`)"] = \
        lambda: metrics.evaluate_protocols(heatmaps, gt)
    loop = {}
    for p in PROTOCOLS if reference else ():
        t = time.perf_counter()
        loop[p] = (reference(heatmaps.numpy(), gt.numpy(), protocol=p)["ciou_per_sample"], time.perf_counter() - t)
    rows = []
    for name, score in cases.items():
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            out = score()
            times.append(time.perf_counter() - t)
        row = {"maps": n, "computed": name, "s": min(times)}
        if loop:
            row["reference s"] = sum(loop[p][1] for p in out)
            row["speed-up"] = row["reference s"] / row["s"]
            row["identical"] = all(torch.equal(r["ciou_per_sample"], loop[p][0]) for p, r in out.items())
        rows.append(row)
    return pd.DataFrame(rows)


def print_metrics_speed(n: int) -> None:
    reference = load_reference()
    print(f"## Evaluation metrics ({n:,} maps 7×7 vs 224×224 GT, {torch.get_num_threads()} threads)\n")
    if reference is None:
        print(f"(no reference timing: {REFERENCE} is not here; it ships with the source tree's tests)\n")
    print(metrics_speed(n, reference=reference).to_markdown(index=False, floatfmt=".3f"), "\n")


def bank_memory(n: int = 144_000) -> pd.DataFrame:
    """Bytes per XPL model for n unlabeled samples: the 7×7 memory bank and the curriculum state."""
    bank = MemoryBank(n, (7, 7), 0.7)
    buf = io.BytesIO()  # the curriculum as checkpointed: admitted rows (worst case: all) + scalars
    torch.save({"rows": list(range(n)), "epoch": 0, "first_step": 0, "admitted": n, "rho_mean": 0.9}, buf)
    rho = torch.zeros(n).nbytes  # Pearson ρ per sample, alive during a selection pass
    return pd.DataFrame([{"samples": n, "bank MiB": bank.nbytes() / 2**20,
                          "curriculum (checkpointed) MiB": buf.tell() / 2**20,
                          "ρ during selection MiB": rho / 2**20}])


def suite_time(results_dir: Path, suite: str = "table1", profile: str = "default") -> tuple[pd.DataFrame, dict]:
    """Where the committed runs' time went, per method, from their run.json."""
    rows, rss = [], 0.0
    for path in sorted((results_dir / suite / "runs" / profile).glob("train-*/*/seed*/run.json")):
        run = read_json(path)
        sec = run.get("seconds", {})
        rows.append({"method": run["config"]["label"], "wall": run["wall_seconds"], **sec})
        rss = max(rss, run.get("peak_memory_mb", {}).get("rss", 0.0))
    if not rows:
        return pd.DataFrame(), {}
    df = pd.DataFrame(rows).fillna(0.0)
    parts = [c for c in ("data", "forward", "backward", "step", "select", "eval", "test") if c in df]
    by = df.groupby("method", sort=False)[["wall", *parts]].sum()
    by["other"] = by["wall"] - by[parts].sum(axis=1)
    by.loc["total"] = by.sum()
    return (by / 60).round(2).reset_index(), {"runs": len(rows), "peak_rss_mb": rss or None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="default")
    p.add_argument("--methods", type=lambda s: s.split(","), default=list(TIMED_METHODS))
    p.add_argument("--steps", type=int, default=20, help="timed steps per method")
    p.add_argument("--warm", type=int, default=3, help="untimed steps first")
    p.add_argument("--batch", type=int, help="override the profile's global batch")
    p.add_argument("--skip-metrics", action="store_true")
    p.add_argument("--metrics", action="store_true", help="only section 3, the metrics against the reference loop")
    p.add_argument("--maps", type=int, default=5000, help="maps scored in section 3")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--channels-last", action="store_true", help="the models in NHWC memory format")
    p.add_argument("--precision", choices=("no", "bf16", "fp16"), help="override (default: the profile's on a GPU, "
                   "else no)")
    g = p.add_argument_group("--pipeline: the input pipeline alone (paper shapes, a synthetic store)")
    g.add_argument("--pipeline", action="store_true")
    g.add_argument("--image-size", type=int, default=224)
    g.add_argument("--pipeline-steps", type=int, default=12, help="timed steps per measurement")
    g.add_argument("--compute-ms", type=float, help="stand-in compute per step (default: 128 / 5,000 s)")
    g.add_argument("--workers", type=int, default=4, help="measure 1..N loader threads")
    args = p.parse_args(argv)
    if args.pipeline:
        for line in pipeline(args.batch or 128, args.image_size, args.pipeline_steps, args.compute_ms, args.workers):
            print(line)
        return 0
    if args.metrics:
        print_metrics_speed(args.maps)
        return 0

    suite = load_suite("table1", args.profile)
    on_gpu = torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision=args.precision or (suite.mixed_precision if on_gpu else "no"))
    if args.batch:  # e.g. the paper profile's shapes on a CPU, with a batch it can afford
        suite = dataclasses.replace(suite, budget=dataclasses.replace(suite.budget, global_batch_size=args.batch))
    data = perf_domain(suite)
    gpu = f" ({torch.cuda.get_device_name()})" if on_gpu else ""
    print(f"# avsl-bench perf: profile {args.profile}, device {accelerator.device}{gpu}, precision "
          f"{accelerator.mixed_precision}{', channels_last' if args.channels_last else ''}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(f"## Training efficiency ({args.steps} steps at {int(SSL_POINT * 100)}% of the budget)\n")
    print(training_efficiency(suite, data, accelerator, args.methods, args.steps, args.warm, args.channels_last)
          .to_markdown(index=False, floatfmt=".3f"), "\n")
    print("## Augmentation per training batch (CPU)\n")
    print(augmentation_speed(suite, data).to_markdown(index=False, floatfmt=".2f"), "\n")
    if not args.skip_metrics:
        print_metrics_speed(args.maps)
    print("## XPL state per model at 144k samples\n")
    print(bank_memory().to_markdown(index=False, floatfmt=".2f"), "\n")
    table, info = suite_time(args.results_dir)
    if len(table):
        print(f"## Default table1 run (minutes, {info['runs']} runs from {args.results_dir}/table1; "
              f"peak RSS {info['peak_rss_mb'] or 'not recorded'} MB)\n")
        print(table.to_markdown(index=False), "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
