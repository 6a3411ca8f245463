"""The policy gradient theorem, exactly; REINFORCE against the exact gradient, sampled."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from rlgen.mdp import dp
from rlgen.mdp.examples import gridworld_3_5, gridworld_4_1, random_mdp
from rlgen.mdp.model import MDP, Episodes
from rlgen.mdp.policy_gradient import (
    check_theorem,
    exact_gradient,
    make_policy,
    objective,
    policy_probs,
    reinforce_logit_grads,
)


@pytest.mark.parametrize("kind", ["tabular", "neural"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_theorem_holds_with_the_expected_episode_length(kind, seed):
    m = random_mdp(9, 3, 3, np.random.default_rng(seed), reward_mean=-1.0)
    c = check_theorem(m, kind, seed=seed)
    assert c.cosine == pytest.approx(1.0, abs=1e-9)
    assert c.ratio == pytest.approx(c.expected_length, rel=1e-9)
    assert c.baseline_change < 1e-12
    # the constant really varies with the policy (episodes end at state-dependent rates)
    assert not np.isclose(c.expected_length, 10.0)


@pytest.mark.parametrize("mdp", [gridworld_4_1(), gridworld_3_5()], ids=["4.1", "3.5"])
def test_theorem_holds_on_the_book_gridworlds(mdp):
    c = check_theorem(mdp, "tabular", seed=0)
    assert c.cosine == pytest.approx(1.0, abs=1e-9)
    assert c.ratio == pytest.approx(c.expected_length, rel=1e-9)
    if mdp.gamma < 1:  # continuing: the gamma-weighted length 1 / (1 - gamma)
        assert c.expected_length == pytest.approx(1 / (1 - mdp.gamma))


def test_discounted_episodic_task_uses_the_discounted_length():
    m = random_mdp(7, 2, 3, np.random.default_rng(3), gamma=0.8)
    c = check_theorem(m, "tabular", seed=3)
    assert c.cosine == pytest.approx(1.0, abs=1e-9)
    discounted = dp.on_policy_distribution(
        m, policy_probs(make_policy("tabular", m, 3)), discounted=True
    )
    assert c.ratio == pytest.approx(discounted.expected_length, rel=1e-9)


def test_autograd_gradient_matches_finite_differences():
    m = random_mdp(6, 2, 2, np.random.default_rng(4))
    policy = make_policy("tabular", m, 4)
    _, grad = exact_gradient(m, policy)
    theta = policy.theta.detach().clone()
    eps = 1e-6
    for i in [0, 3, 7, 10]:
        step = torch.zeros_like(theta).view(-1)
        step[i] = eps
        step = step.view_as(theta)
        with torch.no_grad():
            up = float(objective(m, theta + step))
            down = float(objective(m, theta - step))
        assert grad[i] == pytest.approx((up - down) / (2 * eps), abs=1e-7)


def test_reinforce_logit_gradient_by_hand():
    # One decision: state 0, two actions, each ends the episode (state 1 terminal).
    outcomes = [(0, 0, 1.0, 1, 1.0), (0, 1, 1.0, 1, 3.0)]
    m = MDP.from_outcomes(2, 2, outcomes, terminal=[1], gamma=1.0)
    pi = np.array([[0.25, 0.75], [0.5, 0.5]])
    ep = Episodes(
        episode=np.array([0, 1]),
        t=np.zeros(2, int),
        state=np.zeros(2, int),
        action=np.array([0, 1]),
        reward=np.array([1.0, 3.0]),
        length=np.ones(2, int),
        terminated=np.ones(2, bool),
    )
    g = reinforce_logit_grads(m, pi, ep)
    # G (e_a - pi(.|0)) in row 0
    np.testing.assert_allclose(g[0, 0], 1.0 * np.array([0.75, -0.75]))
    np.testing.assert_allclose(g[1, 0], 3.0 * np.array([-0.25, 0.25]))
    assert (g[:, 1] == 0).all()
    based = reinforce_logit_grads(m, pi, ep, baseline=np.array([2.0, 0.0]))
    np.testing.assert_allclose(based[0, 0], -1.0 * np.array([0.75, -0.75]))
    # the mean over the two actions weighted by pi is the exact gradient dJ/dtheta
    exact = 0.25 * g[0, 0] + 0.75 * g[1, 0]
    np.testing.assert_allclose(exact, [0.25 * 0.75 * (1 - 3), 0.25 * 0.75 * (3 - 1)])


@pytest.mark.parametrize("kind", ["tabular", "neural"])
def test_reinforce_is_unbiased_and_the_value_baseline_lowers_its_variance(kind):
    m = random_mdp(6, 3, 2, np.random.default_rng(11), reward_mean=-1.0, end_prob=0.2)
    c = check_theorem(m, kind, seed=11, episodes=20_000)
    assert c.reinforce is not None and c.reinforce_baseline is not None
    # per-coordinate z-scores against a Bonferroni bound (family-wise 1%), fixed seed
    assert c.reinforce.max_abs_z <= c.reinforce.z_bound
    assert c.reinforce_baseline.max_abs_z <= c.reinforce_baseline.z_bound
    assert c.variance_ratio is not None and c.variance_ratio_se is not None
    assert c.variance_ratio + 3 * c.variance_ratio_se < 1.0
    assert c.error_curve is not None and c.error_curve[-1, 0] == 20_000


def test_policies_are_reproducible_from_their_seed():
    m = random_mdp(5, 2, 2, np.random.default_rng(0))
    a = policy_probs(make_policy("neural", m, 7))
    b = policy_probs(make_policy("neural", m, 7))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, policy_probs(make_policy("neural", m, 8)))


@pytest.mark.parametrize("episodes", [4, 9, 30])
def test_few_episodes_give_finite_figures(episodes):
    # fewer episodes than the error curve's first point (10) or than two per variance batch (40)
    m = random_mdp(5, 2, 2, np.random.default_rng(1), reward_mean=-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "degrees of freedom <= 0"
        c = check_theorem(m, "tabular", seed=0, episodes=episodes)
    assert c.error_curve is not None and c.error_curve[-1, 0] == episodes
    assert c.variance_ratio is not None and c.variance_ratio_se is not None
    assert np.isfinite([c.variance_ratio, c.variance_ratio_se]).all()
