"""``rlgen mdp pg-check``: the policy gradient theorem, checked exactly on a finite MDP.

For random policies (tabular softmax and a small neural network) on a random episodic MDP (or a
book gridworld): the exact gradient of J(theta) by automatic differentiation through the exact
values, the theorem's right-hand side from q_pi and mu, their cosine and ratio (the proof's
constant: the expected episode length), a random state baseline's effect on the right-hand side
(none), and REINFORCE from sampled episodes against the exact gradient, with and without the value
baseline. See :mod:`rlgen.mdp.pg` for the mathematics.

The run directory holds ``config.json``, ``metrics.csv`` (index ``episodes``: the relative error
of the REINFORCE mean after that many episodes, ``<policy>/error`` and
``<policy>/error_baseline``), ``summary.json`` (keys in the README) and ``pg_check.png``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rlgen.errors import UserError, check_choice, check_range
from rlgen.figures import pyplot, save_figure
from rlgen.mdp.examples import gridworld_3_5, gridworld_4_1, random_mdp
from rlgen.mdp.model import MDP
from rlgen.mdp.pg import POLICIES, TheoremCheck, check_theorem
from rlgen.runs import Command, Run, make_rng, metrics_columns

PG_EXAMPLES = ("random", "gridworld-4.1", "gridworld-3.5")


@dataclass(frozen=True)
class PGCheckConfig:
    """Check the policy gradient theorem exactly (autograd through the exact values) and
    REINFORCE's unbiasedness and baseline variance reduction against it (S&B section 13.2)."""

    example: Literal["random", "gridworld-4.1", "gridworld-3.5"] = "random"
    """the MDP: a random episodic MDP (sizes below) or a book gridworld"""
    policy: tuple[Literal["tabular", "neural"], ...] = ("tabular", "neural")
    """softmax policies to check: tabular (one logit per state and action), neural (an MLP from
    the one-hot state to the logits)"""
    states: int = 8
    """random MDP: number of states, >= 2 (the last --terminals of them terminal)"""
    actions: int = 3
    """random MDP: number of actions, >= 1"""
    successors: int = 3
    """random MDP: successor states per (state, action), >= 1"""
    terminals: int = 1
    """random MDP: terminal states, >= 1 (the theorem's episodic setting)"""
    end_prob: float = 0.1
    """random MDP: typical probability that a step ends the episode, in (0, 1]"""
    reward_mean: float = -1.0
    """random MDP: mean reward of a transition (rewards ~ N(mean, 1)); -1 is a cost per step as in
    Example 4.1, where a value baseline has a common offset to remove"""
    gamma: float = 1.0
    """discount of the random MDP in [0, 1] (the book's proof is for 1; below 1 the constant is
    the discounted episode length); the gridworlds keep their own"""
    hidden: int = 16
    """hidden units of the neural policy, >= 1"""
    scale: float = 1.0
    """scale of the random policy parameters (logits of about this size), > 0"""
    episodes: int = 20_000
    """sampled episodes for the REINFORCE check, >= 4 (0 skips it)"""
    max_steps: int = 1000
    """truncate sampled episodes after this many steps, >= 1 (matters for gridworld-3.5, a
    continuing task: gamma^1000 is negligible)"""
    seed: int = 0
    """random seed: the MDP, the policy parameters, the baseline and the episodes"""

    def __post_init__(self) -> None:
        check_choice("example", self.example, PG_EXAMPLES)
        if not self.policy:
            raise UserError(f"--policy: give at least one of {', '.join(POLICIES)}")
        for kind in self.policy:
            check_choice("policy", kind, POLICIES)
        check_range("states", self.states, 2)
        check_range("actions", self.actions, 1)
        check_range("successors", self.successors, 1)
        check_range("terminals", self.terminals, 1, self.states - 1)
        check_range("end_prob", self.end_prob, 0, 1, low_open=True)
        check_range("gamma", self.gamma, 0, 1)
        check_range("hidden", self.hidden, 1)
        check_range("scale", self.scale, 0, low_open=True)
        check_range("max_steps", self.max_steps, 1)
        if self.episodes != 0:
            check_range("episodes", self.episodes, 4)

    def build(self) -> MDP:
        """The MDP this config names."""
        if self.example == "gridworld-4.1":
            return gridworld_4_1()
        if self.example == "gridworld-3.5":
            return gridworld_3_5()
        return random_mdp(
            self.states,
            self.actions,
            self.successors,
            make_rng(self.seed),
            gamma=self.gamma,
            terminals=self.terminals,
            end_prob=self.end_prob,
            reward_mean=self.reward_mean,
        )


def run(
    config: PGCheckConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the checks, write the run directory, return the summary (keys in the README)."""
    with Run(
        "mdp pg-check",
        config,
        run_dir,
        quiet=quiet,
        metrics_index="episodes",
        overwrite=overwrite,
    ) as r:
        mdp = config.build()
        start = time.perf_counter()
        checks: list[TheoremCheck] = []
        for kind in r.progress(config.policy, desc="policies", unit="policy"):
            checks.append(
                check_theorem(
                    mdp,
                    kind,
                    seed=config.seed,
                    episodes=config.episodes,
                    hidden=config.hidden,
                    scale=config.scale,
                    max_steps=config.max_steps,
                )
            )
        seconds = time.perf_counter() - start
        curves = [c for c in checks if c.error_curve is not None]
        if curves:
            columns: dict[str, np.ndarray] = {}
            for c in curves:
                assert c.error_curve is not None
                columns[f"{c.kind}/error"] = c.error_curve[:, 1]
                columns[f"{c.kind}/error_baseline"] = c.error_curve[:, 2]
            r.metrics.log_many(curves[0].error_curve[:, 0].astype(int), columns)  # type: ignore[index]
        plot(r.path, checks)
        return r.finish(
            {
                "example": config.example,
                "name": mdp.name,
                "states": mdp.n_states,
                "actions": mdp.n_actions,
                "gamma": mdp.gamma,
                "episodes": config.episodes,
                "seed": config.seed,
                "seconds": seconds,
                "policies": {c.kind: c.summary() for c in checks},
            }
        )


def describe(summary: dict) -> str:
    """One block per policy: the theorem's figures and REINFORCE's."""
    lines = [f"{summary['name']} (γ = {summary['gamma']:g}), {summary['episodes']} episodes"]
    for kind, s in summary["policies"].items():
        lines.append(
            f"  {kind:8} cosine {s['cosine']:.15f}  ratio {s['ratio']:.10g}  expected length "
            f"{s['expected_length']:.10g}  baseline change {s['baseline_change']:.2g}"
        )
        for name in ("reinforce", "reinforce_baseline"):
            e = s[name]
            if e:
                lines.append(
                    f"  {'':8} {name:<19} rel. error {e['rel_error']:.3f}  max |z| "
                    f"{e['max_abs_z']:.2f} (bound {e['z_bound']:.2f})  variance {e['variance']:.4g}"
                )
        if s["variance_ratio"] is not None:
            lines.append(
                f"  {'':8} variance ratio (baseline / none) {s['variance_ratio']:.3f} ± "
                f"{s['variance_ratio_se']:.3f}"
            )
    return "\n".join(lines)


def plot(run_dir: str | Path, checks: list[TheoremCheck] | None = None) -> Path:
    """``pg_check.png``: exact gradient against the theorem's side (left), REINFORCE's error
    against the number of episodes (right, from ``metrics.csv``)."""
    plt = pyplot()

    run_dir = Path(run_dir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for c in checks or []:
        left.scatter(
            c.rhs * c.expected_length,
            c.grad,
            s=10,
            alpha=0.7,
            label=f"{c.kind} (cos = {c.cosine:.12f})",
        )
    lims = left.get_xlim()
    left.plot(lims, lims, color="grey", lw=0.8, ls="--")
    left.set_xlabel("E[episode length] · Σ_s μ(s) Σ_a q(s,a) ∇π(a|s)")
    left.set_ylabel("∇J(θ) (autograd through exact v)")
    left.set_title("the policy gradient theorem", fontsize=10)
    if checks:
        left.legend(frameon=False, fontsize=8)
    cols = metrics_columns(run_dir / "metrics.csv") if (run_dir / "metrics.csv").exists() else {}
    if cols and len(cols.get("episodes", [])):
        n = cols.pop("episodes")
        for name, values in cols.items():
            right.loglog(n, values, label=name.replace("/", ": ").replace("_", " "))
        right.loglog(n, values[0] * np.sqrt(n[0] / n), color="grey", ls=":", label="∝ 1/√n")
        right.legend(frameon=False, fontsize=8)
    right.set_xlabel("episodes n")
    right.set_ylabel("‖mean REINFORCE estimate − ∇J‖ / ‖∇J‖")
    right.set_title("REINFORCE converges to the exact gradient", fontsize=10)
    return save_figure(fig, run_dir / "pg_check.png")


COMMAND = Command(PGCheckConfig, run, describe)
