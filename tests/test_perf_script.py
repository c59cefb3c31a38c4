"""`python -m benchmark.perf` runs (numbers are printed, never asserted: they depend on the machine)."""
from __future__ import annotations

from benchmark import perf


def test_perf_script_runs_on_the_smoke_profile(capsys, tmp_path):
    assert perf.main(["--profile", "smoke", "--steps", "1", "--warm", "0", "--skip-metrics",
                      "--methods", "supervised,xpl", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## Training efficiency" in out and "| xpl " in out and "× supervised" in out
    assert "## XPL state per model at 144k samples" in out
    assert "| colour RandAugment (2 ops) " in out and "| EZ-VSL resize + crop + flip " in out


def test_perf_with_the_paper_profiles_shapes(capsys, tmp_path):
    """No real data needed: random tensors of the paper's shapes (224 px, VGGish frames, SoundNet waveform)."""
    assert perf.main(["--profile", "paper", "--batch", "2", "--steps", "1", "--warm", "0", "--skip-metrics",
                      "--methods", "xpl", "--results-dir", str(tmp_path)]) == 0
    assert "| xpl " in capsys.readouterr().out


def test_metrics_speed_times_every_protocol_and_the_runners_pair():
    from benchmark.protocols import PROTOCOLS

    rows = perf.metrics_speed(n=12, repeats=1)
    assert [r.split(" (")[0] for r in rows["computed"]] == \
        [f"protocol {p}" for p in PROTOCOLS] + ["ezvsl and fixed0.5", "every protocol"]
    assert (rows["maps"] == 12).all() and (rows["s"] > 0).all() and "reference s" not in rows


def test_metrics_against_the_reference_loop(capsys, monkeypatch, tmp_path):
    """`--metrics` times tests/metrics_reference.py on the same maps and checks they agree; without tests/ it
    says so and times the vectorised code alone."""
    assert perf.main(["--metrics", "--maps", "6"]) == 0
    out = capsys.readouterr().out
    assert "reference s" in out and "speed-up" in out
    rows = [line for line in out.splitlines() if line.startswith("|      6 ")]
    assert len(rows) == 8 and all(line.rstrip(" |").endswith("True") for line in rows)
    monkeypatch.setattr(perf, "REFERENCE", tmp_path / "metrics_reference.py")
    assert perf.main(["--metrics", "--maps", "6"]) == 0
    out = capsys.readouterr().out
    assert "no reference timing" in out and "reference s" not in out
