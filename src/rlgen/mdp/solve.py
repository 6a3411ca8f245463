"""``rlgen mdp solve``: values and optimal actions of a finite MDP by dynamic programming.

Evaluate the equiprobable random policy (Figures 3.2 and 4.1) or find v*, q* and every optimal
action (Figure 3.5) by value iteration, policy iteration or, for a task truncated after H steps,
backward induction; on the book's gridworlds, gymnasium's toy-text tasks or a random MDP.

The run directory holds ``config.json``, ``metrics.csv`` (one row per sweep / iteration / step to
go: ``max_change``, the largest change of a value), ``summary.json`` (keys in the README),
``values.png`` (values and arrows for all optimal actions) and ``sweeps.png``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rlgen.errors import UserError, check_choice, check_range
from rlgen.mdp import dp
from rlgen.mdp.examples import EXAMPLES, example, random_mdp
from rlgen.mdp.model import MDP, uniform_policy
from rlgen.mdp.plots import plot_solution, plot_sweeps
from rlgen.runs import Command, Run, make_rng, metrics_columns

EXAMPLE_NAMES = (*EXAMPLES, "random")
METHODS = ("evaluate-random", "value-iteration", "policy-iteration", "backward-induction")

Example = Literal["gridworld-3.5", "gridworld-4.1", "frozenlake", "cliffwalking", "taxi", "random"]
Method = Literal["evaluate-random", "value-iteration", "policy-iteration", "backward-induction"]


@dataclass(frozen=True)
class SolveConfig:
    """Solve a finite MDP exactly: evaluate the random policy, or find v*, q* and all optimal
    actions (Sutton & Barto chapters 3-4)."""

    example: Example = "gridworld-3.5"
    """the task: the book's gridworlds (Examples 3.5, 4.1), gymnasium's FrozenLake-v1,
    CliffWalking, Taxi, or a random MDP (sizes below)"""
    method: Method = "value-iteration"
    """evaluate-random: v of the equiprobable random policy by the linear Bellman system;
    value-iteration / policy-iteration: v*, q* and every optimal action; backward-induction:
    the optimal values of the task truncated after --horizon steps"""
    gamma: float | None = None
    """discount in [0, 1]; None: the task's own (3.5: 0.9, 4.1: 1, frozenlake: 0.9,
    cliffwalking: 1, taxi: 1, random: 1 if episodic else 0.9)"""
    horizon: int = 10
    """H, the number of steps of the truncated task (backward-induction only), >= 1"""
    q: bool = False
    """also write q(s, a) of every state and action to summary.json"""
    tol: float = 1e-12
    """sweeps stop when no value changes by this much, > 0"""
    max_sweeps: int = 100_000
    """give up (with an error) after this many sweeps or iterations"""
    states: int = 20
    """random MDP: number of states, >= 2 (the last --terminals of them terminal)"""
    actions: int = 3
    """random MDP: number of actions, >= 1"""
    successors: int = 3
    """random MDP: successor states per (state, action), >= 1"""
    terminals: int = 1
    """random MDP: terminal states (0: a continuing task, which needs gamma < 1)"""
    end_prob: float = 0.1
    """random MDP: typical probability that a step ends the episode, in (0, 1]"""
    seed: int = 0
    """random seed of the random MDP"""

    def __post_init__(self) -> None:
        check_choice("example", self.example, EXAMPLE_NAMES)
        check_choice("method", self.method, METHODS)
        if self.gamma is not None:
            check_range("gamma", self.gamma, 0, 1)
        check_range("horizon", self.horizon, 1)
        check_range("tol", self.tol, 0, low_open=True)
        check_range("max_sweeps", self.max_sweeps, 1)
        check_range("states", self.states, 2)
        check_range("actions", self.actions, 1)
        check_range("successors", self.successors, 1)
        check_range("terminals", self.terminals, 0, self.states - 1)
        check_range("end_prob", self.end_prob, 0, 1, low_open=True)
        if (
            self.example == "random"
            and self.terminals == 0
            and self.gamma == 1.0
            and self.method != "backward-induction"
        ):
            raise UserError(
                "--gamma 1 with --terminals 0: a continuing task's returns are infinite sums and "
                "its values are undefined; use --gamma below 1, --terminals >= 1 or "
                "--method backward-induction (the task truncated after --horizon steps)"
            )

    def build(self) -> MDP:
        """The MDP this config names; truncated after ``horizon`` steps for backward induction
        (so gamma = 1 is allowed on a continuing task)."""
        horizon = self.horizon if self.method == "backward-induction" else None
        if self.example == "random":
            gamma = self.gamma if self.gamma is not None else (1.0 if self.terminals else 0.9)
            return random_mdp(
                self.states,
                self.actions,
                self.successors,
                make_rng(self.seed),
                gamma=gamma,
                terminals=self.terminals,
                end_prob=self.end_prob,
                horizon=horizon,
            )
        return example(self.example, self.gamma, horizon)


# ---------------------------------------------------------------------------------------------
# Run directory and summary
# ---------------------------------------------------------------------------------------------


def run(
    config: SolveConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Solve, write the run directory, return the summary (keys documented in the README)."""
    with Run(
        "mdp solve", config, run_dir, quiet=quiet, metrics_index="sweep", overwrite=overwrite
    ) as r:
        mdp = config.build()
        start = time.perf_counter()
        with r.progress(desc=config.method, unit="sweep") as bar:

            def log(k: int, change: float) -> None:
                r.metrics.log(k, {"max_change": change})
                bar.update(1)

            result = _solve(mdp, config, log)
        seconds = time.perf_counter() - start
        v, q, actions = result["v"], result["q"], result["actions"]
        names = mdp.action_names
        summary: dict[str, Any] = {
            "example": config.example,
            "name": mdp.name,
            "method": config.method,
            "gamma": mdp.gamma,
            "horizon": config.horizon if config.method == "backward-induction" else None,
            "states": mdp.n_states,
            "actions": mdp.n_actions,
            "action_names": list(names),
            "terminal_states": np.flatnonzero(mdp.terminal).tolist(),
            "optimal": config.method != "evaluate-random",
            "iterations": result["iterations"],
            "seconds": seconds,
            "values": v,
            "values_grid": v.reshape(mdp.grid) if mdp.grid else None,
            "start_value": float(mdp.initial @ v),
            "greedy_actions": [[names[a] for a in np.flatnonzero(row)] for row in actions],
            "states_with_ties": int((actions.sum(axis=1) > 1).sum()),
            "q": q if config.q else None,
        }
        summary.update(result.get("extra", {}))
        what = "random policy" if config.method == "evaluate-random" else config.method
        plot_solution(
            r.path / "values.png",
            mdp,
            v,
            actions,
            title=f"{mdp.name}, γ = {mdp.gamma:g}: {what}",
            actions_title="greedy actions (all ties)"
            if config.method == "evaluate-random"
            else "optimal actions (all ties)",
            decimals=1 if np.abs(v).max() < 1000 else 0,
        )
        if result["iterations"]:
            plot(r.path)
        return r.finish(summary)


def _solve(mdp: MDP, config: SolveConfig, log: dp.Callback) -> dict[str, Any]:
    if config.method == "evaluate-random":
        policy = uniform_policy(mdp)
        v = dp.evaluate_linear(mdp, policy)
        q = dp.q_from_v(mdp, v)
        residual = float(np.max(np.abs(dp.v_from_q(policy, q) - v)))
        log(0, residual)
        return {
            "v": v,
            "q": q,
            "actions": dp.greedy_actions(mdp, q),
            "iterations": 0,
            "extra": {"bellman_residual": residual},
        }
    if config.method == "backward-induction":
        fh = dp.backward_induction(mdp, config.horizon)
        for k in range(1, fh.horizon + 1):
            log(k, float(np.max(np.abs(fh.v[k] - fh.v[k - 1]))))
        return {
            "v": fh.v[-1],
            "q": fh.q[-1],
            "actions": fh.optimal_actions[-1],
            "iterations": fh.horizon,
            "extra": {"values_by_steps_to_go": fh.v if config.q else None},
        }
    solver = dp.value_iteration if config.method == "value-iteration" else dp.policy_iteration
    if solver is dp.value_iteration:
        sol = dp.value_iteration(mdp, tol=config.tol, max_sweeps=config.max_sweeps, callback=log)
    else:
        sol = dp.policy_iteration(mdp, max_iterations=config.max_sweeps, callback=log)
    return {"v": sol.v, "q": sol.q, "actions": sol.optimal_actions, "iterations": sol.iterations}


def plot(run_dir: str | Path) -> Path:
    """``sweeps.png``: the largest value change per sweep, from ``metrics.csv``."""
    run_dir = Path(run_dir)
    cols = metrics_columns(run_dir / "metrics.csv")
    return plot_sweeps(
        run_dir / "sweeps.png",
        cols["sweep"],
        cols["max_change"],
        title="convergence",
        xlabel="sweep / iteration / steps to go",
    )


def describe(summary: dict) -> str:
    """The values (as a grid when the task is one) and the count of tied optimal actions."""
    lines = [
        f"{summary['name']} (γ = {summary['gamma']:g}), {summary['method']}: "
        f"{summary['iterations']} sweeps/iterations, start value {summary['start_value']:.4g}"
    ]
    grid = summary.get("values_grid")
    if grid and len(grid[0]) <= 12:
        lines += ["  " + " ".join(f"{x:7.2f}" for x in row) for row in grid]
    kind = "optimal" if summary["optimal"] else "greedy"
    lines.append(f"states with more than one {kind} action: {summary['states_with_ties']}")
    return "\n".join(lines)


COMMAND = Command(SolveConfig, run, describe)
