"""``rlgen mdp solve`` and ``rlgen mdp pg-check``: their configs, runs, figures and printouts.

``mdp solve`` evaluates the equiprobable random policy (Figures 3.2 and 4.1) or finds v*, q* and
every optimal action (Figure 3.5) by value iteration, policy iteration or, for a task truncated
after H steps, backward induction; on the book's gridworlds, gymnasium's toy-text tasks or a
random MDP. Its run directory holds ``config.json``, ``metrics.csv`` (one row per sweep /
iteration / step to go: ``max_change``, the largest change of a value), ``summary.json`` (keys in
the README), ``values.png`` (values and arrows for all optimal actions) and ``sweeps.png``.

``mdp pg-check`` checks the policy gradient theorem exactly for random policies (tabular softmax
and a small neural network) on a random episodic MDP or a book gridworld, and REINFORCE's
sampled estimates against it (see :mod:`rlgen.mdp.policy_gradient` for the mathematics). Its run
directory holds ``config.json``, ``metrics.csv`` (index ``episodes``: the relative error of the
REINFORCE mean after that many episodes, ``<policy>/error`` and ``<policy>/error_baseline``),
``summary.json`` (keys in the README, plus each policy's ``grad`` and ``rhs``, the two sides of
the theorem, which the figure plots) and ``pg_check.png``.

Each command's figures are drawn by :func:`plot_solve` / :func:`plot_pg_check` from the run
directory's files alone; :func:`plot` redraws either kind of run directory.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rlgen.configs import refuse_ignored, was_given
from rlgen.errors import (
    UserError,
    check_choice,
    check_config_types,
    check_memory,
    check_range,
    number_text,
)
from rlgen.figures import pyplot, save_figure
from rlgen.files import read_json
from rlgen.mdp import dp
from rlgen.mdp.examples import (
    EXAMPLES,
    FROZENLAKE_MAPS,
    example,
    gridworld_3_5,
    gridworld_4_1,
    random_mdp,
)
from rlgen.mdp.files import read_mdp, read_mdp_json
from rlgen.mdp.model import MDP, uniform_policy
from rlgen.mdp.plots import plot_solution, plot_sweeps
from rlgen.mdp.policy_gradient import POLICIES, TheoremCheck, check_theorem
from rlgen.metrics import metrics_columns
from rlgen.runs import MAX_SEED, Command, Run, make_rng

EXAMPLE_NAMES = (*EXAMPLES, "random", "file")
METHODS = ("evaluate-random", "value-iteration", "policy-iteration", "backward-induction")
PG_EXAMPLES = ("random", "gridworld-4.1", "gridworld-3.5", "file")

Example = Literal[
    "gridworld-3.5", "gridworld-4.1", "frozenlake", "cliffwalking", "taxi", "random", "file"
]
Method = Literal["evaluate-random", "value-iteration", "policy-iteration", "backward-induction"]

SIZES = {
    "gridworld-3.5": (25, 4),
    "gridworld-4.1": (16, 4),
    "frozenlake": (16, 4),
    "frozenlake-8x8": (64, 4),
    "cliffwalking": (48, 4),
    "taxi": (500, 6),
}
"""(states, actions) of the shipped examples, for the memory estimate (no gymnasium needed)"""

MIN_END_PROB = 2 / dp.MAX_EXPECTED_STEPS
"""smallest --end-prob of a random MDP with gamma = 1: a step ends the episode with probability at
least end_prob / 2, so episodes last at most 2 / end_prob steps on average, which must stay within
what float64 can sum (:data:`rlgen.mdp.dp.MAX_EXPECTED_STEPS`)"""

# Memory estimates, in bytes, measured with tracemalloc on random MDPs and rounded up.
OUTCOME_BYTES = 300
"""per outcome (s, a) -> (s', r): building the table (peak ~215) or solving on it (~165)"""
STATE_ACTION_BYTES = 64
"""per (s, a): q and the sweep's temporaries"""
SUMMARY_STATE_BYTES = 300
"""per state in summary.json: its value and the names of its optimal actions, as Python objects"""
SUMMARY_VALUE_BYTES = 100
"""per extra number in summary.json (q with --q, values by steps to go)"""


def _check_seed(seed: int) -> None:
    check_range("seed", seed, 0, MAX_SEED)


def _check_ends(end_prob: float, alternatives: str) -> None:
    """With gamma = 1 a random MDP's episodes must end in float64's lifetime (see
    :data:`MIN_END_PROB`)."""
    if end_prob < MIN_END_PROB:
        raise UserError(
            f"--end-prob {end_prob:g} with gamma = 1: episodes would last up to "
            f"{2 / end_prob:.3g} steps on average, a policy that practically never terminates "
            f"(its values are lost to rounding); use --end-prob >= {MIN_END_PROB:g}"
            f"{alternatives}"
        )


RANDOM_MDP_OPTIONS = ("states", "actions", "successors", "terminals", "end_prob")
"""the options that set up a random MDP (both commands; also solve's --seed, and pg-check's
--reward-mean and --gamma, which the book gridworlds keep their own of)"""


def _random_only(example: str, names: tuple[str, ...]) -> dict[str, str]:
    """``names`` as ignored, unless ``example`` is the random MDP they set up."""
    if example == "random":
        return {}
    return {
        name: f"is for --example random only: --example {example} would ignore it" for name in names
    }


# ---------------------------------------------------------------------------------------------
# rlgen mdp solve
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolveConfig:
    """Solve a finite MDP exactly: evaluate the random policy, or find v*, q* and all optimal
    actions (Sutton & Barto chapters 3-4)."""

    example: Example = "gridworld-3.5"
    """the task: the book's gridworlds (Examples 3.5, 4.1), gymnasium's FrozenLake-v1,
    CliffWalking, Taxi, or a random MDP (sizes below)"""
    map: Literal["4x4", "8x8"] | None = None
    """frozenlake only: gymnasium's 4x4 map (None: the default) or its 8x8 map"""
    method: Method = "value-iteration"
    """evaluate-random: v of the equiprobable random policy by the linear Bellman system;
    value-iteration / policy-iteration: v*, q* and every optimal action; backward-induction:
    the optimal values of the task truncated after --horizon steps"""
    gamma: float | None = None
    """discount in [0, 1]; None: the task's own (3.5: 0.9, 4.1: 1, frozenlake: 0.9,
    cliffwalking: 1, taxi: 1, random: 1 if episodic else 0.9, file: the file's "gamma")"""
    horizon: int = 10
    """H, the number of steps of the truncated task (backward-induction only), >= 1; --example
    file: the file's "horizon" unless given"""
    q: bool = False
    """also write q(s, a) of every state and action to summary.json"""
    tol: float = 1e-12
    """value-iteration only: sweeps stop when no value changes by this much, in (0, 0.01]: a
    larger one would stop sweeps far from the values it reports as optimal"""
    max_sweeps: int = 100_000
    """value- or policy-iteration: give up (with an error) after this many sweeps or iterations"""
    states: int = 20
    """random MDP: number of states, >= 2 (the last --terminals of them terminal)"""
    actions: int = 3
    """random MDP: number of actions, >= 1"""
    successors: int = 3
    """random MDP: successor states per (state, action), >= 1"""
    terminals: int = 1
    """random MDP: terminal states (0: a continuing task, which needs gamma < 1)"""
    end_prob: float = 0.1
    """random MDP: typical probability that a step ends the episode, in (0, 1]; with gamma = 1
    at least 2e-10 (episodes of at most 2 / end-prob steps on average)"""
    seed: int = 0
    """random seed of the random MDP"""
    file: Path | None = None
    """--example file: a JSON file of the MDP's dynamics, outcome rows [s, a, p, s', r] (format
    in the README; rlgen.mdp.files.write_mdp writes any MDP so)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("example", self.example, EXAMPLE_NAMES)
        if self.example == "file" and self.file is None:
            raise UserError("--example file needs --file PATH, a JSON file of the MDP's dynamics")
        if self.map is not None:
            check_choice("map", self.map, FROZENLAKE_MAPS)
            if self.example != "frozenlake":
                raise UserError(
                    f"--map chooses FrozenLake's map: it needs --example frozenlake, "
                    f"not {self.example}"
                )
        check_choice("method", self.method, METHODS)
        if self.gamma is not None:
            check_range("gamma", self.gamma, 0, 1)
        check_range("horizon", self.horizon, 1)
        check_range("tol", self.tol, 0, 0.01, low_open=True)
        check_range("max_sweeps", self.max_sweeps, 1)
        check_range("states", self.states, 2)
        check_range("actions", self.actions, 1)
        check_range("successors", self.successors, 1)
        check_range("terminals", self.terminals, 0, self.states - 1)
        check_range("end_prob", self.end_prob, 0, 1, low_open=True)
        _check_seed(self.seed)
        if self.example == "random" and self.method != "backward-induction":
            if self.terminals == 0 and self.gamma == 1.0:
                raise UserError(
                    "--gamma 1 with --terminals 0: a continuing task's returns are infinite sums "
                    "and its values are undefined; use --gamma below 1, --terminals >= 1 or "
                    "--method backward-induction (the task truncated after --horizon steps)"
                )
            if self.terminals > 0 and self.gamma in (None, 1.0):
                _check_ends(self.end_prob, ", --gamma below 1 or --method backward-induction")
        check_memory(self._largest_size(), self.memory_bytes(), self._plan())

    def ignored(self) -> dict[str, str]:
        """The options that this --method or --example ignores, each with why
        (:func:`rlgen.configs.refuse_ignored`)."""
        method = f"--method {self.method} would ignore it"
        ignored = _random_only(self.example, (*RANDOM_MDP_OPTIONS, "seed"))
        if self.example != "file":
            ignored["file"] = (
                f"is for --example file only: --example {self.example} would ignore it"
            )
        if self.method != "backward-induction":
            ignored["horizon"] = f"is for --method backward-induction only: {method}"
        if self.method != "value-iteration":
            ignored["tol"] = f"is for --method value-iteration only: {method}"
        if self.method not in ("value-iteration", "policy-iteration"):
            ignored["max_sweeps"] = f"is for --method value-iteration or policy-iteration: {method}"
        return ignored

    def sizes(self) -> tuple[int, int, int]:
        """(states, actions, outcomes) of the task, without building it."""
        if self.example == "random":
            live = self.states - self.terminals
            per_row = self.successors + (1 if self.terminals else 0)
            return self.states, self.actions, live * self.actions * per_row
        if self.example == "file":
            assert self.file is not None
            return _file_sizes(self.file)[:3]
        key = "frozenlake-8x8" if self.map == "8x8" else self.example
        states, actions = SIZES[key]
        return states, actions, 3 * states * actions  # FrozenLake: 3 slips; the others: 1

    def memory_bytes(self) -> float:
        """An estimate of the memory the run needs, from the sizes (bytes)."""
        S, A, outcomes = self.sizes()
        need = OUTCOME_BYTES * outcomes + STATE_ACTION_BYTES * S * A + SUMMARY_STATE_BYTES * S
        if self.q:
            need += SUMMARY_VALUE_BYTES * S * A
        if self.method in ("evaluate-random", "policy-iteration"):
            # the linear Bellman system: dense up to DENSE_LIMIT states; beyond, the sparse LU
            # of a random MDP fills in to about dense (measured: 0.9 GB for 10,000 states)
            need += 8 * S * S * (3 if S <= dp.DENSE_LIMIT else 1)
        if self.method == "backward-induction":
            steps = self.steps() + 1
            need += steps * S * (17 * A + 8)  # v, q and the optimal-action masks of every k
            if self.q:
                need += SUMMARY_VALUE_BYTES * steps * S
        return float(need)

    def steps(self) -> int:
        """H of backward induction: --horizon, or with --example file the file's "horizon" when
        it has one and --horizon is not given."""
        if self.example == "file" and not was_given(self, "horizon"):
            assert self.file is not None
            return _file_sizes(self.file)[3] or self.horizon
        return self.horizon

    def _plan(self) -> str:
        S, A, outcomes = self.sizes()
        plan = f"{self.method} on {S:,} states x {A:,} actions ({outcomes:,} outcomes"
        if self.method == "backward-induction":
            plan += f", horizon {self.steps():,}"
        return plan + ")"

    def _largest_size(self) -> str:
        """The size option furthest above its default: the one a memory refusal names."""
        grown = {}
        # a file's own horizon (--horizon not given): the file is what to change
        if self.method == "backward-induction" and (
            self.example != "file" or was_given(self, "horizon")
        ):
            grown["horizon"] = self.steps() / 10
        if self.example == "random":
            grown |= {"states": self.states / 20, "actions": self.actions / 3}
            grown["successors"] = self.successors / 3
        return max(
            grown, key=grown.__getitem__, default="file" if self.example == "file" else "example"
        )

    def build(self) -> MDP:
        """The MDP this config names; truncated after ``horizon`` steps for backward induction
        (so gamma = 1 is allowed on a continuing task)."""
        horizon = self.horizon if self.method == "backward-induction" else None
        if self.example == "file":
            assert self.file is not None
            if horizon is None:
                mdp = read_mdp(self.file, gamma=self.gamma)
                if mdp.horizon is not None:
                    raise UserError(
                        f'{self.file}: the task is truncated after "horizon" {mdp.horizon:,} '
                        "steps, so its values depend on the steps left: solve it with --method "
                        "backward-induction"
                    )
                return mdp
            if was_given(self, "horizon"):  # it replaces the file's, as --gamma does
                return read_mdp(self.file, gamma=self.gamma, horizon=self.horizon)
            return read_mdp(self.file, gamma=self.gamma, default_horizon=self.horizon)
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
        if self.map is not None:
            return example(self.example, self.gamma, horizon, map_name=self.map)
        return example(self.example, self.gamma, horizon)


def _file_sizes(path: Path) -> tuple[int, int, int, int | None]:
    """(states, actions, outcomes, horizon or None) of an MDP file, for the memory estimate before
    it is built; what is not a count here is left for :func:`rlgen.mdp.files.read_mdp` to
    explain. Read once per version of the file (the config asks several times)."""
    try:
        stat = path.stat()
    except OSError:  # missing: read_mdp_json says so
        return _read_sizes(path, None)
    return _read_sizes(path, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _read_sizes(path: Path, version: Any) -> tuple[int, int, int, int | None]:
    data = read_mdp_json(path)
    if not isinstance(data, dict):
        return 1, 1, 0, None

    def count(value: Any) -> int:
        if isinstance(value, list):
            return len(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else 1

    horizon = data.get("horizon")
    valid = isinstance(horizon, int) and not isinstance(horizon, bool) and horizon >= 1
    return (
        count(data.get("states")),
        count(data.get("actions")),
        count(data.get("outcomes")),
        horizon if valid else None,
    )


def run_solve(
    config: SolveConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Solve, write the run directory, return the summary (keys documented in the README)."""
    refuse_ignored(config)
    with Run(
        "mdp solve", config, run_dir, quiet=quiet, metrics_index="sweep", overwrite=overwrite
    ) as run:
        mdp = config.build()
        start = time.perf_counter()
        with run.progress(desc=config.method, unit="sweep") as bar:

            def log(k: int, change: float) -> None:
                run.metrics.log(k, {"max_change": change})
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
            "horizon": mdp.horizon if config.method == "backward-induction" else None,
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
        written = run.finish(summary)
        plot_solve(run.path)
        return written


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
        assert mdp.horizon is not None
        fh = dp.backward_induction(mdp, mdp.horizon)
        for k in range(1, fh.horizon + 1):
            log(k, float(np.max(np.abs(fh.v[k] - fh.v[k - 1]))))
        return {
            "v": fh.v[-1],
            "q": fh.q[-1],
            "actions": fh.optimal_actions[-1],
            "iterations": fh.horizon,
            "extra": {"values_by_steps_to_go": fh.v if config.q else None},
        }
    if config.method == "value-iteration":
        sol = dp.value_iteration(mdp, tol=config.tol, max_sweeps=config.max_sweeps, callback=log)
    else:
        sol = dp.policy_iteration(mdp, max_iterations=config.max_sweeps, callback=log)
    return {"v": sol.v, "q": sol.q, "actions": sol.optimal_actions, "iterations": sol.iterations}


def plot_solve(run_dir: str | Path) -> list[Path]:
    """Redraw ``values.png`` (from ``summary.json``) and ``sweeps.png`` (from ``metrics.csv``;
    only when the method sweeps)."""
    run_dir = Path(run_dir)
    s = read_json(run_dir / "summary.json")
    values = np.asarray(s["values"], dtype=float)
    names = list(s["action_names"])
    actions = np.zeros((s["states"], s["actions"]), dtype=bool)
    for state, chosen in enumerate(s["greedy_actions"]):
        actions[state, [names.index(a) for a in chosen]] = True
    terminal = np.zeros(s["states"], dtype=bool)
    terminal[s["terminal_states"]] = True
    grid = s["values_grid"]
    evaluation = s["method"] == "evaluate-random"
    what = "random policy" if evaluation else s["method"]
    drawn = [
        plot_solution(
            run_dir / "values.png",
            values,
            actions,
            grid=(len(grid), len(grid[0])) if grid else None,
            terminal=terminal,
            action_names=names,
            title=f"{s['name']}, γ = {number_text(s['gamma'])}: {what}",
            actions_title="greedy actions (all ties)"
            if evaluation
            else "optimal actions (all ties)",
            decimals=1 if np.abs(values).max() < 1000 else 0,
        )
    ]
    if s["iterations"]:
        cols = metrics_columns(run_dir / "metrics.csv")
        drawn.append(
            plot_sweeps(
                run_dir / "sweeps.png",
                cols["sweep"],
                cols["max_change"],
                title="convergence",
                xlabel="sweep / iteration / steps to go",
            )
        )
    return drawn


def describe_solve(summary: dict) -> str:
    """The values (as a grid when the task is one) and the count of tied optimal actions."""
    lines = [
        f"{summary['name']} (γ = {number_text(summary['gamma'])}), {summary['method']}: "
        f"{summary['iterations']} sweeps/iterations, start value {summary['start_value']:.4g}"
    ]
    grid = summary.get("values_grid")
    if grid and len(grid[0]) <= 12:
        lines += ["  " + " ".join(f"{x:7.2f}" for x in row) for row in grid]
    kind = "optimal" if summary["optimal"] else "greedy"
    lines.append(f"states with more than one {kind} action: {summary['states_with_ties']}")
    return "\n".join(lines)


SOLVE = Command(SolveConfig, run_solve, describe_solve)


# ---------------------------------------------------------------------------------------------
# rlgen mdp pg-check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PGCheckConfig:
    """Check the policy gradient theorem exactly (autograd through the exact values) and
    REINFORCE's unbiasedness and baseline variance reduction against it (S&B section 13.2)."""

    example: Literal["random", "gridworld-4.1", "gridworld-3.5", "file"] = "random"
    """the MDP: a random episodic MDP (sizes below), a book gridworld, or a file (--file)"""
    policy: tuple[Literal["tabular", "neural"], ...] = ("tabular", "neural")
    """softmax policies to check: tabular (one logit per state and action), neural (an MLP from
    the one-hot state to the logits)"""
    states: int = 8
    """random MDP: number of states, >= 2 (the last --terminals of them terminal)"""
    actions: int = 3
    """random MDP: number of actions, >= 2 (over one action a policy has nothing to choose)"""
    successors: int = 3
    """random MDP: successor states per (state, action), >= 1"""
    terminals: int = 1
    """random MDP: terminal states, >= 1 (the theorem's episodic setting)"""
    end_prob: float = 0.1
    """random MDP: typical probability that a step ends the episode, in (0, 1]; with gamma = 1
    at least 2e-10 (episodes of at most 2 / end-prob steps on average)"""
    reward_mean: float = -1.0
    """random MDP: mean reward of a transition (rewards ~ N(mean, 1)), in [-1e6, 1e6]; -1 is a
    cost per step as in Example 4.1, where a value baseline has a common offset to remove"""
    gamma: float = 1.0
    """discount of the random MDP in [0, 1] (the book's proof is for 1; below 1 the constant is
    the discounted episode length); the gridworlds keep their own"""
    hidden: int = 16
    """hidden units of the neural policy, >= 1"""
    scale: float = 1.0
    """scale of the random policy parameters (logits of about this size), in (0, 10] (beyond,
    the policy is deterministic to float64 and its gradient vanishes)"""
    episodes: int = 20_000
    """sampled episodes for the REINFORCE check, >= 4 (0 skips it)"""
    max_steps: int = 1000
    """truncate sampled episodes after this many steps, >= 1 (matters for gridworld-3.5, a
    continuing task: gamma^1000 is negligible)"""
    seed: int = 0
    """random seed: the MDP, the policy parameters, the baseline and the episodes"""
    file: Path | None = None
    """--example file: a JSON file of the MDP's dynamics, as for mdp solve (its own gamma; no
    horizon: the theorem is checked on the untruncated task)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("example", self.example, PG_EXAMPLES)
        if self.example == "file" and self.file is None:
            raise UserError("--example file needs --file PATH, a JSON file of the MDP's dynamics")
        if not self.policy:
            raise UserError(f"--policy: give at least one of {', '.join(POLICIES)}")
        for kind in self.policy:
            check_choice("policy", kind, POLICIES)
        check_range("states", self.states, 2)
        check_range("actions", self.actions, 2)
        check_range("successors", self.successors, 1)
        check_range("terminals", self.terminals, 1, self.states - 1)
        check_range("end_prob", self.end_prob, 0, 1, low_open=True)
        check_range("reward_mean", self.reward_mean, -1e6, 1e6)
        check_range("gamma", self.gamma, 0, 1)
        check_range("hidden", self.hidden, 1)
        check_range("scale", self.scale, 0, 10, low_open=True)
        check_range("max_steps", self.max_steps, 1)
        if self.episodes != 0:
            check_range("episodes", self.episodes, 4)
        _check_seed(self.seed)
        if self.example == "random" and self.gamma == 1.0:
            _check_ends(self.end_prob, " or --gamma below 1")
        S, A = self.sizes()
        grown = {"episodes": self.episodes / 20_000, "hidden": self.hidden / 16}
        if self.example == "random":
            grown |= {"states": self.states / 8, "actions": self.actions / 3}
        check_memory(
            max(grown, key=grown.__getitem__),
            self.memory_bytes(),
            f"pg-check on {S:,} states x {A:,} actions ({self.hidden:,} hidden units) with "
            f"{self.episodes:,} episodes",
        )

    def ignored(self) -> dict[str, str]:
        """The options that this --example, --policy or --episodes ignores, each with why."""
        ignored = _random_only(self.example, (*RANDOM_MDP_OPTIONS, "reward_mean", "gamma"))
        if self.example != "file":
            ignored["file"] = (
                f"is for --example file only: --example {self.example} would ignore it"
            )
        if "neural" not in self.policy:
            ignored["hidden"] = (
                f"sizes the neural policy: --policy {' '.join(self.policy)} would ignore it"
            )
        if self.episodes == 0:
            ignored["max_steps"] = (
                "truncates REINFORCE's sampled episodes: --episodes 0 samples none"
            )
        return ignored

    def sizes(self) -> tuple[int, int]:
        """(states, actions) of the MDP, without building it."""
        if self.example == "random":
            return self.states, self.actions
        if self.example == "file":
            assert self.file is not None
            return _file_sizes(self.file)[:2]
        return SIZES[self.example]

    def parameters(self, kind: str) -> int:
        """The number of parameters of a ``kind`` policy."""
        S, A = self.sizes()
        return S * A if kind == "tabular" else S * self.hidden + self.hidden + self.hidden * A + A

    def memory_bytes(self) -> float:
        """An estimate of the memory the run needs, from the sizes (bytes); the sampled steps
        are checked once the expected episode length is known (in ``check_theorem``)."""
        S, A = self.sizes()
        d = max(self.parameters(kind) for kind in self.policy)
        # dense p(s'|s,a) (built through a temporary), the S x S matrices of the differentiable
        # solve and its backward pass, the logit Jacobian (S*A, d) (its rows, then stacked)
        need = 2 * 8 * S * S * A + 8 * 8 * S * S + 2 * 8 * S * A * d
        # per episode: the logit-space estimates (S*A) and the parameter-space ones (d), with
        # and without baseline, their running sums and the standard errors' temporaries
        # (measured with tracemalloc: about 4 S*A + 4 d numbers)
        need += self.episodes * 8 * (4 * S * A + 5 * d)
        return float(need)

    def build(self) -> MDP:
        """The MDP this config names."""
        if self.example == "gridworld-4.1":
            return gridworld_4_1()
        if self.example == "gridworld-3.5":
            return gridworld_3_5()
        if self.example == "file":
            assert self.file is not None
            mdp = read_mdp(self.file, gamma_option=None)  # pg-check keeps the file's discount
            if mdp.horizon is not None:
                raise UserError(
                    f'{self.file}: "horizon" {mdp.horizon:,}: pg-check checks the theorem on the '
                    "untruncated task; leave the horizon out of the file"
                )
            if mdp.n_actions < 2:
                raise UserError(f"{self.file}: one action: a policy over it has nothing to choose")
            return mdp
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


def run_pg_check(
    config: PGCheckConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the checks, write the run directory, return the summary (keys in the README)."""
    refuse_ignored(config)
    with Run(
        "mdp pg-check",
        config,
        run_dir,
        quiet=quiet,
        metrics_index="episodes",
        overwrite=overwrite,
    ) as run:
        mdp = config.build()
        start = time.perf_counter()
        checks: list[TheoremCheck] = []
        for kind in run.progress(config.policy, desc="policies", unit="policy"):
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
            run.metrics.log_many(curves[0].error_curve[:, 0].astype(int), columns)  # type: ignore[index]
        written = run.finish(
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
        plot_pg_check(run.path)
        return written


def describe_pg_check(summary: dict) -> str:
    """One block per policy: the theorem's figures and REINFORCE's."""
    gamma = number_text(summary["gamma"])
    lines = [f"{summary['name']} (γ = {gamma}), {summary['episodes']} episodes"]
    for kind, s in summary["policies"].items():
        lines.append(
            f"  {kind:8} cosine {s['cosine']:.15f}  ratio {s['ratio']:.10g}  expected length "
            f"{s['expected_length']:.10g}  baseline change {s['baseline_change']:.2g}"
        )
        for name in ("reinforce", "reinforce_baseline"):
            e = s[name]
            if e:
                # null: a parameter no episode varied differs from the exact gradient (|z| = inf)
                z = "inf" if e["max_abs_z"] is None else f"{e['max_abs_z']:.2f}"
                lines.append(
                    f"  {'':8} {name:<19} rel. error {e['rel_error']:.3f}  max |z| "
                    f"{z} (bound {e['z_bound']:.2f})  variance {e['variance']:.4g}"
                )
        if s["variance_ratio"] is not None:
            se = s["variance_ratio_se"]
            lines.append(
                f"  {'':8} variance ratio (baseline / none) {s['variance_ratio']:.3f}"
                + (f" ± {se:.3f}" if se is not None else "")
            )
    return "\n".join(lines)


def plot_pg_check(run_dir: str | Path) -> Path:
    """Redraw ``pg_check.png``: the exact gradient against the theorem's side (left, from
    ``summary.json``), REINFORCE's error against the number of episodes (right, from
    ``metrics.csv``)."""
    plt = pyplot()

    run_dir = Path(run_dir)
    policies = read_json(run_dir / "summary.json")["policies"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for kind, s in policies.items():
        left.scatter(
            np.asarray(s["rhs"], dtype=float) * s["expected_length"],
            np.asarray(s["grad"], dtype=float),
            s=10,
            alpha=0.7,
            label=f"{kind} (cos = {s['cosine']:.12f})",
        )
    lims = left.get_xlim()
    left.plot(lims, lims, color="grey", lw=0.8, ls="--")
    left.set_xlabel("E[episode length] · Σ_s μ(s) Σ_a q(s,a) ∇π(a|s)")
    left.set_ylabel("∇J(θ) (autograd through exact v)")
    left.set_title("the policy gradient theorem", fontsize=10)
    if policies:
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


PG_CHECK = Command(PGCheckConfig, run_pg_check, describe_pg_check)


# ---------------------------------------------------------------------------------------------
# Either command's run directory
# ---------------------------------------------------------------------------------------------


def plot(run_dir: str | Path) -> list[Path]:
    """Redraw every figure of an ``mdp solve`` or ``mdp pg-check`` run directory from its files."""
    run_dir = Path(run_dir)
    saved = read_json(run_dir / "config.json")
    command = saved.get("command") if isinstance(saved, dict) else None
    if command == "mdp solve":
        return plot_solve(run_dir)
    if command == "mdp pg-check":
        return [plot_pg_check(run_dir)]
    raise UserError(f"{run_dir}: not an 'mdp solve' or 'mdp pg-check' run directory")
