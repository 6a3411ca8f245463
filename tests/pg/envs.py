"""Tiny gymnasium environments for the policy-gradient tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class ZeroEnv(gym.Env):
    """Observations of zeros (2 floats), two actions; a subclass's ``step`` says what a step pays
    and whether it ends the episode."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}
