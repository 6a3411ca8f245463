"""``rlgen nas search``, ``rlgen nas show`` and ``rlgen nas train-best``.

``rlgen nas search`` runs an architecture search into a run directory::

    config.json  trials.sqlite  metrics.csv  summary.json  rewards.png  pareto.png  best.png

``trials.sqlite`` (:mod:`rlgen.nas.store`) holds every trial and the controller's state,
committed as each trial finishes; ``--resume RUN_DIR`` continues a search killed at any moment:
finished trials are kept, interrupted ones rerun, and the controller continues from its stored
state and RNG (on CPU, the resumed search ends with the uninterrupted one's trials). metrics.csv
holds one row per trial (index ``trial``, 0-based: ``trial/reward``, ``trial/accuracy``,
``trial/macs``, ...) and the controller's update at each batch's last trial
(``controller/loss``, ``controller/entropy``, ``controller/baseline``, ...), written batch by
batch.

``rlgen nas show RUN_DIR [RUN_DIR ...]`` prints the best architectures of each search (it only
reads, so it works while a search runs); with several searches and ``--figure`` it draws their
rewards per trial together (the controller against random search).

``rlgen nas train-best RUN_DIR`` retrains the best architectures of a search for longer, on
several seeds, and reports their test accuracy with a 95% interval over the seeds.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from rlgen.configs import check_resume_options, load_run_config, refuse_ignored, was_given
from rlgen.errors import UserError, check_choice, check_config_types, check_range
from rlgen.executors import ExecutorOptions, check_available, stream_jobs
from rlgen.files import read_json
from rlgen.metrics import read_metrics
from rlgen.nas.controller import ControllerConfig, UpdateInfo, make_search
from rlgen.nas.figures import plot_architecture, plot_pareto, plot_rewards
from rlgen.nas.rewards import RewardConfig
from rlgen.nas.search import (
    ChildConfig,
    Plan,
    TrialJob,
    child_data,
    last_quarter_mean,
    run_search,
    run_trial,
)
from rlgen.nas.spaces import SPACES, Architecture, SearchSpace, make_space
from rlgen.nas.store import FILE, Trial, TrialStore
from rlgen.runs import MAX_SEED, Command, Device, Run, resolve_device

NAME = "nas search"
TASKS = ("fashion-mnist", "synthetic")
CONTROLLERS = ("reinforce", "random")


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchConfig:
    """Search architectures with a REINFORCE controller (or at random); each child is trained on
    a Fashion-MNIST subset and scored on validation images held out of the training set."""

    space: Literal["nasnet", "mnas"] = "nasnet"
    """nasnet: normal and reduction cells of --blocks blocks (Zoph et al. 2018); mnas: the
    7-stage factorized table of MnasNet / EfficientNet"""
    controller: Literal["reinforce", "random"] = "reinforce"
    """reinforce: the LSTM controller trained with REINFORCE; random: uniform random search"""
    trials: int = 64
    """architectures to evaluate (children to train)"""
    batch: int = 8
    """architectures per controller update (random search proposes in the same batches)"""
    objective: Annotated[RewardConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=RewardConfig
    )
    """the reward: --reward, --target, --w"""
    blocks: int = 5
    """nasnet: B, blocks per cell"""
    operations: tuple[str, ...] = ()
    """operations to search over (default: all of the space's: nasnet's 13, mnas's 5)"""
    reduction_cell: bool = True
    """nasnet: search a reduction cell too (--no-reduction-cell: stride-2 convolutions reduce)"""
    task: Literal["fashion-mnist", "synthetic"] = "fashion-mnist"
    """fashion-mnist: train each child; synthetic: reward = agreement with a hidden target
    architecture plus noise (checks the controller in seconds)"""
    noise: float = 0.05
    """synthetic: standard deviation of the reward noise"""
    seed: int = 0
    """seeds the controller (or random search), the children and the synthetic target"""
    data_dir: Path | None = None
    """directory holding Fashion-MNIST's IDX files (default: the usual places, see README)"""
    device: Device = "auto"
    """where children train: auto picks CUDA when present; local workers then share the GPU"""
    resume: Path | None = None
    """continue the search in this run directory (its config.json is used)"""
    child: ChildConfig = field(default_factory=ChildConfig)
    """the proxy task each child is trained on"""
    reinforce: ControllerConfig = field(default_factory=ControllerConfig)
    """the controller's hyperparameters"""
    jobs: Annotated[ExecutorOptions, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ExecutorOptions
    )
    """where the children train: local processes (default) or Ray"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("space", self.space, SPACES)
        check_choice("controller", self.controller, CONTROLLERS)
        check_choice("task", self.task, TASKS)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_range("trials", self.trials, 1, 1_000_000)
        check_range("batch", self.batch, 1, 10_000)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_range("noise", self.noise, 0)
        if self.space != "nasnet" and (self.blocks != 5 or not self.reduction_cell):
            raise UserError("--blocks and --no-reduction-cell are for --space nasnet")
        make_space(  # unknown operations, B < 1: one line here
            self.space, blocks=self.blocks, operations=self.operations or None
        )
        if self.task == "synthetic" and self.objective.needs_cost:
            raise UserError(
                f"--reward {self.objective.reward} needs the children's cost; the synthetic task "
                "has none (use --reward accuracy)"
            )

    def ignored(self) -> dict[str, str]:
        """The options the search would ignore, each with why
        (:func:`rlgen.configs.refuse_ignored`): the controller's with --controller random, the
        children's and --data-dir with --task synthetic, --noise without it, --target and --w
        with --reward accuracy, --w with --reward hard, --child.cells with --space mnas."""
        ignored: dict[str, str] = {}
        if self.controller == "random":
            for f in dataclasses.fields(ControllerConfig):
                ignored[f"reinforce.{f.name}"] = (
                    "is for --controller reinforce: random search learns nothing"
                )
        if self.task == "synthetic":
            for f in dataclasses.fields(ChildConfig):
                ignored[f"child.{f.name}"] = (
                    "is for --task fashion-mnist: --task synthetic trains no children"
                )
            ignored["data_dir"] = "is for --task fashion-mnist: --task synthetic reads no data"
        else:
            ignored["noise"] = "is for --task synthetic only"
        if self.space == "mnas":
            ignored.setdefault("child.cells", "is for --space nasnet: mnas children have no cells")
        if self.objective.reward == "accuracy":
            ignored["objective.target"] = (
                "is for --reward soft or hard: --reward accuracy has no cost target"
            )
        if self.objective.reward != "soft":
            ignored["objective.w"] = (
                f"is for --reward soft only: --reward {self.objective.reward} would ignore it"
            )
        return ignored

    @property
    def search_space(self) -> SearchSpace:
        return make_space(
            self.space,
            blocks=self.blocks,
            operations=self.operations or None,
            reduction_cell=self.reduction_cell,
        )

    @property
    def target_architecture(self) -> Architecture | None:
        """synthetic: the hidden target, drawn from the seed."""
        if self.task != "synthetic":
            return None
        return self.search_space.sample(np.random.default_rng([self.seed, 1234]))


# ---------------------------------------------------------------------------------------------
# rlgen nas search
# ---------------------------------------------------------------------------------------------


def run(
    config: SearchConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``rlgen nas search``: a new search into ``run_dir``, or ``--resume`` one."""
    if config.resume is not None:
        if run_dir is not None and Path(run_dir).resolve() != config.resume.resolve():
            raise UserError("--resume continues the search in its own directory; leave out --out")
        original = load_run_config(config.resume, NAME, SearchConfig)
        check_resume_options(config, config.resume)
        if not (config.resume / FILE).is_file() and (config.resume / "summary.json").is_file():
            raise UserError(
                f"--resume {config.resume}: the search finished but its {FILE} is gone; start "
                f"it again with --out {config.resume} --overwrite"
            )  # without summary.json a kill came before the store: the search starts afresh
        return search(original, config.resume, quiet=quiet, resume=True)
    refuse_ignored(config)
    return search(config, run_dir, quiet=quiet, overwrite=overwrite)


def search(
    config: SearchConfig,
    run_dir: str | Path | None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Run (or continue) the search ``config`` describes in ``run_dir``; returns the summary."""
    import torch

    torch.set_num_threads(1)  # the controller is tiny; the children have their own processes
    space = config.search_space
    check_available(config.jobs)
    local = config.jobs.executor == "local"
    device = resolve_device(config.device) if local else config.device
    if config.task == "fashion-mnist":  # data missing or too small: one line, before any work
        data_dir = None if config.data_dir is None else str(config.data_dir)
        child_data(data_dir, config.child.train_images, config.child.val_images)
    start = time.perf_counter()
    with Run(
        NAME,
        config,
        run_dir,
        quiet=quiet,
        device=device,
        metrics_index="trial",
        resume=resume,
        overwrite=overwrite,
    ) as r:
        meta = {"space": space.spec, "config": config}
        store = TrialStore.resume(r.path, meta) if resume else TrialStore.create(r.path, meta)
        try:
            _run(config, space, store, r, device)
            summary = summarize(config, store)
            plot(r.path)
        finally:
            store.close()  # the last connection: folds the WAL back into trials.sqlite
        summary["wall_seconds"] = time.perf_counter() - start
        return r.finish(summary)


def job_threads(options: ExecutorOptions) -> int:
    """torch threads of one child: ``--cpus-per-job`` rounded down, at least 1, and for local
    workers at most the machine's cores (torch refused a count such as 1e308, failing every
    trial)."""
    threads = max(1, int(options.cpus_per_job))
    return min(threads, os.cpu_count() or 1) if options.executor == "local" else threads


def _run(config: SearchConfig, space: SearchSpace, store: TrialStore, r: Run, device: str) -> None:
    threads = job_threads(config.jobs)
    make_job = partial(
        TrialJob,
        seed=config.seed,
        space=space.spec,
        task=config.task,
        child=config.child,
        data_dir=None if config.data_dir is None else str(config.data_dir),
        device=device,
        threads=threads,
        target=config.target_architecture,
        noise=config.noise,
    )
    plan = Plan(config.trials, config.batch, config.objective, config.jobs)
    search = make_search(config.controller, space, config.reinforce, config.seed)
    _log_missing_batches(store, r)  # a resumed run: rows of batches the kill left unlogged

    rewards = [t.reward for t in store.trials(status="finished") if t.reward is not None]
    best = [max(rewards)] if rewards else []
    done = len([t for t in store.trials() if t.done])
    with r.progress(total=config.trials, desc=f"nas {config.controller}", unit="trial") as bar:
        bar.update(done)
        if best:
            bar.set_postfix(best=f"{best[0]:.4f}")

        def on_trial(trial: Trial) -> None:
            if trial.reward is not None and (not best or trial.reward > best[0]):
                best[:] = [trial.reward]
            bar.update(1)
            bar.set_postfix(best=f"{best[0]:.4f}" if best else "-", failed=_failed(store))

        def on_batch(k: int, info: UpdateInfo | None) -> None:
            _log_batch(store, r, k)

        run_search(
            search,
            store,
            plan,
            lambda trial, arch: make_job(trial=trial, architecture=arch),
            trial_fn=run_trial,
            on_trial=on_trial,
            on_batch=on_batch,
        )


def _failed(store: TrialStore) -> int:
    return store.counts()["failed"]


TRIAL_METRICS = ("macs", "params", "latency_ms", "train_seconds", "train_loss")


def _log_batch(store: TrialStore, r: Run, k: int) -> None:
    """metrics.csv rows of batch ``k``: one per trial, and the update at its last trial."""
    trials = store.trials(batch=k)
    updates = dict(store.updates())
    for t in trials:
        row: dict[str, Any] = {
            "trial/reward": t.reward,
            "trial/accuracy": t.accuracy,
            "trial/failed": float(t.status == "failed"),
            "trial/seconds": t.seconds,
        }
        for key in TRIAL_METRICS:
            value = t.metrics.get(key)
            row[f"trial/{key}"] = None if value is None else float(value)
        if t is trials[-1]:
            row |= updates.get(k, {})
        r.metrics.log(t.id, row)


def _log_missing_batches(store: TrialStore, r: Run) -> None:
    """Log the completed batches that metrics.csv lacks; drop rows of unfinished batches."""
    done = store.batches_done()
    logged = {
        row["trial"] for row in read_metrics(r.path / "metrics.csv") if row["trial"] is not None
    }
    # Rows are written batch by batch, in order: a batch is logged whole when its last trial's
    # row is there. A kill in the middle of a batch's rows leaves a part that is dropped here
    # and written again, once.
    upto = -1
    for k in range(done):
        batch = store.trials(batch=k)
        if not batch or batch[-1].id not in logged:
            break
        upto = batch[-1].id
    r.metrics.truncate_after(upto)
    for k in range(done):
        batch = store.trials(batch=k)
        if batch and batch[-1].id > upto:
            _log_batch(store, r, k)


def summarize(config: SearchConfig, store: TrialStore) -> dict[str, Any]:
    """``summary.json`` of a search (keys documented in the README)."""
    space = store.space()
    trials = store.trials()
    finished = [t for t in trials if t.status == "finished"]
    rewards = [float(t.reward) for t in finished if t.reward is not None]
    top = _fitting(space, store.best(1), store.path)
    best = top[0] if top else None
    q = max(1, len(rewards) // 4)
    return {
        "space": config.space,
        "controller": config.controller,
        "task": config.task,
        "reward": config.objective.reward,
        "target_mmacs": config.objective.target,
        "w": config.objective.w,
        "seed": config.seed,
        "trials": config.trials,
        "finished": len(finished),
        "failed": sum(t.status == "failed" for t in trials),
        "batches": store.batches_done(),
        "best_reward": best.reward if best else None,
        "best_accuracy": max((float(t.accuracy or 0) for t in finished), default=None),
        "best": _trial_summary(space, best) if best else None,
        "mean_reward": float(np.mean(rewards)) if rewards else None,
        "first_quarter_mean_reward": float(np.mean(rewards[:q])) if rewards else None,
        "last_quarter_mean_reward": last_quarter_mean(rewards) if rewards else None,
        "trial_seconds": float(sum(t.seconds or 0.0 for t in trials)),
        "executor": config.jobs.executor,
        "cost_unit": "multiply-adds per image (torch's FLOP count / 2)",
        "log10_space_size": space.log10_count(),
    }


def _fitting(space: SearchSpace, trials: list[Trial], path: Path) -> list[Trial]:
    """``trials``, if each architecture is one of ``space``'s; else a damaged store's error."""
    for t in trials:
        try:
            space.check(t.architecture)
        except ValueError as e:
            raise UserError(
                f"{path}: a damaged trial store: trial {t.id}'s architecture is not one of its "
                f"search space's ({e})"
            ) from None
    return trials


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _saved_config(store: TrialStore) -> dict[str, Any]:
    """The search's config as the store keeps it (meta ``config``), or {}."""
    return _mapping(store.meta("config"))


def _trial_summary(space: SearchSpace, t: Trial) -> dict[str, Any]:
    return {
        "trial": t.id,
        "reward": t.reward,
        "accuracy": t.accuracy,
        "macs": t.metrics.get("macs"),
        "params": t.metrics.get("params"),
        "architecture": list(t.architecture),
        "description": space.describe(t.architecture),
    }


def describe(summary: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [
        f"{summary['controller']} search over {summary['space']} ({summary['task']}, reward "
        f"{summary['reward']}): {summary['finished']} trials finished, {summary['failed']} failed"
    ]
    if summary["best"] is not None:
        b = summary["best"]
        cost = f", {b['macs'] / 1e6:.2f} M multiply-adds" if b.get("macs") is not None else ""
        lines.append(
            f"best: trial {b['trial']}, reward {b['reward']:.4f}, accuracy {b['accuracy']:.4f}"
            f"{cost}"
        )
        lines.append(
            f"mean reward: first quarter {summary['first_quarter_mean_reward']:.4f}, last quarter "
            f"{summary['last_quarter_mean_reward']:.4f}"
        )
        lines += ["  " + line for line in b["description"].splitlines()]
    return "\n".join(lines)


def plot(run_dir: str | Path) -> list[Path]:
    """Redraw the figures of a search from its trial store: rewards, Pareto front, best."""
    run_dir = Path(run_dir)
    with TrialStore.reader(run_dir) as store:
        trials = store.trials()
        space = store.space()
        config = _saved_config(store)
        best = _fitting(space, store.best(1), store.path)
    label = f"{config.get('controller', 'search')} ({space.name})"
    written = [plot_rewards({label: trials}, run_dir / "rewards.png", window=_window(trials))]
    pareto = plot_pareto(trials, run_dir / "pareto.png", title=label)
    if pareto is not None:
        written.append(pareto)
    if best:
        t = best[0]
        title = f"best architecture: trial {t.id}, reward {t.reward:.4f}"
        written.append(plot_architecture(space, t.architecture, run_dir / "best.png", title=title))
    return written


def _window(trials: list[Trial]) -> int:
    return max(4, min(32, len(trials) // 8))


# ---------------------------------------------------------------------------------------------
# rlgen nas show
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowConfig:
    """Print the best architectures of one or more searches (safe while they run); with
    --figure, draw their rewards per trial together (e.g. the controller against random)."""

    run_dirs: Annotated[tuple[Path, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """run directories written by rlgen nas search"""
    top: int = 5
    """how many architectures to list per search"""
    by: Literal["reward", "accuracy"] = "reward"
    """rank by the reward or by the validation accuracy"""
    figure: Path | None = None
    """write the reward-per-trial figure of all the searches here (a .png)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        if not self.run_dirs:
            raise UserError("give at least one RUN_DIR")
        check_range("top", self.top, 1)
        check_choice("by", self.by, ("reward", "accuracy"))
        if self.figure is not None and self.figure.suffix.lower() != ".png":
            raise UserError(f"--figure {self.figure}: give a file name ending in .png")


def run_show(config: ShowConfig) -> dict[str, Any]:
    searches: list[dict[str, Any]] = []
    all_trials: list[list[Trial]] = []
    for run_dir in config.run_dirs:
        with TrialStore.reader(run_dir) as store:
            space = store.space()
            saved = _saved_config(store)
            trials = store.trials()
            counts = store.counts()
            top = _fitting(space, store.best(config.top, by=config.by), store.path)
        rewards = [
            float(t.reward) for t in trials if t.status == "finished" and t.reward is not None
        ]
        searches.append(
            {
                "run_dir": str(run_dir),
                "controller": saved.get("controller"),
                "space": space.name,
                "reward": _mapping(saved.get("objective")).get("reward"),
                "trials_planned": saved.get("trials"),
                "counts": counts,
                "best_reward": max(rewards, default=None),
                "last_quarter_mean_reward": last_quarter_mean(rewards) if rewards else None,
                "top": [
                    _trial_summary(space, t) | {"short": space.short(t.architecture)} for t in top
                ],
            }
        )
        all_trials.append(trials)
    if config.figure is not None:
        labelled = dict(zip(_labels(searches), all_trials, strict=True))
        longest = max(len(trials) for trials in all_trials)
        plot_rewards(labelled, config.figure, window=max(4, min(32, longest // 8)))
    return {"searches": searches, "figure": str(config.figure) if config.figure else None}


def _labels(searches: list[dict[str, Any]]) -> list[str]:
    """A distinct legend label per search: the controller and the run directory's name, or its
    whole path where names repeat (a/search, b/search), numbered where a path repeats."""
    labels = [f"{s['controller']} {Path(s['run_dir']).name}" for s in searches]
    if len(set(labels)) == len(labels):
        return labels
    paths = [f"{s['controller']} {s['run_dir']}" for s in searches]
    taken: set[str] = set()
    for i, label in enumerate(paths):
        n = 1  # a repeated path numbered past every label taken (a directory named 'x (2)')
        while label in taken or (n > 1 and label in paths):
            n += 1
            label = f"{paths[i]} ({n})"
        taken.add(label)
        labels[i] = label
    return labels


def describe_show(result: dict[str, Any]) -> str:
    lines = []
    for s in result["searches"]:
        c = s["counts"]
        done = c["finished"] + c["failed"]
        best = "-" if s["best_reward"] is None else f"{s['best_reward']:.4f}"
        last = s["last_quarter_mean_reward"]
        lines.append(
            f"{s['run_dir']}: {s['controller']} over {s['space']}, reward {s['reward']}; "
            f"{done} of {s['trials_planned']} trials done ({c['failed']} failed, "
            f"{c['running']} running); best {best}, last-quarter mean "
            f"{'-' if last is None else f'{last:.4f}'}"
        )
        lines.append(f"  {'trial':>5}  {'reward':>7}  {'acc':>6}  {'MMACs':>7}  architecture")
        for t in s["top"]:
            macs = "-" if t["macs"] is None else f"{t['macs'] / 1e6:7.2f}"
            lines.append(
                f"  {t['trial']:>5}  {t['reward']:7.4f}  {t['accuracy']:6.4f}  {macs:>7}  "
                f"{t['short']}"
            )
    if result["figure"]:
        lines.append(f"figure: {result['figure']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# rlgen nas train-best
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainBestConfig:
    """Retrain the best architectures of a search for longer, on several seeds; report test
    accuracy with a 95% interval over the seeds."""

    run_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """a run directory written by rlgen nas search"""
    top: int = 3
    """how many of the search's best architectures (by reward) to retrain"""
    seeds: int = 3
    """seeds per architecture"""
    child: ChildConfig = field(
        default_factory=lambda: ChildConfig(train_images=10_000, val_images=5_000, steps=1_000)
    )
    """the longer training (the validation images stay held out of the training set); the
    networks are the search's (its --child.filters and --child.cells) unless those are given"""
    data_dir: Path | None = None
    """directory holding Fashion-MNIST's IDX files (default: the usual places)"""
    device: Device = "auto"
    """where the networks train"""
    seed: int = 0
    """the first seed (seeds are seed, seed + 1, ...)"""
    jobs: Annotated[ExecutorOptions, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ExecutorOptions
    )
    """where the trainings run"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("top", self.top, 1)
        check_range("seeds", self.seeds, 1, 1000)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))


def run_train_best(
    config: TrainBestConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Retrain the top architectures of ``config.run_dir``; summary in ``run_dir``."""
    import torch

    from rlgen.figures import mean_interval

    torch.set_num_threads(1)
    with TrialStore.reader(config.run_dir) as store:
        space = store.space()
        best = _fitting(space, store.best(config.top), store.path)
    if not best:
        raise UserError(f"{config.run_dir}: no finished trial to retrain yet")
    saved = _mapping(_mapping(read_json(config.run_dir / "config.json")).get("config"))
    if saved.get("task") == "synthetic":
        raise UserError(f"{config.run_dir}: a synthetic search has no networks to retrain")
    child = _searched_networks(config, _mapping(saved.get("child")))
    check_available(config.jobs)
    local = config.jobs.executor == "local"
    device = resolve_device(config.device) if local else config.device
    data_dir = None if config.data_dir is None else str(config.data_dir)
    child_data(data_dir, child.train_images, child.val_images)
    jobs = [
        TrialJob(
            trial=t.id,
            seed=config.seed + s,
            space=space.spec,
            architecture=t.architecture,
            task="fashion-mnist",
            child=child,
            data_dir=data_dir,
            device=device,
            threads=job_threads(config.jobs),
            latency=False,
            test=True,
        )
        for t in best
        for s in range(config.seeds)
    ]
    with Run(
        "nas train-best", config, run_dir, quiet=quiet, device=device, metrics_index="job",
        overwrite=overwrite,
    ) as r:  # fmt: skip
        results: dict[int, list[dict[str, Any]]] = {t.id: [] for t in best}
        errors: list[str] = []
        for item in stream_jobs(run_trial, jobs, config.jobs, desc="retrain", quiet=quiet):
            j = item.job
            if item.ok:
                row = dict(item.result or {}) | {"seed": j.seed, "trial": j.trial}
                results[j.trial].append(row)
                r.metrics.log(
                    item.index,
                    {"trial": j.trial, "seed": j.seed, "test_accuracy": row["test_accuracy"],
                     "val_accuracy": row["accuracy"]},
                )  # fmt: skip
            else:
                errors.append(f"trial {j.trial} seed {j.seed}: {item.error}")
        architectures = []
        for t in best:
            runs = results[t.id]
            test = np.array([x["test_accuracy"] for x in runs], dtype=float)
            mean, half = (math.nan, math.nan)
            if test.size:
                m, h = mean_interval(test[:, None])
                mean, half = float(m[0]), float(h[0])
            architectures.append(
                _trial_summary(space, t)
                | {
                    # the cost of the network retrained (the search's, unless --child.filters
                    # or --child.cells made another)
                    "macs": runs[0]["macs"] if runs else None,
                    "params": runs[0]["params"] if runs else None,
                    "search_macs": t.metrics.get("macs"),
                    "search_params": t.metrics.get("params"),
                    "search_reward": t.reward,
                    "search_accuracy": t.accuracy,
                    "seeds": [x["seed"] for x in runs],
                    "test_accuracy": test.tolist(),
                    "test_accuracy_mean": mean,
                    "test_accuracy_ci95": half,
                    "val_accuracy_mean": float(np.mean([x["accuracy"] for x in runs]))
                    if runs
                    else None,
                }
            )
        summary = {
            "search": str(config.run_dir),
            "space": space.name,
            "child": dataclasses.asdict(child),
            "architectures": architectures,
            "errors": errors,
        }
        return r.finish(summary)


def _searched_networks(config: TrainBestConfig, searched: dict[str, Any]) -> ChildConfig:
    """``config.child`` building the search's networks: its --child.filters and --child.cells,
    unless given here."""
    same = {}
    for name in ("filters", "cells"):
        value = searched.get(name)
        if isinstance(value, int) and not was_given(config, f"child.{name}"):
            same[name] = value
    return dataclasses.replace(config.child, **same)


def describe_train_best(summary: dict[str, Any]) -> str:
    c = summary["child"]
    lines = [
        f"{len(summary['architectures'])} best architectures of {summary['search']} retrained "
        f"({c['steps']} steps on {c['train_images']} images); test accuracy, mean ± 95% interval "
        "over seeds:"
    ]
    for a in summary["architectures"]:
        half = a["test_accuracy_ci95"]
        spread = "" if half is None or not math.isfinite(half) else f" ± {half:.4f}"
        mean = a["test_accuracy_mean"]
        shown = "failed" if mean is None or not math.isfinite(mean) else f"{mean:.4f}{spread}"
        lines.append(
            f"  trial {a['trial']} (search reward {a['search_reward']:.4f}): {shown} "
            f"({len(a['seeds'])} seeds)"
        )
    lines += [f"  error: {e}" for e in summary["errors"]]
    return "\n".join(lines)


SEARCH = Command(SearchConfig, run, describe)
SHOW = Command(ShowConfig, run_show, describe_show, writes_run_dir=False)
TRAIN_BEST = Command(TrainBestConfig, run_train_best, describe_train_best)
