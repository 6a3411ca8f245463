"""How much of the children's accuracy their architecture predicts: the signal a controller has.

A controller can beat random search only where the reward depends on the architecture more than
on the noise of training and scoring one child (its initialisation, its batches, the finite
validation set). Given finished children, :func:`architecture_signal` measures that from the
trials alone, with no further training:

- the spread (standard deviation) of the children's validation accuracies, and the binomial
  standard deviation of one accuracy measured on ``val_images`` images, the part of the spread
  that the validation sample alone explains;
- the out-of-fold R^2 of ridge regressions of accuracy on the architecture, 10-fold
  cross-validated: on the one-hot decisions, and (NASNet) on each cell's count of every
  operation and of concat combines. An R^2 near 0 says the architecture predicts next to
  nothing of the accuracy at this proxy's budget, so no controller can do much better than
  random search there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlgen.nas.spaces import SearchSpace

RIDGES = (1.0, 10.0, 100.0, 1000.0)
"""the ridge weights tried (on features of 0/1 indicators or small counts)"""


def one_hot(space: SearchSpace, architectures: Sequence[Sequence[int]]) -> np.ndarray:
    """(N, sum of the decisions' sizes): each decision's choice as a one-hot block."""
    a = np.asarray(architectures, dtype=int).reshape(len(architectures), len(space.sizes))
    return np.concatenate([np.eye(n)[a[:, i]] for i, n in enumerate(space.sizes)], axis=1)


def operation_counts(space: SearchSpace, architectures: Sequence[Sequence[int]]) -> np.ndarray:
    """NASNet: (N, cells * (operations + 1)), per cell the count of each operation among its
    blocks' two operations and the number of blocks that concatenate instead of adding."""
    if space.name != "nasnet":
        raise ValueError("operation counts are defined for the nasnet space")
    a = np.asarray(architectures, dtype=int).reshape(len(architectures), len(space.sizes))
    names = [d.name for d in space.decisions]
    columns = []
    for cell in space.cells:
        ops = [i for i, n in enumerate(names) if n.startswith(cell) and "operation" in n]
        combines = [i for i, n in enumerate(names) if n.startswith(cell) and "combine" in n]
        columns += [(a[:, ops] == k).sum(axis=1) for k in range(len(space.operations))]
        columns.append(a[:, combines].sum(axis=1))
    return np.stack(columns, axis=1).astype(float)


def cross_validated_r2(
    x: np.ndarray, y: np.ndarray, ridge: float, *, folds: int = 10, seed: int = 0
) -> float:
    """Out-of-fold R^2 of ridge regression of ``y`` (N,) on ``x`` (N, F).

    Each fold is predicted by a fit on the others (features and target centred on the training
    folds' means, so the intercept is not penalised); R^2 = 1 - SS_residual / SS_total over all
    N predictions. Below 0 when the predictions are worse than the mean.
    """
    n = len(y)
    if n < folds or x.shape[0] != n:
        raise ValueError(f"need at least {folds} rows and one per target, got {x.shape}, {n}")
    order = np.random.default_rng(seed).permutation(n)
    predicted = np.empty(n)
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        x_mean, y_mean = x[train].mean(axis=0), y[train].mean()
        a = x[train] - x_mean
        w = np.linalg.solve(a.T @ a + ridge * np.eye(x.shape[1]), a.T @ (y[train] - y_mean))
        predicted[fold] = (x[fold] - x_mean) @ w + y_mean
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - predicted) ** 2)) / total if total > 0 else math.nan


def architecture_signal(
    space: SearchSpace,
    architectures: Sequence[Sequence[int]],
    accuracies: Sequence[float],
    val_images: int,
    ridges: Sequence[float] = RIDGES,
) -> dict[str, Any]:
    """The spread of ``accuracies``, its binomial part and the cross-validated R^2 (see the
    module docstring); ``best_r2`` is the largest over features and ridge weights, an
    optimistic figure (chosen after the fact)."""
    y = np.asarray(accuracies, dtype=float)
    features = {"one_hot": one_hot(space, architectures)}
    if space.name == "nasnet":
        features["operation_counts"] = operation_counts(space, architectures)
    r2 = {
        name: {str(r): cross_validated_r2(x, y, r) for r in ridges} for name, x in features.items()
    }
    p = float(np.median(y))
    return {
        "children": len(y),
        "accuracy_mean": float(y.mean()),
        "accuracy_sd": float(y.std(ddof=1)),
        "validation_images": val_images,
        "binomial_sd_of_one_accuracy": math.sqrt(p * (1 - p) / val_images),
        "cv_r2": r2,
        "best_r2": max(v for by_ridge in r2.values() for v in by_ridge.values()),
    }
