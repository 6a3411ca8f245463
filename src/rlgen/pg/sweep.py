"""``rlgen reinforce --seeds``: the seeds as independent jobs, and their summary and figure.

Each seed trains as one job of :mod:`rlgen.executors` into ``OUT/seed-<n>`` (a run directory of
:func:`rlgen.pg.seed_run.train_one`); the sweep directory holds one ``metrics.csv`` row per seed,
the aggregate ``summary.json`` (success rate, medians over the seeds that solved) and the mean
and 95% interval across seeds in ``learning_curve.png``. A resumed sweep keeps its finished
seeds, continues those with a checkpoint and starts the others again.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlgen.errors import UserError
from rlgen.executors import stream_jobs
from rlgen.files import read_json
from rlgen.pg.plots import plot_seeds
from rlgen.pg.reinforce import NonFiniteLoss
from rlgen.pg.seed_run import CHECKPOINT, NAME, reward_threshold, train_one
from rlgen.runs import Run

if TYPE_CHECKING:
    from rlgen.pg.command import TrainConfig


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


RUN_KEYS = (
    "env_steps",
    "episodes",
    "episodes_ended",
    "time_limit",
    "eval_truncated",
    "eval_max_steps",
)
"""Also kept of each seed's summary in the sweep's ``runs`` (None for a seed that failed)."""


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
        summary = aggregate(config, summaries, time.perf_counter() - start)
        if all(j[2] == "done" for j in jobs):  # nothing ran: the stored timings stand
            summary |= stored_timings(out.path / "summary.json")
        return out.finish(summary)


def stored_timings(path: Path) -> dict[str, Any]:
    """The wall time (and executor) of the summary a sweep wrote at ``path``, if it has one."""
    try:
        stored = read_json(path)
    except UserError:  # none written (killed just before), or damaged: the new ones
        return {}
    if not isinstance(stored, dict):
        return {}
    return {k: stored[k] for k in ("wall_seconds", "executor") if k in stored}


def failed_seed(job: tuple[TrainConfig, str, str], error: Any) -> dict[str, Any]:
    """The summary of a seed whose job failed (an error, or its worker process died)."""
    config = job[0]
    return {
        "seed": config.seed,
        "status": "failed",
        "error": str(error),
        "threshold": reward_threshold(config.env, config.threshold, config.agent.max_episode_steps),
        "eval_seconds": None,
        **{k: False if k == "solved" else None for k in SWEEP_KEYS},
        **dict.fromkeys(RUN_KEYS),
    }


def aggregate(config: TrainConfig, summaries: list[dict], seconds: float) -> dict[str, Any]:
    """The sweep's summary: success rate and medians over the seeds that solved."""
    solved = [s for s in summaries if s["solved"]]

    def median(key: str) -> float | None:
        return float(np.median([s[key] for s in solved])) if solved else None

    run_keys = ("seed", "status", *SWEEP_KEYS[:4], "eval_seconds", *SWEEP_KEYS[4:], *RUN_KEYS)
    # a seed's summary written before a key existed lacks it: None
    runs = [{k: s.get(k) for k in run_keys} for s in summaries]
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
        # seeds that learned nothing (no episode ended: no time limit?, or too few for a
        # batch), and those whose evaluation episodes were cut at the cap instead of ending
        "seeds_without_updates": [r["seed"] for r in runs if r["episodes"] == 0],
        "seeds_with_truncated_evaluations": [r["seed"] for r in runs if r["eval_truncated"]],
        "runs": runs,
    }
