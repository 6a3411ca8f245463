"""Figures for finite MDPs: value tables with numbers and arrows for all optimal actions.

Grid-shaped tasks are drawn like the book's Figures 3.2, 3.5 and 4.1: the values as a coloured
table with their numbers, and beside it the grid with an arrow for every optimal (or greedy)
action, so ties show as several arrows. Other tasks get a bar chart of the values and a table of
which actions are optimal in each state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlgen.figures import pyplot, save_figure
from rlgen.mdp.model import MDP

ARROWS = {"up": (0, -1), "down": (0, 1), "right": (1, 0), "left": (-1, 0)}
"""(dx, dy) of an action's arrow in image coordinates (y grows downwards)"""


def draw_values(
    ax: Any, mdp: MDP, values: np.ndarray, *, decimals: int = 1, title: str = ""
) -> None:
    """The values of a grid task as a heatmap with each cell's number."""
    assert mdp.grid is not None
    rows, cols = mdp.grid
    grid = values.reshape(rows, cols)
    ax.imshow(grid, cmap="RdYlGn", interpolation="nearest")
    spread = np.ptp(grid) or 1.0
    mid = grid.min() + spread / 2
    size = 10 if cols <= 5 else 7
    for s in range(mdp.n_states):
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
    _grid_frame(ax, mdp, title)


def draw_actions(ax: Any, mdp: MDP, actions: np.ndarray, *, title: str = "") -> None:
    """An arrow for every optimal action of every state (ties: several arrows); terminal grey."""
    assert mdp.grid is not None
    rows, cols = mdp.grid
    ax.imshow(np.where(mdp.terminal, 0.85, 1.0).reshape(rows, cols), cmap="gray", vmin=0, vmax=1)
    for s in range(mdp.n_states):
        r, c = divmod(s, cols)
        others = []
        for a in np.flatnonzero(actions[s]):
            name = mdp.action_names[a]
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
    _grid_frame(ax, mdp, title)


def _grid_frame(ax: Any, mdp: MDP, title: str) -> None:
    assert mdp.grid is not None
    rows, cols = mdp.grid
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
    mdp: MDP,
    values: np.ndarray,
    actions: np.ndarray,
    *,
    title: str,
    actions_title: str = "optimal actions (all ties)",
    decimals: int = 1,
) -> Path:
    """Values and optimal actions of one task, side by side; saved as a PNG."""
    plt = pyplot()
    path = Path(path)
    if mdp.grid is not None:
        rows, cols = mdp.grid
        width = max(3.0, 0.62 * cols)
        fig, (left, right) = plt.subplots(1, 2, figsize=(2 * width + 0.6, 0.62 * rows + 1.0))
        draw_values(left, mdp, values, decimals=decimals, title="values")
        draw_actions(right, mdp, actions, title=actions_title)
    else:
        fig, (left, right) = plt.subplots(2, 1, figsize=(9, 5.5), height_ratios=(2, 1))
        left.bar(np.arange(mdp.n_states), values, width=1.0, color="#4c72b0")
        left.set_ylabel("value")
        left.set_xlim(-0.5, mdp.n_states - 0.5)
        right.imshow(actions.T, aspect="auto", cmap="Blues", interpolation="nearest")
        right.set_yticks(range(mdp.n_actions), mdp.action_names, fontsize=7)
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
