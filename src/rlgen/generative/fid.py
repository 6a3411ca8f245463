"""A Fréchet distance between image sets, from the features of a small cached classifier.

The FID recipe (Heusel et al. 2017) with a small Fashion-MNIST classifier in place of Inception:
fit a Gaussian to the classifier's penultimate-layer features of each set and take

    d^2 = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

Lower is closer; 0 for identical sets. The numbers are only comparable between runs that use
the same classifier (its weights are cached under a key of the training data and the recipe, so
every run on the same data uses the same one).

The classifier: an MLP 784-256-128-10 (ReLU), trained for a few epochs with Adam through
:func:`rlgen.training.fit` (about 88% test accuracy on Fashion-MNIST); the features are the 128
ReLU units.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlgen.checkpoints import load_checkpoint, save_checkpoint
from rlgen.data import cache_dir
from rlgen.training import LoopConfig, fit

RECIPE = "mlp-256-128/adam-1e-3/b128/v1"
"""changing the classifier or its training changes this, and with it the cache key"""
FEATURES = 128


class Classifier(nn.Module):
    """784-256-128-10 ReLU MLP; :meth:`features` gives the 128 penultimate units."""

    def __init__(self, pixels: int = 784, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(pixels, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU()
        )
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def _loss(model: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
    x, y = batch
    logits = model(x)
    accuracy = (logits.argmax(1) == y).float().mean()
    return F.cross_entropy(logits, y), {"accuracy": accuracy.detach()}


def train_classifier(
    images: Tensor, labels: Tensor, *, epochs: int = 5, seed: int = 0, device: str = "cpu"
) -> Classifier:
    """A classifier of ``images`` (N, P) in [0, 1] into ``labels`` (N,)."""
    torch.manual_seed(seed)
    model = Classifier(images.shape[1], int(labels.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(
        model,
        optimizer,
        _loss,
        (images, labels),
        LoopConfig(epochs=epochs, batch_size=128),
        seed=seed,
        device=device,
        quiet=True,
    )
    return model.eval()


def cache_key(images: Tensor, labels: Tensor, epochs: int, seed: int) -> str:
    digest = hashlib.sha256(RECIPE.encode())
    digest.update(f"{epochs}/{seed}/{tuple(images.shape)}".encode())
    digest.update(np.ascontiguousarray(images.cpu().numpy()).tobytes())
    digest.update(np.ascontiguousarray(labels.cpu().numpy()).tobytes())
    return digest.hexdigest()[:16]


def cached_classifier(
    images: Tensor,
    labels: Tensor,
    *,
    epochs: int = 5,
    seed: int = 0,
    device: str = "cpu",
    directory: str | Path | None = None,
) -> Classifier:
    """The classifier trained on ``images``, ``labels``: loaded from the cache when it holds one
    (``weights_only``), else trained and saved there (``directory``, default
    ``~/.cache/rlgen/classifiers``)."""
    directory = Path(directory) if directory is not None else cache_dir() / "classifiers"
    path = directory / f"classifier-{cache_key(images, labels, epochs, seed)}.pt"
    model = Classifier(images.shape[1], int(labels.max()) + 1)
    if path.is_file():
        try:
            model.load_state_dict(load_checkpoint(path)["state"])
            return model.to(device).eval()
        except Exception:  # a corrupt or foreign cache entry: train again and replace it
            pass
    model = train_classifier(images, labels, epochs=epochs, seed=seed, device=device)
    with contextlib.suppress(OSError):  # a read-only cache only costs the next run the training
        save_checkpoint(path, {"recipe": RECIPE, "state": model.state_dict()})
    return model


def features(model: Classifier, images: Tensor, batch_size: int = 2000) -> np.ndarray:
    """(N, 128) float64 features of ``images`` (N, P)."""
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            out.append(model.features(images[start : start + batch_size].to(device)).cpu())
    return torch.cat(out).double().numpy()


def accuracy(model: Classifier, images: Tensor, labels: Tensor) -> float:
    device = next(model.parameters()).device
    with torch.no_grad():
        predicted = model(images.to(device)).argmax(1).cpu()
    return float((predicted == labels.cpu()).float().mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to feature sets ``a`` (N, F), ``b`` (M, F).

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of the symmetric
    S_a^(1/2) S_b S_a^(1/2) (same eigenvalues as S_a S_b), so no non-symmetric square root and
    no complex rounding residue.

    Raises:
        ValueError: a set has fewer than two rows or a non-finite feature (no covariance).
    """
    for which, x in (("first", a), ("second", b)):
        if len(x) < 2 or not np.isfinite(x).all():
            raise ValueError(
                f"frechet_distance: the {which} set needs at least 2 rows of finite features, got "
                f"{len(x)} rows{'' if np.isfinite(x).all() else ' with NaN or infinite values'}"
            )
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))  # (F, F), also for F = 1
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrtm_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    d2 = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)
    return max(d2, 0.0)


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
