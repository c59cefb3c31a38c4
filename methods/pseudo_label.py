"""Vanilla hard pseudo-labeling (docs/methods.md §5): Lee 2013 applied per pixel of the score map.

One model A: the supervised warm-up, then L = L_sup + α(t)·L_pl + λu·InfoNCE with L_pl = H(1[S ≥ 0.5], S) on the
same forward pass; no selection, EMA or second model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import BatchPlan, Pool
from methods.common.localizer import audio_input
from methods.common.losses import add_infonce, downsample_target, pixel_bce, score_map
from methods.common.pseudo_labels import hard_label
from methods.supervised import SupervisedConfig, SupervisedOnly


@dataclass(frozen=True)
class HardPLConfig(SupervisedConfig):
    warmup_fraction: float
    labeled_fraction: float
    alpha_final: float
    ramp_epochs: float
    pl_on_labeled: bool


class HardPseudoLabel(SupervisedOnly):
    name = "hard_pl"
    paper = "Vanilla hard pseudo-labeling (Lee 2013) baseline of XPL (Guo et al., ICASSP 2024), Table 1"
    uses_unlabeled = True
    Config = HardPLConfig

    # ---- schedule: pure functions of the step and the run --------------------------------
    def on_setup(self):
        self.warmup_steps = int(round(self.config.warmup_fraction * self.run.steps))
        labeled = int(round(self.run.global_batch * self.config.labeled_fraction))
        self.ssl_plan = BatchPlan(labeled=labeled, unlabeled=self.run.global_batch - labeled)
        # one SSL epoch = one pass over the unlabeled pool (PoolSampler drops the ragged tail)
        self.steps_per_epoch = max(1, len(self.run.unlabeled_rows) // self.ssl_plan.unlabeled)

    def batch_plan(self, step):
        return super().batch_plan(step) if step < self.warmup_steps else self.ssl_plan

    def unlabeled_pool(self, step, ctx):
        # Read only after warm-up; its sampler starts at the first SSL step, so SSL epochs are passes over the pool.
        return Pool("all", self.run.unlabeled_rows, self.warmup_steps)

    def pool_ready(self, step):
        return True  # a fixed pool

    def alpha(self, step: int) -> float:
        """α(t): 0 in warm-up, then linear from 0 to alpha_final over ramp_epochs SSL epochs (Lee's T1 → T2)."""
        ssl_step = step - self.warmup_steps
        if ssl_step < 0:
            return 0.0
        ramp = self.config.ramp_epochs * self.steps_per_epoch
        if ramp <= 0:
            return self.config.alpha_final
        return self.config.alpha_final * min(1.0, ssl_step / ramp)

    # ---- training -------------------------------------------------------------------------
    def training_step(self, labeled, unlabeled, state):
        if unlabeled is None:  # warm-up stage: exactly the supervised recipe
            return super().training_step(labeled, unlabeled, state)
        n_l = labeled["image"].shape[0]
        images = torch.cat([self._views(labeled, state), self._views(unlabeled, state)])
        audio = torch.cat([audio_input(self.models["a"], labeled), audio_input(self.models["a"], unlabeled)])
        out = self.models["a"](images, audio)
        prob = score_map(out["map"], self.config.score_map)
        prob_l, prob_u = prob[:n_l], prob[n_l:]

        l_sup = pixel_bce(downsample_target(labeled["gt"], prob.shape[-2:]), prob_l)
        span = prob if self.config.pl_on_labeled else prob_u  # unlabeled "gt" is never read
        l_pl = pixel_bce(hard_label(span.detach()), span)
        alpha = self.alpha(state.step)
        logs = {"l_sup": l_sup.detach(), "l_pl": l_pl.detach(), "alpha": torch.tensor(alpha)}
        # InfoNCE over the whole batch, labeled and unlabeled
        return add_infonce(l_sup + alpha * l_pl, logs, out, self.config, self.run.accelerator), logs
