"""The shared training loop on Hugging Face Accelerate (docs/design.md §4).

Budget in optimizer steps with a fixed global batch; the batch is split across
processes, so 1 CPU process and N GPUs run the same schedule. Model selection on the
validation split only; each test set is scored once, with the best-on-val weights.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from benchmark.checkpoint import load_latest, save_checkpoint
from benchmark.data.domains import DomainData
from benchmark.evaluate import compute_maps, score, shuffled_audio_rows, summarize
from benchmark.sampling import PoolSampler
from benchmark.suites import Budget
from methods.base import BatchPlan, Method, StepState
from methods.common.localizer import unwrap

# The columns that carry annotation: the GT map (from the boxes) and the sounding object's class. The trainer
# removes them from every unlabeled batch, from every batch of a method with uses_labels = False, and from the
# batches behind TrainContext.maps; the other columns (image, audio, waveform, index) stay.
LABEL_COLUMNS = ("gt", "class_id")


class LabelsWithheld(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class WithheldBatch(dict):
    """A batch without its label columns: reading one raises LabelsWithheld, naming the column and why."""

    def __init__(self, batch: dict, why: str):
        super().__init__((k, v) for k, v in batch.items() if k not in LABEL_COLUMNS)
        self.why = why

    def __missing__(self, key):
        if key in LABEL_COLUMNS:
            raise LabelsWithheld(f"column {key!r} is a label and {self.why}; this batch has {sorted(self)}")
        raise KeyError(key)

    def get(self, key, default=None):
        return self[key] if key in LABEL_COLUMNS else super().get(key, default)


UNLABELED = "labels are withheld from unlabeled batches"


# where training is, for the one-line message of an interrupted command (run_all): the run (set by the
# runner) and the optimizer step being taken (None outside the training loop)
PROGRESS: dict = {"run": None, "step": None}


class NonFiniteLoss(FloatingPointError):
    pass


@dataclass
class TrainResult:
    best_step: int
    best_val: dict
    history: list[dict] = field(default_factory=list)  # validation curve (+ the method's diagnostics)
    shortfall: list = field(default_factory=list)  # steps whose unlabeled share was not filled (draw_batches)
    resumed_from: int | None = None
    timings: dict = field(default_factory=dict)


@dataclass
class TrainContext:
    """What a method may use beyond its batch: the pools, and eval-mode maps of its models."""

    method: Method
    data: DomainData
    accelerator: object
    labeled_rows: list[int]
    unlabeled_rows: list[int]
    eval_batch_size: int
    global_batch: int
    select_seconds: float = 0.0  # time spent in maps() (curricula), reported apart from data loading
    # (step, unlabeled rows drawn, rows planned) of every step whose unlabeled pool could not fill its share
    shortfall: list = field(default_factory=list)

    def maps(self, rows: list[int], variant: str, timed: bool = True) -> torch.Tensor:
        """Gathered maps of `variant` over `rows`, models in eval mode, no augmentation, labels withheld."""
        t = time.perf_counter()
        out = compute_maps(self.method, self.data, rows, [variant], self.accelerator, self.eval_batch_size,
                           desc=f"maps {variant}", batch_filter=lambda b: WithheldBatch(
                               b, "labels are withheld from the maps a method computes while training"))[variant]
        if timed:
            self.select_seconds += time.perf_counter() - t
        return out


def draw_batches(method: Method, ctx: TrainContext, samplers: "_Samplers", step: int) -> tuple:
    """This process's (labeled, unlabeled) batches at `step`, on the accelerator's device.

    A pool smaller than its planned share of the batch (e.g. a curriculum that admitted few samples yet)
    gives each of its rows once, rounded down to a multiple of the process count, and labeled samples
    fill the rest: the global batch stays the same and no row repeats within a step (a repeat would be
    its own false negative in InfoNCE and would lose a memory-bank update). Such steps are recorded in
    `ctx.shortfall` (run.json), an empty pool being a labeled-only step.

    Labels are withheld (LABEL_COLUMNS): the unlabeled batch never has them, nor the labeled batch of a method
    that declares uses_labels = False; reading one raises LabelsWithheld.
    """
    acc = ctx.accelerator
    rank, world = acc.process_index, acc.num_processes

    def fetch(rows, why=None):  # withheld columns are dropped before they are moved to the device
        batch = {k: v.to(acc.device) for k, v in ctx.data.table.get(rows).items()
                 if why is None or k not in LABEL_COLUMNS}
        return batch if why is None else WithheldBatch(batch, why)

    no_labels = None if method.uses_labels else (f"labels are withheld from every batch of {method.name} "
                                                 "(uses_labels = False)")
    plan = method.batch_plan(ctx.global_batch, step)
    lb = ulb = None
    if plan.unlabeled and not method.uses_unlabeled:
        raise ValueError(f"{method.name}: its batch plan at step {step} asks for {plan.unlabeled} unlabeled samples "
                         "but it declares uses_unlabeled = False")
    if plan.unlabeled:
        key, pool, first = method.unlabeled_pool(step, ctx)
        if len(pool) < plan.unlabeled:
            got = len(pool) // world * world
            ctx.shortfall.append((step, got, plan.unlabeled))
            plan = BatchPlan(labeled=ctx.global_batch - got, unlabeled=got)
        if plan.unlabeled:
            ulb = fetch(samplers.rows("unlabeled", key, pool, plan.unlabeled, first, step, rank, world),
                        UNLABELED)
    if plan.labeled:
        lb = fetch(samplers.rows("labeled", "all", ctx.labeled_rows, plan.labeled, 0, step, rank, world), no_labels)
    return lb, ulb


def run_step(method: Method, ctx: TrainContext, samplers: "_Samplers", models: dict, optims: dict,
             state: StepState, grad_clip: float, timings: dict) -> torch.Tensor:
    """One optimizer step of `method` (the body of the training loop; `benchmark.perf` times it too).

    Adds to timings: data (batches), select (curriculum passes), forward (training_step), backward
    (backward, clipping, optimizer). On a GPU it synchronises so that the split is honest."""
    acc = ctx.accelerator
    sync = torch.cuda.synchronize if acc.device.type == "cuda" else (lambda: None)
    t0, selected = time.perf_counter(), ctx.select_seconds
    lb, ulb = draw_batches(method, ctx, samplers, state.step)
    t1 = time.perf_counter()
    with acc.accumulate(*models.values()):
        loss, logs = method.training_step(lb, ulb, state)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"{method.name}: loss is {loss.item()} at step {state.step} (seed {state.seed}); "
                                f"logs {({k: float(v) for k, v in logs.items()})}")
        sync()
        t2 = time.perf_counter()
        acc.backward(loss)
        for k in models:
            acc.clip_grad_norm_(models[k].parameters(), grad_clip)
            optims[k].step()
            optims[k].zero_grad(set_to_none=True)
        sync()
    timings["select"] += ctx.select_seconds - selected
    timings["data"] += t1 - t0 - (ctx.select_seconds - selected)
    timings["forward"] += t2 - t1
    timings["backward"] += time.perf_counter() - t2
    return loss


def _pools(method: Method, data: DomainData) -> tuple[list[int], list[int]]:
    labeled = data.rows["labeled"] + (data.rows["unlabeled"] if method.label_pool == "all" else [])
    unlabeled = list(data.rows["unlabeled"])
    if method.batch_plan(1).unlabeled_includes_labeled:
        unlabeled = data.rows["labeled"] + unlabeled
    return labeled, unlabeled


class _Samplers:
    """One PoolSampler per (stream, pool key, batch size), indexed from the pool's first step."""

    def __init__(self, seed: int):
        self.seed, self.cache = seed, {}

    def rows(self, stream: str, key: str, pool: list[int], batch: int, first_step: int, step: int,
             rank: int, world: int) -> list[int]:
        k = (stream, key, batch)
        if k not in self.cache:
            self.cache = {kk: v for kk, v in self.cache.items() if kk[0] != stream}  # drop stale pools
            self.cache[k] = PoolSampler(pool, batch, self.seed, f"{stream}/{key}/b{batch}")
        return self.cache[k].local_batch(step - first_step, rank, world)


def _model_states(method: Method) -> dict:
    return {k: copy.deepcopy({n: t.detach().cpu() for n, t in unwrap(m).state_dict().items()})
            for k, m in method.models.items()}


def _selection_key(val: dict) -> tuple:
    # Headline metric first; AUC breaks ties (CIoU moves in 1/n steps on a small val set).
    return (val["ciou"], val["auc"])


def prepare_training(method: Method, data: DomainData, budget: Budget, seed: int, accelerator) -> tuple:
    """(models, optimizers, context, samplers): the method's models built under `seed`, prepared and
    attached, and everything `run_step` needs (`benchmark.perf` steps the same set-up)."""
    set_seed(seed)  # model initialisation: same weights on every process
    models = method.build_models()
    if accelerator.num_processes > 1 and accelerator.device.type == "cuda":
        # BatchNorm statistics over the global batch, as on 1 GPU
        models = {k: torch.nn.SyncBatchNorm.convert_sync_batchnorm(m) for k, m in models.items()}
    optims = method.build_optimizers(models)
    names = list(models)
    prepared = accelerator.prepare(*[models[k] for k in names], *[optims[k] for k in names])
    models = dict(zip(names, prepared[:len(names)]))
    optims = dict(zip(names, prepared[len(names):]))
    method.attach(models, accelerator)
    lb_pool, ulb_pool = _pools(method, data)
    ctx = TrainContext(method, data, accelerator, lb_pool, ulb_pool, budget.eval_batch_size, budget.global_batch_size)
    method.on_train_start(budget.steps, ctx)
    return models, optims, ctx, _Samplers(seed)


def train(method: Method, data: DomainData, *, budget: Budget, seed: int, accelerator, ckpt_dir: Path,
          run_meta: dict, log=print) -> TrainResult:
    """Train `method` on `data` under `budget`; leaves the best-on-val weights loaded."""
    rank, world = accelerator.process_index, accelerator.num_processes
    steps, gbatch = budget.steps, budget.global_batch_size
    if gbatch % world:
        raise ValueError(f"global batch {gbatch} does not divide over {world} processes")
    variants = method.report_variants()
    eval_bs = budget.eval_batch_size
    # where the time goes: batches, forward (the method's training_step), backward + optimizer,
    # curriculum selection passes, validation
    timings = {"data": 0.0, "forward": 0.0, "backward": 0.0, "select": 0.0, "eval": 0.0}

    def validate(step: int, ctx: TrainContext | None = None) -> dict:
        t = time.perf_counter()
        maps = compute_maps(method, data, data.rows["val"], variants[:1], accelerator, eval_bs, desc="val")
        res = summarize(score(maps[variants[0]], data, data.rows["val"]))
        diagnostics = method.diagnostics(ctx, data.rows["val"]) if ctx is not None else {}
        timings["eval"] += time.perf_counter() - t
        return {"step": step, **res, **diagnostics}

    if not method.trainable:
        val = validate(0)
        return TrainResult(best_step=0, best_val=val, history=[val], timings=timings)

    models, optims, ctx, samplers = prepare_training(method, data, budget, seed, accelerator)
    names = list(models)

    start, history, best_step, best_val, best_state = 0, [], -1, None, None
    resumed = load_latest(ckpt_dir, {"config_hash": run_meta["config_hash"], "num_processes": world})
    if resumed is not None:
        state, meta = resumed
        for k in names:
            unwrap(models[k]).load_state_dict(state["models"][k])
            optims[k].load_state_dict(state["optimizers"][k])
        method.load_extra_state(state["extra"])
        start, history = meta["step"], state["history"]
        ctx.shortfall = [tuple(x) for x in state.get("shortfall", [])]
        best_step, best_val, best_state = state["best_step"], state["best_val"], state["best_state"]
        log(f"resumed from {ckpt_dir}/step_{start:08d} (best val step {best_step})")

    bar = tqdm(range(start, steps), desc=f"train {method.name}", initial=start, total=steps, leave=False,
               disable=None if accelerator.is_local_main_process else True)
    for step in bar:
        PROGRESS["step"] = step
        loss = run_step(method, ctx, samplers, models, optims, StepState(step, steps, seed, rank, world),
                        budget.grad_clip, timings)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        done = step + 1
        if done % budget.eval_every == 0 or done == steps:
            val = validate(done, ctx)
            history.append(val)
            if best_val is None or _selection_key(val) > _selection_key(best_val):
                best_step, best_val = done, val
                best_state = {"models": _model_states(method), "extra": method.extra_state()}
        if budget.ckpt_every and done % budget.ckpt_every == 0 and done < steps:
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                save_checkpoint(ckpt_dir, done, {
                    "models": _model_states(method),
                    "optimizers": {k: optims[k].state_dict() for k in names},
                    "extra": method.extra_state(), "history": history, "shortfall": ctx.shortfall,
                    "best_step": best_step, "best_val": best_val, "best_state": best_state,
                }, {**run_meta, "num_processes": world})
            accelerator.wait_for_everyone()

    PROGRESS["step"] = None
    for k in names:  # best-on-val weights for testing
        unwrap(models[k]).load_state_dict(best_state["models"][k])
    method.load_extra_state(best_state["extra"])
    return TrainResult(best_step=best_step, best_val=best_val, history=history, shortfall=ctx.shortfall,
                       resumed_from=start or None, timings=timings)


PREVIEW_SAMPLES = 6  # the first test samples, same for every method: figures compare maps side by side


def evaluate_tests(method: Method, tests: dict[str, DomainData], accelerator,
                   eval_batch_size: int) -> tuple[dict, list, dict]:
    """Score every variant on each test set once. Returns (numbers, per-sample rows, previews): the
    previews are the scored low-resolution maps of the first PREVIEW_SAMPLES test samples, for figures."""
    numbers, per_sample, previews = {}, [], {}
    variants = method.report_variants()
    for test_name, data in tests.items():
        rows = data.rows["test"]
        maps = compute_maps(method, data, rows, variants, accelerator, eval_batch_size, desc=f"test {test_name}")
        previews[test_name] = {
            "sample_ids": [data.table.sample_ids[r] for r in rows[:PREVIEW_SAMPLES]],
            "maps": {v: [[round(x, 5) for x in m.flatten().tolist()] for m in t[:PREVIEW_SAMPLES]]
                     for v, t in maps.items()},
            "shape": list(maps[variants[0]].shape[1:])}
        numbers[test_name] = {}
        for v in variants:
            res = score(maps[v], data, rows)
            numbers[test_name][v] = summarize(res)
            ids = [data.table.sample_ids[r] for r in rows]
            for i, c in zip(ids, res["ciou_per_sample"].tolist()):
                per_sample.append({"test": test_name, "variant": v, "sample_id": i, "ciou": round(c, 6)})
        # Control: the headline map with every image paired with another sample's audio. A method
        # whose score barely drops is localizing objects, not sounds.
        control = compute_maps(method, data, rows, variants[:1], accelerator, eval_batch_size,
                               desc=f"control {test_name}", audio_rows=shuffled_audio_rows(rows))
        numbers[test_name][variants[0]]["shuffled_audio"] = summarize(score(control[variants[0]], data, rows))
    return numbers, per_sample, previews
