"""Environments, rollouts of whole episodes from gymnasium vector environments, and returns.

The plumbing every policy-gradient method here shares, one helper each (``STYLE.md``):

- :func:`make_env`: ``gymnasium.make_vec`` with the space checks REINFORCE needs (discrete actions,
  observations that flatten to a vector: gymnasium's ``FlattenObservation`` one-hot encodes a
  Discrete state, as in FrozenLake or Taxi) and episode statistics recorded by gymnasium's own
  wrapper;
- :func:`finished_episodes`: the one place episode returns and lengths are read from ``info``;
- :class:`Rollout`: steps a vector environment with a policy until enough whole episodes are
  complete and hands them over as one flat batch.

Gymnasium 1.x vector environments reset a finished sub-environment automatically. In the default
``NEXT_STEP`` mode (https://farama.org/Vector-Autoreset-Mode) the step *after* an episode ends is a
reset step: its action is ignored and its reward is 0, so it belongs to no episode and is dropped.
In ``SAME_STEP`` mode the returned observation is already the first of the next episode and the
final one is in ``info["final_obs"]``. Both are handled. ``DISABLED`` is refused:
gymnasium's ``RecordEpisodeStatistics`` would count the step after an episode end as a reset step,
and a masked reset clears every sub-environment's statistics.

A step that is both terminated and truncated (a time limit reached on a terminal step) ends the
episode in the MDP: it counts as terminated only, with nothing after it to bootstrap from.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space, iterate
from gymnasium.wrappers.vector import FlattenObservation, RecordEpisodeStatistics, TransformAction

from rlgen.errors import UserError, option_name
from rlgen.pg.estimators import discounted_returns, episode_time

# ---------------------------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------------------------


def make_env(
    env: str | gym.Env | VectorEnv,
    num_envs: int = 1,
    *,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    option: str = "env",
) -> VectorEnv:
    """A vector environment with episode statistics, checked for REINFORCE.

    Args:
        env: a gymnasium id (made with ``gymnasium.make_vec``, which picks the environment's own
            vectorised implementation where it has one, e.g. CartPole), a vector environment, or
            a single environment (wrapped as a vector environment of one).
        num_envs: sub-environments, for an id.
        render_mode: passed to the environment (``rgb_array`` for GIFs).
        max_episode_steps: the time limit of an id's episodes instead of its registered one
            (CliffWalking has none: a random policy's episodes may practically never end).
        option: the command-line option named in errors.

    Observations that are not a Box (Discrete, MultiDiscrete, MultiBinary, a Tuple or Dict of
    spaces) are flattened by gymnasium's vector ``FlattenObservation`` wrapper (by
    :class:`FlattenSameStep` in ``SAME_STEP`` mode): a Discrete state becomes its one-hot vector.
    :func:`raw_observation_space` gives the space before it.

    Raises:
        UserError: unknown id, continuous actions, an observation space that does not flatten
            to a vector (Graph, Sequence, Text), or a vector environment without autoreset.
    """
    if isinstance(env, str):
        try:
            # gymnasium warns before some of its errors (a deprecated version): held back, so a
            # refused id is one line; passed on when the environment is made
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                vec = gym.make_vec(
                    env_spec(env, max_episode_steps), num_envs=num_envs, render_mode=render_mode
                )
        except gym.error.DependencyNotInstalled as e:
            if _needs_box2d(env):  # gymnasium's own hint names swig and its extra, not ours
                raise UserError(
                    f"{option_name(option)} {env} needs Box2D, which is not installed: "
                    "install the box2d extra: pip install -e '.[box2d]' in the rlgen checkout"
                ) from None
            raise UserError(f"{option_name(option)} {env}: {e}") from None
        except gym.error.Error as e:
            raise UserError(f"{option_name(option)} {env}: {e}") from None
        except (ImportError, ModuleNotFoundError) as e:
            raise UserError(f"{option_name(option)} {env}: cannot be made here ({e})") from None
        versioned = getattr(vec.spec, "id", None)
        # "module:Id": gymnasium imports the module (which registers Id) first
        module, colon, bare = env.rpartition(":")
        if versioned is not None and versioned != bare and gym.registry.get(bare) is None:
            # an id without its version: gymnasium makes the latest, but it has no spec of its
            # own (no reward threshold, no time limit to look up) and names no fixed task
            vec.close()
            raise UserError(
                f"{option_name(option)} {env}: give the id with its version, "
                f"{module}{colon}{versioned}"
            )
        for warning in caught:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        name = env
    elif max_episode_steps is not None:
        raise UserError(
            "max_episode_steps applies to an environment id; wrap an environment object in "
            "gymnasium's TimeLimit instead"
        )
    elif isinstance(env, VectorEnv):
        vec = env
        name = _name(env)
    elif isinstance(env, gym.Env):
        single = env
        vec = gym.vector.SyncVectorEnv([lambda: single])
        name = _name(env)
    else:
        raise TypeError(f"expected an environment id or a gymnasium environment, got {env!r}")
    try:
        check_spaces(vec.single_observation_space, vec.single_action_space, name, option)
        if autoreset_mode(vec) == AutoresetMode.DISABLED:
            raise UserError(
                f"{option_name(option)} {name}: the vector environment must reset finished "
                "sub-environments itself (autoreset mode NEXT_STEP or SAME_STEP), not DISABLED"
            )
    except UserError:
        vec.close()
        raise
    actions = vec.single_action_space
    if isinstance(actions, gym.spaces.Discrete) and int(actions.start) != 0:
        vec = ShiftActions(vec)
    if not isinstance(vec.single_observation_space, gym.spaces.Box):
        same_step = autoreset_mode(vec) == AutoresetMode.SAME_STEP
        vec = FlattenSameStep(vec) if same_step else FlattenObservation(vec)
    if not _has_episode_statistics(vec):
        vec = RecordEpisodeStatistics(vec)
    return vec


def env_spec(
    env_id: str, max_episode_steps: int | None = None
) -> str | gym.envs.registration.EnvSpec:
    """``env_id``, or its registered spec with another time limit (``gymnasium.make_vec`` and
    ``gymnasium.make`` take either)."""
    if max_episode_steps is None:
        return env_id
    import dataclasses

    return dataclasses.replace(registered_spec(env_id), max_episode_steps=max_episode_steps)


def registered_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """``gymnasium.spec``, also of an id given as ``module:Id``, which ``gymnasium.make`` takes
    (it imports the module, which registers the id, first) and ``gymnasium.spec`` does not.

    Raises:
        gymnasium.error.Error: an unknown id, or a module that cannot be imported.
    """
    import importlib

    module, colon, bare = env_id.partition(":")
    if colon:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise gym.error.Error(f"cannot import module {module!r} ({e})") from None
    return gym.spec(bare if colon else env_id)


def _needs_box2d(env_id: str) -> bool:
    """Whether a registered id is one of gymnasium's Box2D environments (LunarLander, ...)."""
    try:
        entry_point = registered_spec(env_id).entry_point
    except gym.error.Error:
        return False
    return "box2d" in str(entry_point).lower()


def check_spaces(observation: gym.Space, action: gym.Space, name: str, option: str = "env") -> None:
    """Raise :class:`UserError` unless actions are Discrete and observations flatten to a vector
    (:func:`flat_space`)."""
    if not isinstance(action, gym.spaces.Discrete):
        raise UserError(
            f"{option_name(option)} {name}: REINFORCE here needs a discrete action space "
            f"(a categorical policy), but the actions are {action}"
        )
    if flat_space(observation) is None:
        raise UserError(
            f"{option_name(option)} {name}: the observations must flatten to a vector of numbers "
            "(a Box, Discrete, MultiDiscrete or MultiBinary space, or a Tuple or Dict of them), "
            f"but they are {observation}"
        )


def flat_space(space: gym.Space) -> gym.spaces.Box | None:
    """The Box that gymnasium flattens ``space`` into; None where it cannot (Graph, Text, ...)."""
    if isinstance(space, gym.spaces.Box):
        return space
    try:
        flat = gym.spaces.flatten_space(space)
    except (NotImplementedError, TypeError, ValueError):
        return None
    return flat if isinstance(flat, gym.spaces.Box) else None


class ShiftActions(TransformAction):
    """Discrete actions numbered from ``start`` (``Discrete(3, start=-1)``) as numbered from 0:
    the policy picks an index i in 0..n-1 (its logits' column), the environment gets start + i.
    Rollouts, checkpoints and the estimators see indices only; :func:`action_offset` gives
    ``start`` to those that step the environment itself (evaluation, GIFs, ``predict``)."""

    def __init__(self, env: VectorEnv) -> None:
        space = env.single_action_space
        assert isinstance(space, gym.spaces.Discrete)
        self.start = int(space.start)
        indices = gym.spaces.Discrete(int(space.n))
        super().__init__(
            env,
            lambda actions: np.asarray(actions, dtype=np.int64) + self.start,
            action_space=batch_space(indices, env.num_envs),
            single_action_space=indices,
        )


def action_offset(env: Any) -> int:
    """What :func:`make_env` adds to the policy's action index before the environment sees it:
    the ``start`` of a Discrete action space not numbered from 0, else 0."""
    inner = env
    while inner is not None:
        if isinstance(inner, ShiftActions):
            return inner.start
        inner = getattr(inner, "env", None)
    return 0


class FlattenSameStep(VectorWrapper):
    """gymnasium's vector ``FlattenObservation`` for a ``SAME_STEP`` vector environment, which
    gymnasium's vector observation wrappers refuse (1.4): the observations are flattened, and so
    is each final observation in ``info["final_obs"]`` (bootstrapped from at a truncation)."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.single_observation_space = gym.spaces.flatten_space(env.single_observation_space)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)

    def _flatten(self, observations: Any) -> np.ndarray:
        space = self.env.single_observation_space
        return np.stack(
            [
                flatten_observation(space, o)
                for o in iterate(self.env.observation_space, observations)
            ]
        )

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        observations, info = self.env.reset(seed=seed, options=options)
        return self._flatten(observations), info

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict[str, Any]]:
        observations, rewards, terminated, truncated, info = self.env.step(actions)
        if "final_obs" in info:
            final = np.full(self.num_envs, None, dtype=object)  # where no episode ended
            for i in np.flatnonzero(info["_final_obs"]):
                final[i] = flatten_observation(
                    self.env.single_observation_space, info["final_obs"][i]
                )
            info = {**info, "final_obs": final}
        return self._flatten(observations), rewards, terminated, truncated, info


def raw_observation_space(env: Any) -> gym.Space:
    """A vector environment's single observation space as the environment itself has it,
    before the flattening :func:`make_env` adds (the space of one observation a user holds)."""
    inner = env
    while inner is not None:
        if isinstance(inner, (FlattenObservation, FlattenSameStep)):
            return inner.env.single_observation_space
        inner = getattr(inner, "env", None)
    return env.single_observation_space


def flatten_observation(space: gym.Space, obs: Any) -> np.ndarray:
    """One observation of ``space`` as a flat float32 vector (one-hot for a Discrete state)."""
    if not isinstance(space, gym.spaces.Box):
        obs = gym.spaces.flatten(space, obs)
    return np.asarray(obs, dtype=np.float32).reshape(-1)


def _name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(env.unwrapped).__name__


def _has_episode_statistics(env: Any) -> bool:
    while env is not None:
        if isinstance(env, RecordEpisodeStatistics):
            return True
        env = getattr(env, "env", None)
    return False


def observation_size(env: VectorEnv) -> int:
    """Length of a flattened observation."""
    return int(np.prod(env.single_observation_space.shape or ()))


def action_count(env: VectorEnv) -> int:
    """Number of discrete actions."""
    space = env.single_action_space
    assert isinstance(space, gym.spaces.Discrete)
    return int(space.n)


def time_limit(env: Any) -> int | None:
    """The environment's time limit (its spec's ``max_episode_steps``), None without one."""
    limit = getattr(getattr(env, "spec", None), "max_episode_steps", None)
    return int(limit) if limit else None


def autoreset_mode(env: VectorEnv) -> AutoresetMode:
    """The environment's autoreset mode; NEXT_STEP (gymnasium's default) when it does not say."""
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)


# ---------------------------------------------------------------------------------------------
# Episode statistics: the one place they are read
# ---------------------------------------------------------------------------------------------


def finished_episodes(info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the episodes that ended in this step (RecordEpisodeStatistics).

    Returns:
        (returns (k,), lengths (k,)) for the k sub-environments whose episode just ended.
    """
    mask = info.get("_episode")
    if mask is None or not np.any(mask):
        return np.empty(0), np.empty(0, dtype=np.int64)
    stats = info["episode"]
    return np.asarray(stats["r"], dtype=float)[mask], np.asarray(stats["l"], dtype=np.int64)[mask]


# ---------------------------------------------------------------------------------------------
# Collecting whole episodes
# ---------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Whole episodes, flattened time-major (episode order is irrelevant to the estimators).

    Attributes:
        obs: (M, obs_size) observations s_t, float32.
        actions: (M,) actions a_t.
        rewards: (M,) rewards r_{t+1}.
        returns: (M,) G_t (without bootstrap; see ``truncated``/``final_obs``).
        episode: (M,) index of the episode each step belongs to, 0..episodes-1.
        time: (M,) the step's time t within its episode (0 at the first step).
        truncated: (M,) whether the episode was cut by a time limit at this step (and did not
            terminate there).
        final_obs: (M, obs_size) s_{t+1} at truncated steps (zeros elsewhere).
        episode_returns: (episodes,) undiscounted episode returns.
        episode_lengths: (episodes,) episode lengths.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    returns: np.ndarray
    episode: np.ndarray
    time: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray

    @property
    def episodes(self) -> int:
        return int(self.episode_returns.size)

    @property
    def steps(self) -> int:
        return int(self.actions.size)


ActFn = Callable[[np.ndarray], np.ndarray]
"""A policy for rollouts: (N, obs_size) float32 observations -> (N,) integer actions."""


class Rollout:
    """Runs a vector environment with a policy and returns whole episodes.

    Sub-environments keep running across calls: an episode that is unfinished when enough others
    are complete continues in the next call (its first steps were then taken by the previous
    policy, one update old). :meth:`restart` resets every sub-environment with a seed and drops
    unfinished episodes.

    A rollout is a checkpoint part. Environments cannot be saved, but a gymnasium environment is
    a function of its reset seed and the actions taken since: :meth:`state_dict` keeps the seed of
    the last restart and every action since (a few bytes per step), and :meth:`load_state_dict`
    resets and replays them, then checks that the replay reproduced the saved observations. So
    writing a checkpoint changes nothing in the run (how often it is written cannot change the
    results), and a run resumed from one continues exactly as the uninterrupted run does.

    Steps are stored time-major in preallocated arrays of shape (capacity, num_envs, ...): a step
    costs a few array writes, and cutting out the finished episodes is a handful of vectorised
    operations (no per-step Python objects).
    """

    _FIELDS: tuple[tuple[str, Any], ...] = (
        ("actions", np.int64),
        ("rewards", np.float64),
        ("terminated", np.bool_),
        ("truncated", np.bool_),
        ("end", np.bool_),
        ("valid", np.bool_),
    )

    def __init__(self, env: VectorEnv, gamma: float) -> None:
        self.env = env
        self.gamma = gamma
        self.num_envs = env.num_envs
        self.mode = autoreset_mode(env)
        self.obs_size = observation_size(env)
        self._obs: np.ndarray | None = None
        self._skip = np.zeros(self.num_envs, dtype=bool)  # next step is a NEXT_STEP reset step
        self._buf: dict[str, np.ndarray] = {}
        self._size = 0  # rows in use
        self._allocate(256)
        self._clock = 0  # vector steps since construction, to order finished episodes
        self._finished: list[tuple[int, int, float, int]] = []  # (env, clock, return, length)
        self._seed: int | None = None  # of the last restart
        self._actions: list[np.ndarray] = []  # every vector step's actions since the restart
        self.steps = 0
        """environment steps taken (every sub-environment step, reset steps excluded)"""

    def _allocate(self, capacity: int) -> None:
        n, d = self.num_envs, self.obs_size
        new = {name: np.zeros((capacity, n), dtype) for name, dtype in self._FIELDS}
        new["obs"] = np.zeros((capacity, n, d), np.float32)
        new["final"] = np.zeros((capacity, n, d), np.float32)
        for name, array in self._buf.items():
            new[name][: self._size] = array[: self._size]
        self._buf = new

    def restart(self, seed: int) -> None:
        """Reset every sub-environment with ``seed``, dropping unfinished episodes."""
        obs, _ = self.env.reset(seed=seed)
        self._obs = self._flat(obs)
        self._skip[:] = False
        self._size = 0
        self._finished = []
        self._seed = seed
        self._actions = []

    @property
    def pending_episodes(self) -> int:
        """Episodes that ended since the last batch was handed out (too few for one yet)."""
        return len(self._finished)

    @property
    def started(self) -> bool:
        """Whether :meth:`restart` has been called (the environments hold episodes)."""
        return self._seed is not None

    def _flat(self, obs: Any) -> np.ndarray:
        with np.errstate(over="ignore"):  # beyond float32: inf, refused before an update
            return np.asarray(obs, dtype=np.float32).reshape(self.num_envs, self.obs_size)

    def collect(self, act: ActFn, episodes: int, max_steps: int | None = None) -> Batch:
        """Step until at least ``episodes`` episodes are complete; return all complete ones.

        ``max_steps`` bounds the environment steps of this call, so an environment whose
        episodes never end cannot hold training beyond its step budget. When it runs out first,
        an empty batch is returned and every stored step stays, complete episodes included: the
        next call continues from them, so collecting under several budgets gives the same
        batches as one call does (``learn(a)`` then ``learn(b)`` is ``learn(b)``).
        """
        if self._obs is None:
            raise RuntimeError("call restart(seed) before collect()")
        done_count = int(self._buf["end"][: self._size].sum())
        start_steps = self.steps
        while done_count < episodes:
            if max_steps is not None and self.steps - start_steps >= max_steps:
                return self._empty()
            if self._size == self._buf["obs"].shape[0]:
                self._allocate(2 * self._size)
            b, t = self._buf, self._size
            obs = self._obs
            actions = act(obs)
            self._actions.append(np.array(actions))  # a copy: act may reuse its array
            next_obs, rewards, terminated, truncated, info = self.env.step(actions)
            valid = ~self._skip
            terminated = np.logical_and(terminated, valid)
            truncated = np.logical_and(truncated, valid) & ~terminated  # see the module docstring
            end = np.logical_or(terminated, truncated)
            next_obs = self._flat(next_obs)
            b["obs"][t] = obs
            b["actions"][t] = actions
            b["rewards"][t] = rewards
            b["terminated"][t] = terminated
            b["truncated"][t] = truncated
            b["end"][t] = end
            b["valid"][t] = valid
            b["final"][t] = 0.0
            if truncated.any():  # s_{t+1} of an episode cut by a time limit, for bootstrapping
                if self.mode == AutoresetMode.SAME_STEP:  # None for sub-environments still running
                    for i in np.flatnonzero(truncated):
                        b["final"][t, i] = np.asarray(info["final_obs"][i]).reshape(-1)
                else:
                    b["final"][t][truncated] = next_obs[truncated]
            if end.any():  # the statistics of the episodes that just ended, from the helper
                returns, lengths = finished_episodes(info)
                for env_index, r, n in zip(np.flatnonzero(end), returns, lengths, strict=True):
                    self._finished.append((int(env_index), self._clock, float(r), int(n)))
            self._clock += 1
            self._size += 1
            self.steps += int(valid.sum())
            done_count += int(end.sum())
            if self.mode == AutoresetMode.NEXT_STEP:
                self._skip = end
            self._obs = next_obs
        return self._take()

    def _empty(self) -> Batch:
        steps, size = np.zeros(0, np.int64), (0, self.obs_size)
        return Batch(
            obs=np.zeros(size, np.float32),
            actions=steps,
            rewards=np.zeros(0),
            returns=np.zeros(0),
            episode=steps,
            time=steps,
            truncated=np.zeros(0, bool),
            final_obs=np.zeros(size, np.float32),
            episode_returns=np.zeros(0),
            episode_lengths=steps,
        )

    def _take(self) -> Batch:
        """Cut the complete episodes out of the stored rows; keep the unfinished tails."""
        T = self._size
        b = {name: array[:T] for name, array in self._buf.items()}  # each (T, N, ...)
        end, valid = b["end"], b["valid"]
        steps = np.arange(T)[:, None]
        last_end = np.where(end, steps, -1).max(axis=0)  # (N,) last episode end per column
        complete = np.logical_and(steps <= last_end, valid)  # (T, N)
        returns = discounted_returns(b["rewards"], b["terminated"], b["truncated"], self.gamma)
        # Episode ids: count ends before each step within a column, then number columns apart.
        ends_before = np.cumsum(end, axis=0) - end  # (T, N)
        per_column = end.sum(axis=0)
        offset = np.concatenate([[0], np.cumsum(per_column)[:-1]])
        episode_id = ends_before + offset[None, :]
        # Flatten column-major so that each episode's steps are contiguous and in time order.
        order = complete.T
        episode = episode_id.T[order]
        rewards = b["rewards"].T[order]
        n_episodes = int(per_column.sum())
        # Every episode that ended since the last cut is handed over now; in episode-id order
        # (sub-environment, then time) the helper's statistics line up with the steps.
        stats = sorted(self._finished)
        self._finished = []
        lengths = np.array([n for _, _, _, n in stats], dtype=np.int64)
        if len(stats) != n_episodes or lengths.sum() != order.sum():
            raise RuntimeError("episode statistics disagree with the collected steps")
        batch = Batch(
            obs=b["obs"].transpose(1, 0, 2)[order],
            actions=b["actions"].T[order],
            rewards=rewards,
            returns=returns.T[order],
            episode=episode,
            time=episode_time(episode),
            truncated=b["truncated"].T[order],
            final_obs=b["final"].transpose(1, 0, 2)[order],
            episode_returns=np.array([r for _, _, r, _ in stats]),
            episode_lengths=lengths,
        )
        # Keep the rows after the earliest last end, with the already used part made invalid.
        keep_from = int(last_end.min()) + 1
        kept = T - keep_from
        for array in self._buf.values():
            array[:kept] = array[keep_from:T]
        used = np.arange(keep_from, T)[:, None] <= last_end[None, :]  # (kept, N)
        for name in ("terminated", "truncated", "end", "valid"):
            self._buf[name][:kept] &= ~used
        self._size = kept
        return batch

    # --- checkpoints: the restart seed and the actions since, replayed on load -------------------

    def state_dict(self) -> dict[str, Any]:
        """The restart seed, the actions since, and the stored rows of unfinished episodes."""
        import torch

        actions = np.stack(self._actions) if self._actions else np.zeros((0, self.num_envs))
        return {
            "seed": self._seed,
            "actions": torch.from_numpy(actions.astype(_action_dtype(actions))),
            "obs": torch.from_numpy(self._obs.copy()) if self._obs is not None else None,
            "skip": torch.from_numpy(self._skip.copy()),
            "rows": {k: torch.from_numpy(v[: self._size].copy()) for k, v in self._buf.items()},
            "clock": self._clock,
            "finished": [list(f) for f in self._finished],
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reset with the saved seed, replay the saved actions, restore the stored rows.

        Raises:
            UserError: the replay did not reproduce the saved observations (an environment that
                is not a function of its seed and actions cannot be resumed exactly).
        """
        self._finished = []
        if state["seed"] is None:  # saved before the first restart
            self._obs, self._seed, self._actions, self._size = None, None, [], 0
            self._clock, self.steps = int(state["clock"]), int(state["steps"])
            return
        saved = state["obs"].numpy()
        actions = state["actions"].numpy().astype(np.int64)
        if saved.shape != (self.num_envs, self.obs_size) or actions.shape[1:] != saved.shape[:1]:
            raise UserError(
                f"{_name(self.env)}: the checkpoint's environments were {saved.shape[0]} "
                f"sub-environments with {int(np.prod(saved.shape[1:]))} observations each, but "
                f"this vector environment has {self.num_envs} with {self.obs_size}; they cannot "
                "be replayed here"
            )
        self.restart(int(state["seed"]))
        obs = self._obs
        for row in actions:
            obs, *_ = self.env.step(row)
        self._actions = list(actions)
        if not np.array_equal(self._flat(obs), saved):
            raise UserError(
                f"{_name(self.env)}: replaying the saved actions did not reproduce the saved "
                "observations; this environment cannot be resumed exactly"
            )
        self._obs = saved.copy()
        self._skip = state["skip"].numpy().copy()
        rows = {k: v.numpy() for k, v in state["rows"].items()}
        self._size = len(rows["obs"])
        capacity = self._buf["obs"].shape[0]
        while capacity < self._size:
            capacity *= 2
        self._buf = {}
        self._allocate(capacity)
        for name, array in rows.items():
            self._buf[name][: self._size] = array
        self._clock = int(state["clock"])
        self._finished = [(int(e), int(c), float(r), int(n)) for e, c, r, n in state["finished"]]
        self.steps = int(state["steps"])


def _action_dtype(actions: np.ndarray) -> type:
    """The smallest integer type that holds every action (a checkpoint keeps all of them)."""
    top = int(actions.max()) if actions.size else 0
    return np.int8 if top < 2**7 else np.int16 if top < 2**15 else np.int64
