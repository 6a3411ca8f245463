"""``rlgen vae`` and ``rlgen ae``: their configs, training in a run directory, their figures.

``rlgen vae`` trains a variational autoencoder through the shared loop (:mod:`rlgen.training`),
scores it on the test images and writes one run directory::

    config.json  metrics.csv  summary.json  checkpoint.pt  images.npz  *.png

``metrics.csv`` has one row per epoch (``train/loss``, ``train/reconstruction``, ``train/kl``;
``eval/...`` on the validation images); ``summary.json`` the test ELBO, its terms, the IWAE
negative log-likelihood (nats, with its k), the active units and the timings (keys in the
README). ``images.npz`` holds the arrays the figures are drawn from (test inputs and their
reconstructions, prior samples; for a 2-D latent the manifold grid and the encoded test set), so
:func:`plot` redraws every figure from the run directory alone. ``rlgen ae --kind
compressive|linear|denoising`` trains a deterministic autoencoder the same way.

``checkpoint.pt`` (model, optimiser, the loop's generator, torch's RNG, the history) is written
atomically after every ``--checkpoint-every`` epochs; ``--resume RUN_DIR`` continues a run killed
at any moment (``kill -9``) from it and ends with the uninterrupted run's numbers.

The rest of the commands' work lives beside this module:

- :mod:`rlgen.generative.scoring`: the summary keys, the test scores, the ``images.npz`` arrays;
- :mod:`rlgen.generative.plots`: the figures, drawn from a run directory's files;
- :mod:`rlgen.generative.evaluate`: ``rlgen vae evaluate RUN_DIR`` (re-score a saved VAE) and
  :func:`~rlgen.generative.evaluate.load_vae` / ``load_ae``;
- :mod:`rlgen.generative.sweeps`: ``rlgen vae beta-sweep`` and ``rlgen vae latent-sweep``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from rlgen.configs import check_resume_options, load_run_config, refuse_ignored
from rlgen.errors import UserError, check_choice, check_config_types, check_memory, check_range
from rlgen.executors import job_device
from rlgen.files import read_json
from rlgen.generative import plots
from rlgen.generative.images import DataConfig, Images, load_images
from rlgen.generative.models import VAE, AEConfig, Autoencoder, VAEConfig, check_batch_size
from rlgen.generative.scoring import (
    ae_summary,
    check_iwae_k,
    save_ae_images,
    save_vae_images,
    score_ae,
    score_vae,
    vae_summary,
)
from rlgen.runs import MAX_SEED, Command, Device, Run, default_run_dir, resolve_device
from rlgen.training import DivergedLoss, History, LoopConfig, NonFiniteLoss

VAE_NAME, AE_NAME = "vae", "ae"
CHECKPOINT = "checkpoint.pt"
VAE_KIND, AE_KIND = "rlgen.vae-run/1", "rlgen.ae-run/1"


HISTORY_EPOCH_BYTES = 2000
"""memory per epoch of the loop's history (a row of metrics, kept for the whole run and copied
into every checkpoint): measured with tracemalloc at about 1,550 bytes for a VAE's row with
evaluation while the checkpoint is written, rounded up"""


def check_epochs(loop: LoopConfig) -> None:
    """Refuse --epochs whose per-epoch history would not fit in memory (--max-steps, when it
    ends the run sooner, bounds the epochs: each takes at least one step). A run of 10**30
    epochs was accepted and trained practically for ever."""
    if loop.max_steps is not None and loop.max_steps < loop.epochs:
        what = f"the history of up to {loop.max_steps:,} epochs (one step each)"
        check_memory("max_steps", HISTORY_EPOCH_BYTES * loop.max_steps, what)
    else:
        what = f"the history of {loop.epochs:,} epochs"
        check_memory("epochs", HISTORY_EPOCH_BYTES * loop.epochs, what)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VAETrainConfig:
    """Train a variational autoencoder on Fashion-MNIST (or MNIST) and score it on the test set."""

    seed: int = 0
    """random seed (initialisation, shuffling, sampling); the same seed gives the same run on CPU"""
    lr: float = 5e-3
    """Adam's learning rate"""
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    """constant, or cosine: decayed to 0 along a half cosine over the run's optimiser steps"""
    iwae_k: int = 100
    """importance samples per test image for the IWAE estimate of log p(x) (0: skip it)"""
    iwae_examples: int | None = None
    """score the IWAE on only the first this many test images; None: all of them"""
    device: Device = "auto"
    """auto (CUDA when present), cpu or cuda; the data lives there for the whole run"""
    resume: Path | None = None
    """continue the run in this directory (its config.json is used): a model from its last
    checkpoint; a sweep keeps its finished models, resumes the checkpointed ones, restarts the
    others"""
    model: Annotated[VAEConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=VAEConfig)
    """the model"""
    data: Annotated[DataConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=DataConfig)
    """the images"""
    loop: Annotated[LoopConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=lambda: LoopConfig(epochs=4, batch_size=64)
    )
    """the training loop (default: 4 epochs of batches of 64)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_range("lr", self.lr, 0, low_open=True)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_range("iwae_k", self.iwae_k, 0)
        check_iwae_k(self.iwae_k)
        if self.iwae_examples is not None:
            check_range("iwae_examples", self.iwae_examples, 1)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_epochs(self.loop)

    def ignored(self) -> dict[str, str]:
        """The options the run would ignore, each with why
        (:func:`rlgen.configs.refuse_ignored`): --iwae-examples with --iwae-k 0, --eval-every
        with --validation 0."""
        ignored = _no_validation(self.data, self.loop)
        if self.iwae_k == 0:
            ignored["iwae_examples"] = ": --iwae-k 0 skips the IWAE"
        return ignored


@dataclass(frozen=True)
class AETrainConfig:
    """Train a deterministic autoencoder (compressive, linear or denoising)."""

    seed: int = 0
    """random seed (initialisation, shuffling, noise); the same seed gives the same run on CPU"""
    lr: float = 3e-3
    """Adam's learning rate"""
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    """constant, or cosine: decayed to 0 along a half cosine over the run's optimiser steps"""
    device: Device = "auto"
    """auto (CUDA when present), cpu or cuda; the data lives there for the whole run"""
    resume: Path | None = None
    """continue the run in this directory (its config.json is used): a model from its last
    checkpoint; a sweep keeps its finished models, resumes the checkpointed ones, restarts the
    others"""
    model: Annotated[AEConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=AEConfig)
    """the model"""
    data: Annotated[DataConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=DataConfig)
    """the images"""
    loop: Annotated[LoopConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=lambda: LoopConfig(epochs=5, batch_size=64)
    )
    """the training loop (default: 5 epochs of batches of 64)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_range("lr", self.lr, 0, low_open=True)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_epochs(self.loop)

    def ignored(self) -> dict[str, str]:
        """The options the run would ignore, each with why
        (:func:`rlgen.configs.refuse_ignored`): --hidden with --kind linear, --noise and
        --noise-level without --kind denoising, --eval-every with --validation 0."""
        kind = self.model.kind
        ignored = _no_validation(self.data, self.loop)
        if kind == "linear":
            ignored["model.hidden"] = (
                ": --kind linear has no hidden layers (one linear layer each way)"
            )
        if kind != "denoising":
            why = f"is for --kind denoising only: --kind {kind} would ignore it"
            ignored |= {"model.noise": why, "model.noise_level": why}
        return ignored


def _no_validation(data: DataConfig, loop: LoopConfig) -> dict[str, str]:
    """--eval-every as ignored where --validation 0 holds out no images to evaluate on (0, only
    at the end, says the same and is not refused: the README's likelihood setting gives both)."""
    if data.validation == 0 and loop.eval_every > 0:
        return {"loop.eval_every": ": --validation 0 holds out no images to evaluate on"}
    return {}


# ---------------------------------------------------------------------------------------------
# Training inside a run directory (both models)
# ---------------------------------------------------------------------------------------------


@dataclass
class Fitted:
    """What training left: the history, and whether it ended well."""

    history: History
    status: str = "finished"
    error: str | None = None


def optimizer_and_schedule(
    model: VAE | Autoencoder, config: VAETrainConfig | AETrainConfig, examples: int
) -> tuple[Any, Any]:
    """Adam at ``--lr`` and, with ``--lr-schedule cosine``, its per-step cosine decay to 0 over
    the run's optimiser steps (None for a constant rate)."""
    import torch

    from rlgen.generative.models import make_optimizer

    optimizer = make_optimizer(model, config.lr)
    if config.lr_schedule == "constant":
        return optimizer, None
    steps = config.loop.epochs * config.loop.steps_per_epoch(examples)
    if config.loop.max_steps is not None:
        steps = min(steps, config.loop.max_steps)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps))


def fit_in_run(
    model: VAE | Autoencoder,
    config: VAETrainConfig | AETrainConfig,
    images: Images,
    run: Run,
    *,
    kind: str,
    resume: bool,
    device: str,
    desc: str,
) -> Fitted:
    """Train ``model`` with the run's metrics and checkpoint; a non-finite loss is reported,
    not raised (the run directory keeps the last good checkpoint)."""

    def evaluate(m: Any) -> Mapping[str, float]:
        return m.evaluate(images.validation, seed=config.seed)

    optimizer, scheduler = optimizer_and_schedule(model, config, len(images.train))
    try:
        history = model.fit(
            images.train,
            config.loop,
            optimizer=optimizer,
            scheduler=scheduler,
            scheduler_interval="step",
            seed=config.seed,
            device=device,
            transform=images.transform(),
            evaluate=evaluate if len(images.validation) else None,
            metrics=run.metrics,
            checkpoint=run.path / CHECKPOINT,
            checkpoint_kind=kind,
            resume=resume,
            lr_option="--lr",
            quiet=run.quiet,
            desc=desc,
        )
    except NonFiniteLoss as e:  # DivergedLoss too: a finite loss far above where it started
        status = "diverged" if isinstance(e, DivergedLoss) else "non-finite loss"
        return Fitted(History(), status, str(e))
    return Fitted(history)


def timings(history: History, wall_start: float) -> dict[str, Any]:
    epoch_seconds = [s for s in history.column("time/epoch_seconds") if s is not None]
    return {
        "epochs": history.epoch,
        "steps": history.step,
        "train_seconds": history.train_seconds,
        "eval_seconds": history.eval_seconds,
        "seconds_per_epoch": float(np.median(epoch_seconds)) if epoch_seconds else None,
        "wall_seconds": time.perf_counter() - wall_start,
    }


def _seed_everything(seed: int) -> None:
    import torch

    torch.manual_seed(seed)  # initialisation; the loop's generator is seeded by fit


# ---------------------------------------------------------------------------------------------
# rlgen vae
# ---------------------------------------------------------------------------------------------


def train_vae(
    config: VAETrainConfig,
    run_dir: str | Path,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and score one VAE into ``run_dir`` (or continue the run there, with ``resume``)."""
    return _train_and_score(
        VAE_NAME,
        VAE_KIND,
        VAE,
        vae_summary,
        score_vae,
        save_vae_images,
        config,
        run_dir,
        quiet=quiet,
        overwrite=overwrite,
        resume=resume,
    )


def _train_and_score(
    name: str,
    kind: str,
    model_class: Callable[..., VAE | Autoencoder],
    summarize: Callable[[Any, Images, Fitted, str], dict[str, Any]],
    score: Callable[[Any, Any, Images], dict[str, Any]],
    save_images: Callable[[Path, Any, Images, int], None],
    config: VAETrainConfig | AETrainConfig,
    run_dir: str | Path,
    *,
    quiet: bool,
    overwrite: bool,
    resume: bool,
) -> dict[str, Any]:
    """``rlgen vae`` and ``rlgen ae``: train a ``model_class`` in the run directory; its summary
    (``summarize``) with, unless the loss became non-finite, ``score``'s test figures, the
    ``save_images`` arrays and the figures; then raise :class:`NonFiniteLoss` if it did."""
    wall_start = time.perf_counter()
    # a sweep's job trains where its worker was given (--worker-devices; a Ray task's GPU)
    device = job_device() or resolve_device(config.device)
    with Run(
        name,
        config,
        run_dir,
        quiet=quiet,
        metrics_index="epoch",
        device=device,
        resume=resume,
        overwrite=overwrite,
    ) as r:
        images = load_images(config.data, device)
        batch = min(config.loop.batch_size, len(images.train))
        check_batch_size(config.model, images.pixels, batch)
        _seed_everything(config.seed)
        model = model_class(config.model, pixels=images.pixels).to(device)
        model.init_output_bias(images.train)  # (a resumed run loads its own weights)
        fitted = fit_in_run(
            model, config, images, r, kind=kind, resume=resume, device=device, desc=name
        )
        summary = summarize(config, images, fitted, device)
        if fitted.error is None:
            summary |= score(model, config, images)
            save_images(r.path, model, images, config.seed)
            plot(r.path)
        summary |= timings(fitted.history, wall_start)
        written = r.finish(summary)
    if fitted.error is not None:
        raise NonFiniteLoss(fitted.error)
    return written


def run_vae(
    config: VAETrainConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``rlgen vae``: one model into ``run_dir``, or continue ``--resume``."""
    if config.resume is not None:
        check_resume_dir(config.resume, run_dir)
        check_resume_options(config, config.resume)
        original = load_run_config(config.resume, VAE_NAME, VAETrainConfig)
        _check_checkpoint(config.resume)
        return train_vae(original, config.resume, quiet=quiet, resume=True)
    refuse_ignored(config)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(VAE_NAME, config.seed)
    return train_vae(config, run_dir, quiet=quiet, overwrite=overwrite)


def check_resume_dir(resume: Path, run_dir: str | Path | None) -> None:
    if run_dir is not None and Path(run_dir).resolve() != resume.resolve():
        raise UserError("--resume continues the run in its own directory; leave out --out")


def _check_checkpoint(run_dir: Path) -> None:
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(
            f"--resume {run_dir}: no {CHECKPOINT} to continue from; start a new run instead"
        )


def describe_vae(summary: Mapping[str, Any]) -> str:
    """A few lines for the terminal."""
    head = (
        f"VAE on {summary['dataset']} (latent {summary['latent']}, beta {summary['beta']:g}, "
        f"{summary['likelihood']} likelihood, binarize {summary['binarize']}), seed "
        f"{summary['seed']}: {summary['epochs']} epochs in {summary['train_seconds']:.1f} s"
    )
    if summary["status"] != "finished":
        return f"{head}\n{summary['status']}: {summary['error']}"
    lines = [
        head,
        f"test ELBO {summary['test_elbo']:.2f} nats per image (reconstruction "
        f"{summary['test_reconstruction']:.2f}, KL {summary['test_kl']:.2f}); "
        f"{summary['active_units']} of {summary['latent']} latent units active",
    ]
    if summary["iwae_nll"] is not None:
        lines.append(
            f"IWAE negative log-likelihood {summary['iwae_nll']:.2f} ± {summary['iwae_se']:.2f} "
            f"nats (k = {summary['iwae_k']}, {summary['iwae_examples']} test images)"
        )
    if not summary["likelihood_normalized"]:
        lines.append(
            "(Bernoulli cross-entropy on grey levels is not a normalised likelihood: these "
            "'nats' compare runs, not densities; --binarize dynamic or --likelihood "
            "continuous-bernoulli give real ones)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# rlgen ae
# ---------------------------------------------------------------------------------------------


def train_ae(
    config: AETrainConfig,
    run_dir: str | Path,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and score one autoencoder into ``run_dir`` (or continue the run there)."""
    return _train_and_score(
        AE_NAME,
        AE_KIND,
        Autoencoder,
        ae_summary,
        score_ae,
        save_ae_images,
        config,
        run_dir,
        quiet=quiet,
        overwrite=overwrite,
        resume=resume,
    )


def run_ae(
    config: AETrainConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``rlgen ae``: one autoencoder into ``run_dir``, or continue ``--resume``."""
    if config.resume is not None:
        check_resume_dir(config.resume, run_dir)
        check_resume_options(config, config.resume)
        original = load_run_config(config.resume, AE_NAME, AETrainConfig)
        _check_checkpoint(config.resume)
        return train_ae(original, config.resume, quiet=quiet, resume=True)
    refuse_ignored(config)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(AE_NAME, config.seed)
    return train_ae(config, run_dir, quiet=quiet, overwrite=overwrite)


def describe_ae(summary: Mapping[str, Any]) -> str:
    head = (
        f"{summary['kind']} autoencoder on {summary['dataset']} (latent {summary['latent']}), "
        f"seed {summary['seed']}: {summary['epochs']} epochs in {summary['train_seconds']:.1f} s"
    )
    if summary["status"] != "finished":
        return f"{head}\n{summary['status']}: {summary['error']}"
    lines = [
        head,
        f"test loss {summary['test_loss']:.2f} per image, squared error {summary['test_mse']:.4f} "
        "per pixel",
    ]
    if summary["test_noisy_mse"] is not None:
        lines.append(
            f"denoising: noisy input {summary['test_noisy_mse']:.4f}, reconstruction of it "
            f"{summary['test_denoised_mse']:.4f} (squared error per pixel against the clean image)"
        )
    if summary["pca_max_angle"] is not None:
        lines.append(
            f"decoder vs the top-{summary['latent']} PCA subspace: largest principal angle "
            f"{np.degrees(summary['pca_max_angle']):.2f} degrees; largest |cos| between its "
            f"columns {summary['decoder_max_cosine']:.2f} (0: orthogonal, like the components)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Figures, from the run directory alone
# ---------------------------------------------------------------------------------------------


def plot(run_dir: str | Path) -> list[Path]:
    """Redraw every figure of a ``vae``, ``ae`` or sweep run directory; returns their paths."""
    run_dir = Path(run_dir)
    saved = read_json(run_dir / "config.json")
    command = saved.get("command") if isinstance(saved, dict) else None
    if command in (VAE_NAME, AE_NAME):
        return plots.plot_model(run_dir, saved["config"], vae=command == VAE_NAME)
    from rlgen.generative import sweeps  # (which imports this module)

    if command in (sweeps.BETA_SWEEP, sweeps.LATENT_SWEEP):
        return sweeps.plot_sweep(run_dir, command, saved["config"])
    raise UserError(f"{run_dir}: not a vae, ae or sweep run directory")


COMMAND = Command(VAETrainConfig, run_vae, describe_vae)
AE = Command(AETrainConfig, run_ae, describe_ae)
