"""``rlgen reinforce`` and ``rlgen reinforce evaluate``.

``rlgen reinforce`` trains REINFORCE until a stop criterion is met or a step budget runs out. One
seed writes one run directory (see ``README.md`` for the summary keys)::

    config.json  metrics.csv  summary.json  checkpoint.pt  learning_curve.png

The stop criterion: every ``--eval-every`` environment steps, the ``--criterion`` policy (greedy
or sampled) plays ``--eval-episodes`` episodes on separate, seeded environments, in chunks of
``--eval-screen`` that stop as soon as the mean can no longer reach the threshold (see
:class:`rlgen.pg.evaluate.Evaluator`); training stops when the mean return reaches
``--threshold`` (default: the environment's reward threshold, 475 for CartPole-v1). Wall-clock
time to solve counts training only (rollouts and updates); evaluation and checkpoints are timed
separately.

Options left unset take the environment's defaults (:mod:`rlgen.pg.zoo`): ``TrainConfig.resolved``
fills them in before the run directory is written, so ``config.json`` holds the values
the run used and ``--resume`` keeps them.

``--seeds 0-9`` trains the seeds as independent jobs through :mod:`rlgen.executors` (one
subdirectory ``seed-<n>`` each) and plots the mean and 95% interval across seeds.

The checkpoint (model with its optimisers, RNGs and environments, the evaluation history, the
checkpoint schedule) is written atomically every ``--checkpoint-every`` steps; writing it changes
nothing in the run. ``--resume RUN_DIR`` continues a run killed at any moment from its last
checkpoint, keeping the metrics written up to it: the result is the uninterrupted run's.

``rlgen reinforce evaluate RUN_DIR`` re-evaluates the saved policy and can record a GIF.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import tyro

from rlgen.checkpoints import Checkpoint, Every
from rlgen.configs import check_resume_options, load_run_config
from rlgen.errors import UserError, check_config_types, check_memory, check_range
from rlgen.executors import ExecutorOptions, check_available, stream_jobs
from rlgen.figures import plot_mean_interval, pyplot, save_figure, step_curves
from rlgen.files import read_json, write_json
from rlgen.metrics import metrics_columns
from rlgen.pg import zoo
from rlgen.pg.evaluate import Evaluator, evaluate, record_gif
from rlgen.pg.reinforce import (
    ENV_BYTES,
    Bool,
    Int,
    NonFiniteLoss,
    Reinforce,
    ReinforceConfig,
    UpdateInfo,
    per_env,
)
from rlgen.pg.rollouts import make_env
from rlgen.runs import Command, Run, default_run_dir

NAME = "reinforce"
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_KIND = "rlgen.reinforce-run/1"

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


EVAL_EVERY_HINT = f"{zoo.EVAL_EPISODES_WORTH} x its max_episode_steps"
T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Train REINFORCE (optionally with a learned baseline) on a gymnasium environment."""

    env: str = "CartPole-v1"
    """gymnasium environment id: discrete actions, Box observations"""
    seed: int = 0
    """random seed (networks, sampling, environments); the same seed gives the same run on CPU"""
    seeds: str | None = None
    """train several seeds as independent jobs, e.g. 0-9 or 0,3,7 (overrides --seed)"""
    total_steps: Annotated[Int, per_env("total_steps")] = None
    """environment step budget"""
    threshold: float | None = None
    """solved when the evaluation mean return reaches this; default: the environment's reward
    threshold (475 for CartPole-v1)"""
    criterion: Literal["greedy", "sampled"] = "greedy"
    """which evaluated policy the stop criterion uses: greedy (argmax) or sampled from pi"""
    eval_every: Annotated[Int, per_env("eval_every", EVAL_EVERY_HINT)] = None
    """evaluate every this many environment steps (at the first update after each multiple)"""
    eval_episodes: int = 100
    """evaluation episodes, on separate environments seeded from --seed"""
    eval_screen: Annotated[Int, per_env("eval_screen")] = None
    """play the --criterion policy's evaluation episodes in chunks of this many and stop as soon
    as their mean can no longer reach --threshold but by a fluke (3 standard errors); 0: all at
    once, every time"""
    eval_both: Annotated[Bool, per_env("eval_both")] = None
    """evaluate the greedy and the sampled policy at every evaluation; --no-eval-both: the
    --criterion policy only, both at the evaluation that solves and at the final one (half the
    cost)"""
    stop: bool = True
    """stop training once solved (--no-stop trains for the whole budget)"""
    checkpoint_every: int = 20_000
    """write checkpoint.pt every this many environment steps (and at the end)"""
    resume: Path | None = None
    """continue the run in this directory from its last checkpoint (its config.json is used; a
    sweep may be given where its seeds run: --workers, --executor, ...)"""
    agent: Annotated[ReinforceConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ReinforceConfig
    )
    """the algorithm's hyperparameters"""
    jobs: Annotated[ExecutorOptions, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ExecutorOptions
    )
    """where the seeds of --seeds run"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("seed", self.seed, 0)
        if self.total_steps is not None:
            check_range("total_steps", self.total_steps, 1)
        if self.eval_every is not None:
            check_range("eval_every", self.eval_every, 1)
        check_range("eval_episodes", self.eval_episodes, 1)
        if self.eval_screen is not None:
            check_range("eval_screen", self.eval_screen, 0, self.eval_episodes)
        check_memory("eval_episodes", ENV_BYTES * self.eval_episodes, "this many environments")
        check_range("checkpoint_every", self.checkpoint_every, 1)
        if self.threshold is not None:
            check_range("threshold", self.threshold)
        if self.criterion not in ("greedy", "sampled"):
            raise UserError(
                f"--criterion: unknown value {self.criterion!r}; choose from greedy, sampled"
            )
        if self.seeds is not None:
            parse_seeds(self.seeds)
        if self.resume is not None and self.seeds is not None:
            raise UserError(
                "--resume continues a run, or a whole sweep, with the seeds saved in its "
                "directory; leave out --seeds"
            )

    @property
    def seed_list(self) -> list[int]:
        return parse_seeds(self.seeds) if self.seeds is not None else [self.seed]

    def resolved(self) -> TrainConfig:
        """This config with every option set: those left unset take --env's defaults
        (:mod:`rlgen.pg.zoo`). A run directory's config.json holds the resolved config, so a
        resumed run keeps its values whatever the defaults become."""
        return dataclasses.replace(
            self,
            total_steps=_given(self.total_steps, zoo.default(self.env, "total_steps")),
            eval_every=_given(self.eval_every, zoo.eval_every(self.env)),
            eval_both=_given(self.eval_both, zoo.default(self.env, "eval_both")),
            # a screen is a part of the full evaluation: at most half of it
            eval_screen=_given(
                self.eval_screen, min(zoo.default(self.env, "eval_screen"), self.eval_episodes // 2)
            ),
            agent=self.agent.resolved(self.env).options(),
        )


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``0-9`` -> [0, ..., 9]; ``0,3,7`` -> [0, 3, 7]; both forms can be mixed: ``0-2,5``."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, dash, high = part.partition("-")
            if dash and low:
                a, b = int(low), int(high)
                if b < a or b - a >= MAX_SEEDS:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
            if len(seeds) > MAX_SEEDS:
                raise ValueError
    except ValueError:
        raise UserError(
            f"--seeds: expected a range like 0-9 or a list like 0,3,7 of at most {MAX_SEEDS} "
            f"seeds >= 0, got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds: give distinct seeds >= 0, e.g. 0-9, got {text!r}")
    return seeds


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
# One seed: training with evaluation, checkpoints and metrics
# ---------------------------------------------------------------------------------------------


class SeedRun:
    """One seed's training in one run directory, read top to bottom by :meth:`train`.

    The model learns; after every update :meth:`on_update` logs the update, evaluates on
    schedule (stopping once solved) and writes the checkpoint on schedule. The checkpoint holds
    the model, the evaluator and the checkpoint schedule, so a resumed run continues exactly.
    """

    def __init__(self, config: TrainConfig, run: Run, *, resume: bool) -> None:
        assert config.total_steps is not None and config.eval_every is not None
        assert config.eval_screen is not None, "SeedRun takes a resolved TrainConfig"
        self.config = config
        self.total_steps = config.total_steps
        self.run = run
        self.threshold = reward_threshold(config.env, config.threshold)
        self.model = Reinforce(config.env, config.agent, seed=config.seed)
        self.evaluator = Evaluator(
            config.env,
            episodes=config.eval_episodes,
            seed=config.seed,
            threshold=self.threshold,
            criterion=config.criterion,
            every=config.eval_every,
            screen=config.eval_screen,
            both_every_time=bool(config.eval_both),
        )
        self.checkpoints = Every(config.checkpoint_every)
        self.checkpoint = Checkpoint(
            run.path / CHECKPOINT,
            {"model": self.model, "evaluator": self.evaluator, "schedule": self.checkpoints},
            kind=CHECKPOINT_KIND,
        )
        self.status = "finished"
        self.error: str | None = None
        if resume:
            extra = self.checkpoint.load()
            self.checkpoint.seconds = float(extra.get("checkpoint_seconds", 0.0))
            run.metrics.truncate_after(self.model.counters.env_steps)
        else:
            self.model.restart_envs()
            self.save()  # a checkpoint to resume from, at step 0

    def train(self) -> dict[str, Any]:
        """Learn until solved or out of budget; final evaluation and checkpoint; the summary."""
        c = self.model.counters
        with self.run.progress(
            total=self.total_steps, desc=f"reinforce s{self.config.seed}", unit="step"
        ) as bar:
            self.bar = bar
            bar.update(c.env_steps)
            try:
                if not (self.evaluator.solved and self.config.stop):
                    self.model.learn(self.total_steps, self.on_update, progress=bar)
            except NonFiniteLoss as e:
                self.status, self.error = "non-finite loss", str(e)
        if self.error is None:
            last = self.evaluator.history[-1] if self.evaluator.history else {"env_steps": -1}
            both = None not in (last.get("return_greedy"), last.get("return_sampled"))
            if (last["env_steps"] != c.env_steps or not both) and c.updates > 0:
                self.evaluate(final=True)  # the final evaluation: both policies
            self.save()
        return self.summary()

    def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
        """Log the update; evaluate and checkpoint on schedule; False once solved (stop)."""
        self.run.metrics.log(info.env_steps, info.metrics())
        keep_going = True
        if self.evaluator.due(info.env_steps) and self.screen():
            record = self.evaluate()
            keep_going = not (record["solved"] and self.config.stop)
            self.bar.set_postfix(
                {
                    k: f"{record[f'return_{k}']:.0f}"
                    for k in ("greedy", "sampled")
                    if record[f"return_{k}"] is not None
                }
            )
        if self.checkpoints(info.env_steps):
            self.save()
        return keep_going

    def screen(self) -> bool:
        """The evaluator's screen (its episodes chunk by chunk): whether the evaluation may pass."""
        if self.evaluator.screen_episodes == 0:
            return True
        c = self.model.counters
        passed = self.evaluator.screen(
            greedy=self.model.act_fn(True),
            sampled=self.model.act_fn(False, self.evaluator.screening_rng()),
            env_steps=c.env_steps,
        )
        screen = self.evaluator.screens[-1]
        self.run.metrics.log(c.env_steps, self.evaluator.screen_metrics(screen))
        if not passed:
            self.bar.set_postfix(screen=f"{screen['mean']:.0f}")
        return passed

    def evaluate(self, final: bool = False) -> dict[str, Any]:
        c = self.model.counters
        record = self.evaluator.evaluate(
            greedy=self.model.act_fn(True),
            sampled=self.model.act_fn(False, self.evaluator.sampling_rng()),
            env_steps=c.env_steps,
            episodes=c.episodes,
            train_seconds=c.train_seconds,
            final=final,
        )
        self.run.metrics.log(c.env_steps, self.evaluator.metrics(record))
        return record

    def save(self) -> None:
        self.checkpoint.save(checkpoint_seconds=self.checkpoint.seconds)

    def summary(self) -> dict[str, Any]:
        """``summary.json`` of one seed (keys documented in the README)."""
        config, c, evaluator = self.config, self.model.counters, self.evaluator
        final = evaluator.history[-1] if evaluator.history else {}
        solve = evaluator.solved_at or {}
        return {
            "env": config.env,
            "seed": config.seed,
            "baseline": config.agent.baseline,
            "status": self.status,
            "error": self.error,
            "solved": evaluator.solved,
            "threshold": self.threshold,
            "criterion": config.criterion,
            "eval_episodes": config.eval_episodes,
            "steps_to_solve": solve.get("env_steps"),
            "episodes_to_solve": solve.get("episodes"),
            "seconds_to_solve": solve.get("train_seconds"),
            "env_steps": c.env_steps,
            "episodes": c.episodes,
            "updates": c.updates,
            "train_seconds": c.train_seconds,
            "eval_seconds": evaluator.seconds,
            "evaluations": len(evaluator.history),
            "screens": len(evaluator.screens),
            "checkpoint_seconds": self.checkpoint.seconds,
            "final_return_greedy": final.get("return_greedy"),
            "final_return_sampled": final.get("return_sampled"),
            "final_return_greedy_std": final.get("return_greedy_std"),
            "final_return_sampled_std": final.get("return_sampled_std"),
            "best_return": evaluator.best,
        }


def train_one(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Train one seed into ``run_dir`` (or continue the run there, with ``resume``)."""
    import torch

    torch.set_num_threads(1)  # tiny networks: threads cost more than they bring
    wall_start = time.perf_counter()
    config = config.resolved()  # config.json holds the values the run uses
    with Run(
        NAME,
        config,
        run_dir,
        quiet=quiet,
        device=config.agent.device,
        resume=resume,
        overwrite=overwrite,
    ) as out:
        seed_run = SeedRun(config, out, resume=resume)
        try:
            summary = seed_run.train()
        finally:
            seed_run.model.close()
            seed_run.evaluator.close()
        summary["wall_seconds"] = time.perf_counter() - wall_start
        plot(out.path, threshold=seed_run.threshold)
        written = out.finish(summary)
    if seed_run.error is not None:
        raise NonFiniteLoss(seed_run.error)
    return written


# ---------------------------------------------------------------------------------------------
# The command: one seed, a resumed run, or a sweep
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
    reward_threshold(config.env, config.threshold)
    config = config.resolved()  # the environment's defaults for the options not given
    if config.seeds is not None:
        check_available(config.jobs)  # Ray asked for but missing: say so before writing
    if config.seeds is None:
        run_dir = Path(run_dir) if run_dir is not None else default_run_dir(NAME, config.seed)
        return train_one(config, run_dir, quiet=quiet, overwrite=overwrite)
    return sweep(config, run_dir, quiet=quiet, overwrite=overwrite)


def resume(config: TrainConfig, *, quiet: bool = False) -> dict:
    """Continue the run (or the whole sweep) in ``config.resume`` with the config saved there."""
    assert config.resume is not None
    run_dir = config.resume
    # where a sweep's seeds run (--workers, --executor, ...) changes no result: it may be given
    check_resume_options(config, run_dir, allowed=("jobs",))
    original = as_saved(load_run_config(run_dir, NAME, TrainConfig))
    if original.seeds is not None:
        if config.jobs != ExecutorOptions():
            original = dataclasses.replace(original, jobs=config.jobs)
        check_available(original.jobs)
        return sweep(original, run_dir, quiet=quiet, resume=True)
    check_resume_options(config, run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(
            f"--resume {run_dir}: no {CHECKPOINT} to continue from; start a new run instead"
        )
    return train_one(original, run_dir, quiet=quiet, resume=True)


def as_saved(config: TrainConfig) -> TrainConfig:
    """A run's saved config with the options it predates set as the run had them.

    A config.json holds every option resolved, except those added since it was written; they
    did not exist, so the run went without them (no screens, both policies evaluated every
    time, a baseline without the time).
    """
    if config.eval_screen is None:
        config = dataclasses.replace(config, eval_screen=0)
    if config.eval_both is None:
        config = dataclasses.replace(config, eval_both=True)
    if config.agent.baseline_time is None:
        agent = dataclasses.replace(config.agent, baseline_time=False)
        config = dataclasses.replace(config, agent=agent)
    return config


def train_job(job: tuple[TrainConfig, str] | tuple[TrainConfig, str, str]) -> dict[str, Any]:
    """One seed of a sweep, ``(config, run_dir[, start])`` -> its summary.

    ``start`` is ``new`` (the default), ``resume`` (continue from the seed's checkpoint) or
    ``done`` (the seed finished before: its summary is read back). A seed whose loss became
    non-finite returns the summary written for it (unsolved) instead of aborting the sweep.
    """
    config, run_dir, start = (*job, "new") if len(job) == 2 else job
    if start == "done":
        return read_json(Path(run_dir) / "summary.json")
    try:
        return train_one(config, run_dir, quiet=True, resume=start == "resume")
    except NonFiniteLoss:
        return read_json(Path(run_dir) / "summary.json")


def seed_start(run_dir: Path) -> str:
    """How a resumed sweep takes up one seed's directory: ``done``, ``resume`` or ``new``."""
    summary = run_dir / "summary.json"
    if summary.is_file():
        return "done"
    return "resume" if (run_dir / CHECKPOINT).is_file() else "new"


SWEEP_KEYS = (
    "solved",
    "steps_to_solve",
    "episodes_to_solve",
    "seconds_to_solve",
    "final_return_greedy",
    "final_return_sampled",
)


def sweep(
    config: TrainConfig,
    run_dir: str | Path | None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    resume: bool = False,
) -> dict:
    """Each seed as an independent job; aggregate summary and mean / 95% interval figure.

    With ``resume`` the sweep continues in ``run_dir``: finished seeds are kept, seeds with a
    checkpoint continue from it, the others start again.
    """
    seeds = config.seed_list
    with Run(
        NAME,
        config,
        run_dir,
        quiet=quiet,
        device=config.agent.device,
        metrics_index="seed",
        tensorboard=False,
        overwrite=overwrite,
        resume=resume,
    ) as out:
        out.metrics.truncate_after(-1)  # one row per seed, written once they are all done
        jobs = []
        for seed in seeds:
            seed_dir = out.path / f"seed-{seed}"
            start_as = seed_start(seed_dir) if resume else "new"
            if start_as == "new" and seed_dir.exists():  # killed before its first checkpoint
                shutil.rmtree(seed_dir)
            one = dataclasses.replace(config, seed=seed, seeds=None)
            jobs.append((one, str(seed_dir), start_as))
        start = time.perf_counter()
        summaries: list[dict[str, Any]] = [{}] * len(jobs)
        for done in stream_jobs(train_job, jobs, config.jobs, desc="seeds", quiet=quiet):
            summaries[done.index] = done.unwrap() if done.ok else failed_seed(done.job, done.error)
        for s in summaries:  # in seed order
            out.metrics.log(
                s["seed"], {k: float(s[k]) if s[k] is not None else math.nan for k in SWEEP_KEYS}
            )
        ran = [Path(j[1]) for j, s in zip(jobs, summaries, strict=True) if s["status"] != "failed"]
        if ran:
            plot_seeds(out.path, ran, threshold=summaries[0]["threshold"])
        return out.finish(aggregate(config, summaries, time.perf_counter() - start))


def failed_seed(job: tuple[TrainConfig, str, str], error: Any) -> dict[str, Any]:
    """The summary of a seed whose job failed (an error, or its worker process died)."""
    config = job[0]
    return {
        "seed": config.seed,
        "status": "failed",
        "error": str(error),
        "threshold": reward_threshold(config.env, config.threshold),
        "eval_seconds": None,
        **{k: False if k == "solved" else None for k in SWEEP_KEYS},
    }


def aggregate(config: TrainConfig, summaries: list[dict], seconds: float) -> dict[str, Any]:
    """The sweep's summary: success rate and medians over the seeds that solved."""
    solved = [s for s in summaries if s["solved"]]

    def median(key: str) -> float | None:
        return float(np.median([s[key] for s in solved])) if solved else None

    run_keys = ("seed", "status", *SWEEP_KEYS[:4], "eval_seconds", *SWEEP_KEYS[4:])
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
        "runs": [{k: s[k] for k in run_keys} for s in summaries],
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
# ``rlgen reinforce evaluate RUN_DIR``
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluateConfig:
    """Re-evaluate the policy saved in a reinforce run directory; optionally record a GIF."""

    run_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """a run directory written by rlgen reinforce (it holds checkpoint.pt)"""
    episodes: int = 100
    """evaluation episodes per policy (greedy and sampled)"""
    seed: int = 0
    """seed of the evaluation environments and of the sampled policy"""
    gif: Path | None = None
    """write one greedy episode as an animated GIF here (rendered with rgb_array)"""
    gif_frames: int = 500
    """at most this many frames in the GIF"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("episodes", self.episodes, 1)
        check_memory("episodes", ENV_BYTES * self.episodes, "this many environments")
        check_range("seed", self.seed, 0)
        check_range("gif_frames", self.gif_frames, 1)
        if self.gif is not None:
            if self.gif.suffix.lower() != ".gif":
                raise UserError(f"--gif {self.gif}: give a file name ending in .gif")
            if self.gif.is_dir():
                raise UserError(f"--gif {self.gif}: is a directory; give a .gif file name")


def load_policy(run_dir: Path) -> Reinforce:
    """The model of a reinforce run directory's checkpoint, on the CPU."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise UserError(f"{run_dir}: no {CHECKPOINT} here (is it a reinforce run directory?)")
    parts = Checkpoint(path, {}, kind=CHECKPOINT_KIND).read().get("parts")
    if not isinstance(parts, dict) or "model" not in parts:
        raise UserError(f"{path}: the checkpoint holds no model (damaged?)")
    return Reinforce.from_state(parts["model"], device="cpu", where=str(path), networks_only=True)


def run_evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Evaluate the saved policy; write ``evaluation.json`` into the run directory."""
    import torch

    torch.set_num_threads(1)
    model = load_policy(config.run_dir)
    env_id = model.env_id
    assert env_id is not None
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4]))
    try:
        g = evaluate(model.act_fn(True), env_id, config.episodes, config.seed)
        s = evaluate(model.act_fn(False, rng), env_id, config.episodes, config.seed)
        result: dict[str, Any] = {
            "run_dir": str(config.run_dir),
            "env": env_id,
            "episodes": config.episodes,
            "seed": config.seed,
            "env_steps_trained": model.counters.env_steps,
            "return_greedy": float(g.mean()),
            "return_greedy_std": float(g.std()),
            "return_sampled": float(s.mean()),
            "return_sampled_std": float(s.std()),
            "gif": None,
        }
        if config.gif is not None:
            total, frames = record_gif(
                model.act_fn(True), env_id, config.gif, config.seed, max_frames=config.gif_frames
            )
            result.update(gif=str(config.gif), gif_return=total, gif_frames=frames)
    finally:
        model.close()
    try:
        write_json(config.run_dir / "evaluation.json", result)
    except OSError as e:
        raise UserError(f"{config.run_dir}: cannot write evaluation.json ({e.strerror})") from None
    return result


def describe_evaluation(result: dict[str, Any]) -> str:
    lines = [
        f"{result['env']}: {result['episodes']} episodes (seed {result['seed']}) after "
        f"{result['env_steps_trained']} training steps",
        f"  greedy  {result['return_greedy']:8.1f} ± {result['return_greedy_std']:.1f}",
        f"  sampled {result['return_sampled']:8.1f} ± {result['return_sampled_std']:.1f}",
    ]
    if result["gif"]:
        lines.append(
            f"  GIF of one greedy episode ({result['gif_frames']} frames, return "
            f"{result['gif_return']:g}): {result['gif']}"
        )
    lines.append(f"written to {Path(result['run_dir']) / 'evaluation.json'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Figures from saved metrics
# ---------------------------------------------------------------------------------------------

CURVES = (
    ("train/episode_return", "training episodes (mean per update)", "-"),
    ("eval/return_greedy", "evaluation, greedy", "o-"),
    ("eval/return_sampled", "evaluation, sampled", "s--"),
)


def plot(run_dir: str | Path, *, threshold: float | None = None) -> Path:
    """``learning_curve.png``: training episode returns per update and the evaluation points.

    A sweep's directory (with ``seed-<n>`` subdirectories) gets the mean across seeds instead.
    ``threshold`` defaults to the one in summary.json, when there is one.
    """
    run_dir = Path(run_dir)
    seed_dirs = sorted(run_dir.glob("seed-*"), key=lambda d: d.name)
    if threshold is None and (run_dir / "summary.json").is_file():
        threshold = read_json(run_dir / "summary.json").get("threshold")
    if seed_dirs:
        return plot_seeds(run_dir, seed_dirs, threshold=threshold)
    plt = pyplot()
    cols = metrics_columns(run_dir / "metrics.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, name, style in CURVES:
        if key in cols:
            m = ~np.isnan(cols[key])
            line_style = {"lw": 1, "alpha": 0.7} if style == "-" else {"ms": 3, "lw": 1}
            ax.plot(cols["step"][m], cols[key][m], style, label=name, **line_style)
    _threshold_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, run_dir / "learning_curve.png", dpi=110)


def curves(run_dirs: list[Path], key: str, grid: np.ndarray) -> np.ndarray:
    """(runs, len(grid)) ``key`` of each run's metrics, carried forward onto a common step grid."""
    runs = []
    for d in run_dirs:
        cols = metrics_columns(d / "metrics.csv")
        runs.append((cols["step"], cols[key]) if key in cols else (np.empty(0), np.empty(0)))
    return step_curves(runs, grid)


def plot_seeds(
    out: Path, run_dirs: list[Path], *, threshold: float | None = None, label: str | None = None
) -> Path:
    """``learning_curve.png`` of a sweep: mean and 95% interval across seeds."""
    plt = pyplot()
    # a seed stopped by a non-finite loss at its first update has no rows
    steps = [metrics_columns(d / "metrics.csv").get("step", np.empty(0)) for d in run_dirs]
    last = max((float(np.nanmax(s)) for s in steps if s.size), default=0.0)
    grid = np.linspace(0, last, 200)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, name, _ in CURVES:
        name = name.removesuffix(" (mean per update)")
        plot_mean_interval(
            ax, grid, curves(run_dirs, key, grid), label=f"{name} (mean of {len(run_dirs)} seeds)"
        )
    _threshold_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return (shaded: 95% interval of the mean)")
    if label:
        ax.set_title(label)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, out / "learning_curve.png", dpi=110)


def _threshold_line(ax: Any, threshold: float | None) -> None:
    if threshold is not None:
        ax.axhline(threshold, color="grey", lw=0.8, ls=":", label=f"threshold {threshold:g}")


COMMAND = Command(TrainConfig, run, describe)
EVALUATE = Command(EvaluateConfig, run_evaluate, describe_evaluation, writes_run_dir=False)
