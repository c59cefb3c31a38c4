"""EZ-VSL (Mo & Morgado, ECCV 2022), docs/methods.md §6: self-supervised, never reads boxes.

Multiple-instance InfoNCE on all training pairs; object-guided localization (OGL) only where the profile's visual
backbone has a local pretrained weight file (so not on the synthetic profiles).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from methods.base import BatchPlan, Method
from methods.common.augment import UpscaledImages, crop_flip, normalize, sample_generators
from methods.common.backbones import VISUAL_BACKBONES, build_backbone
from methods.common.localizer import audio_input, build_localizer
from methods.common.losses import mil_infonce


@dataclass(frozen=True)
class EZVSLConfig:
    lr: float
    weight_decay: float
    tau: float
    augment: bool
    ogl_alpha: float
    # "profile": model A's audio encoder (harmonized, so backbones do not confound the comparison);
    # "resnet18_spectrogram": EZ-VSL's own, a ResNet-18 on the log spectrogram + a linear projection
    audio_encoder: Literal["profile", "resnet18_spectrogram"]


def _minmax(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    return (x - lo[:, None, None]) / (hi - lo).clamp_min(1e-8)[:, None, None]


class EZVSL(Method):
    name = "ezvsl"
    paper = "Mo & Morgado, Localizing Visual Sounds the Easy Way, ECCV 2022"
    uses_labels = False
    uses_unlabeled = True
    unlabeled_includes_labeled = True
    Config = EZVSLConfig

    def __init__(self, config, model_specs):
        super().__init__(config, model_specs)
        self.prior = None  # OGL's frozen object-prior network (build_models), where the profile has one

    def model_spec_used(self) -> dict:
        if self.config.audio_encoder == "resnet18_spectrogram":
            return {**self.model_specs["a"], "audio": {"type": "resnet18_audio"}, "audio_head": "linear"}
        return self.model_specs["a"]

    def build_models(self):
        if self.prior_spec() is not None:  # frozen, never trained, not in the optimizer
            self.prior = build_backbone(VISUAL_BACKBONES, self.prior_spec(), "visual").eval().requires_grad_(False)
        return {"a": self.build_network(self.model_spec_used())}

    def build_network(self, spec: dict) -> torch.nn.Module:
        """Model A from its spec: the shared localization model (SLAVC adds its heads and momentum copy)."""
        return build_localizer(spec)

    def prior_spec(self) -> dict | None:
        """The object-prior network for OGL: the profile's visual backbone with its pretrained file, if any."""
        visual = self.model_specs["a"].get("visual", {})
        return visual if visual.get("weights") else None

    def batch_plan(self, step):
        return BatchPlan(labeled=0, unlabeled=self.run.global_batch)

    def on_setup(self):
        self.upscaled = UpscaledImages()  # resized training images, kept per sample for this run
        if self.prior is not None:
            self.prior.to(self.run.accelerator.device)
        if self.config.augment:
            self.upscaled.prefill(self.run.table, self.run.unlabeled_rows)

    def training_view(self, batch: dict, state) -> torch.Tensor:
        """The normalised training images: EZ-VSL's resize, random crop and flip when config.augment
        (docs/methods.md §6)."""
        images = batch["image"]
        if self.config.augment:
            gens = sample_generators(state.seed, state.step, batch["index"], "augment")
            crops = crop_flip(self.upscaled(images, batch["index"].cpu()), gens, images.shape[-2:])  # host memory
            images = crops if images.device.type == "cpu" else crops.pin_memory().to(images.device, non_blocking=True)
        return normalize(images)

    def training_step(self, labeled, unlabeled, state):
        out = self.models["a"](self.training_view(unlabeled, state), audio_input(self.models["a"], unlabeled))
        loss = mil_infonce(out["v"], out["a"], self.config.tau, self.run.accelerator)
        return loss, {"l_nce": loss.detach()}

    def object_map(self, images: torch.Tensor, size) -> torch.Tensor:
        """The object prior S_OBJ = mean |layer4 activation| of the separate frozen pretrained network, at `size`."""
        obj = self.prior(images).abs().mean(1)
        return torch.nn.functional.interpolate(obj[:, None], size=size, mode="bilinear", align_corners=True)[:, 0]

    def report_variants(self):
        return ["main", "ogl"] if self.prior_spec() is not None else ["main"]

    @torch.no_grad()
    def localize(self, batch, variant=None):
        model = self.models["a"]
        images = normalize(batch["image"])
        av = model(images, audio_input(model, batch))["map"]
        if variant in (None, "main"):
            return av
        if variant == "ogl" and self.prior is not None:
            a = self.config.ogl_alpha
            return _minmax(a * _minmax(av) + (1 - a) * _minmax(self.object_map(images, av.shape[-2:])))
        raise ValueError(f"{self.name} has no variant {variant!r}; it has {self.report_variants()}")
