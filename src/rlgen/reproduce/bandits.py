"""The bandit claims of the lecture (Sutton & Barto chapter 2), rerun on the 10-armed testbed.

One function per claim, named for what it checks; an experiment that several claims share
(Figure 2.2, the long run) is its own function. Every experiment is a :mod:`rlgen.bandits` run
written to its own directory under this section's directory, so its metrics, summary and figure
can be inspected like any other run.

Tolerances. A measured fraction is a mean over independent runs, so its standard error is the
standard deviation across runs divided by sqrt(runs). A claim passes when the lecture's value lies
within 3 standard errors of the measurement, widened where the lecture says "about" by the
precision of its words (stated on each claim). Comparisons between two agents use the paired
per-run difference (all agents face the same tasks) and need it to exceed 3 of its standard
errors. A pooled fraction over n steps that are independent Bernoulli trials uses the binomial
standard error sqrt(p (1 - p) / n).
"""

from __future__ import annotations

import time

import numpy as np

from rlgen.bandits import BanditConfig, Result, experiment, save, standard_error
from rlgen.reproduce.claims import Claim, Context
from rlgen.runs import Run, progress

TITLE = "Multi-armed bandits (Sutton & Barto, chapter 2)"
Z = 3.0
RUNS = 2000  # the book's 2000 tasks in both presets: the quick preset is already fast


def run(ctx: Context) -> list[Claim]:
    ctx.notes.append(
        f"The 10-armed testbed: q*(a) ~ N(0, 1), rewards ~ N(q*(a), 1), {RUNS} independent tasks "
        "(runs); every agent of one experiment faces the same tasks. Tolerances: 3 standard errors "
        "of the across-run mean (paired differences for comparisons), plus the precision of the "
        "lecture's words where it says 'about'."
    )
    greedy, eps001, eps01 = figure_2_2(ctx)
    long001, long01 = long_run(ctx)
    return [
        greedy_finds_the_optimal_action_in_a_third_of_tasks(greedy),
        eps_0_1_chooses_the_optimal_action_about_80_percent(eps01),
        eps_0_01_improves_more_slowly(eps01, eps001),
        eps_0_1_chooses_the_optimal_action_at_most_91_percent(long01),
        eps_greedy_reaches_its_asymptote("bandits.eps0.1-asymptote", long01, 0.1),
        eps_greedy_reaches_its_asymptote("bandits.eps0.01-asymptote", long001, 0.01),
        eps_0_01_eventually_beats_eps_0_1(long001, long01),
        optimistic_greedy_beats_realistic_eps_greedy(ctx),
        ucb_beats_eps_greedy(ctx),
        the_baseline_helps_the_gradient_bandit(ctx),
        a_constant_step_size_tracks_a_nonstationary_problem(ctx),
    ]


# ---------------------------------------------------------------------------------------------
# Figure 2.2: greedy and ε-greedy over 1000 steps
# ---------------------------------------------------------------------------------------------

FIGURE_2_2 = "figure-2.2/bandit.png"


def figure_2_2(ctx: Context) -> list[Result]:
    """ε = 0 (greedy), 0.01 and 0.1 over 1000 steps, in that order."""
    config = BanditConfig(epsilon=(0.0, 0.01, 0.1), runs=RUNS, steps=1000, seed=ctx.seed)
    return _experiment(ctx, "figure-2.2", "Figure 2.2: greedy and ε-greedy", config)


def greedy_finds_the_optimal_action_in_a_third_of_tasks(greedy: Result) -> Claim:
    return _about(
        "bandits.greedy-third",
        "The greedy method finds the optimal action in only about one-third of the tasks.",
        greedy,
        "optimal_last_100",
        1 / 3,
        reading=0.05,
        words="'about one-third' read as 1/3 ± 5 points",
        figure=FIGURE_2_2,
    )


def eps_0_1_chooses_the_optimal_action_about_80_percent(eps01: Result) -> Claim:
    return _about(
        "bandits.eps0.1-80",
        "With ε = 0.1 the optimal action is chosen about 80% of the time after 1000 steps.",
        eps01,
        "optimal_last_100",
        0.80,
        reading=0.03,
        words="'about 80%' read off Figure 2.2 as 80 ± 3 points",
        figure=FIGURE_2_2,
    )


def eps_0_01_improves_more_slowly(eps01: Result, eps001: Result) -> Claim:
    return _better(
        "bandits.eps0.01-slower",
        "ε = 0.01 improves more slowly than ε = 0.1: after 1000 steps it chooses the optimal "
        "action less often.",
        eps01,
        eps001,
        "optimal_last_100",
        figure=FIGURE_2_2,
    )


# ---------------------------------------------------------------------------------------------
# The long run: asymptotes of ε-greedy
# ---------------------------------------------------------------------------------------------

LONG_RUN = "long-run/bandit.png"


def long_run(ctx: Context) -> list[Result]:
    """ε = 0.01 and 0.1 over 20,000 steps (quick preset) or 50,000 (full), in that order."""
    steps = ctx.pick(20_000, 50_000)
    config = BanditConfig(epsilon=(0.01, 0.1), runs=RUNS, steps=steps, seed=ctx.seed)
    return _experiment(ctx, "long-run", f"ε-greedy over {steps:,} steps", config)


def eps_0_1_chooses_the_optimal_action_at_most_91_percent(long01: Result) -> Claim:
    steps = long01.reward.size
    return Claim(
        "bandits.eps0.1-at-most-91",
        "With ε = 0.1 the optimal action is never chosen more than about 91% of the time.",
        measured=_mean(long01, "optimal_last_100"),
        expected=0.91,
        tolerance=Z * _se(long01, "optimal_last_100"),
        comparison="at_most",
        how=f"% optimal over the last 100 of {steps:,} steps; 1 - ε + ε/k = 0.91 is the "
        "bound; tolerance 3 standard errors across runs",
        unit="%",
        figure=LONG_RUN,
        details={"greedy_is_optimal": _mean(long01, "greedy_is_optimal")},
    )


def eps_greedy_reaches_its_asymptote(claim_id: str, result: Result, epsilon: float) -> Claim:
    """Once the greedy arm is the optimal one, ε-greedy picks it with probability 1 - ε + ε/k."""
    k = 10
    expected = 1 - epsilon + epsilon / k
    p = result.pooled["optimal_when_greedy_optimal"]
    n = result.pooled["greedy_optimal_steps"]
    se = float(np.sqrt(expected * (1 - expected) / n))
    return Claim(
        claim_id,
        f"The asymptotic rate of choosing the optimal action with ε = {epsilon:g} is "
        f"1 - ε + ε/k = {100 * expected:.1f}%.",
        measured=p,
        expected=expected,
        tolerance=Z * se,
        how=f"over the last 100 steps of the long run, the fraction of steps with an optimal "
        f"action among the {n:,} steps on which the greedy arm was already optimal (the "
        f"asymptotic regime); binomial standard error {100 * se:.3f} points, tolerance 3 of them. "
        f"Runs whose greedy arm is optimal at the end: "
        f"{100 * _mean(result, 'greedy_is_optimal'):.1f}%",
        unit="%",
        figure=LONG_RUN,
        details={"greedy_is_optimal": _mean(result, "greedy_is_optimal"), "steps": n},
    )


def eps_0_01_eventually_beats_eps_0_1(long001: Result, long01: Result) -> Claim:
    return _better(
        "bandits.eps0.01-eventually-better",
        "ε = 0.01 improves more slowly but eventually performs better than ε = 0.1.",
        long001,
        long01,
        "optimal_last_100",
        figure=LONG_RUN,
        extra=f"over the last 100 of {long001.reward.size:,} steps",
    )


# ---------------------------------------------------------------------------------------------
# Figures 2.3-2.5 and exercise 2.5: one experiment per claim
# ---------------------------------------------------------------------------------------------


def optimistic_greedy_beats_realistic_eps_greedy(ctx: Context) -> Claim:
    """Figure 2.3: optimistic initial values."""
    optimistic, realistic = _experiment(
        ctx,
        "figure-2.3",
        "Figure 2.3: optimistic initial values",
        BanditConfig(
            agent=("greedy:initial=5,alpha=0.1", "eps-greedy:epsilon=0.1,alpha=0.1"),
            runs=RUNS,
            steps=1000,
            seed=ctx.seed,
        ),
    )
    return _better(
        "bandits.optimistic-start",
        "A greedy method with optimistic initial values Q1 = 5 (α = 0.1) ends up choosing the "
        "optimal action more often than a realistic ε-greedy one (Q1 = 0, ε = 0.1, α = 0.1).",
        optimistic,
        realistic,
        "optimal_last_100",
        figure="figure-2.3/bandit.png",
    )


def ucb_beats_eps_greedy(ctx: Context) -> Claim:
    """Figure 2.4: upper-confidence-bound action selection."""
    ucb, eps_greedy = _experiment(
        ctx,
        "figure-2.4",
        "Figure 2.4: upper-confidence-bound action selection",
        BanditConfig(
            agent=("ucb:c=2", "eps-greedy:epsilon=0.1"), runs=RUNS, steps=1000, seed=ctx.seed
        ),
    )
    return _better(
        "bandits.ucb-beats-eps-greedy",
        "UCB (c = 2) generally performs better than ε-greedy (ε = 0.1) on the testbed.",
        ucb,
        eps_greedy,
        "reward_all",
        figure="figure-2.4/bandit.png",
        extra="average reward over all 1000 steps",
    )


def the_baseline_helps_the_gradient_bandit(ctx: Context) -> Claim:
    """Figure 2.5: the gradient bandit with and without the baseline, q* shifted by +4."""
    results = _experiment(
        ctx,
        "figure-2.5",
        "Figure 2.5: gradient bandit, q*(a) ~ N(4, 1)",
        BanditConfig(
            agent=("gradient",),
            alpha=(0.1, 0.4),
            baseline=(True, False),
            runs=RUNS,
            steps=1000,
            true_mean=4.0,
            seed=ctx.seed,
        ),
    )
    with_baseline = results[0]  # alpha=0.1, baseline=True
    without = next(r for r in results if r.agent.alpha == 0.1 and not r.agent.baseline)
    return _better(
        "bandits.gradient-baseline",
        "When the true values are shifted up by 4, the gradient bandit with the average-reward "
        "baseline performs far better than without it.",
        with_baseline,
        without,
        "optimal_last_100",
        figure="figure-2.5/bandit.png",
        extra="α = 0.1",
    )


def a_constant_step_size_tracks_a_nonstationary_problem(ctx: Context) -> Claim:
    """Exercise 2.5: nonstationary testbed, sample averages vs a constant step size."""
    steps = 10_000
    sample_average, constant = _experiment(
        ctx,
        "exercise-2.5",
        "Exercise 2.5: nonstationary testbed",
        BanditConfig(
            agent=("eps-greedy:epsilon=0.1", "eps-greedy:epsilon=0.1,alpha=0.1"),
            runs=RUNS,
            steps=steps,
            nonstationary=True,
            seed=ctx.seed,
        ),
    )
    return _better(
        "bandits.nonstationary-constant-step",
        "On a nonstationary problem a constant step size (α = 0.1) tracks the changing values "
        "better than sample averages.",
        constant,
        sample_average,
        "optimal_last_100",
        figure="exercise-2.5/bandit.png",
        extra=f"random-walk q*, last 100 of {steps:,} steps",
    )


# ---------------------------------------------------------------------------------------------
# Running an experiment; the two kinds of statistical claim
# ---------------------------------------------------------------------------------------------


def _experiment(ctx: Context, name: str, title: str, config: BanditConfig) -> list[Result]:
    start = time.perf_counter()
    total = len(config.agents) * config.steps
    with progress(total=total, desc=f"bandits: {name}", unit="step", quiet=ctx.quiet) as bar:
        results = experiment(config, progress=bar)
    with Run("bandit", config, ctx.dir / name, quiet=True, tensorboard=False) as out:
        save(out, config, results, seconds=time.perf_counter() - start, title=title)
    return results


def _mean(result: Result, key: str) -> float:
    return float(result.per_run[key].mean())


def _se(result: Result, key: str) -> float:
    return standard_error(result.per_run[key])


def _about(
    claim_id: str,
    statement: str,
    result: Result,
    key: str,
    expected: float,
    *,
    reading: float,
    words: str,
    figure: str,
) -> Claim:
    """``result``'s mean ``key`` is ``expected`` within 3 standard errors + ``reading``."""
    se = _se(result, key)
    return Claim(
        claim_id,
        statement,
        measured=_mean(result, key),
        expected=expected,
        tolerance=Z * se + reading,
        how=f"{result.agent.name}: % optimal action over steps 901-1000, mean of "
        f"{result.per_run[key].size} runs (standard error {100 * se:.2f} points); tolerance "
        f"3 standard errors + {words}",
        unit="%",
        figure=figure,
    )


def _better(
    claim_id: str,
    statement: str,
    better: Result,
    worse: Result,
    key: str,
    *,
    figure: str,
    extra: str = "",
) -> Claim:
    """``better`` beats ``worse`` on ``key`` by more than 3 standard errors of the paired gap."""
    diff = better.per_run[key] - worse.per_run[key]
    se = standard_error(diff)
    what = "% optimal action" if key.startswith("optimal") else "average reward"
    return Claim.gap_beyond(
        claim_id,
        statement,
        gap=float(diff.mean()),
        margin=Z * se,
        how=f"gap in {what} ({extra or key.replace('_', ' ')}): {better.agent.name} minus "
        f"{worse.agent.name}, paired over {diff.size} runs; it must exceed 3 standard errors of "
        f"the gap ({se:.3g})",
        unit="%" if key.startswith("optimal") else "",
        figure=figure,
        details={"better": _mean(better, key), "worse": _mean(worse, key), "se": se},
    )
