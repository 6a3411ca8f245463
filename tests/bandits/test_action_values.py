"""Action-value estimates: the incremental updates checked by hand, and tie-breaking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlgen.bandits import ActionValues, Agent, argmax_random_ties


def test_one_update_of_two_runs_by_hand():
    # two arms, two runs; run 0 takes arm 1 (flat index 1 * 2 + 0), run 1 takes arm 0 (index 1)
    values = ActionValues(2, 2, initial=1.0)
    values.update(np.array([2, 1]), np.array([3.0, -1.0]))
    # the first sample average is the reward itself, whatever Q1 was
    np.testing.assert_array_equal(values.Q, [[1.0, -1.0], [3.0, 1.0]])
    np.testing.assert_array_equal(values.N, [[0, 1], [1, 0]])
    constant = ActionValues(2, 2, initial=1.0, alpha=0.25)
    constant.update(np.array([2, 1]), np.array([3.0, -1.0]))
    np.testing.assert_array_equal(constant.Q, [[1.0, 0.5], [1.5, 1.0]])  # 1 + (R - 1) / 4


def test_incremental_sample_average_equals_batch_mean(one_run):
    # one arm: every reward updates the same estimate, Q_{n+1} = Q_n + (R_n - Q_n) / n (eq. 2.3)
    res = one_run(Agent("greedy"), [0.7], steps=500)
    assert res.estimates[0, 0] == pytest.approx(res.reward.mean(), rel=1e-12)


def test_constant_step_size_is_exponential_recency_weighted_average(one_run):
    # eq. 2.6: Q_{n+1} = (1 - a)^n Q_1 + sum_i a (1 - a)^(n - i) R_i
    alpha, q1, n = 0.1, 5.0, 40
    res = one_run(Agent("greedy", alpha=alpha, initial=q1), [-0.3], steps=n)
    weights = alpha * (1 - alpha) ** (n - 1 - np.arange(n))
    expected = (1 - alpha) ** n * q1 + weights @ res.reward
    assert res.estimates[0, 0] == pytest.approx(expected, rel=1e-12)


def test_ties_are_broken_uniformly_at_random():
    k, runs = 4, 40_000
    values = np.zeros((k, runs))
    values[3] = -1.0  # arm 3 is never a maximum
    counts = np.bincount(argmax_random_ties(values, np.random.default_rng(1)), minlength=k)
    assert counts[3] == 0
    expected = runs / 3
    sd = math.sqrt(runs * (1 / 3) * (2 / 3))
    assert np.all(np.abs(counts[:3] - expected) < 4 * sd), counts


def test_a_unique_maximum_needs_no_randomness():
    values = np.array([[0.1, 0.9], [0.5, 0.2], [0.3, 0.4]])
    assert argmax_random_ties(values, np.random.default_rng(0)).tolist() == [1, 0]
