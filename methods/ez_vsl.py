"""EZ-VSL (Mo & Morgado, ECCV 2022), spec §6: self-supervised, never reads boxes.

Multiple-instance InfoNCE (max over locations) on all training images and sounds;
inference map = the audio-visual cosine map; optional object-guided localization (OGL)
mixes in a visual-only object prior.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import BatchPlan, Method
from methods.common.augment import UpscaledImages, crop_flip, normalize, sample_generators
from methods.common.localizer import audio_input, build_localizer, unwrap
from methods.common.losses import mil_infonce


@dataclass(frozen=True)
class EZVSLConfig:
    lr: float
    weight_decay: float
    tau: float
    augment: bool
    ogl_alpha: float


def _minmax(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    return (x - lo[:, None, None]) / (hi - lo).clamp_min(1e-8)[:, None, None]


class EZVSL(Method):
    name = "ezvsl"
    paper = "Mo & Morgado, Localizing Visual Sounds the Easy Way, ECCV 2022"
    uses_labels = False
    uses_unlabeled = True
    Config = EZVSLConfig

    def build_models(self):
        return {"a": build_localizer(self.model_spec)}

    def batch_plan(self, global_batch, step=0):
        return BatchPlan(labeled=0, unlabeled=global_batch, unlabeled_includes_labeled=True)

    def attach(self, models, accelerator=None):
        super().attach(models, accelerator)
        self.upscaled = UpscaledImages()  # resized training images, kept per sample for this run

    def on_train_start(self, total_steps, ctx=None):
        super().on_train_start(total_steps, ctx)
        if self.config.augment and ctx is not None:
            self.upscaled.prefill(ctx.data.table, ctx.unlabeled_rows)

    def training_step(self, labeled, unlabeled, state):
        images = unlabeled["image"]
        if self.config.augment:
            gens = sample_generators(state.seed, state.step, unlabeled["index"], "augment")
            big = self.upscaled(images.cpu(), unlabeled["index"].cpu())
            images = crop_flip(big, gens, images.shape[-2:]).to(images.device)
        out = self.models["a"](normalize(images), audio_input(self.models["a"], unlabeled))
        loss = mil_infonce(out["v"], out["a"], self.config.tau, self.accelerator)
        return loss, {"l_nce": loss.detach()}

    def report_variants(self):
        return ["main", "ogl"]

    @torch.no_grad()
    def localize(self, batch, variant=None):
        model = self.models["a"]
        images = normalize(batch["image"])
        av = model(images, audio_input(model, batch))["map"]
        if variant in (None, "main"):
            return av
        if variant == "ogl":
            # Object prior = mean |activation| of the visual backbone. EZ-VSL uses a separate
            # frozen ImageNet ResNet-18; the light profile has no pretrained weights, so the
            # prior comes from this model's own visual encoder (recorded as such in the card).
            obj = unwrap(model).visual(images).abs().mean(1)
            obj = torch.nn.functional.interpolate(obj[:, None], size=av.shape[-2:], mode="bilinear", align_corners=True)[:, 0]
            a = self.config.ogl_alpha
            return _minmax(a * _minmax(av) + (1 - a) * _minmax(obj))
        raise ValueError(f"ezvsl has no variant {variant!r}; it has {self.report_variants()}")
