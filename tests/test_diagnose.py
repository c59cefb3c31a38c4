"""The map diagnostic: its statistics on maps built to have them, and the command on a run folder."""
from __future__ import annotations

import json

import torch

import methods
from benchmark import diagnose
from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.suites import role_specs
from methods.config import given
from tests.conftest import make_method


def _gt_at(cells, n=8, size=64):
    """(n, size, size) GT masks: one 8-pixel square at map cell (r, c) of an 8x8 map for each image."""
    gt = torch.zeros(n, size, size)
    for i, (r, c) in enumerate(cells):
        gt[i, 8 * r:8 * r + 8, 8 * c:8 * c + 8] = 1
    return gt


def test_a_map_locked_on_the_border_that_ignores_the_sound():
    cells = [(2 + i % 4, 3 + i % 3) for i in range(8)]  # objects inside the map
    locked = torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(0))
    locked[:, 0, 5] += 10  # every image peaks at top-row cell (0, 5)
    s = diagnose.map_statistics(locked, locked.clone(), _gt_at(cells))
    assert s["peak_on_border"] == 1.0 and s["most_common_peak"] == {"cell": [0, 5], "share": 1.0}
    assert s["same_map_other_sound"] == 1.0 and s["constant_maps"] == 0.0
    assert s["border_cells"] == round(28 / 64, 4)


def test_a_map_on_the_object_that_follows_the_sound():
    cells = [(2 + i % 4, 3 + i % 3) for i in range(8)]
    gt = _gt_at(cells)
    on_object = torch.nn.functional.adaptive_avg_pool2d(gt[:, None], (8, 8))[:, 0]
    other = on_object.roll(1, dims=0)  # another sound: the map of another image's object
    s = diagnose.map_statistics(on_object, other, gt)
    assert s["peak_on_border"] == 0.0 and s["map_vs_gt"] == 1.0
    assert s["same_map_other_sound"] < 0  # one-cell maps at different cells: negatively correlated


def test_constant_maps_are_counted_and_correlate_zero():
    s = diagnose.map_statistics(torch.full((4, 8, 8), 1 / 64), torch.full((4, 8, 8), 1 / 64), _gt_at([(3, 3)] * 4, 4))
    assert s["constant_maps"] == 1.0 and s["same_map_other_sound"] == 0.0 and s["map_vs_gt"] == 0.0


def test_command_on_a_run_folder(tmp_path, smoke_suite, capsys):
    run = tmp_path / "seed0"
    run.mkdir()
    model = role_specs(smoke_suite.model_spec, methods.get_method("supervised").model_roles)
    record = {"method": "supervised", "method_config": None, "model": model, "data": given(smoke_suite.data),
              "profile": "smoke", "dataset": "synthetic", "budget": given(smoke_suite.budget), "tests": ["flickr"],
              "seed": 0}
    state = {k: v.state_dict() for k, v in make_method("supervised", smoke_suite).build_models().items()}
    torch.save({**state, WEIGHTS_RECORD: record}, run / "best_model.pt")
    (run / "run.json").write_text(json.dumps({"config": record}))
    assert diagnose.main([str(run), str(tmp_path / "missing")]) == 2  # a bad folder is named, the others run
    out, err = capsys.readouterr()
    assert "supervised seed 0 on flickr (32 images, 8x8 map): constant maps" in out
    assert "missing: no run.json" in err
    s = diagnose.diagnose(run)
    assert s["n"] == 32 and 0 <= s["peak_on_border"] <= 1 and -1 <= s["same_map_other_sound"] <= 1
