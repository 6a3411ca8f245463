"""Fixtures of the bandit tests."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.bandits import Agent, Result, simulate


@pytest.fixture
def one_run():
    """``one_run(agent, q_star, steps, seed=0)``: a single task, so the per-step mean reward is
    that run's reward sequence."""

    def run(agent: Agent, q_star, steps: int, seed: int = 0) -> Result:
        return simulate(agent, np.array([q_star], dtype=float), steps, np.random.default_rng(seed))

    return run
