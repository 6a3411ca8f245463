"""``rlgen reinforce``: REINFORCE on a gymnasium environment, one seed or a sweep of seeds.

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

Here: the configuration, the dispatch (one seed, a resumed run, a sweep) and the terminal
summary. One seed's training is :mod:`rlgen.pg.seed_run`, the sweep :mod:`rlgen.pg.sweep`,
the figures :mod:`rlgen.pg.plots`; ``rlgen reinforce evaluate RUN_DIR`` (re-evaluate the saved
policy, record a GIF) is :mod:`rlgen.pg.evaluate_command`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import tyro

from rlgen.configs import check_resume_options, load_run_config, refuse_ignored, was_given
from rlgen.errors import UserError, check_config_types, check_memory, check_range, option_name
from rlgen.executors import ExecutorOptions, check_available
from rlgen.pg import zoo
from rlgen.pg.reinforce import ENV_BYTES, Bool, Int, ReinforceConfig, per_env
from rlgen.pg.rollouts import make_env
from rlgen.pg.seed_run import CHECKPOINT, NAME, reward_threshold, train_one
from rlgen.pg.sweep import sweep
from rlgen.runs import MAX_SEED, Command, default_run_dir

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


EVAL_EVERY_HINT = f"{zoo.EVAL_EPISODES_WORTH} x its max_episode_steps"
T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Train REINFORCE (optionally with a learned baseline) on a gymnasium environment."""

    env: str = "CartPole-v1"
    """gymnasium environment id: discrete actions, observations that flatten to a vector (a Box;
    Discrete states one-hot, as in FrozenLake or Taxi; MultiDiscrete, Tuple, Dict...)"""
    seed: int = 0
    """random seed (networks, sampling, environments); the same seed gives the same run on CPU"""
    seeds: str | None = None
    """train several seeds as independent jobs, e.g. 0-9 or 0,3,7 (overrides --seed)"""
    total_steps: Annotated[Int, per_env("total_steps")] = None
    """environment step budget"""
    threshold: float | None = None
    """solved when the evaluation mean return reaches this; None: the environment's reward
    threshold (475 for CartPole-v1), set for its registered time limit (none under another
    --max-episode-steps); an environment without one trains for --total-steps"""
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
        check_range("seed", self.seed, 0, MAX_SEED)
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

    def ignored(self) -> dict[str, str]:
        """The options this run would ignore, each with why (:func:`refuse_ignored`)."""
        ignored = {}
        if self.seeds is not None:
            ignored["seed"] = "is replaced by --seeds (each seed a run of its own)"
        else:
            for option in fields(ExecutorOptions):
                ignored[f"jobs.{option.name}"] = (
                    "is for --seeds only: one seed trains in this process"
                )
        if not self.agent.baseline:
            for name in ("lr_value", "value_epochs"):
                ignored[f"agent.{name}"] = "is for --baseline only (the value network's)"
        return ignored

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
            eval_every=_given(
                self.eval_every, zoo.eval_every(self.env, self.agent.max_episode_steps)
            ),
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
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0 or max(seeds) > MAX_SEED:
        raise UserError(f"--seeds: give distinct seeds in [0, 2**63 - 1], e.g. 0-9, got {text!r}")
    return seeds


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
    refuse_ignored(config)
    # unknown ids and unsupported spaces fail here, once
    make_env(config.env, max_episode_steps=config.agent.max_episode_steps).close()
    if reward_threshold(config.env, config.threshold, config.agent.max_episode_steps) is None:
        for name in ("eval_screen", "stop"):  # both are about reaching the threshold
            if was_given(config, name):
                raise UserError(
                    f"{'--stop / --no-stop' if name == 'stop' else option_name(name)}: "
                    f"{config.env} has no reward threshold here and no "
                    "--threshold is given, so there is nothing to reach; leave it out"
                )
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
    if was_given(config, "agent.max_episode_steps"):
        # the time limit defines the task: the checkpoint's environments are replayed under the
        # one they ran with, and the metrics and evaluations so far are for it
        limit = load_run_config(run_dir, NAME, TrainConfig).agent.max_episode_steps
        saved = f"{limit} steps" if limit is not None else "the environment's own"
        raise UserError(
            f"--resume {run_dir}: --max-episode-steps cannot change in a resumed run, which "
            f"continues the task it trained on (time limit: {saved}); start a new run with the "
            "--max-episode-steps you want"
        )
    # where a sweep's seeds run (--workers, --executor, ...) changes no result: it may be given
    check_resume_options(config, run_dir, allowed=("jobs",))
    original = as_saved(load_run_config(run_dir, NAME, TrainConfig))
    if original.seeds is not None:
        if was_given(config, "jobs"):  # typed on the command line, even --executor local
            original = dataclasses.replace(original, jobs=config.jobs)
            check_available(original.jobs)
        else:  # none given: the saved ones
            try:
                check_available(original.jobs)
            except UserError as e:
                raise UserError(
                    f"--resume {run_dir}: the sweep's seeds would run where its config.json "
                    f"says, which fails here: {e}; give where they run now instead (e.g. "
                    f"--executor local or --workers 2)"
                ) from None
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


def describe(summary: dict) -> str:
    """A few lines for the terminal."""
    if "runs" in summary:
        return describe_sweep(summary)
    kind = "with" if summary["baseline"] else "no"
    head = f"{summary['env']} seed {summary['seed']} ({kind} baseline): "
    if summary["solved"]:
        head += (
            f"solved ({summary['criterion']} evaluation >= {summary['threshold']:g}) after "
            f"{summary['steps_to_solve']} env steps, {summary['episodes_to_solve']} episodes, "
            f"{summary['seconds_to_solve']:.2f} s of training "
            f"(+ {summary['eval_seconds']:.2f} s evaluating)"
        )
    elif summary["threshold"] is None:
        head += (
            f"trained for {summary['env_steps']} env steps ({summary['status']}; no reward "
            "threshold: give --threshold to stop once solved)"
        )
    else:
        head += f"not solved in {summary['env_steps']} env steps ({summary['status']})"
    if summary["episodes"] == 0 and summary["status"] == "finished":  # else its error says why
        head += "\n" + no_update_note(summary)
    if summary["final_return_greedy"] is not None:
        head += (
            f"\nfinal evaluation over {summary['eval_episodes']} episodes: greedy "
            f"{summary['final_return_greedy']:.1f}, sampled {summary['final_return_sampled']:.1f}"
        )
    if summary.get("eval_truncated"):
        head += "\n" + truncation_note(summary)
    return head


def describe_sweep(summary: dict) -> str:
    """A few lines for the terminal about a sweep of seeds."""
    runs = summary["runs"]
    head = f"{summary['env']} ({'with' if summary['baseline'] else 'no'} baseline): "
    if summary["threshold"] is None:
        finals = [r["final_return_greedy"] for r in runs]
        finals = [f"{r:.1f}" if r is not None else "-" for r in finals]
        lines = [
            head + f"{len(runs)} seeds trained (no reward threshold); final greedy returns "
            f"{', '.join(finals)}"
        ]
    else:
        lines = [head + f"solved {summary['solved']} of {len(runs)} seeds"]
    if summary["solved"]:
        lines.append(
            f"median to solve: {summary['median_steps_to_solve']:.0f} env steps, "
            f"{summary['median_episodes_to_solve']:.0f} episodes, "
            f"{summary['median_seconds_to_solve']:.2f} s of training"
        )
    failed = [r["seed"] for r in runs if r["status"] == "failed"]
    if failed:
        lines.append(f"seeds that failed (see their error in summary.json): {_seeds(failed)}")
    stopped = [r["seed"] for r in runs if r["status"] == "non-finite loss"]
    if stopped:
        lines.append(
            "seeds that stopped with a non-finite loss, reward or observation (see their error "
            f"in summary.json): {_seeds(stopped)}"
        )
    # a seed stopped at its first batch made no update either: its error says why
    empty = [r for r in runs if r.get("episodes") == 0 and r["status"] == "finished"]
    if empty:
        lines.append(f"seeds {_seeds([r['seed'] for r in empty])} learned nothing: ")
        limit = empty[0].get("time_limit")
        if all(not r.get("episodes_ended") for r in empty):
            lines[-1] += (
                f"no episode ended (within {max(r['env_steps'] for r in empty)} env steps); "
                + (
                    f"an episode lasts up to {limit} steps here: give more --total-steps"
                    if limit
                    else "an environment without a time limit? give --max-episode-steps"
                )
            )
        else:
            lines[-1] += (
                "too few episodes ended for one batch (see their summary.json); give more "
                "--total-steps or fewer --episodes-per-update, or --max-episode-steps where no "
                "episode ended"
            )
    cut = [r for r in runs if r.get("eval_truncated")]
    if cut:
        steps = max(r["eval_max_steps"] for r in cut)
        lines.append(
            f"evaluation episodes of seeds {_seeds([r['seed'] for r in cut])} "
            + _cut_at(steps, summary)
        )
    return "\n".join(lines)


def no_update_note(summary: dict) -> str:
    """Why a run made no update: no episode ended, or too few for one batch."""
    ended = summary.get("episodes_ended") or 0  # absent from summaries written before it
    if ended == 0 and summary.get("time_limit"):
        return (
            f"no episode ended within {summary['env_steps']} env steps, so nothing was "
            f"learned: they are spread over --num-envs copies, and an episode lasts up to "
            f"{summary['time_limit']} steps here; give more --total-steps"
        )
    if ended == 0:
        return (
            f"no episode ended within {summary['env_steps']} env steps, so nothing was "
            "learned: an environment without a time limit? give --max-episode-steps"
        )
    return (
        f"only {ended} episodes ended within {summary['env_steps']} env steps, fewer than one "
        "batch needs (--episodes-per-update), so nothing was learned: give more --total-steps "
        "or fewer --episodes-per-update"
    )


def _seeds(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds))


def truncation_note(summary: dict) -> str:
    """What a run whose evaluation episodes were cut at the cap says about them."""
    final = [
        f"{summary[f'final_truncated_{name}']} of {summary['eval_episodes']} {name}"
        for name in ("greedy", "sampled")
        if summary.get(f"final_truncated_{name}")
    ]
    where = f" ({', '.join(final)} in the final one)" if final else ""
    return f"{summary['eval_truncated']} evaluation episodes{where} " + _cut_at(
        summary["eval_max_steps"], summary
    )


def _cut_at(steps: int, summary: dict) -> str:
    """What a run's or a sweep's cut evaluation episodes mean, after naming them; where there is
    a threshold, that they never solve (evaluate.Evaluator: the stop criterion never holds on an
    evaluation with cut episodes of the criterion policy)."""
    never = (
        f"; an evaluation with a cut {summary['criterion']} episode never counts as solved"
        if summary.get("threshold") is not None
        else ""
    )
    return (
        f"did not end within {steps} steps: cut there and counted as truncated, with their "
        f"return so far{never}. An environment without a time limit? give --max-episode-steps"
    )


COMMAND = Command(TrainConfig, run, describe)
