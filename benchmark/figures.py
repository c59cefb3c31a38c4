"""Figures for a suite: heatmap overlays like the paper's Fig. 2, and validation curves (Fig. 2d), drawn from the
runs the leaderboard has read (benchmark/suite_results.py)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmark.io import atomic_path, read_json  # noqa: E402
from benchmark.suites import Evaluation, budget_free  # noqa: E402


def _runs(suite, runs: list, train: str, label: str) -> list:
    """The finished runs of (training domain, label), in the suite's seed order."""
    found = {r.metrics["seed"]: r for r in runs if r.metrics["train"] == train and r.metrics["label"] == label}
    return [found[s] for s in suite.seeds if s in found]


def _suffix(suite) -> str:
    """Figures of the published profile are plain; others carry the profile, so no run overwrites them."""
    return "" if suite.published else f".{suite.profile}"


def save(fig, path: Path, dpi: int = 110) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _unit(image: np.ndarray) -> np.ndarray:
    """An image as floats in [0, 1] (stores hold uint8)."""
    return image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


def heat_overlay(image: np.ndarray, heat: torch.Tensor) -> np.ndarray:
    """`image` (H, W, 3) with `heat` (h, w) over it at half opacity: upsampled as the protocol does (bilinear,
    corners aligned), min-max normalised, jet colours; floats in [0, 1]."""
    image = _unit(image)
    m = F.interpolate(heat[None, None].float(), size=image.shape[:2], mode="bilinear", align_corners=True)[0, 0]
    m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-8)
    return 0.5 * image + 0.5 * plt.get_cmap("jet")(m.numpy())[..., :3]


def draw_heat(ax, image: np.ndarray, heat: torch.Tensor) -> None:
    ax.imshow(heat_overlay(image, heat))


def draw(suite, results_dir: Path, evaluation: Evaluation, runs: list, domains=None) -> list[tuple[str, Path]]:
    """(kind, file) of this evaluation's figures; a figure needs data that older runs may lack, so it may be
    absent, and the overlays need the test domain's images (`domains`)."""
    found = [("stability", stability_figure(suite, results_dir, evaluation, runs))]
    if domains is not None:
        found.append(("overlays", overlay_figure(suite, results_dir, evaluation, runs, domains(evaluation.test))))
    return [(kind, f) for kind, f in found if f is not None]


def stability_figure(suite, results_dir: Path, evaluation: Evaluation, runs: list) -> Path | None:
    """Validation CIoU through training, mean ± std over seeds, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for entry in suite.methods:
        curves = [r.run.get("val_history", []) for r in _runs(suite, runs, evaluation.train, entry.label)]
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
    return save(fig, results_dir / suite.name / "figures" / f"stability-{evaluation.name}{_suffix(suite)}.png")


def overlay_figure(suite, results_dir: Path, evaluation: Evaluation, runs: list, domain) -> Path | None:
    """Test images with their GT, and each method's headline map (first seed) overlaid, side by side."""
    cols = []
    for entry in suite.methods:
        first = next((r for r in _runs(suite, runs, evaluation.train, entry.label)
                      if (r.folder / "previews.json").exists()), None)
        if first is None:
            continue
        prev = read_json(first.folder / "previews.json").get(evaluation.test)
        if prev:
            cols.append((entry.label, prev, first.metrics["primary_variant"]))
    if not cols:
        return None
    ids = cols[0][1]["sample_ids"]
    batch = domain.table.get(domain.table.rows(ids))
    # one mosaic in one axes: a grid of axes costs matplotlib about a second per table (every run_all draws it)
    images = _unit(batch["image"].permute(0, 2, 3, 1).numpy())
    n, (h, w), gap = len(ids), images.shape[1:3], 2
    mosaic = np.ones((n * (h + gap) - gap, (len(cols) + 1) * (w + gap) - gap, 3))
    fig, ax = plt.subplots(figsize=(1.6 * (len(cols) + 1), 1.6 * n))
    for i, img in enumerate(images):
        top = i * (h + gap)
        mosaic[top:top + h, :w] = img
        ax.contour(batch["gt"][i].numpy(), levels=[0.25, 0.75], colors=["yellow", "lime"], linewidths=0.8,
                   extent=(0, w - 1, top, top + h - 1))
        for j, (label, prev, primary) in enumerate(cols, start=1):
            heat = torch.tensor(prev["maps"][primary][i]).view(*prev["shape"])
            mosaic[top:top + h, j * (w + gap):j * (w + gap) + w] = heat_overlay(img, heat)
    ax.imshow(mosaic.clip(0, 1))
    for j, label in enumerate(["image + GT"] + [c[0] for c in cols]):
        ax.text(j * (w + gap) + w / 2, -2, label, ha="center", va="bottom", fontsize=7)
    ax.axis("off")
    return save(fig, results_dir / suite.name / "figures" / f"overlays-{evaluation.name}{_suffix(suite)}.png")


def label_budget_figure(suite, results_dir: Path, agg, groups: dict, sizes: dict, long=None) -> Path | None:
    """Test CIoU against the number of labels (log x), one panel per domain (`groups`: evaluation -> its budgeted
    evaluations, `sizes`: evaluation -> labels), one line per method with its mean ± 95 % CI band over seeds and,
    from `long` (the per-seed results), a dot per seed: a mean over runs of which some died shows as two clusters
    where the band alone looks like spread. The budget-free rows (oracle, floors) are horizontal lines with bands."""
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.8), squeeze=False)
    drawn = False
    for ax, evs in zip(axes[0], groups.values()):
        x = np.array([sizes[ev.name] or np.nan for ev in evs], dtype=float)
        for i, entry in enumerate(suite.methods):
            cells = [agg[(agg.evaluation == ev.name) & (agg.label == entry.label) & agg.primary
                         & (agg.metric == "ciou")] for ev in evs]
            mean = np.array([c["mean"].iloc[0] if len(c) else np.nan for c in cells], dtype=float)
            ci = np.nan_to_num(np.array([c["ci"].iloc[0] if len(c) else np.nan for c in cells], dtype=float))
            if np.isnan(mean).all():
                continue
            drawn, colour = True, f"C{i}"
            if budget_free(entry.name):
                m, c = mean[~np.isnan(mean)][0], ci[~np.isnan(mean)][0]
                ax.axhline(m, color=colour, ls="--", lw=1, label=f"{entry.label} (any budget)")
                ax.axhspan(m - c, m + c, color=colour, alpha=0.12)
            else:
                ax.plot(x, mean, marker="o", color=colour, label=entry.label)
                ax.fill_between(x, mean - ci, mean + ci, color=colour, alpha=0.2)
                if long is not None:  # each method's dots a little to the side of the others' (log x)
                    shift = 1.05 ** (i - (len(suite.methods) - 1) / 2)
                    for ev, at in zip(evs, x):
                        seeds = long[(long.evaluation == ev.name) & (long.label == entry.label) & long.primary
                                     & (long.metric == "ciou")]["value"]
                        ax.scatter(np.full(len(seeds), at * shift), seeds, s=10, color=colour, alpha=0.6,
                                   linewidths=0)
        ax.set_xscale("log")
        ax.set_xticks(x[~np.isnan(x)], [f"{int(n)}\n{ev.budget}" for n, ev in zip(x, evs) if not np.isnan(n)])
        ax.minorticks_off()
        title = next(e.title for e in suite.evaluations if e.name == evs[0].name).rpartition(", label budget")[0]
        ax.set(xlabel="labeled training samples (log scale)", ylabel="test CIoU (%)", title=title,
               ylim=(0, 100))  # a CIoU lies in [0, 100]; a wide interval of few seeds is cut there
    if not drawn:
        plt.close(fig)
        return None
    # one legend for every panel's lines (a method may have landed on one domain only), on the last panel
    legend = {}
    for ax in axes[0]:
        legend.update({label: handle for handle, label in zip(*ax.get_legend_handles_labels())})
    axes[0, -1].legend(legend.values(), legend.keys(), fontsize=7, loc="best")
    dots = "; dots: single seeds" if long is not None else ""
    fig.suptitle(f"{suite.name} ({suite.profile}): CIoU vs labels, mean ± 95 % CI over seeds{dots}", fontsize=9)
    return save(fig, results_dir / suite.name / "figures" / f"ciou_vs_labels{_suffix(suite)}.png")
