"""Dynamic programming: hand-solved backups, evaluation both ways, VI = PI, backward induction
against brute force, the on-policy distribution against sampling, undefined values refused."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlgen.mdp import dp
from rlgen.mdp.examples import gridworld_3_5, gridworld_4_1, random_mdp
from rlgen.mdp.model import MDP, MDPError, sample_episodes, uniform_policy


def two_state() -> MDP:
    """Actions stay (0) and switch (1); r(0, stay) = 0, r(0, switch) = 1, r(1, stay) = 2,
    r(1, switch) = 0; gamma = 1/2."""
    p = np.zeros((2, 2, 2))
    p[0, 0, 0] = p[0, 1, 1] = p[1, 0, 1] = p[1, 1, 0] = 1.0
    return MDP.from_arrays(p, np.array([[0.0, 1.0], [2.0, 0.0]]), gamma=0.5)


# ---------------------------------------------------------------------------------------------
# Bellman backups on a two-state MDP, solved by hand
# ---------------------------------------------------------------------------------------------


def test_random_policy_values_by_hand():
    # v = r_pi + 1/2 P_pi v with r_pi = (1/2, 1) and P_pi = 1/2 everywhere: with m = (v0 + v1) / 2,
    # m = 3/4 + m/2, so m = 3/2, v0 = 1/2 + m/2 = 5/4, v1 = 1 + m/2 = 7/4.
    m = two_state()
    pi = uniform_policy(m)
    np.testing.assert_allclose(dp.evaluate_linear(m, pi), [1.25, 1.75])
    v, deltas = dp.evaluate_iterative(m, pi)
    np.testing.assert_allclose(v, [1.25, 1.75], atol=1e-11)
    assert deltas[0] == pytest.approx(1.0)  # v_1 = r_pi = (1/2, 1)


def test_q_from_v_and_v_from_q_by_hand():
    m = two_state()
    q = dp.q_from_v(m, np.array([1.25, 1.75]))
    # q(s, a) = r(s, a) + 1/2 v(s')
    np.testing.assert_allclose(q, [[0.625, 1.875], [2.875, 0.625]])
    np.testing.assert_allclose(dp.v_from_q(uniform_policy(m), q), [1.25, 1.75])


def test_bellman_optimality_backups_by_hand():
    m = two_state()
    # From v = 0: v_1 = (max(0, 1), max(2, 0)) = (1, 2); v_2 = (max(0 + 1/2, 1 + 1), max(2 + 1,
    # 0 + 1/2)) = (2, 3).
    first = dp.q_from_v(m, np.zeros(2)).max(axis=1)
    np.testing.assert_allclose(first, [1.0, 2.0])
    np.testing.assert_allclose(dp.q_from_v(m, first).max(axis=1), [2.0, 3.0])
    # v*: stay in state 1 forever, 2 / (1 - 1/2) = 4; from state 0 switch: 1 + 4/2 = 3.
    sol = dp.value_iteration(m)
    np.testing.assert_allclose(sol.v, [3.0, 4.0], atol=1e-11)
    np.testing.assert_allclose(sol.q, [[1.5, 3.0], [4.0, 1.5]], atol=1e-11)
    assert sol.optimal_actions.tolist() == [[False, True], [True, False]]
    fh = dp.backward_induction(m, 2)
    np.testing.assert_allclose(fh.v, [[0, 0], [1, 2], [2, 3]])


# ---------------------------------------------------------------------------------------------
# Evaluation: the linear system equals the sweeps
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_linear_solve_equals_iterative_evaluation(seed):
    rng = np.random.default_rng(seed)
    episodic = seed % 2 == 0
    m = random_mdp(15, 3, 4, rng, gamma=1.0 if episodic else 0.9, terminals=2 if episodic else 0)
    policy = rng.dirichlet(np.ones(3), size=15)  # a stochastic policy
    linear = dp.evaluate_linear(m, policy)
    iterative, _ = dp.evaluate_iterative(m, policy, tol=1e-13)
    np.testing.assert_allclose(linear, iterative, atol=1e-10)
    # and each satisfies the Bellman equation v = sum_a pi q
    np.testing.assert_allclose(dp.v_from_q(policy, dp.q_from_v(m, linear)), linear, atol=1e-12)


def test_sparse_and_dense_solves_agree(monkeypatch):
    m = random_mdp(40, 2, 3, np.random.default_rng(0), gamma=0.9, terminals=0)
    dense = dp.evaluate_linear(m, uniform_policy(m))
    monkeypatch.setattr(dp, "DENSE_LIMIT", 10)
    np.testing.assert_allclose(dp.evaluate_linear(m, uniform_policy(m)), dense, atol=1e-12)


def test_large_random_mdps_are_solved_without_a_sparse_factorisation(monkeypatch):
    # a random MDP's sparse LU fills in to a dense one: 20,000 states would take about 10 minutes
    # per solve without a sign of progress; GMRES needs a few dozen products with P_pi
    m = random_mdp(300, 3, 3, np.random.default_rng(1), gamma=1.0, terminals=1)
    policy = uniform_policy(m)
    dense = dp.evaluate_linear(m, policy)
    eta = dp.on_policy_distribution(m, policy).eta
    monkeypatch.setattr(dp, "DENSE_LIMIT", 10)

    def no_factorisation(*args, **kwargs):
        raise AssertionError("spsolve called")

    monkeypatch.setattr(dp.spla, "spsolve", no_factorisation)
    np.testing.assert_allclose(dp.evaluate_linear(m, policy), dense, rtol=1e-12)
    np.testing.assert_allclose(dp.on_policy_distribution(m, policy).eta, eta, rtol=1e-11)


def test_where_gmres_falls_short_the_sparse_solve_takes_over(monkeypatch):
    # a long corridor mixes slowly: GMRES does not reach a direct solve's accuracy, the sparse
    # LU (no fill-in here) does
    n = 400
    outcomes = [(s, 0, 1.0, s - 1, -1.0) for s in range(1, n)]
    outcomes += [(s, 1, 1.0, min(s + 1, n - 1), -1.0) for s in range(1, n)]
    m = MDP.from_outcomes(n, 2, outcomes, terminal=[0], gamma=1.0)
    policy = uniform_policy(m)
    dense = dp.evaluate_linear(m, policy)
    monkeypatch.setattr(dp, "DENSE_LIMIT", 10)
    calls = []
    spsolve = dp.spla.spsolve
    monkeypatch.setattr(dp.spla, "spsolve", lambda *a, **k: calls.append(1) or spsolve(*a, **k))
    np.testing.assert_allclose(dp.evaluate_linear(m, policy), dense, rtol=1e-12)
    assert calls


# ---------------------------------------------------------------------------------------------
# Optimality: value iteration = policy iteration (property-based)
# ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_states=st.integers(2, 12),
    n_actions=st.integers(1, 4),
    successors=st.integers(1, 3),
    episodic=st.booleans(),
    gamma=st.floats(0.0, 0.97),
)
def test_value_iteration_equals_policy_iteration(
    seed, n_states, n_actions, successors, episodic, gamma
):
    rng = np.random.default_rng(seed)
    if episodic:
        m = random_mdp(n_states, n_actions, successors, rng, gamma=1.0, terminals=1)
    else:
        m = random_mdp(n_states, n_actions, successors, rng, gamma=gamma, terminals=0)
    vi = dp.value_iteration(m, tol=1e-12)
    pi = dp.policy_iteration(m)
    np.testing.assert_allclose(vi.v, pi.v, atol=1e-8)
    assert (vi.optimal_actions == pi.optimal_actions).all()
    # v* is greedy in its own q: the Bellman optimality equation holds
    np.testing.assert_allclose(dp.q_from_v(m, pi.v).max(axis=1), pi.v, atol=1e-10)


def test_all_ties_are_kept_and_every_optimal_policy_has_value_v_star():
    m = gridworld_3_5()
    sol = dp.value_iteration(m)
    counts = sol.optimal_actions.sum(axis=1).reshape(5, 5)
    assert counts[0, 1] == 4 and counts[0, 3] == 4  # A and B: every action jumps
    assert counts[4, 0] == 2  # bottom-left corner: up and right
    rng = np.random.default_rng(0)
    for _ in range(5):
        pick = np.argmax(rng.random(sol.optimal_actions.shape) * sol.optimal_actions, axis=1)
        v = dp.evaluate_linear(m, np.eye(4)[pick])
        np.testing.assert_allclose(v, sol.v, atol=1e-9)


def test_ties_are_judged_on_the_spread_of_q_not_on_a_common_offset():
    # A continuing task with gamma = 1 - 1e-5: every q is about 1e5 (1 per step, forever), but
    # action 1 costs 3e-5 per step more. A tolerance relative to |q| (1e-9 * 1e5 = 1e-4) called
    # it optimal, and policy iteration returned the uniform policy's values, 1.5 below v*.
    gamma = 1 - 1e-5
    outcomes = [(0, 0, 1.0, 0, 1.0), (0, 1, 1.0, 0, 1.0 - 3e-5)]
    m = MDP.from_outcomes(1, 2, outcomes, gamma=gamma)
    sol = dp.policy_iteration(m)
    assert sol.optimal_actions.tolist() == [[True, False]]
    assert sol.v[0] == pytest.approx(1.0 / (1.0 - gamma), rel=1e-12)
    assert dp.greedy_actions(m, dp.q_from_v(m, sol.v)).tolist() == [[True, False]]
    # an exact tie at that offset stays a tie (the two q differ only by rounding)
    outcomes = [(0, 0, 1.0, 0, 1.0), (0, 1, 1.0, 1, 1.0), (1, 0, 1.0, 0, 1.0), (1, 1, 1.0, 1, 1.0)]
    for gamma in (1 - 1e-5, 1 - 1e-7):
        m = MDP.from_outcomes(2, 2, outcomes, gamma=gamma)
        assert dp.policy_iteration(m).optimal_actions.all()
    # what float64 cannot resolve is a tie: at 1 - 1e-7 (|q| = 1e7) the solve's rounding
    # between recurrent classes reaches 4e-3 (see CONDITIONING_TOL), beyond a loss of 1e-3
    m = MDP.from_outcomes(1, 2, [(0, 0, 1.0, 0, 1.0), (0, 1, 1.0, 0, 1.0 - 1e-3)], gamma=1 - 1e-7)
    assert dp.policy_iteration(m).optimal_actions.tolist() == [[True, True]]


def twin_mdp(n: int, gamma: float, seed: int, reward_mean: float) -> tuple[MDP, int]:
    """Two copies of one random continuing MDP, the second with its states relabelled, and a
    state (the last) whose two actions enter one copy or the other: an exact tie, whose q are
    computed along different paths (so they differ by rounding), into two recurrent classes."""
    rng = np.random.default_rng(seed)
    m = random_mdp(n, 2, 3, rng, gamma=gamma, terminals=0, reward_mean=reward_mean)
    rows = np.repeat(np.arange(2 * n), np.diff(m.row_start))
    s, a = rows // 2, rows % 2
    relabel = rng.permutation(n) + n
    one = np.column_stack([s, a, m.prob, m.next_state, m.reward])
    two = np.column_stack([relabel[s], a, m.prob, relabel[m.next_state], m.reward])
    choose = [(2 * n, 0, 1.0, 0, 0.0), (2 * n, 1, 1.0, relabel[0], 0.0)]
    return MDP.from_outcomes(2 * n + 1, 2, np.vstack([one, two, choose]), gamma=gamma), 2 * n


@pytest.mark.parametrize("gamma", [0.999, 1 - 1e-4, 1 - 1e-5, 1 - 1e-6])
@pytest.mark.parametrize("reward_mean", [1.0, -0.5])
def test_an_exact_tie_between_two_recurrent_classes_survives_rounding(gamma, reward_mean):
    # The linear solve's rounding error along each recurrent class grows like eps |v| / (1 -
    # gamma) (measured up to 0.54 of it, LU, dense or sparse, and GMRES), and it differs between
    # the two copies. A tolerance of 1e-13 |q| lost this tie for a third of such MDPs at gamma =
    # 0.9999 and for nearly all at 1 - 1e-5, and policy iteration then never stabilised on some
    # (the tied action flipped with every evaluation).
    for seed in range(10):
        m, choice = twin_mdp(8, gamma, seed, reward_mean)
        sol = dp.policy_iteration(m, max_iterations=100)
        assert sol.optimal_actions[choice].all(), seed
        assert sol.v[0] == pytest.approx(sol.v[choice] / gamma, rel=1e-9)


@pytest.mark.parametrize("gamma", [1 - 1e-7, 1 - 1e-8])
def test_policy_iteration_stops_where_rounding_makes_the_policies_cycle(gamma):
    # beyond what float64 resolves, a near tie's greedy set flips with every evaluation (seed 4
    # at 1 - 1e-7: states 6 and 12); policy iteration stops at the first greedy set seen before
    for seed in range(10):
        m, _ = twin_mdp(8, gamma, seed, 1.0)
        sol = dp.policy_iteration(m, max_iterations=100)
        q = dp.q_from_v(m, sol.v)
        # the policy returned is greedy in its own q within the rounding, 4 eps |q| / (1 - gamma)
        used = sol.policy > 0
        rounding = dp.CONDITIONING_TOL * np.abs(q).max() / (1 - gamma)
        assert (q[used] >= np.repeat(q.max(axis=1), used.sum(axis=1)) - rounding).all()
        assert (sol.optimal_actions | ~used).all()  # and its actions are among the optimal ones


def test_an_exact_tie_between_recurrent_classes_survives_the_krylov_solve(monkeypatch):
    monkeypatch.setattr(dp, "DENSE_LIMIT", 10)
    for seed in range(2):  # the first lost its tie, the second never stabilised
        m, choice = twin_mdp(60, 1 - 1e-5, seed, 1.0)
        assert dp.policy_iteration(m, max_iterations=100).optimal_actions[choice].all(), seed


def test_policy_iteration_on_the_undiscounted_gridworld():
    m = gridworld_4_1()
    sol = dp.policy_iteration(m)
    # v*(s) = -(Manhattan distance to the nearest terminal corner)
    rows, cols = np.divmod(np.arange(16), 4)
    distance = np.minimum(rows + cols, 6 - rows - cols)
    np.testing.assert_allclose(sol.v, -distance, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Backward induction against brute force over all deterministic non-stationary policies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "n_states", "n_actions", "horizon", "gamma"),
    [(0, 2, 2, 3, 1.0), (1, 3, 2, 2, 0.9), (2, 2, 3, 2, 1.0), (3, 3, 2, 3, 0.5)],
)
def test_backward_induction_equals_brute_force(seed, n_states, n_actions, horizon, gamma):
    m = random_mdp(
        n_states + 1, n_actions, 2, np.random.default_rng(seed), gamma=gamma, terminals=1
    )
    S, A = m.n_states, m.n_actions
    fh = dp.backward_induction(m, horizon)
    rules = list(itertools.product(range(A), repeat=S))  # deterministic decision rules
    best = np.full(S, -np.inf)
    for plan in itertools.product(rules, repeat=horizon):  # one rule per time step
        v = np.zeros(S)
        for rule in reversed(plan):  # v_k = r_rule + gamma P_rule v_{k-1}
            v = dp.q_from_v(m, v)[np.arange(S), list(rule)]
        best = np.maximum(best, v)
    np.testing.assert_allclose(fh.v[horizon], best, atol=1e-12)
    # following the solution's own optimal actions attains the optimum
    v = np.zeros(S)
    for t in reversed(range(horizon)):
        v = dp.q_from_v(m, v)[np.arange(S), fh.policy_at(t)]
    np.testing.assert_allclose(v, best, atol=1e-12)


def test_backward_induction_needs_a_horizon():
    with pytest.raises(MDPError, match="needs a horizon H >= 1"):
        dp.backward_induction(gridworld_4_1())


# ---------------------------------------------------------------------------------------------
# The on-policy distribution against sampling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [None, 3])
def test_on_policy_distribution_matches_sampled_visits(horizon):
    m = random_mdp(8, 3, 3, np.random.default_rng(5), end_prob=0.2).with_horizon(horizon)
    rng = np.random.default_rng(6)
    policy = rng.dirichlet(np.ones(3), size=8)
    exact = dp.on_policy_distribution(m, policy)
    n = 20_000
    episodes = sample_episodes(m, policy, n, rng)
    visits = episodes.visits(m.n_states)  # (n, S)
    live = ~m.terminal
    z = np.abs(visits.mean(0) - exact.eta)[live] / (visits.std(0, ddof=1)[live] / np.sqrt(n))
    assert z.max() < 4.0  # Bonferroni over 7 states at family-wise ~0.05%
    assert exact.mu.sum() == pytest.approx(1.0) and (exact.mu[m.terminal] == 0).all()
    length_se = episodes.length.std(ddof=1) / np.sqrt(n)
    assert abs(episodes.length.mean() - exact.expected_length) < 4 * length_se


def test_discounted_visits_of_a_continuing_task_sum_to_one_over_one_minus_gamma():
    m = gridworld_3_5()
    visits = dp.on_policy_distribution(m, uniform_policy(m), discounted=True)
    assert visits.expected_length == pytest.approx(10.0)
    with pytest.raises(MDPError, match="never terminates"):
        dp.on_policy_distribution(m, uniform_policy(m))
    barely = gridworld_3_5(gamma=1 - 1e-15)  # 1e15 discounted visits: lost to rounding
    with pytest.raises(MDPError, match="barely discounts"):
        dp.on_policy_distribution(barely, uniform_policy(barely), discounted=True)


# ---------------------------------------------------------------------------------------------
# Undefined values are refused, not looped over
# ---------------------------------------------------------------------------------------------


def loop_mdp() -> MDP:
    """State 0: action 0 stays (-1), action 1 ends; state 1 terminal; undiscounted."""
    outcomes = [(0, 0, 1.0, 0, -1.0), (0, 1, 1.0, 1, 0.0)]
    return MDP.from_outcomes(2, 2, outcomes, terminal=[1], gamma=1.0)


def test_gamma_one_policy_that_never_terminates_is_refused():
    m = loop_mdp()
    stay = np.array([[1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(MDPError, match=r"gamma = 1 and the policy never terminates from 1 state"):
        dp.evaluate_linear(m, stay)
    with pytest.raises(MDPError, match="never terminates"):
        dp.evaluate_iterative(m, stay)
    # a policy that ends with any probability is fine
    assert dp.evaluate_linear(m, uniform_policy(m))[0] == pytest.approx(-1.0)
    # and so is the optimal one
    assert dp.value_iteration(m).v[0] == 0.0
    assert dp.policy_iteration(m).v[0] == 0.0


def almost_never_ending_mdp(leak: float) -> MDP:
    """One decision state that ends with probability ``leak`` per step (reward 1 per step)."""
    outcomes = [(0, 0, 1.0 - leak, 0, 1.0), (0, 0, leak, 1, 1.0)]
    return MDP.from_outcomes(2, 1, outcomes, terminal=[1], gamma=1.0)


def test_a_singular_system_is_an_error_naming_the_cause():
    # 1 - 1e-17 rounds to 1: the task terminates on paper (an edge to the terminal state exists),
    # but I - P_pi is exactly singular, which used to be LinAlgError / torch's traceback
    m = almost_never_ending_mdp(1e-17)
    policy = uniform_policy(m)
    for compute in (
        lambda: dp.evaluate_linear(m, policy),
        lambda: dp.on_policy_distribution(m, policy),
        lambda: dp.policy_iteration(m),
    ):
        with pytest.raises(MDPError, match="singular: with gamma = 1 the policy practically never"):
            compute()


def test_the_sparse_solver_reports_a_singular_system_too(monkeypatch):
    monkeypatch.setattr(dp, "DENSE_LIMIT", 1)
    m = almost_never_ending_mdp(1e-17)
    with pytest.raises(MDPError, match="singular"):
        dp.evaluate_linear(m, uniform_policy(m))


def test_episodes_too_long_for_float64_are_refused():
    # a leak of 1e-12: the system is not singular, but the values (about 1e12) keep only ~4
    # digits; policy evaluation used to return them as exact
    m = almost_never_ending_mdp(1e-12)
    with pytest.raises(MDPError, match=r"practically never terminates: episodes last about 1e\+12"):
        dp.evaluate_linear(m, uniform_policy(m))
    with pytest.raises(MDPError, match="practically never terminates"):
        dp.on_policy_distribution(m, uniform_policy(m))
    # up to MAX_EXPECTED_STEPS the values are computed, and they are right
    m = almost_never_ending_mdp(1e-6)
    assert dp.evaluate_linear(m, uniform_policy(m))[0] == pytest.approx(1e6, rel=1e-9)
    assert dp.on_policy_distribution(m, uniform_policy(m)).expected_length == pytest.approx(1e6)


def test_pg_theorem_check_on_a_never_ending_task_is_an_error_not_a_traceback():
    from rlgen.mdp.policy_gradient import check_theorem

    outcomes = [(0, a, 1.0, 0, 1.0) for a in range(2)] + [(0, 1, 1e-17, 1, 0.0)]
    m = MDP.from_outcomes(2, 2, outcomes, terminal=[1], gamma=1.0)
    with pytest.raises(MDPError, match="practically never terminates"):
        check_theorem(m, "tabular", seed=0)


def test_gamma_one_without_any_way_to_terminate_is_refused():
    outcomes = [(0, 0, 1.0, 0, 1.0), (1, 0, 1.0, 2, 0.0)]
    m = MDP.from_outcomes(3, 1, outcomes, terminal=[2], gamma=1.0)
    with pytest.raises(MDPError, match="no policy can terminate from 1 state"):
        dp.value_iteration(m)


def test_value_iteration_that_does_not_converge_says_so():
    with pytest.raises(MDPError, match=r"did not converge .* in 3 sweeps"):
        dp.value_iteration(gridworld_3_5(), max_sweeps=3)


def test_a_bad_policy_is_rejected():
    m = two_state()
    with pytest.raises(MDPError, match=r"shape \(S, A\) = \(2, 2\)"):
        dp.evaluate_linear(m, np.ones((2, 3)) / 3)
    with pytest.raises(MDPError, match="sum to 1"):
        dp.evaluate_linear(m, np.ones((2, 2)))


def test_a_truncated_task_is_solved_by_the_finite_horizon_methods_only():
    m = gridworld_4_1().with_horizon(3)
    with pytest.raises(MDPError, match="truncated after H = 3 steps"):
        dp.evaluate_linear(m, uniform_policy(m))
    with pytest.raises(MDPError, match="truncated after H = 3 steps"):
        dp.value_iteration(m)
    v = dp.evaluate_horizon(m, uniform_policy(m))
    # with k steps left the random policy's values are Figure 4.1's v_k (synchronous sweeps)
    for k in (1, 2, 3):
        sweeps, _ = dp.evaluate_iterative(gridworld_4_1(), uniform_policy(m), sweeps=k)
        np.testing.assert_allclose(v[k], sweeps, atol=1e-12)
    # backward induction's optimum dominates the random policy at every horizon
    assert (dp.backward_induction(m).v >= v - 1e-12).all()


# ---------------------------------------------------------------------------------------------
# gamma = 1 with rewards that sum to 0 around a cycle: greedy is not enough to terminate
# ---------------------------------------------------------------------------------------------


def test_deterministic_policy_breaks_ties_towards_termination():
    # State 0: "stay" (action 0, reward 0) or "go" (action 1, reward 1, terminal). v*(0) = 1 and
    # q*(0, stay) = 0 + v*(0) = 1 ties with "go", but always staying never ends.
    m = MDP.from_outcomes(2, 2, [(0, 0, 1.0, 0, 0.0), (0, 1, 1.0, 1, 1.0)], terminal=[1], gamma=1)
    for sol in (dp.value_iteration(m), dp.policy_iteration(m)):
        assert sol.optimal_actions[0].tolist() == [True, True]  # both are tied in q*
        assert sol.deterministic_policy[0] == 1
        v = dp.evaluate_linear(m, np.eye(2)[sol.deterministic_policy])
        np.testing.assert_allclose(v, sol.v, atol=1e-12)


def test_deterministic_optimal_policy_of_undiscounted_frozenlake_attains_v_star():
    from rlgen.mdp.examples import frozenlake

    m = frozenlake(gamma=1.0)
    for sol in (dp.value_iteration(m), dp.policy_iteration(m)):
        v = dp.evaluate_linear(m, np.eye(4)[sol.deterministic_policy])
        np.testing.assert_allclose(v, sol.v, atol=1e-9)
        assert sol.optimal_actions[np.arange(16), sol.deterministic_policy][~m.terminal].all()


def test_value_iteration_refuses_values_only_a_never_ending_cycle_attains():
    # States 0 and 1 pass to each other with reward 0, or end with reward -1. Value iteration's
    # fixed point is v = 0, the return of cycling forever: no terminating policy attains it (every
    # one has v = -1, which policy iteration finds), so it must not be reported as v*.
    outcomes = [
        (0, 0, 1.0, 1, 0.0),
        (0, 1, 1.0, 2, -1.0),
        (1, 0, 1.0, 0, 0.0),
        (1, 1, 1.0, 2, -1.0),
    ]
    m = MDP.from_outcomes(3, 2, outcomes, terminal=[2], gamma=1.0)
    with pytest.raises(MDPError, match=r"gamma = 1 and .* never terminate.* 2 state\(s\) \(0, 1\)"):
        dp.value_iteration(m)
    np.testing.assert_allclose(dp.policy_iteration(m).v, [-1.0, -1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("gamma", [1 - 1e-12, 1 - 1e-15])
def test_a_discount_so_close_to_one_that_the_values_are_lost_to_rounding_is_refused(gamma):
    # a continuing task with gamma < 1 but 1 / (1 - gamma) > MAX_EXPECTED_STEPS: the linear solve
    # returned values about 1e13 with a 2% error (1 - 1e-15), and policy iteration called the
    # random policy optimal, every action tied
    m = gridworld_3_5(gamma=gamma)
    with pytest.raises(MDPError, match=r"barely discounts: .* about 1\S*e\+1[25] discounted"):
        dp.evaluate_linear(m, uniform_policy(m))
    with pytest.raises(MDPError, match="barely discounts"):
        dp.policy_iteration(m)


def test_a_discount_close_to_one_is_fine_where_episodes_end():
    # the same gamma on an episodic task: the discounted episode length is the episode's length
    m = gridworld_4_1(gamma=1 - 1e-15)
    v = dp.evaluate_linear(m, uniform_policy(m))
    assert v.reshape(4, 4)[0, 3] == pytest.approx(-22.0, rel=1e-12)
    # and up to MAX_EXPECTED_STEPS a continuing task's values are computed, and right
    # (Example 3.5's random policy earns -0.45 per step on average, wherever it starts)
    m = gridworld_3_5(gamma=1 - 1e-9)
    v = dp.evaluate_linear(m, uniform_policy(m))
    assert np.ptp(v) == pytest.approx(10.9, abs=0.05)
