"""Decoder likelihoods p(x | z) for images with pixels in [0, 1], from the decoder's logits.

- ``bernoulli``: log p(x | z) = sum_i x_i log l_i + (1 - x_i) log(1 - l_i), l = sigmoid(logits).
  A normalised likelihood for binary images (binarised data: the convention of the likelihood
  literature, where nats are comparable across papers). On grey levels it is only the negative
  binary cross-entropy, the reconstruction loss of the PyTorch examples VAE and of the lecture:
  it is not a density over [0, 1]^784 (its integral over x is not 1), so "log-likelihoods" of
  grey-level images measured with it are not log-likelihoods. They are still comparable with each
  other, and the ELBO is still a valid training objective.
- ``continuous-bernoulli``: the same plus the normaliser log C(l) of Loaiza-Ganem & Cunningham
  (2019), C(l) = 2 artanh(1 - 2l) / (1 - 2l), which makes it a density on [0, 1]: the likelihood
  for grey levels. In logits eta, C = eta / tanh(eta / 2), even in eta, equal to 2 at eta = 0.

Both are computed from logits (never from probabilities), so they stay finite for any logits and
for images of exact zeros and ones (no log 0).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Likelihood = Literal["bernoulli", "continuous-bernoulli"]
LIKELIHOODS: tuple[str, ...] = ("bernoulli", "continuous-bernoulli")

_TAYLOR_BELOW = 1e-2
"""|eta| under which log C(eta) uses its Taylor series log 2 + eta^2 / 12 - 7 eta^4 / 1440
(the closed form divides 0 by 0 at eta = 0; the series' next term is below 1e-12 here)"""


def bernoulli_log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """sum over the last dimension of x log l + (1 - x) log(1 - l), l = sigmoid(logits)."""
    logits, x = torch.broadcast_tensors(logits, x)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def continuous_bernoulli_log_norm(logits: Tensor) -> Tensor:
    """log C(sigmoid(eta)) = log(eta / tanh(eta / 2)) elementwise, stable for every eta.

    For |eta| >= 0.01: log|eta| - log tanh(|eta| / 2), with log tanh(a) = log(-expm1(-2a)) -
    log1p(exp(-2a)) (no cancellation, no overflow); below, the Taylor series. The branch not
    taken sees a harmless input, so no NaN reaches the gradient.
    """
    a = logits.abs()
    small = a < _TAYLOR_BELOW
    safe = torch.where(small, torch.ones_like(a), a)
    exact = torch.log(safe) - torch.log(-torch.expm1(-safe)) + torch.log1p(torch.exp(-safe))
    series = math.log(2.0) + a.square() / 12 - 7 * a.pow(4) / 1440
    return torch.where(small, series, exact)


def log_prob(likelihood: str, logits: Tensor, x: Tensor) -> Tensor:
    """log p(x | z) summed over pixels: logits (..., B, P) and x (B, P) broadcast, -> (..., B)."""
    logits, x = torch.broadcast_tensors(logits, x)
    if likelihood == "bernoulli":
        return bernoulli_log_prob(logits, x)
    if likelihood == "continuous-bernoulli":
        return bernoulli_log_prob(logits, x) + continuous_bernoulli_log_norm(logits).sum(-1)
    raise ValueError(f"unknown likelihood {likelihood!r}")


def mean(likelihood: str, logits: Tensor) -> Tensor:
    """E[x | z]: sigmoid(logits) for the Bernoulli; the continuous Bernoulli's own mean
    l / (2l - 1) + 1 / (2 artanh(1 - 2l)), which is pulled towards 1/2 compared with l
    (:func:`continuous_bernoulli_mean`)."""
    if likelihood == "bernoulli":
        return torch.sigmoid(logits)
    if likelihood == "continuous-bernoulli":
        return continuous_bernoulli_mean(logits)
    raise ValueError(f"unknown likelihood {likelihood!r}")


_MEAN_SERIES_BELOW = 0.1
"""|eta| under which the continuous Bernoulli's mean uses its series (the closed form subtracts
two numbers near 1 / eta; the series' next term, eta^7 / 1209600, is below 1e-13 here)"""


def continuous_bernoulli_mean(logits: Tensor) -> Tensor:
    """The continuous Bernoulli's mean in logits eta, stable for every eta:
    1 / (1 - exp(-eta)) - 1 / eta, and 1/2 + eta / 12 - eta^3 / 720 + eta^5 / 30240 near 0.

    (``torch.distributions.ContinuousBernoulli(logits=...).mean`` clamps its probabilities away
    from 0 and 1, so its mean stops at 0.937 and 0.063 in float32 beyond |eta| = 16.)
    """
    a = logits
    small = a.abs() < _MEAN_SERIES_BELOW
    safe = torch.where(small, torch.ones_like(a), a)
    exact = -1 / torch.expm1(-safe) - 1 / safe
    series = 0.5 + a / 12 - a.pow(3) / 720 + a.pow(5) / 30240
    return torch.where(small, series, exact)


def normalised(likelihood: str, binarized: bool) -> bool:
    """Whether log p(x | z) is a normalised log-likelihood of this data (its nats mean nats)."""
    return likelihood == "continuous-bernoulli" or binarized
