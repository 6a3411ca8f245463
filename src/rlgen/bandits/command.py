"""The k-armed bandit testbed and its agents (Sutton & Barto, chapter 2), vectorised over runs.

The testbed of section 2.3: each run is a task with true action values q*(a) ~ N(mean, 1); pulling
arm a gives a reward ~ N(q*(a), 1). An agent's behaviour is averaged over many runs, each an
independent task. The simulation holds every run at once, arrays of shape ``(k, runs)`` (arms on
the leading axis) or ``(runs,)``: one NumPy operation advances all runs by one step, so 2000 runs
cost little more than one.

Agents (``--agent``):

- ``greedy`` / ``eps-greedy``: action-value estimates Q(a) by sample averages (incremental update
  Q <- Q + (R - Q) / N, eq. 2.3) or a constant step size alpha (eq. 2.5), optimistic initial
  values Q1 (section 2.6), the greedy action with ties broken at random, a random action with
  probability epsilon.
- ``ucb``: A = argmax_a Q(a) + c sqrt(ln t / N(a)); an arm never tried is a maximising arm
  (eq. 2.10).
- ``gradient``: preferences H(a), policy pi = softmax(H), stochastic gradient ascent on the
  expected reward with or without the average-reward baseline (eq. 2.12).

A nonstationary testbed (exercise 2.5) starts all q*(a) equal and lets each take an independent
random walk N(0, walk_std^2) per step, which shows why a constant step size matters.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import UserError, check_range
from rlgen.figures import pyplot, save_figure
from rlgen.runs import Command, Run, make_rng, metrics_columns

KINDS = ("greedy", "eps-greedy", "ucb", "gradient")
# Which parameters each agent kind reads; anything else given to it is an error.
PARAMS: dict[str, tuple[str, ...]] = {
    "greedy": ("alpha", "initial"),
    "eps-greedy": ("epsilon", "alpha", "initial"),
    "ucb": ("c", "alpha", "initial"),
    "gradient": ("alpha", "baseline"),
}
GRADIENT_DEFAULT_ALPHA = 0.1


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    """One agent of the comparison; ``alpha=None`` means sample averages."""

    kind: str
    epsilon: float = 0.0
    alpha: float | None = None
    initial: float = 0.0
    c: float = 2.0
    baseline: bool = True

    @property
    def name(self) -> str:
        """A stable, readable name, e.g. ``eps-greedy(epsilon=0.1)`` or ``ucb(c=2)``."""
        parts = []
        for p in PARAMS[self.kind]:
            value = getattr(self, p)
            if (p == "alpha" and value is None) or (p == "initial" and value == 0.0):
                continue
            parts.append(f"{p}={value:g}" if isinstance(value, float) else f"{p}={value}")
        return f"{self.kind}({', '.join(parts)})" if parts else self.kind


@dataclass(frozen=True)
class BanditConfig:
    """The k-armed testbed (Sutton & Barto section 2.3): compare agents averaged over many runs."""

    agent: tuple[str, ...] = ("eps-greedy",)
    """agents to compare: greedy, eps-greedy, ucb, gradient. Each expands over the lists below for
    the parameters it uses; an agent may fix its own instead, e.g. ucb:c=1,
    greedy:initial=5,alpha=0.1 or gradient:alpha=0.4,baseline=false"""
    epsilon: tuple[float, ...] = (0.0, 0.01, 0.1)
    """exploration probabilities of eps-greedy, each in [0, 1]"""
    alpha: tuple[float, ...] = ()
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
    """mean of the true values q*(a) (Figure 2.5 uses 4)"""
    nonstationary: bool = False
    """start all q*(a) at --true-mean and let each take an independent random walk"""
    walk_std: float = 0.01
    """standard deviation of the random-walk increments (nonstationary testbed)"""
    seed: int = 0
    """random seed: the same seed gives identical results"""

    def __post_init__(self) -> None:
        check_range("k", self.k, 1, MAX_ARMS)
        check_range("runs", self.runs, 1)
        check_range("steps", self.steps, 1)
        check_range("walk_std", self.walk_std, 0)
        for e in self.epsilon:
            check_range("epsilon", e, 0, 1)
        for a in self.alpha:
            check_range("alpha", a, 0, 1, low_open=True)
        for c in self.c:
            check_range("c", c, 0)
        for value in (*self.initial, self.true_mean):
            if not math.isfinite(value):
                raise UserError(f"--initial and --true-mean must be finite numbers, got {value}")
        if not self.agent:
            raise UserError(f"--agent: give at least one of {', '.join(KINDS)}")
        if not self.agents:
            raise UserError("--agent: an empty parameter list leaves no agent to run")

    @property
    def agents(self) -> list[Agent]:
        """The agents this config compares, in order, without duplicates."""
        out: list[Agent] = []
        for spec in self.agent:
            for agent in parse_agent(spec, self):
                if agent not in out:
                    out.append(agent)
        return out


def parse_agent(spec: str, config: BanditConfig) -> list[Agent]:
    """``kind[:key=value,...]`` -> the agents it stands for (a product over unfixed lists)."""
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise UserError(f"--agent: unknown agent {kind!r}; choose from {', '.join(KINDS)}")
    fixed: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in PARAMS[kind]:
            allowed = ", ".join(PARAMS[kind])
            raise UserError(f"--agent {spec}: {kind} takes {allowed} (as key=value), not {item!r}")
        fixed[key] = _parse_value(spec, key, value.strip())
    choices: dict[str, list[Any]] = {
        "epsilon": list(config.epsilon),
        "alpha": list(config.alpha) or [GRADIENT_DEFAULT_ALPHA if kind == "gradient" else None],
        "initial": list(config.initial),
        "c": list(config.c),
        "baseline": list(config.baseline),
    }
    agents = [Agent(kind="eps-greedy" if kind == "greedy" else kind)]
    for p in PARAMS[kind]:
        values = [fixed[p]] if p in fixed else choices[p]
        agents = [dataclasses.replace(a, **{p: v}) for a in agents for v in values]
    if kind == "greedy":  # greedy is eps-greedy with epsilon = 0, named as the book names it
        agents = [dataclasses.replace(a, kind="greedy") for a in agents]
    return agents


def _parse_value(spec: str, key: str, text: str) -> Any:
    if key == "baseline":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise UserError(f"--agent {spec}: baseline must be true or false, got {text!r}")
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--agent {spec}: {key} must be a number, got {text!r}") from None
    bounds = {"epsilon": (0, 1, False), "alpha": (0, 1, True), "c": (0, None, False)}
    if key in bounds:
        low, high, low_open = bounds[key]
        check_range(key, value, low, high, low_open=low_open)
    return value


# ---------------------------------------------------------------------------------------------
# ALGO LOGIC: one agent on the testbed, all runs at once
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """What one agent did, averaged over runs.

    Attributes:
        agent: the agent.
        reward: (steps,) mean reward at each step.
        optimal: (steps,) fraction of runs that took an optimal action at each step.
        per_run: per-run averages, each (runs,): ``reward_last``, ``reward_last_100``,
            ``reward_all``, ``optimal_last``, ``optimal_last_100``, ``optimal_all``, and
            ``greedy_is_optimal`` (whether argmax of the final estimates / preferences is an
            optimal arm).
        estimates: (runs, k) final action-value estimates Q (preferences H for the gradient
            bandit).
        pooled: for greedy / eps-greedy, over the last 100 steps of all runs: the steps on which
            the greedy arm was optimal (``greedy_optimal_steps``) and the fraction of those on
            which the action taken was optimal (``optimal_when_greedy_optimal``; 1 - eps + eps/k
            in expectation, the asymptote of section 2.3).
    """

    agent: Agent
    reward: np.ndarray
    optimal: np.ndarray
    per_run: dict[str, np.ndarray]
    estimates: np.ndarray
    pooled: dict[str, float] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Means and standard errors across runs (the ``agents`` entries of summary.json)."""
        out: dict[str, Any] = {"name": self.agent.name, "kind": self.agent.kind}
        out["params"] = {p: getattr(self.agent, p) for p in PARAMS[self.agent.kind]}
        for key, values in self.per_run.items():
            out[key] = float(values.mean())
            out[f"{key}_se"] = standard_error(values) if values.size > 1 else None
        out.update(self.pooled)
        return out


def standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of independent per-run values: std (ddof 1) / sqrt(n)."""
    return float(values.std(ddof=1) / np.sqrt(values.size))


def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Argmax over axis 0 of (k, runs) ``values``, choosing uniformly among tied maxima.

    Arms are on axis 0 because NumPy reduces over the leading axis of a small (k, runs) array
    with k whole-row operations, several times faster than over a short trailing axis. Ties are
    rare after the first steps, so only runs that have them draw random numbers.

    Returns:
        (runs,) the chosen arm of every run.
    """
    k = values.shape[0]
    best = values.max(axis=0)
    is_best = values == best  # (k, runs)
    # the arm of the maximum (the last one, if tied); int16 keeps this product small and fast
    choice = (is_best * _ARMS[:k]).max(axis=0).astype(np.intp)
    if np.count_nonzero(is_best) > values.shape[1]:
        tied = np.flatnonzero(is_best.sum(axis=0) > 1)
        keys = rng.random((k, tied.size)) * is_best[:, tied]
        choice[tied] = keys.argmax(axis=0)
    return choice


MAX_ARMS = 2**15 - 1
_ARMS = np.arange(MAX_ARMS, dtype=np.int16)[:, None]


def ucb_values(Q: np.ndarray, N: np.ndarray, t: int, c: float) -> np.ndarray:
    """Q(a) + c sqrt(ln t / N(a)) (eq. 2.10), with +inf for arms never tried (maximising arms).

    Args:
        Q: (k, runs) action-value estimates.
        N: (k, runs) how often each arm was pulled before step t.
        t: the current step, counting from 1.
        c: degree of exploration.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        bonus = c * np.sqrt(np.log(t) / N)
    return np.where(N == 0, np.inf, Q + bonus)


def simulate(
    agent: Agent,
    q_star: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    *,
    walk_std: float = 0.0,
    chunk: int = 256,
    on_progress: Callable[[int], Any] | None = None,
) -> Result:
    """Run ``agent`` on every task of the testbed for ``steps`` steps.

    Args:
        agent: the agent.
        q_star: (runs, k) true action values at step 1; not modified.
        steps: number of steps.
        rng: the generator for actions, rewards and (nonstationary) random walks.
        walk_std: standard deviation of the per-step random walk of q*; 0 is stationary.
        chunk: steps whose random numbers are drawn in one call (speed only; results depend on it,
            so it is fixed for reproducibility).
        on_progress: called with the number of steps done after each chunk (a progress bar).

    Returns:
        The per-step averages and per-run summaries of :class:`Result`.
    """
    q = np.array(q_star, dtype=float).T.copy()  # (k, runs): arms on the leading axis
    k, runs = q.shape
    if k > MAX_ARMS:
        raise UserError(f"--k must be <= {MAX_ARMS}, got {k}")
    column = np.arange(runs)  # flat index of arm a in run j is a * runs + j
    gradient = agent.kind == "gradient"
    if gradient:
        H = np.zeros((k, runs))  # preferences
        mean_reward = np.zeros(runs)  # the baseline: average reward up to and including now
    else:
        Q = np.full((k, runs), float(agent.initial))  # action-value estimates
        N = np.zeros((k, runs))  # action counts
    epsilon = agent.epsilon if agent.kind == "eps-greedy" else 0.0

    q_flat = q.ravel()  # flat views: index = arm * runs + run
    est_flat = (H if gradient else Q).ravel()
    count_flat = np.empty(0) if gradient else N.ravel()
    reward_mean = np.empty(steps)
    optimal_mean = np.empty(steps)
    reward_all = np.zeros(runs)
    optimal_all = np.zeros(runs)
    reward_window = np.zeros(runs)
    optimal_window = np.zeros(runs)
    window_start = max(steps - 100, 0)
    greedy_optimal_steps = optimal_when_greedy_optimal = 0
    q_best = q.max(axis=0)
    rewards = np.empty((0, runs))
    optimal = np.empty((0, runs), dtype=bool)
    noise = explore_arm = uniform = np.empty(0)

    for t in range(steps):
        i = t % chunk
        if i == 0:  # draw the next chunk of random numbers at once
            n = min(chunk, steps - t)
            noise = rng.standard_normal((n, runs))
            if epsilon > 0:
                # One uniform u decides both: explore when u < eps, and then u / eps is again
                # uniform on [0, 1) and picks the random arm floor(k u / eps) < k. So an entry
                # below k is "explore that arm"; k means "exploit".
                u = rng.random((n, runs))
                np.multiply(u, k / epsilon, out=u)
                explore_arm = np.minimum(u, k, out=u).astype(np.intp)
            if gradient:
                uniform = rng.random((n, runs))
            rewards = np.empty((n, runs))  # this chunk's rewards and optimal-action flags
            optimal = np.empty((n, runs), dtype=bool)

        # --- choose an action in every run
        if gradient:
            z = np.exp(H - H.max(axis=0))
            pi = z / z.sum(axis=0)  # (k, runs) softmax policy
            action = (pi.cumsum(axis=0) < uniform[i]).sum(axis=0)  # inverse-CDF sampling
            np.minimum(action, k - 1, out=action)  # guards the last bin against rounding
        elif agent.kind == "ucb":
            action = argmax_random_ties(ucb_values(Q, N, t + 1, agent.c), rng)
        else:
            greedy = argmax_random_ties(Q, rng)
            action = np.where(explore_arm[i] < k, explore_arm[i], greedy) if epsilon > 0 else greedy

        # --- the testbed answers
        index = action * runs + column
        q_taken = q_flat[index]
        reward = np.add(q_taken, noise[i], out=rewards[i])
        is_optimal = np.equal(q_taken, q_best, out=optimal[i])

        # --- learn
        if gradient:
            if agent.baseline:
                mean_reward += (reward - mean_reward) / (t + 1)
                advantage = reward - mean_reward
            else:
                advantage = reward
            step = agent.alpha * advantage  # alpha is always set for the gradient bandit
            H -= step * pi  # every arm moves against its probability ...
            est_flat[index] += step  # ... and the chosen one by (1 - pi) in total (eq. 2.12)
        else:
            count_flat[index] += 1
            estimate = est_flat[index]
            size = 1.0 / count_flat[index] if agent.alpha is None else agent.alpha
            est_flat[index] = estimate + size * (reward - estimate)

        if walk_std > 0:
            q += rng.normal(0.0, walk_std, q.shape)
            q_best = q.max(axis=0)

        # --- record, a chunk at a time
        if t >= window_start and agent.kind in ("greedy", "eps-greedy"):
            greedy_ok = q_flat[greedy * runs + column] == q_best  # was exploitation right?
            greedy_optimal_steps += greedy_ok.sum()
            optimal_when_greedy_optimal += (is_optimal & greedy_ok).sum()
        if i == len(rewards) - 1:
            first = t - i
            reward_mean[first : t + 1] = rewards.mean(axis=1)
            optimal_mean[first : t + 1] = optimal.mean(axis=1)
            reward_all += rewards.sum(axis=0)
            optimal_all += optimal.sum(axis=0)
            in_window = slice(max(window_start - first, 0), None)
            reward_window += rewards[in_window].sum(axis=0)
            optimal_window += optimal[in_window].sum(axis=0)
            if on_progress is not None:
                on_progress(len(rewards))

    final = H if gradient else Q
    greedy_is_optimal = q.ravel()[final.argmax(axis=0) * runs + column] == q_best
    window = steps - window_start
    per_run = {
        "reward_last": reward.copy(),
        "reward_last_100": reward_window / window,
        "reward_all": reward_all / steps,
        "optimal_last": is_optimal.astype(float),
        "optimal_last_100": optimal_window / window,
        "optimal_all": optimal_all / steps,
        "greedy_is_optimal": greedy_is_optimal.astype(float),
    }
    pooled = {}
    if greedy_optimal_steps:
        pooled["optimal_when_greedy_optimal"] = optimal_when_greedy_optimal / greedy_optimal_steps
        pooled["greedy_optimal_steps"] = int(greedy_optimal_steps)
    return Result(agent, reward_mean, optimal_mean, per_run, final.T.copy(), pooled)


def simulate_loop(
    agent: Agent, q_star: np.ndarray, steps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The same greedy / ε-greedy agent, one run and one step at a time.

    This is the book's pseudocode (section 2.4, "A simple bandit algorithm") in the style of the
    usual reproductions of chapter 2: a loop over runs, a loop over steps, NumPy on the k
    estimates of one run. It is the reference :func:`simulate` is tested and timed against
    (``benchmarks/bandit_speed.py``). It draws its random numbers in a different order, so it
    agrees with :func:`simulate` in distribution, not sample by sample.

    Returns:
        (steps,) mean reward and (steps,) fraction of optimal actions per step.
    """
    if agent.kind not in ("greedy", "eps-greedy"):
        raise ValueError("the loop reference covers greedy and eps-greedy agents only")
    runs, k = q_star.shape
    epsilon = agent.epsilon if agent.kind == "eps-greedy" else 0.0
    reward_sum = np.zeros(steps)
    optimal_sum = np.zeros(steps)
    for run in range(runs):
        q = q_star[run]
        best = np.argmax(q)
        Q = np.full(k, float(agent.initial))
        N = np.zeros(k)
        for t in range(steps):
            if rng.random() < epsilon:
                a = rng.integers(k)
            else:
                a = rng.choice(np.flatnonzero(Q.max() == Q))  # ties broken at random
            r = q[a] + rng.standard_normal()
            N[a] += 1
            Q[a] += (r - Q[a]) * (1.0 / N[a] if agent.alpha is None else agent.alpha)
            reward_sum[t] += r
            optimal_sum[t] += a == best
    return reward_sum / runs, optimal_sum / runs


def testbed(
    runs: int,
    k: int,
    rng: np.random.Generator,
    *,
    true_mean: float = 0.0,
    nonstationary: bool = False,
) -> np.ndarray:
    """(runs, k) true action values: N(true_mean, 1), or all equal to true_mean if nonstationary."""
    if nonstationary:
        return np.full((runs, k), float(true_mean))
    return rng.normal(true_mean, 1.0, (runs, k))


def experiment(config: BanditConfig, *, progress: Any = None) -> list[Result]:
    """All of the config's agents on one testbed.

    Every agent faces the same tasks (common random numbers make the comparison sharper) and has
    its own random stream for actions and rewards, so adding an agent changes no other agent.
    ``progress``, if given, is a bar whose ``update(n)`` is called as steps complete.
    """
    root = np.random.SeedSequence(config.seed)
    tasks_seed, *agent_seeds = root.spawn(1 + len(config.agents))
    q_star = testbed(
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
    with Run("bandit", config, run_dir, quiet=quiet, overwrite=overwrite) as r:
        start = time.perf_counter()
        total = len(config.agents) * config.steps
        with r.progress(total=total, desc="bandit", unit="step") as bar:
            results = experiment(config, progress=bar)
        return save(r, config, results, seconds=time.perf_counter() - start)


def save(
    r: Run, config: BanditConfig, results: list[Result], *, seconds: float, title: str | None = None
) -> dict:
    """Write metrics.csv, the figure and summary.json of an experiment into the open run ``r``."""
    columns: dict[str, np.ndarray] = {}
    for res in results:
        columns[f"{res.agent.name}/reward"] = res.reward
        columns[f"{res.agent.name}/optimal"] = res.optimal
    r.metrics.log_many(np.arange(1, config.steps + 1), columns)
    plot(r.path, title=title)
    return r.finish(
        {
            "k": config.k,
            "runs": config.runs,
            "steps": config.steps,
            "nonstationary": config.nonstationary,
            "seed": config.seed,
            "seconds": seconds,
            "agents": [res.summary() for res in results],
        }
    )


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


def plot(run_dir: str | Path, *, title: str | None = None) -> Path:
    """Average reward and % optimal action per step, one line per agent (like Figure 2.2)."""
    plt = pyplot()

    run_dir = Path(run_dir)
    cols = metrics_columns(run_dir / "metrics.csv")
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
    if title:
        top.set_title(title)
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
