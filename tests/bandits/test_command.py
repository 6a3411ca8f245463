"""The k-armed testbed: hand-checked updates, tie-breaking, determinism, Figure 2.2, bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rlgen import bandits
from rlgen.bandits import Agent, BanditConfig, argmax_random_ties, simulate, ucb_values
from rlgen.cli import main
from rlgen.errors import UserError


def one_run(agent: Agent, q_star, steps: int, seed: int = 0) -> bandits.Result:
    """A single task: then the per-step mean reward is that run's reward sequence."""
    return simulate(agent, np.array([q_star], dtype=float), steps, np.random.default_rng(seed))


# --- estimator updates, checked by hand -------------------------------------------------------


def test_incremental_sample_average_equals_batch_mean():
    # one arm: every reward updates the same estimate, Q_{n+1} = Q_n + (R_n - Q_n) / n (eq. 2.3)
    res = one_run(Agent("greedy"), [0.7], steps=500)
    assert res.estimates[0, 0] == pytest.approx(res.reward.mean(), rel=1e-12)


def test_constant_step_size_is_exponential_recency_weighted_average():
    # eq. 2.6: Q_{n+1} = (1 - a)^n Q_1 + sum_i a (1 - a)^(n - i) R_i
    alpha, q1, n = 0.1, 5.0, 40
    res = one_run(Agent("greedy", alpha=alpha, initial=q1), [-0.3], steps=n)
    weights = alpha * (1 - alpha) ** (n - 1 - np.arange(n))
    expected = (1 - alpha) ** n * q1 + weights @ res.reward
    assert res.estimates[0, 0] == pytest.approx(expected, rel=1e-12)


def test_one_gradient_bandit_step_on_two_arms_by_hand():
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


def test_gradient_bandit_baseline_includes_the_current_reward():
    # The baseline is the average of the rewards up to and including this one: the first update
    # (R_1 - R_1 = 0) leaves the preferences at zero.
    res = one_run(Agent("gradient", alpha=0.4, baseline=True), [1.0, -1.0], steps=1)
    np.testing.assert_array_equal(res.estimates[0], [0.0, 0.0])


def test_ucb_choice_on_a_hand_made_state():
    # t = 111, c = 2: 1 + 2 sqrt(ln 111 / 10) = 2.372, 2 + 2 sqrt(ln 111 / 100) = 2.434,
    # 1.5 + 2 sqrt(ln 111 / 1) = 5.841: the rarely tried third arm wins.
    Q = np.array([[1.0], [2.0], [1.5]])
    N = np.array([[10.0], [100.0], [1.0]])
    values = ucb_values(Q, N, t=111, c=2.0)
    np.testing.assert_allclose(
        values[:, 0],
        [
            1 + 2 * math.sqrt(math.log(111) / 10),
            2 + 2 * math.sqrt(math.log(111) / 100),
            1.5 + 2 * math.sqrt(math.log(111)),
        ],
    )
    assert argmax_random_ties(values, np.random.default_rng(0))[0] == 2
    # an arm never tried is a maximising arm, whatever the estimates
    N[0, 0] = 0
    assert argmax_random_ties(ucb_values(Q, N, t=111, c=2.0), np.random.default_rng(0))[0] == 0
    # c = 0 is greedy
    assert argmax_random_ties(ucb_values(Q, N + 1, t=111, c=0.0), np.random.default_rng(0))[0] == 1


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


# --- agents, determinism ---------------------------------------------------------------------


def test_agent_expansion_and_inline_parameters():
    config = BanditConfig(
        agent=("eps-greedy", "ucb:c=1", "gradient:baseline=false", "greedy:initial=5,alpha=0.1"),
        epsilon=(0.0, 0.1),
    )
    assert [a.name for a in config.agents] == [
        "eps-greedy(epsilon=0)",
        "eps-greedy(epsilon=0.1)",
        "ucb(c=1)",
        "gradient(alpha=0.1, baseline=False)",
        "greedy(alpha=0.1, initial=5)",
    ]


def test_same_seed_same_arrays_other_seed_other_arrays():
    config = BanditConfig(agent=("eps-greedy", "ucb", "gradient"), runs=50, steps=200, seed=7)
    first, second = bandits.experiment(config), bandits.experiment(config)
    other = bandits.experiment(BanditConfig(**{**config.__dict__, "seed": 8}))
    for a, b, c in zip(first, second, other, strict=True):
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.optimal, b.optimal)
        np.testing.assert_array_equal(a.estimates, b.estimates)
        assert not np.array_equal(a.reward, c.reward)


def test_adding_an_agent_changes_no_other_agent():
    alone = bandits.experiment(BanditConfig(epsilon=(0.1,), runs=30, steps=100))
    together = bandits.experiment(
        BanditConfig(agent=("eps-greedy", "ucb"), epsilon=(0.1,), runs=30, steps=100)
    )
    np.testing.assert_array_equal(alone[0].reward, together[0].reward)


def test_vectorised_simulator_agrees_with_the_loop_reference():
    """Same agent, same tasks, independent noise: means agree within 4 standard errors."""
    rng = np.random.default_rng(11)
    q_star = rng.normal(size=(400, 10))
    agent = Agent("eps-greedy", epsilon=0.1)
    steps = 150
    fast = simulate(agent, q_star, steps, np.random.default_rng(1))
    loop_reward, loop_optimal = bandits.simulate_loop(
        agent, q_star, steps, np.random.default_rng(2)
    )
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


def test_nonstationary_testbed_starts_equal_and_walks():
    config = BanditConfig(
        agent=("eps-greedy:epsilon=0.1", "eps-greedy:epsilon=0.1,alpha=0.1"),
        runs=300,
        steps=3000,
        nonstationary=True,
        seed=1,
    )
    sample_average, constant = bandits.experiment(config)
    # at step 1 every arm is optimal (all q* equal)
    assert sample_average.optimal[0] == 1.0
    # constant step size tracks the walk better (exercise 2.5); the gap is measured paired
    diff = constant.per_run["optimal_last_100"] - sample_average.per_run["optimal_last_100"]
    assert diff.mean() > 3 * diff.std(ddof=1) / math.sqrt(diff.size)


# --- Figure 2.2, statistically -----------------------------------------------------------------


@pytest.fixture(scope="module")
def figure_2_2():
    return bandits.experiment(BanditConfig(runs=2000, steps=1000, seed=2026))


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


# --- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "--k must be in [1, 32767], got 0"),
        ({"runs": 0}, "--runs must be >= 1, got 0"),
        ({"steps": -5}, "--steps must be >= 1, got -5"),
        ({"epsilon": (0.1, 1.5)}, "--epsilon must be in [0, 1], got 1.5"),
        ({"epsilon": (-0.1,)}, "--epsilon must be in [0, 1], got -0.1"),
        ({"alpha": (0.0,)}, "--alpha must be in (0, 1], got 0"),
        ({"alpha": (1.2,)}, "--alpha must be in (0, 1], got 1.2"),
        ({"c": (-1.0,)}, "--c must be >= 0, got -1"),
        ({"agent": ("thompson",)}, "--agent: unknown agent 'thompson'"),
        ({"agent": ("ucb:epsilon=0.1",)}, "ucb takes c, alpha, initial"),
        ({"agent": ("eps-greedy:epsilon=2",)}, "--epsilon must be in [0, 1], got 2"),
        ({"agent": ("gradient:baseline=maybe",)}, "baseline must be true or false"),
        ({"agent": ()}, "--agent: give at least one"),
        ({"walk_std": -1.0}, "--walk-std must be >= 0"),
        ({"k": 40_000}, "--k must be in [1, 32767], got 40000"),
        ({"initial": (float("nan"),)}, "--initial and --true-mean must be finite numbers, got nan"),
    ],
)
def test_bad_inputs_raise_a_clear_user_error(kwargs, message):
    with pytest.raises(UserError, match=None) as info:
        BanditConfig(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "args",
    [
        ["--k", "0"],
        ["--runs", "0"],
        ["--steps", "0"],
        ["--epsilon", "1.5"],
        ["--alpha", "0"],
        ["--c", "-1"],
        ["--agent", "bogus"],
    ],
)
def test_bad_inputs_on_the_command_line_are_one_line_with_status_2(args, capsys, tmp_path):
    assert main(["bandit", *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error: --")
    assert not (tmp_path / "r").exists()  # nothing written for a rejected command


# --- run directory ---------------------------------------------------------------------------


def test_run_writes_the_run_directory_with_documented_summary_keys(run_dir):
    summary = bandits.run(
        BanditConfig(agent=("eps-greedy", "ucb"), epsilon=(0.1,), runs=20, steps=120),
        run_dir,
        quiet=True,
    )
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk == summary
    assert set(on_disk) == {"k", "runs", "steps", "nonstationary", "seed", "seconds", "agents"}
    keys = (
        {"name", "kind", "params"}
        | {
            f"{m}_{w}{se}"
            for m in ("reward", "optimal")
            for w in ("last", "last_100", "all")
            for se in ("", "_se")
        }
        | {"greedy_is_optimal", "greedy_is_optimal_se"}
    )
    assert keys <= set(on_disk["agents"][0])
    assert {"optimal_when_greedy_optimal", "greedy_optimal_steps"} <= set(on_disk["agents"][0])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["epsilon"] == [0.1] and config["seed"] == 0
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == [
        "step",
        "eps-greedy(epsilon=0.1)/reward",
        "eps-greedy(epsilon=0.1)/optimal",
        "ucb(c=2)/reward",
        "ucb(c=2)/optimal",
    ]
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 121
    assert (run_dir / "bandit.png").stat().st_size > 10_000
