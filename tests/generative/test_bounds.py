"""The bounds: analytic KL, reparameterization, log-mean-exp, IWAE, the gap identity."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from rlgen.generative.bounds import (
    ElboTerms,
    LinearGaussian,
    gaussian_kl,
    iwae_bound,
    log_mean_exp,
    log_normal,
    reparameterize,
)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(7, 5, generator=g, dtype=torch.float64) * 3
    log_std = torch.randn(7, 5, generator=g, dtype=torch.float64)
    expected = kl_divergence(Normal(mean, log_std.exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean, log_std), expected, rtol=1e-12, atol=1e-12)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 4)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(3))
    assert (gaussian_kl(zeros + 0.1, zeros - 0.2) > 0).all()


def test_reparameterized_samples_have_the_posterior_mean_and_variance():
    mean = torch.tensor([[1.0, -2.0, 0.0]], dtype=torch.float64)
    log_std = torch.tensor([[0.0, math.log(0.5), math.log(3.0)]], dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    z = reparameterize(mean, log_std, 200_000, generator=g)  # (k, 1, 3)
    assert z.shape == (200_000, 1, 3)
    n = z.shape[0]
    std = log_std.exp()[0]
    # mean within 5 standard errors, variance within 5 standard errors of the sample variance
    assert ((z.mean(0)[0] - mean[0]).abs() < 5 * std / math.sqrt(n)).all()
    assert ((z.var(0)[0] - std**2).abs() < 5 * std**2 * math.sqrt(2 / n)).all()


def test_reparameterized_gradient_reaches_mean_and_log_std():
    mean = torch.zeros(2, 3, requires_grad=True)
    log_std = torch.zeros(2, 3, requires_grad=True)
    reparameterize(mean, log_std, generator=torch.Generator().manual_seed(0)).sum().backward()
    assert mean.grad is not None and torch.equal(mean.grad, torch.ones(2, 3))
    assert log_std.grad is not None and log_std.grad.abs().sum() > 0


def test_log_normal_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    z, mean, log_std = (torch.randn(4, 6, generator=g, dtype=torch.float64) for _ in range(3))
    expected = Normal(mean, log_std.exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(log_normal(z, mean, log_std), expected)
    torch.testing.assert_close(log_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


@pytest.mark.parametrize("shift", [0.0, -1e4, -1e6, 1e4])
def test_log_mean_exp_is_stable_for_extreme_log_weights(shift):
    x = torch.tensor([[0.0, -1.0], [math.log(3.0), -2.0]], dtype=torch.float64) + shift
    expected = torch.tensor(
        [math.log(2.0), math.log((math.exp(-1) + math.exp(-2)) / 2)], dtype=torch.float64
    )
    out = log_mean_exp(x, 0)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out - shift, expected, rtol=0, atol=1e-9)


def test_log_mean_exp_float32_very_negative():
    x = torch.full((5000, 3), -2e4, dtype=torch.float32)
    assert torch.exp(x).sum() == 0  # the naive form would give log 0 = -inf
    torch.testing.assert_close(log_mean_exp(x, 0), torch.full((3,), -2e4))


def test_iwae_of_one_sample_is_its_log_weight_and_is_at_least_the_mean():
    w = torch.tensor([[-3.0, -10.0], [-1.0, -20.0], [-2.0, -15.0]])
    torch.testing.assert_close(iwae_bound(w[:1]), w[0])
    assert (iwae_bound(w) >= w.mean(0)).all()  # Jensen


def test_elbo_terms_weight_the_kl():
    terms = ElboTerms(torch.tensor([-5.0]), torch.tensor([2.0]))
    assert terms.elbo().item() == -7.0 and terms.elbo(0.5).item() == -6.0


def random_linear_gaussian(seed: int, d: int = 6, m: int = 3) -> LinearGaussian:
    g = torch.Generator().manual_seed(seed)
    return LinearGaussian(
        torch.randn(d, m, generator=g, dtype=torch.float64),
        torch.randn(d, generator=g, dtype=torch.float64),
        sigma=0.7,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gap_identity_log_px_minus_elbo_is_kl_to_the_posterior(seed):
    model = random_linear_gaussian(seed)
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(8, 6, generator=g, dtype=torch.float64) * 2
    for _ in range(5):  # any q
        mean = torch.randn(8, 3, generator=g, dtype=torch.float64) * 2
        log_std = torch.randn(8, 3, generator=g, dtype=torch.float64)
        gap = model.log_marginal(x) - model.elbo(x, mean, log_std)
        torch.testing.assert_close(gap, model.gap_kl(x, mean, log_std), rtol=0, atol=1e-9)
        assert (gap > 0).all()


def test_gap_closes_at_the_posterior_when_it_is_diagonal():
    # W with orthogonal columns makes the posterior covariance diagonal: q = p(z | x) exists.
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    model = LinearGaussian(w, torch.zeros(3, dtype=torch.float64), sigma=0.5)
    x = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    post = model.posterior(x)
    variance = torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1)  # (1, 2)
    mean, log_std = post.mean, 0.5 * torch.log(variance)
    torch.testing.assert_close(model.elbo(x, mean, log_std), model.log_marginal(x))


def test_elbo_of_linear_gaussian_matches_a_monte_carlo_estimate():
    model = random_linear_gaussian(3)
    x = torch.randn(1, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mean, log_std = torch.zeros(1, 3, dtype=torch.float64), torch.full((1, 3), -0.5).double()
    z = reparameterize(mean, log_std, 400_000, generator=torch.Generator().manual_seed(6))
    log_px_z = log_normal(x, z @ model.weight.T + model.bias, math.log(model.sigma))  # (k, 1)
    estimate = log_px_z + log_normal(z) - log_normal(z, mean, log_std)
    se = estimate.std() / math.sqrt(estimate.shape[0])
    assert abs(estimate.mean() - model.elbo(x, mean, log_std)) < 5 * se


def linear_gaussian_log_weights(model: LinearGaussian, x, z, log_q):
    """log p(x, z) - log q(z | x) for samples z (k, B, m) of q with densities log_q (k, B)."""
    log_px_z = log_normal(x, z @ model.weight.T + model.bias, math.log(model.sigma))
    return log_px_z + log_normal(z) - log_q


def test_iwae_with_the_true_posterior_is_log_px_for_every_k():
    # every importance weight p(x, z) / p(z | x) is p(x) itself
    model = random_linear_gaussian(4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(5, 6, generator=g, dtype=torch.float64) * 2
    post = model.posterior(x)
    for k in (1, 2, 10, 1000):
        z = (
            post.mean
            + torch.randn(k, 5, 3, generator=g, dtype=torch.float64)
            @ torch.linalg.cholesky(post.covariance_matrix[0]).T
        )
        bound = iwae_bound(linear_gaussian_log_weights(model, x, z, post.log_prob(z)))
        torch.testing.assert_close(bound, model.log_marginal(x), rtol=0, atol=1e-10)


def test_iwae_rises_to_log_px_with_k():
    # a diagonal q away from the posterior: the ELBO gap is several nats; IWAE_k's mean gap
    # shrinks with k, to within its standard error at k = 10,000
    model = random_linear_gaussian(5)
    g = torch.Generator().manual_seed(8)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64) * 2
    post = model.posterior(x)
    mean = post.mean + 0.3
    log_std = torch.full((4, 3), math.log(0.8), dtype=torch.float64)
    log_px = model.log_marginal(x)
    gaps = []
    for k in (1, 10, 100, 10_000):
        bounds = []
        for _ in range(20):
            z = reparameterize(mean, log_std, k, generator=g)
            log_w = linear_gaussian_log_weights(model, x, z, log_normal(z, mean, log_std))
            bounds.append(iwae_bound(log_w))
        b = torch.stack(bounds)  # (20, 4)
        gap, se = (log_px - b.mean(0)), b.std(0) / math.sqrt(20)
        gaps.append(gap)
        if k == 10_000:
            assert (gap.abs() < 4 * se + 1e-3).all(), (gap, se)
    elbo_gap = log_px - model.elbo(x, mean, log_std)
    assert (elbo_gap > 1).all()
    assert (gaps[0] - elbo_gap).abs().max() < 3 * elbo_gap.max()  # k = 1: the ELBO, noisily
    assert (gaps[1] < elbo_gap).all() and (gaps[2] < gaps[1]).all()
