"""Contract tests run over every registered method (timm-style): adding a method adds tests."""
from __future__ import annotations

import pytest
import torch

import methods
from benchmark.trainer import TrainContext, _pools, _Samplers, draw_batches
from methods.base import StepState
from tests.conftest import make_method, same_state

ALL = methods.list_methods()
TRAINABLE = [n for n in ALL if methods.get_method(n).trainable]


TOTAL = 10  # a tiny budget: steps 0 and TOTAL-1 cover both stages of staged methods


def _context(method, data, accelerator):
    labeled, unlabeled = _pools(method, data)
    return TrainContext(method, data, accelerator, labeled, unlabeled, 32, 8)


def _batches(method, data, accelerator=None, step=0):
    from accelerate import Accelerator

    ctx = _context(method, data, accelerator or Accelerator(cpu=True))
    method.on_train_start(TOTAL, ctx)
    return draw_batches(method, ctx, _Samplers(0), step)


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
def test_extra_state_round_trip(name, smoke_suite):
    m, _ = _built(name, smoke_suite)
    state = m.extra_state()
    m2, _ = _built(name, smoke_suite, seed=1)
    m2.load_extra_state(state)
    tensors = {k: v for k, v in m2.extra_state().items() if isinstance(v, torch.Tensor)}
    assert same_state(tensors, {k: v for k, v in state.items() if isinstance(v, torch.Tensor)})
