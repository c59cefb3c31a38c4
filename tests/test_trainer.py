"""Trainer: checkpoints of another config are refused; NaN loss stops with a clear error. Resume equals an
uninterrupted run for every trainable method: tests/test_methods_contract.py."""
from __future__ import annotations

import pytest
import torch

from benchmark.checkpoint import CheckpointMismatch
from benchmark.suites import Budget
from benchmark.trainer import NonFiniteLoss, train
from tests.conftest import make_method

BUDGET = Budget(steps=6, global_batch_size=8, eval_every=2, ckpt_every=2, eval_batch_size=16)


def _run(suite, data, accelerator, ckpt, method=None):
    m = method or make_method("supervised", suite)
    res = train(m, data, budget=BUDGET, seed=0, accelerator=accelerator, ckpt_dir=ckpt,
                run_meta={"config_hash": "h"}, log=lambda *a: None)
    return m, res


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
