"""The MDPs rlgen ships: the book's gridworlds, gymnasium's toy-text tasks, random MDPs.

- :func:`gridworld_3_5`: Example 3.5 (Sutton & Barto): a 5x5 grid, moves off the grid leave the
  agent in place with reward -1, every move from A = (0, 1) jumps to A' = (4, 1) with +10, from
  B = (0, 3) to B' = (2, 3) with +5, all else 0; continuing, gamma = 0.9 (Figures 3.2 and 3.5).
- :func:`gridworld_4_1`: Example 4.1: a 4x4 grid, reward -1 on every transition, the two shaded
  corners terminal, moves off the grid leave the state unchanged; undiscounted (Figure 4.1).
- :func:`from_gymnasium`: FrozenLake-v1, CliffWalking, Taxi read from the dynamics they expose
  (``env.unwrapped.P``); gymnasium has no discount, so one is chosen per task.
- :func:`random_mdp`: random finite MDPs by seed, episodic (every step ends with a fixed
  probability, so every policy terminates) or continuing; sparse (a few successors per action).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from rlgen.mdp.model import MDP, MDPError

GRID_ACTIONS = ("up", "right", "down", "left")
_MOVES = {"up": (-1, 0), "right": (0, 1), "down": (1, 0), "left": (0, -1)}


def _grid_move(rows: int, cols: int, s: int, action: str) -> tuple[int, bool]:
    """The cell reached from ``s`` by ``action``, and whether the move went off the grid."""
    r, c = divmod(s, cols)
    dr, dc = _MOVES[action]
    r2, c2 = r + dr, c + dc
    if 0 <= r2 < rows and 0 <= c2 < cols:
        return r2 * cols + c2, False
    return s, True


def gridworld_3_5(gamma: float = 0.9, horizon: int | None = None) -> MDP:
    """Example 3.5's gridworld (5x5, A -> A' +10, B -> B' +5, off-grid -1), continuing.

    With a horizon H every episode is truncated after H steps (then gamma = 1 is allowed).
    """
    rows = cols = 5
    A, A_prime, B, B_prime = 0 * cols + 1, 4 * cols + 1, 0 * cols + 3, 2 * cols + 3
    outcomes = []
    for s in range(rows * cols):
        for a, name in enumerate(GRID_ACTIONS):
            if s == A:
                outcomes.append((s, a, 1.0, A_prime, 10.0))
            elif s == B:
                outcomes.append((s, a, 1.0, B_prime, 5.0))
            else:
                s2, off = _grid_move(rows, cols, s, name)
                outcomes.append((s, a, 1.0, s2, -1.0 if off else 0.0))
    return MDP.from_outcomes(
        rows * cols,
        4,
        outcomes,
        gamma=gamma,
        horizon=horizon,
        name="gridworld-3.5",
        action_names=GRID_ACTIONS,
        grid=(rows, cols),
    )


def gridworld_4_1(gamma: float = 1.0, horizon: int | None = None) -> MDP:
    """Example 4.1's gridworld (4x4, -1 per step, terminal corners), undiscounted.

    The initial distribution is uniform over the 14 non-terminal states.
    """
    rows = cols = 4
    outcomes = []
    for s in range(rows * cols):
        for a, name in enumerate(GRID_ACTIONS):
            s2, _ = _grid_move(rows, cols, s, name)
            outcomes.append((s, a, 1.0, s2, -1.0))
    return MDP.from_outcomes(
        rows * cols,
        4,
        outcomes,
        terminal=[0, rows * cols - 1],
        gamma=gamma,
        horizon=horizon,
        name="gridworld-4.1",
        action_names=GRID_ACTIONS,
        grid=(rows, cols),
    )


# ---------------------------------------------------------------------------------------------
# gymnasium's toy-text environments
# ---------------------------------------------------------------------------------------------

# Ids to try in order: gymnasium 1.x renamed CliffWalking-v0 -> v1 and Taxi-v3 -> v4.
GYM_IDS: dict[str, tuple[str, ...]] = {
    "frozenlake": ("FrozenLake-v1",),
    "cliffwalking": ("CliffWalking-v0", "CliffWalking-v1"),
    "taxi": ("Taxi-v3", "Taxi-v4"),
}
GYM_ACTIONS: dict[str, tuple[str, ...]] = {
    "FrozenLake": ("left", "down", "right", "up"),
    "CliffWalking": ("up", "right", "down", "left"),
    "Taxi": ("down", "up", "right", "left", "pickup", "dropoff"),
}
GYM_GAMMA = {"frozenlake": 0.9, "cliffwalking": 1.0, "taxi": 1.0}


def gym_id(task: str) -> str:
    """The registered gymnasium id of ``task`` (frozenlake, cliffwalking, taxi)."""
    import gymnasium

    for env_id in GYM_IDS[task]:
        if env_id in gymnasium.registry:
            return env_id
    raise MDPError(
        f"gymnasium {gymnasium.__version__} registers none of {', '.join(GYM_IDS[task])}"
    )


def from_gymnasium(
    env_or_id: object,
    *,
    gamma: float,
    horizon: int | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> MDP:
    """An :class:`MDP` from a toy-text environment's exposed dynamics ``unwrapped.P``.

    A state is terminal when gymnasium marks the transitions into it ``terminated`` (holes and the
    goal of FrozenLake, the goal of CliffWalking, Taxi's delivered states). The initial
    distribution is ``unwrapped.initial_state_distrib`` (uniform over the non-terminal states
    where there is none); a grid-shaped task gets its grid.

    Args:
        env_or_id: an environment or a registered id; ``kwargs`` go to ``gymnasium.make``.
        gamma: the discount (gymnasium's environments have none).
        horizon: H, truncate every episode after H steps, or None (gymnasium's own time limit,
            a ``TimeLimit`` wrapper, is not part of the dynamics and is not read).
    """
    import gymnasium

    env: Any
    if isinstance(env_or_id, str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gymnasium.make(env_or_id, **kwargs)
    else:
        env = env_or_id
    u: Any = env.unwrapped
    P = getattr(u, "P", None)
    if not isinstance(P, dict):
        raise MDPError(
            f"{env.spec.id if env.spec else u}: the environment does not expose its "
            "dynamics as unwrapped.P"
        )
    n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
    outcomes = []
    into_terminal = np.zeros(n_states, dtype=bool)
    for s, by_action in P.items():
        for a, rows in by_action.items():
            for prob, s2, reward, terminated in rows:
                outcomes.append((s, a, prob, int(s2), reward))
                into_terminal[int(s2)] |= bool(terminated)
    # Transitions out of terminal states (and out of states no episode reaches, such as Taxi's
    # delivered-elsewhere states) are never taken, but every transition an episode can take into
    # a terminal state must end it.
    initial = getattr(u, "initial_state_distrib", None)  # None: uniform over live states
    if initial is not None:
        initial = np.asarray(initial, dtype=float)
    starts = np.flatnonzero(initial > 0 if initial is not None else ~into_terminal)
    seen = set(starts.tolist())
    frontier = list(seen)
    while frontier:
        s = frontier.pop()
        for rows in P[s].values():
            for prob, s2, _, terminated in rows:
                s2 = int(s2)
                if prob > 0 and into_terminal[s2] and not terminated:
                    raise MDPError(
                        f"transitions into state {s2} are marked both terminating and "
                        "not; a terminal state must always end the episode"
                    )
                if prob > 0 and not terminated and s2 not in seen:
                    seen.add(s2)
                    frontier.append(s2)
    env_name = env.spec.name if env.spec else type(u).__name__
    grid: Any = None
    desc = getattr(u, "desc", None)
    if desc is not None and np.asarray(desc).size == n_states and np.asarray(desc).ndim == 2:
        grid = tuple(np.asarray(desc).shape)
    elif getattr(u, "shape", None) is not None and np.prod(u.shape) == n_states:
        grid = tuple(u.shape)
    return MDP.from_outcomes(
        n_states,
        n_actions,
        outcomes,
        initial=initial,
        terminal=into_terminal,
        gamma=gamma,
        horizon=horizon,
        name=name or env_name,
        action_names=GYM_ACTIONS.get(env_name, ()),
        grid=grid,
    )


FROZENLAKE_MAPS = ("4x4", "8x8")
"""the maps gymnasium registers for FrozenLake-v1 (``map_name``)"""


def frozenlake(
    gamma: float = GYM_GAMMA["frozenlake"], horizon: int | None = None, map_name: str = "4x4"
) -> MDP:
    """FrozenLake-v1 (slippery) on gymnasium's 4x4 or 8x8 map: reward 1 at the goal, holes end
    the episode. Named ``frozenlake`` (4x4) or ``frozenlake-8x8``."""
    if map_name not in FROZENLAKE_MAPS:
        raise MDPError(f"unknown FrozenLake map {map_name!r}; choose from 4x4, 8x8")
    name = "frozenlake" if map_name == "4x4" else f"frozenlake-{map_name}"
    return from_gymnasium(
        gym_id("frozenlake"), gamma=gamma, horizon=horizon, name=name, map_name=map_name
    )


def cliffwalking(gamma: float = GYM_GAMMA["cliffwalking"], horizon: int | None = None) -> MDP:
    """CliffWalking (4x12): -1 per step, -100 and back to the start for stepping into the cliff."""
    return from_gymnasium(gym_id("cliffwalking"), gamma=gamma, horizon=horizon, name="cliffwalking")


def taxi(gamma: float = GYM_GAMMA["taxi"], horizon: int | None = None) -> MDP:
    """Taxi (500 states, 6 actions): -1 per step, -10 for a bad pickup/dropoff, +20 at the end."""
    return from_gymnasium(gym_id("taxi"), gamma=gamma, horizon=horizon, name="taxi")


# ---------------------------------------------------------------------------------------------
# Random MDPs
# ---------------------------------------------------------------------------------------------


def random_mdp(
    n_states: int,
    n_actions: int,
    successors: int,
    rng: np.random.Generator,
    *,
    gamma: float = 1.0,
    terminals: int = 1,
    end_prob: float = 0.1,
    reward_mean: float = 0.0,
    reward_std: float = 1.0,
    horizon: int | None = None,
) -> MDP:
    """A random finite MDP: each (s, a) leads to ``successors`` random states.

    Episodic when ``terminals > 0``: the last ``terminals`` states are terminal and each (s, a)
    moves to one of them with its own probability, uniform in [end_prob / 2, 3 end_prob / 2] (so
    every policy ends, after at most 2 / end_prob steps on average, and gamma = 1 is allowed).
    Continuing when ``terminals`` is 0. ``horizon`` truncates every episode after H steps.

    The successors of a row are drawn uniformly (with replacement) among the non-terminal states,
    their probabilities from a flat Dirichlet, their rewards from N(reward_mean, reward_std^2), so
    each (s, a, s') has its own reward. The initial distribution is uniform over
    non-terminal states.
    """
    if terminals < 0 or terminals >= n_states:
        raise MDPError(f"terminals must be in 0..{n_states - 1}, got {terminals}")
    if successors < 1:
        raise MDPError(f"successors must be >= 1, got {successors}")
    if terminals == 0:
        end_prob = 0.0
    live = n_states - terminals
    rows = live * n_actions
    # Each row ends with its own probability around end_prob, so episode lengths depend on the
    # policy (a constant would make every policy's expected length 1 / end_prob).
    ends_p = np.minimum(end_prob * rng.uniform(0.5, 1.5, size=rows), 1.0)
    weights = rng.gamma(1.0, size=(rows, successors))  # flat Dirichlet
    probs = (1.0 - ends_p)[:, None] * weights / weights.sum(axis=1, keepdims=True)
    next_state = rng.integers(0, live, size=(rows, successors))
    reward = rng.normal(reward_mean, reward_std, size=(rows, successors))
    row = np.repeat(np.arange(rows), successors)
    columns = [row // n_actions, row % n_actions, probs.ravel(), next_state.ravel(), reward.ravel()]
    if terminals:
        ends = np.arange(rows)
        columns = [
            np.concatenate([columns[0], ends // n_actions]),
            np.concatenate([columns[1], ends % n_actions]),
            np.concatenate([columns[2], ends_p]),
            np.concatenate([columns[3], rng.integers(live, n_states, size=rows)]),
            np.concatenate([columns[4], rng.normal(reward_mean, reward_std, size=rows)]),
        ]
    return MDP.from_outcomes(
        n_states,
        n_actions,
        np.column_stack(columns),
        terminal=np.arange(live, n_states),
        gamma=gamma,
        horizon=horizon,
        name=f"random-{n_states}x{n_actions}x{successors}",
    )


EXAMPLES: dict[str, Callable[..., MDP]] = {
    "gridworld-3.5": gridworld_3_5,
    "gridworld-4.1": gridworld_4_1,
    "frozenlake": frozenlake,
    "cliffwalking": cliffwalking,
    "taxi": taxi,
}
"""The named examples of ``rlgen mdp solve --example``; each takes ``gamma`` (default: its own)
and ``horizon`` (default: none); ``frozenlake`` also ``map_name``."""


def example(
    name: str, gamma: float | None = None, horizon: int | None = None, **options: Any
) -> MDP:
    """A named example with its own discount, or ``gamma`` when given; truncated after
    ``horizon`` steps when given; ``options`` go to its function (``map_name="8x8"``)."""
    if name not in EXAMPLES:
        raise MDPError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    if gamma is None:
        return EXAMPLES[name](horizon=horizon, **options)
    return EXAMPLES[name](gamma=gamma, horizon=horizon, **options)
