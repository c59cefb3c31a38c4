"""Contract tests run over every registered method (timm-style): adding a method adds tests."""
from __future__ import annotations

import copy
import dataclasses
import io
import math

import pytest
import torch

import methods
from benchmark.checkpoint import complete_checkpoints
from benchmark.suites import Budget
from benchmark.trainer import (LABEL_COLUMNS, LabelsWithheld, TrainContext, _pools, _Samplers, draw_batches,
                               prepare_training, run_step, train)
from methods.base import BatchPlan, StepState
from tests.conftest import (assert_same_nested, assert_same_training, interrupt_at, make_method, same_state, set_up,
                            smoke_method)

ALL = methods.list_methods()
TRAINABLE = [n for n in ALL if methods.get_method(n).trainable]


TOTAL = 10  # a tiny budget: steps 0 and TOTAL-1 cover both stages of staged methods
# Trainer runs on the smoke profile: 6 steps reach the SSL stage of staged methods (warm-up 40 %: steps 0-1);
# a resumed run is 3 steps, a checkpoint, and 3 steps after the resume.
BUDGET = Budget(steps=6, global_batch_size=8, eval_every=2, ckpt_every=3, eval_batch_size=16)


def _context(method, data, accelerator=None):
    """The method set up for a TOTAL-step run on `data`, and its TrainContext."""
    return TrainContext(method, data, set_up(method, data, TOTAL, accelerator=accelerator))


def _batches(method, data, accelerator=None, step=0):
    return draw_batches(method, _context(method, data, accelerator), _Samplers(0), step)


def _built(name, suite, seed=0):
    torch.manual_seed(seed)
    m = make_method(name, suite)
    models = m.build_models()
    m.attach(models)
    return m, models


@pytest.mark.parametrize("step", [0, TOTAL - 1])
@pytest.mark.parametrize("name", TRAINABLE)
def test_one_step_finite_loss_and_updates(name, step, smoke_suite, smoke_domains):
    m, models = _built(name, smoke_suite)
    opts = m.build_optimizers(models)
    before = {k: {n: p.detach().clone() for n, p in mod.named_parameters()} for k, mod in models.items()}
    loss, logs = m.training_step(*_batches(m, smoke_domains["flickr"], step=step), StepState(step, TOTAL, 0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
    loss.backward()
    for o in opts.values():
        o.step()
    for k, mod in models.items():
        changed = any(not torch.equal(p, before[k][n]) for n, p in mod.named_parameters())
        assert changed, f"{name}: model {k} did not change after one step"


@pytest.mark.parametrize("name", TRAINABLE)
def test_same_seed_same_loss(name, smoke_suite, smoke_domains):
    losses = []
    for _ in range(2):
        m, _ = _built(name, smoke_suite, seed=3)
        losses.append(m.training_step(*_batches(m, smoke_domains["flickr"], step=TOTAL - 1),
                                      StepState(TOTAL - 1, TOTAL, 3))[0].item())
    assert losses[0] == losses[1]


@pytest.mark.parametrize("name", ALL)
def test_localize_shape_and_determinism(name, smoke_suite, tiny_batch):
    m, models = _built(name, smoke_suite)
    for mod in models.values():
        mod.eval()
    for variant in m.report_variants():
        a = m.localize(tiny_batch, variant)
        b = m.localize(tiny_batch, variant)
        assert a.shape[0] == tiny_batch["image"].shape[0] and a.ndim == 3
        assert torch.isfinite(a).all() and torch.equal(a, b)
    if len(m.report_variants()) > 1:  # a method with several maps must not silently pick one
        with pytest.raises(ValueError, match="variant"):
            m.localize(tiny_batch, "no-such-variant")


@pytest.mark.parametrize("name", ALL)
def test_raw_map_keeps_its_level_within_its_range(name, smoke_suite, tiny_batch):
    """raw_map: the headline map's shape, deterministic, within the fixed raw_range, not min-max normalised per
    sample (negative audio reads its level, docs/protocol.md §8), and a sample's map is the same whatever else
    is in its batch."""
    m, models = _built(name, smoke_suite)
    for mod in models.values():
        mod.eval()
    raw = m.raw_map(tiny_batch)
    lo, hi = m.raw_range
    assert raw.shape == m.localize(tiny_batch, m.report_variants()[0]).shape
    assert torch.equal(raw, m.raw_map(tiny_batch)) and lo < hi
    assert raw.min() >= lo - 1e-5 and raw.max() <= hi + 1e-5
    flat = raw.flatten(1)
    assert not (torch.allclose(flat.min(1).values, torch.zeros(len(flat)))
                and torch.allclose(flat.max(1).values, torch.ones(len(flat))))
    half = {k: v[:4] for k, v in tiny_batch.items()}
    torch.testing.assert_close(m.raw_map(half), raw[:4], rtol=1e-5, atol=1e-6)


def _stepped(name, suite, data, accelerator, steps=BUDGET.steps, batches=None):
    """(method, losses) after `steps` trainer steps (`run_step`, no validation) on `data`, from seed 0.
    `batches` collects the (labeled, unlabeled) batches the method was given."""
    m = smoke_method(name, suite)
    models, optims, ctx, samplers = prepare_training(m, data, BUDGET, 0, accelerator)
    if batches is not None:
        step_fn = m.training_step
        m.training_step = lambda lb, ulb, state: batches.append((lb, ulb)) or step_fn(lb, ulb, state)
    timings = dict.fromkeys(("data", "forward", "backward", "select"), 0.0)
    losses = [run_step(m, ctx, samplers, models, optims, StepState(s, BUDGET.steps, 0), BUDGET.grad_clip,
                       timings).item() for s in range(steps)]
    return m, losses


@pytest.mark.parametrize("name", ALL)
def test_extra_state_round_trip(name, smoke_suite, smoke_domains, accelerator):
    """The whole nested extra_state (memory banks, curriculum), after a few steps, through a checkpoint's
    torch.save / torch.load and into a fresh method, comes back equal."""
    if methods.get_method(name).trainable:
        m, _ = _stepped(name, smoke_suite, smoke_domains["flickr"], accelerator, steps=4)
    else:
        m, _ = _built(name, smoke_suite)
    state = m.extra_state()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, map_location="cpu", weights_only=True)  # as benchmark.checkpoint.load_latest
    assert_same_nested(loaded, state, "saved")
    m2 = smoke_method(name, smoke_suite)
    m2.load_extra_state(loaded)
    assert_same_nested(m2.extra_state(), state, "restored")


def _train(method, data, accelerator, ckpt):
    return train(method, data, budget=BUDGET, seed=0, accelerator=accelerator, ckpt_dir=ckpt,
                 run_meta={"config_hash": "h"}, log=lambda *a: None)


@pytest.mark.parametrize("name", TRAINABLE)
def test_resume_equals_uninterrupted(name, smoke_suite, smoke_domains, accelerator, tmp_path):
    """6 steps straight == 3 steps, checkpoint, killed, resumed for 3: weights, optimizer (through the weights),
    nested extra_state, validation history, best step and test numbers."""
    data = smoke_domains["flickr"]
    full = smoke_method(name, smoke_suite)
    res_full = _train(full, data, accelerator, tmp_path / "a")

    killed = interrupt_at(smoke_method(name, smoke_suite), 3)
    with pytest.raises(KeyboardInterrupt):
        _train(killed, data, accelerator, tmp_path / "b")
    assert [p.name for p in complete_checkpoints(tmp_path / "b")] == ["step_00000003"]

    resumed = smoke_method(name, smoke_suite)
    res_resumed = _train(resumed, data, accelerator, tmp_path / "b")
    assert res_resumed.resumed_from == 3
    assert_same_training(full, res_full, resumed, res_resumed, data, accelerator)


# ---- labels are withheld from unlabeled batches (docs/design.md §4) --------------------------------------

def _labels_poisoned(data, rows):
    """`data` with garbage labels on `rows`: NaN GT maps and class -999 (the store's in-memory columns copied)."""
    table = copy.copy(data.table)
    assert table.columns is not None  # the smoke store lives in memory
    table.columns = dict(table.columns)
    idx = torch.as_tensor(sorted(rows), dtype=torch.long)
    table.columns["gt"] = table.columns["gt"].index_fill(0, idx, float("nan"))
    table.columns["class_id"] = table.columns["class_id"].index_fill(0, idx, -999)
    return dataclasses.replace(data, table=table)


@pytest.mark.parametrize("name", TRAINABLE)
def test_unlabeled_labels_are_withheld_and_change_nothing(name, smoke_suite, smoke_domains, accelerator):
    """NaN GT (and a bogus class) on every row whose labels the method may not read gives finite losses and
    exactly the numbers of the real labels; no unlabeled batch, and no batch of a method with uses_labels =
    False, carries a label column; a method gets unlabeled batches iff it declares uses_unlabeled."""
    data = smoke_domains["flickr"]
    cls = methods.get_method(name)
    labeled_pool, _ = _pools(smoke_method(name, smoke_suite), data)
    hidden = set(data.rows["labeled"] + data.rows["unlabeled"]) - (set(labeled_pool) if cls.uses_labels else set())
    batches = []
    real, real_losses = _stepped(name, smoke_suite, data, accelerator, batches=batches)
    blind, losses = _stepped(name, smoke_suite, _labels_poisoned(data, hidden), accelerator)
    assert all(math.isfinite(x) for x in losses) and losses == real_losses
    for k in real.models:
        assert same_state(real.models[k].state_dict(), blind.models[k].state_dict()), k
    assert_same_nested(blind.extra_state(), real.extra_state(), "extra_state")
    assert any(ulb is not None for _, ulb in batches) == cls.uses_unlabeled
    for lb, ulb in batches:
        assert ulb is None or not set(LABEL_COLUMNS) & set(ulb)
        assert lb is None or cls.uses_labels or not set(LABEL_COLUMNS) & set(lb)
        assert all(b is None or {"image", "audio", "index"} <= set(b) for b in (lb, ulb))


@pytest.mark.parametrize("column", LABEL_COLUMNS)
@pytest.mark.parametrize("name", [n for n in TRAINABLE if methods.get_method(n).uses_unlabeled])
def test_reading_unlabeled_labels_fails_loudly(name, column, smoke_suite, smoke_domains, accelerator, tmp_path):
    m = smoke_method(name, smoke_suite)
    step_fn = m.training_step

    def peeks(lb, ulb, state):
        if ulb is not None:
            ulb[column]  # a method that cheats
        return step_fn(lb, ulb, state)

    m.training_step = peeks
    with pytest.raises(KeyError, match=f"column '{column}' is a label and labels are withheld from unlabeled batches"):
        _train(m, smoke_domains["flickr"], accelerator, tmp_path)


def test_label_free_method_gets_no_labels_anywhere(smoke_suite, smoke_domains, accelerator):
    """uses_labels = False: no label column in its labeled batch either; `.get` is a read too."""
    m = smoke_method("ezvsl", smoke_suite)
    ctx = _context(m, smoke_domains["flickr"], accelerator)
    m.batch_plan = lambda step: BatchPlan(labeled=2, unlabeled=6)
    lb, ulb = draw_batches(m, ctx, _Samplers(0), 0)
    with pytest.raises(LabelsWithheld, match="'gt' is a label and labels are withheld from every batch of ezvsl"):
        lb.get("gt")
    with pytest.raises(LabelsWithheld, match="'class_id' is a label and labels are withheld from unlabeled batches"):
        ulb["class_id"]
    with pytest.raises(KeyError):
        ulb["no-such-column"]


def test_maps_while_training_withhold_labels(smoke_suite, smoke_domains, accelerator):
    """TrainContext.maps (curricula, diagnostics) gives localize no labels."""
    m = smoke_method("supervised", smoke_suite)
    _, _, ctx, _ = prepare_training(m, smoke_domains["flickr"], BUDGET, 0, accelerator)
    m.localize = lambda batch, variant=None: batch["gt"]
    with pytest.raises(LabelsWithheld, match="'gt' is a label and labels are withheld from the maps"):
        ctx.maps(ctx.run.unlabeled_rows[:4], "main")


def test_unlabeled_batches_only_for_a_method_that_declares_them(smoke_suite, smoke_domains, accelerator):
    m = smoke_method("supervised", smoke_suite)
    ctx = _context(m, smoke_domains["flickr"], accelerator)
    m.batch_plan = lambda step: BatchPlan(labeled=2, unlabeled=6)
    with pytest.raises(ValueError, match="uses_unlabeled = False"):
        draw_batches(m, ctx, _Samplers(0), 0)
