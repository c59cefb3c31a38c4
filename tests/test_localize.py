"""The one-pair inference command: an overlay for good input, clear errors for bad input."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from benchmark import localize
from benchmark.data import synthetic
from tests.conftest import make_method


@pytest.fixture()
def pair(tmp_path, smoke_suite):
    s = synthetic.make_sample("flickr", 3)
    Image.fromarray(s["image"]).save(tmp_path / "frame.png")
    sf.write(tmp_path / "clip.wav", np.repeat(s["audio"][:, None], 2, 1), 22050)  # stereo, other rate
    m = make_method("xpl", smoke_suite)
    torch.save({k: v.state_dict() for k, v in m.build_models().items()}, tmp_path / "best_model.pt")
    return tmp_path


def _args(d, **over):
    a = {"--method": "xpl", "--checkpoint": d / "best_model.pt", "--image": d / "frame.png",
         "--audio": d / "clip.wav", "--out": d / "overlay.png", "--profile": "smoke"}
    a.update(over)
    return [str(x) for kv in a.items() for x in kv]


def test_overlay_written(pair):
    assert localize.main(_args(pair)) == 0
    assert (pair / "overlay.png").stat().st_size > 1000
    assert localize.main(_args(pair, **{"--variant": "ensemble"})) == 0


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
    torch.save({k: v.state_dict() for k, v in other.build_models().items()}, pair / "sup.pt")
    assert localize.main(_args(pair, **{"--checkpoint": pair / "sup.pt"})) == 2
    assert "expected weights of models ['a', 'b']" in capsys.readouterr().err
    assert localize.main(_args(pair, **{"--audio": pair / "missing.wav"})) == 2
    assert "audio file not found" in capsys.readouterr().err
