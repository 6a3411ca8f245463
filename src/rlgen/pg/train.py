"""``rlgen reinforce``: train REINFORCE until a stop criterion is met or a step budget runs out.

One seed writes one run directory (see ``README.md`` for the summary keys)::

    config.json  metrics.csv  summary.json  checkpoint.pt  learning_curve.png

The stop criterion: every ``--eval-every`` environment steps, the policy plays ``--eval-episodes``
episodes on separate, seeded environments, greedily and by sampling; training stops when the mean
return of the ``--criterion`` policy reaches ``--threshold`` (default: the environment's reward
threshold, 475 for CartPole-v1). Wall-clock time to solve counts training only (rollouts and
updates); evaluation and checkpoints are timed separately.

``--seeds 0-9`` trains the seeds as independent jobs through :mod:`rlgen.executors` (one
subdirectory ``seed-<n>`` each) and plots the mean and 95% interval across seeds.

Checkpoints (networks, optimisers, RNG states, counters, evaluation history) are written
atomically every ``--checkpoint-every`` steps; ``--resume RUN_DIR`` continues a run killed at any
moment from its last checkpoint, keeping the metrics written up to it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from rlgen.errors import UserError, check_range, option_name
from rlgen.executors import ExecutorOptions, map_jobs
from rlgen.figures import pyplot, save_figure
from rlgen.pg.evaluate import Evaluator
from rlgen.pg.reinforce import Callback, NonFiniteLoss, Reinforce, ReinforceConfig, UpdateInfo
from rlgen.pg.rollouts import make_env
from rlgen.runs import Command, Run, load_checkpoint, metrics_columns, read_json, resolve_device

NAME = "reinforce"
CHECKPOINT = "checkpoint.pt"


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Train REINFORCE (optionally with a learned baseline) on a gymnasium environment."""

    env: str = "CartPole-v1"
    """gymnasium environment id: discrete actions, Box observations"""
    seed: int = 0
    """random seed (networks, sampling, environments); the same seed gives the same run on CPU"""
    seeds: str | None = None
    """train several seeds as independent jobs, e.g. 0-9 or 0,3,7 (overrides --seed)"""
    total_steps: int = 200_000
    """environment step budget"""
    threshold: float | None = None
    """solved when the evaluation mean return reaches this; default: the environment's reward
    threshold (475 for CartPole-v1)"""
    criterion: Literal["greedy", "sampled"] = "greedy"
    """which evaluated policy the stop criterion uses: greedy (argmax) or sampled from pi"""
    eval_every: int = 2_000
    """evaluate every this many environment steps (at the first update after each multiple)"""
    eval_episodes: int = 100
    """evaluation episodes, on separate environments seeded from --seed"""
    stop: bool = True
    """stop training once solved (--no-stop trains for the whole budget)"""
    checkpoint_every: int = 20_000
    """write checkpoint.pt every this many environment steps (and at the end)"""
    resume: Path | None = None
    """continue the run in this directory from its last checkpoint (its config.json is used)"""
    agent: Annotated[ReinforceConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ReinforceConfig
    )
    """the algorithm's hyperparameters"""
    jobs: Annotated[ExecutorOptions, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ExecutorOptions
    )
    """where the seeds of --seeds run"""

    def __post_init__(self) -> None:
        check_range("total_steps", self.total_steps, 1)
        check_range("eval_every", self.eval_every, 1)
        check_range("eval_episodes", self.eval_episodes, 1)
        check_range("checkpoint_every", self.checkpoint_every, 1)
        if self.criterion not in ("greedy", "sampled"):
            raise UserError(
                f"--criterion: unknown value {self.criterion!r}; choose from greedy, sampled"
            )
        if self.seeds is not None:
            parse_seeds(self.seeds)
        if self.resume is not None and self.seeds is not None:
            raise UserError("--resume continues one run; resume the seeds of a sweep one by one")

    @property
    def seed_list(self) -> list[int]:
        return parse_seeds(self.seeds) if self.seeds is not None else [self.seed]


def parse_seeds(text: str) -> list[int]:
    """``0-9`` -> [0, ..., 9]; ``0,3,7`` -> [0, 3, 7]; both forms can be mixed: ``0-2,5``."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, dash, high = part.partition("-")
            if dash and low:
                a, b = int(low), int(high)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise UserError(
            f"--seeds: expected a range like 0-9 or a list like 0,3,7, got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: give distinct seeds, e.g. 0-9, got {text!r}")
    return seeds


def config_from_json(data: dict[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` saved in a run's ``config.json``."""
    data = dict(data)
    agent = dict(data.pop("agent"))
    agent["hidden"] = tuple(agent["hidden"])
    jobs = data.pop("jobs")
    if data.get("resume") is not None:
        data["resume"] = Path(data["resume"])
    return TrainConfig(agent=ReinforceConfig(**agent), jobs=ExecutorOptions(**jobs), **data)


def reward_threshold(env: str, threshold: float | None) -> float:
    """``--threshold`` or the environment's registered reward threshold."""
    if threshold is not None:
        return threshold
    import gymnasium as gym

    try:
        spec = gym.spec(env)
    except gym.error.Error as e:
        raise UserError(f"--env {env}: {e}") from None
    if spec.reward_threshold is None:
        raise UserError(f"--env {env} has no registered reward threshold; give --threshold")
    return float(spec.reward_threshold)


# ---------------------------------------------------------------------------------------------
# Callbacks: metrics, evaluation and stop criterion, checkpoints
# ---------------------------------------------------------------------------------------------


class RunCallback(Callback):
    """Logs each update, evaluates on schedule (stopping when solved) and writes checkpoints."""

    def __init__(self, run: Run, config: TrainConfig, evaluator: Evaluator, progress: Any) -> None:
        self.run = run
        self.config = config
        self.evaluator = evaluator
        self.progress = progress
        self.next_checkpoint = config.checkpoint_every
        self.checkpoint_seconds = 0.0

    def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
        self.run.metrics.log(info.env_steps, info.metrics())
        keep_going = True
        if self.evaluator.due(info.env_steps):
            record = self.evaluate(model, info)
            keep_going = not (record["solved"] and self.config.stop)
            if self.progress is not None:
                self.progress.set_postfix(
                    greedy=f"{record['return_greedy']:.0f}",
                    sampled=f"{record['return_sampled']:.0f}",
                )
        if info.env_steps >= self.next_checkpoint:
            while self.next_checkpoint <= info.env_steps:
                self.next_checkpoint += self.config.checkpoint_every
            self.save(model, restart=True)
        return keep_going

    def evaluate(self, model: Reinforce, info: UpdateInfo | None) -> dict[str, Any]:
        c = model.counters
        record = self.evaluator.evaluate(
            greedy=model.act_fn(True),
            sampled=model.act_fn(False, self.evaluator.sampling_rng()),
            env_steps=c.env_steps,
            episodes=c.episodes,
            train_seconds=c.train_seconds,
        )
        self.run.metrics.log(c.env_steps, self.evaluator.metrics(record))
        return record

    def save(self, model: Reinforce, *, restart: bool) -> None:
        start = time.perf_counter()
        model.counters.extra = {"checkpoint_seconds": self.checkpoint_seconds}
        state_path = self.run.path / CHECKPOINT
        if restart:
            model.restart_envs()
        state = model.state_dict()
        state["evaluator"] = self.evaluator.state_dict()
        state["next_checkpoint"] = self.next_checkpoint
        from rlgen.runs import save_checkpoint

        save_checkpoint(state_path, state)
        self.checkpoint_seconds += time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# One seed
# ---------------------------------------------------------------------------------------------


def train_one(
    config: TrainConfig, run_dir: str | Path, *, quiet: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Train one seed into ``run_dir`` (or continue it, with ``config.resume``)."""
    import torch

    torch.set_num_threads(1)  # tiny networks: threads cost more than they bring
    run_dir = Path(run_dir)
    resuming = config.resume is not None and (run_dir / CHECKPOINT).is_file()
    threshold = reward_threshold(config.env, config.threshold)
    device = resolve_device(config.agent.device)
    agent_config = dataclasses.replace(config.agent, device=device)
    evaluator = Evaluator(
        config.env,
        episodes=config.eval_episodes,
        seed=config.seed,
        threshold=threshold,
        criterion=config.criterion,
        every=config.eval_every,
    )
    wall_start = time.perf_counter()
    with Run(
        NAME, config, run_dir, quiet=quiet, device=device, resume=resuming, overwrite=overwrite
    ) as r:
        model = Reinforce(config.env, agent_config, seed=config.seed)
        with r.progress(
            total=config.total_steps, desc=f"reinforce s{config.seed}", unit="step"
        ) as bar:
            callback = RunCallback(r, config, evaluator, bar)
            if resuming:
                state = load_checkpoint(run_dir / CHECKPOINT)
                model.load_state_dict(state)
                evaluator.load_state_dict(state["evaluator"])
                callback.next_checkpoint = int(state["next_checkpoint"])
                callback.checkpoint_seconds = float(
                    model.counters.extra.get("checkpoint_seconds", 0)
                )
                r.metrics.truncate_after(model.counters.env_steps)
                bar.update(model.counters.env_steps)
            else:
                callback.save(model, restart=True)  # a checkpoint to resume from, at step 0
            status = "finished"
            error = None
            try:
                if not (evaluator.solved and config.stop):
                    model.learn(config.total_steps, callback, progress=bar)
            except NonFiniteLoss as e:
                status, error = "non-finite loss", str(e)
        if error is None:
            c = model.counters
            last = evaluator.history[-1]["env_steps"] if evaluator.history else -1
            if last != c.env_steps and c.updates > 0:
                callback.evaluate(model, None)  # the final evaluation
            callback.save(model, restart=False)
        summary = make_summary(config, model, evaluator, threshold, status, error, callback)
        summary["wall_seconds"] = time.perf_counter() - wall_start
        plot(r.path, threshold=threshold)
        written = r.finish(summary)
    model.close()
    if error is not None:
        raise NonFiniteLoss(error)
    return written


def make_summary(
    config: TrainConfig,
    model: Reinforce,
    evaluator: Evaluator,
    threshold: float,
    status: str,
    error: str | None,
    callback: RunCallback,
) -> dict[str, Any]:
    c = model.counters
    final = evaluator.history[-1] if evaluator.history else None
    solve = evaluator.solved_at
    return {
        "env": config.env,
        "seed": config.seed,
        "baseline": config.agent.baseline,
        "status": status,
        "error": error,
        "solved": solve is not None,
        "threshold": threshold,
        "criterion": config.criterion,
        "eval_episodes": config.eval_episodes,
        "steps_to_solve": solve["env_steps"] if solve else None,
        "episodes_to_solve": solve["episodes"] if solve else None,
        "seconds_to_solve": solve["train_seconds"] if solve else None,
        "env_steps": c.env_steps,
        "episodes": c.episodes,
        "updates": c.updates,
        "train_seconds": c.train_seconds,
        "eval_seconds": evaluator.seconds,
        "evaluations": len(evaluator.history),
        "checkpoint_seconds": callback.checkpoint_seconds,
        "final_return_greedy": final["return_greedy"] if final else None,
        "final_return_sampled": final["return_sampled"] if final else None,
        "final_return_greedy_std": final["return_greedy_std"] if final else None,
        "final_return_sampled_std": final["return_sampled_std"] if final else None,
        "best_return": evaluator.best,
    }


# ---------------------------------------------------------------------------------------------
# The command: one seed or a sweep
# ---------------------------------------------------------------------------------------------


def run(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """``rlgen reinforce``: one seed into ``run_dir``, or ``--seeds`` into ``run_dir/seed-<n>``."""
    if config.resume is not None:
        if run_dir is not None and Path(run_dir).resolve() != config.resume.resolve():
            raise UserError("--resume continues the run in its own directory; leave out --out")
        return resume(config, quiet=quiet)
    make_env(config.env).close()  # unknown ids and unsupported spaces fail here, once
    run_dir = Path(run_dir) if run_dir is not None else None
    if config.seeds is None:
        if run_dir is None:
            from rlgen.runs import default_run_dir

            run_dir = default_run_dir(NAME, config.seed)
        return train_one(config, run_dir, quiet=quiet, overwrite=overwrite)
    return sweep(config, run_dir, quiet=quiet, overwrite=overwrite)


def resume(config: TrainConfig, *, quiet: bool = False) -> dict:
    """Continue the run in ``config.resume`` with the config saved there."""
    assert config.resume is not None
    run_dir = config.resume
    ignored = _changed_options(config)
    if ignored:
        raise UserError(
            f"--resume continues with the config saved in {run_dir}; leave out "
            f"{', '.join(ignored)} (they would be ignored)"
        )
    saved = read_json(run_dir / "config.json")
    if saved.get("command") != NAME:
        raise UserError(f"--resume {run_dir}: not a '{NAME}' run directory")
    original = config_from_json(saved["config"])
    if original.seeds is not None:
        raise UserError(f"--resume {run_dir}: a sweep; resume one of its seed-<n> directories")
    return train_one(dataclasses.replace(original, resume=run_dir), run_dir, quiet=quiet)


def _changed_options(config: TrainConfig) -> list[str]:
    """The options of ``config`` (other than --resume) that differ from their defaults."""
    default = TrainConfig()
    changed = []
    for f in dataclasses.fields(TrainConfig):
        value, base = getattr(config, f.name), getattr(default, f.name)
        if f.name == "resume" or value == base:
            continue
        if dataclasses.is_dataclass(value):
            changed += [
                option_name(g.name)
                for g in dataclasses.fields(value)
                if getattr(value, g.name) != getattr(base, g.name)
            ]
        else:
            changed.append(option_name(f.name))
    return changed


def train_job(job: tuple[TrainConfig, str]) -> dict[str, Any]:
    """One seed of a sweep, ``(config, run_dir)`` -> its summary; a seed whose loss became
    non-finite returns the summary written for it (unsolved) instead of aborting the sweep."""
    config, run_dir = job
    try:
        return train_one(config, run_dir, quiet=True)
    except NonFiniteLoss:
        return read_json(Path(run_dir) / "summary.json")


def sweep(
    config: TrainConfig, run_dir: Path | None, *, quiet: bool = False, overwrite: bool = False
) -> dict:
    """Each seed as an independent job; aggregate summary and mean / 95% interval figure."""
    seeds = config.seed_list
    device = resolve_device(config.agent.device)
    with Run(
        NAME,
        config,
        run_dir,
        quiet=quiet,
        device=device,
        metrics_index="seed",
        tensorboard=False,
        overwrite=overwrite,
    ) as r:
        jobs = [
            (dataclasses.replace(config, seed=s, seeds=None), str(r.path / f"seed-{s}"))
            for s in seeds
        ]
        start = time.perf_counter()
        summaries = map_jobs(train_job, jobs, config.jobs, desc="seeds", quiet=quiet)
        for s in summaries:
            r.metrics.log(
                s["seed"],
                {
                    k: float(s[k]) if s[k] is not None else math.nan
                    for k in (
                        "solved",
                        "steps_to_solve",
                        "episodes_to_solve",
                        "seconds_to_solve",
                        "final_return_greedy",
                        "final_return_sampled",
                    )
                },
            )
        plot_seeds(r.path, [Path(j[1]) for j in jobs], threshold=summaries[0]["threshold"])
        return r.finish(aggregate(config, summaries, time.perf_counter() - start))


def aggregate(config: TrainConfig, summaries: list[dict], seconds: float) -> dict[str, Any]:
    """The sweep's summary: success rate and medians over the seeds that solved."""
    solved = [s for s in summaries if s["solved"]]

    def median(key: str) -> float | None:
        return float(np.median([s[key] for s in solved])) if solved else None

    return {
        "env": config.env,
        "baseline": config.agent.baseline,
        "seeds": [s["seed"] for s in summaries],
        "threshold": summaries[0]["threshold"],
        "criterion": config.criterion,
        "solved": len(solved),
        "success_rate": len(solved) / len(summaries),
        "median_steps_to_solve": median("steps_to_solve"),
        "median_episodes_to_solve": median("episodes_to_solve"),
        "median_seconds_to_solve": median("seconds_to_solve"),
        "executor": config.jobs.executor,
        "wall_seconds": seconds,
        "runs": [
            {
                k: s[k]
                for k in (
                    "seed",
                    "status",
                    "solved",
                    "steps_to_solve",
                    "episodes_to_solve",
                    "seconds_to_solve",
                    "eval_seconds",
                    "final_return_greedy",
                    "final_return_sampled",
                )
            }
            for s in summaries
        ],
    }


def describe(summary: dict) -> str:
    """A few lines for the terminal."""
    if "runs" in summary:
        lines = [
            f"{summary['env']} ({'with' if summary['baseline'] else 'no'} baseline): solved "
            f"{summary['solved']} of {len(summary['runs'])} seeds"
        ]
        if summary["solved"]:
            lines.append(
                f"median to solve: {summary['median_steps_to_solve']:.0f} env steps, "
                f"{summary['median_episodes_to_solve']:.0f} episodes, "
                f"{summary['median_seconds_to_solve']:.2f} s of training"
            )
        return "\n".join(lines)
    kind = "with" if summary["baseline"] else "no"
    head = f"{summary['env']} seed {summary['seed']} ({kind} baseline): "
    if summary["solved"]:
        head += (
            f"solved ({summary['criterion']} evaluation >= {summary['threshold']:g}) after "
            f"{summary['steps_to_solve']} env steps, {summary['episodes_to_solve']} episodes, "
            f"{summary['seconds_to_solve']:.2f} s of training "
            f"(+ {summary['eval_seconds']:.2f} s evaluating)"
        )
    else:
        head += f"not solved in {summary['env_steps']} env steps ({summary['status']})"
    if summary["final_return_greedy"] is not None:
        head += (
            f"\nfinal evaluation over {summary['eval_episodes']} episodes: greedy "
            f"{summary['final_return_greedy']:.1f}, sampled {summary['final_return_sampled']:.1f}"
        )
    return head


# ---------------------------------------------------------------------------------------------
# Figures from saved metrics
# ---------------------------------------------------------------------------------------------


def plot(run_dir: str | Path, *, threshold: float | None = None) -> Path:
    """``learning_curve.png``: training episode returns per update and the evaluation points."""
    plt = pyplot()

    run_dir = Path(run_dir)
    cols = metrics_columns(run_dir / "metrics.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    if "train/episode_return" in cols:
        m = ~np.isnan(cols["train/episode_return"])
        ax.plot(
            cols["step"][m],
            cols["train/episode_return"][m],
            lw=1,
            alpha=0.7,
            label="training episodes (mean per update)",
        )
    for key, style, name in (
        ("eval/return_greedy", "o-", "evaluation, greedy"),
        ("eval/return_sampled", "s--", "evaluation, sampled"),
    ):
        if key in cols:
            m = ~np.isnan(cols[key])
            ax.plot(cols["step"][m], cols[key][m], style, ms=3, lw=1, label=name)
    if threshold is not None:
        ax.axhline(threshold, color="grey", lw=0.8, ls=":", label=f"threshold {threshold:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, run_dir / "learning_curve.png", dpi=110)


def curves(run_dirs: list[Path], key: str, grid: np.ndarray) -> np.ndarray:
    """(runs, len(grid)) ``key`` of each run's metrics, carried forward onto a common step grid.

    A run that stopped early (solved) keeps its last value: the curve shows what its policy does.
    """
    out = np.full((len(run_dirs), grid.size), np.nan)
    for i, d in enumerate(run_dirs):
        cols = metrics_columns(d / "metrics.csv")
        if key not in cols:
            continue
        m = ~np.isnan(cols[key])
        steps, values = cols["step"][m], cols[key][m]
        if steps.size == 0:
            continue
        idx = np.searchsorted(steps, grid, side="right") - 1
        out[i] = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)
    return out


def mean_interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and half-widths of the 95% t-interval of the mean (NaNs ignored)."""
    import warnings

    from scipy import stats

    n = np.sum(~np.isnan(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with fewer than two values
        mean = np.nanmean(values, axis=0)  # NaN where no run has a value yet
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1])
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    return mean, np.where(n > 1, half, np.nan)


def plot_seeds(
    out: Path, run_dirs: list[Path], *, threshold: float | None = None, label: str | None = None
) -> Path:
    """``learning_curve.png`` of a sweep: mean and 95% interval across seeds."""
    plt = pyplot()

    last = max(float(np.nanmax(metrics_columns(d / "metrics.csv")["step"])) for d in run_dirs)
    grid = np.linspace(0, last, 200)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, name in (
        ("train/episode_return", "training episodes"),
        ("eval/return_greedy", "evaluation, greedy"),
        ("eval/return_sampled", "evaluation, sampled"),
    ):
        mean, half = mean_interval(curves(run_dirs, key, grid))
        (line,) = ax.plot(grid, mean, lw=1.2, label=f"{name} (mean of {len(run_dirs)} seeds)")
        ax.fill_between(grid, mean - half, mean + half, color=line.get_color(), alpha=0.2, lw=0)
    if threshold is not None:
        ax.axhline(threshold, color="grey", lw=0.8, ls=":", label=f"threshold {threshold:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return (shaded: 95% interval of the mean)")
    if label:
        ax.set_title(label)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, out / "learning_curve.png", dpi=110)


COMMAND = Command(TrainConfig, run, describe)
