"""What a trained ``rlgen vae`` / ``rlgen ae`` model leaves in its run directory besides the
checkpoint: its ``summary.json`` entries and the ``images.npz`` arrays its figures are drawn from.

- ``vae_summary`` / ``ae_summary``: every key of a run's summary, with the test figures None until
  ``score_vae`` / ``score_ae`` fill them (a run whose loss became non-finite keeps the Nones);
- ``score_vae``: the test ELBO, its terms and the active units; the IWAE bound on the first
  ``--iwae-examples`` test images; ``score_ae``: test reconstruction errors and, for the linear
  kind, the principal angles between the decoder's columns and the top PCA subspace (of the
  training images as it saw them: with ``--binarize dynamic``, of their Bernoulli samples);
- ``save_vae_images`` / ``save_ae_images``: test inputs and their reconstructions, prior samples
  (VAE) or decoded random codes (autoencoder), the 2-D manifold grid and encoded test set (VAE
  with two latents), noisy inputs and their denoising (denoising autoencoder).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlgen.generative import figures
from rlgen.generative.images import Images
from rlgen.generative.likelihoods import normalised
from rlgen.generative.models import VAE, Autoencoder, check_iwae_size

if TYPE_CHECKING:
    from rlgen.generative.command import AETrainConfig, Fitted, VAETrainConfig

IMAGES = "images.npz"
SHOWN = 16
"""test images shown with their reconstructions"""
SAMPLES = 64
"""prior samples (VAE) or decoded random codes (autoencoder) drawn and saved"""
MANIFOLD = 20
"""the 2-D manifold figure is MANIFOLD x MANIFOLD decoded points"""


# ---------------------------------------------------------------------------------------------
# rlgen vae
# ---------------------------------------------------------------------------------------------


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
            images.test[:n], iwae_k=config.iwae_k, seed=config.seed, **iwae_batch(config.iwae_k)
        )
        out |= {
            "iwae_nll": scored["iwae_nll"],
            "iwae_se": scored["iwae_se"],
            "iwae_examples": min(n, len(images.test)),
            "iwae_seconds": time.perf_counter() - start,
        }
    return out


def iwae_batch(k: int) -> dict[str, int]:
    """Test images per IWAE batch: about 50,000 decoded samples at a time."""
    return {"batch_size": max(1, min(500, 50_000 // k))}


def check_iwae_k(k: int) -> None:
    """Refuse an ``--iwae-k`` whose log-weights would not fit in memory (checked with the
    options, before training: :meth:`VAE.iwae` would refuse it only when scoring)."""
    if k >= 1:
        check_iwae_size(k, iwae_batch(k)["batch_size"])


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

    from rlgen.files import atomic_write_bytes

    buffer = io.BytesIO()
    named: dict[str, Any] = dict(arrays)
    np.savez_compressed(buffer, **named)
    atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# rlgen ae
# ---------------------------------------------------------------------------------------------


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
    from rlgen.generative.measures import (
        column_cosines,
        pca_basis,
        principal_angles,
        sampled_pca_basis,
    )

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
        # the subspace of what it trained on: with --binarize dynamic, fresh Bernoulli samples
        # of the grey training images, whose covariance adds each pixel's Bernoulli variance
        pca = sampled_pca_basis if images.binarize == "dynamic" else pca_basis
        angles = principal_angles(w, pca(_numpy(images.train), model.config.latent))
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


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _generator(device: str, seed: int) -> Any:
    import torch

    return torch.Generator(device=device).manual_seed(seed)


def _numpy(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy()
