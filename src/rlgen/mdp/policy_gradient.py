"""The policy gradient theorem (Sutton & Barto section 13.2), checked exactly on finite MDPs.

For a parameterised softmax policy pi(a | s, theta) and the objective J(theta) = sum_s h(s)
v_pi(s), the theorem says

    grad J(theta)  ∝  sum_s mu(s) sum_a q_pi(s, a) grad pi(a | s, theta),

and the proof gives the constant: the expected number of steps per episode, sum_s eta(s) (with
discounting: the gamma^t-weighted number of steps, the weighting under which the proof goes
through for gamma < 1; for gamma = 1 the two coincide).

Everything here is exact except where it says *sampled*:

1. ``exact_gradient``: J is a differentiable function of theta through the linear Bellman solve
   v_pi = (I - gamma P_pi)^{-1} r_pi, so torch's automatic differentiation gives grad J exactly
   (to floating point).
2. ``theorem_rhs``: the right-hand side from q_pi and mu computed by dynamic programming, as the
   gradient of the surrogate sum_s mu(s) sum_a (q_pi(s, a) - b(s)) pi(a | s) with mu, q and the
   baseline b held fixed. A baseline changes nothing, because sum_a grad pi(a | s) = grad 1 = 0.
3. ``reinforce``: the *sampled* REINFORCE estimate sum_t gamma^t (G_t - b(S_t)) grad ln pi(A_t |
   S_t) of every episode; its mean is grad J (unbiased), and the value baseline b = v_pi lowers its
   variance.

Two policies: ``tabular`` (one logit per state and action) and ``neural`` (a small MLP from a
one-hot state to the logits); computations run in float64.

Not to be confused with :mod:`rlgen.pg`, REINFORCE on gymnasium environments: this module checks
the theorem behind it, exactly, on MDPs small enough to solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from rlgen.errors import check_memory
from rlgen.mdp.dp import evaluate_linear, on_policy_distribution, q_from_v
from rlgen.mdp.model import MDP, Episodes, MDPError, sample_episodes

POLICIES = ("tabular", "neural")


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


class TabularPolicy(torch.nn.Module):
    """Softmax over one logit per (s, a): pi(a | s) = exp(theta_sa) / sum_b exp(theta_sb)."""

    def __init__(
        self, n_states: int, n_actions: int, generator: torch.Generator, scale: float = 1.0
    ) -> None:
        super().__init__()
        theta = scale * torch.randn(n_states, n_actions, generator=generator, dtype=torch.float64)
        self.theta = torch.nn.Parameter(theta)

    def forward(self) -> torch.Tensor:
        """The logits of every state, (S, A)."""
        return self.theta


class NeuralPolicy(torch.nn.Module):
    """Softmax over the logits of an MLP: one-hot state -> tanh hidden layer -> A logits."""

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        generator: torch.Generator,
        hidden: int = 16,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.n_states = n_states
        first = torch.nn.Linear(n_states, hidden, dtype=torch.float64)
        last = torch.nn.Linear(hidden, n_actions, dtype=torch.float64)
        self.net = torch.nn.Sequential(first, torch.nn.Tanh(), last)
        # Logits of order ``scale``: a one-hot input feeds one column of the first layer, so its
        # weights are N(0, scale^2); the output layer is scaled by 1 / sqrt(hidden). A nearly
        # deterministic policy would make REINFORCE's rare actions dominate its variance.
        std = {
            first.weight: scale,
            first.bias: scale,
            last.weight: scale / hidden**0.5,
            last.bias: 0.0,
        }
        with torch.no_grad():
            for p, s in std.items():
                p.copy_(s * torch.randn(p.shape, generator=generator, dtype=torch.float64))

    def forward(self) -> torch.Tensor:
        """The logits of every state, (S, A)."""
        return self.net(torch.eye(self.n_states, dtype=torch.float64))


def make_policy(
    kind: str, mdp: MDP, seed: int, *, hidden: int = 16, scale: float = 1.0
) -> torch.nn.Module:
    """A ``tabular`` or ``neural`` softmax policy with random parameters drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if kind == "tabular":
        return TabularPolicy(mdp.n_states, mdp.n_actions, g, scale)
    if kind == "neural":
        return NeuralPolicy(mdp.n_states, mdp.n_actions, g, hidden, scale)
    raise ValueError(f"unknown policy kind {kind!r}; choose from {', '.join(POLICIES)}")


def flat_grad(output: torch.Tensor, policy: torch.nn.Module, retain: bool = False) -> np.ndarray:
    """The gradient of a scalar with respect to all parameters, as one flat float64 vector."""
    grads = torch.autograd.grad(
        output, list(policy.parameters()), retain_graph=retain, allow_unused=True
    )
    params = list(policy.parameters())
    parts = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]
    return torch.cat([g.reshape(-1) for g in parts]).detach().numpy()


# ---------------------------------------------------------------------------------------------
# ALGO LOGIC: the two sides of the theorem
# ---------------------------------------------------------------------------------------------


def objective(mdp: MDP, logits: torch.Tensor) -> torch.Tensor:
    """J = sum_s h(s) v_pi(s), with v_pi from the linear Bellman system (differentiable)."""
    p = torch.from_numpy(mdp.p_dense)  # (S, A, S)
    r = torch.from_numpy(mdp.expected_reward)  # (S, A)
    h = torch.from_numpy(mdp.initial)
    pi = torch.softmax(logits, dim=1)  # (S, A)
    p_pi = torch.einsum("sa,sat->st", pi, p)  # (S, S)
    r_pi = (pi * r).sum(dim=1)  # (S,)
    eye = torch.eye(mdp.n_states, dtype=torch.float64)
    try:
        v = torch.linalg.solve(eye - mdp.gamma * p_pi, r_pi)
    except torch.linalg.LinAlgError:
        raise MDPError(
            "the linear Bellman system (I - P_pi) is singular: with gamma = 1 the policy "
            "practically never terminates; use gamma < 1 or make episodes end sooner"
        ) from None
    return h @ v


def policy_probs(policy: torch.nn.Module) -> np.ndarray:
    """pi(a | s) as an (S, A) NumPy array."""
    with torch.no_grad():
        return torch.softmax(policy(), dim=1).numpy()


def exact_gradient(mdp: MDP, policy: torch.nn.Module) -> tuple[float, np.ndarray]:
    """J(theta) and grad J(theta) by automatic differentiation through the exact values."""
    J = objective(mdp, policy())
    return float(J.detach()), flat_grad(J, policy)


def theorem_rhs(
    mdp: MDP,
    policy: torch.nn.Module,
    mu: np.ndarray,
    q: np.ndarray,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """sum_s mu(s) sum_a (q(s, a) - b(s)) grad pi(a | s), with mu, q and b held fixed."""
    pi = torch.softmax(policy(), dim=1)
    weight = torch.from_numpy(q if baseline is None else q - baseline[:, None])
    surrogate = (torch.from_numpy(mu)[:, None] * weight * pi).sum()
    return flat_grad(surrogate, policy)


def logit_jacobian(policy: torch.nn.Module) -> np.ndarray:
    """d logits / d theta, (S*A, n_params): maps a gradient in logit space to parameter space."""
    logits = policy().reshape(-1)
    rows = [flat_grad(logits[i], policy, retain=True) for i in range(logits.numel())]
    return np.stack(rows)


# ---------------------------------------------------------------------------------------------
# ALGO LOGIC: REINFORCE, sampled
# ---------------------------------------------------------------------------------------------


def reinforce_logit_grads(
    mdp: MDP, pi: np.ndarray, episodes: Episodes, baseline: np.ndarray | None = None
) -> np.ndarray:
    """Per-episode REINFORCE estimates in logit space, (n, S, A).

    For a softmax, grad_logits ln pi(a | s) = e_a - pi(. | s) in row s, so the estimate of an
    episode is sum_t gamma^t (G_t - b(S_t)) (e_{A_t} - pi(. | S_t)) in row S_t.
    """
    n, S, A = episodes.n, mdp.n_states, mdp.n_actions
    G = episodes.returns(mdp.gamma)
    if baseline is not None:
        G = G - baseline[episodes.state]
    w = mdp.gamma**episodes.t * G  # (T,)
    chosen = np.bincount(
        (episodes.episode * S + episodes.state) * A + episodes.action, w, minlength=n * S * A
    ).reshape(n, S, A)
    per_state = np.bincount(episodes.episode * S + episodes.state, w, minlength=n * S)
    return chosen - per_state.reshape(n, S, 1) * pi[None]


@dataclass
class EstimatorCheck:
    """How a sampled gradient estimator compares with the exact gradient.

    Attributes:
        mean: (d,) the mean estimate over episodes.
        se: (d,) its standard error per coordinate.
        rel_error: ||mean - exact|| / ||exact||.
        max_abs_z: max over coordinates of |mean - exact| / se.
        z_bound: the Bonferroni bound on max |z| at family-wise level ``alpha``.
        variance: total variance of one episode's estimate (trace of its covariance).
    """

    mean: np.ndarray
    se: np.ndarray
    rel_error: float
    max_abs_z: float
    z_bound: float
    variance: float

    @property
    def unbiased(self) -> bool:
        return self.max_abs_z <= self.z_bound


def check_estimator(
    estimates: np.ndarray, exact: np.ndarray, alpha: float = 0.01
) -> EstimatorCheck:
    """Compare per-episode estimates (n, d) with the exact gradient (d,).

    A coordinate whose estimates never vary (a state no episode visits) must equal the exact
    value to floating point; it then counts as z = 0.
    """
    n, d = estimates.shape
    mean = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / np.sqrt(n)
    diff = mean - exact
    scale = 1e-12 * (1.0 + np.abs(exact))
    z = np.where(
        se > 0,
        np.abs(diff) / np.where(se > 0, se, 1.0),
        np.where(np.abs(diff) <= scale, 0.0, np.inf),
    )
    return EstimatorCheck(
        mean=mean,
        se=se,
        rel_error=float(np.linalg.norm(diff) / np.linalg.norm(exact)),
        max_abs_z=float(z.max()),
        z_bound=float(norm.ppf(1.0 - alpha / (2 * d))),
        variance=float(estimates.var(axis=0, ddof=1).sum()),
    )


# ---------------------------------------------------------------------------------------------
# The whole check for one MDP and one policy
# ---------------------------------------------------------------------------------------------


@dataclass
class TheoremCheck:
    """The policy gradient theorem on one MDP for one policy.

    Attributes:
        kind: ``tabular`` or ``neural``.
        n_params: number of parameters.
        J: the objective sum_s h(s) v_pi(s).
        grad: (d,) the exact gradient (autograd through the exact values).
        rhs: (d,) sum_s mu(s) sum_a q_pi(s, a) grad pi(a | s).
        expected_length: sum_s eta(s), the proof's constant.
        cosine: cos(grad, rhs).
        ratio: the least-squares factor (grad . rhs) / (rhs . rhs).
        baseline_change: max |rhs with a random baseline b(s) - rhs| / max |rhs|.
        reinforce / reinforce_baseline: the sampled estimators without and with b = v_pi
            (None when no episodes were sampled).
        variance_ratio / variance_ratio_se: total variance with / without the baseline and its
            standard error over batches of episodes.
        error_curve: (episodes, rel_error without, rel_error with baseline) at growing sample
            sizes, for the convergence figure.
    """

    kind: str
    n_params: int
    J: float
    grad: np.ndarray
    rhs: np.ndarray
    expected_length: float
    cosine: float
    ratio: float
    baseline_change: float
    reinforce: EstimatorCheck | None = None
    reinforce_baseline: EstimatorCheck | None = None
    variance_ratio: float | None = None
    variance_ratio_se: float | None = None
    error_curve: np.ndarray | None = None

    def summary(self) -> dict:
        """The entries of summary.json (see README)."""
        out: dict = {
            "parameters": self.n_params,
            "J": self.J,
            "grad_norm": float(np.linalg.norm(self.grad)),
            "cosine": self.cosine,
            "ratio": self.ratio,
            "expected_length": self.expected_length,
            "ratio_relative_error": abs(self.ratio / self.expected_length - 1.0),
            "baseline_change": self.baseline_change,
        }
        for name, est in (
            ("reinforce", self.reinforce),
            ("reinforce_baseline", self.reinforce_baseline),
        ):
            out[name] = (
                None
                if est is None
                else {
                    "rel_error": est.rel_error,
                    "max_abs_z": est.max_abs_z,
                    "z_bound": est.z_bound,
                    "unbiased": est.unbiased,
                    "variance": est.variance,
                }
            )
        out["variance_ratio"] = self.variance_ratio
        out["variance_ratio_se"] = self.variance_ratio_se
        out["grad"] = self.grad  # the two sides of the theorem, per parameter, for the figure
        out["rhs"] = self.rhs
        return out


def check_theorem(
    mdp: MDP,
    kind: str,
    *,
    seed: int,
    episodes: int = 0,
    hidden: int = 16,
    scale: float = 1.0,
    max_steps: int = 10_000,
    batches: int = 20,
) -> TheoremCheck:
    """Check the theorem (and, with ``episodes > 0``, REINFORCE) for a random ``kind`` policy.

    ``seed`` draws the policy's parameters, the random baseline and the episodes. The variance
    ratio's standard error comes from up to ``batches`` batches of at least 2 episodes each, so
    the REINFORCE check needs ``episodes >= 4``.
    """
    if 0 < episodes < 4:
        raise ValueError(f"the REINFORCE check needs at least 4 episodes, got {episodes}")
    policy = make_policy(kind, mdp, seed, hidden=hidden, scale=scale)
    pi = policy_probs(policy)
    v = evaluate_linear(mdp, pi)  # first: it says why when the values do not exist
    J, grad = exact_gradient(mdp, policy)
    q = q_from_v(mdp, v)
    visits = on_policy_distribution(mdp, pi, discounted=True)
    rhs = theorem_rhs(mdp, policy, visits.mu, q)
    rng = np.random.default_rng(seed)
    b = rng.normal(0.0, 10.0, mdp.n_states)  # any state-dependent baseline
    rhs_b = theorem_rhs(mdp, policy, visits.mu, q, b)
    check = TheoremCheck(
        kind=kind,
        n_params=grad.size,
        J=J,
        grad=grad,
        rhs=rhs,
        expected_length=visits.expected_length,
        cosine=float(grad @ rhs / (np.linalg.norm(grad) * np.linalg.norm(rhs))),
        ratio=float(grad @ rhs / (rhs @ rhs)),
        baseline_change=float(np.abs(rhs_b - rhs).max() / np.abs(rhs).max()),
    )
    if episodes > 0:
        steps = expected_steps(mdp, pi, max_steps)
        check_memory(
            "episodes",
            episodes
            * (steps * STEP_BYTES + 8 * (4 * mdp.n_states * mdp.n_actions + 5 * grad.size)),
            f"sampling {episodes:,} episodes of about {steps:.3g} steps",
        )
        sampled = sample_episodes(mdp, pi, episodes, rng, max_steps=max_steps)
        jac = logit_jacobian(policy)  # (S*A, d)
        plain = reinforce_logit_grads(mdp, pi, sampled).reshape(episodes, -1) @ jac
        based = reinforce_logit_grads(mdp, pi, sampled, v).reshape(episodes, -1) @ jac
        check.reinforce = check_estimator(plain, grad)
        check.reinforce_baseline = check_estimator(based, grad)
        if check.reinforce.variance > 0:  # else every episode gave the same estimate
            parts = np.array_split(np.arange(episodes), min(batches, episodes // 2))
            variances = [
                (based[part].var(axis=0, ddof=1).sum(), plain[part].var(axis=0, ddof=1).sum())
                for part in parts
            ]
            ratios = [b / p for b, p in variances if p > 0]
            check.variance_ratio = check.reinforce_baseline.variance / check.reinforce.variance
            if len(ratios) > 1:
                check.variance_ratio_se = float(np.std(ratios, ddof=1) / np.sqrt(len(ratios)))
        check.error_curve = error_curve(plain, based, grad)
    return check


STEP_BYTES = 160
"""memory per sampled step: the episode arrays, their concatenation, returns and the bincounts"""


def expected_steps(mdp: MDP, policy: np.ndarray, max_steps: int) -> float:
    """The expected number of steps of an episode of ``policy`` truncated at ``max_steps`` (and
    the horizon), at most: for the memory estimate of sampling."""
    limit = float(min(max_steps, mdp.horizon or max_steps))
    if not mdp.terminal.any():
        return limit
    try:
        length = on_policy_distribution(mdp, policy).expected_length
    except MDPError:  # never terminates from some state: truncation decides
        return limit
    return min(limit, length)


def error_curve(
    plain: np.ndarray, based: np.ndarray, exact: np.ndarray, points: int = 30
) -> np.ndarray:
    """(k, 3): sample size n, ||mean of the first n estimates - exact|| / ||exact|| for both."""
    n = plain.shape[0]
    sizes = np.unique(np.geomspace(min(10, n), n, points).astype(int))
    cum_p, cum_b = np.cumsum(plain, axis=0), np.cumsum(based, axis=0)
    norm_exact = np.linalg.norm(exact)
    err_p = np.linalg.norm(cum_p[sizes - 1] / sizes[:, None] - exact, axis=1) / norm_exact
    err_b = np.linalg.norm(cum_b[sizes - 1] / sizes[:, None] - exact, axis=1) / norm_exact
    return np.column_stack([sizes, err_p, err_b])
