"""The gradient bandit: one step of eq. 2.12 by hand, the baseline, the soft-max policy."""

from __future__ import annotations

import numpy as np

from rlgen.bandits import Agent, softmax


def test_one_gradient_bandit_step_on_two_arms_by_hand(one_run):
    # H = (0, 0), pi = (1/2, 1/2); without a baseline, after reward R on arm a (eq. 2.12):
    # H(a) = alpha R (1 - 1/2), H(other) = -alpha R / 2.
    alpha = 0.4
    res = one_run(Agent("gradient", alpha=alpha, baseline=False), [1.0, -1.0], steps=1, seed=3)
    reward = res.reward[0]
    chosen = 0 if res.optimal[0] == 1.0 else 1
    expected = np.empty(2)
    expected[chosen] = alpha * reward * 0.5
    expected[1 - chosen] = -alpha * reward * 0.5
    np.testing.assert_allclose(res.estimates[0], expected, rtol=1e-12)


def test_gradient_bandit_baseline_includes_the_current_reward(one_run):
    # The baseline is the average of the rewards up to and including this one: the first update
    # (R_1 - R_1 = 0) leaves the preferences at zero.
    res = one_run(Agent("gradient", alpha=0.4, baseline=True), [1.0, -1.0], steps=1)
    np.testing.assert_array_equal(res.estimates[0], [0.0, 0.0])


def test_softmax_by_hand_and_without_overflow():
    H = np.array([[0.0, 1000.0], [np.log(3.0), 1000.0]])  # (k=2, runs=2)
    np.testing.assert_allclose(softmax(H), [[0.25, 0.5], [0.75, 0.5]], rtol=1e-12)
    assert H[1, 0] == np.log(3.0)  # the preferences are not modified
