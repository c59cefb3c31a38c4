"""Suite files (benchmark/suites/*.yaml) and profiles, resolved and validated before any training."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import methods
from benchmark.data.splits import SplitError, load_split
from methods.base import ConfigError, load_method_config

SUITES_DIR = Path(__file__).parent / "suites"
PROFILES_PATH = Path(__file__).parent / "profiles.yaml"
PAPER_PATH = Path(__file__).parent / "paper_numbers.yaml"
SUITE_KEYS = {"suite", "version", "description", "paper_numbers", "methods", "evaluations", "profiles",
              "claims"}
CLAIM_KEYS = {"text", "a", "b", "evaluation", "metric", "relative_to"}
# what a claim may compare (benchmark/suite_results.py::collect produces these)
CLAIM_METRICS = {"ciou", "auc", "ciou_fixed0.5", "auc_fixed0.5", "ciou_shuffled", "val_fluctuation"}
EVAL_KEYS = {"name", "title", "train", "test", "in_domain"}
METHOD_KEYS = {"name", "as", "overrides", "control", "lr_of"}
BUDGET_KEYS = {"steps", "global_batch_size", "eval_every", "ckpt_every", "eval_batch_size", "grad_clip"}
# a backbone spec: the arguments of methods.common.localizer.LocalizationModel
SPEC_KEYS = {"visual", "audio", "dim", "audio_head"}


class SuiteError(ValueError):
    pass


@dataclass(frozen=True)
class MethodEntry:
    name: str  # registry name
    label: str  # name in results and tables
    overrides: dict = field(default_factory=dict)
    control: bool = False  # a control row (attributes a gain), not a competitor: never bold, named as such
    lr_of: str | None = None  # take the learning rate tuned for this other label (ablations hold it fixed)


@dataclass
class Suite:
    name: str
    version: int
    description: str
    dataset: str
    profile: str
    methods: list[MethodEntry]
    evaluations: list[dict]
    seeds: list[int]
    budget: dict
    model_spec: dict  # the profile's model section: a base spec + per-role overrides (role_specs)
    data_cfg: dict
    method_overrides: dict  # the profile's, for every method whose config has the field
    paper: dict  # {"source": str, "methods": {name: {eval: {metric: value}}}}
    path: Path
    claims: list[dict] = field(default_factory=list)
    mixed_precision: str = "no"  # the profile's choice on GPU
    lr_grid: tuple = ()  # learning rates tried per (method, training domain), chosen on validation (runner)
    lr_sources: dict = field(default_factory=dict)  # label -> MethodEntry of every label some lr_of names
    tune_seed: int = 0  # the seed the grid is run at
    published: bool = False  # the profile whose tables are results/<suite>/leaderboard.md (others: .<profile>.md)

    def trainings(self) -> dict[str, list[str]]:
        """train domain -> test domains: evaluations with the same training share one run."""
        out: dict[str, list[str]] = {}
        for ev in self.evaluations:
            tests = out.setdefault(ev["train"], [])
            if ev["test"] not in tests:
                tests.append(ev["test"])
        return out


def list_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml") if not p.stem.startswith("_"))


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SuiteError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: expected a mapping at top level")
    return data


def _unknown(keys, allowed, where):
    extra = sorted(set(keys) - allowed)
    if extra:
        raise SuiteError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def load_suite(name: str, profile: str = "default", seeds: list[int] | None = None,
               only_methods: list[str] | None = None) -> Suite:
    path = SUITES_DIR / f"{name}.yaml"
    if not path.exists():
        close = difflib.get_close_matches(name, list_suites(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise SuiteError(f"Unknown suite {name!r}.{hint} Suites: {', '.join(list_suites())}.")
    raw = _load_yaml(path)
    _unknown(raw, SUITE_KEYS, str(path))
    for key in ("suite", "version", "methods", "evaluations"):
        if key not in raw:
            raise SuiteError(f"{path}: missing key {key!r}")
    profiles = _load_yaml(PROFILES_PATH)
    if profile not in profiles:
        raise SuiteError(f"Unknown profile {profile!r}; profiles in {PROFILES_PATH}: {sorted(profiles)}")
    prof = profiles[profile]
    suite_prof = (raw.get("profiles") or {}).get(profile, {})
    _unknown(suite_prof, {"budget", "seeds"}, f"{path}: profiles.{profile}")
    budget = {**prof["budget"], **suite_prof.get("budget", {})}
    _unknown(budget, BUDGET_KEYS, f"{path}: budget of profile {profile}")

    entries = []
    for i, m in enumerate(raw["methods"]):
        m = {"name": m} if isinstance(m, str) else m
        if not isinstance(m, dict) or "name" not in m:
            raise SuiteError(f"{path}: methods[{i}] must be a name or a mapping with 'name'")
        _unknown(m, METHOD_KEYS, f"{path}: methods[{i}]")
        if not isinstance(m.get("control", False), bool):
            raise SuiteError(f"{path}: methods[{i}]: control must be true or false")
        entries.append(MethodEntry(m["name"], m.get("as", m["name"]), dict(m.get("overrides") or {}),
                                   bool(m.get("control", False)), m.get("lr_of")))
    all_entries = {e.label: e for e in entries}  # lr_of may name a label left out by --methods
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise SuiteError(f"{path}: duplicate method labels {labels}")
    for i, e in enumerate(entries):
        if e.lr_of is not None and (e.lr_of not in labels or e.lr_of == e.label or
                                    entries[labels.index(e.lr_of)].lr_of is not None):
            raise SuiteError(f"{path}: methods[{i}]: lr_of {e.lr_of!r} must name another label of the suite that "
                             f"is tuned itself (labels: {labels})")
    if only_methods:
        missing = sorted(set(only_methods) - set(labels))
        if missing:
            raise SuiteError(f"--methods {missing} not in suite {name} (it has {labels})")
        entries = [e for e in entries if e.label in only_methods]

    evaluations = []
    for i, ev in enumerate(raw["evaluations"]):
        _unknown(ev, EVAL_KEYS, f"{path}: evaluations[{i}]")
        for key in ("name", "train", "test"):
            if key not in ev:
                raise SuiteError(f"{path}: evaluations[{i}] missing {key!r}")
        evaluations.append({"title": ev["name"], **ev})

    paper = {"source": None, "methods": {}}
    if raw.get("paper_numbers"):
        table = _load_yaml(PAPER_PATH).get(raw["paper_numbers"])
        if table is None:
            raise SuiteError(f"{path}: paper_numbers {raw['paper_numbers']!r} is not a table in {PAPER_PATH}")
        paper = table
    return Suite(
        name=raw["suite"], version=int(raw["version"]), description=str(raw.get("description", "")).strip(),
        dataset=prof["data"].get("source", "synthetic"), profile=profile, methods=entries, evaluations=evaluations,
        seeds=list(seeds if seeds is not None else suite_prof.get("seeds", prof["seeds"])),
        budget=budget, model_spec=check_model_section(prof.get("model"), profile), data_cfg=prof["data"],
        method_overrides=dict(prof.get("method_overrides") or {}), paper=paper, path=path,
        mixed_precision=prof.get("mixed_precision", "no"),
        lr_grid=tuple(float(x) for x in prof.get("lr_grid") or ()), tune_seed=int(prof.get("tune_seed", 0)),
        lr_sources={e.lr_of: all_entries[e.lr_of] for e in entries if e.lr_of},
        published=bool(prof.get("publish", False)),
        claims=_claims(raw.get("claims") or [], labels, {e.label for e in entries}, evaluations, path),
    )


def _claims(raw: list, labels: list[str], kept: set[str], evaluations: list[dict], path: Path) -> list[dict]:
    evals = {ev["name"] for ev in evaluations}
    out = []
    for i, c in enumerate(raw):
        _unknown(c, CLAIM_KEYS, f"{path}: claims[{i}]")
        for key in ("a", "b", "evaluation"):
            if key not in c:
                raise SuiteError(f"{path}: claims[{i}] missing {key!r}")
        if c.get("metric", "ciou") not in CLAIM_METRICS:
            raise SuiteError(f"{path}: claims[{i}]: metric {c['metric']!r} not in {sorted(CLAIM_METRICS)}")
        for key in ("evaluation", "relative_to"):
            if key in c and c[key] not in evals:
                raise SuiteError(f"{path}: claims[{i}]: {key} {c[key]!r} not in {sorted(evals)}")
        for key in ("a", "b"):
            if c[key] not in labels:
                raise SuiteError(f"{path}: claims[{i}]: {key} = {c[key]!r} is not a method label of the suite")
        if c["a"] in kept and c["b"] in kept:  # a --methods subset keeps only the claims it can test
            out.append(dict(c))
    return out


def check_model_section(section, profile: str) -> dict:
    """A profile's `model:` section: a base spec (SPEC_KEYS) and `roles: {role: partial spec}`. A role no
    method declares is allowed (a profile serves every method); anything else is refused, naming the file."""
    where = f"{PROFILES_PATH}: profile {profile!r}: model"
    if not isinstance(section, dict):
        raise SuiteError(f"{where}: expected a mapping, got {type(section).__name__}")
    _unknown(section, SPEC_KEYS | {"roles"}, where)
    roles = section.get("roles", {})
    if not isinstance(roles, dict):
        raise SuiteError(f"{where}.roles: expected a mapping from role to overrides, got {type(roles).__name__}")
    for role, override in roles.items():
        if not isinstance(override, dict):
            raise SuiteError(f"{where}.roles.{role}: expected a mapping of spec keys, got {override!r}")
        _unknown(override, SPEC_KEYS, f"{where}.roles.{role}")
    return section


def role_specs(section: dict, roles: tuple[str, ...]) -> dict[str, dict]:
    """{role: spec} of a profile's model section for `roles`: the base spec with the role's overrides, each
    of which replaces the base's entry of that key whole (a backbone is swapped, not merged)."""
    base = {k: v for k, v in section.items() if k != "roles"}
    overrides = section.get("roles") or {}
    return {role: {**base, **overrides.get(role, {})} for role in roles}


def new_method(suite: Suite, entry: MethodEntry):
    """The method of a suite row: its config (profile and row overrides) and the model specs of its roles."""
    cls = methods.get_method(entry.name)
    return cls(load_method_config(cls, method_overrides(suite, entry)), role_specs(suite.model_spec, cls.model_roles))


def _backbones(node) -> list[dict]:
    """Every backbone spec (a mapping with a `type`) in a model section, at any depth."""
    if not isinstance(node, dict):
        return []
    if "type" in node:
        return [node]
    return [b for value in node.values() for b in _backbones(value)]


def with_weights(suite: Suite, weights: dict[str, str]) -> Suite:
    """The suite with local pretrained weight files set on the backbones of those types (run_all --weights),
    in the base spec and every role's overrides alike.

    Every named backbone type must occur in the profile's model, and every file must exist."""
    import copy
    import dataclasses

    spec = copy.deepcopy(suite.model_spec)
    parts = _backbones(spec)
    for part in parts:
        if part["type"] in weights:
            part["weights"] = str(Path(weights[part["type"]]).resolve())
    unknown = sorted(set(weights) - {p["type"] for p in parts})
    if unknown:
        raise SuiteError(f"--weights {unknown}: profile {suite.profile!r} has no backbone of that type "
                         f"(its backbones: {sorted({p['type'] for p in parts})})")
    for kind, path in weights.items():
        if not Path(path).is_file():
            raise SuiteError(f"--weights {kind}={path}: file not found")
    return dataclasses.replace(suite, model_spec=spec)


def method_overrides(suite: Suite, entry: MethodEntry) -> dict:
    """The profile's overrides (for every method alike) + the entry's own."""
    cls = methods.get_method(entry.name)
    fields = set(getattr(cls.Config, "__dataclass_fields__", {}))
    return {**{k: v for k, v in suite.method_overrides.items() if k in fields}, **entry.overrides}


def _split_loaders(suite: Suite, domain: str) -> list[tuple[str, object]]:
    """(split name, loader) for every committed list a domain of this suite needs."""
    if suite.dataset == "synthetic":
        lists = suite.data_cfg.get("splits", suite.profile)
        return [(s, lambda s=s: load_split("synthetic", lists, domain, s))
                for s in ("labeled", "unlabeled", "val", "test")]
    from benchmark.data.real_splits import load_real_split

    from benchmark.data.domains import flickr_test_split

    subset = suite.data_cfg.get("subset")
    test = flickr_test_split(suite.data_cfg.get("flickr_test", "249")) if domain == "flickr" else "test"
    names = ["labeled", "val", test] + ([f"unlabeled_{subset}"] if subset else [])
    return [(s, lambda s=s: load_real_split(domain, s)) for s in names]


def validate_suite(suite: Suite) -> list[str]:
    """Check names, configs, split files and paper keys; raise on the first problem, else report."""
    report = []
    for e in suite.methods:
        cls = methods.get_method(e.name)
        try:
            load_method_config(cls, method_overrides(suite, e))
        except ConfigError as err:
            raise SuiteError(f"{suite.path}: method {e.label!r}: {err}") from None
        report.append(f"method {e.label}: {cls.__module__}.{cls.__name__} config ok")
    domains = {d.partition(":")[0] for ev in suite.evaluations for d in (ev["train"], ev["test"])}
    for ev in suite.evaluations:
        for d in (ev["train"], ev["test"]):
            if d.partition(":")[2] not in ("", "heard", "unheard"):
                raise SuiteError(f"{suite.path}: evaluation {ev['name']!r}: {d!r}: a class subset must be "
                                 "heard or unheard")
    for d in sorted(domains):
        try:
            loaders = _split_loaders(suite, d)
        except SplitError as err:
            raise SuiteError(f"{suite.path} ({suite.profile}): {err}") from None
        for split, load in loaders:
            try:
                ids, digest = load()
            except SplitError as err:
                raise SuiteError(str(err)) from None
            lists = suite.data_cfg.get("splits", suite.profile)
            report.append(f"split {suite.dataset}/{lists}/{d}/{split}: {len(ids)} ids sha256 {digest[:12]}")
    for label, row in suite.paper.get("methods", {}).items():
        unknown = sorted(set(row) - {ev["name"] for ev in suite.evaluations})
        if unknown:
            raise SuiteError(f"{PAPER_PATH}: {label}: evaluation keys {unknown} not in suite {suite.name}")
        if label not in {e.label for e in suite.methods}:
            report.append(f"note: paper row {label!r} has no method of that label in this run")
    if suite.budget["global_batch_size"] <= 0 or suite.budget["steps"] < 0:
        raise SuiteError(f"{suite.path}: budget must have positive steps and batch")
    return report
