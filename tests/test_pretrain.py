"""The class-pretrained light_cnn (benchmark.pretrain): deterministic, disjoint from the splits, loadable, required
where a profile asks for it."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from benchmark import pretrain
from benchmark.runner import pretrained_status
from methods.common.backbones import LightVisualCNN
from methods.common.weights import WeightsError
from tests.conftest import make_method

SPEC = {"type": "light_cnn", "width": 8, "depth": 1}  # the smoke profile's
TINY = pretrain.PretrainSettings(pool=8, steps=2, batch=4)


def test_pretraining_is_deterministic_and_reports_held_out_accuracy():
    a, report = pretrain.pretrain(SPEC, 32, TINY, log=lambda s: None)
    b, _ = pretrain.pretrain(SPEC, 32, TINY, log=lambda s: None)
    assert a.keys() == LightVisualCNN(8, 1).state_dict().keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], v) for k, v in LightVisualCNN(8, 1).state_dict().items() if v.is_floating_point())
    assert report["held_out"]["images"] == 1 and 0 <= report["held_out"]["per_class_accuracy"] <= 1
    assert report["pool_ids"]["flickr"] == [pretrain.POOL_BASE, pretrain.POOL_BASE + 3]


@pytest.mark.parametrize("profile", ["smoke", "default", "bench", "bench_pretrained"])
def test_pool_is_disjoint_from_every_split(profile):
    pretrain.check_disjoint(profile)  # raises if a split list reaches the pool's ids


def test_only_light_cnn_is_built():
    with pytest.raises(ValueError, match="light_cnn encoders only"):
        pretrain.pretrain({"type": "resnet18"}, 32, TINY)


def test_weights_load_into_every_method_and_are_recorded(tmp_path, smoke_suite):
    state, _ = pretrain.pretrain(SPEC, 32, TINY, log=lambda s: None)
    path = tmp_path / "light_cnn.safetensors"
    save_file(state, str(path))
    net = LightVisualCNN(8, 1, weights=str(path))
    assert all(torch.equal(net.state_dict()[k], state[k]) for k in state)
    assert net.pretrained["sha256"] and net.pretrained["n_tensors"] == len(state)
    from benchmark.suites import with_weights
    suite = with_weights(smoke_suite, {"light_cnn": str(path)})
    method = make_method("xpl", suite)
    method.attach(method.build_models())
    records, status = pretrained_status(method)
    assert status == "all"  # the light audio backbones take no weights
    assert {role: r["visual"]["sha256"] for role, r in records.items()} == {"a": net.pretrained["sha256"],
                                                                               "b": net.pretrained["sha256"]}
    wrong = tmp_path / "wide.safetensors"
    save_file(LightVisualCNN(16, 1).state_dict(), str(wrong))
    with pytest.raises(WeightsError, match=r"wide.safetensors does not fit the model: shape mismatch"):
        LightVisualCNN(8, 1, weights=str(wrong))


def test_cli_writes_file_and_report(tmp_path):
    out = tmp_path / "w" / "light_cnn.safetensors"
    assert pretrain.main(["--profile", "smoke", "--out", str(out), "--pool", "8", "--steps", "1", "--batch", "4"]) == 0
    report = json.loads(out.with_name(out.name + ".json").read_text())
    assert report["sha256"] and report["settings"]["steps"] == 1 and report["backbone"] == SPEC
    assert not [p for p in out.parent.iterdir() if ".tmp" in p.name]
    assert pretrain.main(["--profile", "paper", "--out", str(out)]) == 2  # real data: the real files


def test_profile_that_needs_weights_refuses_to_run_without_them(capsys):
    import run_all

    assert run_all.main(["--suite", "table1", "--profile", "bench_pretrained", "--validate"]) == 2
    assert "error: profile 'bench_pretrained' needs --weights light_cnn=FILE" in capsys.readouterr().err


def test_a_pretrained_run_is_named_by_its_files_content_and_rebuilt_without_the_file(tmp_path):
    """A run from a local pretrained file is the same run wherever the file lies, and another run when the file
    differs; tests/test_committed_identity.py rebuilds such a run's config from its record, without the file."""
    from types import SimpleNamespace

    from benchmark.runner import resolved_config, run_hash
    from benchmark.suites import MethodEntry, load_suite, recorded_weights, with_weights

    path, moved, other = tmp_path / "a.safetensors", tmp_path / "elsewhere.safetensors", tmp_path / "b.safetensors"
    save_file(LightVisualCNN(16, 2).state_dict(), str(path))
    moved.write_bytes(path.read_bytes())
    torch.manual_seed(1)
    save_file(LightVisualCNN(16, 2).state_dict(), str(other))
    suite = load_suite("table1", "bench_pretrained")
    domains = lambda name, seed=None: SimpleNamespace(hashes={"test": "t"})  # noqa: E731
    entry = MethodEntry("supervised")
    config = {name: resolved_config(with_weights(suite, {"light_cnn": str(f)}), entry, "flickr", ["flickr"], 0, domains)
              for name, f in (("recorded", path), ("moved", moved), ("other", other))}
    assert config["recorded"]["model"]["a"]["visual"]["weights"] == str(path.resolve())
    assert run_hash(config["moved"]) == run_hash(config["recorded"]) != run_hash(config["other"])
    path.unlink()
    rebuilt = with_weights(suite, *recorded_weights(config["recorded"]["model"]))
    assert resolved_config(rebuilt, entry, "flickr", ["flickr"], 0, domains) == config["recorded"]
    with pytest.raises(Exception, match="file not found"):
        with_weights(suite, {"light_cnn": str(path)})
    # a file that is not the one the run names is refused when the method is built
    swapped = with_weights(suite, {"light_cnn": str(other)}, {"light_cnn": config["recorded"]["model"]["a"]["visual"]
                                                             ["weights_sha256"]})
    method = make_method("supervised", swapped)
    with pytest.raises(WeightsError, match="not the .* this run names"):
        method.build_models()


def test_the_committed_bench_build_is_what_its_report_says_and_fits_bench_pretrained():
    """The committed file (docs/protocol.md §7) is the one its report names, built for the profile's encoder."""
    from pathlib import Path

    from benchmark.suites import load_profile
    from methods.common.weights import file_sha256

    path = Path(__file__).parents[1] / "datasets/synthetic/pretrained/light_cnn-bench.safetensors"
    report = json.loads(path.with_name(path.name + ".json").read_text())
    assert file_sha256(path) == report["sha256"]
    assert report["settings"] == dataclasses.asdict(pretrain.PretrainSettings())  # the command's defaults
    spec = load_profile("bench_pretrained").model["visual"]
    assert report["backbone"] == spec
    net = LightVisualCNN(spec["width"], spec["depth"], weights=str(path))
    assert net.pretrained["sha256"] == report["sha256"]
