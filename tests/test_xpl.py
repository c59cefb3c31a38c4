"""XPL's pieces with known answers: sharpening, PL-EMA, Pearson, curriculum, cross/self wiring."""
from __future__ import annotations

import math

import pytest
import torch

from methods.common.pseudo_labels import (MemoryBank, admitted_fraction, hard_label, pearson,
                                          select_by_agreement, sharpen)
from methods.base import StepState
from tests.conftest import make_method, set_up


def test_sharpen_known_values():
    x = torch.tensor([0.0, 0.5, 1.0, 0.6])
    out = sharpen(x, slope=10.0)
    expected = torch.tensor([1 / (1 + math.exp(5)), 0.5, 1 / (1 + math.exp(-5)), 1 / (1 + math.exp(-1))])
    assert torch.allclose(out, expected)
    assert torch.equal(hard_label(torch.tensor([0.49, 0.5, 0.9])), torch.tensor([0.0, 1.0, 1.0]))


def test_memory_bank_ema_per_visit():
    bank = MemoryBank(4, (1, 2), beta=0.7)
    idx = torch.tensor([2])
    bank.update(idx, torch.tensor([[[1.0, 0.0]]]))  # first visit copies
    assert torch.equal(bank.read(idx), torch.tensor([[[1.0, 0.0]]]))
    bank.update(idx, torch.tensor([[[0.0, 1.0]]]))  # then 0.7 old + 0.3 new
    assert torch.allclose(bank.read(idx), torch.tensor([[[0.7, 0.3]]]))
    assert not bank.initialized[[0, 1, 3]].any()  # other samples untouched
    no_ema = MemoryBank(4, (1, 2), beta=0.0)
    no_ema.update(idx, torch.tensor([[[1.0, 0.0]]]))
    no_ema.update(idx, torch.tensor([[[0.0, 1.0]]]))
    assert torch.equal(no_ema.read(idx), torch.tensor([[[0.0, 1.0]]]))  # beta 0 = instant labels


def _visits(n: int) -> list:
    """n updates of 3 of 6 rows with random 2×2 labels."""
    g = torch.Generator().manual_seed(0)
    return [(torch.randperm(6, generator=g)[:3], torch.rand(3, 2, 2, generator=g)) for _ in range(n)]


def _updated(bank: MemoryBank, visits: list, device: str = "cpu") -> MemoryBank:
    for index, labels in visits:
        bank.update(index, labels.to(device))
    return bank


def test_memory_bank_state_is_a_host_copy_that_resumes_exactly():
    """The state a checkpoint holds does not follow later updates, and a bank loaded from it continues exactly as
    the bank that was never saved."""
    visits = _visits(6)
    full = _updated(MemoryBank(6, (2, 2), beta=0.7), visits[:3])
    state = full.state_dict()
    saved = {k: v.clone() for k, v in state.items()}
    _updated(full, visits[3:])
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    resumed = MemoryBank(1, (1, 1), beta=0.7)
    resumed.load_state_dict(state)
    _updated(resumed, visits[3:])
    assert torch.equal(resumed.values, full.values) and torch.equal(resumed.initialized, full.initialized)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_memory_bank_on_the_device_syncs_nothing_and_equals_the_cpu_bank():
    """Labels on the GPU, row index on the host (as the trainer gives it): after its first update moves it, the
    bank updates and reads without a host sync, to the same bits as on the CPU; its state is on the host."""
    visits = _visits(6)
    cpu = _updated(MemoryBank(6, (2, 2), beta=0.7), visits)
    gpu = _updated(MemoryBank(6, (2, 2), beta=0.7), visits[:1], "cuda")
    on_device = [(index, labels.cuda()) for index, labels in visits[1:]]
    torch.cuda.set_sync_debug_mode("error")
    try:
        for index, labels in on_device:
            gpu.update(index, labels)
            gpu.read(index)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    state = gpu.state_dict()
    assert gpu.values.is_cuda and state["values"].device.type == "cpu"
    assert torch.equal(state["values"], cpu.values) and torch.equal(state["initialized"], cpu.initialized)


def test_memory_bank_for_144k_samples_is_small():
    bank = MemoryBank(146_500, (7, 7), beta=0.7)
    mb = bank.nbytes() / 2**20
    print(f"memory bank for 146,500 samples at 7x7: {mb:.1f} MiB per model")
    assert mb < 100


def test_pearson_known_answers():
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    assert torch.allclose(pearson(a, 2 * a + 1), torch.tensor([1.0]))
    assert torch.allclose(pearson(a, -a), torch.tensor([-1.0]))
    assert torch.equal(pearson(a, torch.ones_like(a)), torch.tensor([-1.0]))  # constant map: rejected
    b = torch.tensor([[[1.0, 3.0], [2.0, 4.0]]])  # x=(1,2,3,4), y=(1,3,2,4): r = 0.8
    assert torch.allclose(pearson(a, b), torch.tensor([0.8]))


def test_curriculum_ramp_and_floor():
    assert admitted_fraction(0, 0.1, 10) == pytest.approx(0.1)
    assert admitted_fraction(5, 0.1, 10) == pytest.approx(0.55)
    assert admitted_fraction(12, 0.1, 10) == 1.0
    rho = torch.tensor([0.9, 0.85, 0.95, 0.5, 0.81, 0.95])
    assert select_by_agreement(rho, 0.5, 0.8).tolist() == [0, 2, 5]  # top 3 by rho, all above the floor
    assert select_by_agreement(rho, 1.0, 0.8).tolist() == [0, 1, 2, 4, 5]  # 0.5 never passes the floor
    assert select_by_agreement(rho, 1 / 6, 0.8).tolist() == [2]  # tie at 0.95 broken by index


class _FixedMap(torch.nn.Module):
    """A stand-in model whose cosine map is fixed (plus a parameter so the loss has a graph)."""

    def __init__(self, cos_map):
        super().__init__()
        self.cos_map, self.w = cos_map, torch.nn.Parameter(torch.ones(()))

    def forward(self, images, audio):
        n = images.shape[0]
        v = torch.nn.functional.normalize(torch.ones(n, 4, 2, 2), dim=1) * self.w
        return {"v": v, "a": torch.nn.functional.normalize(torch.ones(n, 4), dim=1), "map": self.cos_map[:n] * self.w}


@pytest.mark.parametrize("cross", [True, False])
def test_cross_and_self_pseudo_label_wiring(cross, smoke_suite, smoke_domains):
    m = make_method("xpl", smoke_suite, {"cross_refine": cross, "lambda_u": 0.0, "sharpening": False,
                                         "augment": False, "beta": 0.0})
    maps = {"a": torch.tensor([[[0.9, -0.9], [-0.9, -0.9]]] * 4), "b": torch.tensor([[[-0.9, 0.9], [-0.9, -0.9]]] * 4)}
    m.attach({k: _FixedMap(v) for k, v in maps.items()})
    data = smoke_domains["flickr"]
    set_up(m, data, 10)
    ulb = data.table.get(data.rows["unlabeled"][:4])
    _, logs = m.training_step(None, ulb, StepState(9, 10, 0))
    # minmax score maps are one-hot; without sharpening or EMA the labels equal them
    prob = {k: (v - v.amin((1, 2), keepdim=True)) / (v.amax((1, 2), keepdim=True) - v.amin((1, 2), keepdim=True))
            for k, v in maps.items()}
    from methods.common.losses import pixel_bce

    teacher_of_a = prob["b"] if cross else prob["a"]
    assert logs["l_cross_a"].item() == pytest.approx(pixel_bce(teacher_of_a, prob["a"]).item(), rel=1e-5)
    assert (logs["l_cross_a"].item() > 1.0) == cross  # learning from the other (disagreeing) model costs more
    assert torch.equal(m.banks["a"].read(ulb["index"]), prob["a"])  # A's bank holds A's own labels


def test_pl_ema_switch_means_beta_zero(smoke_suite):
    on = make_method("xpl", smoke_suite)
    off = make_method("xpl", smoke_suite, {"pl_ema": False})
    assert on.beta == 0.7 and off.beta == 0.0
