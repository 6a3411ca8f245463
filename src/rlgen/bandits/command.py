"""``rlgen bandit``: compare agents on the k-armed testbed, averaged over many runs.

The config, the agent specs of ``--agent`` (``kind[:key=value,...]``), :func:`experiment` (all of
a config's agents on one testbed), the run directory (``metrics.csv``, ``summary.json``,
``bandit.png``), :func:`plot` and :func:`describe`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from rlgen.bandits.action_values import MAX_ARMS
from rlgen.bandits.agents import (
    GRADIENT_DEFAULT_ALPHA,
    KINDS,
    PARAMS,
    Agent,
    check_kind,
    check_parameter,
    simulate,
)
from rlgen.bandits.testbed import Result, true_values
from rlgen.configs import default_in_words, refuse_ignored
from rlgen.errors import UserError, check_config_types, check_memory, check_range
from rlgen.figures import pyplot, save_figure
from rlgen.files import read_json
from rlgen.metrics import metrics_columns
from rlgen.runs import MAX_SEED, Command, Run, make_rng


@dataclass(frozen=True)
class BanditConfig:
    """The k-armed testbed (Sutton & Barto section 2.3): compare agents averaged over many runs."""

    agent: tuple[str, ...] = ("eps-greedy",)
    """agents to compare: greedy, eps-greedy, ucb, gradient. Each expands over the lists below for
    the parameters it uses; an agent may fix its own instead, e.g. ucb:c=1,
    greedy:initial=5,alpha=0.1 or gradient:alpha=0.4,baseline=false"""
    epsilon: tuple[float, ...] = (0.0, 0.01, 0.1)
    """exploration probabilities of eps-greedy, each in [0, 1]"""
    alpha: Annotated[tuple[float, ...], default_in_words("none")] = ()
    """constant step sizes in (0, 1]; none given: sample averages for greedy / eps-greedy / ucb,
    and 0.1 for the gradient bandit"""
    initial: tuple[float, ...] = (0.0,)
    """initial action-value estimates Q1 (5 gives the optimistic start of Figure 2.3)"""
    c: tuple[float, ...] = (2.0,)
    """UCB's degree of exploration, each >= 0"""
    baseline: tuple[bool, ...] = (True,)
    """gradient bandit: subtract the average reward as a baseline (True, False or both)"""
    k: int = 10
    """number of arms"""
    runs: int = 2000
    """independent runs (tasks) to average over"""
    steps: int = 1000
    """steps per run"""
    true_mean: float = 0.0
    """mean of the true values q*(a) (Figure 2.5 uses 4), in [-1e6, 1e6]"""
    nonstationary: bool = False
    """start all q*(a) at --true-mean and let each take an independent random walk"""
    walk_std: float = 0.01
    """standard deviation of the random-walk increments (nonstationary testbed), in [0, 1e6]"""
    seed: int = 0
    """random seed: the same seed gives identical results"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("k", self.k, 1, MAX_ARMS)
        check_range("runs", self.runs, 1)
        check_range("steps", self.steps, 1)
        check_range("seed", self.seed, 0, MAX_SEED)
        # per run, about 16 float64 arrays over the arms (estimates, counts, q*, random draws)
        check_memory("runs", 16 * 8 * self.k * self.runs, "the simulation of this many runs")
        check_memory("steps", 4 * 8 * self.steps * len(self.agent), "the per-step records")
        # bounded so that sums of rewards over runs and steps stay finite in float64
        check_range("walk_std", self.walk_std, 0, 1e6)
        check_range("true_mean", self.true_mean, -1e6, 1e6)
        # every value of the lists, used by an agent or not; inline values are checked by the
        # same check_parameter when the agents are built below
        for name in LIST_OPTIONS:
            for value in getattr(self, name):
                check_parameter(name, value)
        if not self.agent:
            raise UserError(f"--agent: give at least one of {', '.join(KINDS)}")
        if not self.agents:
            raise UserError("--agent: an empty parameter list leaves no agent to run")

    def ignored(self) -> dict[str, str]:
        """The options this run would ignore, each with why (:func:`rlgen.configs.refuse_ignored`):
        a parameter list that no agent of --agent takes (--c without ucb), or that every agent
        taking it fixes inline (--c 1 with ucb:c=2); --walk-std on a stationary testbed."""
        ignored: dict[str, str] = {}
        for name in LIST_OPTIONS:
            takers = [spec for spec in self.agent if name in PARAMS[_kind(spec)]]
            if any(name not in _fixed(spec) for spec in takers):
                continue  # some agent reads the list
            if takers:
                ignored[name] = (
                    f": every agent that takes it fixes its own (--agent {' '.join(takers)})"
                )
            else:
                kinds = [kind for kind in KINDS if name in PARAMS[kind]]
                only = f"{kinds[0]} only" if len(kinds) == 1 else ", ".join(kinds[:-1])
                only += "" if len(kinds) == 1 else f" or {kinds[-1]}"
                ignored[name] = (
                    f"is for --agent {only}: --agent {' '.join(self.agent)} would ignore it"
                )
        if not self.nonstationary:
            ignored["walk_std"] = "is for --nonstationary only: a stationary testbed has no walk"
        return ignored

    @property
    def agents(self) -> list[Agent]:
        """The agents this config compares, in order, without duplicates."""
        out: list[Agent] = []
        for spec in self.agent:
            for agent in parse_agent(spec, self):
                if agent not in out:
                    out.append(agent)
        return out


LIST_OPTIONS = ("epsilon", "alpha", "initial", "c", "baseline")
"""the options that list values of an agent parameter (each agent taking it expands over them)"""


def _kind(spec: str) -> str:
    """The agent kind of an ``--agent`` spec."""
    return spec.partition(":")[0]


def _fixed(spec: str) -> set[str]:
    """The parameters an ``--agent`` spec fixes inline (``ucb:c=1`` -> ``{"c"}``)."""
    rest = spec.partition(":")[2]
    return {item.partition("=")[0].strip() for item in filter(None, rest.split(","))}


def parse_agent(spec: str, config: BanditConfig) -> list[Agent]:
    """``kind[:key=value,...]`` -> the agents it stands for (a product over unfixed lists).

    Only the syntax is read here; each :class:`Agent` checks its values, as for the plain
    options.
    """
    kind, _, rest = spec.partition(":")
    check_kind(kind)
    fixed: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in PARAMS[kind]:
            allowed = ", ".join(PARAMS[kind])
            raise UserError(f"--agent {spec}: {kind} takes {allowed} (as key=value), not {item!r}")
        if key in fixed:
            raise UserError(f"--agent {spec}: {key} is given twice")
        fixed[key] = _parse_value(spec, key, value.strip())
    choices: dict[str, list[Any]] = {
        "epsilon": list(config.epsilon),
        "alpha": list(config.alpha) or [GRADIENT_DEFAULT_ALPHA if kind == "gradient" else None],
        "initial": list(config.initial),
        "c": list(config.c),
        "baseline": list(config.baseline),
    }
    names = PARAMS[kind]
    values = [[fixed[p]] if p in fixed else choices[p] for p in names]
    try:
        return [Agent(kind, **dict(zip(names, v, strict=True))) for v in itertools.product(*values)]
    except UserError as error:
        if not fixed:
            raise
        raise UserError(f"--agent {spec}: {error}") from None


def _parse_value(spec: str, key: str, text: str) -> Any:
    if key == "baseline":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise UserError(f"--agent {spec}: baseline must be true or false, got {text!r}")
    try:
        return float(text)
    except ValueError:
        raise UserError(f"--agent {spec}: {key} must be a number, got {text!r}") from None


def experiment(config: BanditConfig, *, progress: Any = None) -> list[Result]:
    """All of the config's agents on one testbed.

    Every agent faces the same tasks (common random numbers make the comparison sharper) and has
    its own random stream for actions and rewards, so adding an agent changes no other agent.
    ``progress``, if given, is a bar whose ``update(n)`` is called as steps complete.
    """
    root = np.random.SeedSequence(config.seed)
    tasks_seed, *agent_seeds = root.spawn(1 + len(config.agents))
    q_star = true_values(
        config.runs,
        config.k,
        make_rng(tasks_seed),
        true_mean=config.true_mean,
        nonstationary=config.nonstationary,
    )
    walk = config.walk_std if config.nonstationary else 0.0
    on_progress = progress.update if progress is not None else None
    return [
        simulate(
            agent, q_star, config.steps, make_rng(seed), walk_std=walk, on_progress=on_progress
        )
        for agent, seed in zip(config.agents, agent_seeds, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# Run directory, summary and figure
# ---------------------------------------------------------------------------------------------


def run(
    config: BanditConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the comparison, write the run directory, return the summary (see README)."""
    refuse_ignored(config)
    with Run("bandit", config, run_dir, quiet=quiet, overwrite=overwrite) as out:
        start = time.perf_counter()
        total = len(config.agents) * config.steps
        with out.progress(total=total, desc="bandit", unit="step") as bar:
            results = experiment(config, progress=bar)
        return save(out, config, results, seconds=time.perf_counter() - start)


def save(
    out: Run,
    config: BanditConfig,
    results: list[Result],
    *,
    seconds: float,
    title: str | None = None,
) -> dict:
    """Write metrics.csv, summary.json and the figure of an experiment into the open run ``out``.

    ``title``, if given, titles the figure and is kept in summary.json so that :func:`plot`
    redraws the same figure.
    """
    columns: dict[str, np.ndarray] = {}
    for res in results:
        columns[f"{res.agent.name}/reward"] = res.reward
        columns[f"{res.agent.name}/optimal"] = res.optimal
    out.metrics.log_many(np.arange(1, config.steps + 1), columns)
    summary: dict[str, Any] = {
        "k": config.k,
        "runs": config.runs,
        "steps": config.steps,
        "nonstationary": config.nonstationary,
        "seed": config.seed,
        "seconds": seconds,
        "agents": [res.summary() for res in results],
    }
    if title:
        summary["title"] = title
    summary = out.finish(summary)
    plot(out.path)
    return summary


def describe(summary: dict) -> str:
    """A short table of the summary for the terminal."""
    lines = [f"{'agent':<36}{'% optimal (last 100)':>22}{'reward (last 100)':>20}"]
    for a in summary["agents"]:
        lines.append(
            f"{a['name']:<36}{100 * a['optimal_last_100']:>15.1f} ± "
            f"{100 * (a['optimal_last_100_se'] or 0):<4.1f}"
            f"{a['reward_last_100']:>14.3f} ± {a['reward_last_100_se'] or 0:.3f}"
        )
    return "\n".join(lines)


def plot(run_dir: str | Path) -> Path:
    """Redraw ``bandit.png`` from ``metrics.csv`` and ``summary.json`` alone: average reward and
    % optimal action per step, one line per agent (like Figure 2.2)."""
    plt = pyplot()

    run_dir = Path(run_dir)
    cols = metrics_columns(run_dir / "metrics.csv")
    summary = read_json(run_dir / "summary.json")
    steps = cols.pop("step")
    names = [c.removesuffix("/reward") for c in cols if c.endswith("/reward")]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    for name in names:
        top.plot(steps, cols[f"{name}/reward"], lw=1, label=label(name))
        bottom.plot(steps, 100 * cols[f"{name}/optimal"], lw=1, label=label(name))
    top.set_ylabel("Average reward")
    bottom.set_ylabel("% Optimal action")
    bottom.set_xlabel("Steps")
    bottom.set_ylim(0, 100)
    top.legend(frameon=False, fontsize=9)
    if summary.get("title"):
        top.set_title(summary["title"])
    return save_figure(fig, run_dir / "bandit.png")


def label(name: str) -> str:
    """An agent's name with the book's symbols: eps-greedy(epsilon=0.1) -> ε-greedy(ε=0.1)."""
    if name.startswith("eps-greedy(epsilon=0)") or name.startswith("eps-greedy(epsilon=0,"):
        name = "greedy (" + name.removeprefix("eps-greedy(")  # the book's name for ε = 0
    for plain, symbol in (
        ("eps-", "ε-"),
        ("epsilon=", "ε="),
        ("alpha=", "α="),
        ("initial=", "Q1="),
    ):
        name = name.replace(plain, symbol)
    return name


COMMAND = Command(BanditConfig, run, describe)
