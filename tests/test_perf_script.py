"""`python -m benchmark.perf` runs (numbers are printed, never asserted: they depend on the machine)."""
from __future__ import annotations

from benchmark import perf


def test_perf_script_runs_on_the_smoke_profile(capsys, tmp_path):
    assert perf.main(["--profile", "smoke", "--steps", "1", "--warm", "1", "--skip-metrics",
                      "--methods", "supervised,xpl", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## Training efficiency" in out and "| xpl " in out and "× supervised" in out
    assert "## XPL state per model at 144k samples" in out
    assert "| colour RandAugment (2 ops) " in out and "| EZ-VSL resize + crop + flip " in out


def test_perf_with_the_paper_profiles_shapes(capsys, tmp_path):
    """No real data needed: random tensors of the paper's shapes (224 px, VGGish frames, SoundNet waveform)."""
    assert perf.main(["--profile", "paper", "--batch", "2", "--steps", "1", "--warm", "1", "--skip-metrics",
                      "--methods", "xpl", "--results-dir", str(tmp_path)]) == 0
    assert "| xpl " in capsys.readouterr().out


def test_metrics_speed_compares_like_for_like_and_checks_identity():
    from benchmark.perf_metrics import metrics_speed
    from benchmark.protocols import PROTOCOLS

    rows = metrics_speed(n=12, repeats=1)
    assert [r["computed"].split(" (")[0] for r in rows] == \
        [f"protocol {p}" for p in PROTOCOLS] + ["ezvsl and fixed0.5", "every protocol"]
    assert all(r["identical"] and r["maps"] == 12 and r["vectorised s"] > 0 for r in rows)
    by = {r["computed"].split(" (")[0]: r["reference s"] for r in rows}
    # like for like: the pair against two reference calls, `all` against every one
    assert by["ezvsl and fixed0.5"] == by["protocol ezvsl"] + by["protocol fixed0.5"]
    assert by["every protocol"] == sum(by[f"protocol {p}"] for p in PROTOCOLS)
