"""The decoder likelihoods against torch.distributions and numerical integration."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli

from rlgen.generative import likelihoods
from rlgen.generative.likelihoods import continuous_bernoulli_log_norm, log_prob


def closed_form_log_norm(eta: float) -> float:
    return math.log(2.0) if eta == 0 else math.log(eta / math.tanh(eta / 2))


def test_bernoulli_matches_torch_on_binary_images():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 10, generator=g) * 5
    x = (torch.rand(4, 10, generator=g) > 0.5).float()
    expected = Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(log_prob("bernoulli", logits, x), expected)


@pytest.mark.parametrize("eta", [0.0, 1e-6, 1e-3, 0.0099, 0.0101, 0.3, -2.0, 8.0, -40.0, 200.0])
def test_continuous_bernoulli_normaliser_matches_the_closed_form(eta):
    got = continuous_bernoulli_log_norm(torch.tensor([eta], dtype=torch.float64)).item()
    assert got == pytest.approx(closed_form_log_norm(eta), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("eta", [0.0, 0.004, -0.5, 3.0, -25.0])
def test_continuous_bernoulli_integrates_to_one(eta):
    x = torch.linspace(0, 1, 200_001, dtype=torch.float64)[:, None]  # (n, 1): one pixel
    logits = torch.full((1,), eta, dtype=torch.float64)
    density = torch.exp(log_prob("continuous-bernoulli", logits, x))
    assert torch.trapezoid(density, x[:, 0]).item() == pytest.approx(1.0, rel=1e-6)


def test_continuous_bernoulli_matches_torch_away_from_one_half():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 50, generator=g, dtype=torch.float64) * 4
    logits = torch.where(logits.abs() < 0.1, torch.full_like(logits, 0.5), logits)
    x = torch.rand(3, 50, generator=g, dtype=torch.float64)
    dist = torch.distributions.ContinuousBernoulli(logits=logits)
    torch.testing.assert_close(
        log_prob("continuous-bernoulli", logits, x), dist.log_prob(x).sum(-1), rtol=1e-9, atol=1e-9
    )


def test_continuous_bernoulli_mean_is_the_integral():
    for eta in (-3.0, 0.0, 0.7):
        x = torch.linspace(0, 1, 100_001, dtype=torch.float64)[:, None]
        logits = torch.full((1,), eta, dtype=torch.float64)
        density = torch.exp(log_prob("continuous-bernoulli", logits, x))
        integral = torch.trapezoid(density * x[:, 0], x[:, 0]).item()
        mean = likelihoods.mean("continuous-bernoulli", logits).item()
        assert mean == pytest.approx(integral, abs=1e-6)


@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous-bernoulli"])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_finite_values_and_gradients_on_all_zero_and_all_one_images(likelihood, value):
    logits = torch.tensor([[-1e4, -30.0, -1e-7, 0.0, 1e-7, 30.0, 1e4]], requires_grad=True)
    x = torch.full((1, 7), value)
    out = log_prob(likelihood, logits, x)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_normalised_says_which_nats_are_nats():
    assert likelihoods.normalised("bernoulli", binarized=True)
    assert not likelihoods.normalised("bernoulli", binarized=False)
    assert likelihoods.normalised("continuous-bernoulli", binarized=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_bernoulli_mean_for_every_logit(dtype):
    # E[x] = 1 / (1 - exp(-eta)) - 1 / eta (1/2 + eta / 12 - ... near 0): torch's mean, which
    # clamps its probabilities, stopped at 0.937 and 0.063 (float32) or 0.972 and 0.028
    # (float64) from |eta| = 16 or 36 on, so a bright or dark decoded pixel stayed grey
    def exact(eta: float) -> float:
        if abs(eta) < 0.5:  # the series, to below 1e-16
            return 0.5 + eta / 12 - eta**3 / 720 + eta**5 / 30240 - eta**7 / 1209600
        return (0.0 if eta < -700 else 1 / -math.expm1(-eta)) - 1 / eta

    etas = [-1e4, -80.0, -20.0, -3.0, -0.05, -1e-3, 0.0, 1e-6, 1e-3, 0.01, 0.05, 0.5, 20.0, 80.0]
    expected = [exact(eta) for eta in etas]
    got = likelihoods.mean("continuous-bernoulli", torch.tensor(etas, dtype=dtype))
    tolerance = 1e-6 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(
        got, torch.tensor(expected, dtype=dtype), rtol=0, atol=tolerance, check_dtype=True
    )
