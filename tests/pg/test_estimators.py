"""The estimator against the policy gradient theorem, worked exactly on a two-state chain."""

from __future__ import annotations

import numpy as np
import torch

from rlgen.pg.estimators import (
    chosen_log_prob,
    discount_weights,
    discounted_returns,
    episode_time,
    reinforce_loss,
)

GAMMA = 0.8
# A chain: in s0, action 0 ends the episode with reward 1, action 1 moves to s1 with reward 0;
# in s1, action 0 ends with reward 2, action 1 ends with reward 0. Every trajectory:
# (states, actions, rewards).
TRAJECTORIES = [
    ([0], [0], [1.0]),
    ([0, 1], [1, 0], [0.0, 2.0]),
    ([0, 1], [1, 1], [0.0, 0.0]),
]


def test_episode_time_restarts_at_every_episode_including_length_one():
    np.testing.assert_array_equal(episode_time([0, 1, 1, 2, 3, 3, 3]), [0, 0, 1, 0, 0, 1, 2])
    np.testing.assert_array_equal(episode_time(np.array([5])), [0])
    assert episode_time(np.array([], np.int64)).size == 0


def test_the_expected_estimate_is_the_gradient_of_j():
    """E[sum_t gamma^t G_t grad log pi(a_t|s_t)] = grad E[G_0] (Sutton & Barto 13.3)."""
    theta = torch.tensor([[0.3, -0.2], [0.1, 0.5]], requires_grad=True)  # logits per state
    log_pi = torch.log_softmax(theta, dim=1)

    # J(theta) = sum over trajectories of P(tau) G_0(tau), written out by hand
    p = log_pi.exp()
    q = p.detach()
    j = p[0, 0] * 1.0 + p[0, 1] * p[1, 0] * GAMMA * 2.0 + p[0, 1] * p[1, 1] * 0.0
    (grad_j,) = torch.autograd.grad(j, theta, retain_graph=True)

    # every trajectory once, as one batch of episodes, each step weighted by P(tau)
    states, actions, rewards, episode, prob = [], [], [], [], []
    for i, (s, a, r) in enumerate(TRAJECTORIES):
        states += s
        actions += a
        rewards += r
        episode += [i] * len(s)
        p_tau = float(torch.prod(torch.stack([q[st, at] for st, at in zip(s, a, strict=True)])))
        prob += [p_tau] * len(s)
    episode = np.array(episode)
    ends = np.r_[episode[1:] != episode[:-1], True]
    returns = discounted_returns(np.array(rewards), ends, np.zeros_like(ends), GAMMA)
    time = episode_time(episode)
    weights = torch.as_tensor(returns * np.array(prob), dtype=torch.float32)
    log_prob = chosen_log_prob(log_pi[torch.as_tensor(states)], torch.as_tensor(actions))

    def estimate(discount):
        loss = reinforce_loss(log_prob, weights, 1, discount)
        (grad,) = torch.autograd.grad(loss, theta, retain_graph=True)
        return -grad  # the loss's gradient is minus the estimate

    torch.testing.assert_close(estimate(discount_weights(time, GAMMA)), grad_j)
    # without gamma^t the expectation is another vector (s1's steps count as if at t = 0)
    assert not torch.allclose(estimate(None), grad_j, atol=1e-3)
