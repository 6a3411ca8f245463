"""Dynamic programming on a finite MDP (Sutton & Barto chapters 3 and 4), vectorised.

Every function works on the sparse transition matrix P (rows s*A + a) of :class:`MDP`, so one
Bellman backup over all states is one sparse matrix-vector product::

    q(s, a) = r(s, a) + gamma * sum_s' p(s' | s, a) v(s')          (q from v)
    v(s)    = sum_a pi(a | s) q(s, a)                              (v from q)

- Policy evaluation: the linear Bellman system (I - gamma P_pi) v = r_pi solved directly, or
  iterative sweeps v <- r_pi + gamma P_pi v (Figure 4.1's synchronous sweeps).
- Optimality: value iteration, policy iteration, backward induction for a finite horizon; q*, v*,
  the set of all optimal actions per state (ties kept), a greedy optimal policy.
- The on-policy distribution mu (section 9.2): expected visits eta(s) = h(s) + sum eta P_pi,
  normalised.

Values at terminal states are 0 (their rows of P are empty). With gamma = 1 the values are defined
only where the policy terminates with probability 1; evaluation checks that and says so instead of
looping forever. A task with a horizon H has values that depend on the steps left: it is solved
by :func:`evaluate_horizon` and :func:`backward_induction`; the stationary solvers refuse it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rlgen.mdp.model import MDP, MDPError, check_policy

DENSE_LIMIT = 3000
"""states up to which linear systems are solved densely (LAPACK) rather than sparsely"""

MAX_EXPECTED_STEPS = 1e10
"""with gamma = 1, the longest expected episode (from any state) whose values are computed: the
linear system's condition number grows like the episode length, so beyond this float64 keeps
fewer than about 6 significant digits of the values (and at 1e16 the system is singular)"""

Callback = Callable[[int, float], None]
"""called after every sweep / iteration with its number (from 1) and the max value change"""


# ---------------------------------------------------------------------------------------------
# The two one-step relations
# ---------------------------------------------------------------------------------------------


def q_from_v(mdp: MDP, v: np.ndarray) -> np.ndarray:
    """q(s, a) = r(s, a) + gamma sum_s' p(s' | s, a) v(s'), shape (S, A); 0 at terminal states."""
    backup = (mdp.P @ v).reshape(mdp.n_states, mdp.n_actions)
    return mdp.expected_reward + mdp.gamma * backup


def v_from_q(policy: np.ndarray, q: np.ndarray) -> np.ndarray:
    """v(s) = sum_a pi(a | s) q(s, a), shape (S,)."""
    return (policy * q).sum(axis=1)


def max_over_actions(q: np.ndarray) -> np.ndarray:
    """max_a q(s, a), shape (S,).

    NumPy reduces a short trailing axis slowly (one tiny reduction per state); with few actions,
    an elementwise maximum over the A columns is ~30x faster on 100,000 states.
    """
    if q.shape[1] > 16:
        return q.max(axis=1)
    return functools.reduce(np.maximum, q.T)


def policy_dynamics(mdp: MDP, policy: np.ndarray) -> tuple[sp.csr_array, np.ndarray]:
    """P_pi (S, S) sparse, P_pi(s, s') = sum_a pi(a | s) p(s' | s, a), and r_pi (S,)."""
    policy = check_policy(mdp, policy)
    S, A = mdp.n_states, mdp.n_actions
    rows = np.repeat(np.arange(S), A)
    pi = sp.csr_array((policy.ravel(), (rows, np.arange(S * A))), shape=(S, S * A))
    return (pi @ mdp.P).tocsr(), (policy * mdp.expected_reward).sum(axis=1)


def check_terminates(
    mdp: MDP, p_pi: sp.csr_array, what: str = "the policy never terminates", *, gamma: float = -1
) -> None:
    """With gamma = 1, raise unless every state reaches a terminal state with probability 1.

    In a finite Markov chain that holds exactly when a terminal state can be reached from every
    state, a graph search (no iteration that could run forever). ``gamma`` overrides the MDP's.
    """
    if (mdp.gamma if gamma < 0 else gamma) < 1.0:
        return
    stuck = ~_reaches_terminal(mdp, p_pi)
    if stuck.any():
        states = np.flatnonzero(stuck)
        shown = ", ".join(map(str, states[:8])) + (", ..." if states.size > 8 else "")
        raise MDPError(
            f"gamma = 1 and {what} from {states.size} state(s) ({shown}): the return is an "
            "infinite sum and the values are undefined; use gamma < 1 or a policy that reaches "
            "a terminal state"
        )


def _reaches_terminal(mdp: MDP, graph: sp.csr_array) -> np.ndarray:
    """(S,) whether a terminal state is reachable from each state along the edges of ``graph``."""
    from scipy.sparse.csgraph import breadth_first_order

    S = mdp.n_states
    # Reverse edges plus a super-source S wired to every terminal state; one BFS from it.
    g = sp.coo_array(graph)
    keep = g.data > 0
    terminals = np.flatnonzero(mdp.terminal)
    rows = np.concatenate([g.col[keep], np.full(terminals.size, S)])
    cols = np.concatenate([g.row[keep], terminals])
    reverse = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(S + 1, S + 1))
    order = breadth_first_order(reverse, S, directed=True, return_predecessors=False)
    reached = np.zeros(S + 1, dtype=bool)
    reached[order] = True
    return reached[:S]


# ---------------------------------------------------------------------------------------------
# Policy evaluation
# ---------------------------------------------------------------------------------------------


def check_no_horizon(mdp: MDP) -> None:
    """The stationary solvers need a task without a horizon: with one, values depend on time."""
    if mdp.horizon is not None:
        raise MDPError(
            f"this task is truncated after H = {mdp.horizon} steps, so its values depend on the "
            "steps left: use evaluate_horizon / backward_induction, or mdp.with_horizon(None) "
            "for the task without the horizon"
        )


def evaluate_linear(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    """v_pi by solving the linear Bellman system (I - gamma P_pi) v = r_pi, shape (S,)."""
    check_no_horizon(mdp)
    p_pi, r_pi = policy_dynamics(mdp, policy)
    check_terminates(mdp, p_pi)
    if mdp.gamma > 1.0 - 1.0 / MAX_EXPECTED_STEPS:
        # Terminating with probability 1 is not enough: an episode of 1e17 steps on average
        # terminates, yet its values are lost to rounding; so is a discount that barely
        # discounts (1 - 1e-15 on a continuing task: values about 1e15, 2% off). The expected
        # (discounted) number of steps from each state solves the same system with reward 1 per
        # step; below this gamma it is at most 1 / (1 - gamma) <= MAX_EXPECTED_STEPS anyway.
        steps = _solve(mdp.gamma, p_pi, (~mdp.terminal).astype(float))
        check_episode_length(steps, mdp.gamma)
    return _solve(mdp.gamma, p_pi, r_pi)


def check_episode_length(steps: np.ndarray, gamma: float = 1.0) -> None:
    """Raise :class:`MDPError` unless the expected episode lengths ``steps`` (one per state, or
    one from the initial distribution; discounted by ``gamma``: sum_t gamma^t P(alive at t)) are
    finite, >= 0 and at most :data:`MAX_EXPECTED_STEPS`."""
    steps = np.atleast_1d(steps)
    bad = ~np.isfinite(steps) | (steps < 0) | (steps > MAX_EXPECTED_STEPS)
    if bad.any():
        s = int(np.argmax(np.where(np.isfinite(steps), np.abs(steps), np.inf)))
        size = "beyond float64" if not np.isfinite(steps[s]) else f"about {abs(steps[s]):.3g}"
        if gamma < 1.0:
            raise MDPError(
                f"gamma = {gamma!r} (1 - {1.0 - gamma:.3g}) barely discounts: the policy's "
                f"returns are sums over {size} discounted steps (more than "
                f"{MAX_EXPECTED_STEPS:.0e}), so the values are lost to rounding; use gamma <= "
                f"1 - {1.0 / MAX_EXPECTED_STEPS:.0e} or make episodes end sooner"
            )
        raise MDPError(
            f"gamma = 1 and the policy practically never terminates: episodes last {size} steps "
            f"on average (more than {MAX_EXPECTED_STEPS:.0e}), so the values are lost to "
            "rounding; use gamma < 1 or make episodes end sooner"
        )


def _solve(gamma: float, p_pi: sp.csr_array, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """x with (I - gamma P_pi) x = b (or its transpose).

    Raises:
        MDPError: the system is singular (only possible with gamma = 1, for a policy that
            terminates with a probability float64 rounds to 0).
    """
    S = p_pi.shape[0]
    try:
        if S <= DENSE_LIMIT:
            m = np.eye(S) - gamma * p_pi.toarray()
            x = np.linalg.solve(m.T if transpose else m, b)
        else:
            m = sp.identity(S, format="csc") - gamma * sp.csc_array(p_pi)
            m = m.T.tocsc() if transpose else m
            krylov = _krylov_solve(m, b)
            if krylov is not None:
                x = krylov
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", spla.MatrixRankWarning)
                    x = np.asarray(spla.spsolve(m, b))
    except (np.linalg.LinAlgError, spla.MatrixRankWarning):
        x = np.full(S, np.inf)
    if not np.isfinite(x).all():
        if gamma < 1.0:  # I - gamma P_pi is then invertible: the numbers themselves overflow
            raise MDPError("the values overflow float64: the rewards are too large")
        raise MDPError(
            "the linear Bellman system (I - P_pi) is singular: with gamma = 1 the policy "
            "practically never terminates (float64 rounds its chance of ending to 0); use "
            "gamma < 1 or make episodes end sooner"
        )
    return x


KRYLOV_RESTART = 50
"""GMRES restarts after this many iterations..."""
KRYLOV_RESTARTS = 40
"""...and gives up after this many restarts (2,000 products with P_pi), for the sparse LU"""
KRYLOV_RESIDUAL = 1e-15
"""the largest residual ||b - M x|| accepted from GMRES, relative to ||b|| + ||x|| (2-norms):
within a few times what a direct solve leaves"""


def _krylov_solve(m: sp.csc_array, b: np.ndarray) -> np.ndarray | None:
    """x with M x = b by GMRES, or None where it does not reach :data:`KRYLOV_RESIDUAL`.

    A random MDP mixes fast, so GMRES converges in a few dozen products with P_pi, while a
    sparse LU of its matrix fills in to a dense one (O(S^3): 17 s at 6,000 states, so about 10
    minutes at 20,000). A task that mixes slowly (a long corridor) is left to the sparse LU,
    which then has little fill-in.
    """
    if not b.any():
        return np.zeros_like(b)
    with np.errstate(all="ignore"):
        x, _ = spla.gmres(
            m, b, rtol=KRYLOV_RESIDUAL, atol=0.0, restart=KRYLOV_RESTART, maxiter=KRYLOV_RESTARTS
        )
        if not np.isfinite(x).all():
            return None
        residual = np.linalg.norm(b - m @ x)
    if residual > KRYLOV_RESIDUAL * (np.linalg.norm(b) + np.linalg.norm(x)):
        return None
    return np.asarray(x, dtype=float)


def evaluate_iterative(
    mdp: MDP,
    policy: np.ndarray,
    *,
    tol: float = 1e-12,
    max_sweeps: int = 100_000,
    sweeps: int | None = None,
    v0: np.ndarray | None = None,
    callback: Callback | None = None,
) -> tuple[np.ndarray, list[float]]:
    """v_pi by synchronous sweeps v_{k+1} = r_pi + gamma P_pi v_k (iterative policy evaluation).

    Stops when the largest change of a sweep is below ``tol``, or after exactly ``sweeps``
    sweeps when given (Figure 4.1 shows v_k for k = 1, 2, 3, 10).

    Returns:
        v (S,) and the max change of every sweep.
    """
    check_no_horizon(mdp)
    p_pi, r_pi = policy_dynamics(mdp, policy)
    if sweeps is None:
        check_terminates(mdp, p_pi)
    v = np.zeros(mdp.n_states) if v0 is None else np.asarray(v0, dtype=float).copy()
    deltas: list[float] = []
    limit = sweeps if sweeps is not None else max_sweeps
    for k in range(1, limit + 1):
        new = r_pi + mdp.gamma * (p_pi @ v)
        delta = float(np.max(np.abs(new - v)))
        v = new
        deltas.append(delta)
        if callback:
            callback(k, delta)
        if sweeps is None and delta < tol:
            return v, deltas
    if sweeps is None:
        raise MDPError(
            f"policy evaluation did not converge to {tol:g} in {max_sweeps} sweeps "
            f"(last change {deltas[-1]:.3g}); raise --max-sweeps"
        )
    return v, deltas


# ---------------------------------------------------------------------------------------------
# Optimality
# ---------------------------------------------------------------------------------------------


@dataclass
class Solution:
    """The result of a solver.

    Attributes:
        v: (S,) state values (v* for the optimal solvers).
        q: (S, A) action values.
        optimal_actions: (S, A) bool, every action whose q is within ``tie_tol`` of the best
            (all ties kept); all False at terminal states.
        policy: (S, A) a greedy policy: uniform over the optimal actions.
        deterministic_policy: (S,) one optimal action per state, chosen among the ties so that
            the deterministic policy terminates (see :func:`terminating_tie_break`).
        iterations: sweeps (value iteration, evaluation) or improvement steps (policy iteration).
        deltas: the max value change of every sweep / iteration.
    """

    v: np.ndarray
    q: np.ndarray
    optimal_actions: np.ndarray
    policy: np.ndarray
    deterministic_policy: np.ndarray
    iterations: int
    deltas: list[float] = field(default_factory=list)


ROUNDING_TOL = 1e-13
"""relative rounding error of q allowed for on top of ``tie_tol`` (float64's is about 1e-16 times
a few), where the linear system is well conditioned"""

CONDITIONING_TOL = 4 * float(np.finfo(float).eps)
"""on a continuing task, the rounding error of q allowed for in units of max |q| / (1 - gamma)
(at most ``tie_tol`` max |q|, the former tolerance): the linear solve's error along each
recurrent class of the policy grows like eps |v| / (1 - gamma) and differs between classes, so
two actions that enter different classes with exactly the same value come out up to 0.54 of
that apart (measured on twin MDPs, gamma from 1 - 1e-4 to 1 - 1e-9, with the policies policy
iteration visits; LU, dense or sparse, and GMRES alike)"""


def greedy_actions(mdp: MDP, q: np.ndarray, tie_tol: float = 1e-9) -> np.ndarray:
    """(S, A) bool: the actions whose q(s, a) is within ``tie_tol * (1 + min(|max q|, spread))
    + rounding`` of the max, where ``spread`` is the range of q over all live states and
    actions (and 0, the value of terminal states, if there are any) and ``rounding`` is
    ``ROUNDING_TOL * |max q|``, on a continuing task at least ``min(CONDITIONING_TOL / (1 -
    gamma), tie_tol) * size`` with ``size`` the largest |q| of a live state.

    All ties are kept: an optimal policy may pick any of them (the policy need not be unique,
    while v* is). Terminal states have no actions to choose.

    The tolerance is relative to how much q varies, not to |q| itself: on a continuing task with
    gamma near 1 every q carries a common offset of about r / (1 - gamma) (1e5 for 1 - 1e-5),
    and a tolerance of 1e-9 |q| would call an action optimal that loses 1e-4 per step. Where q
    varies as much as it is large (every episodic task: terminal states are worth 0) the two
    are the same. What float64 cannot resolve stays a tie: two actions that enter different
    recurrent classes with the same value come out of the solve up to about eps |q| / (1 -
    gamma) apart (a few 1e-11 |q| at 1 - 1e-5), so ties within that are kept; beyond 1 - 1e-6
    that exceeds 1e-9 |q|, the former tolerance, which the window keeps to.
    """
    best = max_over_actions(q)[:, None]
    live = q[~mdp.terminal]
    spread = size = 0.0
    if live.size:
        high, low = float(live.max()), float(live.min())
        size = max(abs(high), abs(low))
        if mdp.terminal.any():
            high, low = max(high, 0.0), min(low, 0.0)
        spread = high - low
    rounding = ROUNDING_TOL * np.abs(best)
    if mdp.gamma < 1.0 and mdp.horizon is None and not mdp.terminal.any():
        conditioning = min(CONDITIONING_TOL / (1.0 - mdp.gamma), tie_tol) * size
        rounding = np.maximum(rounding, conditioning)
    window = tie_tol * (1.0 + np.minimum(np.abs(best), spread)) + rounding
    out = q >= best - window
    out[mdp.terminal] = False
    return out


def greedy_policy(mdp: MDP, q: np.ndarray, tie_tol: float = 1e-9) -> np.ndarray:
    """(S, A) the policy uniform over the greedy actions of ``q`` (uniform at terminal states)."""
    return uniform_over(mdp, greedy_actions(mdp, q, tie_tol))


def uniform_over(mdp: MDP, ties: np.ndarray) -> np.ndarray:
    """(S, A) the policy uniform over the actions ``ties`` marks (uniform at terminal states)."""
    weights = ties.astype(float)
    weights[mdp.terminal] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


def terminating_tie_break(mdp: MDP, ties: np.ndarray) -> np.ndarray:
    """(S,) one action per state among ``ties`` (S, A), the first one unless gamma = 1.

    With gamma < 1 every choice among the optimal actions is an optimal policy. With gamma = 1
    a tie can keep the agent in a cycle whose rewards sum to 0 ("up" everywhere in FrozenLake's
    top row): greedy, yet a policy that always takes it never ends and has no value. So states
    are chosen outwards from the terminal states, each taking its first tied action that reaches
    an already chosen state with positive probability. Wherever tied actions can lead to a
    terminal state, the chosen policy terminates with probability 1, and a terminating policy
    greedy in v* has the values v* (Bertsekas & Tsitsiklis 1991, stochastic shortest paths).
    """
    choice = np.argmax(ties, axis=1)
    if mdp.gamma < 1.0:
        return choice
    S, A = mdp.n_states, mdp.n_actions
    chosen = mdp.terminal.copy()
    while True:
        leads_out = (mdp.P @ chosen.astype(float)).reshape(S, A) > 0  # (S, A)
        moves = ties & leads_out & ~chosen[:, None]
        new = moves.any(axis=1)
        if not new.any():
            return choice
        choice[new] = np.argmax(moves[new], axis=1)
        chosen |= new


def _solution(
    mdp: MDP, v: np.ndarray, iterations: int, deltas: list[float], tie_tol: float
) -> Solution:
    q = q_from_v(mdp, v)
    ties = greedy_actions(mdp, q, tie_tol)
    policy = greedy_policy(mdp, q, tie_tol)
    if mdp.gamma == 1.0:
        # v solves the Bellman optimality equation, but with gamma = 1 so does the return of a
        # cycle whose rewards sum to 0; only a terminating greedy policy makes v its values.
        stuck = ~_reaches_terminal(mdp, policy_dynamics(mdp, policy)[0])
        if stuck.any():
            states = np.flatnonzero(stuck)
            shown = ", ".join(map(str, states[:8])) + (", ..." if states.size > 8 else "")
            raise MDPError(
                f"gamma = 1 and every policy greedy in the values found would never terminate "
                f"from {states.size} state(s) ({shown}): the values are the return of a cycle "
                "whose rewards sum to 0, which no terminating policy attains; use gamma < 1, or "
                "policy iteration, which searches the policies that terminate"
            )
    return Solution(v, q, ties, policy, terminating_tie_break(mdp, ties), iterations, deltas)


def _check_solvable(mdp: MDP) -> None:
    """No horizon, and with gamma = 1 every state can reach a terminal state somehow (else v*
    is an infinite sum)."""
    check_no_horizon(mdp)
    if mdp.gamma == 1.0:
        check_terminates(mdp, _any_action(mdp), "no policy can terminate")


def _any_action(mdp: MDP) -> sp.csr_array:
    """(S, S) the graph of transitions possible under some action."""
    S, A = mdp.n_states, mdp.n_actions
    collapse = sp.csr_array(
        (np.ones(S * A), (np.repeat(np.arange(S), A), np.arange(S * A))), shape=(S, S * A)
    )
    return (collapse @ mdp.P).tocsr()


def value_iteration(
    mdp: MDP,
    *,
    tol: float = 1e-12,
    max_sweeps: int = 100_000,
    v0: np.ndarray | None = None,
    tie_tol: float = 1e-9,
    callback: Callback | None = None,
) -> Solution:
    """v* by sweeps v <- max_a [r(s, a) + gamma sum_s' p(s' | s, a) v(s')] (eq. 4.10).

    Stops when a sweep changes no value by ``tol`` or more; then ||v - v*|| <= gamma tol / (1 -
    gamma) for gamma < 1. With gamma = 1 the limit is refused when no policy greedy in it
    terminates (it is then the return of a never-ending cycle whose rewards sum to 0).
    """
    _check_solvable(mdp)
    v = np.zeros(mdp.n_states) if v0 is None else np.asarray(v0, dtype=float).copy()
    v[mdp.terminal] = 0.0
    deltas: list[float] = []
    for k in range(1, max_sweeps + 1):
        new = max_over_actions(q_from_v(mdp, v))
        delta = float(np.max(np.abs(new - v)))
        v = new
        deltas.append(delta)
        if callback:
            callback(k, delta)
        if delta < tol:
            return _solution(mdp, v, k, deltas, tie_tol)
    raise MDPError(
        f"value iteration did not converge to {tol:g} in {max_sweeps} sweeps (last "
        f"change {deltas[-1]:.3g}); raise --max-sweeps or lower gamma"
    )


def policy_iteration(
    mdp: MDP,
    *,
    policy: np.ndarray | None = None,
    max_iterations: int = 10_000,
    tie_tol: float = 1e-9,
    callback: Callback | None = None,
) -> Solution:
    """v* by alternating exact evaluation and greedy improvement (section 4.3).

    Starts from ``policy`` (default: the equiprobable random policy, which terminates wherever
    any policy can). Improvement takes the policy uniform over all greedy actions; the loop stops
    when the policy is greedy in its own q, i.e. v_pi satisfies the Bellman optimality equation.

    In exact arithmetic every improvement is strict and the loop ends. In float64 an action whose
    q is as close to the best as the rounding of the evaluation (see :func:`greedy_actions`) may
    drop in and out of the greedy set with each evaluation, and the policies repeat (Sutton &
    Barto, Exercise 4.4). The loop then stops at the first greedy set seen before: the policies
    of the cycle are optimal alike within rounding, the optimal actions are every action greedy
    in one of them, and the policy and values returned are the last policy's.
    """
    _check_solvable(mdp)
    pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions) if policy is None else policy
    v = evaluate_linear(mdp, pi)
    deltas: list[float] = []
    seen: dict[bytes, int] = {}  # a greedy set's bytes -> its index in greedy_sets
    greedy_sets: list[np.ndarray] = []
    for k in range(1, max_iterations + 1):
        q = q_from_v(mdp, v)
        ties = greedy_actions(mdp, q, tie_tol)
        new_pi = uniform_over(mdp, ties)
        stable = np.allclose(new_pi, pi, rtol=0.0, atol=1e-12)
        key = ties.tobytes()
        if stable or key in seen:
            deltas.append(0.0)
            if callback:
                callback(k, 0.0)
            if not stable:  # a cycle: every action greedy in one of its policies
                ties = np.logical_or.reduce([*greedy_sets[seen[key] :], ties])
            return Solution(v, q, ties, pi, terminating_tie_break(mdp, ties), k, deltas)
        seen[key] = len(greedy_sets)
        greedy_sets.append(ties)
        new_v = evaluate_linear(mdp, new_pi)
        deltas.append(float(np.max(np.abs(new_v - v))))
        if callback:
            callback(k, deltas[-1])
        pi, v = new_pi, new_v
    raise MDPError(f"policy iteration did not stabilise in {max_iterations} iterations")


def evaluate_horizon(mdp: MDP, policy: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """Values of a stationary policy on the task truncated after H steps, (H + 1, S).

    Row k is v_k = r_pi + gamma P_pi v_{k-1}, the expected return with k steps left (v_0 = 0);
    H defaults to the MDP's horizon.
    """
    H = horizon if horizon is not None else mdp.horizon
    if H is None or H < 1:
        raise MDPError(f"evaluating a truncated task needs a horizon H >= 1, got {H}")
    p_pi, r_pi = policy_dynamics(mdp, policy)
    v = np.zeros((H + 1, mdp.n_states))
    for k in range(1, H + 1):
        v[k] = r_pi + mdp.gamma * (p_pi @ v[k - 1])
    return v


@dataclass
class FiniteHorizonSolution:
    """Backward induction's result; index k is the number of steps to go.

    Attributes:
        v: (H + 1, S) v*_k(s), the optimal value with k steps left (v*_0 = 0).
        q: (H + 1, S, A) q*_k(s, a) (q*_0 = 0).
        optimal_actions: (H + 1, S, A) bool, all optimal actions with k steps to go.
    """

    v: np.ndarray
    q: np.ndarray
    optimal_actions: np.ndarray

    @property
    def horizon(self) -> int:
        return self.v.shape[0] - 1

    def policy_at(self, t: int) -> np.ndarray:
        """(S,) an optimal action at time t (H - t steps to go): the first of the ties."""
        return np.argmax(self.optimal_actions[self.horizon - t], axis=1)


def backward_induction(
    mdp: MDP, horizon: int | None = None, *, tie_tol: float = 1e-9
) -> FiniteHorizonSolution:
    """Optimal values of the task truncated after H steps: v*_k = max_a [r + gamma P v*_{k-1}].

    Exact after H backups (no convergence question, any gamma in [0, 1]); the optimal policy is
    non-stationary in general.
    """
    H = horizon if horizon is not None else mdp.horizon
    if H is None or H < 1:
        raise MDPError(f"backward induction needs a horizon H >= 1, got {H}")
    S, A = mdp.n_states, mdp.n_actions
    v = np.zeros((H + 1, S))
    q = np.zeros((H + 1, S, A))
    best = np.zeros((H + 1, S, A), dtype=bool)
    for k in range(1, H + 1):
        q[k] = q_from_v(mdp, v[k - 1])
        v[k] = max_over_actions(q[k])
        best[k] = greedy_actions(mdp, q[k], tie_tol)
    return FiniteHorizonSolution(v, q, best)


# ---------------------------------------------------------------------------------------------
# The on-policy distribution
# ---------------------------------------------------------------------------------------------


@dataclass
class OnPolicy:
    """Where a policy spends its time.

    Attributes:
        eta: (S,) expected number of visits to each non-terminal state per episode (discounted:
            weighted by gamma^t, when asked), 0 at terminal states.
        mu: (S,) eta normalised, the on-policy distribution.
    """

    eta: np.ndarray
    mu: np.ndarray

    @property
    def expected_length(self) -> float:
        """Expected number of steps per episode: sum_s eta(s)."""
        return float(self.eta.sum())


def on_policy_distribution(mdp: MDP, policy: np.ndarray, *, discounted: bool = False) -> OnPolicy:
    """eta(s) = h(s) + sum_s' eta(s') sum_a pi(a | s') p(s | s', a) for non-terminal s (eq. 9.2).

    Solved as the linear system eta^T (I - P_pi) = h^T over the non-terminal states; with a
    horizon H, eta = sum_{t < H} h^T P_pi^t instead. ``discounted`` weights a visit at time t by
    gamma^t (the weighting under which the policy gradient theorem holds with discounting).
    """
    p_pi, _ = policy_dynamics(mdp, policy)
    c = mdp.gamma if discounted else 1.0
    if mdp.horizon is None and c == 1.0:
        check_terminates(mdp, p_pi, gamma=1.0)
    live = ~mdp.terminal
    p_pi = p_pi.multiply(live[None, :]).tocsr()  # visits to terminal states do not count
    h = np.where(live, mdp.initial, 0.0)
    if mdp.horizon is not None:
        eta = np.zeros(mdp.n_states)
        x = h.copy()
        for _ in range(mdp.horizon):
            eta += x
            x = c * (p_pi.T @ x)
    else:
        eta = _solve(c, p_pi, h, transpose=True)
        if c > 1.0 - 1.0 / MAX_EXPECTED_STEPS:  # as in evaluate_linear: lost to rounding
            check_episode_length(eta.sum(), c)
    eta = np.where(live, eta, 0.0)
    return OnPolicy(eta, eta / eta.sum())
