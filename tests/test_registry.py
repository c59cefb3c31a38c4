"""The method registry: lookup, errors, and that every method file is registered."""
from __future__ import annotations

from pathlib import Path

import pytest

import methods
from methods.base import ConfigError, Method, build_config, load_method_config

METHODS_DIR = Path(methods.__file__).parent
NOT_METHODS = {"__init__", "base", "config"}  # config: the typed config loader


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


def test_paper_profile_and_local_weights(tmp_path):
    import pytest

    from benchmark.suites import SuiteError, load_suite, with_weights

    suite = load_suite("table1", "paper")
    assert suite.dataset == "real" and suite.mixed_precision == "bf16"
    assert suite.model_spec["visual"]["type"] == "resnet18" and suite.model_spec["b"]["audio"]["type"] == "soundnet8"
    weights = tmp_path / "vggish.pth"
    weights.write_bytes(b"x")
    spec = with_weights(suite, {"vggish": str(weights)}).model_spec
    assert spec["audio"]["weights"] == str(weights.resolve()) and "weights" not in spec["b"]["audio"]
    assert "weights" not in suite.model_spec["audio"]  # the loaded suite is not modified
    with pytest.raises(SuiteError, match=r"--weights \['resnet50'\]: profile 'paper' has no backbone"):
        with_weights(suite, {"resnet50": str(weights)})
    with pytest.raises(SuiteError, match="nope.pth: file not found"):
        with_weights(suite, {"soundnet8": str(tmp_path / "nope.pth")})
    with pytest.raises(SuiteError, match="no backbone of that type"):
        with_weights(load_suite("table1", "smoke"), {"vggish": str(weights)})  # light profile: nothing to load


def test_pretrained_status_flags_random_init(smoke_suite):
    import methods
    from benchmark.runner import pretrained_status
    from methods.base import load_method_config

    xpl = methods.get_method("xpl")
    light = xpl(load_method_config(xpl, {}), smoke_suite.model_spec)
    light.models = light.build_models()
    assert pretrained_status(light) == (None, "n/a")  # light backbones never take weights
    spec = {**smoke_suite.model_spec, "b": {"audio": {"type": "soundnet8"}}}
    paper_b = xpl(load_method_config(xpl, {}), spec)
    paper_b.models = paper_b.build_models()
    records, status = pretrained_status(paper_b)
    assert status == "none" and records["b"] == {"audio": None}
