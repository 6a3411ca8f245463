"""Action-value estimates and the greedy choice (Sutton & Barto sections 2.2-2.5), for many runs.

Arrays are ``(k, runs)``: arms on the leading axis, one column per run (an independent task), so
one NumPy operation updates every run at once. ε-greedy and UCB both keep these estimates; they
differ only in how they choose.
"""

from __future__ import annotations

import numpy as np

MAX_ARMS = 2**15 - 1  # arms are numbered in int16 by argmax_random_ties
_ARMS = np.arange(MAX_ARMS, dtype=np.int16)[:, None]


class ActionValues:
    """Q(a) and N(a) of every run, each ``(k, runs)``, and the incremental update of section 2.4.

    After reward R for action A: N(A) <- N(A) + 1 and Q(A) <- Q(A) + step [R - Q(A)], where step
    is 1/N(A) (the sample average, eq. 2.3) or a constant alpha (eq. 2.5: an exponential
    recency-weighted average, eq. 2.6, which keeps tracking a nonstationary problem). Q starts at
    the initial estimate Q1; an optimistic Q1 (section 2.6) makes even a greedy method explore.
    """

    def __init__(self, k: int, runs: int, *, initial: float = 0.0, alpha: float | None = None):
        self.Q = np.full((k, runs), float(initial))  # action-value estimates
        self.N = np.zeros((k, runs))  # how often each arm was taken
        self.alpha = alpha
        # flat views of the same memory: arm a of run j is entry a * runs + j
        self._Q = self.Q.ravel()
        self._N = self.N.ravel()

    def update(self, taken: np.ndarray, reward: np.ndarray) -> None:
        """Learn from one step of every run.

        Args:
            taken: (runs,) flat index ``A * runs + run`` of the action taken in each run.
            reward: (runs,) the reward each run received.
        """
        n = self._N[taken] + 1  # N(A), counting this step
        self._N[taken] = n
        step = 1.0 / n if self.alpha is None else self.alpha
        estimate = self._Q[taken]  # Q(A)
        self._Q[taken] = estimate + step * (reward - estimate)


def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Argmax over axis 0 of (k, runs) ``values``, choosing uniformly among tied maxima.

    Arms are on axis 0 because NumPy reduces over the leading axis of a small (k, runs) array
    with k whole-row operations, several times faster than over a short trailing axis. Ties are
    rare after the first steps, so only runs that have them draw random numbers.

    Returns:
        (runs,) the chosen arm of every run.
    """
    k = values.shape[0]
    best = values.max(axis=0)
    is_best = values == best  # (k, runs)
    # the arm of the maximum (the last one, if tied); int16 keeps this product small and fast
    choice = (is_best * _ARMS[:k]).max(axis=0).astype(np.intp)
    if np.count_nonzero(is_best) > values.shape[1]:
        tied = np.flatnonzero(is_best.sum(axis=0) > 1)
        keys = rng.random((k, tied.size)) * is_best[:, tied]
        choice[tied] = keys.argmax(axis=0)
    return choice
