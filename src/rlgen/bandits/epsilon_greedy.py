"""ε-greedy action-value methods (Sutton & Barto sections 2.2-2.6), every run at once.

Action-value estimates Q(a) by sample averages (Q <- Q + (R - Q) / N, eq. 2.3) or a constant step
size alpha (eq. 2.5), optimistic initial values Q1 (section 2.6); the greedy action with ties
broken at random, and with probability epsilon a random action instead. The greedy method is
ε = 0.
"""

from __future__ import annotations

import numpy as np

from rlgen.bandits.action_values import ActionValues, argmax_random_ties
from rlgen.bandits.testbed import Testbed


def epsilon_greedy(
    bandit: Testbed,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.0,
    alpha: float | None = None,
    initial: float = 0.0,
) -> np.ndarray:
    """Play ``bandit`` ε-greedily; returns the final (k, runs) action-value estimates Q.

    Args:
        bandit: the testbed (all runs), which records the steps.
        rng: the generator for the exploration, ties and the testbed.
        epsilon: probability of a random action (0: greedy).
        alpha: constant step size; ``None``: sample averages.
        initial: initial estimates Q1.
    """
    k, runs = bandit.k, bandit.runs
    values = ActionValues(k, runs, initial=initial, alpha=alpha)

    def exploration(n: int) -> np.ndarray:
        """(n, runs): for each of the next n steps, the arm to explore, or k to exploit."""
        # One uniform u decides both: explore when u < ε, and then u / ε is again uniform on
        # [0, 1) and picks the random arm floor(k u / ε) < k.
        u = rng.random((n, runs))
        np.multiply(u, k / epsilon, out=u)
        return np.minimum(u, k, out=u).astype(np.intp)

    for _, explore_arm in bandit.play(rng, draw=exploration if epsilon > 0 else None):
        # --- choose: the greedy action (ties broken at random), or with probability ε any arm
        greedy = argmax_random_ties(values.Q, rng)
        action = greedy if explore_arm is None else np.where(explore_arm < k, explore_arm, greedy)
        # --- the testbed answers; learn Q(A) <- Q(A) + step [R - Q(A)]
        reward, taken = bandit.pull(action, greedy=greedy)
        values.update(taken, reward)
    return values.Q


def epsilon_greedy_loop(
    q_star: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.0,
    alpha: float | None = None,
    initial: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The same agent, one run and one step at a time: the reference :func:`epsilon_greedy` is
    tested and timed against (``benchmarks/bandit_speed.py``).

    This is the book's pseudocode (section 2.4, "A simple bandit algorithm") in the style of the
    usual reproductions of chapter 2: a loop over runs, a loop over steps, NumPy on the k
    estimates of one run. It draws its random numbers in a different order, so it agrees with
    :func:`epsilon_greedy` in distribution, not sample by sample.

    Args:
        q_star: (runs, k) true action values.

    Returns:
        (steps,) mean reward and (steps,) fraction of optimal actions per step.
    """
    runs, k = q_star.shape
    reward_sum = np.zeros(steps)
    optimal_sum = np.zeros(steps)
    for run in range(runs):
        q = q_star[run]
        best = np.argmax(q)
        Q = np.full(k, float(initial))
        N = np.zeros(k)
        for t in range(steps):
            if rng.random() < epsilon:
                a = rng.integers(k)
            else:
                a = rng.choice(np.flatnonzero(Q.max() == Q))  # ties broken at random
            r = q[a] + rng.standard_normal()
            N[a] += 1
            Q[a] += (r - Q[a]) * (1.0 / N[a] if alpha is None else alpha)
            reward_sum[t] += r
            optimal_sum[t] += a == best
    return reward_sum / runs, optimal_sum / runs
