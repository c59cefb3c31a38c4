"""Experiment trackers (run_all --log-with) and the progress lines printed when output is not a terminal:
what they record, that they change no number, and the error when a tracker's package is missing."""
from __future__ import annotations

import json

import pytest
from accelerate import Accelerator
from accelerate.tracking import GeneralTracker

import run_all
from benchmark import tracking
from benchmark.suites import Budget
from benchmark.tracking import flat_config, tracked
from benchmark.trainer import train
from conftest import assert_same_nested, make_method

BUDGET = Budget(steps=42, global_batch_size=8, eval_every=21, ckpt_every=100, eval_batch_size=32)


class FakeTracker(GeneralTracker):
    name, requires_logging_directory, main_process_only = "fake", False, True

    def __init__(self):
        super().__init__()
        self.config, self.logged, self.finished = None, [], 0

    @property
    def tracker(self):
        return self

    def store_init_configuration(self, values):
        self.config = values

    def log(self, values, step=None, **kwargs):
        self.logged.append((step, values))

    def finish(self):
        self.finished += 1


def _train(method, data, accelerator, tmp_path, lines):
    return train(method, data, budget=BUDGET, seed=0, accelerator=accelerator, ckpt_dir=tmp_path,
                 run_meta={"config_hash": "h"}, log=lines.append, name="xpl/seed0")


def test_trackers_record_config_losses_and_validation_and_change_nothing(smoke_suite, smoke_domains, tmp_path):
    data = smoke_domains["flickr"]
    overrides = {"rho_floor": -1.0, "ramp_r0": 0.5, "min_epoch_steps": 2, "warmup_fraction": 0.0}
    plain, lines = make_method("xpl", smoke_suite, overrides), []
    res = _train(plain, data, Accelerator(cpu=True), tmp_path / "a", lines)

    fake = FakeTracker()
    acc = Accelerator(cpu=True, log_with=[fake])
    tracked_method = make_method("xpl", smoke_suite, overrides)
    with tracked(acc, "xpl/seed0", {"seed": 0, "method_config": {"beta": 0.5, "grid": [1, 2]}, "x": None}):
        res_tracked = _train(tracked_method, data, acc, tmp_path / "b", [])
    assert fake.finished == 1 and acc.trackers == []
    assert fake.config == {"seed": 0, "method_config/beta": 0.5, "method_config/grid": "[1, 2]", "x": "null"}

    steps = [step for step, values in fake.logged if "train/loss" in values]
    assert steps == [1, 21, 41]  # every LOG_EVERY steps, at the optimizer steps done
    assert any("train/l_cross_a" in values for _, values in fake.logged)  # the method's own logs
    val = [(step, values) for step, values in fake.logged if "val/ciou" in values]
    assert [step for step, _ in val] == [21, 42]
    assert [values["val/ciou"] for _, values in val] == [p["ciou"] for p in res.history]
    assert "val/agreement_ab" in val[0][1] and "val/admitted" in val[-1][1]  # XPL's diagnostics

    assert_same_nested(res_tracked.history, res.history)  # logging changes no number
    assert_same_nested(tracked_method.extra_state(), plain.extra_state())
    assert all(a.equal(b) for k in plain.models for a, b in
               zip(plain.models[k].state_dict().values(), tracked_method.models[k].state_dict().values()))

    # tqdm is off here (TQDM_DISABLE, as when output is not a terminal): one line per validation point
    assert len(lines) == 2 and lines[0].startswith("xpl/seed0: step 21/42, val CIoU ")
    assert "elapsed 0:00:" in lines[1] and lines[1].endswith("ETA 0:00:00")


def test_log_with_a_missing_package_is_refused_before_anything_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tracking, "is_tensorboard_available", lambda: False)
    code = run_all.main(["--suite", "table1", "--profile", "smoke", "--results-dir", str(tmp_path),
                         "--log-with", "tensorboard"])
    assert code == 2 and not any(tmp_path.iterdir())
    assert "--log-with tensorboard needs the tensorboard package: pip install -e '.[tensorboard]'" in capsys.readouterr().err


def test_run_all_logs_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # one training domain: what is logged does not depend on which
    args = ["--suite", "table1", "--profile", "smoke", "--methods", "supervised", "--seeds", "0",
            "--evaluations", "flickr"]
    assert run_all.main(args + ["--results-dir", str(tmp_path / "plain")]) == 0
    assert run_all.main(args + ["--results-dir", str(tmp_path / "tb"), "--log-with", "tensorboard"]) == 0
    runs = sorted((tmp_path / "tb" / "trackers").glob("table1/runs/smoke/train-*/supervised/seed0"))
    assert runs
    events = EventAccumulator(str(runs[0])).Reload()
    assert {"train/loss", "train/l_sup", "val/ciou", "val/auc"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("val/ciou")] == [3, 6]
    for plain in (tmp_path / "plain").glob("table1/runs/smoke/**/metrics.json"):
        logged = tmp_path / "tb" / plain.relative_to(tmp_path / "plain")
        a, b = json.loads(plain.read_text()), json.loads(logged.read_text())
        assert (a["tests"], a["best_val"]) == (b["tests"], b["best_val"])


def test_flat_config_keeps_scalars_and_writes_the_rest_as_json():
    assert flat_config({"a": {"b": {"c": 1}}, "d": (1, "x"), "e": True}) == {"a/b/c": 1, "d": '[1, "x"]', "e": True}
