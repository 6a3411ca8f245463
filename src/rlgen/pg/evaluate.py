"""Evaluating a policy on separate, seeded environments, and recording an episode as a GIF.

The protocol the stop criterion, the benchmark and the report share: ``episodes`` episodes, one
per sub-environment of a vector environment reset with a fixed seed, each run to its end
(termination or the time limit; without a time limit, cut at :data:`EVAL_MAX_STEPS` and counted
as truncated). Because the evaluation environments are separate from the training ones and
reseeded every time, two policies evaluated with the same seed face the same initial states.

The policy is called once per time step on the observations of every episode still running. An
environment with its own vectorised implementation (CartPole's NumPy one) steps all its copies at
once, and the returns come from the one episode-statistics helper; a ``SyncVectorEnv`` (Acrobot,
LunarLander: copies stepped one by one in Python) steps only the copies whose episode is still
running, so an evaluation costs the sum of the episode lengths, not the longest one times the
number of episodes (a policy that fails 1 episode of 100 on Acrobot: about 3 times less).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv

from rlgen.checkpoints import Every
from rlgen.errors import UserError, check_memory
from rlgen.pg.rollouts import (
    action_offset,
    env_spec,
    finished_episodes,
    flatten_observation,
    make_env,
    observation_size,
    time_limit,
)

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation environments of seed s are reset with s + this: never the training seed."""


EVAL_MAX_STEPS = 10_000
"""The steps an evaluation episode may take where the environment has no time limit (CliffWalking
without ``--max-episode-steps``): one still running then is cut there and counted as truncated,
with its return so far. A greedy policy that walks in a loop would otherwise never end; 100
such episodes cost about 6 s at this cap (CliffWalking's Python steps)."""


@dataclass(frozen=True)
class Episodes:
    """The evaluation episodes of one policy.

    Attributes:
        returns: (episodes,) undiscounted returns, in sub-environment order; an episode cut at
            ``max_steps`` has its return so far.
        truncated: (episodes,) whether the episode was cut at ``max_steps`` by the evaluation
            itself (it had not ended by then: no time limit, and a policy that never ends it).
        max_steps: the steps an episode could take (the environment's time limit, else
            ``max_steps`` as given, else :data:`EVAL_MAX_STEPS`).
    """

    returns: np.ndarray
    truncated: np.ndarray
    max_steps: int

    @property
    def cut(self) -> int:
        """How many episodes were cut at ``max_steps``."""
        return int(self.truncated.sum())


def play(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int = 100,
    seed: int = 0,
    *,
    max_steps: int | None = None,
    max_episode_steps: int | None = None,
    env: VectorEnv | None = None,
) -> Episodes:
    """``episodes`` evaluation episodes of the batch policy ``act``, those cut at the cap included.

    Args:
        act: (N, obs_size) float32 observations -> (N,) action indices 0..n-1 (an action space
            numbered from ``start`` gets start + index).
        env_id: gymnasium id.
        episodes: number of episodes (one per sub-environment).
        seed: seed of the evaluation environments.
        max_steps: cap on the steps per episode (default: the environment's time limit, else
            :data:`EVAL_MAX_STEPS`).
        max_episode_steps: the environment's time limit instead of its registered one.
        env: ``make_env(env_id, episodes)`` to reuse (it is reset with ``seed``); default: one
            made and closed here.
    """
    own = env is None
    vec = make_env(env_id, episodes, max_episode_steps=max_episode_steps) if env is None else env
    try:
        cap = max_steps or time_limit(vec) or EVAL_MAX_STEPS
        if isinstance(vec.unwrapped, SyncVectorEnv):
            returns, running = _play_running(act, vec, seed, cap)
        else:
            returns, running = _play_all(act, vec, seed, cap)
        return Episodes(returns, running, cap)
    finally:
        if own:
            vec.close()


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
    """Returns of ``episodes`` evaluation episodes of the batch policy ``act`` (:func:`play`),
    each played to its end.

    Returns:
        (episodes,) undiscounted returns, in sub-environment order.

    Raises:
        UserError: an episode did not end within the cap (an environment without a time limit
            and a policy that never ends it); :func:`play` reports those instead.
    """
    played = play(act, env_id, episodes, seed, max_steps=max_steps,
                  max_episode_steps=max_episode_steps, env=env)  # fmt: skip
    if played.cut:
        raise UserError(
            f"--env {env_id}: {played.cut} of {episodes} evaluation episodes did not end within "
            f"{played.max_steps} steps (an environment without a time limit?); give "
            "--max-episode-steps"
        )
    return played.returns


def _play_all(
    act: Callable[[np.ndarray], np.ndarray], env: VectorEnv, seed: int, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every copy steps until each has ended one episode, or for ``cap`` steps: (returns,
    whether each was still running), with the return so far of those still running."""
    n, size = env.num_envs, observation_size(env)
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(n)
    running = np.ones(n, dtype=bool)
    for _ in range(cap):
        obs = np.asarray(obs, dtype=np.float32).reshape(n, size)
        obs, rewards, _, _, info = env.step(act(obs))
        mask = info.get("_episode")
        if mask is not None and np.any(mask):
            ended = np.flatnonzero(mask)
            r, _ = finished_episodes(info)
            first = running[ended]  # only each sub-environment's first episode
            returns[ended[first]] = r[first]
            running[ended] = False
            if not running.any():
                break
        returns[running] += np.asarray(rewards, dtype=float)[running]  # so far, if cut
    return returns, running


def _play_running(
    act: Callable[[np.ndarray], np.ndarray], env: VectorEnv, seed: int, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each copy of a ``SyncVectorEnv`` (``env.unwrapped``) steps until its episode ends (or for
    ``cap`` steps), the others no longer: (returns, whether each was still running)."""
    n, size = env.num_envs, observation_size(env)
    obs, _ = env.reset(seed=seed)  # copy i is seeded with seed + i
    obs = np.asarray(obs, dtype=np.float32).reshape(n, size).copy()
    copies = env.unwrapped
    assert isinstance(copies, SyncVectorEnv)
    offset = action_offset(env)  # the copies take the environment's own action numbers
    returns = np.zeros(n)
    running = np.ones(n, dtype=bool)
    for _ in range(cap):
        live = np.flatnonzero(running)
        if live.size == 0:
            break
        for i, action in zip(live, act(obs[live]), strict=True):
            sub = copies.envs[i]  # its observations as the environment gives them
            o, reward, terminated, truncated, _ = sub.step(int(action) + offset)
            returns[i] += float(reward)
            obs[i] = flatten_observation(sub.observation_space, o)
            if terminated or truncated:
                running[i] = False
    return returns, running


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

    from rlgen.files import atomic_write_bytes

    # rgb_array needs no window: pygame's dummy drivers keep SDL from looking for a display or a
    # sound device (and from printing "error:" lines about them).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        with warnings.catch_warnings():
            # gymnasium warns of a render mode the environment does not list; rendering then
            # fails or returns nothing, and says so below in one line
            warnings.simplefilter("ignore")
            env = gym.make(env_spec(env_id, max_episode_steps), render_mode="rgb_array")
    except (gym.error.Error, TypeError, ValueError, ImportError) as e:
        raise UserError(f"--gif: {env_id} cannot render rgb_array frames here ({e})") from None
    images: list[Any] = []
    try:
        offset = int(getattr(env.action_space, "start", 0))  # act gives indices 0..n-1
        obs, _ = env.reset(seed=seed)
        images.append(_image(env_id, _render(env_id, env)))
        if images[0] is not None:  # every frame is kept until the GIF is encoded
            width, height = images[0].size
            check_memory(
                "gif_frames",
                max_frames * width * height * len(images[0].getbands()),
                f"{max_frames} frames of {width}x{height} pixels",
            )
        total = 0.0
        for _ in range(max_frames - 1):
            action = act(flatten_observation(env.observation_space, obs)[None])[0]
            obs, reward, terminated, truncated, _ = env.step(int(action) + offset)
            total += float(reward)
            images.append(_image(env_id, _render(env_id, env)))
            if terminated or truncated:
                break
        fps = fps or env.metadata.get("render_fps")
    finally:
        env.close()
    images = [i for i in images if i is not None]
    if not images:
        raise UserError(f"--gif: {env_id} rendered no frames (render() returned None)")
    if len({i.size for i in images}) > 1:  # a GIF's frames share one size
        images = [i.resize(images[0].size) for i in images]
    if not isinstance(fps, int | float) or not np.isfinite(fps) or fps <= 0:
        fps = 30  # the environment names no usable frame rate
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


def _render(env_id: str, env: gym.Env) -> Any:
    """One ``rgb_array`` frame; an environment that cannot render is a :class:`UserError`."""
    try:
        return env.render()
    except Exception as e:  # an environment's own failure, not ours: one line naming it
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--gif: {env_id} cannot render rgb_array frames ({first})") from None


def _image(env_id: str, frame: Any) -> Any:
    """A PIL image of an ``rgb_array`` frame, (H, W, 3) or (H, W, 4) uint8 (None: no frame)."""
    from PIL import Image

    if frame is None:
        return None
    array = np.asarray(frame)
    if (
        array.dtype != np.uint8
        or array.ndim != 3
        or array.shape[2] not in (3, 4)
        or 0 in array.shape
    ):
        raise UserError(
            f"--gif: {env_id} renders frames of shape {array.shape} and dtype {array.dtype}, "
            "not rgb_array images (height, width, 3) of uint8"
        )
    return Image.fromarray(array)


# ---------------------------------------------------------------------------------------------
# The periodic evaluation and stop criterion (shared by the command and the benchmark)
# ---------------------------------------------------------------------------------------------


class Evaluator:
    """Evaluates greedy and sampled policies on schedule and decides when the task is solved.

    Args:
        env_id: gymnasium id.
        episodes: evaluation episodes per policy.
        seed: the run's seed; evaluation environments use ``seed + EVAL_SEED_OFFSET``.
        threshold: solved when the ``criterion`` policy's mean return is at least this and
            none of its episodes was cut at the cap (:func:`play`); None: never solved (no
            screen either: there is nothing to screen against).
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
        self.truncated = 0
        """evaluation episodes (screens included) cut at the cap, not ended (see :func:`play`)"""
        self.max_steps: int | None = None
        """the cap on an evaluation episode's steps, once known (see :func:`play`)"""
        self.solved_at: dict[str, Any] | None = None
        self._envs: dict[int, VectorEnv] = {}  # by size; made once (100 LunarLanders: 0.8 s)
        self._played: tuple[int, Episodes] | None = None  # a screen played to the end

    def _env(self, episodes: int) -> VectorEnv:
        if episodes not in self._envs:
            self._envs[episodes] = make_env(
                self.env_id, episodes, max_episode_steps=self.max_episode_steps
            )
        return self._envs[episodes]

    def _play(self, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int) -> Episodes:
        """:func:`play` on the kept environments; counts the episodes cut at the cap."""
        played = play(act, self.env_id, episodes, seed, env=self._env(episodes))
        self.truncated += played.cut
        self.max_steps = played.max_steps
        return played

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
        cut: list[np.ndarray] = []
        for first in range(0, total, self.screen_episodes):
            n = min(self.screen_episodes, total - first)
            played = self._play(act, n, seed + first)
            chunks.append(played.returns)
            cut.append(played.truncated)
            returns = np.concatenate(chunks)
            if returns.size < total and cannot_reach(returns, total, threshold):
                break
        passed = returns.size == total
        if passed:
            self._played = (env_steps, Episodes(returns, np.concatenate(cut), played.max_steps))
        seconds = time.perf_counter() - start
        self.seconds += seconds
        self.screens.append(
            {
                "env_steps": env_steps,
                "episodes": int(returns.size),
                "mean": float(returns.mean()),
                "std": float(returns.std()),
                "passed": bool(passed),  # saved: no numpy types
                "truncated": int(np.concatenate(cut).sum()),
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
        if self._played is not None and self._played[0] == env_steps:  # the screen played them
            played = {self.criterion: self._played[1]}
        else:
            played = {self.criterion: self._play(policies[self.criterion], self.episodes, seed)}
        self._played = None
        # an episode cut at the cap has no return, only its return so far (a bound on it from
        # either side, as rewards may be of either sign): an evaluation with one never solves
        judged = played[self.criterion]
        solved = (
            self.threshold is not None
            and judged.cut == 0
            and bool(judged.returns.mean() >= self.threshold)
        )
        if self.both_every_time or final or solved:
            played[other] = self._play(policies[other], self.episodes, seed)
        seconds = time.perf_counter() - start
        self.seconds += seconds
        record: dict[str, Any] = {
            "env_steps": env_steps,
            "episodes": episodes,
            "train_seconds": train_seconds,
        }
        for name in ("greedy", "sampled"):
            r = played[name].returns if name in played else None
            record[f"return_{name}"] = float(r.mean()) if r is not None else None
            record[f"return_{name}_std"] = float(r.std()) if r is not None else None
            record[f"truncated_{name}"] = played[name].cut if name in played else None
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
            "truncated": self.truncated,
            "max_steps": self.max_steps,
            "solved_at": dict(self.solved_at) if self.solved_at else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state["schedule"])
        self.screens = [
            dict(h) for h in state.get("screens", [])
        ]  # absent from checkpoints without screens
        self.history = [dict(h) for h in state["history"]]
        self.seconds = float(state["seconds"])
        self.truncated = int(state.get("truncated", 0))  # absent from earlier checkpoints
        max_steps = state.get("max_steps")
        self.max_steps = int(max_steps) if max_steps is not None else None
        self.solved_at = dict(state["solved_at"]) if state["solved_at"] else None
