"""Figures for a suite: heatmap overlays like the paper's Fig. 2, and validation curves (Fig. 2d)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmark.io import atomic_path, read_json  # noqa: E402
from benchmark.suites import Evaluation  # noqa: E402


def _runs(suite, results_dir: Path, train: str, label: str):
    from benchmark.runner import run_dir

    dirs = {s: run_dir(results_dir, suite, train, label, s) for s in suite.seeds}
    return {s: d for s, d in dirs.items() if (d / "metrics.json").exists()}


def _suffix(suite) -> str:
    """Figures of the published profile are plain; others carry the profile, so no run overwrites them."""
    return "" if suite.published else f".{suite.profile}"


def _save(fig, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def stability_figure(suite, results_dir: Path, evaluation: Evaluation) -> Path | None:
    """Validation CIoU through training, mean ± std over seeds, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for entry in suite.methods:
        curves = [read_json(d / "run.json").get("val_history", []) for d in
                  _runs(suite, results_dir, evaluation.train, entry.label).values() if (d / "run.json").exists()]
        curves = [c for c in curves if len(c) > 1]
        if not curves:
            continue
        steps = [h["step"] for h in curves[0]]
        vals = np.array([[h["ciou"] for h in c[:len(steps)]] for c in curves if len(c) >= len(steps)])
        mean, std = vals.mean(0), vals.std(0, ddof=1) if len(vals) > 1 else np.zeros(len(steps))
        ax.plot(steps, mean, label=f"{entry.label} (n={len(vals)})")
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="optimizer step", ylabel="validation CIoU (%)", title=f"{suite.name}: {evaluation.title}")
    ax.legend(fontsize=8)
    return _save(fig, results_dir / suite.name / "figures" / f"stability-{evaluation.name}{_suffix(suite)}.png")


def overlay_figure(suite, results_dir: Path, evaluation: Evaluation, domain) -> Path | None:
    """Test images with their GT, and each method's headline map (first seed) overlaid, side by side."""
    cols = []
    for entry in suite.methods:
        runs = _runs(suite, results_dir, evaluation.train, entry.label)
        path = next((d / "previews.json" for d in runs.values() if (d / "previews.json").exists()), None)
        if path is None:
            continue
        prev = read_json(path).get(evaluation.test)
        primary = read_json(path.parent / "metrics.json")["primary_variant"]
        if prev:
            cols.append((entry.label, prev, primary))
    if not cols:
        return None
    ids = cols[0][1]["sample_ids"]
    batch = domain.table.get(domain.table.rows(ids))
    n, size = len(ids), batch["image"].shape[-1]
    fig, axes = plt.subplots(n, len(cols) + 1, figsize=(1.6 * (len(cols) + 1), 1.6 * n), squeeze=False)
    for i in range(n):
        img = batch["image"][i].permute(1, 2, 0).numpy()
        axes[i, 0].imshow(img)
        axes[i, 0].contour(batch["gt"][i].numpy(), levels=[0.25, 0.75], colors=["yellow", "lime"], linewidths=0.8)
        for j, (label, prev, primary) in enumerate(cols, start=1):
            m = torch.tensor(prev["maps"][primary][i]).view(1, 1, *prev["shape"])
            m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=True)[0, 0]
            m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-8)
            axes[i, j].imshow(img)
            axes[i, j].imshow(m.numpy(), cmap="jet", alpha=0.5)
            if i == 0:
                axes[i, j].set_title(label, fontsize=7)
        if i == 0:
            axes[i, 0].set_title("image + GT", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    return _save(fig, results_dir / suite.name / "figures" / f"overlays-{evaluation.name}{_suffix(suite)}.png")
