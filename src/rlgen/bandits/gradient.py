"""The gradient bandit (Sutton & Barto section 2.8), every run at once.

Numerical preferences H(a) and the soft-max policy pi(a) = e^H(a) / sum_b e^H(b) (eq. 2.11).
After reward R for action A, stochastic gradient ascent on the expected reward (eq. 2.12):

    H(A) <- H(A) + alpha (R - R̄) (1 - pi(A))
    H(a) <- H(a) - alpha (R - R̄) pi(a)          for a != A

where the baseline R̄ is the average of the rewards up to and including this one (or 0 without a
baseline). The baseline leaves the expected update unchanged but not its variance: with true
values shifted by +4 (Figure 2.5), learning without it is much slower.
"""

from __future__ import annotations

import numpy as np

from rlgen.bandits.testbed import Testbed


def gradient_bandit(
    bandit: Testbed,
    rng: np.random.Generator,
    *,
    alpha: float = 0.1,
    baseline: bool = True,
) -> np.ndarray:
    """Play ``bandit`` with the gradient bandit; returns the final (k, runs) preferences H.

    Args:
        bandit: the testbed (all runs), which records the steps.
        rng: the generator for the actions and the testbed.
        alpha: step size.
        baseline: subtract the average reward R̄ from the reward.
    """
    k, runs = bandit.k, bandit.runs
    H = np.zeros((k, runs))  # preferences
    H_flat = H.ravel()  # flat view: arm a of run j is entry a * runs + j
    mean_reward = np.zeros(runs)  # the baseline R̄

    def uniforms(n: int) -> np.ndarray:
        """(n, runs) one uniform per run for each of the next n steps, to sample the action."""
        return rng.random((n, runs))

    for t, u in bandit.play(rng, draw=uniforms):
        # --- choose: sample A ~ pi = softmax(H) by inverse-CDF sampling with uniform u
        pi = softmax(H)  # (k, runs)
        action = (pi.cumsum(axis=0) < u).sum(axis=0)
        np.minimum(action, k - 1, out=action)  # guards the last bin against rounding
        # --- the testbed answers
        reward, taken = bandit.pull(action)
        # --- learn (eq. 2.12): every arm moves against its probability, the chosen one by
        # (1 - pi(A)) in total
        if baseline:
            mean_reward += (reward - mean_reward) / (t + 1)
            advantage = reward - mean_reward
        else:
            advantage = reward
        step = alpha * advantage
        H -= step * pi
        H_flat[taken] += step
    return H


def softmax(H: np.ndarray) -> np.ndarray:
    """(k, runs) the soft-max distribution of (k, runs) preferences, over axis 0 (eq. 2.11)."""
    z = H - H.max(axis=0)  # shifting H changes nothing but avoids overflow
    np.exp(z, out=z)  # in place: this runs at every step
    z /= z.sum(axis=0)
    return z
