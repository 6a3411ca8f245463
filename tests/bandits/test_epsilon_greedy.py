"""ε-greedy: the vectorised agent against the book's loop, and Figure 2.2 statistically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlgen.bandits import Agent, BanditConfig, experiment, simulate, simulate_loop


def test_vectorised_simulator_agrees_with_the_loop_reference():
    """Same agent, same tasks, independent noise: means agree within 4 standard errors."""
    rng = np.random.default_rng(11)
    q_star = rng.normal(size=(400, 10))
    agent = Agent("eps-greedy", epsilon=0.1)
    steps = 150
    fast = simulate(agent, q_star, steps, np.random.default_rng(1))
    loop_reward, loop_optimal = simulate_loop(agent, q_star, steps, np.random.default_rng(2))
    # averages over the last 50 steps; per-run spread measured from the vectorised run
    window = slice(steps - 50, steps)
    se_reward = fast.per_run["reward_all"].std(ddof=1) / math.sqrt(400)
    assert abs(fast.reward[window].mean() - loop_reward[window].mean()) < 4 * math.sqrt(2) * (
        se_reward + 1 / math.sqrt(400 * 50)
    )
    p = fast.optimal[window].mean()
    se_optimal = fast.per_run["optimal_all"].std(ddof=1) / math.sqrt(400)
    assert abs(p - loop_optimal[window].mean()) < 4 * math.sqrt(2) * (
        se_optimal + math.sqrt(p * (1 - p) / (400 * 50))
    )


def test_the_loop_reference_covers_only_greedy_and_eps_greedy():
    with pytest.raises(ValueError, match="greedy and eps-greedy"):
        simulate_loop(Agent("ucb"), np.zeros((1, 2)), 1, np.random.default_rng(0))


def test_epsilon_1_picks_every_arm_uniformly():
    # ε = 1: every action is the random arm floor(k u / ε); with one optimal arm of 5 the
    # fraction of optimal actions is 1/5 (2000 runs x 10 steps, 4 binomial standard errors)
    q_star = np.tile(np.arange(5.0), (2000, 1))
    result = simulate(Agent("eps-greedy", epsilon=1.0), q_star, 10, np.random.default_rng(4))
    assert abs(result.optimal.mean() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 20_000)


def test_greedy_always_takes_its_greedy_arm():
    # the pooled asymptote statistic 1 - ε + ε/k is exactly 1 for ε = 0
    q_star = np.random.default_rng(0).normal(size=(100, 10))
    result = simulate(Agent("greedy"), q_star, 200, np.random.default_rng(1))
    assert result.pooled["optimal_when_greedy_optimal"] == 1.0
    assert result.pooled["greedy_optimal_steps"] > 0


# --- Figure 2.2, statistically -----------------------------------------------------------------


@pytest.fixture(scope="module")
def figure_2_2():
    return experiment(BanditConfig(runs=2000, steps=1000, seed=2026))


def _mean_se(result, key):
    values = result.per_run[key]
    return values.mean(), values.std(ddof=1) / math.sqrt(values.size)


def test_greedy_finds_the_optimal_action_in_about_a_third_of_tasks(figure_2_2):
    mean, se = _mean_se(figure_2_2[0], "optimal_last_100")
    assert abs(mean - 1 / 3) <= 3 * se + 0.05


def test_eps_0_1_is_optimal_about_80_percent_after_1000_steps(figure_2_2):
    mean, se = _mean_se(figure_2_2[2], "optimal_last_100")
    assert abs(mean - 0.80) <= 3 * se + 0.03
    assert mean <= 0.91 + 3 * se  # and never above the asymptote 1 - eps + eps / k


def test_eps_0_01_is_slower_than_eps_0_1(figure_2_2):
    diff = figure_2_2[2].per_run["optimal_last_100"] - figure_2_2[1].per_run["optimal_last_100"]
    assert diff.mean() > 3 * diff.std(ddof=1) / math.sqrt(diff.size)


def test_greedy_has_the_lowest_long_run_reward(figure_2_2):
    rewards = [r.per_run["reward_last_100"].mean() for r in figure_2_2]
    assert rewards[0] < rewards[1] and rewards[0] < rewards[2]
