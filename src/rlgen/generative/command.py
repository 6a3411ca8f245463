"""``rlgen vae`` (+ ``evaluate``, ``beta-sweep``, ``latent-sweep``) and ``rlgen ae``.

``rlgen vae`` trains a variational autoencoder through the shared loop (:mod:`rlgen.training`),
scores it on the test images and writes one run directory::

    config.json  metrics.csv  summary.json  checkpoint.pt  images.npz  *.png

``metrics.csv`` has one row per epoch (``train/loss``, ``train/reconstruction``, ``train/kl``;
``eval/...`` on the validation images); ``summary.json`` the test ELBO, its terms, the IWAE
negative log-likelihood (nats, with its k), the active units and the timings (keys in the
README). ``images.npz`` holds the arrays the figures are drawn from (test inputs and their
reconstructions, prior samples; for a 2-D latent the manifold grid and the encoded test set), so
:func:`plot` redraws every figure from the run directory alone.

``checkpoint.pt`` (model, optimiser, the loop's generator, torch's RNG, the history) is written
atomically after every ``--checkpoint-every`` epochs; ``--resume RUN_DIR`` continues a run killed
at any moment (``kill -9``) from it and ends with the uninterrupted run's numbers.

``rlgen vae evaluate RUN_DIR --iwae-k 5000`` re-scores a saved model; ``rlgen vae beta-sweep`` and
``rlgen vae latent-sweep`` train one model per value as independent jobs (:mod:`rlgen.executors`)
and draw their samples as one grid. ``rlgen ae --kind compressive|linear|denoising`` trains a
deterministic autoencoder the same way.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from rlgen.errors import UserError, check_choice, check_config_types, check_range
from rlgen.executors import ExecutorOptions, map_jobs
from rlgen.generative import figures
from rlgen.generative.images import DataConfig, Images, load_images
from rlgen.generative.likelihoods import normalised
from rlgen.generative.models import VAE, AEConfig, Autoencoder, VAEConfig
from rlgen.runs import (
    Command,
    Run,
    check_resume_options,
    default_run_dir,
    load_run_config,
    read_json,
    resolve_device,
    write_json,
)
from rlgen.training import DivergedLoss, History, LoopConfig, NonFiniteLoss, load_model

VAE_NAME, AE_NAME = "vae", "ae"
BETA_SWEEP, LATENT_SWEEP = "vae beta-sweep", "vae latent-sweep"
CHECKPOINT = "checkpoint.pt"
VAE_KIND, AE_KIND = "rlgen.vae-run/1", "rlgen.ae-run/1"
IMAGES = "images.npz"
EVALUATION = "evaluation.json"
SHOWN = 16
"""test images shown with their reconstructions"""
SAMPLES = 64
"""prior samples (VAE) or decoded random codes (autoencoder) drawn and saved"""
MANIFOLD = 20
"""the 2-D manifold figure is MANIFOLD x MANIFOLD decoded points"""

Device = Literal["auto", "cpu", "cuda"]


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
    """score the IWAE on only the first this many test images (default: all of them)"""
    device: Device = "auto"
    """auto (CUDA when present), cpu or cuda; the data lives there for the whole run"""
    resume: Path | None = None
    """continue the run in this directory from its last checkpoint (its config.json is used)"""
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
        check_range("seed", self.seed, 0)
        check_range("lr", self.lr, 0, low_open=True)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_range("iwae_k", self.iwae_k, 0)
        if self.iwae_examples is not None:
            check_range("iwae_examples", self.iwae_examples, 1)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))


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
    """continue the run in this directory from its last checkpoint (its config.json is used)"""
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
        check_range("seed", self.seed, 0)
        check_range("lr", self.lr, 0, low_open=True)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))


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


def _generator(device: str, seed: int) -> Any:
    import torch

    return torch.Generator(device=device).manual_seed(seed)


def _numpy(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy()


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
    device = resolve_device(config.device)
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


def vae_summary(
    config: VAETrainConfig, images: Images, fitted: Fitted, device: str
) -> dict[str, Any]:
    m = config.model
    return {
        "dataset": config.data.dataset,
        "seed": config.seed,
        "latent": m.latent,
        "beta": m.beta,
        "architecture": m.architecture,
        "hidden": list(m.hidden),
        "likelihood": m.likelihood,
        "binarize": config.data.binarize,
        "likelihood_normalized": normalised(m.likelihood, images.binarized),
        "device": device,
        "status": fitted.status,
        "error": fitted.error,
        "train_examples": len(images.train),
        "validation_examples": len(images.validation),
        "test_examples": len(images.test),
        "validation_elbo": fitted.history.final_eval.get("elbo"),
        "test_elbo": None,
        "test_reconstruction": None,
        "test_kl": None,
        "test_loss": None,
        "iwae_nll": None,
        "iwae_se": None,
        "iwae_k": config.iwae_k or None,
        "iwae_examples": None,
        "active_units": None,
    }


def score_vae(model: VAE, config: VAETrainConfig, images: Images) -> dict[str, Any]:
    """The test ELBO, its terms and the active units on the test set; IWAE_k on its first
    ``--iwae-examples`` images."""
    start = time.perf_counter()
    test = model.evaluate(images.test, seed=config.seed)
    out: dict[str, Any] = {
        "test_elbo": test["elbo"],
        "test_reconstruction": test["reconstruction"],
        "test_kl": test["kl"],
        "test_loss": test["loss"],
        "active_units": test["active_units"],
        "test_seconds": time.perf_counter() - start,
    }
    if config.iwae_k:
        start = time.perf_counter()
        n = config.iwae_examples or len(images.test)
        scored = model.evaluate(
            images.test[:n], iwae_k=config.iwae_k, seed=config.seed, **_iwae_batch(config.iwae_k)
        )
        out |= {
            "iwae_nll": scored["iwae_nll"],
            "iwae_se": scored["iwae_se"],
            "iwae_examples": min(n, len(images.test)),
            "iwae_seconds": time.perf_counter() - start,
        }
    return out


def _iwae_batch(k: int) -> dict[str, int]:
    """Test images per IWAE batch: about 50,000 decoded samples at a time."""
    return {"batch_size": max(1, min(500, 50_000 // k))}


def save_vae_images(run_dir: Path, model: VAE, images: Images, seed: int) -> None:
    """``images.npz``: what the figures show (see the module docstring)."""
    import torch

    shown = images.test[:SHOWN]
    arrays: dict[str, np.ndarray] = {
        "inputs": _numpy(shown),
        "reconstructions": _numpy(model.reconstruct(shown)),
        "samples": _numpy(
            model.sample(SAMPLES, generator=_generator(images.test.device.type, seed))
        ),
        "side": np.array(images.side),
    }
    if model.config.latent == 2:
        codes = torch.as_tensor(figures.manifold_codes(MANIFOLD), dtype=torch.float32)
        with torch.no_grad():
            arrays["manifold"] = _numpy(model.mean_image(model.decode(codes.to(model.device))))
            arrays["codes"] = _numpy(model.encode(images.test)[0])
        arrays["labels"] = images.test_labels.cpu().numpy()
    _write_npz(run_dir / IMAGES, arrays)


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    import io

    from rlgen.runs import atomic_write_bytes

    buffer = io.BytesIO()
    named: dict[str, Any] = dict(arrays)
    np.savez_compressed(buffer, **named)
    atomic_write_bytes(path, buffer.getvalue())


def run_vae(
    config: VAETrainConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``rlgen vae``: one model into ``run_dir``, or continue ``--resume``."""
    if config.resume is not None:
        _check_resume_dir(config.resume, run_dir)
        check_resume_options(config, config.resume)
        original = load_run_config(config.resume, VAE_NAME, VAETrainConfig)
        _check_checkpoint(config.resume)
        return train_vae(original, config.resume, quiet=quiet, resume=True)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(VAE_NAME, config.seed)
    return train_vae(config, run_dir, quiet=quiet, overwrite=overwrite)


def _check_resume_dir(resume: Path, run_dir: str | Path | None) -> None:
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
# rlgen vae evaluate RUN_DIR
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluateConfig:
    """Re-score the VAE saved in a run directory: ELBO and the IWAE bound with k samples."""

    run_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """a run directory written by rlgen vae (it holds checkpoint.pt)"""
    iwae_k: int = 5000
    """importance samples per test image"""
    examples: int | None = None
    """score only the first this many test images (default: the run's whole test set)"""
    seed: int = 0
    """seed of the samples"""
    device: Device = "auto"
    """auto, cpu or cuda"""
    data_dir: Path | None = None
    """where the dataset's IDX files are, if not where the run found them"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("iwae_k", self.iwae_k, 1)
        if self.examples is not None:
            check_range("examples", self.examples, 1)
        check_range("seed", self.seed, 0)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))


def load_vae(
    run_dir: str | Path, device: str = "cpu", *, data_dir: Path | None = None
) -> tuple[VAE, VAETrainConfig, Images]:
    """The model of a ``rlgen vae`` run directory (weights only), its config and its images."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir, VAE_NAME, VAETrainConfig)
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(f"{run_dir}: no {CHECKPOINT} here")
    if data_dir is not None:
        config = dataclasses.replace(
            config, data=dataclasses.replace(config.data, data_dir=data_dir)
        )
    images = load_images(config.data, device)
    model = VAE(config.model, pixels=images.pixels)
    load_model(run_dir / CHECKPOINT, model, kind=VAE_KIND)
    return model.to(device), config, images


def load_ae(
    run_dir: str | Path, device: str = "cpu", *, data_dir: Path | None = None
) -> tuple[Autoencoder, AETrainConfig, Images]:
    """The model of a ``rlgen ae`` run directory (weights only), its config and its images."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir, AE_NAME, AETrainConfig)
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(f"{run_dir}: no {CHECKPOINT} here")
    if data_dir is not None:
        data = dataclasses.replace(config.data, data_dir=data_dir)
        config = dataclasses.replace(config, data=data)
    images = load_images(config.data, device)
    model = Autoencoder(config.model, pixels=images.pixels)
    load_model(run_dir / CHECKPOINT, model, kind=AE_KIND)
    return model.to(device), config, images


def run_evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Score the saved model; write ``evaluation.json`` into the run directory."""
    device = resolve_device(config.device)
    model, train_config, images = load_vae(config.run_dir, device, data_dir=config.data_dir)
    test = images.test[: config.examples] if config.examples else images.test
    start = time.perf_counter()
    scores = model.evaluate(
        test, iwae_k=config.iwae_k, seed=config.seed, **_iwae_batch(config.iwae_k)
    )
    result = {
        "run_dir": str(config.run_dir),
        "iwae_k": config.iwae_k,
        "examples": len(test),
        "seed": config.seed,
        "likelihood": train_config.model.likelihood,
        "binarize": train_config.data.binarize,
        "likelihood_normalized": normalised(train_config.model.likelihood, images.binarized),
        "elbo": scores["elbo"],
        "reconstruction": scores["reconstruction"],
        "kl": scores["kl"],
        "iwae_nll": scores["iwae_nll"],
        "iwae_se": scores["iwae_se"],
        "active_units": scores["active_units"],
        "seconds": time.perf_counter() - start,
        "device": device,
    }
    write_json(config.run_dir / EVALUATION, result)
    return result


def describe_evaluation(result: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            f"{result['run_dir']}: {result['examples']} test images, k = {result['iwae_k']} "
            f"({result['seconds']:.1f} s)",
            f"  IWAE negative log-likelihood {result['iwae_nll']:.2f} ± {result['iwae_se']:.2f} "
            f"nats; ELBO {result['elbo']:.2f}",
            f"written to {Path(result['run_dir']) / EVALUATION}",
        ]
    )


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


def ae_summary(
    config: AETrainConfig, images: Images, fitted: Fitted, device: str
) -> dict[str, Any]:
    m = config.model
    return {
        "dataset": config.data.dataset,
        "seed": config.seed,
        "kind": m.kind,
        "latent": m.latent,
        "architecture": m.architecture,
        "hidden": list(m.hidden) if m.kind != "linear" else [],
        "noise": m.noise if m.kind == "denoising" else None,
        "noise_level": m.noise_level if m.kind == "denoising" else None,
        "binarize": config.data.binarize,
        "device": device,
        "status": fitted.status,
        "error": fitted.error,
        "train_examples": len(images.train),
        "test_examples": len(images.test),
        "test_loss": None,
        "test_mse": None,
        "test_noisy_mse": None,
        "test_denoised_mse": None,
        "pca_max_angle": None,
        "pca_angles": None,
        "decoder_max_cosine": None,
    }


def score_ae(model: Autoencoder, config: AETrainConfig, images: Images) -> dict[str, Any]:
    """Test reconstruction errors; the linear kind's principal angles to the PCA subspace."""
    from rlgen.generative.measures import column_cosines, pca_basis, principal_angles

    start = time.perf_counter()
    test = model.evaluate(images.test, seed=config.seed)
    out: dict[str, Any] = {
        "test_loss": test["loss"],
        "test_mse": test["mse"],
        "test_noisy_mse": test.get("noisy_mse"),
        "test_denoised_mse": test.get("denoised_mse"),
    }
    if model.linear:
        w = _numpy(model.decoder.weight).astype(np.float64)  # (P, m)
        angles = principal_angles(w, pca_basis(_numpy(images.train), model.config.latent))
        out |= {
            "pca_max_angle": float(angles.max()),
            "pca_angles": angles.tolist(),
            "decoder_max_cosine": float(column_cosines(w).max()) if w.shape[1] > 1 else 0.0,
        }
    out["test_seconds"] = time.perf_counter() - start
    return out


def random_codes(model: Autoencoder, images: Images, n: int, seed: int) -> dict[str, np.ndarray]:
    """Decoded random points of the autoencoder's code space, each (n, P): ``random_codes``
    from N(0, I), the VAE's prior (an autoencoder has none, so this is the naive draw), and
    ``fitted_codes`` from the diagonal Gaussian fitted to the training images' codes."""
    import torch

    with torch.no_grad():
        train = images.train
        codes = torch.cat([model.encode(train[i : i + 1000]) for i in range(0, len(train), 1000)])
        g = _generator(codes.device.type, seed)
        eps = torch.randn(2, n, codes.shape[1], generator=g, device=codes.device)
        fitted = codes.mean(0) + codes.std(0) * eps[1]
        return {
            "random_codes": _numpy(model.decode(eps[0])),
            "fitted_codes": _numpy(model.decode(fitted)),
        }


def save_ae_images(run_dir: Path, model: Autoencoder, images: Images, seed: int) -> None:
    shown = images.test[:SHOWN]
    arrays = {
        "inputs": _numpy(shown),
        "reconstructions": _numpy(model.reconstruct(shown)),
        "side": np.array(images.side),
    } | random_codes(model, images, SAMPLES, seed)
    if model.config.kind == "denoising":
        noisy = model.corrupt(shown, _generator(shown.device.type, seed))
        arrays |= {"noisy": _numpy(noisy), "denoised": _numpy(model.reconstruct(noisy))}
    _write_npz(run_dir / IMAGES, arrays)


def run_ae(
    config: AETrainConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``rlgen ae``: one autoencoder into ``run_dir``, or continue ``--resume``."""
    if config.resume is not None:
        _check_resume_dir(config.resume, run_dir)
        check_resume_options(config, config.resume)
        original = load_run_config(config.resume, AE_NAME, AETrainConfig)
        _check_checkpoint(config.resume)
        return train_ae(original, config.resume, quiet=quiet, resume=True)
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
# Sweeps: rlgen vae beta-sweep, rlgen vae latent-sweep
# ---------------------------------------------------------------------------------------------


def _check_sweep_values(option: str, values: tuple[float, ...], low: float) -> None:
    """``--<option>``: at least one value, each at least ``low``, no value twice."""
    if not values:
        raise UserError(f"--{option}: give at least one value")
    for value in values:
        check_range(option, value, low)
    if len(set(values)) != len(values):
        raise UserError(f"--{option}: give distinct values, got {list(values)}")


class _Sweep:
    """What the sweep configs share (their fields stay in each, in the order of its --help)."""

    train: VAETrainConfig

    @property
    def resume(self) -> Path | None:
        """``--resume``: the sweep directory to continue (the CLI runs it there)."""
        return self.train.resume


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
        _check_sweep_values("betas", self.betas, 0)

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
        _check_resume_dir(directory, run_dir)
        check_resume_options(config.train, directory)
        if config.jobs != ExecutorOptions() or config.values != type(config)().values:
            raise UserError(
                f"--resume continues the sweep saved in {directory}; leave out the sweep options"
            )
        config = load_run_config(directory, name, type(config))
    else:
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


# ---------------------------------------------------------------------------------------------
# Figures, from the run directory alone
# ---------------------------------------------------------------------------------------------


def plot(run_dir: str | Path) -> list[Path]:
    """Redraw every figure of a ``vae``, ``ae`` or sweep run directory; returns their paths."""
    run_dir = Path(run_dir)
    saved = read_json(run_dir / "config.json")
    command = saved.get("command") if isinstance(saved, dict) else None
    if command in (BETA_SWEEP, LATENT_SWEEP):
        return _plot_sweep(run_dir, command, saved["config"])
    if command not in (VAE_NAME, AE_NAME):
        raise UserError(f"{run_dir}: not a vae, ae or sweep run directory")
    written = []
    curve = figures.save_learning_curve(
        run_dir / "learning_curve.png", run_dir, ylabel="loss (nats per image)"
    )
    if curve is not None:
        written.append(curve)
    if not (run_dir / IMAGES).is_file():
        return written
    with np.load(run_dir / IMAGES) as f:
        arrays = {k: f[k] for k in f.files}
    side = int(arrays["side"])
    rows = [("input", arrays["inputs"]), ("reconstruction", arrays["reconstructions"])]
    if "noisy" in arrays:
        rows = [
            ("clean", arrays["inputs"]),
            ("noisy input", arrays["noisy"]),
            ("denoised", arrays["denoised"]),
            ("clean input\nreconstructed", arrays["reconstructions"]),
        ]
    written.append(figures.save_image_rows(run_dir / "reconstructions.png", rows, side))
    if command == VAE_NAME:
        written.append(
            figures.save_image_grid(
                run_dir / "samples.png",
                arrays["samples"],
                side,
                cols=8,
                title="samples from the prior: E[x | z], z ~ N(0, I)",
            )
        )
        if "manifold" in arrays:
            written.append(
                figures.save_image_grid(
                    run_dir / "manifold.png",
                    arrays["manifold"],
                    side,
                    cols=MANIFOLD,
                    title="the 2-D latent manifold (grid through the inverse normal CDF)",
                )
            )
            from rlgen.data import DATASETS

            classes = DATASETS[saved["config"]["data"]["dataset"]].classes
            written.append(
                figures.save_latent_scatter(
                    run_dir / "latent.png",
                    arrays["codes"],
                    arrays["labels"],
                    classes,
                    title="test images encoded (posterior means)",
                )
            )
    else:
        rows = [("z ~ N(0, I)", arrays["random_codes"][:16])]
        if "fitted_codes" in arrays:
            rows.append(("z ~ Gaussian fitted\nto the codes", arrays["fitted_codes"][:16]))
        written.append(
            figures.save_image_rows(
                run_dir / "random_codes.png", rows, side, title="decoded random codes"
            )
        )
    return written


def _plot_sweep(run_dir: Path, command: str, config: Mapping[str, Any]) -> list[Path]:
    values = config["betas"] if command == BETA_SWEEP else config["latents"]
    label = BetaSweepConfig.label if command == BETA_SWEEP else LatentSweepConfig.label
    name = "β" if command == BETA_SWEEP else "latent"
    samples, recons, inputs, side = [], [], None, 28
    for value in values:
        path = run_dir / label(value) / IMAGES
        if not path.is_file():
            continue
        with np.load(path) as f:
            side = int(f["side"])
            samples.append((f"{name} = {value:g}", f["samples"][:16]))
            recons.append((f"{name} = {value:g}", f["reconstructions"]))
            inputs = f["inputs"]
    written = []
    if samples:
        written.append(
            figures.save_image_rows(
                run_dir / "samples.png", samples, side, title="samples from the prior"
            )
        )
    if recons and inputs is not None:
        written.append(
            figures.save_image_rows(
                run_dir / "reconstructions.png",
                [("input", inputs), *recons],
                side,
                title="test images and their reconstructions",
            )
        )
    if (run_dir / "summary.json").is_file():
        written.append(_plot_sweep_curves(run_dir, read_json(run_dir / "summary.json"), name))
    return written


def _plot_sweep_curves(run_dir: Path, summary: Mapping[str, Any], name: str) -> Path:
    from rlgen.figures import pyplot, save_figure

    plt = pyplot()
    members = [m for m in summary["members"] if m["status"] == "finished"]
    x = [m["value"] for m in members]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    axes[0].plot(x, [-m["test_elbo"] for m in members], "o-", label="−ELBO")
    if all(m["iwae_nll"] is not None for m in members):
        axes[0].plot(x, [m["iwae_nll"] for m in members], "s--", label="IWAE NLL")
    axes[0].set_ylabel("nats per test image")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].plot(x, [m["test_reconstruction"] for m in members], "o-", label="reconstruction")
    axes[1].plot(x, [m["test_kl"] for m in members], "s--", label="KL")
    axes[1].set_ylabel("nats per test image")
    axes[1].legend(frameon=False, fontsize=8)
    if name == "latent":
        axes[2].plot(x, [m["active_units"] for m in members], "o-")
        axes[2].plot(x, x, ":", color="grey", lw=0.8, label="all units")
        axes[2].set_ylabel("active units")
        axes[2].legend(frameon=False, fontsize=8)
    else:
        axes[2].plot(x, [m["sample_diversity"] for m in members], "o-")
        axes[2].set_ylabel("sample diversity\n(mean pairwise distance)")
    for ax in axes:
        ax.set_xlabel(name)
        ax.set_xscale("log")
    return save_figure(fig, run_dir / "sweep.png", dpi=110)


COMMAND = Command(VAETrainConfig, run_vae, describe_vae)
EVALUATE = Command(EvaluateConfig, run_evaluate, describe_evaluation, writes_run_dir=False)
BETA = Command(BetaSweepConfig, run_beta_sweep, describe_sweep)
LATENT = Command(LatentSweepConfig, run_latent_sweep, describe_sweep)
AE = Command(AETrainConfig, run_ae, describe_ae)
