"""The search's figures, drawn from trial stores alone.

- :func:`plot_rewards`: reward per trial (dots) and its moving average (line), one colour per
  search: the controller against random search when both are given;
- :func:`plot_pareto`: validation accuracy against multiply-adds, with the Pareto front (the
  trials no other trial beats on both);
- :func:`plot_architecture`: the best architecture as a graph: a NASNet cell's hidden states,
  operations and combines (like the NASNet paper's figure 4), or the 7 stages of the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.figures import pyplot, save_figure
from rlgen.nas.spaces import Block, SearchSpace, hidden_name, unused_states
from rlgen.nas.store import Trial


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return x
    c = np.cumsum(np.r_[0.0, x])
    i = np.arange(1, x.size + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def pareto_front(cost: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats (cost no higher and accuracy higher), by
    increasing cost."""
    order = sorted(range(len(cost)), key=lambda i: (cost[i], -accuracy[i]))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return front


def plot_rewards(
    searches: Mapping[str, Sequence[Trial]], path: str | Path, *, window: int = 16, title: str = ""
) -> Path:
    """Reward per trial and its moving average, for each labelled search."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (label, trials) in enumerate(searches.items()):
        done = [t for t in trials if t.status == "finished"]
        colour = f"C{k}"
        x = [t.id + 1 for t in done]
        y = [float(t.reward) for t in done if t.reward is not None]
        ax.plot(x, y, ".", color=colour, alpha=0.35, ms=4)
        ax.plot(x, moving_average(y, window), color=colour, lw=2, label=f"{label}")
        failed = [t.id + 1 for t in trials if t.status == "failed"]
        if failed:
            low = min(y) if y else 0.0
            ax.plot(failed, [low] * len(failed), "x", color=colour, ms=5, label=f"{label}: failed")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"reward (dots; line: mean of the last {window})")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, path, dpi=110)


def plot_pareto(trials: Sequence[Trial], path: str | Path, *, title: str = "") -> Path | None:
    """Validation accuracy against millions of multiply-adds; the Pareto front joined up."""
    done = [t for t in trials if t.status == "finished" and t.metrics.get("macs") is not None]
    if not done:
        return None
    plt = pyplot()
    macs = [t.metrics["macs"] / 1e6 for t in done]
    acc = [float(t.accuracy or 0.0) for t in done]
    front = pareto_front(macs, acc)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(macs, acc, s=12, alpha=0.5, label="trials")
    ax.plot([macs[i] for i in front], [acc[i] for i in front], "o-", color="tab:red", ms=4,
            label="Pareto front")  # fmt: skip
    ax.set_xlabel("millions of multiply-adds per image")
    ax.set_ylabel("validation accuracy")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, path, dpi=110)


def plot_architecture(
    space: SearchSpace, arch: Sequence[int], path: str | Path, *, title: str = ""
) -> Path:
    """The architecture as a graph: each searched cell (nasnet) or the stage table (mnas)."""
    plt = pyplot()
    if space.name == "nasnet":
        cells = space.cells_of(arch)
        fig, axes = plt.subplots(len(cells), 1, figsize=(11, 4.2 * len(cells)), squeeze=False)
        for ax, (name, blocks) in zip(axes[:, 0], cells.items(), strict=True):
            _draw_cell(ax, blocks, f"{name} cell")
    else:
        fig, ax = plt.subplots(figsize=(12, 3))
        _draw_stages(ax, space, arch)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110, despine=False)


def _box(ax: Any, x: float, y: float, text: str, colour: str, **kw: Any) -> None:
    ax.text(
        x, y, text, ha="center", va="center", fontsize=kw.pop("fontsize", 7),
        bbox={"boxstyle": kw.pop("style", "round,pad=0.3"), "fc": colour, "ec": "0.3", "lw": 0.8},
        zorder=3, **kw,
    )  # fmt: skip


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate(
        "", xy=end, xytext=start, zorder=1,
        arrowprops={"arrowstyle": "->", "color": "0.45", "lw": 0.8, "shrinkA": 12, "shrinkB": 12},
    )  # fmt: skip


def _draw_cell(ax: Any, blocks: Sequence[Block], title: str) -> None:
    """Hidden states on the left, each block (two operations, a combine) at its depth."""
    depth = {0: 0, 1: 0}
    for j, b in enumerate(blocks):
        depth[2 + j] = 1 + max(depth[b.input_a], depth[b.input_b])
    levels = max(depth.values()) + 1
    where: dict[int, tuple[float, float]] = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    per_level: dict[int, int] = {}
    for j in range(len(blocks)):
        d = depth[2 + j]
        per_level[d] = per_level.get(d, 0) + 1
    seen: dict[int, int] = {}
    for j, b in enumerate(blocks):
        d = depth[2 + j]
        k = seen.get(d, 0)
        seen[d] = k + 1
        y = (per_level[d] - 1) * 1.6 - 3.2 * k
        x = 3.0 * d
        where[2 + j] = (x, y)
        for side, (state, op) in enumerate(((b.input_a, b.op_a), (b.input_b, b.op_b))):
            op_at = (x - 1.4, y + (0.55 if side == 0 else -0.55))
            _box(ax, *op_at, op, "#fde9c9")
            _arrow(ax, where[state], op_at)
            _arrow(ax, op_at, (x, y))
        _box(ax, x, y, f"{'+' if b.combine == 'add' else 'concat'}\nblock {j + 1}", "#cfe3f7")
    out = (3.0 * levels, 0.0)
    for state in unused_states(blocks):
        _arrow(ax, where[state], out)
    _box(ax, *out, "concat\nh[i]", "#d5efd0", fontsize=8)
    for state in (0, 1):
        _box(ax, *where[state], hidden_name(state), "#eeeeee", fontsize=8)
    ys = [p[1] for p in where.values()]
    ax.set_xlim(-1.0, out[0] + 1.0)
    ax.set_ylim(min(ys) - 1.5, max(ys) + 1.5)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def _draw_stages(ax: Any, space: SearchSpace, arch: Sequence[int]) -> None:
    from rlgen.nas.spaces import MNAS_BASE, OPERATION_WORDS

    previous = (0.0, 0.0)
    _box(ax, 0.0, 0.0, "stem\n3x3 conv", "#eeeeee", fontsize=8)
    for i, (s, base) in enumerate(zip(space.stages_of(arch), MNAS_BASE, strict=True)):
        at = (1.6 * (i + 1), 0.0)
        layers = max(1, base.layers + s.layers)
        lines = [f"stage {i + 1}", *OPERATION_WORDS[s.op].split(", ")]
        lines += [f"{s.kernel}x{s.kernel}, x{layers}", f"filters x{s.filters:g}"]
        lines += [f"SE {s.se:g}"] if s.se else []
        lines += ["skip"] if s.skip == "identity" else []
        text = "\n".join([*lines, f"stride {base.stride}"])
        _box(ax, *at, text, "#fde9c9", fontsize=7)
        _arrow(ax, previous, at)
        previous = at
    end = (1.6 * (len(MNAS_BASE) + 1), 0.0)
    _arrow(ax, previous, end)
    _box(ax, *end, "pool\nlinear", "#d5efd0", fontsize=8)
    ax.set_xlim(-0.8, end[0] + 0.8)
    ax.set_ylim(-1.2, 1.2)
    ax.axis("off")
