"""Trainer: resume equals an uninterrupted run; NaN loss stops with a clear error."""
from __future__ import annotations

import pytest
import torch

from benchmark.checkpoint import CheckpointMismatch, complete_checkpoints
from benchmark.trainer import NonFiniteLoss, evaluate_tests, train
from tests.conftest import make_method, same_state

BUDGET = {"steps": 6, "global_batch_size": 8, "eval_every": 2, "ckpt_every": 2, "eval_batch_size": 16}


XPL_OVERRIDES = {"rho_floor": -1.0, "ramp_r0": 0.5, "min_epoch_steps": 2}  # admit samples at smoke scale


def _method(name, suite):
    return make_method(name, suite, XPL_OVERRIDES if name == "xpl" else None)


def _run(suite, data, accelerator, ckpt, method=None):
    m = method or make_method("supervised", suite)
    res = train(m, data, budget=BUDGET, seed=0, accelerator=accelerator, ckpt_dir=ckpt,
                run_meta={"config_hash": "h"}, log=lambda *a: None)
    return m, res


@pytest.mark.parametrize("name", ["supervised", "xpl"])
def test_resume_equals_uninterrupted(name, smoke_suite, smoke_domains, accelerator, tmp_path):
    data = smoke_domains["flickr"]
    full, res_full = _run(smoke_suite, data, accelerator, tmp_path / "a", _method(name, smoke_suite))

    killed = _method(name, smoke_suite)
    original = killed.training_step

    def dies_at_step_5(lb, ulb, state):
        if state.step == 5:
            raise KeyboardInterrupt("simulated kill")
        return original(lb, ulb, state)

    killed.training_step = dies_at_step_5
    with pytest.raises(KeyboardInterrupt):
        _run(smoke_suite, data, accelerator, tmp_path / "b", killed)
    assert [p.name for p in complete_checkpoints(tmp_path / "b")] == ["step_00000004"]

    resumed, res_resumed = _run(smoke_suite, data, accelerator, tmp_path / "b", _method(name, smoke_suite))
    assert res_resumed.resumed_from == 4
    assert res_resumed.best_step == res_full.best_step
    for k in full.models:
        assert same_state(full.models[k].state_dict(), resumed.models[k].state_dict())
    extra_full, extra_resumed = full.extra_state(), resumed.extra_state()
    assert extra_full.keys() == extra_resumed.keys()
    for key in extra_full:  # memory banks and curriculum state
        a, b = extra_full[key], extra_resumed[key]
        assert same_state(a, b) if isinstance(next(iter(a.values()), None), torch.Tensor) else a == b
    assert evaluate_tests(full, {"flickr": data}, accelerator, 16)[0] == evaluate_tests(resumed, {"flickr": data}, accelerator, 16)[0]


def test_checkpoint_of_other_config_is_refused(smoke_suite, smoke_domains, accelerator, tmp_path):
    data = smoke_domains["flickr"]
    _run(smoke_suite, data, accelerator, tmp_path)  # leaves step_4
    m = make_method("supervised", smoke_suite)
    with pytest.raises(CheckpointMismatch, match="config_hash"):
        train(m, data, budget=BUDGET, seed=0, accelerator=accelerator, ckpt_dir=tmp_path,
              run_meta={"config_hash": "other"}, log=lambda *a: None)


def test_nan_loss_is_a_clear_error(smoke_suite, smoke_domains, accelerator, tmp_path):
    m = make_method("supervised", smoke_suite)
    m.training_step = lambda lb, ulb, state: (torch.tensor(float("nan"), requires_grad=True), {})
    with pytest.raises(NonFiniteLoss, match="loss is nan at step 0"):
        _run(smoke_suite, smoke_domains["flickr"], accelerator, tmp_path, m)


def test_selection_uses_validation_not_test(smoke_suite, smoke_domains, accelerator, tmp_path):
    _, res = _run(smoke_suite, smoke_domains["flickr"], accelerator, tmp_path)
    assert [h["step"] for h in res.history] == [2, 4, 6]
    best = max(res.history, key=lambda h: (h["ciou"], h["auc"]))
    assert res.best_step == best["step"] and res.best_val["n"] == len(smoke_domains["flickr"].rows["val"])


def test_store_batches_have_uint8_images(smoke_domains):
    """HF datasets' numpy formatter widens uint8 to int64; colour ops would then stop clamping at 255."""
    from methods.common.augment import colour_randaugment

    data = smoke_domains["flickr"]
    batch = data.table.get(data.rows["labeled"][:4])
    assert batch["image"].dtype == torch.uint8
    with pytest.raises(TypeError, match="uint8"):
        colour_randaugment(batch["image"].long(), [torch.Generator().manual_seed(0)] * 4)
