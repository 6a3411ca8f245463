"""A finite Markov decision process, given by its dynamics p(s', r | s, a) (Sutton & Barto 3.1).

The MDP is stored as the lecture writes it: a table of outcomes. Each row of the table is one
possible outcome ``(s, a) -> (s', r)`` with its probability p(s', r | s, a), exactly the shape of
gymnasium's toy-text ``P[s][a] = [(prob, next_state, reward, terminated), ...]``. A reward
distribution is several rows with the same s' and different rewards; a deterministic reward is one
row. From the table follow, once and cached:

- ``P``: the state-transition probabilities p(s' | s, a) as a sparse (S*A, S) matrix, row s*A + a;
- ``expected_reward``: r(s, a) = sum_{s', r} p(s', r | s, a) r, shape (S, A);
- ``p_dense`` / ``r_dense``: (S, A, S) arrays for small MDPs (r(s, a, s') is the expected reward
  given the next state).

Terminal states are absorbing with reward 0 (section 3.4): their rows are dropped, so every value
of a terminal state is 0 and every solver sees a substochastic matrix. A task is *episodic* when it
has terminal states, *continuing* when it has none; an optional horizon H truncates every episode
after H steps (an episodic task with a guaranteed finite horizon).

The same object samples: :meth:`MDP.step` draws outcomes for many (s, a) pairs at once,
:func:`sample_episodes` runs many episodes of a policy side by side, and :meth:`MDP.env` returns
a seeded gymnasium environment (``reset`` / ``step``) for the sampled algorithms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import gymnasium
import numpy as np
import scipy.sparse as sp

from rlgen.errors import UserError, check_config_types, number_text

PROB_TOL = 1e-8
"""allowed deviation of a row of probabilities from summing to 1 (and below 0)"""


class MDPError(UserError, ValueError):
    """An MDP that is not one: bad probabilities, shapes, discount, or undefined values."""


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MDP:
    """A finite MDP: the outcome table p(s', r | s, a), h(s), terminal states, gamma, horizon H.

    Build one with :meth:`from_outcomes`, :meth:`from_arrays` or the functions in
    :mod:`rlgen.mdp.examples`; the constructor takes the table already grouped by (s, a).

    Attributes:
        n_states: S.
        n_actions: A.
        row_start: (S*A + 1,) outcomes of (s, a) are ``row_start[s*A+a] : row_start[s*A+a+1]``.
        next_state: (N,) s' of each outcome.
        reward: (N,) r of each outcome.
        prob: (N,) p(s', r | s, a) of each outcome.
        initial: (S,) the initial-state distribution h(s).
        terminal: (S,) bool, the terminal states.
        gamma: the discount in [0, 1].
        horizon: H, the number of steps after which every episode is truncated, or None.
        name: a label for figures and summaries.
        action_names: one name per action (``up``, ``right``, ... draw arrows in figures).
        grid: (rows, cols) when state s is the cell (s // cols, s % cols), else None.
    """

    n_states: int
    n_actions: int
    row_start: np.ndarray
    next_state: np.ndarray
    reward: np.ndarray
    prob: np.ndarray
    initial: np.ndarray
    terminal: np.ndarray
    gamma: float
    horizon: int | None = None
    name: str = "mdp"
    action_names: tuple[str, ...] = ()
    grid: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check_config_types(self)
        if not self.action_names:
            object.__setattr__(self, "action_names", tuple(str(a) for a in range(self.n_actions)))
        self._validate()

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def from_outcomes(
        cls,
        n_states: int,
        n_actions: int,
        outcomes: Iterable[tuple[int, int, float, int, float]] | np.ndarray,
        *,
        initial: Sequence[float] | np.ndarray | None = None,
        terminal: Iterable[int] | np.ndarray = (),
        gamma: float,
        horizon: int | None = None,
        name: str = "mdp",
        action_names: Sequence[str] = (),
        grid: tuple[int, int] | None = None,
    ) -> MDP:
        """An MDP from outcomes ``(s, a, p(s', r | s, a), s', r)``, the lecture's dynamics.

        Outcomes of terminal states are dropped (a terminal state is absorbing with reward 0).
        ``initial`` defaults to uniform over the non-terminal states; ``terminal`` lists states
        or is a boolean mask.
        """
        table = np.asarray(
            list(outcomes) if not isinstance(outcomes, np.ndarray) else outcomes, dtype=float
        )
        if table.size == 0:
            table = table.reshape(0, 5)
        if table.ndim != 2 or table.shape[1] != 5:
            raise MDPError(
                f"outcomes must be rows (state, action, probability, next_state, reward); "
                f"got an array of shape {table.shape}"
            )
        s, a, p, s2, r = table.T
        for what, col, n in (
            ("state", s, n_states),
            ("action", a, n_actions),
            ("next_state", s2, n_states),
        ):
            bad = (col < 0) | (col >= n) | (col != np.round(col))
            if bad.any():
                raise MDPError(
                    f"outcome {int(np.argmax(bad))}: {what} {col[bad][0]:g} is not in 0..{n - 1}"
                )
        mask = _terminal_mask(terminal, n_states)
        return cls._from_columns(
            n_states,
            n_actions,
            s.astype(np.int64),
            a.astype(np.int64),
            p,
            s2.astype(np.int64),
            r,
            initial=initial,
            terminal=mask,
            gamma=gamma,
            horizon=horizon,
            name=name,
            action_names=tuple(action_names),
            grid=grid,
        )

    @classmethod
    def from_arrays(
        cls,
        p: np.ndarray,
        r: np.ndarray,
        *,
        initial: Sequence[float] | np.ndarray | None = None,
        terminal: Iterable[int] | np.ndarray = (),
        gamma: float,
        horizon: int | None = None,
        name: str = "mdp",
        action_names: Sequence[str] = (),
        grid: tuple[int, int] | None = None,
    ) -> MDP:
        """An MDP from dense arrays: p(s' | s, a) of shape (S, A, S) and rewards r(s, a, s')
        of shape (S, A, S) or r(s, a) of shape (S, A) (the expected reward)."""
        p = np.asarray(p, dtype=float)
        r = np.asarray(r, dtype=float)
        if p.ndim != 3 or p.shape[0] != p.shape[2]:
            raise MDPError(f"p must have shape (S, A, S); got {p.shape}")
        n_states, n_actions, _ = p.shape
        if r.shape == (n_states, n_actions):
            r = np.broadcast_to(r[:, :, None], p.shape)
        if r.shape != p.shape:
            raise MDPError(
                f"r must have shape (S, A, S) = {p.shape} or (S, A) = {p.shape[:2]}; got {r.shape}"
            )
        s, a, s2 = np.nonzero(p)
        return cls._from_columns(
            n_states,
            n_actions,
            s,
            a,
            p[s, a, s2],
            s2,
            r[s, a, s2],
            initial=initial,
            terminal=_terminal_mask(terminal, n_states),
            gamma=gamma,
            horizon=horizon,
            name=name,
            action_names=tuple(action_names),
            grid=grid,
        )

    @classmethod
    def _from_columns(
        cls,
        n_states: int,
        n_actions: int,
        s: np.ndarray,
        a: np.ndarray,
        p: np.ndarray,
        s2: np.ndarray,
        r: np.ndarray,
        *,
        initial: Any,
        terminal: np.ndarray,
        **kwargs: Any,
    ) -> MDP:
        keep = ~terminal[s]  # terminal states are absorbing with reward 0: no outcomes
        s, a, p, s2, r = s[keep], a[keep], p[keep], s2[keep], r[keep]
        row = s * n_actions + a
        order = np.argsort(row, kind="stable")
        counts = np.bincount(row, minlength=n_states * n_actions)
        row_start = np.concatenate([[0], np.cumsum(counts)])
        if initial is None:
            if terminal.all():
                raise MDPError("every state is terminal: there is nothing to decide")
            h = (~terminal).astype(float)
            initial = h / h.sum()
        return cls(
            n_states=int(n_states),
            n_actions=int(n_actions),
            row_start=row_start,
            next_state=s2[order].astype(np.int64),
            reward=r[order].astype(float),
            prob=p[order].astype(float),
            initial=np.asarray(initial, dtype=float),
            terminal=terminal,
            **kwargs,
        )

    # ---- validation -------------------------------------------------------------------------

    def _validate(self) -> None:
        S, A = self.n_states, self.n_actions
        if S < 1 or A < 1:
            raise MDPError(f"an MDP needs at least one state and one action; got S={S}, A={A}")
        if not 0.0 <= self.gamma <= 1.0 or np.isnan(self.gamma):
            raise MDPError(f"the discount gamma must be in [0, 1], got {number_text(self.gamma)}")
        if self.horizon is not None and self.horizon < 1:
            raise MDPError(f"the horizon H must be >= 1 (or None), got {self.horizon}")
        if self.row_start.shape != (S * A + 1,):
            raise MDPError(
                f"row_start must have shape (S*A + 1,) = ({S * A + 1},); got {self.row_start.shape}"
            )
        n = int(self.row_start[-1])
        for what, arr in (
            ("next_state", self.next_state),
            ("reward", self.reward),
            ("prob", self.prob),
        ):
            if arr.shape != (n,):
                raise MDPError(
                    f"{what} must have one entry per outcome, shape ({n},); got {arr.shape}"
                )
        if self.initial.shape != (S,):
            raise MDPError(
                f"the initial distribution must have shape (S,) = ({S},); got {self.initial.shape}"
            )
        if self.terminal.shape != (S,) or self.terminal.dtype != bool:
            raise MDPError(f"terminal must be a boolean mask of shape ({S},)")
        if len(self.action_names) != A:
            raise MDPError(f"action_names must name all {A} actions; got {len(self.action_names)}")
        if self.grid is not None and self.grid[0] * self.grid[1] != S:
            raise MDPError(
                f"a grid of {self.grid[0]}x{self.grid[1]} cells does not hold {S} states"
            )
        if n and ((self.next_state < 0) | (self.next_state >= S)).any():
            raise MDPError(f"next states must be in 0..{S - 1}")
        if not np.isfinite(self.reward).all():
            raise MDPError("rewards must be finite numbers")
        if not np.isfinite(self.prob).all() or (self.prob < -PROB_TOL).any():
            i = int(np.argmax(~np.isfinite(self.prob) | (self.prob < -PROB_TOL)))
            s, a = divmod(int(np.searchsorted(self.row_start, i, side="right") - 1), A)
            raise MDPError(
                f"p(s', r | s={s}, a={a}) has a negative or non-finite probability {self.prob[i]:g}"
            )
        if (np.diff(self.row_start) < 0).any() or self.row_start[0] != 0:
            raise MDPError("row_start must start at 0 and never decrease")
        sums = np.bincount(self.outcome_row, self.prob, minlength=S * A).reshape(S, A)
        off = (np.abs(sums - 1.0) > PROB_TOL) & ~self.terminal[:, None]
        if off.any():
            s, a = np.argwhere(off)[0]
            raise MDPError(
                f"the probabilities p(s', r | s={s}, a={a}) sum to {sums[s, a]:.10g}, not 1 "
                f"(tolerance {PROB_TOL:g}); {int(off.sum())} (state, action) pair(s) are off"
            )
        if not _is_distribution(self.initial):
            raise MDPError(
                f"the initial distribution h(s) must be >= 0 and sum to 1; it sums to "
                f"{self.initial.sum():.10g} with minimum {self.initial.min():g}"
            )
        if self.gamma == 1.0 and not self.terminal.any() and self.horizon is None:
            raise MDPError(
                "gamma = 1 on a continuing task (no terminal states, no horizon): the returns of "
                "every policy are unbounded sums and the values are undefined; use gamma < 1, "
                "terminal states or a horizon"
            )

    # ---- derived quantities -----------------------------------------------------------------

    @property
    def episodic(self) -> bool:
        """Whether the task has terminal states or a horizon (else it is continuing)."""
        return bool(self.terminal.any()) or self.horizon is not None

    @cached_property
    def outcome_row(self) -> np.ndarray:
        """(N,) the row s*A + a of each outcome."""
        return np.repeat(np.arange(self.n_states * self.n_actions), np.diff(self.row_start))

    @cached_property
    def P(self) -> sp.csr_array:
        """p(s' | s, a) as a sparse (S*A, S) matrix, row s*A + a (duplicates summed)."""
        S, A = self.n_states, self.n_actions
        m = sp.csr_array((self.prob, (self.outcome_row, self.next_state)), shape=(S * A, S))
        m.sum_duplicates()
        return m

    @cached_property
    def expected_reward(self) -> np.ndarray:
        """r(s, a) = sum_{s', r} p(s', r | s, a) r, shape (S, A); 0 at terminal states."""
        S, A = self.n_states, self.n_actions
        return np.bincount(self.outcome_row, self.prob * self.reward, minlength=S * A).reshape(S, A)

    @cached_property
    def p_dense(self) -> np.ndarray:
        """p(s' | s, a) as a dense (S, A, S) array (rows of terminal states are 0)."""
        return self.P.toarray().reshape(self.n_states, self.n_actions, self.n_states)

    @cached_property
    def r_dense(self) -> np.ndarray:
        """r(s, a, s') = E[R | s, a, s'], shape (S, A, S); 0 where p(s' | s, a) = 0."""
        S, A = self.n_states, self.n_actions
        pr = np.zeros(S * A * S)
        np.add.at(pr, self.outcome_row * S + self.next_state, self.prob * self.reward)
        p = self.p_dense.reshape(-1)
        out = np.divide(pr, p, out=np.zeros_like(pr), where=p > 0)
        return out.reshape(S, A, S)

    @cached_property
    def _cumulative(self) -> np.ndarray:
        """(N,) running sum of the outcome probabilities, for inverse-CDF sampling."""
        return np.cumsum(self.prob)

    # ---- sampling ---------------------------------------------------------------------------

    def reset_states(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) initial states drawn from h."""
        cumulative = np.cumsum(self.initial)
        index = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
        return np.minimum(index, self.n_states - 1)

    def step(
        self, states: np.ndarray, actions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw (s', r) ~ p(., . | s, a) for every pair; returns next states and rewards, (n,).

        Raises:
            MDPError: if a state is terminal (an episode ends there; reset instead).
        """
        states = np.asarray(states, dtype=np.int64)
        actions = np.asarray(actions, dtype=np.int64)
        if self.terminal[states].any():
            raise MDPError("step() from a terminal state: the episode has ended; reset first")
        row = states * self.n_actions + actions
        start, stop = self.row_start[row], self.row_start[row + 1]
        before = np.where(start > 0, self._cumulative[np.maximum(start - 1, 0)], 0.0)
        total = self._cumulative[stop - 1] - before
        target = before + rng.random(row.shape) * total
        index = np.searchsorted(self._cumulative, target, side="right")
        index = np.clip(index, start, stop - 1)  # rounding at the row's ends
        return self.next_state[index], self.reward[index]

    def env(self, *, render_mode: str | None = None) -> FiniteMDPEnv:
        """This MDP as a gymnasium environment (``reset(seed=...)``, ``step(action)``)."""
        return FiniteMDPEnv(self, render_mode=render_mode)

    def with_horizon(self, horizon: int | None) -> MDP:
        """The same task truncated after ``horizon`` steps (None: no horizon)."""
        return self._replace(horizon=horizon)

    def _replace(self, **changes: Any) -> MDP:
        import dataclasses

        return dataclasses.replace(self, **changes)

    def gym_P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        """The dynamics in gymnasium's toy-text format ``P[s][a] = [(p, s', r, terminated)]``."""
        out: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(self.n_states):
            out[s] = {}
            for a in range(self.n_actions):
                row = s * self.n_actions + a
                sl = slice(self.row_start[row], self.row_start[row + 1])
                out[s][a] = [
                    (float(p), int(s2), float(r), bool(self.terminal[s2]))
                    for p, s2, r in zip(
                        self.prob[sl], self.next_state[sl], self.reward[sl], strict=True
                    )
                ]
        return out


def _is_distribution(p: np.ndarray) -> bool:
    """Whether each row of ``p`` is finite, >= 0 and sums to 1, all within :data:`PROB_TOL`."""
    return bool(
        np.isfinite(p).all()
        and (p >= -PROB_TOL).all()
        and (np.abs(p.sum(axis=-1) - 1.0) <= PROB_TOL).all()
    )


def _terminal_mask(terminal: Iterable[int] | np.ndarray, n_states: int) -> np.ndarray:
    t = np.asarray(list(terminal) if not isinstance(terminal, np.ndarray) else terminal)
    if t.dtype == bool:
        if t.shape != (n_states,):
            raise MDPError(f"a terminal mask must have shape ({n_states},); got {t.shape}")
        return t.copy()
    mask = np.zeros(n_states, dtype=bool)
    if t.size:
        t = t.astype(np.int64)
        if ((t < 0) | (t >= n_states)).any():
            raise MDPError(f"terminal states must be in 0..{n_states - 1}; got {t.tolist()}")
        mask[t] = True
    return mask


def _sample_rows(cumulative: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draws: for each i, an index j with probability of row ``rows[i]``.

    Args:
        cumulative: (R, K) running sums of probabilities along each row (last entry ~1).
        rows: (n,) which row each draw uses.
    """
    c = cumulative[rows]  # (n, K)
    u = rng.random(rows.shape) * c[:, -1]
    return np.minimum((c <= u[:, None]).sum(axis=1), cumulative.shape[1] - 1)


# ---------------------------------------------------------------------------------------------
# Sampling many episodes of a policy at once
# ---------------------------------------------------------------------------------------------


@dataclass
class Episodes:
    """Episodes of a policy, flattened in time order within each episode.

    Attributes:
        episode: (T,) index of the episode of each step.
        t: (T,) time step within the episode, from 0.
        state: (T,) S_t.
        action: (T,) A_t.
        reward: (T,) R_{t+1}.
        length: (n,) number of steps of each episode.
        terminated: (n,) whether it ended in a terminal state (else it was truncated).
    """

    episode: np.ndarray
    t: np.ndarray
    state: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    length: np.ndarray
    terminated: np.ndarray

    @property
    def n(self) -> int:
        return int(self.length.size)

    def visits(self, n_states: int) -> np.ndarray:
        """(n, S) how often each episode visited each state (the sampled counterpart of eta)."""
        counts = np.bincount(self.episode * n_states + self.state, minlength=self.n * n_states)
        return counts.reshape(self.n, n_states).astype(float)

    def returns(self, gamma: float) -> np.ndarray:
        """(T,) G_t = R_{t+1} + gamma G_{t+1} for every step, 0 after the episode's end."""
        G = np.zeros_like(self.reward)
        following = np.zeros(self.n)
        # Steps are stored time-major (step t of every live episode, then step t + 1), so each
        # time step is one contiguous block; walk the blocks backwards.
        starts = np.flatnonzero(np.diff(self.t, prepend=-1))
        ends = np.append(starts[1:], self.t.size)
        for lo, hi in zip(starts[::-1], ends[::-1], strict=True):
            e = self.episode[lo:hi]
            following[e] = self.reward[lo:hi] + gamma * following[e]
            G[lo:hi] = following[e]
        return G


def sample_episodes(
    mdp: MDP,
    policy: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    max_steps: int | None = None,
) -> Episodes:
    """Run ``n`` episodes of ``policy`` side by side (one NumPy step for all live episodes).

    Episodes end in a terminal state, after the MDP's horizon H, or after ``max_steps``
    (truncated). Steps are stored time-major: step t of every live episode, then step t + 1.

    Args:
        policy: (S, A) pi(a | s).
        max_steps: truncation; default 100,000 for an episodic task. A continuing task without
            a horizon never ends, so it needs ``max_steps``.
    """
    policy = check_policy(mdp, policy)
    if max_steps is None:
        if not mdp.episodic:
            raise MDPError("a continuing task's episodes never end: give max_steps (truncation)")
        max_steps = 100_000
    cum_policy = np.cumsum(policy, axis=1)
    limit = min(max_steps, mdp.horizon) if mdp.horizon is not None else max_steps
    state = mdp.reset_states(n, rng)
    alive = np.flatnonzero(~mdp.terminal[state])
    length = np.zeros(n, dtype=np.int64)
    terminated = mdp.terminal[state].copy()
    parts: list[tuple[np.ndarray, ...]] = []
    t = 0
    while alive.size and t < limit:
        s = state[alive]
        a = _sample_rows(cum_policy, s, rng)
        s2, r = mdp.step(s, a, rng)
        parts.append((alive, np.full(alive.size, t), s, a, r))
        state[alive] = s2
        length[alive] += 1
        done = mdp.terminal[s2]
        terminated[alive[done]] = True
        alive = alive[~done]
        t += 1
    if parts:
        episode, tt, st, ac, rw = (np.concatenate(c) for c in zip(*parts, strict=True))
    else:
        episode = tt = st = ac = np.zeros(0, dtype=np.int64)
        rw = np.zeros(0)
    return Episodes(episode, tt, st, ac, rw.astype(float), length, terminated)


def check_policy(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    """``policy`` as an (S, A) float array of probabilities, or an :class:`MDPError`."""
    policy = np.asarray(policy, dtype=float)
    if policy.shape != (mdp.n_states, mdp.n_actions):
        raise MDPError(
            f"a policy must have shape (S, A) = ({mdp.n_states}, {mdp.n_actions}); "
            f"got {policy.shape}"
        )
    if not _is_distribution(policy):
        raise MDPError("a policy's probabilities pi(a | s) must be >= 0 and sum to 1 in each state")
    return policy


def uniform_policy(mdp: MDP) -> np.ndarray:
    """The equiprobable random policy, (S, A)."""
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


# ---------------------------------------------------------------------------------------------
# The gymnasium face of the same MDP
# ---------------------------------------------------------------------------------------------


class FiniteMDPEnv(gymnasium.Env):
    """A gymnasium environment that samples an :class:`MDP`: discrete states and actions.

    ``reset(seed=...)`` draws S_0 ~ h; ``step(a)`` draws (S_{t+1}, R_{t+1}) ~ p(., . | S_t, a),
    ``terminated`` when S_{t+1} is terminal, ``truncated`` after the horizon H. ``unwrapped.P``
    and ``unwrapped.initial_state_distrib`` hold the dynamics and h in toy-text format, so code
    written for FrozenLake reads them too.
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012 (gymnasium declares it so)

    def __init__(self, mdp: MDP, render_mode: str | None = None) -> None:
        from gymnasium import spaces

        super().__init__()
        self.mdp = mdp
        self.observation_space = spaces.Discrete(mdp.n_states)
        self.action_space = spaces.Discrete(mdp.n_actions)
        self.render_mode = render_mode
        self.initial_state_distrib = mdp.initial
        self._state: int | None = None
        self._t = 0

    @cached_property
    def P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        return self.mdp.gym_P()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = int(self.mdp.reset_states(1, self.np_random)[0])
        self._t = 0
        return self._state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(int(action)):
            raise MDPError(f"action {action} is not in 0..{self.mdp.n_actions - 1}")
        s2, r = self.mdp.step(np.array([self._state]), np.array([int(action)]), self.np_random)
        self._state = int(s2[0])
        self._t += 1
        terminated = bool(self.mdp.terminal[self._state])
        truncated = self.mdp.horizon is not None and self._t >= self.mdp.horizon and not terminated
        return self._state, float(r[0]), terminated, bool(truncated), {}

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return f"state {self._state} (t = {self._t})\n"
        return None
