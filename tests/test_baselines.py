"""Known-answer tests for the vanilla hard-PL (docs/methods.md §5) and Attention10k-SSL (§7) baselines."""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.suites import role_specs
from methods.attention10k_ssl import Attention10kSSL, attention_ce, derangement, triplet_softmax_loss
from methods.common.augment import colour_view
from methods.base import BatchPlan, RunInfo, StepState, load_method_config
from methods.common.losses import pixel_bce, score_map
from methods.common.pseudo_labels import hard_label
from methods.pseudo_label import HardPseudoLabel
from methods.supervised import SupervisedOnly


def _build(cls, suite, overrides=None, seed=0, steps=10, global_batch=8, model_specs=None):
    torch.manual_seed(seed)
    m = cls(load_method_config(cls, {"lr": 1e-3, **(overrides or {})}),
            model_specs or role_specs(suite.model_spec, cls.model_roles))
    m.attach(m.build_models())
    m.setup(_run(steps, global_batch=global_batch))
    return m


def _run(steps, n_unlabeled=96, global_batch=8):
    """A run of `steps` on one process, with `n_unlabeled` unlabeled rows (no store: these tests pass batches)."""
    return RunInfo(steps=steps, global_batch=global_batch, seed=0, labeled_rows=(),
                   unlabeled_rows=tuple(range(n_unlabeled)), table=None, eval_batch_size=32, accelerator=None)


def _batches(data, n_l, n_u):
    lb = data.table.get(data.rows["labeled"][:n_l]) if n_l else None
    ulb = data.table.get(data.rows["unlabeled"][:n_u]) if n_u else None
    return lb, ulb


# ---- vanilla hard PL ----------------------------------------------------------------------------

def test_hard_pl_alpha_ramp(smoke_suite):
    m = _build(HardPseudoLabel, smoke_suite, {"ramp_epochs": 2, "alpha_final": 1.0, "warmup_fraction": 0.4})
    m.setup(_run(100, n_unlabeled=96, global_batch=8))  # 2 L + 6 U: one SSL epoch = 96 // 6 = 16 steps
    assert m.warmup_steps == 40 and m.steps_per_epoch == 16
    expected = {0: 0.0, 39: 0.0, 40: 0.0, 48: 0.25, 56: 0.5, 64: 0.75, 72: 1.0, 99: 1.0}
    for step, alpha in expected.items():
        assert m.alpha(step) == pytest.approx(alpha), step
    lee = _build(HardPseudoLabel, smoke_suite, {"ramp_epochs": 2, "alpha_final": 3.0}, steps=100)
    assert lee.alpha(56) == pytest.approx(1.5)
    assert lee.alpha(56) == lee.alpha(56)  # pure: no state advanced by asking


def test_hard_pl_batch_plan_stages(smoke_suite):
    m = _build(HardPseudoLabel, smoke_suite, steps=1000, global_batch=128)
    assert m.batch_plan(0) == m.batch_plan(399) == BatchPlan(labeled=128, unlabeled=0)
    assert m.batch_plan(400) == m.batch_plan(999) == BatchPlan(labeled=32, unlabeled=96)
    assert m.unlabeled_pool(400, None).first_step == 400  # the unlabeled sampler starts at the first SSL step


def test_hard_pl_warmup_is_the_supervised_recipe(smoke_suite, smoke_domains):
    pl = _build(HardPseudoLabel, smoke_suite, seed=5)
    sup = _build(SupervisedOnly, smoke_suite, seed=5)
    lb, _ = _batches(smoke_domains["flickr"], 8, 0)
    state = StepState(1, 10, 0)
    assert pl.training_step(lb, None, state)[0].item() == sup.training_step(lb, None, state)[0].item()


@pytest.mark.parametrize("on_labeled", [True, False])
def test_hard_pl_label_from_same_forward(smoke_suite, smoke_domains, monkeypatch, on_labeled):
    import methods.pseudo_label as mod

    m = _build(HardPseudoLabel, smoke_suite, {"pl_on_labeled": on_labeled, "ramp_epochs": 10})
    lb, ulb = _batches(smoke_domains["flickr"], 2, 6)
    state = StepState(9, 10, 0)
    seen = []
    monkeypatch.setattr(mod, "hard_label", lambda p: seen.append(p) or hard_label(p))
    loss, logs = m.training_step(lb, ulb, state)

    # Recompute the same forward: the label is 1[S >= 0.5] of these very maps, detached; over the whole
    # batch with pl_on_labeled (as XPL's L_cross), else over the unlabeled samples only.
    out = m.models["a"](torch.cat([m._views(lb, state), m._views(ulb, state)]), torch.cat([lb["audio"], ulb["audio"]]))
    prob = score_map(out["map"], m.config.score_map)[0 if on_labeled else 2:]
    (label_input,) = seen
    assert not label_input.requires_grad and torch.equal(label_input, prob.detach())
    assert logs["l_pl"].item() == pytest.approx(pixel_bce(hard_label(prob), prob).item(), rel=1e-6)
    assert logs["alpha"].item() == pytest.approx(5 / (10 * 16))  # ssl step 5 of a 10 × 16-step ramp
    total = logs["l_sup"] + logs["alpha"] * logs["l_pl"] + m.config.lambda_u * logs["l_nce"]
    assert loss.item() == pytest.approx(total.item(), rel=1e-6)

    ulb_nan = {**ulb, "gt": torch.full_like(ulb["gt"], float("nan"))}  # boxes of unlabeled samples are never read
    assert m.training_step(lb, ulb_nan, state)[0].item() == loss.item()


def test_hard_pl_default_schedule_is_xpls(smoke_suite):
    """Parity (docs/methods.md §8): weight 1 on the pseudo-label loss from the first SSL step, like L_cross."""
    m = _build(HardPseudoLabel, smoke_suite, steps=100)
    assert m.config.alpha_final == 1.0 and m.config.pl_on_labeled
    assert [m.alpha(s) for s in (39, 40, 41, 99)] == [0.0, 1.0, 1.0, 1.0]


# ---- Attention10k-SSL ---------------------------------------------------------------------------

def test_attention_sums_to_one(smoke_suite, tiny_batch):
    m = _build(Attention10kSSL, smoke_suite)
    m.models["a"].eval()
    att = m.localize(tiny_batch)
    assert att.ndim == 3 and att.shape[0] == tiny_batch["image"].shape[0]
    assert (att >= 0).all() and torch.allclose(att.flatten(1).sum(1), torch.ones(att.shape[0]))
    assert torch.equal(att, m.localize(tiny_batch))


def test_triplet_loss_known_values():
    d_pos, d_neg = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([2.0, 2.0, 5.0])
    by_hand = [(1 / (1 + math.e)) ** 2, 0.25, (1 / (1 + math.exp(5))) ** 2]  # p+ = σ(d+ − d−); both terms = p+²
    assert triplet_softmax_loss(d_pos, d_neg).item() == pytest.approx(sum(by_hand) / 3, rel=1e-6)


def test_triplet_loss_pulls_positive_pushes_negative():
    torch.manual_seed(0)
    f_pos, f_neg = torch.randn(4, 16) / 4, torch.randn(4, 16) / 4  # norms ~1: L_T saturates when d+ − d− ≫ 1
    z = (f_neg + 0.02 * torch.randn(4, 16)).requires_grad_()  # start nearer the negative: d+ > d−
    opt = torch.optim.SGD([z], lr=1.0)
    gap0 = ((z - f_pos).norm(dim=1) - (z - f_neg).norm(dim=1)).detach()
    for _ in range(100):
        opt.zero_grad()
        triplet_softmax_loss((z - f_pos).norm(dim=1), (z - f_neg).norm(dim=1)).backward()
        opt.step()
    gap = ((z - f_pos).norm(dim=1) - (z - f_neg).norm(dim=1)).detach()
    assert (gap0 > 0).all() and (gap < 0).all()  # minimizing L_T made d+ smaller than d−


def test_derangement_is_deterministic_and_fixed_point_free():
    for n in (2, 3, 8, 31):
        perm = derangement(n, torch.Generator().manual_seed(n))
        assert sorted(perm.tolist()) == list(range(n)) and (perm != torch.arange(n)).all()
        assert torch.equal(perm, derangement(n, torch.Generator().manual_seed(n)))


def test_attention_ce_known_value():
    log_att = torch.full((1, 2, 2), math.log(0.25))
    target = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])  # not normalised
    assert attention_ce(target, log_att).item() == pytest.approx(1.5 * math.log(4))


def test_attention_ce_only_on_labeled(smoke_suite, smoke_domains):
    assert _build(Attention10kSSL, smoke_suite, global_batch=128).batch_plan(0) == BatchPlan(labeled=32, unlabeled=96)
    m = _build(Attention10kSSL, smoke_suite)
    assert m.batch_plan(0) == m.batch_plan(10_000) == BatchPlan(labeled=2, unlabeled=6)
    lb, ulb = _batches(smoke_domains["flickr"], 2, 6)
    state = StepState(3, 10, 0)
    loss, logs = m.training_step(lb, ulb, state)
    assert loss.item() == pytest.approx((logs["l_t"] + logs["l_ce"]).item(), rel=1e-6) and logs["l_ce"] > 0
    # Senocak's weighting: per-sample weight (1 with boxes), mean over the *whole* batch of 8, not the 2 labeled
    with torch.no_grad():
        views = [colour_view(b["image"], b["index"], state, "augment", m.config) for b in (lb, ulb)]
        out = m.models["a"](torch.cat(views), torch.cat([lb["audio"], ulb["audio"]]))
    from methods.common.losses import downsample_target
    per = attention_ce(downsample_target(lb["gt"], out["att"].shape[-2:]), out["log_att"][:2])
    assert logs["l_ce"].item() == pytest.approx(per.sum().item() / 8, rel=1e-5)
    ulb_other = {**ulb, "gt": torch.ones_like(ulb["gt"])}  # unlabeled boxes carry zero weight
    assert m.training_step(lb, ulb_other, state)[0].item() == loss.item()
    _, logs_u = m.training_step(None, ulb, state)
    assert logs_u["l_ce"].item() == 0.0 and logs_u["l_t"] > 0


def test_signed_attention_features_can_die(smoke_suite, tiny_batch):
    """With the signed projection (nonnegative_visual off), an audio embedding pointing away from the visual features
    makes ReLU(cos) zero at every position: α is uniform and no gradient reaches the attention, the state a bench run
    stayed in for 3,000 steps (docs/methods.md §7; the default's non-negative features do not rule it out)."""
    from methods.common.augment import normalize

    m = _build(Attention10kSSL, smoke_suite, {"nonnegative_visual": False})
    net = m.models["a"]
    net.eval()
    head = net.base.audio_head[-1]
    images = normalize(tiny_batch["image"])
    with torch.no_grad():  # h = minus the mean signed visual feature, for every sample
        v = net.base.visual_proj(net.base.visual(images)).mean((0, 2, 3))
        head.weight.zero_()
        head.bias.copy_(-v / v.norm())
    out = net(images, tiny_batch["audio"])
    target = torch.zeros_like(out["att"])
    target[:, 0, 0] = 1.0
    attention_ce(target, out["log_att"]).sum().backward()
    assert torch.allclose(out["att"], torch.full_like(out["att"], 1 / out["att"][0].numel()))
    assert head.bias.grad.abs().sum().item() == 0.0
    assert _build(Attention10kSSL, smoke_suite).config.nonnegative_visual  # the default is Senocak's


def test_freeze_visual_fixes_a_pretrained_encoders_features_only(smoke_suite, smoke_domains, tmp_path):
    """freeze_visual (docs/methods.md §7): with a pretrained visual file, the backbone and projection keep their
    values and eval mode through a training step while the attention's audio side learns; without a file (from
    scratch) nothing is frozen, and the default freezes nothing."""
    from safetensors.torch import save_file

    from methods.common.backbones import LightVisualCNN

    spec = role_specs(smoke_suite.model_spec, Attention10kSSL.model_roles)
    visual = {k: v for k, v in spec["a"]["visual"].items() if k != "type"}
    path = tmp_path / "light_cnn.safetensors"
    save_file(LightVisualCNN(**visual).state_dict(), str(path))
    pretrained = {"a": {**spec["a"], "visual": {**spec["a"]["visual"], "weights": str(path)}}}

    def trained(model_specs, overrides):
        m = _build(Attention10kSSL, smoke_suite, overrides, model_specs=model_specs)
        net = m.models["a"]
        before = {k: v.clone() for k, v in net.state_dict().items()}
        net.train()
        opt = m.build_optimizers(m.models)["a"]
        loss, _ = m.training_step(*_batches(smoke_domains["flickr"], 2, 6), StepState(0, 10, 0))
        loss.backward()
        opt.step()
        changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
        return net, changed

    net, changed = trained(pretrained, {"freeze_visual": True})
    assert not any(k.startswith(("base.visual.", "base.visual_proj.")) for k in changed)
    assert any(k.startswith("base.audio_head.") for k in changed) and any(k.startswith("back.") for k in changed)
    assert not net.base.visual.training and not net.base.visual_proj.training and net.back.training
    for model_specs, overrides in ((spec, {"freeze_visual": True}), (pretrained, {})):
        _, changed = trained(model_specs, overrides)
        assert any(k.startswith("base.visual.") for k in changed) and any(k.startswith("base.visual_proj.")
                                                                          for k in changed)
