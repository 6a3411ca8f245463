"""Matplotlib helpers every topic shares: the Agg backend, saving, curves with an interval.

Figures are always drawn from arrays a run directory holds (``metrics.csv``, ``summary.json``),
so each topic's ``plot(run_dir)`` can redraw them later without rerunning anything.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: figures are written to files, never shown.

    Where pyplot is already in use (a notebook, a script of the user's), its backend is left as
    it is: switching it to Agg would stop the user's own figures from showing.
    """
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120, despine: bool = True) -> Path:
    """Lay out ``fig``, write it as PNG to ``path``, close it; returns the path.

    ``despine`` hides the top and right spines of every axes (the house style of line plots;
    pass False for images and heatmaps). The file is replaced atomically.
    """
    import io

    from rlgen.files import atomic_write_bytes

    try:
        if despine:
            for ax in fig.axes:
                ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
    finally:
        pyplot().close(fig)  # also when drawing fails: a long session must not pile them up
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Column means of ``values`` (runs, points) and half-widths of their t-interval.

    NaNs are ignored (a run without a value at that point); columns with fewer than two values
    have a NaN half-width.
    """
    from scipy import stats

    n = np.sum(~np.isnan(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with fewer than two values
        mean = np.nanmean(values, axis=0)  # NaN where no run has a value yet
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1])
        half = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    return mean, np.where(n > 1, half, np.nan)


def plot_mean_interval(
    ax: Any, x: np.ndarray, values: np.ndarray, *, label: str, level: float = 0.95, **style: Any
) -> Any:
    """Draw the mean of ``values`` (runs, len(x)) over ``x`` with its shaded t-interval."""
    mean, half = mean_interval(values, level)
    (line,) = ax.plot(x, mean, label=label, **style)
    ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=0.2, lw=0)
    return line


def step_curves(runs: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """(runs, len(grid)): each run's ``(steps, values)`` carried forward onto a common grid.

    A value holds from its step until the run's next value; before a run's first value, and for a
    run with no values, the curve is NaN. A run that stopped early keeps its last value.
    """
    out = np.full((len(runs), grid.size), np.nan)
    for i, (steps, values) in enumerate(runs):
        keep = ~np.isnan(values)
        steps, values = steps[keep], values[keep]
        if steps.size == 0:
            continue
        idx = np.searchsorted(steps, grid, side="right") - 1
        out[i] = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)
    return out
