"""The method registry: lookup, errors, and that every method file is registered."""
from __future__ import annotations

from pathlib import Path

import pytest

import methods
from methods.base import ConfigError, Method, build_config, load_method_config

METHODS_DIR = Path(methods.__file__).parent
NOT_METHODS = {"__init__", "base"}


def test_every_method_file_is_registered():
    files = {p.stem for p in METHODS_DIR.glob("*.py")} - NOT_METHODS
    registered = {target.split(":")[0].split(".")[1] for target in methods.REGISTRY.values()}
    assert files == registered, f"files not in methods.REGISTRY: {files - registered}"


@pytest.mark.parametrize("name", methods.list_methods())
def test_lookup_and_config(name):
    cls = methods.get_method(name)
    assert issubclass(cls, Method) and cls.name == name and cls.paper
    assert (METHODS_DIR / "configs" / f"{name}.yaml").exists(), "hyperparameters live in methods/configs/"
    load_method_config(cls)


def test_unknown_name_suggests():
    with pytest.raises(methods.UnknownMethodError) as err:
        methods.get_method("ezvls")
    assert "Did you mean 'ezvsl'" in str(err.value) and "supervised" in str(err.value)


def test_config_rejects_unknown_keys_and_wrong_types():
    cls = methods.get_method("supervised")
    with pytest.raises(ConfigError, match="unknown key"):
        load_method_config(cls, {"lr": 1e-3, "learning_rate": 1.0})
    with pytest.raises(ConfigError, match="'lambda_u'.*expected float"):
        load_method_config(cls, {"lambda_u": "half"})
    with pytest.raises(ConfigError, match="missing"):
        build_config(cls.Config, {"lr": 1.0}, "test")
