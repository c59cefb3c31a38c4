"""Vanilla hard pseudo-labeling (docs/methods.md §5): Lee 2013 applied per pixel of the score map.

One model A. Warm-up = the supervised recipe on all-labeled batches (as XPL's warm-up).
Then 25% labeled + 75% unlabeled batches and L = L_sup + α(t)·L_pl + λu·InfoNCE, with
L_pl = H(1[S ≥ 0.5], S), the label taken from the same forward pass and detached, over the
batch's unlabeled samples and (pl_on_labeled, as XPL's L_cross) its labeled ones. No
selection, no EMA, no sharpening, no second model. α(t) has XPL's schedule by default:
weight 1 from the first SSL step (docs/methods.md §8, the parity table); Lee's linear ramp is
a switch (ramp_epochs > 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import BatchPlan
from methods.common.localizer import audio_input
from methods.common.losses import downsample_target, infonce, pixel_bce, score_map
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

    # ---- schedule: pure functions of the step and the budget ------------------------------
    def warmup_steps(self, total_steps: int) -> int:
        return int(round(self.config.warmup_fraction * total_steps))

    def _split(self, global_batch: int) -> tuple[int, int]:
        labeled = int(round(global_batch * self.config.labeled_fraction))
        return labeled, global_batch - labeled

    def on_train_start(self, total_steps, ctx=None):
        super().on_train_start(total_steps, ctx)
        if ctx is not None:  # one SSL epoch = one pass over the unlabeled pool (PoolSampler drops the ragged tail)
            self.steps_per_epoch = max(1, len(ctx.unlabeled_rows) // self._split(ctx.global_batch)[1])

    def batch_plan(self, global_batch, step=0):
        total = getattr(self, "total_steps", None)  # set by on_train_start; before it, a warm-up batch
        if total is None or step < self.warmup_steps(total):
            return BatchPlan(labeled=global_batch, unlabeled=0)
        labeled, unlabeled = self._split(global_batch)
        return BatchPlan(labeled=labeled, unlabeled=unlabeled)

    def unlabeled_pool(self, step, ctx):
        # Read only after warm-up; its sampler starts at the first SSL step, so SSL epochs are passes over the pool.
        return "all", ctx.unlabeled_rows, self.warmup_steps(self.total_steps)

    def alpha(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        """α(t): 0 in warm-up, then linear from 0 to alpha_final over ramp_epochs SSL epochs (Lee's T1 → T2)."""
        ssl_step = step - self.warmup_steps(total_steps)
        if ssl_step < 0:
            return 0.0
        ramp = self.config.ramp_epochs * steps_per_epoch
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
        if getattr(self, "steps_per_epoch", None) is None:
            raise RuntimeError("hard_pl: on_train_start(total_steps, ctx) must be called before an SSL step")
        alpha = self.alpha(state.step, state.total_steps, self.steps_per_epoch)
        loss = l_sup + alpha * l_pl
        logs = {"l_sup": l_sup.detach(), "l_pl": l_pl.detach(), "alpha": torch.tensor(alpha)}
        if self.config.lambda_u > 0:  # InfoNCE over the whole batch, labeled and unlabeled
            l_nce = infonce(out, self.config.nce_pool, self.config.tau, self.accelerator)
            loss = loss + self.config.lambda_u * l_nce
            logs["l_nce"] = l_nce.detach()
        return loss, logs
