"""``rlgen reinforce``'s figures, redrawn from a run directory's files alone.

``learning_curve.png``: one seed's training episode returns per update and its evaluation
points, or a sweep's mean and 95% interval across seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlgen.figures import plot_mean_interval, pyplot, save_figure, step_curves
from rlgen.files import read_json
from rlgen.metrics import metrics_columns

CURVES = (
    ("train/episode_return", "training episodes (mean per update)", "-"),
    ("eval/return_greedy", "evaluation, greedy", "o-"),
    ("eval/return_sampled", "evaluation, sampled", "s--"),
)


def plot(run_dir: str | Path, *, threshold: float | None = None) -> Path:
    """``learning_curve.png``: training episode returns per update and the evaluation points.

    A sweep's directory (with ``seed-<n>`` subdirectories) gets the mean across seeds instead.
    ``threshold`` defaults to the one in summary.json, when there is one.
    """
    run_dir = Path(run_dir)
    seed_dirs = sorted(run_dir.glob("seed-*"), key=lambda d: d.name)
    if threshold is None and (run_dir / "summary.json").is_file():
        threshold = read_json(run_dir / "summary.json").get("threshold")
    if seed_dirs:
        return plot_seeds(run_dir, seed_dirs, threshold=threshold)
    plt = pyplot()
    cols = metrics_columns(run_dir / "metrics.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = 0
    for key, name, style in CURVES:
        if key in cols and (m := ~np.isnan(cols[key])).any():
            line_style = {"lw": 1, "alpha": 0.7} if style == "-" else {"ms": 3, "lw": 1}
            ax.plot(cols["step"][m], cols[key][m], style, label=name, **line_style)
            drawn += 1
    if not drawn:  # e.g. an environment without a time limit whose episodes never ended
        ax.text(0.5, 0.5, "no episode ended yet", transform=ax.transAxes, ha="center")
    _threshold_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, run_dir / "learning_curve.png", dpi=110)


def curves(run_dirs: list[Path], key: str, grid: np.ndarray) -> np.ndarray:
    """(runs, len(grid)) ``key`` of each run's metrics, carried forward onto a common step grid."""
    runs = []
    for d in run_dirs:
        cols = metrics_columns(d / "metrics.csv")
        runs.append((cols["step"], cols[key]) if key in cols else (np.empty(0), np.empty(0)))
    return step_curves(runs, grid)


def plot_seeds(
    out: Path, run_dirs: list[Path], *, threshold: float | None = None, label: str | None = None
) -> Path:
    """``learning_curve.png`` of a sweep: mean and 95% interval across seeds."""
    plt = pyplot()
    # a seed stopped by a non-finite loss at its first update has no rows
    steps = [metrics_columns(d / "metrics.csv").get("step", np.empty(0)) for d in run_dirs]
    last = max((float(np.nanmax(s)) for s in steps if s.size), default=0.0)
    grid = np.linspace(0, last, 200)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, name, _ in CURVES:
        name = name.removesuffix(" (mean per update)")
        plot_mean_interval(
            ax, grid, curves(run_dirs, key, grid), label=f"{name} (mean of {len(run_dirs)} seeds)"
        )
    _threshold_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return (shaded: 95% interval of the mean)")
    if label:
        ax.set_title(label)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, out / "learning_curve.png", dpi=110)


def _threshold_line(ax: Any, threshold: float | None) -> None:
    if threshold is not None:
        ax.axhline(threshold, color="grey", lw=0.8, ls=":", label=f"threshold {threshold:g}")
