"""Suite files (benchmark/suites/*.yaml) and profiles (benchmark/profiles.yaml), typed and checked by the
method configs' loader (methods/config.py) before any training: unknown keys and wrong types are refused,
naming the file and key, and every default lives in its dataclass here (docs/design.md §5)."""
from __future__ import annotations

import copy
import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import methods
from benchmark.data.adapters import RealData, SyntheticData, adapter_for, build_data
from benchmark.data.label_lists import load_label_list
from benchmark.data.splits import SplitError
from methods.base import load_method_config
from methods.common.weights import file_sha256
from methods.config import ConfigError, build_config, given, load_yaml

SUITES_DIR = Path(__file__).parent / "suites"
PROFILES_PATH = Path(__file__).parent / "profiles.yaml"
PAPER_PATH = Path(__file__).parent / "paper_numbers.yaml"
SuiteError = ConfigError  # one error for every config file: suites, profiles, method configs


@dataclass(frozen=True)
class Budget:
    steps: int  # optimizer steps at the global batch
    global_batch_size: int  # split across processes
    eval_every: int  # validation every so many steps (and at the end)
    ckpt_every: int | None = None  # checkpoint every so many steps; none: never
    eval_batch_size: int = 256
    grad_clip: float = 10.0  # max gradient norm per model

    def __post_init__(self):
        if self.global_batch_size <= 0 or self.steps < 0 or self.eval_every <= 0:
            raise ValueError("budget must have positive steps, batch and eval_every")


@dataclass(frozen=True)
class MethodEntry:
    KEY_ALIASES: ClassVar[dict] = {"as": "label"}
    name: str  # registry name
    label: str = ""  # name in results and tables (`as:`); default: the registry name
    overrides: dict = field(default_factory=dict)
    control: bool = False  # a control row (attributes a gain), not a competitor: never bold, named as such
    lr_of: str | None = None  # take the learning rate tuned for this other label (ablations hold it fixed)

    def __post_init__(self):
        object.__setattr__(self, "label", self.label or self.name)


@dataclass(frozen=True)
class Evaluation:
    name: str
    train: str  # training domain: `name` or `name:<class subset>`
    test: str  # test domain
    title: str = ""  # table heading; default: the name
    in_domain: str | None = None  # another evaluation: the leaderboard shows the change from it
    # also score the test domain's negative (non-sounding) pairs: SLAVC's AP / max-F1 (docs/protocol.md §8)
    negatives: bool = False

    def __post_init__(self):
        object.__setattr__(self, "title", self.title or self.name)

    @property
    def budget(self) -> str | None:
        """The label budget of the training domain (`name@<budget>`), if any (the `labels` suite)."""
        return self.train.partition("@")[2] or None


@dataclass(frozen=True)
class Claim:
    a: str  # method label: the claim is a > b
    b: str
    evaluation: str
    text: str = ""  # default: "a > b"
    # what a claim may compare (benchmark/leaderboard.py::collect produces these)
    metric: Literal["ciou", "auc", "ciou_fixed0.5", "auc_fixed0.5", "ciou_shuffled", "val_fluctuation",
                    "neg_ap", "neg_max_f1"] = "ciou"
    relative_to: str | None = None  # an evaluation: compare each method's change from it

    def __post_init__(self):
        object.__setattr__(self, "text", self.text or f"{self.a} > {self.b}")


@dataclass(frozen=True)
class SuiteProfile:
    """A suite's own settings for one profile."""
    budget: dict = field(default_factory=dict)  # keys of Budget, over the profile's
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SuiteFile:
    """One benchmark/suites/<name>.yaml."""
    suite: str
    version: int
    methods: tuple[MethodEntry, ...]
    evaluations: tuple[Evaluation, ...]
    description: str = ""
    paper_numbers: str | None = None  # a table of benchmark/paper_numbers.yaml
    profiles: dict[str, SuiteProfile] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()
    # label-budget curves: {dataset: [budget, ...]}; each evaluation is trained at every budget of its training
    # domain's dataset (`<train>@<budget>`; lists: benchmark/data/label_lists.py)
    label_budgets: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """One profile of benchmark/profiles.yaml: every method of a suite gets the same data, model, budget, seeds."""
    data: SyntheticData | RealData
    model: dict  # the model spec (methods/common/localizer.py)
    budget: Budget
    seeds: tuple[int, ...]
    method_overrides: dict = field(default_factory=dict)  # for every method whose config has the field
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"  # on GPU only
    channels_last: bool = False  # on GPU only: the models' convolutions in NHWC (docs/design.md §4)
    # threads fetching batches ahead, on a GPU only (run_all: a CPU run uses 1, its cores train; --loader-workers
    # overrides both; docs/design.md §4). Not in a run's identity: the batches are the same
    loader_workers: int = 1
    lr_grid: tuple[float, ...] = ()  # learning rates tried per (method, training domain), chosen on validation
    # the seeds the grid is run at; each rate's score is the mean over them, so a rate at which some seeds
    # diverge is not chosen on one seed that survived it (docs/protocol.md §3)
    tune_seeds: tuple[int, ...] = (0,)
    publish: bool = False  # its tables are results/<suite>/leaderboard.md (others: leaderboard.<profile>.md)
    needs_weights: tuple[str, ...] = ()  # backbone types every run must name with --weights (run_all checks)
    # {method registry name: {budget field: value}}: a method that trains on another budget than the shared one,
    # because its paper's public recipe does; each entry cites it (docs/protocol.md §3)
    method_budgets: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.loader_workers < 0:  # as run_all --loader-workers
            raise ValueError(f"loader_workers {self.loader_workers}: expected 0 or more")


@dataclass(frozen=True)
class Suite:
    """A suite file resolved against a profile (fields as there): what the runner, leaderboard and claims read."""
    name: str
    version: int
    description: str
    profile: str
    methods: tuple[MethodEntry, ...]
    evaluations: tuple[Evaluation, ...]
    seeds: list[int]
    budget: Budget
    data: SyntheticData | RealData
    model_spec: dict  # the profile's model section: a base spec + per-role overrides (role_specs)
    method_overrides: dict  # the profile's, for every method whose config has the field
    method_budgets: dict  # the profile's: {method name: Budget} where a method's differs from `budget`
    paper: dict  # {"source": str, "methods": {name: {eval: {metric: value}}}}
    path: Path
    claims: tuple[Claim, ...]
    mixed_precision: str
    channels_last: bool
    loader_workers: int  # the profile's; run_all sets the one a run uses (Profile.loader_workers)
    lr_grid: tuple[float, ...]
    lr_sources: dict  # label -> MethodEntry of every label some lr_of names
    tune_seeds: tuple[int, ...]
    published: bool

    @property
    def dataset(self) -> str:
        """The profile's data source (a run's identity records it)."""
        return self.data.source

    def trainings(self) -> dict[str, list[str]]:
        """train domain -> test domains: evaluations with the same training share one run."""
        out: dict[str, list[str]] = {}
        for ev in self.evaluations:
            tests = out.setdefault(ev.train, [])
            if ev.test not in tests:
                tests.append(ev.test)
        return out


    def negative_tests(self) -> list[str]:
        """Test domains whose negative pairs are scored too."""
        return list(dict.fromkeys(ev.test for ev in self.evaluations if ev.negatives))


# The order `run_all --suite all` runs them in: the paper's tables first (table1's trainings are also the
# negatives suite's), the long label-budget curves last; a suite not listed here runs after these, by name.
RUN_ORDER = ("table1", "openset", "ablation", "beta", "stability", "negatives", "labels")


def list_suites() -> list[str]:
    names = sorted(p.stem for p in SUITES_DIR.glob("*.yaml") if not p.stem.startswith("_"))
    return sorted(names, key=lambda n: RUN_ORDER.index(n) if n in RUN_ORDER else len(RUN_ORDER))


def load_profile(name: str) -> Profile:
    profiles = load_yaml(PROFILES_PATH)
    if name not in profiles:
        raise SuiteError(f"Unknown profile {name!r}; profiles in {PROFILES_PATH}: {sorted(profiles)}")
    raw = profiles[name]
    where = f"{PROFILES_PATH}: {name}"
    if isinstance(raw, dict) and "data" in raw:
        raw = {**raw, "data": build_data(raw["data"], f"{where}: key 'data'")}
    return build_config(Profile, raw, where)


def _suite_file(path: Path) -> SuiteFile:
    raw = load_yaml(path)
    if isinstance(raw.get("methods"), list):  # a bare name is {name: <name>}
        raw["methods"] = [{"name": m} if isinstance(m, str) else m for m in raw["methods"]]
    return build_config(SuiteFile, raw, str(path))


def load_suite(name: str, profile: str = "default", seeds: list[int] | None = None,
               only_methods: list[str] | None = None, only_evaluations: list[str] | None = None) -> Suite:
    path = SUITES_DIR / f"{name}.yaml"
    if not path.exists():
        close = difflib.get_close_matches(name, list_suites(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise SuiteError(f"Unknown suite {name!r}.{hint} Suites: {', '.join(list_suites())}.")
    raw, prof = _suite_file(path), load_profile(profile)
    own = raw.profiles.get(profile, SuiteProfile())
    budget = build_config(Budget, {**given(prof.budget), **own.budget}, f"{path}: budget of profile {profile}")
    entries = list(raw.methods)
    labels = [e.label for e in entries]
    _check_entries(entries, path)
    if only_methods:
        missing = sorted(set(only_methods) - set(labels))
        if missing:
            raise SuiteError(f"--methods {missing} not in suite {name} (it has {labels})")
        entries = [e for e in entries if e.label in only_methods]
    _check_evaluations(raw.evaluations, path)
    evaluations = _with_budgets(raw, prof.data, path)
    _check_claims(raw, evaluations, labels, path)
    if only_evaluations:
        missing = sorted(set(only_evaluations) - {ev.name for ev in evaluations})
        if missing:
            raise SuiteError(f"--evaluations {missing} not in suite {name} (it has {[ev.name for ev in evaluations]})")
        # whole trainings: every evaluation of a chosen one's training domain stays, so a run keeps its tests
        # (and its identity) as the whole suite runs it
        trains = {ev.train for ev in evaluations if ev.name in only_evaluations}
        evaluations = tuple(ev for ev in evaluations if ev.train in trains)
    kept = {e.label for e in entries}
    kept_evaluations = {ev.name for ev in evaluations}
    paper = _paper(raw.paper_numbers, path)
    if only_evaluations:  # the paper's numbers of the evaluations kept (the whole suite's are checked as usual)
        paper = {**paper, "methods": {label: {k: v for k, v in row.items() if k in kept_evaluations}
                                      for label, row in paper.get("methods", {}).items()}}
    return Suite(
        name=raw.suite, version=raw.version, description=raw.description.strip(), profile=profile,
        methods=tuple(entries), evaluations=evaluations,
        seeds=list(seeds if seeds is not None else own.seeds or prof.seeds),
        budget=budget, data=prof.data, model_spec=check_model_section(prof.model, profile),
        method_overrides=prof.method_overrides, method_budgets=_method_budgets(prof, budget, profile),
        paper=paper, path=path,
        mixed_precision=prof.mixed_precision, channels_last=prof.channels_last,
        loader_workers=prof.loader_workers, lr_grid=prof.lr_grid,
        tune_seeds=prof.tune_seeds,
        published=prof.publish,
        lr_sources={e.lr_of: next(f for f in raw.methods if f.label == e.lr_of) for e in entries if e.lr_of},
        # a --methods / --evaluations subset keeps only the claims it can test
        claims=tuple(c for c in raw.claims if c.a in kept and c.b in kept and c.evaluation in kept_evaluations
                     and (c.relative_to is None or c.relative_to in kept_evaluations)),
    )


def _method_budgets(prof: Profile, budget: Budget, profile: str) -> dict[str, Budget]:
    """The shared budget with each method's own fields (profile key `method_budgets`), checked as a budget is."""
    out = {}
    for name, fields in prof.method_budgets.items():
        where = f"{PROFILES_PATH}: {profile}: method_budgets: {name}"
        if name not in methods.REGISTRY:
            raise SuiteError(f"{where}: no method {name!r} in the registry")
        if not isinstance(fields, dict):
            raise SuiteError(f"{where}: expected a mapping of budget fields, got {fields!r}")
        out[name] = build_config(Budget, {**given(budget), **fields}, where)
    return out


def budget_of(suite: Suite, method: str) -> Budget:
    """The budget a method trains on in this suite: the shared one, or its own (Profile.method_budgets)."""
    return suite.method_budgets.get(method, suite.budget)


def _check_entries(entries: list[MethodEntry], path: Path) -> None:
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise SuiteError(f"{path}: duplicate method labels {labels}")
    for i, e in enumerate(entries):  # lr_of may name a label left out by --methods
        if e.lr_of is not None and (e.lr_of not in labels or e.lr_of == e.label or
                                    entries[labels.index(e.lr_of)].lr_of is not None):
            raise SuiteError(f"{path}: methods[{i}]: lr_of {e.lr_of!r} must name another label of the suite that "
                             f"is tuned itself (labels: {labels})")


def _check_evaluations(evaluations: tuple[Evaluation, ...], path: Path) -> None:
    names = {ev.name for ev in evaluations}
    for i, ev in enumerate(evaluations):
        if ev.in_domain is not None and ev.in_domain not in names:
            raise SuiteError(f"{path}: evaluations[{i}]: in_domain {ev.in_domain!r} not in {sorted(names)}")


def _with_budgets(raw: SuiteFile, data, path: Path) -> tuple[Evaluation, ...]:
    """The suite's evaluations, each once per label budget of its training domain's dataset when the suite has
    `label_budgets` (name `<name>@<budget>`, training domain `<train>@<budget>`, the same test domain)."""
    if not raw.label_budgets:
        for ev in raw.evaluations:
            if "@" in ev.train or "@" in ev.test:
                raise SuiteError(f"{path}: evaluation {ev.name!r}: a label budget (`@`) comes from `label_budgets`")
        return raw.evaluations
    out = []
    for ev in raw.evaluations:
        adapter = adapter_for(data, ev.train)
        dataset, budgets = adapter.name, raw.label_budgets.get(adapter.name)
        if not budgets or ":" in ev.train or "@" in ev.train or "@" in ev.test:
            raise SuiteError(f"{path}: evaluation {ev.name!r}: label_budgets needs a list for dataset {dataset!r} "
                             f"(it has {sorted(raw.label_budgets)}), a training domain without a class subset and "
                             "no `@` of its own")
        unknown = sorted(set(budgets) - set(adapter.require("label_budgets", "label budgets")))
        if unknown:
            raise SuiteError(f"{path}: label_budgets: dataset {dataset!r} has no budget {unknown} (its adapter "
                             f"declares {list(adapter.label_budgets)})")
        out += [Evaluation(name=f"{ev.name}@{b}", train=f"{ev.train}@{b}", test=ev.test,
                           title=f"{ev.title}, label budget {b}") for b in budgets]
    return tuple(out)


def budget_free(method: str) -> bool:
    """Whether a method's training cannot depend on which samples keep their labels: it reads no labels (floors,
    EZ-VSL) or every training sample's (the oracle). In a label-budget suite it is trained once, without a budget."""
    cls = methods.get_method(method)
    return not cls.uses_labels or cls.label_pool == "all"


def training_domain(method: str, train: str) -> str:
    """The domain a row of registry method `method` trains on for an evaluation training on `train`."""
    return train.partition("@")[0] if budget_free(method) else train


def _check_claims(raw: SuiteFile, evaluations: tuple[Evaluation, ...], labels: list[str], path: Path) -> None:
    evals = {ev.name for ev in evaluations}  # with label budgets: `<name>@<budget>`
    for i, c in enumerate(raw.claims):
        for key in ("evaluation", "relative_to"):
            if getattr(c, key) is not None and getattr(c, key) not in evals:
                raise SuiteError(f"{path}: claims[{i}]: {key} {getattr(c, key)!r} not in {sorted(evals)}")
        for key in ("a", "b"):
            if getattr(c, key) not in labels:
                raise SuiteError(f"{path}: claims[{i}]: {key} = {getattr(c, key)!r} is not a method label of the "
                                 "suite")


def _paper(table: str | None, path: Path) -> dict:
    if not table:
        return {"source": None, "methods": {}}
    paper = load_yaml(PAPER_PATH).get(table)
    if paper is None:
        raise SuiteError(f"{path}: paper_numbers {table!r} is not a table in {PAPER_PATH}")
    return paper


@dataclass(frozen=True)
class ModelSpec:
    """A backbone spec: the arguments of methods.common.localizer.LocalizationModel (a profile's `model:`
    section, whose base may also carry `roles`). Checked only: the run records the section as written."""

    visual: dict
    audio: dict
    dim: int = 128
    audio_head: Literal["mlp", "linear"] = "mlp"
    roles: dict = field(default_factory=dict)  # role -> partial spec (role_specs)


def check_model_section(section, profile: str) -> dict:
    """A profile's `model:` section: a base spec and `roles: {role: partial spec}`. A role no method declares is
    allowed (a profile serves every method); anything else is refused, naming the file."""
    where = f"{PROFILES_PATH}: profile {profile!r}: model"
    roles = section.get("roles", {}) if isinstance(section, dict) else {}
    if not isinstance(roles, dict):
        raise SuiteError(f"{where}.roles: expected a mapping from role to spec, got {roles!r}")
    build_config(ModelSpec, section, where)
    for role, override in roles.items():
        if not isinstance(override, dict):
            raise SuiteError(f"{where}.roles.{role}: expected a mapping of spec keys, got {override!r}")
        build_config(ModelSpec, {**section, "roles": {}, **override}, f"{where}.roles.{role}")
        if "roles" in override:
            raise SuiteError(f"{where}.roles.{role}: a role's spec cannot have roles of its own")
    return section


def role_specs(section: dict, roles: tuple[str, ...]) -> dict[str, dict]:
    """{role: spec} of a profile's model section for `roles`: the base spec with the role's overrides, each
    of which replaces the base's entry of that key whole (a backbone is swapped, not merged)."""
    base = {k: v for k, v in section.items() if k != "roles"}
    overrides = section.get("roles") or {}
    return {role: {**base, **overrides.get(role, {})} for role in roles}


def suite_adapters(suite: Suite) -> list:
    """The adapter of every domain the suite trains or tests on, once each."""
    domains = [d for ev in suite.evaluations for d in (ev.train, ev.test)]
    return list({a.name: a for a in (adapter_for(suite.data, d) for d in domains)}.values())


def stand_in(suite: Suite) -> bool:
    """Generated stand-ins only: the paper's numbers are from other data."""
    return all(a.generated for a in suite_adapters(suite))


def new_method(suite: Suite, entry: MethodEntry):
    """The method of a suite row: its config (profile and row overrides) and the model specs of its roles."""
    cls = methods.get_method(entry.name)
    return cls(load_method_config(cls, method_overrides(suite, entry)), role_specs(suite.model_spec, cls.model_roles))


def backbone_specs(node) -> list[dict]:
    """Every backbone spec (a mapping with a `type`) in a model section, at any depth."""
    if not isinstance(node, dict):
        return []
    if "type" in node:
        return [node]
    return [b for value in node.values() for b in backbone_specs(value)]


def parse_weights(items: list[str]) -> dict[str, str]:
    """{backbone type: path} from `--weights TYPE=PATH` arguments (run_all, benchmark.diagnose)."""
    out = {}
    for item in items:
        kind, sep, path = item.partition("=")
        if not sep or not kind or not path:
            raise SuiteError(f"--weights {item!r}: expected TYPE=PATH, e.g. resnet18=/weights/resnet18.pth")
        out[kind] = path
    return out


def with_weights(suite: Suite, weights: dict[str, str], digests: dict[str, str] | None = None) -> Suite:
    """The suite with local pretrained weight files set on the backbones of those types (run_all --weights),
    in the base spec and every role's overrides alike: each such backbone spec gets `weights` (the path, to
    load) and `weights_sha256` (the file's content, which is what a run's identity names: the same file
    elsewhere is the same run, an edited file at the same path is not; docs/design.md §5).

    Every named backbone type must occur in the profile's model, and every file must exist. With `digests`
    ({type: sha256}) the files are not read: a recorded run's config is rebuilt on any machine."""
    spec = copy.deepcopy(suite.model_spec)
    parts = backbone_specs(spec)
    unknown = sorted(set(weights) - {p["type"] for p in parts})
    if unknown:
        raise SuiteError(f"--weights {unknown}: profile {suite.profile!r} has no backbone of that type "
                         f"(its backbones: {sorted({p['type'] for p in parts})})")
    if digests is None:
        for kind, path in weights.items():
            if not Path(path).is_file():
                raise SuiteError(f"--weights {kind}={path}: file not found")
        weights = {kind: str(Path(path).resolve()) for kind, path in weights.items()}
        digests = {kind: file_sha256(Path(path)) for kind, path in weights.items()}
    for part in parts:
        if part["type"] in weights:
            part["weights"], part["weights_sha256"] = weights[part["type"]], digests[part["type"]]
    return dataclasses.replace(suite, model_spec=spec)


def recorded_weights(model: dict | None) -> tuple[dict[str, str], dict[str, str]]:
    """({type: path}, {type: sha256}) of the pretrained files a run's recorded model section names: what
    with_weights needs to rebuild its config."""
    parts = [p for p in backbone_specs(model or {}) if p.get("weights")]
    return {p["type"]: p["weights"] for p in parts}, {p["type"]: p["weights_sha256"] for p in parts}


def method_overrides(suite: Suite, entry: MethodEntry) -> dict:
    """The profile's overrides (for every method alike) + the entry's own."""
    cls = methods.get_method(entry.name)
    fields = set(getattr(cls.Config, "__dataclass_fields__", {}))
    return {**{k: v for k, v in suite.method_overrides.items() if k in fields}, **entry.overrides}


def validate_suite(suite: Suite) -> list[str]:
    """Check names, configs, class subsets, split files and paper keys; raise on the first problem, else report."""
    report = []
    for e in suite.methods:
        cls = methods.get_method(e.name)
        try:
            load_method_config(cls, method_overrides(suite, e))
        except ConfigError as err:
            raise SuiteError(f"{suite.path}: method {e.label!r}: {err}") from None
        report.append(f"method {e.label}: {cls.__module__}.{cls.__name__} config ok")
    domains = sorted({d.partition("@")[0] for ev in suite.evaluations for d in (ev.train, ev.test)})
    for d in domains:
        try:
            adapter_for(suite.data, d).check_subset(d)
        except ConfigError as err:
            raise SuiteError(f"{suite.path}: {err}") from None
    for d in sorted({d.partition(":")[0] for d in domains}):
        try:
            for name, load in adapter_for(suite.data, d).split_lists(suite.data, suite.profile, d):
                ids, digest = load()
                report.append(f"split {name}: {len(ids)} ids sha256 {digest[:12]}")
        except SplitError as err:
            raise SuiteError(f"{suite.path} ({suite.profile}): {err}") from None
    for ev in (e for e in suite.evaluations if e.budget):
        base = ev.train.partition("@")[0]
        where = adapter_for(suite.data, base).labels_dir(suite.data, suite.profile, base)
        try:
            for seed in suite.seeds:
                ids, digest = load_label_list(where, ev.budget, seed)
                report.append(f"labels {base}@{ev.budget} seed {seed}: {len(ids)} ids sha256 {digest[:12]}")
        except SplitError as err:
            raise SuiteError(f"{suite.path} ({suite.profile}): {err}") from None
    for label, row in suite.paper.get("methods", {}).items():
        unknown = sorted(set(row) - {ev.name for ev in suite.evaluations})
        if unknown:
            raise SuiteError(f"{PAPER_PATH}: {label}: evaluation keys {unknown} not in suite {suite.name}")
        if label not in {e.label for e in suite.methods}:
            report.append(f"note: paper row {label!r} has no method of that label in this run")
    return report
