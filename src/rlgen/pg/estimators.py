"""The REINFORCE estimator, free of any environment library.

Everything here works on arrays of sampled steps, whoever sampled them: gymnasium rollouts
(:mod:`rlgen.pg.reinforce`), the report's fixed-policy experiments, or an architecture-search
controller whose "episode" is one sampled architecture and whose reward is a child network's
accuracy (:mod:`rlgen.nas`). Nothing here imports gymnasium.

The policy gradient theorem gives, for episodes sampled with pi(. | .; theta) (Sutton & Barto,
section 13.3)::

    grad J(theta) = E[ sum_t gamma^t (G_t - b(s_t)) grad log pi(a_t | s_t; theta) ]

for any baseline b that does not depend on the action. The pieces, in the order an update uses
them:

- :func:`discounted_returns`: G_t = r_{t+1} + gamma G_{t+1}, restarted at every episode end;
- :func:`advantages`: the weights G_t - b(s_t) (or G_t), detached, optionally standardised;
- :func:`discount_weights`: gamma^t, the factor Sutton & Barto's REINFORCE puts on the update at
  step t, which makes the estimate the gradient of J = E[G_0]. Most deep-RL code drops it (every
  step counts as if it were the first); rlgen applies it by default and ``weight_by_gamma_t=False``
  drops it. With gamma = 1 (CartPole, the lecture's setting) the two are the same;
- :func:`chosen_log_prob`: log pi(a_t | s_t) of the sampled actions from the log-probabilities of
  all actions;
- :func:`reinforce_loss`: the scalar whose gradient is minus the estimate;
- :class:`MovingAverageBaseline`: b as an exponential moving average of rewards, the baseline of
  a REINFORCE controller (Zoph & Le 2017).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------
# Returns
# ---------------------------------------------------------------------------------------------


def discounted_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    bootstrap: np.ndarray | None = None,
) -> np.ndarray:
    """G_t = r_t + gamma G_{t+1} within each episode, for time-major arrays.

    An episode ends at a step that is terminated or truncated; the return does not cross it. At a
    truncated step the episode did not end in the MDP, only in time: if ``bootstrap`` is given,
    its value there (an estimate v(s_{t+1}) of the return after the cut) is added, discounted.
    Steps after the last episode end of a column form an unfinished episode, whose returns are
    only partial sums (the collector never hands those to the algorithm).

    Args:
        rewards: (T, N) rewards of N parallel streams (or (T,) for one).
        terminated: (T, N) booleans.
        truncated: (T, N) booleans.
        gamma: discount factor in [0, 1].
        bootstrap: (T, N) values used at truncated steps only, or None.

    Returns:
        (T, N) returns, float64.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    end = np.logical_or(terminated, truncated)
    extra = np.zeros_like(rewards)
    if bootstrap is not None:
        extra = np.where(np.logical_and(truncated, ~np.asarray(terminated)), bootstrap, 0.0)
    if gamma == 1.0:
        return _undiscounted_returns(rewards, end, extra)
    returns = np.empty_like(rewards)
    following = np.zeros(rewards.shape[1:])
    for t in range(rewards.shape[0] - 1, -1, -1):
        following = np.where(end[t], gamma * extra[t], gamma * following)
        following = rewards[t] + following
        returns[t] = following
    return returns


def _undiscounted_returns(rewards: np.ndarray, end: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """gamma = 1 without a loop over time: G_t = C_t - C_{e+1} + extra_e, where C_t is the sum
    of rewards from t to the end of the array and e the first episode end at or after t."""
    T = rewards.shape[0]
    index = np.arange(T).reshape((T, *(1,) * (rewards.ndim - 1)))
    next_end = np.where(end, index, T)
    next_end = np.minimum.accumulate(next_end[::-1], axis=0)[::-1]  # (T, N), T if none
    pad = np.zeros((1, *rewards.shape[1:]))
    C = np.concatenate([np.cumsum(rewards[::-1], axis=0)[::-1], pad])  # (T + 1, N)
    after = np.take_along_axis(C, np.minimum(next_end + 1, T), axis=0)
    cut = np.take_along_axis(np.concatenate([extra, pad]), next_end, axis=0)
    return C[:T] - after + cut


def episode_time(episode: np.ndarray) -> np.ndarray:
    """The time step t of each step within its episode, for steps stored episode by episode.

    Args:
        episode: (M,) episode index of each step; each episode's steps contiguous, in time order.

    Returns:
        (M,) int64: 0 at each episode's first step, then 1, 2, ...
    """
    episode = np.asarray(episode)
    index = np.arange(episode.size)
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]]) if episode.size else index
    first = np.repeat(starts, np.diff(np.r_[starts, episode.size]))
    return (index - first).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# ALGO LOGIC: weights, log-probabilities and the loss
# ---------------------------------------------------------------------------------------------


def advantages(
    returns: torch.Tensor, values: torch.Tensor | None = None, *, normalize: bool = False
) -> torch.Tensor:
    """The weight of each grad log pi(a_t | s_t): G_t, or G_t - b(s_t) with a baseline.

    With ``normalize``, standardised over the batch (mean 0, standard deviation 1); without a
    baseline the subtracted mean then acts as a constant one. Always detached: the baseline only
    reduces variance, it is not trained through the policy loss.

    Args:
        returns: (M,) returns G_t.
        values: (M,) baseline values b(s_t), or None.
        normalize: standardise the weights over the batch.

    Returns:
        (M,) detached weights.
    """
    weights = returns if values is None else returns - values
    weights = weights.detach()
    if normalize and weights.numel() > 1:
        weights = (weights - weights.mean()) / (weights.std() + 1e-8)
    return weights


def discount_weights(time: np.ndarray | torch.Tensor, gamma: float) -> torch.Tensor:
    """gamma^t for each step's time ``t`` within its episode, (M,) float32 (ones if gamma = 1)."""
    t = torch.as_tensor(time, dtype=torch.float64)
    if gamma == 1.0:
        return torch.ones_like(t, dtype=torch.float32)
    return torch.pow(torch.tensor(gamma, dtype=torch.float64), t).to(torch.float32)


def chosen_log_prob(log_pi: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi(a_t | s_t): (M, actions) log-probabilities and (M,) actions -> (M,)."""
    return log_pi.gather(1, actions.long()[:, None]).squeeze(1)


def entropy(log_pi: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the categorical distributions with log-probabilities (M, actions)."""
    return -(log_pi.exp() * log_pi).sum(dim=1).mean()


def reinforce_loss(
    log_prob: torch.Tensor,
    weights: torch.Tensor,
    episodes: int,
    discount: torch.Tensor | None = None,
) -> torch.Tensor:
    """-(1/E) sum_episodes sum_t gamma^t w_t log pi(a_t | s_t).

    Its gradient is minus the REINFORCE estimate of grad J over a batch of E episodes, so a
    minimiser's step is a step of gradient ascent on J.

    Args:
        log_prob: (M,) log pi(a_t | s_t) of the M sampled steps, with gradient.
        weights: (M,) detached weights (returns or advantages, see :func:`advantages`).
        episodes: E, the number of episodes the M steps come from.
        discount: (M,) gamma^t (:func:`discount_weights`), or None for no such factor.
    """
    if discount is not None:
        weights = weights * discount
    return -(weights * log_prob).sum() / episodes


# ---------------------------------------------------------------------------------------------
# A baseline without a value network
# ---------------------------------------------------------------------------------------------


class MovingAverageBaseline:
    """b = exponential moving average of past rewards: b <- decay b + (1 - decay) R.

    The first reward sets b. A checkpoint part (``state_dict`` / ``load_state_dict``).
    """

    def __init__(self, decay: float = 0.95) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.value: float | None = None

    def update(self, rewards: np.ndarray | torch.Tensor | float) -> float:
        """Fold in a batch of rewards (one at a time, in order); returns the new value."""
        for r in np.atleast_1d(np.asarray(rewards, dtype=np.float64)).tolist():
            self.value = r if self.value is None else self.decay * self.value + (1 - self.decay) * r
        assert self.value is not None
        return self.value

    def state_dict(self) -> dict[str, float | None]:
        return {"decay": self.decay, "value": self.value}

    def load_state_dict(self, state: Mapping[str, float | None]) -> None:
        decay = state["decay"]
        self.decay = float(decay) if decay is not None else self.decay
        self.value = None if state["value"] is None else float(state["value"])
