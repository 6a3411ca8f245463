"""Evaluating a policy on separate, seeded environments, and recording an episode as a GIF.

The protocol the stop criterion, the benchmark and the report share: ``episodes`` episodes, one
per sub-environment of a vector environment reset with a fixed seed, each run to its end
(termination or the time limit). Because the evaluation environments are separate from the
training ones and reseeded every time, two policies evaluated with the same seed face the same
initial states.

The policy is called once per time step on the observations of every episode still running. An
environment with its own vectorised implementation (CartPole's NumPy one) steps all its copies at
once, and the returns come from the one episode-statistics helper; a ``SyncVectorEnv`` (Acrobot,
LunarLander: copies stepped one by one in Python) steps only the copies whose episode is still
running, so an evaluation costs the sum of the episode lengths, not the longest one times the
number of episodes (a policy that fails 1 episode of 100 on Acrobot: about 3 times less).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv

from rlgen.checkpoints import Every
from rlgen.errors import UserError
from rlgen.pg.rollouts import (
    env_spec,
    finished_episodes,
    flatten_observation,
    make_env,
    observation_size,
    time_limit,
)

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation environments of seed s are reset with s + this: never the training seed."""


def evaluate(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int = 100,
    seed: int = 0,
    *,
    max_steps: int | None = None,
    max_episode_steps: int | None = None,
    env: VectorEnv | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` evaluation episodes of the batch policy ``act``.

    Args:
        act: (N, obs_size) float32 observations -> (N,) actions.
        env_id: gymnasium id.
        episodes: number of episodes (one per sub-environment).
        seed: seed of the evaluation environments.
        max_steps: safety cap on the steps per episode (default: the environment's time limit,
            else 100,000).
        max_episode_steps: the environment's time limit instead of its registered one.
        env: ``make_env(env_id, episodes)`` to reuse (it is reset with ``seed``); default: one
            made and closed here.

    Returns:
        (episodes,) undiscounted returns, in sub-environment order.
    """
    own = env is None
    vec = make_env(env_id, episodes, max_episode_steps=max_episode_steps) if env is None else env
    try:
        cap = max_steps or time_limit(vec) or 100_000
        if isinstance(vec.unwrapped, SyncVectorEnv):
            returns = _play_running(act, vec, seed, cap)
        else:
            returns = _play_all(act, vec, seed, cap)
        if np.isnan(returns).any():
            raise UserError(
                f"--env {env_id}: evaluation episodes did not end within {cap} steps (an "
                "environment without a time limit?); give --max-episode-steps"
            )
        return returns
    finally:
        if own:
            vec.close()


def _play_all(
    act: Callable[[np.ndarray], np.ndarray], env: VectorEnv, seed: int, cap: int
) -> np.ndarray:
    """Every copy steps until each has ended one episode; NaN for those that did not."""
    n, size = env.num_envs, observation_size(env)
    obs, _ = env.reset(seed=seed)
    returns = np.full(n, np.nan)
    for _ in range(cap + 1):
        obs = np.asarray(obs, dtype=np.float32).reshape(n, size)
        obs, _, _, _, info = env.step(act(obs))
        mask = info.get("_episode")
        if mask is not None and np.any(mask):
            ended = np.flatnonzero(mask)
            r, _ = finished_episodes(info)
            first = np.isnan(returns[ended])  # only each sub-environment's first episode
            returns[ended[first]] = r[first]
            if not np.isnan(returns).any():
                break
    return returns


def _play_running(
    act: Callable[[np.ndarray], np.ndarray], env: VectorEnv, seed: int, cap: int
) -> np.ndarray:
    """Each copy of a ``SyncVectorEnv`` (``env.unwrapped``) steps until its episode ends, the
    others no longer; NaN for unfinished ones."""
    n, size = env.num_envs, observation_size(env)
    obs, _ = env.reset(seed=seed)  # copy i is seeded with seed + i
    obs = np.asarray(obs, dtype=np.float32).reshape(n, size).copy()
    copies = env.unwrapped
    assert isinstance(copies, SyncVectorEnv)
    returns = np.zeros(n)
    running = np.ones(n, dtype=bool)
    for _ in range(cap + 1):
        live = np.flatnonzero(running)
        if live.size == 0:
            break
        for i, action in zip(live, act(obs[live]), strict=True):
            sub = copies.envs[i]  # its observations as the environment gives them
            o, reward, terminated, truncated, _ = sub.step(int(action))
            returns[i] += float(reward)
            obs[i] = flatten_observation(sub.observation_space, o)
            if terminated or truncated:
                running[i] = False
    returns[running] = np.nan
    return returns


def cannot_reach(returns: np.ndarray, episodes: int, threshold: float) -> bool:
    """Whether the mean over ``episodes`` episodes, of which ``returns`` are the first, reaches
    ``threshold`` only by a fluke: m + 3 s sqrt((N - n) / (N n)) < threshold.

    The final mean is (n m + (N - n) m') / N, with m' the mean of the episodes still to play.
    It reaches the threshold only if m' - m >= N (threshold - m) / (N - n); estimated by m,
    m' - m has standard error s sqrt(1/n + 1/(N - n)), and that bound lies more than 3 of them
    away.
    """
    n = returns.size
    std = float(returns.std(ddof=1)) if n > 1 else 0.0
    slack = 3 * std * np.sqrt((episodes - n) / (episodes * n))
    return bool(returns.mean() + slack < threshold)


def record_gif(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    path: str | Path,
    seed: int = 0,
    *,
    max_frames: int = 1000,
    fps: int | None = None,
    max_episode_steps: int | None = None,
) -> tuple[float, int]:
    """Play one episode with ``render_mode="rgb_array"`` and write it as an animated GIF.

    Returns:
        (episode return, number of frames written).
    """
    import io
    import os

    from PIL import Image

    from rlgen.files import atomic_write_bytes

    # rgb_array needs no window: pygame's dummy drivers keep SDL from looking for a display or a
    # sound device (and from printing "error:" lines about them).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    env = gym.make(env_spec(env_id, max_episode_steps), render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
        total = 0.0
        for _ in range(max_frames - 1):
            action = act(flatten_observation(env.observation_space, obs)[None])[0]
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            frames.append(env.render())
            if terminated or truncated:
                break
        fps = fps or int(env.metadata.get("render_fps", 30))
    finally:
        env.close()
    images = [Image.fromarray(np.asarray(f)) for f in frames if f is not None]
    if not images:
        raise UserError(f"--env {env_id}: rendering returned no frames")
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
    )
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as e:
        raise UserError(f"--gif {path}: cannot write it ({e.strerror})") from None
    except UserError as e:  # its directory cannot be made: the message names the path
        raise UserError(f"--gif {e}") from None
    return total, len(images)


# ---------------------------------------------------------------------------------------------
# The periodic evaluation and stop criterion (shared by the command and the benchmark)
# ---------------------------------------------------------------------------------------------


class Evaluator:
    """Evaluates greedy and sampled policies on schedule and decides when the task is solved.

    Args:
        env_id: gymnasium id.
        episodes: evaluation episodes per policy.
        seed: the run's seed; evaluation environments use ``seed + EVAL_SEED_OFFSET``.
        threshold: solved when the ``criterion`` policy's mean return is at least this; None:
            never solved (no screen either: there is nothing to screen against).
        criterion: ``greedy`` or ``sampled``.
        every: evaluate at the first call of :meth:`due` at or after each multiple of this.
        screen: :meth:`screen` plays the criterion policy's episodes in chunks of this many
            (0: no screen, every evaluation plays them all at once).
        both_every_time: evaluate both policies at every evaluation; else the other policy
            than the criterion's only at the final evaluation and at the one that solves.
        max_episode_steps: the environment's time limit instead of its registered one.

    Screening: an evaluation plays ``episodes`` whole episodes, which on an environment stepped
    in Python (Acrobot, LunarLander) costs about as much as the training between two
    evaluations. While the policy is far from the threshold a few episodes say so. With a screen
    the criterion policy's episodes are played in chunks, and the evaluation stops as soon as
    the mean of all ``episodes`` could only reach the threshold by a fluke: when the mean m of
    the n played so far, with standard deviation s, has m + 3 s sqrt((N - n) / (N n)) below it
    (3 standard errors of the difference between the final mean and m). A screen that stops
    wrongly only delays the evaluation that finds the task solved by one interval; it never
    declares it solved. An evaluation played to the end is the full one: on a ``SyncVectorEnv``
    chunk j's copies get the seeds copies j*k.. of one vector of ``episodes`` get, so its
    returns are those of the evaluation without a screen.
    """

    def __init__(
        self,
        env_id: str,
        *,
        episodes: int,
        seed: int,
        threshold: float | None,
        criterion: str = "greedy",
        every: int = 2000,
        screen: int = 0,
        both_every_time: bool = True,
        max_episode_steps: int | None = None,
    ) -> None:
        self.env_id = env_id
        self.max_episode_steps = max_episode_steps
        self.episodes = episodes
        self.seed = seed
        self.threshold = threshold
        self.criterion = criterion
        self.schedule = Every(every)
        self.screen_episodes = screen
        self.both_every_time = both_every_time
        self.screens: list[dict[str, Any]] = []
        """every screen: env_steps, its mean and standard deviation, passed, seconds"""
        self.history: list[dict[str, Any]] = []
        self.seconds = 0.0
        self.solved_at: dict[str, Any] | None = None
        self._envs: dict[int, VectorEnv] = {}  # by size; made once (100 LunarLanders: 0.8 s)
        self._played: tuple[int, np.ndarray] | None = None  # a screen played to the end

    def _env(self, episodes: int) -> VectorEnv:
        if episodes not in self._envs:
            self._envs[episodes] = make_env(
                self.env_id, episodes, max_episode_steps=self.max_episode_steps
            )
        return self._envs[episodes]

    def close(self) -> None:
        """Close the evaluation environments (made again if the evaluator is used again)."""
        for env in self._envs.values():
            env.close()
        self._envs = {}

    @property
    def solved(self) -> bool:
        return self.solved_at is not None

    @property
    def screening(self) -> bool:
        """Whether :meth:`screen` plays anything: a screen size, and a threshold to screen
        against."""
        return self.screen_episodes > 0 and self.threshold is not None

    @property
    def best(self) -> float | None:
        key = f"return_{self.criterion}"
        return max((h[key] for h in self.history), default=None)

    def due(self, env_steps: int) -> bool:
        """Whether an evaluation is due at ``env_steps`` (the first call past each multiple)."""
        return self.schedule(env_steps)

    def screen(
        self,
        *,
        greedy: Callable[[np.ndarray], np.ndarray],
        sampled: Callable[[np.ndarray], np.ndarray] | None = None,
        env_steps: int,
    ) -> bool:
        """Whether the evaluation may reach the threshold (always True without a screen).

        Plays the criterion policy's ``episodes`` (``sampled`` for that criterion: its generator
        is the caller's) in chunks of ``screen`` on the evaluation seeds, stops as soon as they
        cannot plausibly reach the threshold (see the class), and records the screen. True when
        all were played: :meth:`evaluate` at the same ``env_steps`` then uses their returns.
        """
        self._played = None
        if not self.screening:
            return True
        start = time.perf_counter()
        act = greedy if self.criterion == "greedy" or sampled is None else sampled
        total, seed, threshold = self.episodes, self.seed + EVAL_SEED_OFFSET, self.threshold
        assert threshold is not None  # screening
        chunks: list[np.ndarray] = []
        for first in range(0, total, self.screen_episodes):
            n = min(self.screen_episodes, total - first)
            chunks.append(evaluate(act, self.env_id, n, seed + first, env=self._env(n)))
            returns = np.concatenate(chunks)
            if returns.size < total and cannot_reach(returns, total, threshold):
                break
        passed = returns.size == total
        if passed:
            self._played = (env_steps, returns)
        seconds = time.perf_counter() - start
        self.seconds += seconds
        self.screens.append(
            {
                "env_steps": env_steps,
                "episodes": int(returns.size),
                "mean": float(returns.mean()),
                "std": float(returns.std()),
                "passed": bool(passed),  # saved: no numpy types
                "seconds": seconds,
            }
        )
        return passed

    def screening_rng(self) -> np.random.Generator:
        """The generator of a sampled screen: fixed per screen index."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, 5, len(self.screens)]))

    def sampling_rng(self) -> np.random.Generator:
        """The generator of the sampled policy's evaluation: fixed per evaluation index."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, 3, len(self.history)]))

    def evaluate(
        self,
        *,
        greedy: Callable[[np.ndarray], np.ndarray],
        sampled: Callable[[np.ndarray], np.ndarray],
        env_steps: int,
        episodes: int,
        train_seconds: float,
        final: bool = False,
    ) -> dict[str, Any]:
        """Evaluate the policies; record and return the evaluation (``solved`` included).

        The criterion's policy always; the other one too when ``both_every_time``, at the
        ``final`` evaluation and at the one that solves (else its returns are None).
        """
        start = time.perf_counter()
        seed = self.seed + EVAL_SEED_OFFSET
        policies = {"greedy": greedy, "sampled": sampled}
        other = "sampled" if self.criterion == "greedy" else "greedy"
        env = self._env(self.episodes)
        if self._played is not None and self._played[0] == env_steps:  # the screen played them
            returns = {self.criterion: self._played[1]}
        else:
            act = policies[self.criterion]
            returns = {self.criterion: evaluate(act, self.env_id, self.episodes, seed, env=env)}
        self._played = None
        solved = self.threshold is not None and bool(
            returns[self.criterion].mean() >= self.threshold
        )
        if self.both_every_time or final or solved:
            returns[other] = evaluate(policies[other], self.env_id, self.episodes, seed, env=env)
        seconds = time.perf_counter() - start
        self.seconds += seconds
        record: dict[str, Any] = {
            "env_steps": env_steps,
            "episodes": episodes,
            "train_seconds": train_seconds,
        }
        for name in ("greedy", "sampled"):
            r = returns.get(name)
            record[f"return_{name}"] = float(r.mean()) if r is not None else None
            record[f"return_{name}_std"] = float(r.std()) if r is not None else None
        record["seconds"] = seconds
        record["solved"] = solved
        self.history.append(record)
        if record["solved"] and self.solved_at is None:
            self.solved_at = record
        return record

    @staticmethod
    def metrics(record: dict[str, Any]) -> dict[str, float]:
        """The ``eval/*`` columns of ``metrics.csv`` (a policy not evaluated: no value)."""
        returns = {
            f"eval/{key}": record[key]
            for key in (
                "return_greedy",
                "return_greedy_std",
                "return_sampled",
                "return_sampled_std",
            )
            if record[key] is not None
        }
        return {
            **returns,
            "eval/solved": float(record["solved"]),
            "time/eval_seconds": record["seconds"],
        }

    @staticmethod
    def screen_metrics(screen: dict[str, Any]) -> dict[str, float]:
        """The columns of ``metrics.csv`` for a screen."""
        return {
            "eval/screen_return": screen["mean"],
            "eval/screen_episodes": float(screen.get("episodes", 0)),
            "eval/screen_passed": float(screen["passed"]),
            "time/eval_seconds": screen["seconds"],
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.state_dict(),
            "screens": [dict(h) for h in self.screens],
            "history": [dict(h) for h in self.history],
            "seconds": self.seconds,
            "solved_at": dict(self.solved_at) if self.solved_at else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state["schedule"])
        self.screens = [
            dict(h) for h in state.get("screens", [])
        ]  # absent from checkpoints without screens
        self.history = [dict(h) for h in state["history"]]
        self.seconds = float(state["seconds"])
        self.solved_at = dict(state["solved_at"]) if state["solved_at"] else None
