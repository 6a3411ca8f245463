"""The VAE's bounds on log p(x): the ELBO, its analytic KL, reparameterization, the IWAE bound.

For a latent-variable model p(x) = E_{p(z)}[p(x | z)] with prior p(z) = N(0, I) and an encoder
q(z | x) = N(mean, diag(exp(log_std)^2)), Jensen's inequality gives the evidence lower bound

    log p(x) >= ELBO = E_q[log p(x | z)] - KL(q(z | x) || p(z)),

whose gap is exactly KL(q(z | x) || p(z | x)) (checked in closed form on :class:`LinearGaussian`).
The expectation is estimated from one reparameterized sample z = mean + std * eps, eps ~ N(0, I),
so that its gradient flows through mean and std; the KL between two Gaussians is analytic
(Kingma & Welling 2014, Appendix B). The importance-weighted bound of Burda et al. (2016),

    IWAE_k = E[log (1/k) sum_i p(x, z_i) / q(z_i | x)],   z_i ~ q(z | x),

equals the ELBO for k = 1, rises with k and tends to log p(x): with k = 5000 it is the usual
estimate of the log-likelihood, in nats. Its log-mean-exp is computed stably (shifted by the
maximum), so log-weights of -1e4 nats or below lose nothing.

Every function works per example: shapes are (B,) for bounds and (B, D) or (k, B, D) for latents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------
# The Gaussian pieces: KL, reparameterization, log densities
# ---------------------------------------------------------------------------------------------


def gaussian_kl(mean: Tensor, log_std: Tensor) -> Tensor:
    """KL(N(mean, diag(std^2)) || N(0, I)), summed over the last dimension.

    Kingma & Welling (2014), Appendix B: -KL = 1/2 sum_j (1 + log std_j^2 - mean_j^2 - std_j^2).

    Args:
        mean, log_std: (..., D).

    Returns:
        (...,) in nats.
    """
    return 0.5 * (mean.square() + torch.exp(2 * log_std) - 1 - 2 * log_std).sum(-1)


def reparameterize(
    mean: Tensor, log_std: Tensor, k: int | None = None, *, generator: torch.Generator | None = None
) -> Tensor:
    """z = mean + std * eps with eps ~ N(0, I): a sample of q whose gradient reaches mean and std.

    Args:
        mean, log_std: (B, D).
        k: draw k samples per example, shape (k, B, D); None draws one, shape (B, D).
        generator: where eps comes from (default: torch's global generator).
    """
    shape = mean.shape if k is None else (k, *mean.shape)
    eps = torch.randn(shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(log_std) * eps


def log_normal(z: Tensor, mean: Tensor | float = 0.0, log_std: Tensor | float = 0.0) -> Tensor:
    """log N(z; mean, diag(exp(log_std)^2)), summed over the last dimension (broadcasting)."""
    log_std = torch.as_tensor(log_std, dtype=z.dtype, device=z.device)
    scaled = (z - mean) * torch.exp(-log_std)
    return (-0.5 * scaled.square() - log_std - 0.5 * LOG_2PI).sum(-1)


def log_mean_exp(x: Tensor, dim: int = 0) -> Tensor:
    """log(mean(exp(x))) along ``dim``, without overflow or underflow.

    ``torch.logsumexp`` subtracts the maximum before exponentiating, so log-weights of any
    magnitude (-1e4 nats and below, where ``exp`` underflows to 0) give the exact result.
    """
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


# ---------------------------------------------------------------------------------------------
# The bounds
# ---------------------------------------------------------------------------------------------


@dataclass
class ElboTerms:
    """The two terms of a single-sample ELBO estimate, per example, in nats."""

    log_likelihood: Tensor
    """(B,) log p(x | z) at one reparameterized z ~ q(z | x) (minus the reconstruction loss)"""
    kl: Tensor
    """(B,) KL(q(z | x) || p(z)), analytic"""

    def elbo(self, beta: float = 1.0) -> Tensor:
        """(B,) log p(x | z) - beta * KL; beta = 1 is the bound on log p(x)."""
        return self.log_likelihood - beta * self.kl


def iwae_bound(log_weights: Tensor) -> Tensor:
    """IWAE_k from log-weights log p(x, z_i) - log q(z_i | x) of shape (k, B): (B,) nats."""
    return log_mean_exp(log_weights, 0)


# ---------------------------------------------------------------------------------------------
# A latent-variable model whose posterior is known: the gap identity, exactly
# ---------------------------------------------------------------------------------------------


@dataclass
class LinearGaussian:
    """p(z) = N(0, I_m), p(x | z) = N(W z + b, sigma^2 I_d): probabilistic PCA.

    Everything is closed-form: p(x) = N(b, W W^T + sigma^2 I); the posterior is
    p(z | x) = N(S W^T (x - b) / sigma^2, S) with S = (I + W^T W / sigma^2)^-1; and for a
    Gaussian q(z | x) = N(m, diag(s^2)) the ELBO is analytic too. So log p(x) - ELBO and
    KL(q || p(z | x)) can be compared to rounding error, for any q. Use float64 tensors.

    Attributes:
        weight: W, (d, m).
        bias: b, (d,).
        sigma: the observation noise's standard deviation.
    """

    weight: Tensor
    bias: Tensor
    sigma: float

    def log_marginal(self, x: Tensor) -> Tensor:
        """log p(x), (B,) for x (B, d)."""
        d = self.weight.shape[0]
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        cov = self.weight @ self.weight.T + self.sigma**2 * eye
        dist = torch.distributions.MultivariateNormal(self.bias, covariance_matrix=cov)
        return dist.log_prob(x)

    def posterior(self, x: Tensor) -> torch.distributions.MultivariateNormal:
        """p(z | x) for x (B, d): a batch of m-dimensional Gaussians."""
        m = self.weight.shape[1]
        eye = torch.eye(m, dtype=x.dtype, device=x.device)
        cov = torch.linalg.inv(eye + self.weight.T @ self.weight / self.sigma**2)  # (m, m)
        mean = (x - self.bias) @ self.weight @ cov / self.sigma**2  # (B, m); cov is symmetric
        return torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)

    def elbo(self, x: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
        """The ELBO of q(z | x) = N(mean, diag(exp(log_std)^2)) in closed form, (B,).

        E_q[log p(x | z)] = -d/2 log(2 pi sigma^2)
                            - (|x - W mean - b|^2 + sum_j |W_j|^2 s_j^2) / (2 sigma^2).
        """
        d = self.weight.shape[0]
        residual = x - mean @ self.weight.T - self.bias  # (B, d)
        spread = (torch.exp(2 * log_std) * self.weight.square().sum(0)).sum(-1)  # (B,)
        expected = -0.5 * d * (LOG_2PI + 2 * math.log(self.sigma)) - (
            residual.square().sum(-1) + spread
        ) / (2 * self.sigma**2)
        return expected - gaussian_kl(mean, log_std)

    def gap_kl(self, x: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
        """KL(q(z | x) || p(z | x)), (B,), from torch.distributions (not from :meth:`elbo`)."""
        q = torch.distributions.MultivariateNormal(mean, scale_tril=torch.diag_embed(log_std.exp()))
        return torch.distributions.kl_divergence(q, self.posterior(x))
