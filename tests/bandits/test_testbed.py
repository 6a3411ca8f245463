"""The testbed: true values, the nonstationary random walk, the record of a run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlgen.bandits import MAX_ARMS, Agent, BanditConfig, experiment, simulate, testbed
from rlgen.bandits.testbed import true_values
from rlgen.errors import UserError


def test_true_values_are_normal_around_the_mean_or_all_equal():
    values = true_values(4000, 10, np.random.default_rng(0), true_mean=4.0)
    assert values.shape == (4000, 10)
    assert abs(values.mean() - 4.0) < 4 / math.sqrt(values.size)
    assert abs(values.std() - 1.0) < 0.02
    flat = true_values(3, 2, np.random.default_rng(0), true_mean=-1.0, nonstationary=True)
    np.testing.assert_array_equal(flat, np.full((3, 2), -1.0))


def test_pull_rewards_and_optimal_actions_by_hand():
    # two runs, three arms; the noise is the first draw of the generator (documented order)
    q_star = np.array([[0.0, 2.0, 1.0], [5.0, -1.0, 5.0]])
    noise = np.random.default_rng(0).standard_normal((1, 2))[0]
    bandit = testbed.Testbed(q_star, steps=1)
    for _ in bandit.play(np.random.default_rng(0)):
        reward, taken = bandit.pull(np.array([1, 2]))
        np.testing.assert_array_equal(reward, [2.0 + noise[0], 5.0 + noise[1]])
        np.testing.assert_array_equal(taken, [1 * 2 + 0, 2 * 2 + 1])  # arm * runs + run
    np.testing.assert_array_equal(bandit.optimal, [1.0])  # both took an optimal arm
    assert bandit.reward[0] == pytest.approx((7.0 + noise.sum()) / 2, rel=1e-12)
    q_star[0, 0] = 99.0
    assert bandit.q[0, 0] == 0.0  # the testbed keeps its own copy


def test_too_many_arms_is_a_user_error():
    with pytest.raises(UserError, match=f"--k must be <= {MAX_ARMS}"):
        testbed.Testbed(np.zeros((1, MAX_ARMS + 1)), steps=1)


def test_nonstationary_testbed_starts_equal_and_walks():
    config = BanditConfig(
        agent=("eps-greedy:epsilon=0.1", "eps-greedy:epsilon=0.1,alpha=0.1"),
        runs=300,
        steps=3000,
        nonstationary=True,
        seed=1,
    )
    sample_average, constant = experiment(config)
    # at step 1 every arm is optimal (all q* equal)
    assert sample_average.optimal[0] == 1.0
    # constant step size tracks the walk better (exercise 2.5); the gap is measured paired
    diff = constant.per_run["optimal_last_100"] - sample_average.per_run["optimal_last_100"]
    assert diff.mean() > 3 * diff.std(ddof=1) / math.sqrt(diff.size)


def test_chunks_cover_every_step_and_report_progress():
    done = []
    q_star = np.random.default_rng(0).normal(size=(5, 3))
    result = simulate(
        Agent("ucb"), q_star, 600, np.random.default_rng(1), chunk=256, on_progress=done.append
    )
    assert done == [256, 256, 88]
    assert np.all(np.isfinite(result.reward)) and result.reward.shape == (600,)
    assert np.all((result.optimal >= 0) & (result.optimal <= 1))
