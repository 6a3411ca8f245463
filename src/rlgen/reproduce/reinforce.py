"""REINFORCE and REINFORCE with a learned baseline on CartPole-v1: the lecture's claims, rerun.

Two experiments:

1. Training runs: each variant (plain REINFORCE, weights G_t; with baseline, weights G_t - v(s_t))
   trained on independent seeds through the executor, each an ``rlgen reinforce`` run directory
   under this section's directory, until the greedy policy's mean return over 100 evaluation
   episodes reaches 475 (the stop criterion of the command) or the budget runs out. Both variants
   use the lecture's raw returns (no per-batch normalisation, gamma = 1), so the only difference
   is the baseline.
2. Fixed policy snapshots: a with-baseline run is stopped at a few fixed step counts; at each
   snapshot, many independent batches of episodes are sampled from the frozen policy and the
   gradient estimate is computed from each batch twice, with and without the baseline (common
   random numbers: the same episodes). Its variance across batches, and the share of sampled
   actions whose own term in the estimate pushes their probability down, are compared.
3. Beyond CartPole (full preset only): both variants with ``rlgen reinforce``'s defaults for
   Acrobot-v1 and LunarLander-v3 (``rlgen.pg.zoo``; only ``--baseline`` differs), 10 seeds each:
   solved counts and median steps side by side. LunarLander needs the ``box2d`` extra; without
   it the table says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from rlgen.errors import UserError
from rlgen.executors import ExecutorOptions, map_jobs
from rlgen.figures import pyplot, save_figure
from rlgen.pg.command import TrainConfig
from rlgen.pg.estimators import chosen_log_prob, reinforce_loss
from rlgen.pg.plots import plot_seeds
from rlgen.pg.reinforce import Reinforce, ReinforceConfig, UpdateInfo
from rlgen.pg.rollouts import Rollout, make_env
from rlgen.pg.sweep import train_job
from rlgen.reproduce.claims import Claim, Context

TITLE = "REINFORCE and REINFORCE with baseline (CartPole-v1)"
ENV = "CartPole-v1"
THRESHOLD = 475.0
VARIANTS = {"reinforce": False, "reinforce-baseline": True}


AGENT = ReinforceConfig(normalize=False)  # the lecture's raw returns


def run(ctx: Context) -> list[Claim]:
    seeds = list(range(ctx.seed, ctx.seed + ctx.pick(5, 30)))
    budget = ctx.pick(100_000, 200_000)
    ctx.notes.append(
        f"{ENV}, gamma = 1, raw returns (no normalisation), {len(seeds)} seeds per variant "
        f"(seeds {seeds[0]}-{seeds[-1]}), budget {budget:,} env steps. Solved: the greedy "
        f"policy's mean return over 100 evaluation episodes (separate, seeded environments) "
        f"reaches {THRESHOLD:g}, checked every 2,000 env steps."
    )
    trained = train_variants(ctx, seeds, budget)
    snapshots = snapshot_measurements(
        ctx.seed,
        steps=(2_000, 6_000, 12_000),
        batches=ctx.pick(40, 120),
        episodes=8,
        agent=dataclasses.replace(AGENT, baseline=True),
    )
    claims = [
        reinforce_solves_cartpole(trained, budget),
        baseline_needs_fewer_episodes(trained, np.random.default_rng(ctx.seed)),
        baseline_lowers_the_variance(snapshots),
        positive_returns_push_every_action_up(snapshots),
        baseline_pushes_worse_actions_down(snapshots),
    ]
    if ctx.preset == "full":
        seeds_beyond = list(range(ctx.seed, ctx.seed + BEYOND_SEEDS))
        table = train_beyond_cartpole(ctx, seeds_beyond)
        ctx.notes.append(table_text(table))
        if any(row["ran"] for row in table):
            claims.append(baseline_solves_beyond_cartpole(table))
    return claims


# ---------------------------------------------------------------------------------------------
# Experiment 1: training runs, one job per (variant, seed)
# ---------------------------------------------------------------------------------------------


def train_variants(ctx: Context, seeds: list[int], budget: int) -> dict[str, list[dict]]:
    """Each variant on each seed through the executor; their summaries by variant."""
    jobs = []
    for name, baseline in VARIANTS.items():
        for s in seeds:
            config = TrainConfig(
                env=ENV,
                seed=s,
                total_steps=budget,
                threshold=THRESHOLD,
                agent=dataclasses.replace(AGENT, baseline=baseline),
            )
            jobs.append((config, str(ctx.dir / name / f"seed-{s}")))
    summaries = map_jobs(
        train_job, jobs, ExecutorOptions(), desc="reinforce seeds", quiet=ctx.quiet
    )
    by_variant: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for (config, _), summary in zip(jobs, summaries, strict=True):
        by_variant["reinforce-baseline" if config.agent.baseline else "reinforce"].append(summary)
    for name in VARIANTS:
        plot_seeds(
            ctx.dir / name,
            [ctx.dir / name / f"seed-{s}" for s in seeds],
            threshold=THRESHOLD,
            label=f"{name}: mean and 95% interval over {len(seeds)} seeds",
        )
        ctx.figures.append(f"{name}/learning_curve.png")
    return by_variant


def reinforce_solves_cartpole(trained: dict[str, list[dict]], budget: int) -> Claim:
    plain, base = trained["reinforce"], trained["reinforce-baseline"]
    n = len(plain)
    return Claim(
        "reinforce.solves-cartpole",
        f"REINFORCE solves CartPole-v1 (evaluation mean at least {THRESHOLD:g}) in most seeds.",
        measured=sum(s["solved"] for s in plain) / n,
        expected=(n // 2 + 1) / n,
        tolerance=0.0,
        comparison="at_least",
        how=f"share of {n} fixed seeds whose greedy evaluation reached {THRESHOLD:g} within "
        f"{budget:,} env steps; 'most' = a majority, at least {n // 2 + 1} of {n}; no "
        "tolerance: the claim is about these seeds",
        unit="%",
        figure="reinforce/learning_curve.png",
        details={"solved_with_baseline": sum(s["solved"] for s in base) / n, "runs": _runs(plain)},
    )


def baseline_needs_fewer_episodes(
    trained: dict[str, list[dict]], rng: np.random.Generator
) -> Claim:
    plain, base = trained["reinforce"], trained["reinforce-baseline"]
    episodes_plain = _episodes(plain)
    episodes_base = _episodes(base)
    ratio = float(np.median(episodes_base) / np.median(episodes_plain))
    low, high = _bootstrap_ratio(episodes_base, episodes_plain, rng)
    return Claim(
        "reinforce.baseline-fewer-episodes",
        "With a learned baseline REINFORCE needs fewer episodes to solve CartPole-v1.",
        measured=ratio,
        expected=1.0,
        tolerance=0.0,
        comparison="at_most",
        how=f"median episodes to solve over {len(plain)} seeds, with baseline / without (an "
        f"unsolved seed counts as infinitely many); below 1 means fewer. Bootstrap over seeds: "
        f"95% interval [{low:.2f}, {high:.2f}] (details); no tolerance added",
        figure="reinforce-baseline/learning_curve.png",
        details={
            "median_episodes_plain": float(np.median(episodes_plain)),
            "median_episodes_baseline": float(np.median(episodes_base)),
            "episodes_plain": episodes_plain.tolist(),
            "episodes_baseline": episodes_base.tolist(),
            "bootstrap_95": [low, high],
            "runs_baseline": _runs(base),
        },
    )


# ---------------------------------------------------------------------------------------------
# Experiment 2: gradient estimates at fixed policy snapshots
# ---------------------------------------------------------------------------------------------


def baseline_lowers_the_variance(snapshots: list[dict[str, Any]]) -> Claim:
    var_plain = sum(s["variance_plain"] for s in snapshots)
    var_base = sum(s["variance_baseline"] for s in snapshots)
    return Claim(
        "reinforce.baseline-lower-variance",
        "Subtracting a learned baseline lowers the variance of the gradient estimate.",
        measured=var_base / var_plain,
        expected=1.0,
        tolerance=0.0,
        comparison="at_most",
        how=f"at {len(snapshots)} fixed snapshots of a with-baseline run (env steps "
        f"{', '.join(str(s['env_steps']) for s in snapshots)}), the gradient estimate from "
        f"{snapshots[0]['batches']} independent batches of at least 8 episodes (every one "
        "complete when the 8th ends), computed on the same episodes with weights G_t and "
        "G_t - v(s_t); total variance (trace of the covariance across batches), summed over "
        "snapshots, with / without. Every snapshot's ratio and its bootstrap interval over "
        "batches are in details",
        details={"snapshots": snapshots},
    )


def positive_returns_push_every_action_up(snapshots: list[dict[str, Any]]) -> Claim:
    return Claim(
        "reinforce.positive-returns-push-up",
        "With all-positive returns (CartPole), plain REINFORCE increases the probability of "
        "every sampled action.",
        measured=float(np.mean([s["decrease_plain"] for s in snapshots])),
        expected=0.0,
        tolerance=0.0,
        comparison="approx",
        how="share of sampled actions whose own term G_t grad log pi(a_t|s_t) lowers "
        "pi(a_t|s_t) (a step along it changes log pi by a multiple of G_t), over all "
        "snapshot batches; exact, so no tolerance. The share that one whole SGD step on the "
        "batch lowers is in details",
        unit="%",
        details={
            "batch_step_decrease_plain": float(
                np.mean([s["step_decrease_plain"] for s in snapshots])
            ),
            "batch_step_decrease_baseline": float(
                np.mean([s["step_decrease_baseline"] for s in snapshots])
            ),
        },
    )


def baseline_pushes_worse_actions_down(snapshots: list[dict[str, Any]]) -> Claim:
    se = float(
        np.sqrt(np.mean([s["decrease_baseline_se"] ** 2 for s in snapshots]) / len(snapshots))
    )
    return Claim(
        "reinforce.baseline-pushes-some-down",
        "Centring the returns with a baseline fixes this: actions that did worse than "
        "expected have their probability decreased.",
        measured=float(np.mean([s["decrease_baseline"] for s in snapshots])),
        expected=0.25,
        tolerance=3 * se,
        comparison="at_least",
        how="share of sampled actions with G_t - v(s_t) < 0 (their term lowers their "
        "probability), over the same batches; required: at least a quarter, minus 3 standard "
        "errors of the share across batches",
        unit="%",
        details={"per_snapshot": [s["decrease_baseline"] for s in snapshots]},
    )


# ---------------------------------------------------------------------------------------------
# Experiment 3 (full preset): beyond CartPole, with each environment's defaults
# ---------------------------------------------------------------------------------------------

BEYOND = ("Acrobot-v1", "LunarLander-v3")
BEYOND_SEEDS = 10


def train_beyond_cartpole(ctx: Context, seeds: list[int]) -> list[dict[str, Any]]:
    """Both variants on each environment of ``BEYOND`` with the command's defaults; one row each.

    Each (environment, variant, seed) is an ``rlgen reinforce`` run directory under
    ``beyond/<env>/<variant>/seed-<s>``, trained through the executor.
    """
    rows: list[dict[str, Any]] = []
    jobs = []
    for env in BEYOND:
        try:
            make_env(env).close()
        except UserError as e:  # LunarLander without Box2D: the table says so
            rows += [{"env": env, "variant": v, "ran": False, "why": str(e)} for v in VARIANTS]
            continue
        for name, baseline in VARIANTS.items():
            rows.append({"env": env, "variant": name, "ran": True, "seeds": seeds})
            for s in seeds:
                config = TrainConfig(env=env, seed=s, agent=ReinforceConfig(baseline=baseline))
                jobs.append((config, str(ctx.dir / "beyond" / env / name / f"seed-{s}")))
    summaries = map_jobs(train_job, jobs, ExecutorOptions(), desc="beyond", quiet=ctx.quiet)
    for row in rows:
        if not row["ran"]:
            continue
        mine = [
            s
            for (config, _), s in zip(jobs, summaries, strict=True)
            if config.env == row["env"] and config.agent.baseline == VARIANTS[row["variant"]]
        ]
        row.update(beyond_row(mine))
        folder = ctx.dir / "beyond" / row["env"] / row["variant"]
        plot_seeds(
            folder,
            [folder / f"seed-{s}" for s in seeds],
            threshold=row["threshold"],
            label=f"{row['env']}, {row['variant']}: mean and 95% interval over {len(seeds)} seeds",
        )
        ctx.figures.append(f"beyond/{row['env']}/{row['variant']}/learning_curve.png")
    plot_beyond(ctx, rows)  # the claim's figure
    return rows


def beyond_row(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Solved count, median steps / episodes to solve (over the seeds that solved), budget."""
    solved = [s for s in summaries if s["solved"]]

    def median(key: str) -> float | None:
        return float(np.median([s[key] for s in solved])) if solved else None

    return {
        "n": len(summaries),
        "solved": len(solved),
        "median_steps_to_solve": median("steps_to_solve"),
        "median_episodes_to_solve": median("episodes_to_solve"),
        "threshold": summaries[0]["threshold"],
        "budget": max(s["env_steps"] for s in summaries),
        "runs": _runs(summaries),
    }


def table_text(rows: list[dict[str, Any]]) -> str:
    """The table as one paragraph of the report."""
    parts = []
    for r in rows:
        if not r["ran"]:
            parts.append(f"{r['env']} {r['variant']}: not run ({r['why']})")
            continue
        median = r["median_steps_to_solve"]
        shown = f", median {median:,.0f} env steps to solve" if median is not None else ""
        parts.append(f"{r['env']} {r['variant']}: solved {r['solved']} of {r['n']}{shown}")
    return (
        "Beyond CartPole, with rlgen reinforce's defaults for each environment (rlgen.pg.zoo; "
        "only --baseline differs; solved: greedy mean over 100 evaluation episodes at least the "
        "reward threshold): " + "; ".join(parts) + "."
    )


def plot_beyond(ctx: Context, rows: list[dict[str, Any]]) -> str:
    """``beyond/solved.png``: solved seeds per environment and variant, median steps on top."""
    plt = pyplot()
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.38
    for k, name in enumerate(VARIANTS):
        for i, env in enumerate(envs):
            [r] = [r for r in rows if r["env"] == env and r["variant"] == name]
            x = i + (k - 0.5) * width
            if not r["ran"]:
                ax.text(x, 0.02, "not run", ha="center", va="bottom", rotation=90, fontsize=7)
                continue
            ax.bar(x, r["solved"] / r["n"], width, color=f"C{k}", label=name if i == 0 else None)
            median = r["median_steps_to_solve"]
            text = f"{r['solved']}/{r['n']}" + (f"\n{median / 1000:.0f}k" if median else "")
            ax.text(x, r["solved"] / r["n"] + 0.02, text, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(envs)), envs)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("seeds solved (median env steps)")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    save_figure(fig, ctx.dir / "beyond" / "solved.png", dpi=110)
    return "beyond/solved.png"


def baseline_solves_beyond_cartpole(rows: list[dict[str, Any]]) -> Claim:
    ran = [r for r in rows if r["ran"] and r["variant"] == "reinforce-baseline"]
    worst = min(ran, key=lambda r: r["solved"] / r["n"])
    n = worst["n"]
    return Claim(
        "reinforce.baseline-beyond-cartpole",
        "With a learned baseline, REINFORCE solves "
        + " and ".join(r["env"] for r in ran)
        + " with rlgen's defaults for each environment in most seeds.",
        measured=worst["solved"] / n,
        expected=(n // 2 + 1) / n,
        tolerance=0.0,
        comparison="at_least",
        how=f"the smallest share of {n} fixed seeds solved (greedy mean over 100 evaluation "
        "episodes at least the reward threshold within the default budget) over the "
        "environments; 'most' = a majority; plain REINFORCE on the same seeds and defaults "
        "beside it in details and the figure",
        unit="%",
        figure="beyond/solved.png",
        details={"table": rows},
    )


def _runs(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("seed", "solved", "steps_to_solve", "episodes_to_solve", "seconds_to_solve")
    return [{k: s[k] for k in keys} for s in summaries]


def _episodes(summaries: list[dict[str, Any]]) -> np.ndarray:
    return np.array([s["episodes_to_solve"] if s["solved"] else np.inf for s in summaries], float)


def _bootstrap_ratio(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n: int = 2000
) -> tuple[float, float]:
    """95% percentile interval of median(a) / median(b), resampling seeds of each."""
    ia = rng.integers(0, a.size, (n, a.size))
    ib = rng.integers(0, b.size, (n, b.size))
    with np.errstate(invalid="ignore"):
        ratios = np.median(a[ia], axis=1) / np.median(b[ib], axis=1)
    ratios = np.where(np.isnan(ratios), np.inf, ratios)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def snapshot_measurements(
    seed: int,
    *,
    steps: tuple[int, ...],
    batches: int,
    episodes: int,
    agent: ReinforceConfig,
) -> list[dict[str, Any]]:
    """Train with a baseline and measure at the first update past each of ``steps``."""
    torch.set_num_threads(1)
    model = Reinforce(ENV, agent, seed=seed)
    results: list[dict[str, Any]] = []
    pending = list(steps)

    def at_snapshot(m: Reinforce, info: UpdateInfo) -> bool:
        if pending and info.env_steps >= pending[0]:
            pending.pop(0)
            rng_seed = seed * 1000 + len(results)
            results.append(gradient_statistics(m, batches, episodes, rng_seed))
        return bool(pending)

    model.learn(max(steps) * 10, callback=at_snapshot)
    model.close()
    return results


def gradient_statistics(model: Reinforce, batches: int, episodes: int, seed: int) -> dict[str, Any]:
    """Variance of the REINFORCE gradient with and without the baseline at the frozen policy.

    Each batch of ``episodes`` fresh episodes gives two estimates on the same samples, with
    weights G_t and G_t - v(s_t). Also: the share of sampled actions whose own term lowers their
    probability, and the share whose probability one small SGD step on the whole batch lowers.
    """
    assert model.value is not None
    env = make_env(ENV, episodes)
    rollout = Rollout(env, gamma=model.config.gamma)
    rollout.restart(seed)
    rng = np.random.default_rng(seed)
    params = list(model.policy.parameters())
    grads: dict[str, list[np.ndarray]] = {"plain": [], "baseline": []}
    decrease: dict[str, list[float]] = {"plain": [], "baseline": []}
    step_decrease: dict[str, list[float]] = {"plain": [], "baseline": []}
    for _ in range(batches):
        batch = rollout.collect(model.act_fn(False, rng), episodes)
        obs = torch.as_tensor(batch.obs)
        actions = torch.as_tensor(batch.actions)
        returns = torch.as_tensor(batch.returns, dtype=torch.float32)
        with torch.no_grad():
            values = model.value(obs)
        for name, weights in (("plain", returns), ("baseline", returns - values)):
            log_prob = chosen_log_prob(model.policy.log_probs(obs), actions)
            loss = reinforce_loss(log_prob, weights, batch.episodes)
            g = torch.autograd.grad(loss, params)
            grads[name].append(torch.cat([x.flatten() for x in g]).numpy())
            decrease[name].append(float((weights < 0).float().mean()))
            step_decrease[name].append(_step_decrease(model, obs, actions, log_prob, g))
    env.close()
    out: dict[str, Any] = {"env_steps": model.counters.env_steps, "batches": batches}
    variance = {}
    for name in grads:
        G = np.stack(grads[name])  # (batches, parameters)
        variance[name] = float(G.var(axis=0, ddof=1).sum())
        out[f"variance_{name}"] = variance[name]
        out[f"decrease_{name}"] = float(np.mean(decrease[name]))
        out[f"decrease_{name}_se"] = float(np.std(decrease[name], ddof=1) / np.sqrt(batches))
        out[f"step_decrease_{name}"] = float(np.mean(step_decrease[name]))
    out["variance_ratio"] = variance["baseline"] / variance["plain"]
    out["variance_ratio_bootstrap_95"] = _bootstrap_variance_ratio(
        np.stack(grads["baseline"]), np.stack(grads["plain"]), np.random.default_rng(seed)
    )
    return out


def _step_decrease(
    model: Reinforce,
    obs: torch.Tensor,
    actions: torch.Tensor,
    log_prob: torch.Tensor,
    grads: tuple[torch.Tensor, ...],
) -> float:
    """Share of sampled actions whose log-probability drops after a small SGD step on the loss."""
    norm = float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])))
    if norm == 0:
        return 0.0
    size = 1e-3 / norm  # a small step, same length for both estimators
    saved = [p.detach().clone() for p in model.policy.parameters()]
    with torch.no_grad():
        for p, g in zip(model.policy.parameters(), grads, strict=True):
            p.sub_(size * g)
        after = chosen_log_prob(model.policy.log_probs(obs), actions)
        for p, s in zip(model.policy.parameters(), saved, strict=True):
            p.copy_(s)
    return float((after < log_prob.detach()).float().mean())


def _bootstrap_variance_ratio(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n: int = 500
) -> list[float]:
    """95% interval of total-variance ratio, resampling batches (paired: same episodes)."""
    ratios = []
    for _ in range(n):
        i = rng.integers(0, a.shape[0], a.shape[0])
        ratios.append(a[i].var(axis=0, ddof=1).sum() / b[i].var(axis=0, ddof=1).sum())
    return [float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))]
