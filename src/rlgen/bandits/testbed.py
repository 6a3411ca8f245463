"""The k-armed testbed (Sutton & Barto section 2.3), every run at once, and what an agent did on it.

Each run is a task with true action values q*(a) ~ N(mean, 1); pulling arm a gives a reward
~ N(q*(a), 1). An agent's behaviour is averaged over many runs, each an independent task. The
testbed holds every run at once, arrays of shape ``(k, runs)`` (arms on the leading axis) or
``(runs,)``: one NumPy operation advances all runs by one step, so 2000 runs cost little more
than one.

A nonstationary testbed (exercise 2.5) starts all q*(a) equal and lets each take an independent
random walk N(0, walk_std^2) after every step, which shows why a constant step size matters.

An agent (``epsilon_greedy``, ``ucb``, ``gradient``) plays the testbed like this::

    for t, u in bandit.play(rng, draw=...):   # u: the agent's random numbers for step t
        action = ...                          # (runs,) one arm per run
        reward, taken = bandit.pull(action)   # (runs,) rewards; flat index of each action
        ...                                   # learn
    return bandit.result(agent, estimates)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from rlgen.bandits.action_values import MAX_ARMS
from rlgen.errors import UserError

if TYPE_CHECKING:
    from rlgen.bandits.agents import Agent

CHUNK = 256
"""Steps whose random numbers are drawn in one call. Speed only, but results depend on it (the
order of the draws), so it is fixed for reproducibility."""
WINDOW = 100
"""The per-run summaries ``*_last_100`` average over the last this many steps."""


def true_values(
    runs: int,
    k: int,
    rng: np.random.Generator,
    *,
    true_mean: float = 0.0,
    nonstationary: bool = False,
) -> np.ndarray:
    """(runs, k) true action values: N(true_mean, 1), or all equal to true_mean if nonstationary."""
    if nonstationary:
        return np.full((runs, k), float(true_mean))
    return rng.normal(true_mean, 1.0, (runs, k))


class Testbed:
    """Every run's task at once, played by one agent, and the record of what it did.

    Args:
        q_star: (runs, k) true action values at step 1; not modified.
        steps: number of steps.
        walk_std: standard deviation of the per-step random walk of q*; 0 is stationary.
        chunk: steps whose random numbers are drawn in one call (:data:`CHUNK`).
        on_progress: called with the number of steps done after each chunk (a progress bar).
    """

    def __init__(
        self,
        q_star: np.ndarray,
        steps: int,
        *,
        walk_std: float = 0.0,
        chunk: int = CHUNK,
        on_progress: Callable[[int], Any] | None = None,
    ) -> None:
        self.q = np.array(q_star, dtype=float).T.copy()  # (k, runs) q*(a), arms leading
        self.k, self.runs = self.q.shape
        if self.k > MAX_ARMS:
            raise UserError(f"--k must be <= {MAX_ARMS}, got {self.k}")
        self.q_best = self.q.max(axis=0)  # (runs,) the optimal value of every task
        self.steps = steps
        self.walk_std = walk_std
        self.chunk = chunk
        self.on_progress = on_progress
        self._q = self.q.ravel()  # flat view: arm a of run j is entry a * runs + j
        self._column = np.arange(self.runs)
        # what happened: per-step means over runs, per-run sums, and the current chunk
        self.window_start = max(steps - WINDOW, 0)
        self.reward = np.empty(steps)
        self.optimal = np.empty(steps)
        self._sums = {
            name: np.zeros(self.runs)
            for name in ("reward_all", "optimal_all", "reward_window", "optimal_window")
        }
        self._pooled = {"greedy_optimal_steps": 0, "optimal_when_greedy_optimal": 0}
        self._noise = self._rewards = np.empty((0, self.runs))
        self._optimal = np.empty((0, self.runs), dtype=bool)
        self._row = 0
        self._greedy: np.ndarray | None = None

    # --- the agent's side -----------------------------------------------------------------

    @overload
    def play(self, rng: np.random.Generator, draw: None = None) -> Iterator[tuple[int, None]]: ...

    @overload
    def play(
        self, rng: np.random.Generator, draw: Callable[[int], np.ndarray]
    ) -> Iterator[tuple[int, np.ndarray]]: ...

    def play(
        self, rng: np.random.Generator, draw: Callable[[int], np.ndarray] | None = None
    ) -> Iterator[tuple[int, np.ndarray | None]]:
        """Yield every step ``t = 0, ..., steps - 1`` with the agent's random numbers for it.

        Random numbers are drawn a chunk of steps at a time, in this order: the chunk's reward
        noise, then ``draw(n)`` (the agent's ``(n, runs)`` numbers for its next n steps, whose
        row t it receives; ``None`` without ``draw``). Between one step and the next the testbed
        takes its random walk (nonstationary) and records the step.
        """
        drawn: np.ndarray | None = None
        for t in range(self.steps):
            i = t % self.chunk
            if i == 0:
                n = min(self.chunk, self.steps - t)
                self._noise = rng.standard_normal((n, self.runs))
                drawn = None if draw is None else draw(n)
                self._rewards = np.empty((n, self.runs))
                self._optimal = np.empty((n, self.runs), dtype=bool)
            self._row = i
            yield t, (None if drawn is None else drawn[i])
            if self.walk_std > 0:
                self.q += rng.normal(0.0, self.walk_std, self.q.shape)
                self.q_best = self.q.max(axis=0)
            self._record(t)

    def pull(
        self, action: np.ndarray, *, greedy: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every run takes its action; the testbed answers with a reward ~ N(q*(A), 1).

        Args:
            action: (runs,) the arm each run takes.
            greedy: (runs,) for ε-greedy, the greedy arm of each run: recorded over the last
                steps to measure the asymptote 1 - ε + ε/k of section 2.3 (:class:`Result`).

        Returns:
            (runs,) the rewards, and (runs,) the flat index ``action * runs + run`` of each
            action in a ``(k, runs)`` array (to update the taken arm's estimate).
        """
        taken = action * self.runs + self._column
        q_taken = self._q[taken]
        reward = np.add(q_taken, self._noise[self._row], out=self._rewards[self._row])
        np.equal(q_taken, self.q_best, out=self._optimal[self._row])
        self._greedy = greedy
        return reward, taken

    def result(self, agent: Agent, estimates: np.ndarray) -> Result:
        """What the agent did, once :meth:`play` is over; ``estimates``: its final (k, runs)."""
        column = self._column
        greedy_is_optimal = self._q[estimates.argmax(axis=0) * self.runs + column] == self.q_best
        window = self.steps - self.window_start
        sums = self._sums
        per_run = {
            "reward_last": self._rewards[-1].copy(),
            "reward_last_100": sums["reward_window"] / window,
            "reward_all": sums["reward_all"] / self.steps,
            "optimal_last": self._optimal[-1].astype(float),
            "optimal_last_100": sums["optimal_window"] / window,
            "optimal_all": sums["optimal_all"] / self.steps,
            "greedy_is_optimal": greedy_is_optimal.astype(float),
        }
        pooled: dict[str, float] = {}
        if greedy_optimal := self._pooled["greedy_optimal_steps"]:
            right = self._pooled["optimal_when_greedy_optimal"]
            pooled["optimal_when_greedy_optimal"] = right / greedy_optimal
            pooled["greedy_optimal_steps"] = int(greedy_optimal)
        return Result(agent, self.reward, self.optimal, per_run, estimates.T.copy(), pooled)

    # --- the record -----------------------------------------------------------------------

    def _record(self, t: int) -> None:
        i = self._row
        if self._greedy is not None and t >= self.window_start:
            # was exploitation right? (checked against q* as it is after this step's walk)
            greedy_ok = self._q[self._greedy * self.runs + self._column] == self.q_best
            self._pooled["greedy_optimal_steps"] += greedy_ok.sum()
            self._pooled["optimal_when_greedy_optimal"] += (self._optimal[i] & greedy_ok).sum()
        if i < len(self._rewards) - 1:
            return
        # the chunk is complete: fold it into the per-step means and per-run sums
        first = t - i
        rewards, optimal, sums = self._rewards, self._optimal, self._sums
        self.reward[first : t + 1] = rewards.mean(axis=1)
        self.optimal[first : t + 1] = optimal.mean(axis=1)
        sums["reward_all"] += rewards.sum(axis=0)
        sums["optimal_all"] += optimal.sum(axis=0)
        in_window = slice(max(self.window_start - first, 0), None)
        sums["reward_window"] += rewards[in_window].sum(axis=0)
        sums["optimal_window"] += optimal[in_window].sum(axis=0)
        if self.on_progress is not None:
            self.on_progress(len(rewards))


@dataclass
class Result:
    """What one agent did, averaged over runs.

    Attributes:
        agent: the agent.
        reward: (steps,) mean reward at each step.
        optimal: (steps,) fraction of runs that took an optimal action at each step.
        per_run: per-run averages, each (runs,): ``reward_last``, ``reward_last_100``,
            ``reward_all``, ``optimal_last``, ``optimal_last_100``, ``optimal_all``, and
            ``greedy_is_optimal`` (whether argmax of the final estimates / preferences is an
            optimal arm).
        estimates: (runs, k) final action-value estimates Q (preferences H for the gradient
            bandit).
        pooled: for greedy / eps-greedy, over the last 100 steps of all runs: the steps on which
            the greedy arm was optimal (``greedy_optimal_steps``) and the fraction of those on
            which the action taken was optimal (``optimal_when_greedy_optimal``; 1 - eps + eps/k
            in expectation, the asymptote of section 2.3).
    """

    agent: Agent
    reward: np.ndarray
    optimal: np.ndarray
    per_run: dict[str, np.ndarray]
    estimates: np.ndarray
    pooled: dict[str, float] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Means and standard errors across runs (the ``agents`` entries of summary.json)."""
        out: dict[str, Any] = {"name": self.agent.name, "kind": self.agent.kind}
        out["params"] = self.agent.params
        for key, values in self.per_run.items():
            out[key] = float(values.mean())
            out[f"{key}_se"] = standard_error(values) if values.size > 1 else None
        out.update(self.pooled)
        return out


def standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of independent per-run values: std (ddof 1) / sqrt(n)."""
    return float(values.std(ddof=1) / np.sqrt(values.size))
