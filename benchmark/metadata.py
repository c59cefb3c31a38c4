"""What goes into run.json so a number can be traced and rerun."""
from __future__ import annotations

import functools
import hashlib
import json
import platform
import resource
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("torch", "torchvision", "torchaudio", "accelerate", "datasets", "numpy", "pandas")


def config_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def git_info() -> dict:
    """Read once per process: the code a run executes is the code imported at start-up."""
    # results/ is output, not code: a rewritten leaderboard must not mark the code dirty
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results")
    return {"commit": _git("rev-parse", "HEAD"), "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(status) if status is not None else None}


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cpu_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def peak_memory_mb(device=None) -> dict:
    """Peak resident memory of this process so far (it only grows, so in a suite it covers every run up to
    this one), and the peak GPU memory allocated by torch when on a GPU."""
    out = {"rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # Linux: KiB
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        out["gpu_allocated"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out
