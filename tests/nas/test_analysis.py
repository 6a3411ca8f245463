"""The architecture-signal measures: features, cross-validated R^2 on known signal and noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlgen.nas.analysis import (
    architecture_signal,
    cross_validated_r2,
    one_hot,
    operation_counts,
)
from rlgen.nas.spaces import make_space


def sample(space, n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_one_hot_has_one_one_per_decision():
    space = make_space("nasnet", blocks=3)
    archs = sample(space, 20)
    x = one_hot(space, archs)
    assert x.shape == (20, sum(space.sizes))
    assert (x.sum(axis=1) == len(space.sizes)).all()
    first = space.sizes[0]
    assert [int(np.argmax(row[:first])) for row in x] == [a[0] for a in archs]


def test_operation_counts_count_each_cells_operations_and_concats():
    space = make_space("nasnet", blocks=2, operations=("identity", "conv3x3", "max_pool3x3"))
    names = [d.name for d in space.decisions]
    arch = [0] * len(names)
    for i, name in enumerate(names):  # normal cell: all conv3x3 and concat; reduction: defaults
        if name.startswith("normal") and "operation" in name:
            arch[i] = 1
        if name.startswith("normal") and "combine" in name:
            arch[i] = 1
    counts = operation_counts(space, [arch])[0]
    # per cell: identity, conv3x3, max_pool3x3, concat
    assert counts.tolist() == [0, 4, 0, 2, 4, 0, 0, 0]
    with pytest.raises(ValueError, match="nasnet"):
        operation_counts(make_space("mnas"), [])


def test_cross_validated_r2_finds_known_signal_and_none_in_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    signal = x @ np.array([1.0, -0.5, 0.0, 0.25, 0.0])
    noise = rng.normal(size=400)
    # y = signal + noise: the best possible R^2 is var(signal) / (var(signal) + 1) = 0.5625
    r2 = cross_validated_r2(x, signal + noise, 1.0)
    assert r2 == pytest.approx(1.3125 / 2.3125, abs=0.08)
    assert cross_validated_r2(x, noise, 1.0) < 0.02
    assert math.isnan(cross_validated_r2(x, np.ones(400), 1.0))
    with pytest.raises(ValueError):
        cross_validated_r2(x[:5], noise[:5], 1.0)


def test_architecture_signal_sees_an_operation_that_matters():
    space = make_space("nasnet")
    archs = sample(space, 300)
    counts = operation_counts(space, archs)
    conv = space.operations.index("conv3x3")
    rng = np.random.default_rng(2)
    flat = 0.8 + 0.01 * rng.normal(size=300)
    graded = flat + 0.02 * counts[:, conv]  # each normal-cell conv3x3 adds 2 points
    none, some = (architecture_signal(space, archs, y, 2000) for y in (flat, graded))
    assert none["children"] == 300 and none["best_r2"] < 0.05
    assert some["best_r2"] > 0.6
    assert some["cv_r2"]["operation_counts"]["1.0"] > some["cv_r2"]["one_hot"]["1.0"]
    assert none["binomial_sd_of_one_accuracy"] == pytest.approx(math.sqrt(0.16 / 2000), rel=0.05)
