"""The MDP type: construction, validation errors, sampling, the gymnasium face, the adapters."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.errors import UserError
from rlgen.mdp import dp
from rlgen.mdp.examples import (
    cliffwalking,
    frozenlake,
    gridworld_3_5,
    gridworld_4_1,
    random_mdp,
    taxi,
)
from rlgen.mdp.model import MDP, Episodes, MDPError, sample_episodes, uniform_policy


def reward_distribution_mdp() -> MDP:
    """State 0, action 0: (s'=1, r=+1) 0.3, (s'=1, r=-1) 0.2, (s'=0, r=0) 0.5; state 1 terminal."""
    outcomes = [(0, 0, 0.3, 1, 1.0), (0, 0, 0.2, 1, -1.0), (0, 0, 0.5, 0, 0.0)]
    return MDP.from_outcomes(2, 1, outcomes, terminal=[1], gamma=1.0, initial=[1.0, 0.0])


# ---------------------------------------------------------------------------------------------
# Derived quantities
# ---------------------------------------------------------------------------------------------


def test_reward_distribution_gives_expected_rewards():
    m = reward_distribution_mdp()
    assert m.expected_reward[0, 0] == pytest.approx(0.3 - 0.2)
    assert m.p_dense[0, 0].tolist() == pytest.approx([0.5, 0.5])
    # E[R | s=0, a=0, s'=1] = (0.3 - 0.2) / 0.5
    assert m.r_dense[0, 0, 1] == pytest.approx(0.2)
    assert m.r_dense[0, 0, 0] == 0.0


def test_from_arrays_matches_from_outcomes():
    p = np.array([[[0.25, 0.75]], [[1.0, 0.0]]])
    r = np.array([[[1.0, 2.0]], [[3.0, 0.0]]])
    a = MDP.from_arrays(p, r, gamma=0.5)
    b = MDP.from_outcomes(
        2, 1, [(0, 0, 0.25, 0, 1.0), (0, 0, 0.75, 1, 2.0), (1, 0, 1.0, 0, 3.0)], gamma=0.5
    )
    np.testing.assert_allclose(a.p_dense, b.p_dense)
    np.testing.assert_allclose(a.expected_reward, b.expected_reward)
    np.testing.assert_allclose(a.expected_reward, [[0.25 + 1.5], [3.0]])


def test_terminal_states_are_absorbing_with_zero_value():
    m = gridworld_4_1()
    assert m.P[[0 * 4 + a for a in range(4)]].nnz == 0  # state 0's rows are empty
    v = dp.evaluate_linear(m, uniform_policy(m))
    assert v[0] == 0.0 and v[15] == 0.0


# ---------------------------------------------------------------------------------------------
# Validation: each bad input gives its clear error
# ---------------------------------------------------------------------------------------------


def test_negative_probability_is_rejected():
    p = np.array([[[1.2, -0.2]], [[0.0, 1.0]]])
    with pytest.raises(MDPError, match=r"p\(s', r \| s=0, a=0\) has a negative"):
        MDP.from_arrays(p, np.zeros((2, 1)), gamma=0.9)


def test_probabilities_not_summing_to_one_are_rejected():
    p = np.array([[[0.5, 0.4]], [[0.0, 1.0]]])
    with pytest.raises(MDPError, match=r"s=0, a=0\) sum to 0.9, not 1 \(tolerance 1e-08\)"):
        MDP.from_arrays(p, np.zeros((2, 1)), gamma=0.9)


def test_rounding_within_tolerance_is_accepted():
    p = np.array([[[0.5, 0.5 + 1e-10]], [[0.0, 1.0]]])
    MDP.from_arrays(p, np.zeros((2, 1)), gamma=0.9)


def test_missing_outcomes_of_a_live_state_are_rejected():
    with pytest.raises(MDPError, match=r"s=1, a=0\) sum to 0, not 1"):
        MDP.from_outcomes(2, 1, [(0, 0, 1.0, 1, 0.0)], gamma=0.9)


@pytest.mark.parametrize(
    ("p", "r", "message"),
    [
        (np.ones((2, 2)), np.zeros((2, 2)), r"p must have shape \(S, A, S\)"),
        (np.ones((2, 1, 3)) / 3, np.zeros((2, 1)), r"p must have shape \(S, A, S\)"),
        (np.full((2, 1, 2), 0.5), np.zeros((2, 2, 2)), r"r must have shape \(S, A, S\)"),
    ],
)
def test_shape_mismatches_are_rejected(p, r, message):
    with pytest.raises(MDPError, match=message):
        MDP.from_arrays(p, r, gamma=0.9)


def test_initial_distribution_is_checked():
    p = np.full((2, 1, 2), 0.5)
    with pytest.raises(MDPError, match=r"initial distribution must have shape \(S,\)"):
        MDP.from_arrays(p, np.zeros((2, 1)), gamma=0.9, initial=[1.0])
    with pytest.raises(MDPError, match="initial distribution h\\(s\\) must be >= 0 and sum to 1"):
        MDP.from_arrays(p, np.zeros((2, 1)), gamma=0.9, initial=[0.7, 0.7])


def test_out_of_range_states_are_rejected():
    with pytest.raises(MDPError, match=r"next_state 5 is not in 0\.\.1"):
        MDP.from_outcomes(2, 1, [(0, 0, 1.0, 5, 0.0), (1, 0, 1.0, 0, 0.0)], gamma=0.9)
    with pytest.raises(MDPError, match=r"terminal states must be in 0..1"):
        MDP.from_outcomes(2, 1, [(0, 0, 1.0, 1, 0.0)], terminal=[3], gamma=0.9)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan")])
def test_gamma_outside_unit_interval_is_rejected(gamma):
    with pytest.raises(MDPError, match="gamma must be in \\[0, 1\\]"):
        gridworld_3_5(gamma=gamma)


def test_a_gamma_just_outside_the_unit_interval_is_shown_as_it_is():
    # ':g' printed 1.0000000000000002 as 1: "must be in [0, 1], got 1"
    with pytest.raises(MDPError, match=r"got 1\.0000000000000002$"):
        gridworld_3_5(gamma=1.0000000000000002)


def test_gamma_one_on_a_continuing_task_is_rejected():
    with pytest.raises(MDPError, match=r"gamma = 1 on a continuing task .* values are undefined"):
        gridworld_3_5(gamma=1.0)


def test_gamma_one_with_a_horizon_is_fine():
    p = np.ones((1, 1, 1))
    m = MDP.from_arrays(p, np.ones((1, 1)), gamma=1.0, horizon=3)
    assert dp.backward_induction(m).v[3, 0] == 3.0


def test_mdp_error_is_a_user_error():
    assert issubclass(MDPError, UserError) and issubclass(MDPError, ValueError)


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------


def test_step_samples_the_reward_distribution():
    m = reward_distribution_mdp()
    n = 200_000
    s2, r = m.step(np.zeros(n, dtype=int), np.zeros(n, dtype=int), np.random.default_rng(0))
    for (state, reward), p in {(1, 1.0): 0.3, (1, -1.0): 0.2, (0, 0.0): 0.5}.items():
        freq = np.mean((s2 == state) & (r == reward))
        assert abs(freq - p) < 4.5 * np.sqrt(p * (1 - p) / n)


def test_step_from_a_terminal_state_is_an_error():
    m = gridworld_4_1()
    with pytest.raises(MDPError, match="terminal state"):
        m.step(np.array([0]), np.array([1]), np.random.default_rng(0))


def test_returns_by_hand():
    # Two episodes stored time-major: episode 0 has rewards 1, 2, 3; episode 1 has 10.
    ep = Episodes(
        episode=np.array([0, 1, 0, 0]),
        t=np.array([0, 0, 1, 2]),
        state=np.zeros(4, int),
        action=np.zeros(4, int),
        reward=np.array([1.0, 10.0, 2.0, 3.0]),
        length=np.array([3, 1]),
        terminated=np.array([True, True]),
    )
    np.testing.assert_allclose(ep.returns(0.5), [1 + 0.5 * 2 + 0.25 * 3, 10.0, 2 + 0.5 * 3, 3.0])


def test_sample_episodes_respects_the_horizon():
    m = gridworld_4_1().with_horizon(4)
    eps = sample_episodes(m, uniform_policy(m), 500, np.random.default_rng(0))
    assert eps.length.max() <= 4
    assert (eps.terminated | (eps.length == 4)).all()


# ---------------------------------------------------------------------------------------------
# The gymnasium face
# ---------------------------------------------------------------------------------------------


def test_env_passes_gymnasiums_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(gridworld_4_1().env(), skip_render_check=True)


def test_env_is_seeded_and_reproducible():
    def rollout(seed: int) -> list:
        env = random_mdp(6, 2, 3, np.random.default_rng(0)).env()
        s, _ = env.reset(seed=seed)
        out = [s]
        for a in [0, 1, 1, 0, 1, 0, 0, 1]:
            s, r, term, _, _ = env.step(a)
            out.append((s, r, term))
            if term:
                s, _ = env.reset()
        return out

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


def test_env_truncates_after_the_horizon_and_terminates_at_terminals():
    env = gridworld_4_1().with_horizon(2).env()
    env.reset(seed=0)
    env.unwrapped._state = 5  # (1, 1): two steps from the terminal corner
    _, r, term, trunc, _ = env.step(0)  # up -> (0, 1)
    assert (r, term, trunc) == (-1.0, False, False)
    _, r, term, trunc, _ = env.step(3)  # left -> (0, 0), terminal
    assert (r, term, trunc) == (-1.0, True, False)
    env.reset(seed=0)
    env.unwrapped._state = 5
    env.step(2)
    assert env.step(2)[3] is True  # truncated after H = 2 steps


def test_env_exposes_toy_text_dynamics():
    m = reward_distribution_mdp()
    P = m.env().unwrapped.P
    assert P[0][0] == [(0.3, 1, 1.0, True), (0.2, 1, -1.0, True), (0.5, 0, 0.0, False)]


# ---------------------------------------------------------------------------------------------
# Adapters and book examples
# ---------------------------------------------------------------------------------------------


def test_frozenlake_adapter():
    m = frozenlake()
    assert (m.n_states, m.n_actions, m.grid) == (16, 4, (4, 4))
    assert np.flatnonzero(m.terminal).tolist() == [5, 7, 11, 12, 15]  # holes and the goal
    assert m.initial[0] == 1.0
    # slippery: each intended move goes one of three ways with probability 1/3
    assert m.p_dense[14, 2, 15] == pytest.approx(1 / 3)
    assert m.expected_reward[14, 2] == pytest.approx(1 / 3)


def test_cliffwalking_adapter_and_its_shortest_path():
    m = cliffwalking()
    assert (m.n_states, m.n_actions, m.grid) == (48, 4, (4, 12))
    assert np.flatnonzero(m.terminal).tolist() == [47]
    assert m.expected_reward[36, 1] == -100.0  # right from the start: into the cliff
    v = dp.value_iteration(m).v
    assert v[36] == pytest.approx(-13.0)  # up, 11 x right, down


def test_taxi_adapter():
    m = taxi()
    assert (m.n_states, m.n_actions, m.grid) == (500, 6, None)
    assert m.terminal.sum() == 4  # passenger delivered at each of the four stands
    assert m.initial.sum() == pytest.approx(1.0) and (m.initial[m.terminal] == 0).all()


def test_gridworld_3_5_special_states():
    m = gridworld_3_5()
    assert m.expected_reward[1].tolist() == [10.0] * 4  # A
    assert m.p_dense[1, :, 21].tolist() == [1.0] * 4  # A -> A'
    assert m.expected_reward[3].tolist() == [5.0] * 4  # B
    assert m.p_dense[3, :, 13].tolist() == [1.0] * 4  # B -> B'
    assert m.expected_reward[0].tolist() == [-1.0, 0.0, 0.0, -1.0]  # off-grid up and left


def test_sampling_a_continuing_task_needs_a_truncation():
    m = gridworld_3_5()
    with pytest.raises(MDPError, match="never end: give max_steps"):
        sample_episodes(m, uniform_policy(m), 10, np.random.default_rng(0))
    eps = sample_episodes(m, uniform_policy(m), 10, np.random.default_rng(0), max_steps=7)
    assert (eps.length == 7).all() and not eps.terminated.any()


def test_initial_states_follow_h():
    m = taxi()
    n = 100_000
    s = m.reset_states(n, np.random.default_rng(0))
    assert m.initial[s].min() > 0  # never a state h gives probability 0
    counts = np.bincount(s, minlength=m.n_states)
    expected = n * m.initial
    live = expected > 0
    z = np.abs(counts[live] - expected[live]) / np.sqrt(expected[live])
    assert z.max() < 4.5


def test_nan_probabilities_in_a_policy_or_the_initial_distribution_are_rejected():
    # NaN compares False with everything, so "sum is off by more than the tolerance" is no test
    m = gridworld_4_1()
    policy = uniform_policy(m)
    policy[3] = [np.nan, 0.5, 0.25, 0.25]
    with pytest.raises(MDPError, match="sum to 1"):
        dp.evaluate_linear(m, policy)
    with pytest.raises(MDPError, match=r"initial distribution h\(s\) must be >= 0 and sum to 1"):
        MDP.from_arrays(np.full((2, 1, 2), 0.5), np.zeros((2, 1)), gamma=0.9, initial=[np.nan, 1])


def test_from_gymnasium_round_trips_our_own_env():
    from rlgen.mdp.examples import from_gymnasium

    m = reward_distribution_mdp()
    back = from_gymnasium(m.env(), gamma=m.gamma)
    np.testing.assert_array_equal(back.terminal, m.terminal)
    np.testing.assert_allclose(back.initial, m.initial)  # h, not uniform over all states
    np.testing.assert_allclose(back.p_dense, m.p_dense)
    np.testing.assert_allclose(back.expected_reward, m.expected_reward)


def test_from_gymnasium_without_an_initial_distribution_starts_in_live_states():
    from rlgen.mdp.examples import from_gymnasium

    env = gridworld_4_1().env()
    del env.initial_state_distrib  # an environment that does not expose one
    back = from_gymnasium(env, gamma=1.0)
    np.testing.assert_allclose(back.initial, gridworld_4_1().initial)  # uniform over the 14
