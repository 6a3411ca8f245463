"""Tiny gymnasium environments for the policy-gradient tests."""

from __future__ import annotations

from typing import ClassVar

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


# --- environments registered for the robustness tests (ids "rlgen-test/...") -----------------
# ``--env tests.pg.envs:rlgen-test/Switch-v0`` makes them from a fresh process: gymnasium imports
# the module before the id, and importing it registers them.


class Switch(ZeroEnv):
    """Ends only when the action differs from the previous one: a sampled policy's episodes end
    within a few steps, a greedy one (constant observations, so a constant action) never does.
    Pays -1 a step; no time limit of its own."""

    def reset(self, *, seed=None, options=None):
        self._last = None
        return super().reset(seed=seed, options=options)

    def step(self, action):
        ended = self._last is not None and int(action) != self._last
        self._last = int(action)
        return np.zeros(2, np.float32), -1.0, ended, False, {}


class Shifted(gym.Env):
    """Actions Discrete(3, start=-1): the state is a position 0..4 (Discrete, one-hot), action
    +1 moves right, -1 left, 0 stays; reaching 4 pays 1 and ends. Anything outside {-1, 0, 1}
    fails loudly (as an environment given a policy's index unshifted would misbehave)."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(3, start=-1)
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._pos = 0
        return self._pos, {}

    def step(self, action):
        assert self.action_space.contains(action), f"action {action!r} outside {self.action_space}"
        self._pos = int(np.clip(self._pos + int(action), 0, 4))
        done = self._pos == 4
        return self._pos, float(done), done, False, {}

    def render(self):
        frame = np.zeros((8, 40, 3), np.uint8)
        frame[:, 8 * self._pos : 8 * self._pos + 8] = 255
        return frame


class Observations(ZeroEnv):
    """Observations of a given Box (dtype, bounds); ends after ``length`` steps, pays ``reward``
    a step."""

    def __init__(self, render_mode=None, *, low=-1.0, high=1.0, dtype=np.float32, length=5,
                 reward=1.0, value=0):  # fmt: skip
        super().__init__(render_mode)
        self.observation_space = gym.spaces.Box(low, high, (3,), dtype)
        self.length, self.reward, self.value = length, reward, value

    def _obs(self):
        return np.full(3, self.value, self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        return self._obs(), self.reward, self._t >= self.length, False, {}


def register() -> None:
    """Register the test environments (idempotent)."""
    ids = {
        "rlgen-test/Switch-v0": (Switch, {}),
        "rlgen-test/Shifted-v0": (Shifted, {}),
        "rlgen-test/IntObs-v0": (
            Observations,
            {"low": 0, "high": 100, "dtype": np.int64, "value": 7},
        ),
        "rlgen-test/BoolObs-v0": (
            Observations,
            {"low": 0, "high": 1, "dtype": np.bool_, "value": 1},
        ),
        "rlgen-test/Float64Obs-v0": (Observations, {"dtype": np.float64}),
        "rlgen-test/HugeObs-v0": (
            Observations,
            {"low": -1e300, "high": 1e300, "dtype": np.float64, "value": 1e30},
        ),
        "rlgen-test/InfObs-v0": (Observations, {"low": -np.inf, "high": np.inf}),
        "rlgen-test/ZeroReward-v0": (Observations, {"reward": 0.0, "length": 10}),
        "rlgen-test/OneStep-v0": (Observations, {"length": 1}),
    }
    for env_id, (entry, kwargs) in ids.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry, kwargs=kwargs)


register()
