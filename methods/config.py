"""Typed config files: a YAML mapping becomes a frozen dataclass, or an error naming the file and key.

One loader for every config of the harness: method configs (methods/configs/*.yaml), suites and profiles
(benchmark/suites.py). It lives here because `benchmark` imports `methods`, never the reverse.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


def load_yaml(path: Path) -> dict:
    """A YAML file whose top level is a mapping."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at top level")
    return data


def load_with_includes(path: Path, seen: tuple = ()) -> dict:
    """A config file with `include: <file>` (beside it) resolved: the included file's keys, then its own."""
    if path in seen:
        raise ConfigError(f"{path}: include cycle {' -> '.join(map(str, (*seen, path)))}")
    values = load_yaml(path)
    parent = values.pop("include", None)
    if parent is None:
        return values
    if not isinstance(parent, str) or not (path.parent / parent).is_file():
        raise ConfigError(f"{path}: key 'include': {parent!r} is not a file beside it")
    return {**load_with_includes(path.parent / parent, (*seen, path)), **values}


def check_type(value: Any, annotation: Any, where: str) -> Any:
    """Check (and lightly coerce) a YAML value against a dataclass field annotation; a mapping for a
    dataclass field is built into it (nested configs)."""
    origin = typing.get_origin(annotation)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is typing.Literal:
        if value not in typing.get_args(annotation):
            raise ConfigError(f"{where}: {value!r} is not one of {typing.get_args(annotation)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(annotation):
            try:
                return check_type(value, arm, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {annotation}")
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        return value if isinstance(value, annotation) else build_config(annotation, value, where)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        args = typing.get_args(annotation)
        return {k: check_type(v, args[1], f"{where}: key {k!r}") for k, v in value.items()} if args else value
    if origin in (tuple, list) or annotation in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        arm = typing.get_args(annotation)[:1]  # tuple[X, ...]: every element an X
        return tuple(check_type(v, arm[0], f"{where}[{i}]") if arm else v for i, v in enumerate(value))
    if isinstance(annotation, type):
        if annotation is int and isinstance(value, bool) or not isinstance(value, annotation):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r} ({type(value).__name__})")
    return value


def build_config(config_cls: type, values: Any, source: str) -> Any:
    """Make a frozen config from a mapping, rejecting unknown keys and wrong types. The keys given are kept
    (`given`): a run's identity records what a file set, not the defaults added since."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(values).__name__}")
    aliases = getattr(config_cls, "KEY_ALIASES", {})  # file key -> field, where the key is a Python keyword
    keys = {aliases.get(k, k): k for k in values}
    hints = typing.get_type_hints(config_cls)
    fields = [f for f in dataclasses.fields(config_cls) if f.init]
    allowed = {f.name: {v: k for k, v in aliases.items()}.get(f.name, f.name) for f in fields}
    unknown = sorted(k for f, k in keys.items() if f not in allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(allowed.values())}")
    missing = [allowed[f.name] for f in fields if f.name not in keys and f.default is f.default_factory is MISSING]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {missing}")
    checked = {f: check_type(values[k], hints[f], f"{source}: key {k!r}") for f, k in keys.items()}
    try:
        config = config_cls(**checked)
    except ValueError as err:  # refused by the class's own check (__post_init__)
        raise ConfigError(f"{source}: {err}") from None
    object.__setattr__(config, "_given", tuple(keys))
    return config


def given(config: Any) -> dict:
    """The fields its file set (all of them for a config not built from a file, or a `dataclasses.replace` copy)."""
    names = getattr(config, "_given", [f.name for f in dataclasses.fields(config)])
    return {k: getattr(config, k) for k in names}
