"""The one-pair inference command: an overlay for good input, clear errors for bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import methods
from benchmark import localize
from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.data import synthetic
from benchmark.suites import role_specs
from methods.config import given
from tests.conftest import make_method


@pytest.fixture()
def pair(tmp_path, smoke_suite):
    s = synthetic.make_sample("flickr", 3)
    Image.fromarray(s["image"]).save(tmp_path / "frame.png")
    sf.write(tmp_path / "clip.wav", np.repeat(s["audio"][:, None], 2, 1), 22050)  # stereo, other rate
    _save(make_method("xpl", smoke_suite), "xpl", smoke_suite, tmp_path / "best_model.pt")
    return tmp_path


def _record(name, suite):
    model = role_specs(suite.model_spec, methods.get_method(name).model_roles)
    return {"method": name, "method_config": None, "model": model, "data": given(suite.data),
            "profile": "smoke", "dataset": "synthetic", "budget": given(suite.budget), "tests": None}


def _save(method, name, suite, path, record=True):
    """A checkpoint as the runner writes it: one state dict per model and, unless record=False (older
    checkpoints), the run record."""
    state = {k: v.state_dict() for k, v in method.build_models().items()}
    torch.save({**state, WEIGHTS_RECORD: _record(name, suite)} if record else state, path)


def _args(d, **over):
    a = {"--method": "xpl", "--checkpoint": d / "best_model.pt", "--image": d / "frame.png",
         "--audio": d / "clip.wav", "--out": d / "overlay.png", "--profile": "smoke"}
    a.update(over)
    return [str(x) for kv in a.items() for x in kv]


def test_overlay_written(pair):
    assert localize.main(_args(pair)) == 0
    assert (pair / "overlay.png").stat().st_size > 1000
    assert localize.main(_args(pair, **{"--variant": "ensemble"})) == 0


def test_checkpoint_recorded_before_model_roles_is_refused_naming_it(pair, smoke_suite):
    """A record whose model is the profile's whole section with XPL's B under `b` (older runs): one clear error."""
    state = torch.load(pair / "best_model.pt", weights_only=True)
    section = smoke_suite.model_spec
    legacy = {**{k: v for k, v in section.items() if k != "roles"}, "b": section["roles"]["b"]}
    state[WEIGHTS_RECORD] = {**state[WEIGHTS_RECORD], "model": legacy}
    torch.save(state, pair / "best_model.pt")
    with pytest.raises(localize.InputError, match=r"best_model.pt \(its run record\): records model .* not the model "
                                                  r"roles \['a', 'b'\] of xpl \(written before model roles\)"):
        localize.build("xpl", pair / "best_model.pt", "smoke")


@pytest.mark.parametrize("what, content, message", [
    ("--image", b"not an image", "cannot read image"),
    ("--audio", b"RIFF....WAVEjunk", "cannot read audio"),
    ("--checkpoint", b"\x00\x01truncated", "cannot read checkpoint"),
])
def test_bad_inputs_name_the_file(pair, capsys, what, content, message):
    bad = pair / f"bad{what[2:]}"
    bad.write_bytes(content)
    assert localize.main(_args(pair, **{what: bad})) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err


def test_mismatched_weights_are_refused(pair, capsys, smoke_suite):
    other = make_method("supervised", smoke_suite)
    _save(other, "xpl", smoke_suite, pair / "sup.pt")  # a record that claims xpl over supervised weights
    assert localize.main(_args(pair, **{"--checkpoint": pair / "sup.pt"})) == 2
    assert "expected weights of models ['a', 'b']" in capsys.readouterr().err
    assert localize.main(_args(pair, **{"--audio": pair / "missing.wav"})) == 2
    assert "audio file not found" in capsys.readouterr().err


def test_checkpoint_method_must_be_confirmed(pair, capsys, smoke_suite):
    """Without a run.json a checkpoint's method comes from its run record; with neither it is refused
    (a supervised checkpoint used to load silently as hard_pl, whose models it fits)."""
    sup = pair / "sup"
    sup.mkdir()
    _save(make_method("supervised", smoke_suite), "supervised", smoke_suite, sup / "best_model.pt")
    argv = _args(pair, **{"--method": "hard_pl", "--checkpoint": sup / "best_model.pt"})
    assert localize.main(argv) == 2
    assert "is of method 'supervised', not 'hard_pl'" in capsys.readouterr().err
    _save(make_method("supervised", smoke_suite), "supervised", smoke_suite, sup / "old.pt", record=False)
    argv = _args(pair, **{"--method": "hard_pl", "--checkpoint": sup / "old.pt"})
    assert localize.main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot confirm which method" in err and "--run-json" in err and str(sup / "old.pt") in err
    (pair / "run.json").write_text(json.dumps({"config": _record("supervised", smoke_suite)}))
    assert localize.main([*argv[:-2], "--run-json", str(pair / "run.json")]) == 2  # refused by the record
    assert "is of method 'supervised'" in capsys.readouterr().err
    sup_argv = _args(pair, **{"--method": "supervised", "--checkpoint": sup / "old.pt"})
    assert localize.main([*sup_argv, "--run-json", str(pair / "run.json")]) == 0


@pytest.mark.parametrize("case, message", [
    ("profile", "Unknown profile 'nope'"),
    ("out", "is not a folder"),
    ("export", "is not a folder"),
    ("run_json", "not a valid run.json"),
    ("run_json_keys", "not a valid run.json"),
])
def test_bad_cli_values_are_one_error_line(pair, capsys, case, message):
    (pair / "file").write_text("")
    over = {"profile": {"--profile": "nope"}, "out": {"--out": pair / "file" / "o.png"}}.get(case, {})
    argv = _args(pair, **over)
    if case == "export":
        argv = ["--method", "center", "--profile", "smoke", "--export-predictions", str(pair / "file" / "p.npz")]
    if case.startswith("run_json"):
        (pair / "run.json").write_text("{not json" if case == "run_json" else '{"config": {}}')
    assert localize.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (pair / "overlay.png").exists()
