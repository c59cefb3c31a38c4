"""SLAVC and FNAC (docs/methods.md §10, §11): their losses against direct loop formulas of the public code, the
momentum update, the region selection, the feature dropout, the headline map, and a few smoke training steps."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.suites import Budget
from benchmark.trainer import prepare_training, run_step
from methods.base import StepState
from methods.common.augment import feature_dropout
from methods.common.losses import mil_infonce
from methods.fnac import fnac_losses
from methods.slavc import SLAVCNet, av_map, slavc_direction, slavc_loss
from tests.conftest import smoke_method

TAU = 0.5  # large enough that no softmax saturates in float32 on these tiny tensors


def _features(seed, b=3, d=4, h=2, w=3):
    g = torch.Generator().manual_seed(seed)
    v = F.normalize(torch.randn(b, d, h, w, generator=g, dtype=torch.float64), dim=1)
    a = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    return v, a


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _ce_rows(logits):
    """mean over n of −log softmax(logits[n])[n]: F.cross_entropy(logits, arange)."""
    return float(np.mean([-math.log(_softmax(row)[n]) for n, row in enumerate(logits)]))


# ---- SLAVC ------------------------------------------------------------------------------------------------

def _slavc_direction_loop(v1, v2, a1, a2, tau):
    """s[n, m] = log Σ_p softmax over m' of S1[n, m', p] (at m) · softmax over p' of S2[n, m, p'] (at p)."""
    v1, v2, a1, a2 = (x.numpy() for x in (v1, v2, a1, a2))
    b = v1.shape[0]
    flat1, flat2 = v1.reshape(b, v1.shape[1], -1), v2.reshape(b, v2.shape[1], -1)
    s = np.zeros((b, b))
    for n in range(b):
        s1 = np.array([[flat1[n, :, p] @ a1[m] / tau for p in range(flat1.shape[2])] for m in range(b)])  # (m, p)
        s2 = np.array([[flat2[n, :, p] @ a2[m] / tau for p in range(flat2.shape[2])] for m in range(b)])
        for m in range(b):
            over_sounds = [_softmax(s1[:, p])[m] for p in range(s1.shape[1])]
            over_places = _softmax(s2[m])
            s[n, m] = math.log(sum(x * y for x, y in zip(over_sounds, over_places)))
    return s


def test_slavc_loss_equals_the_public_formula():
    (v1, a1), (v2, a2), (tv1, ta1), (tv2, ta2) = (_features(s) for s in range(4))
    online, target = {"v": (v1, v2), "a": (a1, a2)}, {"v": (tv1, tv2), "a": (ta1, ta2)}
    i2a = _slavc_direction_loop(v1, v2, ta1, ta2, TAU)  # online images, target sounds
    a2i = _slavc_direction_loop(tv1, tv2, a1, a2, TAU)  # target images, online sounds
    assert np.allclose(slavc_direction(v1, v2, ta1, ta2, TAU).numpy(), i2a, atol=1e-12)
    # both cross-entropies run over the sounds m of each image n (rows), as model.py computes them
    assert slavc_loss(online, target, TAU).item() == pytest.approx(_ce_rows(a2i) + _ce_rows(i2a), abs=1e-10)


def test_slavc_region_selection_follows_the_localization_head():
    """With head 2 peaked on one location p* of each image (for every sound), Σ_p picks p*: s[n, m] is head 1's
    softmax over sounds at p*, whatever head 1 says elsewhere."""
    v1, a1 = _features(5, b=3, d=4, h=1, w=3)
    a2 = F.normalize(torch.ones(3, 4, dtype=torch.float64), dim=1)
    v2 = -a2[0].view(1, 4, 1, 1).repeat(3, 1, 1, 3)  # every location opposite to every sound ...
    v2[:, :, 0, 1] = a2[0]  # ... but the middle one, identical to them
    s = slavc_direction(v1, v2, a1, a2, tau=0.01)
    at_middle = torch.einsum("nd,md->nm", v1[:, :, 0, 1], a1) / 0.01
    assert torch.allclose(s, at_middle.log_softmax(dim=1), atol=1e-6)


def _net(seed=0):
    torch.manual_seed(seed)
    spec = {"visual": {"type": "light_cnn", "width": 8, "depth": 1},
            "audio": {"type": "mel_cnn1d", "n_mels": 64, "width": 16, "depth": 2}, "dim": 8}
    return SLAVCNet(spec)


def test_momentum_update_is_the_ema_of_every_parameter_and_no_buffer():
    net = _net()
    assert not any(p.requires_grad for p in net.target.parameters())
    assert all(p.requires_grad for p in net.online.parameters())
    with torch.no_grad():  # online and target apart, and a buffer moved, so the update is visible
        for p in net.online.parameters():
            p.add_(torch.randn_like(p))
        for b in net.target.buffers():
            b.add_(1)
    online = {n: p.clone() for n, p in net.online.named_parameters()}
    before = {n: p.clone() for n, p in net.target.named_parameters()}
    buffers = {n: b.clone() for n, b in net.target.named_buffers()}
    net.momentum_update(0.9, 0.5)
    visual = ("loc.visual.", "loc.visual_proj.", "visual_proj2.")
    for n, p in net.target.named_parameters():
        m = 0.9 if n.startswith(visual) else 0.5  # the audio backbone and both audio heads at m_aud
        for i, (t, o) in enumerate(zip(before[n].flatten().tolist(), online[n].flatten().tolist())):
            assert p.flatten()[i].item() == pytest.approx(t * m + o * (1 - m), rel=1e-6, abs=1e-7), n
    assert all(torch.equal(b, buffers[n]) for n, b in net.target.named_buffers())


def test_slavc_trains_online_and_moves_target_by_ema(smoke_suite, smoke_domains, accelerator):
    """Two smoke steps: the target starts equal to the online model (update 1 leaves it), and update 2, before
    the second loss, is the EMA of the online weights after step 1 (momentum from the config)."""
    m, losses, snapshots = _run(smoke_suite, smoke_domains, accelerator, "slavc", steps=2,
                                overrides={"momentum_img": 0.8, "momentum_aud": 0.7})
    net = m.models["a"]
    (o0, t0), (o1, t1) = snapshots[:2]  # before steps 0 and 1
    assert all(torch.equal(o0[k], t0[k]) for k in o0)
    assert all(math.isfinite(x) for x in losses)
    after = {n: p.detach() for n, p in net.target.named_parameters()}
    for n, p in after.items():
        rate = 0.8 if n.startswith(("loc.visual.", "loc.visual_proj.", "visual_proj2.")) else 0.7
        assert torch.allclose(p, t1[n] * rate + o1[n] * (1 - rate), atol=1e-7), n
    assert any(not torch.equal(o0[k], o1[k]) for k in o0)


def test_slavc_headline_map_is_the_online_cosine(smoke_suite, tiny_batch):
    m = smoke_method("slavc", smoke_suite)
    torch.manual_seed(0)
    m.attach(m.build_models())
    net = m.models["a"]
    with torch.no_grad():
        for p in net.online.parameters():  # online and target apart
            p.add_(0.1 * torch.randn_like(p))
    net.eval()
    assert m.report_variants()[:2] == ["main", "target"]
    main, target = m.localize(tiny_batch), m.localize(tiny_batch, "target")
    from methods.common.augment import normalize
    images, audio = normalize(tiny_batch["image"]), tiny_batch["audio"]
    assert torch.allclose(main, av_map(net.online(images, audio)))  # test.py: --use_mom_eval unset
    assert torch.allclose(target, av_map(net.target(images, audio)))
    assert not torch.allclose(main, target)
    # a cosine, not min-max normalised per sample: within [-1, 1], and its level differs between samples
    assert main.abs().max() <= 1 and not torch.allclose(main.flatten(1).amax(1), torch.ones(len(main)))


# ---- FNAC -------------------------------------------------------------------------------------------------

def _fnac_loop(v, a, tau, thr):
    """model.py FNAC.calculate_loss, written out per element in numpy."""
    v, a = v.numpy(), a.numpy()
    b, hw = v.shape[0], v.shape[2] * v.shape[3]
    flat = v.reshape(b, v.shape[1], hw)
    s = np.array([[[flat[n, :, p] @ a[m] / tau for p in range(hw)] for m in range(b)] for n in range(b)])
    logits = s.max(axis=2)
    nce = _ce_rows(logits) + _ce_rows(logits.T)
    aud = np.array([[a[i] @ a[j] / tau for j in range(b)] for i in range(b)])
    avg = flat.mean(axis=2)
    img = np.array([[avg[i] @ avg[j] / tau for j in range(b)] for i in range(b)])
    frg = np.zeros((b, v.shape[1]))
    for n in range(b):
        own = s[n, n]
        norm = (own - own.min()) / (own.max() - own.min() + 1e-5)
        frg[n] = sum(flat[n, :, p] for p in range(hw) if norm[p] > thr) / hw  # mean over all locations
    fg = np.array([[frg[i] @ frg[j] / tau for j in range(b)] for i in range(b)])

    def rows(x):
        return np.stack([_softmax(r) for r in x])

    def l1(x, y):
        return float(np.abs(rows(x) - rows(y)).mean())

    return {"nce": nce, "fns1": l1(aud, logits), "tns": l1(aud, fg), "fns2": l1(img, logits)}


def test_fnac_losses_equal_the_public_formula():
    v, a = _features(7, b=4, d=5, h=3, w=3)
    ours = fnac_losses(v, a, TAU, 0.6)
    ref = _fnac_loop(v, a, TAU, 0.6)
    assert set(ours) == set(ref)
    for k in ref:
        assert ours[k].item() == pytest.approx(ref[k], abs=1e-10), k
    assert ours["nce"].item() == pytest.approx(mil_infonce(v, a, TAU).item(), abs=1e-12)  # EZ-VSL's InfoNCE


def test_fnac_terms_carry_gradient_to_both_encoders():
    v, a = _features(8)
    v.requires_grad_(True), a.requires_grad_(True)
    for k in ("fns1", "tns", "fns2"):
        v.grad = a.grad = None
        fnac_losses(v, a, TAU, 0.6)[k].backward()
        assert v.grad.abs().sum() > 0 and a.grad.abs().sum() > 0, k  # nothing detached, as the public code


def test_fnac_adds_its_terms_after_the_infonce_only_epochs(smoke_suite, smoke_domains, accelerator):
    """Public schedule: the first 5 of 30 epochs train the InfoNCE alone; here the first round(6·5/30) = 1 step."""
    m, _, logs = _run(smoke_suite, smoke_domains, accelerator, "fnac", steps=3, keep_logs=True)
    assert m.fnac_start == 1
    c = m.config
    for step, (loss, terms) in enumerate(logs):
        extra = c.w_fns1 * terms["l_fns1"] + c.w_tns * terms["l_tns"] + c.w_fns2 * terms["l_fns2"]
        expected = terms["l_nce"] + (extra if step >= 1 else 0)
        assert loss == pytest.approx(float(expected), rel=1e-6)


# ---- shared: the per-sample feature dropout and a few smoke steps ------------------------------------------

def test_feature_dropout_is_per_sample_and_scaled():
    x = torch.ones(3, 16, 8, 8)
    rows = torch.tensor([5, 9, 2])
    drop = feature_dropout(0.9, 0, 4, rows, "s")
    y = drop(x)
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(10.0)))  # dropped, or kept and scaled by 1/(1-p)
    assert 0.8 < (y == 0).float().mean() < 0.97
    # the same row draws the same mask wherever it sits in the batch; another step draws another one
    swapped = feature_dropout(0.9, 0, 4, rows.flip(0), "s")(x)
    assert torch.equal(swapped, y.flip(0))
    assert not torch.equal(feature_dropout(0.9, 0, 5, rows, "s")(x), y)
    assert feature_dropout(0.0, 0, 4, rows, "s") is None


def _run(suite, domains, accelerator, name, steps, overrides=None, keep_logs=False):
    """`name` trained `steps` trainer steps on the smoke profile (as the contract tests); returns the method,
    the losses and, per step, (online, target) weights before it (SLAVC) or (loss, logs) (keep_logs)."""
    m = smoke_method(name, suite)
    if overrides:
        from benchmark.suites import MethodEntry, new_method
        m = new_method(suite, MethodEntry(name, name, overrides))
    budget = Budget(steps=steps * 2, global_batch_size=8, eval_every=steps * 2, ckpt_every=steps * 2,
                    eval_batch_size=16)
    models, optims, ctx, samplers = prepare_training(m, domains["flickr"], budget, 0, accelerator)
    timings = dict.fromkeys(("data", "forward", "backward", "select"), 0.0)
    losses, extra = [], []
    for s in range(steps):
        if name == "slavc":
            net = m.models["a"]
            extra.append(tuple({n: p.detach().clone() for n, p in part.named_parameters()}
                               for part in (net.online, net.target)))
        logs = {}
        losses.append(run_step(m, ctx, samplers, models, optims, StepState(s, budget.steps, 0), budget.grad_clip,
                               timings, logs).item())
        if keep_logs:
            extra.append((losses[-1], {k: v.item() for k, v in logs.items()}))
    return m, losses, extra


@pytest.mark.parametrize("name", ["slavc", "fnac"])
def test_smoke_steps_lower_nothing_to_nan(name, smoke_suite, smoke_domains, accelerator):
    _, losses, _ = _run(smoke_suite, smoke_domains, accelerator, name, steps=4)
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
