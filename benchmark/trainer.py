"""The shared training loop on Hugging Face Accelerate (docs/design.md §4): a budget in optimizer steps at a
fixed global batch, model selection on validation, the best-on-val weights loaded at the end."""
from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
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


@dataclass
class StepRows:
    """The rows of one step's batches (`plan_rows`): what `fetch_rows` reads from the store."""

    step: int
    labeled: list[int] | None = None
    unlabeled: list[int] | None = None
    labeled_why: str | None = None  # why labels are withheld from the labeled batch (None: they are not)
    shortfall: tuple | None = None  # (step, unlabeled rows drawn, rows planned), recorded when the step runs


def plan_rows(method: Method, ctx: TrainContext, samplers: "_Samplers", step: int) -> StepRows:
    """This process's rows at `step` (pure functions of seed, pool key and step; docs/design.md §4). A pool short
    of its share gives each row once and labeled rows fill the batch (the shortfall is returned, recorded by the
    caller when the step runs: no row repeats within a step, it would be its own InfoNCE negative). A labeled
    pool short of its share (a small label budget) gives each row once and the batch is that much smaller: fixed
    by the pool's size, so not recorded per step. May run a curriculum pass (`method.unlabeled_pool`)."""
    run = ctx.run
    rank, world = run.accelerator.process_index, run.accelerator.num_processes
    out = StepRows(step, labeled_why=None if method.uses_labels else (
        f"labels are withheld from every batch of {method.name} (uses_labels = False)"))
    plan = method.batch_plan(step)
    if plan.unlabeled and not method.uses_unlabeled:
        raise ValueError(f"{method.name}: its batch plan at step {step} asks for {plan.unlabeled} unlabeled samples "
                         "but it declares uses_unlabeled = False")
    if plan.unlabeled:
        pool = method.unlabeled_pool(step, ctx)
        if len(pool.rows) < plan.unlabeled:
            got = len(pool.rows) // world * world
            out.shortfall = (step, got, plan.unlabeled)
            plan = BatchPlan(labeled=run.global_batch - got, unlabeled=got)
        if plan.unlabeled:
            out.unlabeled = samplers.rows("unlabeled", pool.key, pool.rows, plan.unlabeled, pool.first_step, step,
                                          rank, world)
    if plan.labeled and len(run.labeled_rows) < plan.labeled:
        got = len(run.labeled_rows) // world * world
        if not got:
            raise ValueError(f"{method.name}: {len(run.labeled_rows)} labeled samples cannot be split over {world} "
                             "processes")
        plan = BatchPlan(labeled=got, unlabeled=plan.unlabeled)
    if plan.labeled:
        out.labeled = samplers.rows("labeled", "all", run.labeled_rows, plan.labeled, 0, step, rank, world)
    return out


def fetch_rows(table, rows: StepRows, device: torch.device) -> tuple:
    """(labeled, unlabeled) batches of `rows` on `device`, label columns withheld where they must be (LABEL_COLUMNS:
    dropped before they are moved). On a GPU the host tensors are pinned and copied with non_blocking, float16
    columns as stored and cast on the device, and the row index stays on the host: the per-image random draws,
    XPL's banks and EZ-VSL's kept images read it there (no device-to-host copy, a sync, per step)."""
    cuda = device.type == "cuda"

    def move(k, v):
        if not cuda:
            return v.to(device)
        if k == "index":
            return v
        v = v.pin_memory().to(device, non_blocking=True)
        return v.float() if v.dtype == torch.float16 else v

    def fetch(part, why):
        batch = {k: move(k, v) for k, v in table.get(part, half=cuda).items() if why is None or k not in LABEL_COLUMNS}
        return batch if why is None else WithheldBatch(batch, why)

    return (None if rows.labeled is None else fetch(rows.labeled, rows.labeled_why),
            None if rows.unlabeled is None else fetch(rows.unlabeled, UNLABELED))


def draw_batches(method: Method, ctx: TrainContext, samplers: "_Samplers", step: int) -> tuple:
    """This process's (labeled, unlabeled) batches at `step`, on the accelerator's device, labels withheld; the
    serial path (`plan_rows` then `fetch_rows`), as `BatchLoader` gives them without prefetching."""
    rows = plan_rows(method, ctx, samplers, step)
    if rows.shortfall:
        ctx.shortfall.append(rows.shortfall)
    return fetch_rows(ctx.data.table, rows, ctx.run.accelerator.device)


class BatchFetchError(RuntimeError):
    pass


class BatchLoader:
    """The batches of each step, fetched up to `depth` steps ahead by as many background threads while the
    current step computes (docs/design.md §4). The rows are planned in the main thread, in step order, by the same
    `plan_rows` as the serial path, so every step gets the same rows; a step is planned ahead only when
    `method.pool_ready(step)` says its unlabeled pool cannot change before then (no curriculum pass due): a step
    whose pool is re-selected from the models after the previous update is planned and fetched when it runs.
    `depth=0` is the serial path. Use as a context manager: leaving it (end, error, KeyboardInterrupt) cancels the
    pending fetches and joins the threads."""

    def __init__(self, method: Method, ctx: TrainContext, samplers: "_Samplers", stop: int, depth: int = 1):
        self.method, self.ctx, self.samplers, self.stop, self.depth = method, ctx, samplers, stop, depth
        self.device = ctx.run.accelerator.device
        self.pending: dict[int, tuple] = {}  # step -> (StepRows, Future)
        self.pool = ThreadPoolExecutor(depth, thread_name_prefix="avsl-batches") if depth else None
        self.stream = torch.cuda.Stream(self.device) if depth and self.device.type == "cuda" else None

    def _fetch(self, rows: StepRows) -> tuple:
        if self.stream is None:
            return fetch_rows(self.ctx.data.table, rows, self.device), None
        with torch.cuda.stream(self.stream):  # the copies overlap the compute stream
            batches = fetch_rows(self.ctx.data.table, rows, self.device)
            done = torch.cuda.Event()
            done.record(self.stream)
        return batches, done

    def get(self, step: int) -> tuple:
        """The (labeled, unlabeled) batches of `step`; then queues the next steps' fetches."""
        if step in self.pending:
            rows, future = self.pending.pop(step)
            try:
                batches, done = future.result()
            except Exception as err:
                raise BatchFetchError(f"fetching the batches of step {step} failed: {type(err).__name__}: {err}") \
                    from err
            if done is not None:  # the compute stream waits for the copies; the tensors are kept until it is done
                current = torch.cuda.current_stream(self.device)
                current.wait_event(done)
                for v in (v for b in batches if b is not None for v in b.values() if v.is_cuda):
                    v.record_stream(current)
            if rows.shortfall:  # recorded when the step runs, as the serial path does
                self.ctx.shortfall.append(rows.shortfall)
        else:
            batches = draw_batches(self.method, self.ctx, self.samplers, step)  # may run a curriculum pass
        for ahead in range(step + 1, min(step + 1 + self.depth, self.stop)):
            if ahead in self.pending:
                continue
            if self.method.batch_plan(ahead).unlabeled and not self.method.pool_ready(ahead):
                break  # its pool depends on the models after the steps before it
            planned = plan_rows(self.method, self.ctx, self.samplers, ahead)
            self.pending[ahead] = (planned, self.pool.submit(self._fetch, planned))
        return batches

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NonFiniteWatch:
    """The first step whose loss is not finite and that loss, kept on the device (`see`: no host sync per step);
    `check` reads them back and raises NonFiniteLoss naming that step (docs/design.md §4)."""

    def __init__(self, name: str, seed: int):
        self.name, self.seed, self.step, self.value = name, seed, None, None

    def see(self, loss: torch.Tensor, step: int) -> None:
        loss = loss.detach().float()
        if self.step is None:
            self.step = torch.full((), -1, dtype=torch.long, device=loss.device)
            self.value = torch.zeros((), device=loss.device)
        first = ~torch.isfinite(loss) & (self.step < 0)
        self.step = torch.where(first, step, self.step)
        self.value = torch.where(first, loss, self.value)

    def check(self, now: int) -> None:
        """Raise if a loss up to step `now` was not finite (one host sync)."""
        if self.step is not None and int(self.step) >= 0:
            raise NonFiniteLoss(f"{self.name}: loss is {float(self.value)} at step {int(self.step)} (seed {self.seed});"
                                f" found at the check after step {now}")


def run_step(method: Method, ctx: TrainContext, samplers: "_Samplers", models: dict, optims: dict,
             state: StepState, grad_clip: float, timings: dict, logs_out: dict | None = None, *,
             loader: BatchLoader | None = None, watch: NonFiniteWatch | None = None,
             profile: bool = True) -> torch.Tensor:
    """One optimizer step of `method` (the body of the training loop; `benchmark.perf` times it too).

    Batches from `loader` (default: the serial `draw_batches`). Adds to timings: data (batches), select (curriculum
    passes), forward (training_step), backward (backward, clipping, optimizer). On a GPU the split needs host syncs:
    only with `profile` (perf); without it, forward + backward are one host-side figure, "step". The loss goes to
    `watch` (device-side NaN/inf flag; default: checked at once, a sync). `logs_out`, if given, receives the
    method's logs of the step (tensors, not read here)."""
    acc = ctx.run.accelerator
    synced = profile or acc.device.type != "cuda"  # a CPU step is synchronous: its split is exact for free
    sync = torch.cuda.synchronize if acc.device.type == "cuda" and profile else (lambda: None)
    t0, selected = time.perf_counter(), ctx.select_seconds
    lb, ulb = loader.get(state.step) if loader is not None else draw_batches(method, ctx, samplers, state.step)
    t1 = time.perf_counter()
    check = watch is None
    watch = watch or NonFiniteWatch(method.name, state.seed)
    with acc.accumulate(*models.values()):
        loss, logs = method.training_step(lb, ulb, state)
        if logs_out is not None:
            logs_out.update(logs)
        watch.see(loss, state.step)
        if check:
            watch.check(state.step)
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
    if synced:
        timings["forward"] += t2 - t1
        timings["backward"] += time.perf_counter() - t2
    else:
        timings["step"] = timings.get("step", 0.0) + time.perf_counter() - t1
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


def initial_models(method: Method, seed: int) -> dict:
    """The method's models as a run under `seed` starts them (`benchmark.diagnose --at-init` rebuilds them so)."""
    set_seed(seed)  # model initialisation: same weights on every process
    return method.build_models()


def prepare_training(method: Method, data: DomainData, budget: Budget, seed: int, accelerator,
                     channels_last: bool = False) -> tuple:
    """(models, optimizers, context, samplers): the method's models built under `seed`, prepared and
    attached, the method set up for the run, and everything `run_step` needs (`benchmark.perf` steps the
    same set-up). `channels_last`: the models' convolutions in NHWC memory format."""
    models = initial_models(method, seed)
    if channels_last:
        models = {k: m.to(memory_format=torch.channels_last) for k, m in models.items()}
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
          run_meta: dict, log=print, name: str | None = None, loader_workers: int = 1,
          profile_timings: bool = False, channels_last: bool = False) -> TrainResult:
    """Train `method` on `data` under `budget`; leaves the best-on-val weights loaded. `name` (default: the
    method's) names the run in the progress lines printed when tqdm is off. `loader_workers`: background threads
    that fetch batches ahead, one step each (the loader's depth: as many steps); 0: serial. The batches are the
    same either way, so it is no part of a run's identity. `profile_timings`: the
    data / forward / backward split with host syncs on a GPU (exact on a CPU either way). `channels_last`: the
    models' memory format on a GPU (docs/design.md §4)."""
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

    models, optims, ctx, samplers = prepare_training(method, data, budget, seed, accelerator, channels_last)
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
    watch = NonFiniteWatch(method.name, seed)
    with BatchLoader(method, ctx, samplers, steps, depth=loader_workers) as loader:
        for step in bar:
            PROGRESS["step"] = step
            logs: dict = {}
            try:
                loss = run_step(method, ctx, samplers, models, optims, StepState(step, steps, seed),
                                budget.grad_clip, timings, logs, loader=loader, watch=watch, profile=profile_timings)
            except Exception:
                watch.check(step)  # an error after a non-finite loss: name that step first
                raise
            done = step + 1
            evaluate = done % budget.eval_every == 0 or done == steps
            keep = budget.ckpt_every and done % budget.ckpt_every == 0 and done < steps
            if step % LOG_EVERY == 0 or evaluate or keep:  # the only steps that read back from the device
                watch.check(step)
            if step % LOG_EVERY == 0:
                value = loss.item()
                bar.set_postfix(loss=f"{value:.3f}")
                log_step(accelerator, done, value, logs)
            if evaluate:
                val = validate(done, ctx)
                history.append(val)
                log_validation(accelerator, val)
                if bar.disable and accelerator.is_main_process:  # no progress bar (not a terminal): one line instead
                    log(progress_line(name or method.name, done, steps, start, time.perf_counter() - t_start, val))
                if best_val is None or _selection_key(val) > _selection_key(best_val):
                    best_step, best_val = done, val
                    best_state = {"models": _model_states(method), "extra": method.extra_state()}
            if keep:
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

