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
    assert suite.model_spec["visual"]["type"] == "resnet18"
    assert suite.model_spec["roles"]["b"]["audio"]["type"] == "soundnet8"
    weights = tmp_path / "vggish.pth"
    weights.write_bytes(b"x")
    spec = with_weights(suite, {"vggish": str(weights), "soundnet8": str(weights)}).model_spec
    assert spec["audio"]["weights"] == spec["roles"]["b"]["audio"]["weights"] == str(weights.resolve())
    assert "weights" not in with_weights(suite, {"vggish": str(weights)}).model_spec["roles"]["b"]["audio"]
    assert "weights" not in suite.model_spec["audio"]  # the loaded suite is not modified
    with pytest.raises(SuiteError, match=r"--weights \['resnet50'\]: profile 'paper' has no backbone"):
        with_weights(suite, {"resnet50": str(weights)})
    with pytest.raises(SuiteError, match="nope.pth: file not found"):
        with_weights(suite, {"soundnet8": str(tmp_path / "nope.pth")})
    with pytest.raises(SuiteError, match="no backbone of that type"):
        with_weights(load_suite("table1", "smoke"), {"vggish": str(weights)})  # light profile: nothing to load


def test_profile_model_section_is_validated_naming_profiles_yaml():
    import pytest

    from benchmark.suites import PROFILES_PATH, SuiteError, check_model_section, role_specs

    base = {"visual": {"type": "light_cnn"}, "audio": {"type": "mel_cnn1d"}, "dim": 8}
    section = {**base, "roles": {"b": {"audio": {"type": "wave_cnn1d"}}, "c": {"dim": 4}}}  # c: no method's role
    assert check_model_section(section, "p") is section
    assert role_specs(section, ("a",)) == {"a": base}  # a method gets its own roles only
    assert role_specs(section, ("a", "b"))["b"] == {**base, "audio": {"type": "wave_cnn1d"}}  # replaced whole
    for bad, message in [({**base, "b": {}}, r"model: unknown key\(s\) \['b'\]"),
                         ({**base, "roles": {"b": "wave"}}, r"model.roles.b: expected a mapping"),
                         ({**base, "roles": {"b": {"audi": {}}}}, r"model.roles.b: unknown key"),
                         ({**base, "roles": ["b"]}, r"model.roles: expected a mapping")]:
        with pytest.raises(SuiteError, match=f"{PROFILES_PATH}: profile 'p': {message}"):
            check_model_section(bad, "p")


def test_xpl_refuses_identical_roles(smoke_suite):
    import pytest

    import methods
    from benchmark.suites import role_specs
    from methods.base import load_method_config

    xpl = methods.get_method("xpl")
    section = {k: v for k, v in smoke_suite.model_spec.items() if k != "roles"}
    with pytest.raises(ValueError, match="distinct backbones"):
        xpl(load_method_config(xpl, {}), role_specs(section, xpl.model_roles))


def test_pretrained_status_flags_random_init(smoke_suite):
    import methods
    from benchmark.runner import pretrained_status
    from benchmark.suites import role_specs
    from methods.base import load_method_config

    xpl = methods.get_method("xpl")
    light = xpl(load_method_config(xpl, {}), role_specs(smoke_suite.model_spec, xpl.model_roles))
    light.models = light.build_models()
    assert pretrained_status(light) == (None, "n/a")  # light backbones never take weights
    section = {**smoke_suite.model_spec, "roles": {"b": {"audio": {"type": "soundnet8"}}}}
    paper_b = xpl(load_method_config(xpl, {}), role_specs(section, xpl.model_roles))
    paper_b.models = paper_b.build_models()
    records, status = pretrained_status(paper_b)
    assert status == "none" and records["b"] == {"audio": None}
