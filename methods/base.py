"""The interface every method implements, and the config loader.

A method owns its models, its losses and its `localize`; the trainer owns the loop,
devices, stepping, checkpoints and evaluation (USB's split between algorithm and hooks).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from methods.config import ConfigError, build_config, given, load_with_includes  # noqa: F401 (ConfigError: re-exported)

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class StepState:
    """What a training step may read about progress (for ramps and curricula)."""

    step: int
    total_steps: int
    seed: int


@dataclass(frozen=True)
class BatchPlan:
    """How a method wants its global batch composed (before splitting across processes)."""

    labeled: int  # samples with boxes (from the labeled pool, or every training sample for the oracle)
    unlabeled: int  # samples without boxes


@dataclass(frozen=True)
class RunInfo:
    """Everything a method may know about its run, fixed before the first step (Method.setup)."""

    steps: int  # the budget, in optimizer steps
    global_batch: int  # samples per step over all processes
    seed: int
    labeled_rows: tuple[int, ...]  # store rows of the labeled pool (every training row for the oracle)
    unlabeled_rows: tuple[int, ...]  # store rows of the unlabeled pool (with the labeled ones, boxes
    # withheld, for a method whose unlabeled_includes_labeled is set)
    table: Any  # the training store (SampleTable): banks are indexed by its rows, caches read its images
    eval_batch_size: int
    accelerator: Any  # the run's Accelerator: device, process count, gather for cross-process losses

    @property
    def store_size(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class Pool:
    """The unlabeled pool in force at a step: the trainer samples `rows` as a pure function of (seed, key,
    step − first_step); a curriculum returns a new key whenever it re-selects."""

    key: str
    rows: Sequence[int]
    first_step: int


def load_method_config(cls: type["Method"], overrides: dict | None = None) -> Any:
    """The method's paper hyperparameters (methods/configs/<name>.yaml, with its `include`) plus suite overrides."""
    path = CONFIG_DIR / f"{cls.name}.yaml"
    values = load_with_includes(path) if path.exists() else {}
    config = build_config(cls.Config, values, str(path))
    if overrides:
        merged = {**given(config), **overrides}  # keeps a later-added default out of the identity (runner)
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
    # self-supervised methods draw their unlabeled batches from the labeled images too (labels withheld)
    unlabeled_includes_labeled: ClassVar[bool] = False
    trainable: ClassVar[bool] = True
    reference_only: ClassVar[bool] = False  # shown in the leaderboard, not a competitor (floors, oracle)
    # the models a method builds, each from the profile's base spec with that role's overrides
    # (benchmark/profiles.yaml `model.roles`); `__init__` gets {role: spec} for exactly these roles
    model_roles: ClassVar[tuple[str, ...]] = ("a",)
    Config: ClassVar[type] = NoConfig

    def __init__(self, config: Any, model_specs: dict[str, dict]):
        self.config = config
        self.model_specs = model_specs
        self.models: dict[str, nn.Module] = {}

    # ---- building -------------------------------------------------------------------------
    def build_models(self) -> dict[str, nn.Module]:
        return {}

    def build_optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        lr = getattr(self.config, "lr", 1e-4)
        wd = getattr(self.config, "weight_decay", 0.0)
        return {k: torch.optim.Adam(m.parameters(), lr=lr, weight_decay=wd) for k, m in models.items()}

    def attach(self, models: dict[str, nn.Module]) -> None:
        """Receive the (possibly wrapped, device-placed) models: for training, or for inference alone."""
        self.models = models

    def setup(self, run: RunInfo) -> None:
        """Called by the trainer once per training (also on resume), after `attach`. Not to be overridden:
        a method's own per-run state goes in `on_setup`, which runs with `self.run` already set."""
        self.run = run
        self.on_setup()

    def on_setup(self) -> None:
        """Per-run state derived from `self.run` (step counts, caches, devices)."""

    def batch_plan(self, step: int) -> BatchPlan:
        """Composition of the global batch at `step` (may change between stages, e.g. warm-up)."""
        return BatchPlan(labeled=self.run.global_batch, unlabeled=0)

    def unlabeled_pool(self, step: int, ctx) -> Pool:
        """The unlabeled pool in force at `step`. `ctx` (a TrainContext) can compute eval-mode maps of the
        current models over any rows (curricula)."""
        return Pool("all", self.run.unlabeled_rows, 0)

    def pool_ready(self, step: int) -> bool:
        """True when `unlabeled_pool(step, ctx)` needs no models (no curriculum pass is due), so that the trainer
        may draw and fetch the batch of `step` before the steps before it have run (docs/design.md §4). By default:
        True unless the method overrides `unlabeled_pool` (a curriculum must say when its pool is settled)."""
        return type(self).unlabeled_pool is Method.unlabeled_pool

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

    # The fixed range of `raw_map`'s values, the same for every sample: the audio-visual cosine of the shared
    # localization model (methods/common/localizer.py) lies in [-1, 1].
    raw_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    @torch.no_grad()
    def raw_map(self, batch: dict) -> torch.Tensor:
        """The headline map before any per-sample normalisation, values within `raw_range`: its level says how
        sure the method is that the sound is in the picture at all (negative audio, docs/protocol.md §8).
        Override where the headline map normalises (a softmax, a min-max)."""
        return self.localize(batch, self.report_variants()[0])

    # ---- state beyond the model weights (memory banks, curricula) -------------------------
    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass
