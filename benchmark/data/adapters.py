"""Dataset adapters: what the harness does differently per dataset, asked of one object per dataset.

Callers ask `adapter_for(data, domain)` (a profile's `data.source`: `synthetic` or `real`), or `get_adapter(name)`
for a store's dataset, instead of comparing names. A real dataset = one file with a `RealAdapter` subclass + one
line in REGISTRY (docs/design.md §3).
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import torch

from benchmark.data.features import logmel
from benchmark.data.real_media import load_centre_clip
from benchmark.data.real_splits import load_real_split
from benchmark.data.splits import DATASETS_DIR
from methods.common.audio_frontends import SOUNDNET_SAMPLE_RATE, VGGISH_SAMPLE_RATE
from methods.config import ConfigError, build_config

REGISTRY: dict[str, str] = {
    "synthetic": "benchmark.data.synthetic:SyntheticAdapter",
    "flickr": "benchmark.data.flickr:Flickr",
    "vggss": "benchmark.data.vggss:VGGSS",
}


# ----------------------------------------------------------------------------- a profile's `data:`
@dataclass(frozen=True)
class SyntheticData:
    source: Literal["synthetic"]
    image_size: int
    clip_seconds: float
    sample_rate: int
    sizes: dict  # samples per split of each domain
    splits: str | None = None  # whose committed split lists (default: the profile's own)

    def audio_columns(self, path: Path) -> dict:
        """A batch's audio columns for one audio file as the synthetic stores hold them: log-mel and the
        waveform at the profile's rate, both rounded to float16."""
        clips, _ = load_centre_clip(path, (self.sample_rate,), self.clip_seconds)
        wave = torch.as_tensor(clips[self.sample_rate])[None]
        return {"audio": logmel(wave, self.sample_rate).half().float(), "waveform": wave[:, None].half().float()}


@dataclass(frozen=True)
class RealData:
    source: Literal["real"]
    image_size: int
    clip_seconds: float
    subset: str | None = None  # the unlabeled list unlabeled_<subset>; none: every store row outside the others
    flickr_test: str = "249"  # Flickr's test list (benchmark/data/flickr.py TEST_LISTS)
    vggss_test: str = "drawn"  # VGG-SS's test list (benchmark/data/vggss.py TEST_LISTS)

    def audio_columns(self, path: Path) -> dict:
        """As the real stores hold them: VGGish log-mel (16 kHz) and the 22.05 kHz waveform (SoundNet)."""
        from benchmark.data.real_store import audio_columns  # import cycle: real_store -> adapters
        clips, _ = load_centre_clip(path, (VGGISH_SAMPLE_RATE, SOUNDNET_SAMPLE_RATE), self.clip_seconds)
        return audio_columns([clips])


DATA = {"synthetic": SyntheticData, "real": RealData}


def build_data(values, where: str) -> SyntheticData | RealData:
    """A profile's `data:` mapping, checked against the fields of its source."""
    source = values.get("source") if isinstance(values, dict) else None
    if source not in DATA:
        raise ConfigError(f"{where}: key 'source': {source!r} is not one of {tuple(DATA)}")
    return build_config(DATA[source], values, where)


# ----------------------------------------------------------------------------- the registry
def list_adapters() -> list[str]:
    return sorted(REGISTRY)


def get_adapter(name: str) -> "Adapter":
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"unknown dataset {name!r}.{hint} Datasets: {', '.join(list_adapters())}.")
    module, _, attr = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attr)()


def adapter_for(data, domain: str) -> "Adapter":
    """The adapter of a profile's domain (`name`, `name:subset` or `name@<label budget>`)."""
    return get_adapter(data.source if data.source in REGISTRY else domain.partition(":")[0].partition("@")[0])


# ----------------------------------------------------------------------------- the interface
class Adapter:
    """What callers ask of a dataset. Subclasses set the class attributes and implement
    load(data, profile, domain, data_root=None, main_process_first=None): the DomainData of a domain (no subset);
    split_lists(data, profile, domain): (name for reports, loader of (ids, sha256)) per committed list it needs;
    restrict(domain_data, which): every split restricted to the class subset `which`;
    gt_map(domain, annotators, size, box_scale=None): the GT map of one sample's boxes (the protocol's rule);
    note(data): what a leaderboard says about this data."""

    name: ClassVar[str]  # registry name; its card and split lists are under datasets/<name>/
    title: ClassVar[str]  # as tables name it
    source: ClassVar[str]  # the profile `data.source` it serves
    domains: ClassVar[tuple[str, ...]]  # the domain names it serves
    default_profile: ClassVar[str]  # whose data and lists `benchmark.score` uses by default
    class_subsets: ClassVar[tuple[str, ...]] = ()  # `domain:<subset>` restrictions it has class lists for
    generated: ClassVar[bool] = False  # a stand-in built on first use (no download; not the paper's data)
    # Optional features; a caller asks `require`, whose error names the dataset that lacks one.
    # Label budgets (benchmark/data/label_lists.py): name -> a fraction of the pool, a count or None (all of it);
    # per domain the RNG stream of its lists beside SPLIT_SEED, which no other list uses.
    label_budgets: ClassVar[dict[str, float | int | None]] = {}
    label_streams: ClassVar[dict[str, int]] = {}
    # negative test pairs (benchmark/data/negative_pairs.py): "generated", or "slavc" (SLAVC's list committed as
    # datasets/<name>/splits/test_plus_silent.csv)
    negatives: ClassVar[str | None] = None
    class_pretraining: ClassVar[bool] = False  # benchmark/pretrain.py can draw class-labelled images of its domains

    @property
    def card(self) -> Path:  # sources, licence, layout, splits
        return DATASETS_DIR / self.name / "README.md"

    def labels_dir(self, data, profile: str, domain: str) -> Path:
        """Folder of the domain's labeled-subset lists for label budgets (benchmark/data/label_lists.py)."""
        raise NotImplementedError

    def require(self, feature: str, what: str, hint: str = ""):
        """The adapter's declaration `feature`, or a ConfigError naming the dataset if it declares none."""
        if not getattr(self, feature):
            raise ConfigError(f"dataset {self.name!r} ({self.title}) has no {what} (its adapter declares no "
                              f"`{feature}`){hint}")
        return getattr(self, feature)

    def check_subset(self, domain: str) -> None:
        which = domain.partition(":")[2]
        if which and which not in self.class_subsets:
            raise ConfigError(f"{domain!r}: {self.title} has no class subset {which!r} (it has "
                              f"{list(self.class_subsets) or 'none'})")


class RealAdapter(Adapter):
    """A real dataset prepared into a store by `benchmark.prepare`; its split lists are string ids. Also
    implement read(root, **kw): the tree's records (a ReadResult); make_splits(root, base=None, **kw): write the
    split lists once (`prepare --make-splits`)."""

    source = "real"
    default_profile = "paper"

    @property
    def domains(self) -> tuple[str, ...]:
        return (self.name,)

    def test_list(self, data) -> str:  # the test split's file
        return "test"

    def store(self, data, data_root=None) -> Path:
        """The prepared store a profile's data names under `data_root` (benchmark.prepare --out)."""
        from benchmark.data.real_store import real_store_path  # import cycle: real_store -> adapters

        return real_store_path(self.name, data.subset, data.image_size, root=data_root)

    def load(self, data, profile, domain, data_root=None, main_process_first=None):
        from benchmark.data.domains import load_real_domain  # import cycle: domains -> adapters

        return load_real_domain(self.name, self.store(data, data_root), subset=data.subset,
                                test_list=self.test_list(data))

    def split_lists(self, data, profile, domain):
        names = ["labeled", "val", self.test_list(data)] + ([f"unlabeled_{data.subset}"] if data.subset else [])
        return [(f"{self.name}/{s}", lambda s=s: load_real_split(self.name, s)) for s in names]

    def labels_dir(self, data, profile, domain):
        return DATASETS_DIR / self.name / "splits" / "labels"

    def label_pool(self, root, base) -> tuple[list[str], str]:
        """(ids, description) of the annotated training pool label budgets are drawn from: by default the
        committed labeled list (every other annotated sample is val or test)."""
        return load_real_split(self.name, "labeled", base)[0], f"{self.name} labeled.txt"

    def restrict(self, domain_data, which):
        from benchmark.data.domains import restrict_real_classes  # import cycle: domains -> adapters

        self.check_subset(f"{domain_data.name}:{which}")
        return restrict_real_classes(domain_data, which)
