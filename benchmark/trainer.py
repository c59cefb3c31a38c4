"""The shared training loop on Hugging Face Accelerate (docs/design.md §4): a budget in optimizer steps at a
fixed global batch, model selection on validation, the best-on-val weights loaded at the end."""
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
from benchmark.evaluate import compute_maps, score, summarize
from benchmark.sampling import PoolSampler
from benchmark.suites import Budget
from benchmark.tracking import LOG_EVERY, log_step, log_validation, progress_line
from methods.base import BatchPlan, Method, RunInfo, StepState
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
    """What a step may use beyond its batch: eval-mode maps of the method's current models (curricula,
    diagnostics); and what the trainer records while stepping."""

    method: Method
    data: DomainData
    run: RunInfo
    select_seconds: float = 0.0  # time spent in maps() (curricula), reported apart from data loading
    # (step, unlabeled rows drawn, rows planned) of every step whose unlabeled pool could not fill its share
    shortfall: list = field(default_factory=list)

    def maps(self, rows: list[int], variant: str, timed: bool = True) -> torch.Tensor:
        """Gathered maps of `variant` over `rows`, models in eval mode, no augmentation, labels withheld."""
        t = time.perf_counter()
        out = compute_maps(self.method, self.data, list(rows), [variant], self.run.accelerator, self.run.eval_batch_size,
                           desc=f"maps {variant}", batch_filter=lambda b: WithheldBatch(
                               b, "labels are withheld from the maps a method computes while training"))[variant]
        if timed:
            self.select_seconds += time.perf_counter() - t
        return out


def draw_batches(method: Method, ctx: TrainContext, samplers: "_Samplers", step: int) -> tuple:
    """This process's (labeled, unlabeled) batches at `step`, on the accelerator's device, labels withheld
    (LABEL_COLUMNS); a pool short of its share gives each row once and labeled rows fill the batch, recorded in
    `ctx.shortfall` (no row repeats within a step: it would be its own InfoNCE negative; docs/design.md §4). A
    labeled pool short of its share (a small label budget) gives each row once and the batch is that much smaller:
    fixed by the pool's size, so not recorded per step."""
    run = ctx.run
    acc = run.accelerator
    rank, world = acc.process_index, acc.num_processes

    def fetch(rows, why=None):  # withheld columns are dropped before they are moved to the device
        batch = {k: v.to(acc.device) for k, v in ctx.data.table.get(rows).items()
                 if why is None or k not in LABEL_COLUMNS}
        return batch if why is None else WithheldBatch(batch, why)

    no_labels = None if method.uses_labels else (f"labels are withheld from every batch of {method.name} "
                                                 "(uses_labels = False)")
    plan = method.batch_plan(step)
    lb = ulb = None
    if plan.unlabeled and not method.uses_unlabeled:
        raise ValueError(f"{method.name}: its batch plan at step {step} asks for {plan.unlabeled} unlabeled samples "
                         "but it declares uses_unlabeled = False")
    if plan.unlabeled:
        pool = method.unlabeled_pool(step, ctx)
        if len(pool.rows) < plan.unlabeled:
            got = len(pool.rows) // world * world
            ctx.shortfall.append((step, got, plan.unlabeled))
            plan = BatchPlan(labeled=run.global_batch - got, unlabeled=got)
        if plan.unlabeled:
            ulb = fetch(samplers.rows("unlabeled", pool.key, pool.rows, plan.unlabeled, pool.first_step, step, rank,
                                      world), UNLABELED)
    if plan.labeled and len(run.labeled_rows) < plan.labeled:
        # a labeled pool smaller than its share (a small label budget): each row once, a smaller batch
        got = len(run.labeled_rows) // world * world
        if not got:
            raise ValueError(f"{method.name}: {len(run.labeled_rows)} labeled samples cannot be split over {world} "
                             "processes")
        plan = BatchPlan(labeled=got, unlabeled=plan.unlabeled)
    if plan.labeled:
        lb = fetch(samplers.rows("labeled", "all", run.labeled_rows, plan.labeled, 0, step, rank, world), no_labels)
    return lb, ulb


def run_step(method: Method, ctx: TrainContext, samplers: "_Samplers", models: dict, optims: dict,
             state: StepState, grad_clip: float, timings: dict, logs_out: dict | None = None) -> torch.Tensor:
    """One optimizer step of `method` (the body of the training loop; `benchmark.perf` times it too).

    Adds to timings: data (batches), select (curriculum passes), forward (training_step), backward
    (backward, clipping, optimizer). On a GPU it synchronises so that the split is honest. `logs_out`, if
    given, receives the method's logs of the step (tensors, not read here)."""
    acc = ctx.run.accelerator
    sync = torch.cuda.synchronize if acc.device.type == "cuda" else (lambda: None)
    t0, selected = time.perf_counter(), ctx.select_seconds
    lb, ulb = draw_batches(method, ctx, samplers, state.step)
    t1 = time.perf_counter()
    with acc.accumulate(*models.values()):
        loss, logs = method.training_step(lb, ulb, state)
        if logs_out is not None:
            logs_out.update(logs)
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
    if method.unlabeled_includes_labeled:
        unlabeled = data.rows["labeled"] + unlabeled
    return labeled, unlabeled


def run_info(method: Method, data: DomainData, budget: Budget, seed: int, accelerator) -> RunInfo:
    """What `method` is told about this run (Method.setup)."""
    labeled, unlabeled = _pools(method, data)
    return RunInfo(steps=budget.steps, global_batch=budget.global_batch_size, seed=seed,
                   labeled_rows=tuple(labeled), unlabeled_rows=tuple(unlabeled), table=data.table,
                   eval_batch_size=budget.eval_batch_size, accelerator=accelerator)


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
    attached, the method set up for the run, and everything `run_step` needs (`benchmark.perf` steps the
    same set-up)."""
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
    method.attach(models)
    run = run_info(method, data, budget, seed, accelerator)
    method.setup(run)
    return models, optims, TrainContext(method, data, run), _Samplers(seed)


def train(method: Method, data: DomainData, *, budget: Budget, seed: int, accelerator, ckpt_dir: Path,
          run_meta: dict, log=print, name: str | None = None) -> TrainResult:
    """Train `method` on `data` under `budget`; leaves the best-on-val weights loaded. `name` (default: the
    method's) names the run in the progress lines printed when tqdm is off."""
    world = accelerator.num_processes
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
        log_validation(accelerator, val)
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
    t_start = time.perf_counter()
    for step in bar:
        PROGRESS["step"] = step
        logs: dict = {}
        loss = run_step(method, ctx, samplers, models, optims, StepState(step, steps, seed),
                        budget.grad_clip, timings, logs)
        done = step + 1
        if step % LOG_EVERY == 0:  # the only steps that read the loss back
            value = loss.item()
            bar.set_postfix(loss=f"{value:.3f}")
            log_step(accelerator, done, value, logs)
        if done % budget.eval_every == 0 or done == steps:
            val = validate(done, ctx)
            history.append(val)
            log_validation(accelerator, val)
            if bar.disable and accelerator.is_main_process:  # no progress bar (not a terminal): one line instead
                log(progress_line(name or method.name, done, steps, start, time.perf_counter() - t_start, val))
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

