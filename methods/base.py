"""The interface every method implements, and the config loader.

A method owns its models, its losses and its `localize`; the trainer owns the loop,
devices, stepping, checkpoints and evaluation (USB's split between algorithm and hooks).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from methods.config import ConfigError, build_config, load_with_includes  # noqa: F401 (ConfigError: re-exported)

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class StepState:
    """What a training step may read about progress (for ramps and curricula)."""

    step: int
    total_steps: int
    seed: int
    rank: int = 0
    world_size: int = 1


@dataclass(frozen=True)
class BatchPlan:
    """How a method wants its global batch composed (before splitting across processes)."""

    labeled: int  # samples with boxes (from the labeled pool, or every training sample for the oracle)
    unlabeled: int  # samples without boxes
    unlabeled_includes_labeled: bool = False  # self-supervised methods also see the labeled images, boxes dropped


def load_method_config(cls: type["Method"], overrides: dict | None = None) -> Any:
    """The method's paper hyperparameters (methods/configs/<name>.yaml, with its `include`) plus suite overrides."""
    path = CONFIG_DIR / f"{cls.name}.yaml"
    values = load_with_includes(path) if path.exists() else {}
    config = build_config(cls.Config, values, str(path))
    if overrides:
        merged = {**dataclasses.asdict(config), **overrides}
        config = build_config(cls.Config, merged, f"overrides for {cls.name}")
    return config


@dataclass(frozen=True)
class NoConfig:
    pass


class Method:
    """Base class. Subclasses set the class attributes and override the hooks they need."""

    name: ClassVar[str]
    paper: ClassVar[str] = ""
    uses_labels: ClassVar[bool] = True  # reads boxes during training
    uses_unlabeled: ClassVar[bool] = False  # reads the unlabeled pool during training
    label_pool: ClassVar[str] = "labeled"  # "all": every training sample with its boxes (oracle only)
    trainable: ClassVar[bool] = True
    reference_only: ClassVar[bool] = False  # shown in the leaderboard, not a competitor (floors, oracle)
    Config: ClassVar[type] = NoConfig

    def __init__(self, config: Any, model_spec: dict):
        self.config = config
        self.model_spec = model_spec
        self.models: dict[str, nn.Module] = {}

    # ---- building -------------------------------------------------------------------------
    def build_models(self) -> dict[str, nn.Module]:
        return {}

    def build_optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        lr = getattr(self.config, "lr", 1e-4)
        wd = getattr(self.config, "weight_decay", 0.0)
        return {k: torch.optim.Adam(m.parameters(), lr=lr, weight_decay=wd) for k, m in models.items()}

    def attach(self, models: dict[str, nn.Module], accelerator=None) -> None:
        """Receive the (possibly wrapped, device-placed) models and the accelerator from the trainer."""
        self.models = models
        self.accelerator = accelerator

    def on_train_start(self, total_steps: int, ctx=None) -> None:
        """Called once before the first step (also on resume) with the step budget and the TrainContext."""
        self.total_steps = total_steps

    def batch_plan(self, global_batch: int, step: int = 0) -> BatchPlan:
        """Composition of the global batch at `step` (may change between stages, e.g. warm-up)."""
        return BatchPlan(labeled=global_batch, unlabeled=0)

    def unlabeled_pool(self, step: int, ctx) -> tuple[str, list[int], int]:
        """(key, store rows, first step) of the unlabeled pool in force at `step`.

        The trainer samples it as a pure function of (seed, key, step − first step); a
        curriculum returns a new key whenever it re-selects. `ctx` (a TrainContext) can
        compute eval-mode maps of the current models over any rows.
        """
        return "all", ctx.unlabeled_rows, 0

    def diagnostics(self, ctx, val_rows: list[int]) -> dict:
        """Numbers logged with each validation point in run.json (e.g. XPL's A–B agreement, its curriculum)."""
        return {}

    # ---- training -------------------------------------------------------------------------
    def training_step(self, labeled: dict | None, unlabeled: dict | None, state: StepState):
        """Return (loss, logs). The trainer does backward, clipping and the optimizer step."""
        raise NotImplementedError

    # ---- inference ------------------------------------------------------------------------
    def report_variants(self) -> list[str]:
        """Names of the maps this method can report; the first is the headline (pre-registered)."""
        return ["main"]

    @torch.no_grad()
    def localize(self, batch: dict, variant: str | None = None) -> torch.Tensor:
        """(B, h, w) float map, higher = more likely the sound source. Deterministic."""
        raise NotImplementedError

    # ---- state beyond the model weights (memory banks, curricula) -------------------------
    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass
