"""The Fréchet distance and the cached classifier."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from rlgen.generative import fid


def reference_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 1.5
    assert fid.frechet_distance(a, b) == pytest.approx(reference_frechet(a, b), rel=1e-8)


def test_frechet_distance_of_one_dimensional_gaussians():
    # d^2 = (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2, with the sample moments
    rng = np.random.default_rng(1)
    a, b = rng.normal(2.0, 3.0, size=(1000, 1)), rng.normal(-1.0, 0.5, size=(800, 1))
    sa, sb = a.std(ddof=1), b.std(ddof=1)
    expected = (a.mean() - b.mean()) ** 2 + (sa - sb) ** 2
    assert fid.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_a_set_to_itself_is_zero():
    a = np.random.default_rng(2).normal(size=(300, 128))  # rank-deficient covariance is fine
    assert fid.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_classifier_is_cached_and_reloaded(images, tmp_path, monkeypatch):
    x, y = images
    model = fid.cached_classifier(x, y, epochs=2, directory=tmp_path)
    assert len(list(tmp_path.glob("classifier-*.pt"))) == 1
    assert fid.accuracy(model, x, y) > 0.5  # the generated classes are bars: easy

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(fid, "train_classifier", no_training)
    again = fid.cached_classifier(x, y, epochs=2, directory=tmp_path)
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)
    f = fid.features(again, x[:10])
    assert f.shape == (10, fid.FEATURES) and f.dtype == np.float64


def test_a_corrupt_cache_entry_is_replaced(images, tmp_path):
    x, y = images
    fid.cached_classifier(x, y, epochs=1, directory=tmp_path)
    [path] = tmp_path.glob("classifier-*.pt")
    path.write_bytes(b"garbage")
    model = fid.cached_classifier(x, y, epochs=1, directory=tmp_path)
    assert fid.accuracy(model, x, y) > 0.3
    assert path.read_bytes() != b"garbage"


@pytest.mark.parametrize("rank", [1, 3])
def test_frechet_distance_of_rank_deficient_covariances_matches_the_textbook_formula(rank):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, rank)) @ rng.normal(size=(rank, 12))
    b = rng.normal(size=(150, rank)) @ rng.normal(size=(rank, 12)) + 0.5
    a[:, :4] = b[:, :4] = 0.0  # dead ReLU units: zero variance in both sets
    assert fid.frechet_distance(a, b) == pytest.approx(reference_frechet(a, b), rel=1e-6)
    assert fid.frechet_distance(a, a[::-1].copy()) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("bad", ["one row", "nan", "inf"])
def test_frechet_distance_refuses_what_has_no_covariance(bad):
    # a single row has no sample covariance, and non-finite features (a diverged model's
    # samples) none either: both were a LinAlgError ("Eigenvalues did not converge")
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(40, 4))
    if bad == "one row":
        b = b[:1]
    else:
        b[3, 1] = np.nan if bad == "nan" else np.inf
    with pytest.raises(ValueError, match="second set"):
        fid.frechet_distance(a, b)
    with pytest.raises(ValueError, match="first set"):
        fid.frechet_distance(b, a)
