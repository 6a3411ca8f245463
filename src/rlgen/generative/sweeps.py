"""``rlgen vae beta-sweep`` and ``rlgen vae latent-sweep``: one VAE per value, as independent jobs.

Each value's model is a ``rlgen vae`` run directory ``OUT/<label>`` (``beta-0.5``, ``latent-20``)
trained as one job of :mod:`rlgen.executors`; the sweep directory holds their table::

    config.json  metrics.csv  summary.json  <label>/...  samples.png  reconstructions.png  sweep.png

``metrics.csv`` has one row per member (its test ELBO, terms, IWAE NLL, active units, sample
diversity, training time); ``summary.json`` the same per member with its status. ``--resume OUT``
keeps the finished members, resumes the checkpointed ones and starts the others.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from rlgen.configs import check_resume_options, load_run_config, refuse_ignored
from rlgen.errors import UserError, check_config_types, check_range, number_text
from rlgen.executors import ExecutorOptions, map_jobs
from rlgen.files import read_json
from rlgen.generative import plots
from rlgen.generative.command import CHECKPOINT, VAETrainConfig, check_resume_dir, plot, train_vae
from rlgen.generative.models import BETA_MAX, check_vae_size
from rlgen.generative.scoring import IMAGES
from rlgen.runs import Command, Run, default_run_dir
from rlgen.training import NonFiniteLoss

BETA_SWEEP, LATENT_SWEEP = "vae beta-sweep", "vae latent-sweep"


def _check_sweep_values(
    option: str,
    values: tuple[float, ...],
    low: float,
    high: float | None = None,
    label: Callable[[float], str] | None = None,
) -> None:
    """``--<option>``: at least one value, each in [``low``, ``high``], no value twice, and no
    two values whose members' directories (``label``) would be the same one."""
    if not values:
        raise UserError(f"--{option}: give at least one value")
    for value in values:
        check_range(option, value, low, high)
    if len(set(values)) != len(values):
        raise UserError(f"--{option}: give distinct values, got {list(values)}")
    if label is not None:
        seen: dict[str, float] = {}
        for value in values:
            other = seen.setdefault(label(value), value)
            if other != value:
                a, b = (number_text(v) for v in (other, value))
                raise UserError(
                    f"--{option}: {a} and {b} would share the directory {label(value)}; give "
                    "values that differ in their first 6 significant digits"
                )


class _Sweep:
    """What the sweep configs share (their fields stay in each, in the order of its --help)."""

    train: VAETrainConfig

    @property
    def resume(self) -> Path | None:
        """``--resume``: the sweep directory to continue (the CLI runs it there)."""
        return self.train.resume

    def ignored(self) -> dict[str, str]:
        """The options the sweep would ignore (:func:`rlgen.configs.refuse_ignored`): the one each
        value replaces (--beta, --latent), and those every member would ignore."""
        beta = isinstance(self, BetaSweepConfig)
        option, values = ("beta", "--betas") if beta else ("latent", "--latents")
        members = {f"train.{name}": why for name, why in self.train.ignored().items()}
        return {f"train.model.{option}": f": the sweep replaces it by each of {values}"} | members


@dataclass(frozen=True)
class BetaSweepConfig(_Sweep):
    """Train one VAE per KL weight beta (independent jobs) and draw their samples as one grid."""

    betas: tuple[float, ...] = (0.1, 1.0, 10.0)
    """the KL weights"""
    train: Annotated[VAETrainConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=VAETrainConfig
    )
    """what every model shares (--beta is replaced by each of --betas)"""
    jobs: Annotated[ExecutorOptions, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ExecutorOptions
    )
    """where the models train"""

    def __post_init__(self) -> None:
        check_config_types(self)
        _check_sweep_values("betas", self.betas, 0, BETA_MAX, self.label)

    @property
    def values(self) -> tuple[float, ...]:
        return self.betas

    def member(self, value: float) -> VAETrainConfig:
        model = dataclasses.replace(self.train.model, beta=value)
        return dataclasses.replace(self.train, model=model, resume=None)

    @staticmethod
    def label(value: float) -> str:
        return f"beta-{value:g}"


@dataclass(frozen=True)
class LatentSweepConfig(_Sweep):
    """Train one VAE per latent size (independent jobs): bound, sharpness, active units."""

    latents: tuple[int, ...] = (2, 5, 10, 20, 50)
    """the latent sizes"""
    train: Annotated[VAETrainConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=VAETrainConfig
    )
    """what every model shares (--latent is replaced by each of --latents)"""
    jobs: Annotated[ExecutorOptions, tyro.conf.OmitArgPrefixes] = field(
        default_factory=ExecutorOptions
    )
    """where the models train"""

    def __post_init__(self) -> None:
        check_config_types(self)
        _check_sweep_values("latents", self.latents, 1)
        model = self.train.model  # each member's own check would name --latent
        check_vae_size(model.architecture, model.hidden, max(self.latents), option="latents")

    @property
    def values(self) -> tuple[int, ...]:
        return self.latents

    def member(self, value: float) -> VAETrainConfig:
        model = dataclasses.replace(self.train.model, latent=int(value))
        return dataclasses.replace(self.train, model=model, resume=None)

    @staticmethod
    def label(value: float) -> str:
        return f"latent-{int(value)}"


SweepConfig = BetaSweepConfig | LatentSweepConfig

SWEEP_KEYS = (
    "test_elbo",
    "test_reconstruction",
    "test_kl",
    "iwae_nll",
    "active_units",
    "sample_diversity",
    "train_seconds",
)


def sweep_job(job: tuple[VAETrainConfig, str, str]) -> dict[str, Any]:
    """One model of a sweep: ``(config, run_dir, mode)`` with mode ``fresh``, ``resume`` or
    ``done`` (read its summary). A model whose loss became non-finite returns its summary."""
    config, run_dir, mode = job
    if multiprocessing.parent_process() is not None:
        import torch

        torch.set_num_threads(1)  # one job per core
    if mode == "done":
        return read_json(Path(run_dir) / "summary.json")
    try:
        return train_vae(config, run_dir, quiet=True, resume=mode == "resume")
    except NonFiniteLoss:
        return read_json(Path(run_dir) / "summary.json")


def run_sweep(
    name: str,
    config: SweepConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Each value's model as an independent job into ``OUT/<label>``; the sweep's summary and
    figures. ``--resume OUT`` keeps the finished models, resumes the checkpointed ones and
    starts the others."""
    resume = config.train.resume is not None
    if resume:
        assert config.train.resume is not None
        directory = config.train.resume
        check_resume_dir(directory, run_dir)
        check_resume_options(config, directory)  # the sweep's options too (--betas, --workers)
        config = load_run_config(directory, name, type(config))
    else:
        refuse_ignored(config)
        directory = Path(run_dir) if run_dir is not None else default_run_dir(name, None)
    start = time.perf_counter()
    with Run(
        name,
        config,
        directory,
        quiet=quiet,
        metrics_index="member",
        tensorboard=False,
        device=config.train.device,
        resume=resume,
        overwrite=overwrite,
    ) as r:
        jobs = []
        for value in config.values:
            member_dir = r.path / config.label(value)
            mode = "fresh"
            if resume and (member_dir / "summary.json").is_file():
                mode = "done"
            elif resume and (member_dir / CHECKPOINT).is_file():
                mode = "resume"
            elif member_dir.exists():
                import shutil

                shutil.rmtree(member_dir)  # started but never checkpointed: start again
            jobs.append((config.member(value), str(member_dir), mode))
        summaries = map_jobs(sweep_job, jobs, config.jobs, desc=name, quiet=quiet)
        members = []
        for i, (value, s) in enumerate(zip(config.values, summaries, strict=True)):
            row = {k: s.get(k) for k in SWEEP_KEYS if k != "sample_diversity"}
            row["sample_diversity"] = _sample_diversity(r.path / config.label(value))
            r.metrics.log(
                i, {k: float(v) if v is not None else float("nan") for k, v in row.items()}
            )
            members.append(
                {"value": value, "dir": config.label(value), "status": s["status"], **row}
            )
        written = r.finish(
            {
                "sweep": "beta" if isinstance(config, BetaSweepConfig) else "latent",
                "values": list(config.values),
                "members": members,
                "executor": config.jobs.executor,
                "wall_seconds": time.perf_counter() - start,
            }
        )
        plot(r.path)
    return written


def _sample_diversity(member_dir: Path) -> float | None:
    """Mean pairwise Euclidean distance between a member's prior samples (pixel space)."""
    from rlgen.generative.measures import mean_pairwise_distance

    path = member_dir / IMAGES
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return mean_pairwise_distance(saved["samples"])


def run_beta_sweep(config: BetaSweepConfig, run_dir: str | Path | None = None, **kw: Any) -> dict:
    """``rlgen vae beta-sweep``."""
    return run_sweep(BETA_SWEEP, config, run_dir, **kw)


def run_latent_sweep(
    config: LatentSweepConfig, run_dir: str | Path | None = None, **kw: Any
) -> dict:
    """``rlgen vae latent-sweep``."""
    return run_sweep(LATENT_SWEEP, config, run_dir, **kw)


def describe_sweep(summary: Mapping[str, Any]) -> str:
    name = "beta" if summary["sweep"] == "beta" else "latent"
    lines = [f"{name:>8}  test ELBO  reconstr.       KL  IWAE NLL  active  diversity"]
    for m in summary["members"]:
        if m["status"] != "finished":
            lines.append(f"{m['value']:>8g}  {m['status']}")
            continue
        nll = f"{m['iwae_nll']:9.2f}" if m["iwae_nll"] is not None else f"{'-':>9}"
        lines.append(
            f"{m['value']:>8g}  {m['test_elbo']:9.2f}  {m['test_reconstruction']:9.2f}  "
            f"{m['test_kl']:7.2f}  {nll}  {m['active_units']:6d}  {m['sample_diversity']:9.2f}"
        )
    return "\n".join(lines)


def plot_sweep(run_dir: Path, command: str, config: Mapping[str, Any]) -> list[Path]:
    """The figures of a sweep directory (``command``, its saved ``config``) from its files."""
    values = config["betas"] if command == BETA_SWEEP else config["latents"]
    label: Callable[[float], str] = (
        BetaSweepConfig.label if command == BETA_SWEEP else LatentSweepConfig.label
    )
    return plots.plot_sweep(run_dir, values, label, "β" if command == BETA_SWEEP else "latent")


BETA = Command(BetaSweepConfig, run_beta_sweep, describe_sweep)
LATENT = Command(LatentSweepConfig, run_latent_sweep, describe_sweep)
