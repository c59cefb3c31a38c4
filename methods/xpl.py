"""XPL: cross pseudo-labeling for semi-supervised AVSL (Guo et al., ICASSP 2024), docs/methods.md §2.

Two models A and B teach each other through sharpened soft pseudo-labels in per-model EMA memory banks, with a
curriculum on their maps' agreement; every component is a config switch (the paper's ablations).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from methods.base import BatchPlan, Method, Pool
from methods.common.augment import colour_view, normalize
from methods.common.localizer import AUDIO_KEYS, audio_input, build_localizer
from methods.common.losses import add_infonce, downsample_target, pixel_bce, score_map
from methods.supervised import SupervisedConfig
from methods.common.pseudo_labels import (MemoryBank, admitted_fraction, hard_label, pearson,
                                          select_by_agreement, sharpen)

MODELS = ("a", "b")


@dataclass(frozen=True)
class XPLConfig(SupervisedConfig):  # each model's own recipe is the supervised one, plus:
    warmup_fraction: float
    labeled_fraction: float
    pl_ema: bool  # False: the "w/o PL-EMA" ablation, i.e. beta = 0 (the bank holds this step's labels)
    beta: float  # PL-EMA momentum
    sharpening: bool
    sharpen_slope: float
    hard_pl: bool  # vanilla hard labels 1[S >= 0.5] instead of sharpened soft ones
    cross_refine: bool  # False: each model learns from its own bank (the "w/o Cross-Refine" ablation)
    pl_on_labeled: bool  # the cross loss also on the batch's labeled samples (Eq. 6 averages over D_all)
    data_selection: bool  # False: all unlabeled samples from the first SSL epoch, no ρ filter, no ramp
    rho_floor: float
    ramp_r0: float
    ramp_epochs: int
    min_epoch_steps: int
    report: Literal["a", "b", "ensemble"]


class XPL(Method):
    name = "xpl"
    paper = "Guo, Ma, Zhao, Su, Zou, Cross Pseudo-Labeling for Semi-Supervised Audio-Visual Source Localization, ICASSP 2024"
    uses_unlabeled = True
    model_roles = MODELS
    Config = XPLConfig

    def __init__(self, config, model_specs):
        super().__init__(config, model_specs)
        if model_specs["a"] == model_specs["b"]:
            raise ValueError("XPL needs distinct backbones: the profile's model roles a and b resolve to the same "
                             "spec (benchmark/profiles.yaml, model.roles.b)")
        self.banks: dict[str, MemoryBank] = {}
        self.curriculum = {"epoch": -1, "first_step": 0, "length": 0, "rows": [], "admitted": 0, "rho_mean": float("nan")}

    # ---- models -----------------------------------------------------------------------------
    def build_models(self):
        return {k: build_localizer(self.model_specs[k]) for k in MODELS}

    @property
    def beta(self) -> float:
        return self.config.beta if self.config.pl_ema else 0.0

    def on_setup(self):
        self.warmup_steps = round(self.config.warmup_fraction * self.run.steps)

    def batch_plan(self, step):
        if step < self.warmup_steps:
            return super().batch_plan(step)
        n_lab = round(self.run.global_batch * self.config.labeled_fraction)
        return BatchPlan(labeled=n_lab, unlabeled=self.run.global_batch - n_lab)

    # ---- curriculum (docs/methods.md §2.2) ----------------------------------------------------------------
    def unlabeled_pool(self, step, ctx):
        if not self.config.data_selection:
            return Pool("all", self.run.unlabeled_rows, self.warmup_steps)
        c = self.curriculum
        if c["epoch"] < 0 or step >= c["first_step"] + c["length"]:
            self._new_epoch(step, ctx)
        return Pool(f"epoch{self.curriculum['epoch']}", self.curriculum["rows"], self.curriculum["first_step"])

    def pool_ready(self, step):
        """No selection pass due at `step`: the fixed pool, or a step inside the current curriculum epoch."""
        c = self.curriculum
        return not self.config.data_selection or (c["epoch"] >= 0 and step < c["first_step"] + c["length"])

    @torch.no_grad()
    def _new_epoch(self, step: int, ctx) -> None:
        """Re-score every unlabeled sample by the agreement of A and B; admit the top r_e above the floor."""
        pool = self.run.unlabeled_rows
        rho = pearson(ctx.maps(pool, "a"), ctx.maps(pool, "b"))
        epoch = self.curriculum["epoch"] + 1
        keep = select_by_agreement(rho, admitted_fraction(epoch, self.config.ramp_r0, self.config.ramp_epochs),
                                   self.config.rho_floor)
        rows = [pool[i] for i in keep.tolist()]
        batch_u = self.batch_plan(step).unlabeled
        # Fewer admitted than one batch share: the trainer draws each once and fills up with labeled rows
        # (never a repeat within a step), and records the shortfall in run.json.
        self.curriculum = {"epoch": epoch, "first_step": step, "rows": rows, "admitted": len(rows),
                           "length": max(self.config.min_epoch_steps, len(rows) // max(batch_u, 1)),
                           "rho_mean": float(rho.mean())}

    # ---- pseudo-labels (docs/methods.md §2.3) -------------------------------------------------------------
    def _instant_label(self, prob: torch.Tensor) -> torch.Tensor:
        prob = prob.detach()
        if self.config.hard_pl:
            return hard_label(prob)
        return sharpen(prob, self.config.sharpen_slope) if self.config.sharpening else prob

    def _update_banks(self, index: torch.Tensor, instant: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Write every process's (index, label) pairs into every process's banks; return this batch's rows."""
        acc = self.run.accelerator
        if not self.banks:  # indexed by store row
            for k in MODELS:
                self.banks[k] = MemoryBank(self.run.store_size, tuple(instant[k].shape[-2:]), self.beta)
        if acc is not None and acc.num_processes > 1:
            all_index = acc.gather(index.to(acc.device))  # the batch's index is on the host
            gathered = {k: acc.gather(instant[k].contiguous()) for k in MODELS}
        else:
            all_index, gathered = index, instant
        for k in MODELS:
            self.banks[k].update(all_index, gathered[k])
        return {k: self.banks[k].read(index) for k in MODELS}  # on the labels' device

    # ---- training ---------------------------------------------------------------------------------
    def training_step(self, labeled, unlabeled, state):
        parts = [b for b in (labeled, unlabeled) if b is not None]
        batch = {k: torch.cat([b[k] for b in parts]) for k in ("image", "index", *AUDIO_KEYS) if k in parts[0]}
        n_lab = labeled["image"].shape[0] if labeled is not None else 0
        outs, probs = {}, {}
        for k in MODELS:
            # independent colour draws per model: the "distinct augmentations"
            view = colour_view(batch["image"], batch["index"], state, f"augment-{k}", self.config)
            outs[k] = self.models[k](view, audio_input(self.models[k], batch))
            probs[k] = score_map(outs[k]["map"], self.config.score_map)
        loss, logs = 0.0, {}
        if unlabeled is not None:  # SSL stage: pseudo-labels
            banked = self._update_banks(batch["index"], {k: self._instant_label(probs[k]) for k in MODELS})
            span = slice(0, None) if self.config.pl_on_labeled else slice(n_lab, None)
            for k, other in (("a", "b"), ("b", "a")):
                teacher = banked[other] if self.config.cross_refine else banked[k]
                l_cross = pixel_bce(teacher[span], probs[k][span])
                loss = loss + l_cross
                logs[f"l_cross_{k}"] = l_cross.detach()
            logs["admitted"] = torch.tensor(float(self.curriculum["admitted"] if self.config.data_selection
                                                  else unlabeled["image"].shape[0]))
        for k in MODELS:
            if n_lab:
                target = downsample_target(labeled["gt"], probs[k].shape[-2:])
                l_sup = pixel_bce(target, probs[k][:n_lab])
                loss = loss + l_sup
                logs[f"l_sup_{k}"] = l_sup.detach()
            loss = add_infonce(loss, logs, outs[k], self.config, self.run.accelerator, f"l_nce_{k}")
        return loss, logs

    @torch.no_grad()
    def diagnostics(self, ctx, val_rows):
        """A–B agreement on the validation images (mean Pearson ρ of the two models' maps, eval mode): the
        diversity cross-refine relies on; and the curriculum's state at this point."""
        rho = pearson(ctx.maps(val_rows, "a", timed=False), ctx.maps(val_rows, "b", timed=False))
        out = {"agreement_ab": round(float(rho.mean()), 4)}
        if self.config.data_selection and self.curriculum["epoch"] >= 0:
            c = self.curriculum
            out.update(curriculum_epoch=c["epoch"], admitted=c["admitted"], pool_rho_mean=round(c["rho_mean"], 4))
        return out

    # ---- inference ----------------------------------------------------------------------------
    def report_variants(self):
        return [self.config.report] + [v for v in ("a", "b", "ensemble") if v != self.config.report]

    @torch.no_grad()
    def localize(self, batch, variant=None):
        variant = variant or self.config.report
        images = normalize(batch["image"])
        if variant in MODELS:
            return self.models[variant](images, audio_input(self.models[variant], batch))["map"]
        if variant == "ensemble":  # mean of the two min-max normalised maps
            maps = [score_map(self.models[k](images, audio_input(self.models[k], batch))["map"], "minmax") for k in MODELS]
            return (maps[0] + maps[1]) / 2
        raise ValueError(f"xpl has no variant {variant!r}; it has {self.report_variants()}")

    @torch.no_grad()
    def raw_map(self, batch):
        if self.config.report != "ensemble":
            return super().raw_map(batch)
        images = normalize(batch["image"])  # the ensemble min-max normalises: its level is the mean cosine
        maps = [self.models[k](images, audio_input(self.models[k], batch))["map"] for k in MODELS]
        return (maps[0] + maps[1]) / 2

    # ---- checkpointed state -----------------------------------------------------------------------
    def extra_state(self):
        state = {"curriculum": dict(self.curriculum)}
        for k, bank in self.banks.items():
            state[f"bank_{k}"] = bank.state_dict()
        return state

    def load_extra_state(self, state):
        if "curriculum" in state:
            self.curriculum = dict(state["curriculum"])
        for k in MODELS:
            if f"bank_{k}" in state:
                bank = MemoryBank(1, (1, 1), self.beta)
                bank.load_state_dict(state[f"bank_{k}"])
                self.banks[k] = bank
