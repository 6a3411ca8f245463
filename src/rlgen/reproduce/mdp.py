"""The finite-MDP claims of the lecture (Sutton & Barto chapters 3, 4 and section 13.2), rerun.

The value tables of Figures 3.2, 3.5 and 4.1 are recomputed exactly and compared with the numbers
printed in the book; value iteration and policy iteration are compared on every shipped task and
on random MDPs; the optimal policy's ties are counted; the policy gradient theorem is checked by
automatic differentiation through the exact values; REINFORCE is sampled against it.

One function per claim, or per experiment that several claims share, named for what it checks;
:func:`run` lists them in the report's order.

Tolerances. Exact computations are compared within floating-point error (stated on each claim);
a printed table is reproduced when every value lies within half a unit of the last printed digit
of the book's number. Sampled claims use fixed seeds and standard errors measured from the
spread of the samples: a per-coordinate z-score against a Bonferroni bound at family-wise level
1%, or an upper 3-standard-error bound.
"""

from __future__ import annotations

import shutil

import numpy as np
from scipy.stats import norm

from rlgen.figures import pyplot, save_figure
from rlgen.mdp import dp
from rlgen.mdp.command import PGCheckConfig, SolveConfig, run_pg_check, run_solve
from rlgen.mdp.examples import EXAMPLES, example, gridworld_3_5, gridworld_4_1, random_mdp
from rlgen.mdp.model import MDP, sample_episodes, uniform_policy
from rlgen.mdp.plots import draw_values
from rlgen.mdp.policy_gradient import check_theorem, make_policy, policy_probs
from rlgen.reproduce.claims import Claim, Context

TITLE = "Finite MDPs, dynamic programming, the policy gradient theorem (S&B ch. 3, 4, 13.2)"

# The book's printed tables (Sutton & Barto, 2nd edition), row by row.
FIGURE_3_2 = [
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
]
FIGURE_3_5 = [
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
]
# Figure 3.5's optimal policy pi*: the arrows of each cell (A and B: every action is optimal).
_ALL, _UR, _UL = "up right down left", "up right", "up left"
FIGURE_3_5_POLICY = [
    ["right", _ALL, "left", _ALL, "left"],
    [_UR, "up", _UL, "left", "left"],
    [_UR, "up", _UL, _UL, _UL],
    [_UR, "up", _UL, _UL, _UL],
    [_UR, "up", _UL, _UL, _UL],
]
# Figure 4.1, left column: v_k of the equiprobable random policy after k synchronous sweeps.
FIGURE_4_1 = {
    1: [
        [0.0, -1.0, -1.0, -1.0],
        [-1.0, -1.0, -1.0, -1.0],
        [-1.0, -1.0, -1.0, -1.0],
        [-1.0, -1.0, -1.0, 0.0],
    ],
    2: [
        [0.0, -1.7, -2.0, -2.0],
        [-1.7, -2.0, -2.0, -2.0],
        [-2.0, -2.0, -2.0, -1.7],
        [-2.0, -2.0, -1.7, 0.0],
    ],
    3: [
        [0.0, -2.4, -2.9, -3.0],
        [-2.4, -2.9, -3.0, -2.9],
        [-2.9, -3.0, -2.9, -2.4],
        [-3.0, -2.9, -2.4, 0.0],
    ],
    10: [
        [0.0, -6.1, -8.4, -9.0],
        [-6.1, -7.7, -8.4, -8.4],
        [-8.4, -8.4, -7.7, -6.1],
        [-9.0, -8.4, -6.1, 0.0],
    ],
}
FIGURE_4_1_LIMIT = [
    [0, -14, -20, -22],
    [-14, -18, -20, -20],
    [-20, -20, -18, -14],
    [-22, -20, -14, 0],
]

HALF_DECIMAL = 0.05  # half a unit of one printed decimal
FP = 1e-9  # floating-point slack on top of a printing tolerance
PG_TOL = 1e-9  # the lecture's "cosine 1 within 1e-9"


HOW_TABLE = (
    "largest |computed − printed| over the table; tolerance half a unit of the last printed "
    f"decimal ({HALF_DECIMAL}) plus {FP:g} for floating point"
)


def run(ctx: Context) -> list[Claim]:
    """The section's claims, in the report's order."""
    ctx.notes.append(
        "Gridworld of Example 3.5 (5x5, A -> A' +10, B -> B' +5, off-grid -1, γ = 0.9) and of "
        "Example 4.1 (4x4, -1 per step, terminal corners, γ = 1), solved exactly: the linear "
        "Bellman system for the random policy, value iteration for v*, synchronous sweeps for "
        "Figure 4.1's v_k."
    )
    claims = [figure_3_2_random_policy_values(ctx)]
    claims += figure_3_5_optimal_values_and_arrows(ctx)
    claims += figure_4_1_sweeps_and_limit(ctx)
    claims += value_and_policy_iteration_agree(ctx)
    claims += optimal_policy_not_unique_but_v_star_is(ctx)
    claims += policy_gradient_theorem_holds(ctx)
    claims += reinforce_unbiased_and_value_baseline_lowers_variance(ctx)
    claims.append(on_policy_distribution_matches_sampled_visits(ctx))
    ctx.figures.append("pg-check-random.png")
    return claims


# ---------------------------------------------------------------------------------------------
# The book's tables
# ---------------------------------------------------------------------------------------------


def figure_3_2_random_policy_values(ctx: Context) -> Claim:
    """Figure 3.2: v of the equiprobable random policy on Example 3.5's gridworld."""
    fig32 = _solve_figure(
        ctx, "figure-3.2", SolveConfig(example="gridworld-3.5", method="evaluate-random")
    )
    return Claim(
        "mdp.figure-3.2",
        "Figure 3.2: the state values of the equiprobable random policy on the gridworld of "
        "Example 3.5 (γ = 0.9).",
        measured=_deviation(np.array(fig32["values"]), FIGURE_3_2),
        expected=0.0,
        tolerance=HALF_DECIMAL + FP,
        how="v_π by solving (I − γP_π)v = r_π; " + HOW_TABLE,
        figure="figure-3.2.png",
        details={"values": fig32["values_grid"]},
    )


def figure_3_5_optimal_values_and_arrows(ctx: Context) -> list[Claim]:
    """Figure 3.5: v* of Example 3.5's gridworld, and π* as the set of optimal actions (arrows)
    of every cell, from one value-iteration run."""
    fig35 = _solve_figure(
        ctx, "figure-3.5", SolveConfig(example="gridworld-3.5", method="value-iteration")
    )
    names = {"up", "right", "down", "left"}
    book_policy = [set(cell.split()) for row in FIGURE_3_5_POLICY for cell in row]
    ours = [set(a) & names for a in fig35["greedy_actions"]]
    policy_diff = sum(b != o for b, o in zip(book_policy, ours, strict=True))
    return [
        Claim(
            "mdp.figure-3.5",
            "Figure 3.5: the optimal state values v* of the gridworld of Example 3.5.",
            measured=_deviation(np.array(fig35["values"]), FIGURE_3_5),
            expected=0.0,
            tolerance=HALF_DECIMAL + FP,
            how="value iteration to a max change below 1e-12 (error ≤ γ·1e-12/(1−γ) ≈ 1e-11); "
            + HOW_TABLE,
            figure="figure-3.5.png",
            details={"values": fig35["values_grid"], "sweeps": fig35["iterations"]},
        ),
        Claim(
            "mdp.figure-3.5-policy",
            "Figure 3.5: the optimal policy π* (every optimal action of every state, ties "
            "included).",
            measured=float(policy_diff),
            expected=0.0,
            tolerance=0.0,
            how="number of cells whose set of optimal actions (q* within 1e-9 of the max, "
            "relative to the spread of q*) differs from the book's arrows; exact (ties are "
            "exact in the model, other actions are ≥ 0.1 worse)",
            figure="figure-3.5.png",
            details={"states_with_ties": fig35["states_with_ties"]},
        ),
    ]


def figure_4_1_sweeps_and_limit(ctx: Context) -> list[Claim]:
    """Figure 4.1, left column: v_k of the random policy after k = 1, 2, 3, 10 synchronous sweeps
    on Example 4.1's gridworld, and the limit k = ∞ from the linear system."""
    fig41 = _solve_figure(
        ctx, "figure-4.1", SolveConfig(example="gridworld-4.1", method="evaluate-random")
    )
    m41 = gridworld_4_1()
    sweeps = {k: dp.evaluate_iterative(m41, uniform_policy(m41), sweeps=k)[0] for k in FIGURE_4_1}
    sweep_dev = {k: _deviation(v, FIGURE_4_1[k]) for k, v in sweeps.items()}
    _plot_sweeps(ctx, m41, sweeps, np.array(fig41["values"]))
    return [
        Claim(
            "mdp.figure-4.1-sweeps",
            "Figure 4.1: v_k of the random policy after k = 1, 2, 3, 10 sweeps of iterative "
            "policy evaluation on the gridworld of Example 4.1.",
            measured=max(sweep_dev.values()),
            expected=0.0,
            tolerance=HALF_DECIMAL + FP,
            how="synchronous sweeps v_{k+1} = r_π + P_π v_k from v_0 = 0; "
            + HOW_TABLE
            + " (the book prints −1.75 as −1.7, exactly half a unit off)",
            figure="figure-4.1-sweeps.png",
            details={f"k={k}": dev for k, dev in sweep_dev.items()},
        ),
        Claim(
            "mdp.figure-4.1-limit",
            "Figure 4.1: v_π of the random policy (k = ∞): 0, −14, −20, −22, ... .",
            measured=_deviation(np.array(fig41["values"]), FIGURE_4_1_LIMIT),
            expected=0.0,
            tolerance=0.5 + FP,
            how="linear Bellman system; the book prints integers, so half a unit is 0.5 (the "
            "exact values are integers: the measured deviation is floating-point error)",
            figure="figure-4.1.png",
        ),
    ]


def _solve_figure(ctx: Context, name: str, config: SolveConfig) -> dict:
    """An ``mdp solve`` run in ``<name>/``; its values.png copied to ``<name>.png``, the name the
    report's caption uses."""
    summary = run_solve(config, ctx.dir / name, quiet=True)
    shutil.copyfile(ctx.dir / name / "values.png", ctx.dir / f"{name}.png")
    return summary


def _plot_sweeps(ctx: Context, mdp: MDP, sweeps: dict[int, np.ndarray], limit: np.ndarray) -> None:
    """Figure 4.1's left column: v_k after k sweeps, and the limit."""
    plt = pyplot()

    assert mdp.grid is not None
    panels = [(0, np.zeros(mdp.n_states)), *sweeps.items(), ("∞", limit)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.7))
    for ax, (k, v) in zip(axes, panels, strict=True):
        draw_values(ax, v, mdp.grid, title=f"k = {k}")
    fig.suptitle("Figure 4.1: v_k of the random policy after k sweeps", fontsize=11)
    save_figure(fig, ctx.dir / "figure-4.1-sweeps.png", dpi=110, despine=False)


def _deviation(values: np.ndarray, table: list[list[float]] | list[list[int]]) -> float:
    return float(np.max(np.abs(np.asarray(values).ravel() - np.asarray(table, float).ravel())))


# ---------------------------------------------------------------------------------------------
# Value iteration, policy iteration, uniqueness
# ---------------------------------------------------------------------------------------------


def value_and_policy_iteration_agree(ctx: Context) -> list[Claim]:
    """Value iteration and policy iteration give the same v* and the same optimal actions on
    every shipped task and on random MDPs."""
    n_random = ctx.pick(4, 20)
    tasks = [example(name) for name in EXAMPLES] + _random_tasks(ctx, n_random)
    value_gap, action_diff, rows = 0.0, 0, {}
    for mdp in tasks:
        vi = dp.value_iteration(mdp, tol=1e-12)
        pi = dp.policy_iteration(mdp)
        gap = float(np.max(np.abs(vi.v - pi.v)))
        diff = int((vi.optimal_actions != pi.optimal_actions).any(axis=1).sum())
        value_gap, action_diff = max(value_gap, gap), action_diff + diff
        rows[mdp.name] = {
            "max_gap": gap,
            "action_sets_differ": diff,
            "vi_sweeps": vi.iterations,
            "pi_iterations": pi.iterations,
        }
    ctx.notes.append(
        f"Value iteration against policy iteration on {len(tasks)} tasks: the five shipped "
        f"examples and {n_random} random MDPs (30 states, 4 actions, 3 successors; episodic "
        "with γ = 1 and continuing with γ = 0.95, alternately)."
    )
    return [
        Claim(
            "mdp.vi-equals-pi",
            "Value iteration and policy iteration find the same optimal values v*.",
            measured=value_gap,
            expected=0.0,
            tolerance=1e-8,
            how="largest |v_VI − v_PI| over all tasks; value iteration stops when a sweep moves "
            "no value by 1e-12, which bounds its error by ρ·1e-12/(1−ρ) ≤ 2e-11 where a sweep "
            "contracts by ρ ≤ 0.95 (γ, or 1 − the smallest ending probability of the episodic "
            "random MDPs); the deterministic shortest-path tasks (4.1, CliffWalking, Taxi) "
            "converge exactly; plus rounding of the linear solves; tolerance 1e-8",
            details=rows,
        ),
        Claim(
            "mdp.vi-pi-same-actions",
            "Value iteration and policy iteration find the same optimal actions (all ties).",
            measured=float(action_diff),
            expected=0.0,
            tolerance=0.0,
            how="number of states, over all tasks, whose set of optimal actions (q within 1e-9 "
            "of the max, relative to the spread of q) differs; exact",
        ),
    ]


def _random_tasks(ctx: Context, n: int) -> list[MDP]:
    """``n`` random MDPs (30 states, 4 actions, 3 successors), episodic with γ = 1 and
    continuing with γ = 0.95 alternately."""
    tasks = []
    for i in range(n):
        rng = np.random.default_rng([ctx.seed, i])
        episodic = i % 2 == 0
        tasks.append(
            random_mdp(
                30,
                4,
                3,
                rng,
                gamma=1.0 if episodic else 0.95,
                terminals=2 if episodic else 0,
                end_prob=0.1,
            )
        )
    return tasks


def optimal_policy_not_unique_but_v_star_is(ctx: Context) -> list[Claim]:
    """On Example 3.5's gridworld: states with several optimal actions, yet one v*, whichever
    optimal deterministic policy is evaluated and wherever value iteration starts."""
    mdp = gridworld_3_5()
    star = dp.value_iteration(mdp, tol=1e-13)
    rng = np.random.default_rng(ctx.seed)  # tie-breaks first, then starting values
    ties = star.optimal_actions
    choices = [np.argmax(ties, axis=1), ties.shape[1] - 1 - np.argmax(ties[:, ::-1], axis=1)]
    for _ in range(ctx.pick(5, 20)):
        keys = rng.random(ties.shape) * ties
        choices.append(np.argmax(keys, axis=1))
    distinct = {tuple(c) for c in choices}
    spread = 0.0
    for c in distinct:
        v = dp.evaluate_linear(mdp, np.eye(mdp.n_actions)[list(c)])
        spread = max(spread, float(np.max(np.abs(v - star.v))))
    for _ in range(ctx.pick(3, 10)):
        v0 = rng.normal(0.0, 100.0, mdp.n_states)
        v = dp.value_iteration(mdp, tol=1e-13, v0=v0).v
        spread = max(spread, float(np.max(np.abs(v - star.v))))
    return [
        Claim(
            "mdp.optimal-policy-not-unique",
            "The optimal policy need not be unique: on the gridworld of Example 3.5 several "
            "states have more than one optimal action.",
            measured=float((ties.sum(axis=1) > 1).sum()),
            expected=1.0,
            tolerance=0.0,
            comparison="at_least",
            how="states with ≥ 2 actions whose q* is within 1e-9 of the max (relative to the "
            "spread of q*); ties are exact (equal paths), non-optimal actions are ≥ 0.1 worse",
            figure="figure-3.5.png",
            details={"distinct_optimal_deterministic_policies_tried": len(distinct)},
        ),
        Claim(
            "mdp.v-star-unique",
            "v* is unique: every optimal policy has the same values, and value iteration "
            "reaches them from any start.",
            measured=spread,
            expected=0.0,
            tolerance=1e-9,
            how=f"largest |v − v*| over {len(distinct)} distinct optimal deterministic policies "
            "(tie-breaks: first, last, random), each evaluated exactly, and value iteration from "
            "random starts N(0, 100²); value iteration stops at 1e-13 (error ≤ 1e-12), "
            "tolerance 1e-9 for rounding",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# The policy gradient theorem and REINFORCE
# ---------------------------------------------------------------------------------------------

PG_FIGURE = "pg-check-gridworld-4.1.png"


def _reinforce_episodes(ctx: Context) -> int:
    """Sampled episodes per REINFORCE check."""
    return ctx.pick(20_000, 100_000)


def policy_gradient_theorem_holds(ctx: Context) -> list[Claim]:
    """The theorem, exactly: ∇J (autograd through the exact values) points along Σ μ Σ q ∇π,
    the factor is the expected episode length, and a baseline changes nothing; on random
    episodic MDPs and the two book gridworlds, for a tabular and a neural softmax policy."""
    n_random = ctx.pick(5, 20)
    exact_rows: dict[str, dict] = {}
    worst_cos, worst_ratio, worst_base = 1.0, 0.0, 0.0
    mdps = [*_theorem_tasks(ctx, n_random), gridworld_4_1(), gridworld_3_5()]
    for i, mdp in enumerate(mdps):
        for kind in ("tabular", "neural"):
            c = check_theorem(mdp, kind, seed=ctx.seed + i)
            worst_cos = min(worst_cos, c.cosine)
            worst_ratio = max(worst_ratio, abs(c.ratio / c.expected_length - 1.0))
            worst_base = max(worst_base, c.baseline_change)
            exact_rows[f"{mdp.name}#{i}/{kind}"] = {
                "cosine": c.cosine,
                "ratio": c.ratio,
                "expected_length": c.expected_length,
                "baseline_change": c.baseline_change,
            }
    ctx.notes.append(
        f"Policy gradient theorem on {n_random} random episodic MDPs (10 states, 3 actions, γ = 1, "
        "rewards N(−1, 1)) and the two book gridworlds, for a tabular softmax policy and a "
        "softmax MLP (16 tanh units) with random parameters. REINFORCE: "
        f"{_reinforce_episodes(ctx):,} sampled episodes per check."
    )
    return [
        Claim(
            "mdp.pg-theorem-cosine",
            "The policy gradient theorem: ∇J(θ) ∝ Σ_s μ(s) Σ_a q_π(s,a) ∇π(a|s,θ) (the two "
            "vectors point the same way).",
            measured=worst_cos,
            expected=1.0,
            tolerance=PG_TOL,
            how="smallest cosine over all MDPs and both policies between ∇J (autograd through "
            "the exact solve v = (I − γP_π)⁻¹ r_π, float64) and the theorem's side (q_π, μ from "
            "dynamic programming); tolerance 1e-9 as the lecture asks (float64 rounding is "
            "~1e-15)",
            figure=PG_FIGURE,
            details=exact_rows,
        ),
        Claim(
            "mdp.pg-theorem-ratio",
            "The constant of proportionality is the expected episode length Σ_s η(s).",
            measured=worst_ratio,
            expected=0.0,
            tolerance=PG_TOL,
            how="largest |ratio / expected length − 1|, ratio = (∇J·rhs)/(rhs·rhs), expected "
            "length from the exact visit counts η = h(I − P_π)⁻¹ (γ-weighted for the continuing "
            "gridworld of Example 3.5: 1/(1−γ) = 10); floating-point tolerance 1e-9",
            figure=PG_FIGURE,
        ),
        Claim(
            "mdp.baseline-exact",
            "Subtracting any state-dependent baseline b(s) leaves the gradient unchanged, since "
            "Σ_a ∇π(a|s) = ∇1 = 0.",
            measured=worst_base,
            expected=0.0,
            tolerance=1e-12,
            how="largest |rhs with b − rhs| / max|rhs|, b(s) ~ N(0, 10²) per state; float64 sums "
            "of a few dozen terms of size ~|b| ≤ 40 give ~1e-14; tolerance 1e-12",
        ),
    ]


def _theorem_tasks(ctx: Context, n: int) -> list[MDP]:
    """``n`` random episodic MDPs (10 states, 3 actions, 3 successors, γ = 1, rewards N(−1, 1))."""
    return [
        random_mdp(
            10,
            3,
            3,
            np.random.default_rng([ctx.seed, 100 + i]),
            terminals=1,
            end_prob=0.1,
            reward_mean=-1.0,
        )
        for i in range(n)
    ]


def reinforce_unbiased_and_value_baseline_lowers_variance(ctx: Context) -> list[Claim]:
    """REINFORCE sampled against the exact gradient, through full ``mdp pg-check`` runs (a random
    MDP and Example 4.1's gridworld; figures and summaries in their directories): unbiased with
    and without the value baseline, and less variable with it."""
    episodes = _reinforce_episodes(ctx)
    sampled = []
    for name, config in (
        ("pg-check-random", PGCheckConfig(states=10, episodes=episodes, seed=ctx.seed)),
        (
            "pg-check-gridworld-4.1",
            PGCheckConfig(example="gridworld-4.1", episodes=episodes, seed=ctx.seed),
        ),
    ):
        summary = run_pg_check(config, ctx.dir / name, quiet=True)
        shutil.copyfile(ctx.dir / name / "pg_check.png", ctx.dir / f"{name}.png")
        for kind, s in summary["policies"].items():
            sampled.append((f"{name}/{kind}", s))
    z_worst = max(
        s[e]["max_abs_z"] / s[e]["z_bound"]
        for _, s in sampled
        for e in ("reinforce", "reinforce_baseline")
    )
    var_upper = max(s["variance_ratio"] + 3 * s["variance_ratio_se"] for _, s in sampled)
    return [
        Claim(
            "mdp.reinforce-unbiased",
            "The REINFORCE estimate Σ_t γ^t (G_t − b(S_t)) ∇ln π(A_t|S_t) is unbiased: its mean "
            "over many episodes converges to the exact gradient.",
            measured=z_worst,
            expected=1.0,
            tolerance=0.0,
            comparison="at_most",
            how="worst ratio of max_i |mean_i − ∇J_i| / SE_i (over all d parameters) to the "
            f"Bonferroni bound Φ⁻¹(1 − 0.01/(2d)) (family-wise 1% per estimator, so at most "
            "8% that one of the 8 fails by chance), over 4 checks × 2 estimators (no baseline, "
            f"b = v_π); {episodes:,} episodes, SE from their spread, fixed seeds",
            figure=PG_FIGURE,
            details={
                name: {e: s[e] for e in ("reinforce", "reinforce_baseline")} for name, s in sampled
            },
        ),
        Claim(
            "mdp.baseline-variance",
            "The value baseline b(s) = v_π(s) lowers the variance of the sampled estimate.",
            measured=var_upper,
            expected=1.0,
            tolerance=0.0,
            comparison="at_most",
            how="largest upper bound (ratio + 3 SE) of total variance with / without the baseline "
            "over the 4 checks; SE over 20 batches of episodes",
            figure=PG_FIGURE,
            details={
                name: {"variance_ratio": s["variance_ratio"], "se": s["variance_ratio_se"]}
                for name, s in sampled
            },
        ),
    ]


def on_policy_distribution_matches_sampled_visits(ctx: Context) -> Claim:
    """The exact on-policy visit counts eta (and mu) against sampled episodes."""
    mdp = random_mdp(10, 3, 3, np.random.default_rng([ctx.seed, 7]), end_prob=0.1)
    pi = policy_probs(make_policy("tabular", mdp, ctx.seed))
    exact = dp.on_policy_distribution(mdp, pi)
    n = ctx.pick(20_000, 200_000)
    episodes = sample_episodes(mdp, pi, n, np.random.default_rng(ctx.seed))
    visits = episodes.visits(mdp.n_states)
    live = ~mdp.terminal
    mean = visits.mean(axis=0)[live]
    se = visits.std(axis=0, ddof=1)[live] / np.sqrt(n)
    z = np.abs(mean - exact.eta[live]) / se
    bound = float(norm.ppf(1 - 0.01 / (2 * live.sum())))
    mu_hat = visits.sum(axis=0) / visits.sum()
    length_z = abs(episodes.length.mean() - exact.expected_length) / (
        episodes.length.std(ddof=1) / np.sqrt(n)
    )
    _plot_on_policy(ctx, exact.mu, mu_hat)
    return Claim(
        "mdp.on-policy-distribution",
        "The on-policy distribution μ(s) = η(s) / Σ η, η(s) = h(s) + Σ_s̄ η(s̄) Σ_a π(a|s̄) "
        "p(s|s̄,a), is where the policy spends its time.",
        measured=float(z.max() / bound),
        expected=1.0,
        tolerance=0.0,
        comparison="at_most",
        how=f"{n:,} sampled episodes of a random softmax policy on a random episodic MDP; visits "
        "per episode against η per state: max |z| / Bonferroni bound (family-wise 1%), SE from "
        "the per-episode spread",
        figure="on-policy.png",
        details={
            "max_abs_z": float(z.max()),
            "z_bound": bound,
            "max_abs_mu_error": float(np.abs(mu_hat - exact.mu).max()),
            "expected_length": exact.expected_length,
            "mean_length": float(episodes.length.mean()),
            "length_z": float(length_z),
        },
    )


def _plot_on_policy(ctx: Context, mu: np.ndarray, mu_hat: np.ndarray) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.4))
    x = np.arange(mu.size)
    ax.bar(x - 0.2, mu, width=0.4, label="μ exact")
    ax.bar(x + 0.2, mu_hat, width=0.4, label="visit frequency, sampled")
    ax.set_xlabel("state")
    ax.set_ylabel("on-policy distribution")
    ax.legend(frameon=False, fontsize=8)
    save_figure(fig, ctx.dir / "on-policy.png")
