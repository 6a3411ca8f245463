"""``rlgen vae evaluate RUN_DIR``, and the saved models of ``rlgen vae`` / ``rlgen ae`` loaded back.

``rlgen vae evaluate RUN_DIR --iwae-k 5000`` re-scores the VAE a run directory holds (weights only,
from ``checkpoint.pt``) on its test images: the ELBO, its terms, the active units and the IWAE
bound with k importance samples, written to ``RUN_DIR/evaluation.json``. :func:`load_vae` and
:func:`load_ae` give a run directory's model, config and images (the reproduce section uses them).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import tyro

from rlgen.configs import load_run_config
from rlgen.errors import UserError, check_choice, check_config_types, check_range
from rlgen.files import write_json
from rlgen.generative.command import (
    AE_KIND,
    AE_NAME,
    CHECKPOINT,
    VAE_KIND,
    VAE_NAME,
    AETrainConfig,
    VAETrainConfig,
)
from rlgen.generative.images import Images, load_images
from rlgen.generative.likelihoods import normalised
from rlgen.generative.models import VAE, Autoencoder
from rlgen.generative.scoring import check_iwae_k, iwae_batch
from rlgen.runs import MAX_SEED, Command, Device, resolve_device
from rlgen.training import load_model

EVALUATION = "evaluation.json"


@dataclass(frozen=True)
class EvaluateConfig:
    """Re-score the VAE saved in a run directory: ELBO and the IWAE bound with k samples."""

    run_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """a run directory written by rlgen vae (it holds checkpoint.pt)"""
    iwae_k: int = 5000
    """importance samples per test image"""
    examples: int | None = None
    """score only the first this many test images; None: the run's whole test set"""
    seed: int = 0
    """seed of the samples"""
    device: Device = "auto"
    """auto, cpu or cuda"""
    data_dir: Path | None = None
    """where the dataset's IDX files are, if not where the run found them"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("iwae_k", self.iwae_k, 1)
        check_iwae_k(self.iwae_k)
        if self.examples is not None:
            check_range("examples", self.examples, 1)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))


def load_vae(
    run_dir: str | Path, device: str = "cpu", *, data_dir: Path | None = None
) -> tuple[VAE, VAETrainConfig, Images]:
    """The model of a ``rlgen vae`` run directory (weights only), its config and its images."""
    return _load_run(run_dir, device, data_dir, VAE_NAME, VAETrainConfig, VAE, VAE_KIND)


def load_ae(
    run_dir: str | Path, device: str = "cpu", *, data_dir: Path | None = None
) -> tuple[Autoencoder, AETrainConfig, Images]:
    """The model of a ``rlgen ae`` run directory (weights only), its config and its images."""
    return _load_run(run_dir, device, data_dir, AE_NAME, AETrainConfig, Autoencoder, AE_KIND)


def _load_run(
    run_dir: str | Path,
    device: str,
    data_dir: Path | None,
    command: str,
    config_cls: type[Any],
    model_cls: type[Any],
    kind: str,
) -> tuple[Any, Any, Images]:
    """A ``command`` run directory's model (``model_cls``, weights only), config and images;
    ``data_dir`` replaces the saved one."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir, command, config_cls)
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(f"{run_dir}: no {CHECKPOINT} here")
    if data_dir is not None:
        data = dataclasses.replace(config.data, data_dir=data_dir)
        config = dataclasses.replace(config, data=data)
    images = load_images(config.data, device)
    model = model_cls(config.model, pixels=images.pixels)
    load_model(run_dir / CHECKPOINT, model, kind=kind)
    return model.to(device), config, images


def run_evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Score the saved model; write ``evaluation.json`` into the run directory."""
    device = resolve_device(config.device)
    model, train_config, images = load_vae(config.run_dir, device, data_dir=config.data_dir)
    test = images.test[: config.examples] if config.examples else images.test
    start = time.perf_counter()
    scores = model.evaluate(
        test, iwae_k=config.iwae_k, seed=config.seed, **iwae_batch(config.iwae_k)
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


EVALUATE = Command(EvaluateConfig, run_evaluate, describe_evaluation, writes_run_dir=False)
