"""The generative figures, drawn from arrays a run directory holds (``images.npz``, metrics).

- rows of images with a label each: inputs over reconstructions, noisy inputs, decoded random
  codes, a sweep's samples (one row per β or latent size);
- the 2-D latent manifold of Kingma & Welling (2014, Figure 4): a grid of points of the unit
  square mapped through the inverse normal CDF (so that equal areas hold equal prior mass) and
  decoded;
- the encoded test set in a 2-D latent space, coloured by class;
- learning curves from ``metrics.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlgen.figures import pyplot, save_figure
from rlgen.metrics import metrics_columns


def tile(images: np.ndarray, cols: int, side: int, pad: int = 1) -> np.ndarray:
    """(n, side * side) images as one (rows * (side + pad), cols * (side + pad)) mosaic."""
    n = len(images)
    rows = max(1, -(-n // cols))
    cell = side + pad
    out = np.ones((rows * cell - pad, cols * cell - pad))
    for i, image in enumerate(np.asarray(images).reshape(n, side, side)):
        r, c = divmod(i, cols)
        out[r * cell : r * cell + side, c * cell : c * cell + side] = image
    return out


def manifold_codes(n: int = 20, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """(n * n, 2) latent points: an n x n grid on [low, high]^2 through the inverse normal CDF.

    Row-major from the top left: z_2 decreases down the rows, z_1 increases along them.
    """
    from scipy.stats import norm

    u = norm.ppf(np.linspace(low, high, n))
    z1, z2 = np.meshgrid(u, u[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1)


def save_image_rows(
    path: str | Path,
    rows: Sequence[tuple[str, np.ndarray]],
    side: int,
    *,
    title: str | None = None,
    width: float = 9.0,
) -> Path:
    """One labelled row of images per ``(label, images (n, P))``."""
    plt = pyplot()
    cols = max(len(images) for _, images in rows)
    height = width * len(rows) / cols + (0.4 if title else 0.1)
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, height), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows, strict=True):
        ax.imshow(tile(images, cols, side), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110, despine=False)


def save_image_grid(
    path: str | Path, images: np.ndarray, side: int, *, cols: int, title: str | None = None
) -> Path:
    """``images`` (n, P) as a square-ish mosaic."""
    plt = pyplot()
    rows = -(-len(images) // cols)
    fig, ax = plt.subplots(figsize=(6, 6 * rows / cols + (0.4 if title else 0)))
    ax.imshow(tile(images, cols, side), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path, dpi=110, despine=False)


def save_latent_scatter(
    path: str | Path,
    codes: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str | None = None,
) -> Path:
    """The 2-D codes (N, 2) of the test images, one colour per class."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    cmap = plt.get_cmap("tab10")
    for c in range(len(class_names)):
        keep = labels == c
        if keep.any():
            ax.scatter(*codes[keep].T, s=3, alpha=0.6, color=cmap(c % 10), label=class_names[c])
    ax.set_xlabel("z1 (encoder mean)")
    ax.set_ylabel("z2 (encoder mean)")
    ax.legend(frameon=False, fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path, dpi=110)


CURVES = (
    ("train/loss", "training loss", "-"),
    ("eval/loss", "validation loss", "o-"),
)


def save_learning_curve(path: str | Path, run_dir: str | Path, *, ylabel: str) -> Path | None:
    """Training and validation loss per epoch from ``run_dir/metrics.csv`` (None if no rows)."""
    cols = metrics_columns(Path(run_dir) / "metrics.csv")
    if "epoch" not in cols or cols["epoch"].size == 0:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key, label, style in CURVES:
        if key in cols:
            keep = ~np.isnan(cols[key])
            ax.plot(cols["epoch"][keep], cols[key][keep], style, ms=3, lw=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, path, dpi=110)
