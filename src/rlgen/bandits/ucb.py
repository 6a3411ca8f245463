"""Upper-confidence-bound action selection (Sutton & Barto section 2.7), every run at once.

A = argmax_a Q(a) + c sqrt(ln t / N(a)) (eq. 2.10): the square root measures the uncertainty in
the estimate of a, so arms tried rarely get a bonus that shrinks as they are tried. An arm never
tried is a maximising arm. The estimates Q are learnt as for ε-greedy (sample averages or a
constant step size).
"""

from __future__ import annotations

import numpy as np

from rlgen.bandits.action_values import ActionValues, argmax_random_ties
from rlgen.bandits.testbed import Testbed


def ucb(
    bandit: Testbed,
    rng: np.random.Generator,
    *,
    c: float = 2.0,
    alpha: float | None = None,
    initial: float = 0.0,
) -> np.ndarray:
    """Play ``bandit`` with UCB; returns the final (k, runs) action-value estimates Q.

    Args:
        bandit: the testbed (all runs), which records the steps.
        rng: the generator for ties and the testbed.
        c: degree of exploration (0: greedy).
        alpha: constant step size; ``None``: sample averages.
        initial: initial estimates Q1.
    """
    values = ActionValues(bandit.k, bandit.runs, initial=initial, alpha=alpha)
    for t, _ in bandit.play(rng):
        # --- choose the arm of the highest upper confidence bound (steps count from 1)
        action = argmax_random_ties(ucb_values(values.Q, values.N, t + 1, c), rng)
        # --- the testbed answers; learn Q(A) <- Q(A) + step [R - Q(A)]
        reward, taken = bandit.pull(action)
        values.update(taken, reward)
    return values.Q


def ucb_values(Q: np.ndarray, N: np.ndarray, t: int, c: float) -> np.ndarray:
    """Q(a) + c sqrt(ln t / N(a)) (eq. 2.10), with +inf for arms never tried (maximising arms).

    Args:
        Q: (k, runs) action-value estimates.
        N: (k, runs) how often each arm was pulled before step t.
        t: the current step, counting from 1.
        c: degree of exploration.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.log(t) / N  # computed in place from here on: this runs at every step
        np.sqrt(values, out=values)
        values *= c  # inf * 0 for an untried arm when c = 0: replaced below
    values += Q
    np.copyto(values, np.inf, where=N == 0)
    return values
