"""Two CPU processes (Accelerate's debug launcher, gloo) give exactly the 1-process metrics.

Uses a fixed port (29500), so tests here run one after another. The launcher forks, and
forking a process whose OpenMP pool is already running can deadlock, so it runs in a
fresh interpreter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import set_seed

ODD_ROWS = 23  # odd on purpose: the last shard is shorter and padding must be cut


def _metrics(out_dir: str | None = None) -> dict:
    from benchmark.data.domains import load_synthetic_domain
    from benchmark.evaluate import compute_maps, score, summarize
    from benchmark.suites import load_suite
    from tests.conftest import make_method

    suite = load_suite("table1", "smoke")
    acc = Accelerator(cpu=True)
    data = load_synthetic_domain("smoke", "flickr", suite.data_cfg, acc.main_process_first)
    method = make_method("supervised", suite)
    set_seed(0)
    model = acc.prepare(method.build_models()["a"])
    method.attach({"a": model})
    rows = data.rows["test"][:ODD_ROWS]
    maps = compute_maps(method, data, rows, ["main"], acc, batch_size=5)["main"]
    res = summarize(score(maps, data, rows))
    res["map_sum"] = float(maps.double().sum())
    res["n_maps"] = int(maps.shape[0])
    if out_dir:
        with open(os.path.join(out_dir, f"rank{acc.process_index}.json"), "w") as f:
            json.dump(res, f)
    return res


def _worker(out_dir):
    _metrics(out_dir)


def launch_two(worker: str, out_dir: Path) -> None:
    """Run tests.<module>:<worker>(out_dir) on 2 CPU processes in a fresh interpreter."""
    module, func = worker.split(":")
    code = (f"from accelerate import debug_launcher; from {module} import {func}; "
            f"debug_launcher({func}, args=({str(out_dir)!r},), num_processes=2)")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_processes_gather_the_same_metrics(tmp_path, smoke_domains):
    single = _metrics()
    launch_two("tests.test_multiprocess:_worker", tmp_path)
    for rank in (0, 1):
        multi = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert multi["n_maps"] == ODD_ROWS
        # maps may differ in the last bits (thread counts pick other kernels); metrics may not
        assert abs(multi.pop("map_sum") - single["map_sum"]) < 1e-3
        assert multi == {k: v for k, v in single.items() if k != "map_sum"}
