"""The map diagnostic: its statistics on maps built to have them, and the command on a run folder."""
from __future__ import annotations

import json

import pytest
import torch

import methods
from benchmark import diagnose
from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.localize import InputError, run_record
from benchmark.suites import Budget, role_specs
from benchmark.trainer import prepare_training
from methods.common.localizer import unwrap
from methods.config import given
from tests.conftest import make_method, same_state


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


def _run_folder(folder, suite, seed=0, weights=True):
    """A finished supervised run's folder under the smoke profile: run.json, and best_model.pt if `weights`."""
    folder.mkdir()
    model = role_specs(suite.model_spec, methods.get_method("supervised").model_roles)
    record = {"method": "supervised", "method_config": None, "model": model, "data": given(suite.data),
              "profile": "smoke", "dataset": "synthetic", "budget": given(suite.budget), "tests": ["flickr"],
              "seed": seed}
    if weights:
        state = {k: v.state_dict() for k, v in make_method("supervised", suite).build_models().items()}
        torch.save({**state, WEIGHTS_RECORD: record}, folder / "best_model.pt")
    (folder / "run.json").write_text(json.dumps({"config": record}))
    return folder


def test_command_on_a_run_folder(tmp_path, smoke_suite, capsys):
    run = _run_folder(tmp_path / "seed0", smoke_suite)
    assert diagnose.main([str(run), str(tmp_path / "missing")]) == 2  # a bad folder is named, the others run
    out, err = capsys.readouterr()
    assert "supervised seed 0 on flickr (32 images, 8x8 map): constant maps" in out
    assert "missing: no run.json" in err
    s = diagnose.diagnose(run)
    assert s["n"] == 32 and 0 <= s["peak_on_border"] <= 1 and -1 <= s["same_map_other_sound"] <= 1


def test_at_init_rebuilds_the_models_the_training_started_from(tmp_path, smoke_suite, smoke_domains, accelerator):
    run = _run_folder(tmp_path / "seed3", smoke_suite, seed=3, weights=False)  # run.json is enough
    budget = Budget(steps=2, global_batch_size=8, eval_every=2, eval_batch_size=32)
    started = prepare_training(make_method("supervised", smoke_suite), smoke_domains["flickr"], budget, 3,
                               accelerator)[0]
    rebuilt = diagnose.untrained(run_record(run / "run.json"), run / "run.json").models
    assert same_state(rebuilt["a"].state_dict(), unwrap(started["a"]).state_dict())
    other_seed = diagnose.untrained({**run_record(run / "run.json"), "seed": 4}, run / "run.json").models
    assert not same_state(other_seed["a"].state_dict(), rebuilt["a"].state_dict())
    assert diagnose.main([str(run), "--at-init"]) == 0
    assert diagnose.diagnose(run, at_init=True)["weights"] == "initial"
    with pytest.raises(InputError, match="best_model.pt"):  # without --at-init the trained weights are needed
        diagnose.diagnose(run)


def test_at_init_takes_a_recorded_pretrained_file_from_another_path(tmp_path, smoke_suite):
    """A run trained elsewhere records its pretrained file's path there: --weights names this machine's copy,
    whose content must be the recorded one."""
    from safetensors.torch import save_file

    from methods.common.backbones import LightVisualCNN
    from methods.common.weights import file_sha256

    run = _run_folder(tmp_path / "seed0", smoke_suite, weights=False)
    record = json.loads((run / "run.json").read_text())
    visual = record["config"]["model"]["a"]["visual"]
    copy, other = tmp_path / "copy.safetensors", tmp_path / "other.safetensors"
    state = LightVisualCNN(**{k: v for k, v in visual.items() if k != "type"}).state_dict()
    save_file(state, str(copy))
    save_file({k: v + 1 for k, v in state.items()}, str(other))
    visual.update(weights="/elsewhere/light_cnn.safetensors", weights_sha256=file_sha256(copy))
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="run.json: light_cnn weights file not found: /elsewhere"):
        diagnose.diagnose(run, at_init=True)
    with pytest.raises(InputError, match="has sha256"):  # a different file under the same type
        diagnose.diagnose(run, at_init=True, weights={"light_cnn": str(other)})
    assert diagnose.diagnose(run, at_init=True, weights={"light_cnn": str(copy)})["n"] == 32
    assert diagnose.main([str(run), "--at-init", "--weights", f"light_cnn={copy}"]) == 0
