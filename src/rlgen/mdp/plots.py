"""Figures for finite MDPs: value tables with numbers and arrows for all optimal actions.

Grid-shaped tasks are drawn like the book's Figures 3.2, 3.5 and 4.1: the values as a coloured
table with their numbers, and beside it the grid with an arrow for every optimal (or greedy)
action, so ties show as several arrows. Other tasks get a bar chart of the values and a table of
which actions are optimal in each state.

The functions take plain arrays (values, the grid's shape, terminal states, action names), not an
:class:`~rlgen.mdp.model.MDP`, so a command redraws its figures from its run directory alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.figures import pyplot, save_figure

ARROWS = {"up": (0, -1), "down": (0, 1), "right": (1, 0), "left": (-1, 0)}
"""(dx, dy) of an action's arrow in image coordinates (y grows downwards)"""


def draw_values(
    ax: Any,
    values: np.ndarray,
    grid: tuple[int, int],
    *,
    decimals: int = 1,
    title: str = "",
) -> None:
    """The values (S,) of a grid task (S = rows * cols) as a heatmap with each cell's number."""
    rows, cols = grid
    values = np.asarray(values, dtype=float)
    table = values.reshape(rows, cols)
    ax.imshow(table, cmap="RdYlGn", interpolation="nearest")
    spread = np.ptp(table) or 1.0
    mid = table.min() + spread / 2
    size = 10 if cols <= 5 else 7
    for s in range(values.size):
        r, c = divmod(s, cols)
        ax.text(
            c,
            r,
            f"{values[s]:.{decimals}f}",
            ha="center",
            va="center",
            fontsize=size,
            color="black" if abs(values[s] - mid) < 0.35 * spread else "white",
        )
    _grid_frame(ax, grid, title)


def draw_actions(
    ax: Any,
    actions: np.ndarray,
    grid: tuple[int, int],
    terminal: np.ndarray,
    action_names: Sequence[str],
    *,
    title: str = "",
) -> None:
    """An arrow for every optimal action (``actions``: (S, A) bool) of every state (ties: several
    arrows); terminal states (``terminal``: (S,) bool) grey."""
    rows, cols = grid
    terminal = np.asarray(terminal, dtype=bool)
    ax.imshow(np.where(terminal, 0.85, 1.0).reshape(rows, cols), cmap="gray", vmin=0, vmax=1)
    for s in range(terminal.size):
        r, c = divmod(s, cols)
        others = []
        for a in np.flatnonzero(actions[s]):
            name = action_names[int(a)]
            if name in ARROWS:
                dx, dy = ARROWS[name]
                ax.annotate(
                    "",
                    xy=(c + 0.38 * dx, r + 0.38 * dy),
                    xytext=(c, r),
                    arrowprops={"arrowstyle": "->", "lw": 1.3, "color": "#1f4e9a"},
                )
            else:
                others.append(name)
        if others:
            ax.text(c, r + 0.3, ",".join(others), ha="center", va="center", fontsize=6)
    _grid_frame(ax, grid, title)


def _grid_frame(ax: Any, grid: tuple[int, int], title: str) -> None:
    rows, cols = grid
    for x in np.arange(0.5, cols - 1, 1):
        ax.axvline(x, color="#555555", lw=0.8)
    for y in np.arange(0.5, rows - 1, 1):
        ax.axhline(y, color="#555555", lw=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    if title:
        ax.set_title(title, fontsize=10)


def plot_solution(
    path: str | Path,
    values: np.ndarray,
    actions: np.ndarray,
    *,
    grid: tuple[int, int] | None,
    terminal: np.ndarray,
    action_names: Sequence[str],
    title: str,
    actions_title: str = "optimal actions (all ties)",
    decimals: int = 1,
) -> Path:
    """Values (S,) and optimal actions ((S, A) bool) of one task, side by side; saved as a PNG.

    A grid task (``grid`` = (rows, cols)) is drawn as two grids; any other as a bar chart of the
    values over a table of the optimal actions.
    """
    plt = pyplot()
    path = Path(path)
    values = np.asarray(values, dtype=float)
    actions = np.asarray(actions, dtype=bool)
    if grid is not None:
        rows, cols = grid
        width = max(3.0, 0.62 * cols)
        fig, (left, right) = plt.subplots(1, 2, figsize=(2 * width + 0.6, 0.62 * rows + 1.0))
        draw_values(left, values, grid, decimals=decimals, title="values")
        draw_actions(right, actions, grid, terminal, action_names, title=actions_title)
    else:
        n_states, n_actions = actions.shape
        fig, (left, right) = plt.subplots(2, 1, figsize=(9, 5.5), height_ratios=(2, 1))
        # One filled step per state: the look of a bar chart of width 1, drawn as one polygon
        # (a bar per state costs minutes on 100,000 states).
        left.stairs(values, np.arange(n_states + 1) - 0.5, fill=True, color="#4c72b0")
        left.set_ylabel("value")
        left.set_xlim(-0.5, n_states - 0.5)
        right.imshow(actions.T, aspect="auto", cmap="Blues", interpolation="nearest")
        right.set_yticks(range(n_actions), action_names, fontsize=7)
        right.set_xlabel("state")
        right.set_title(actions_title, fontsize=10)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path, despine=False)


def plot_sweeps(
    path: str | Path, sweeps: np.ndarray, changes: np.ndarray, *, title: str, xlabel: str = "sweep"
) -> Path:
    """The largest value change per sweep / iteration, on a log scale."""
    plt = pyplot()
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    positive = changes > 0
    ax.semilogy(sweeps[positive], changes[positive], marker="." if len(sweeps) < 50 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("max |change of v|")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)
