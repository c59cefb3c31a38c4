"""Supervised-only (docs/methods.md §4) and the label-rich oracle reference.

Model A trained on the labeled pool with L_sup + λu·InfoNCE: XPL's warm-up recipe, run
for the whole budget. It isolates what the unlabeled data adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from methods.base import Method
from methods.common.augment import colour_view, normalize
from methods.common.localizer import audio_input, build_localizer
from methods.common.losses import add_infonce, downsample_target, pixel_bce, score_map


@dataclass(frozen=True)
class SupervisedConfig:
    lr: float
    weight_decay: float
    lambda_u: float
    tau: float
    nce_pool: Literal["mil", "gmp"]  # Eq. 8's form: EZ-VSL's max over the cosine map, or GMP of features first
    score_map: Literal["affine", "clamp", "sigmoid", "minmax"]
    augment: bool
    randaug_ops: int
    randaug_max_magnitude: int


class SupervisedOnly(Method):
    name = "supervised"
    paper = "Supervised-only baseline of XPL (Guo et al., ICASSP 2024), Table 1"
    Config = SupervisedConfig

    def build_models(self):
        return {"a": build_localizer(self.model_specs["a"])}

    def _views(self, batch: dict, state) -> torch.Tensor:
        return colour_view(batch["image"], batch["index"], state, "augment", self.config)

    def training_step(self, labeled, unlabeled, state):
        model = self.models["a"]
        out = model(self._views(labeled, state), audio_input(model, labeled))
        prob = score_map(out["map"], self.config.score_map)
        target = downsample_target(labeled["gt"], prob.shape[-2:])
        l_sup = pixel_bce(target, prob)
        logs = {"l_sup": l_sup.detach()}
        return add_infonce(l_sup, logs, out, self.config, self.run.accelerator), logs

    @torch.no_grad()
    def localize(self, batch, variant=None):
        return self.models["a"](normalize(batch["image"]), audio_input(self.models["a"], batch))["map"]


class Oracle(SupervisedOnly):
    """Same recipe, but every training sample comes with its boxes: the label-rich ceiling."""

    name = "oracle"
    paper = "reference: supervised on all training labels (not a competitor)"
    label_pool = "all"
    reference_only = True
