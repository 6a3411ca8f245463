"""Agents: names, the checks of their parameters, determinism and independence of their streams."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.bandits import Agent, BanditConfig, experiment
from rlgen.errors import UserError


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


def test_an_agent_reports_the_parameters_its_kind_reads():
    assert Agent("ucb", c=1.0).params == {"c": 1.0, "alpha": None, "initial": 0.0}
    assert Agent("gradient", alpha=0.4).params == {"alpha": 0.4, "baseline": True}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "thompson"}, "--agent: unknown agent 'thompson'"),
        ({"kind": "eps-greedy", "epsilon": 1.5}, "--epsilon must be in [0, 1], got 1.5"),
        ({"kind": "eps-greedy", "epsilon": float("nan")}, "--epsilon must be a finite number"),
        ({"kind": "greedy", "alpha": 0.0}, "--alpha must be in (0, 1], got 0"),
        ({"kind": "greedy", "initial": float("inf")}, "--initial must be a finite number, got inf"),
        ({"kind": "ucb", "c": -1.0}, "--c must be >= 0, got -1"),
        ({"kind": "ucb", "c": float("inf")}, "--c must be a finite number, got inf"),
        ({"kind": "gradient", "alpha": 0.1, "baseline": "no"}, "--baseline must be true or false"),
        ({"kind": "gradient"}, "--alpha: the gradient bandit needs a step size"),
    ],
)
def test_an_agent_checks_its_parameters(kwargs, message):
    with pytest.raises(UserError) as info:
        Agent(**kwargs)
    assert message in str(info.value)


def test_same_seed_same_arrays_other_seed_other_arrays():
    config = BanditConfig(agent=("eps-greedy", "ucb", "gradient"), runs=50, steps=200, seed=7)
    first, second = experiment(config), experiment(config)
    other = experiment(BanditConfig(**{**config.__dict__, "seed": 8}))
    for a, b, c in zip(first, second, other, strict=True):
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.optimal, b.optimal)
        np.testing.assert_array_equal(a.estimates, b.estimates)
        assert not np.array_equal(a.reward, c.reward)


def test_adding_an_agent_changes_no_other_agent():
    alone = experiment(BanditConfig(epsilon=(0.1,), runs=30, steps=100))
    together = experiment(
        BanditConfig(agent=("eps-greedy", "ucb"), epsilon=(0.1,), runs=30, steps=100)
    )
    np.testing.assert_array_equal(alone[0].reward, together[0].reward)
