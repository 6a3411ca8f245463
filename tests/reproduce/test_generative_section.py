"""The generative section's measurements, on generated images and tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlgen.data import make_synthetic
from rlgen.generative.images import DataConfig, load_images
from rlgen.generative.models import VAE, AEConfig, Autoencoder, VAEConfig
from rlgen.reproduce import generative as section
from rlgen.reproduce.claims import SECTIONS, Context
from rlgen.training import LoopConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    directory = make_synthetic(tmp_path_factory.mktemp("data"), train=320, test=160)
    return load_images(DataConfig(data_dir=directory, validation=0))


def test_section_is_registered():
    assert SECTIONS["generative"] == "rlgen.reproduce.generative"


def test_gap_identity_holds_to_rounding():
    r = section.gap_identity(0, cases=200)
    assert r["max_error"] < 1e-9 and r["gap_min"] > 0


def test_bound_measures_on_a_tiny_model(images):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent=2, hidden=(16,)))
    model.fit(images.train, LoopConfig(epochs=3, batch_size=32), seed=0)
    b = section.bound_measures(model, images.test[:30], 0, ks=(1, 10, 100), elbo_samples=20)
    assert set(b) == {"elbo", "iwae_1", "iwae_10", "iwae_100"}
    assert all(v.shape == (30,) for v in b.values())
    assert b["elbo"].mean() < b["iwae_10"].mean() < b["iwae_100"].mean()
    claims = section.bound_claims(model, images.test[:30], 0)
    assert [c.id for c in claims] == [
        "generative.elbo-equals-iwae-1",
        "generative.iwae-rises-with-k",
    ]


def test_linear_measures_see_the_pca_subspace():
    # a decoder whose columns span the top-2 principal directions, but are not them
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * [5.0, 3.0, 1.0, 0.5, 0.2, 0.1]
    model = Autoencoder(AEConfig(kind="linear", latent=2), pixels=6)
    with torch.no_grad():
        model.decoder.weight.copy_(
            torch.tensor([[1.0, 1.0], [0.0, 1.0], [0, 0], [0, 0], [0, 0], [0, 0]])
        )
    m = section.linear_measures(model, torch.tensor(x, dtype=torch.float32))
    assert m["max_angle_degrees"] < 1.0
    assert m["max_column_cosine"] == pytest.approx(1 / np.sqrt(2))
    assert min(m["column_to_nearest_component_degrees"]) < 1.0  # (1, 0) is the first component
    assert max(m["column_to_nearest_component_degrees"]) == pytest.approx(45.0, abs=1.0)


def test_denoising_measures_pair_the_same_noisy_images(images):
    dae = Autoencoder(AEConfig(kind="denoising", latent=4, hidden=(16,)))
    ae = Autoencoder(AEConfig(latent=4, hidden=(16,)))
    errors, noisy = section.denoising_measures(dae, ae, images.test[:20], seed=0)
    assert noisy.shape == (20, 784)
    expected = (noisy - images.test[:20]).square().mean(1).double().numpy()
    np.testing.assert_allclose(errors["noisy"], expected)
    assert set(errors) == {"noisy", "denoised", "plain"}


def test_ae_samplers(images):
    torch.manual_seed(0)
    ae = Autoencoder(AEConfig(latent=3, hidden=(16,)))
    g = torch.Generator().manual_seed(0)
    for sampler in (
        section.ae_sampler(ae),
        section.ae_sampler(ae, images.train),
        section.ae_sampler(ae, images.train, full=True),
    ):
        out = sampler(5, g)
        assert out.shape == (5, 784) and ((out >= 0) & (out <= 1)).all()


def test_hole_measures_see_a_prior_that_the_codes_do_not_fill():
    # codes far from the origin leave the prior's mass empty: a large ratio
    from rlgen.generative.measures import nearest_distances, nearest_other_distances

    rng = np.random.default_rng(0)
    full = rng.normal(size=(2000, 3))
    shell = full / np.linalg.norm(full, axis=1, keepdims=True) * 4
    z = rng.normal(size=(500, 3))

    def ratio(codes):
        return np.median(nearest_distances(z, codes)) / np.median(
            nearest_other_distances(codes, 500)
        )

    assert 0.7 < ratio(full) < 1.5
    assert ratio(shell) > 3


@pytest.mark.slow
def test_the_section_runs_on_generated_images(tmp_path, monkeypatch):
    data = make_synthetic(tmp_path / "data", train=400, test=200)
    monkeypatch.setenv("RLGEN_DATA", str(data))  # the training jobs find the same images
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the classifier's cache
    tiny = section.Setup(
        train_size=None, test_size=None, epochs=2, linear_epochs=2, bound_images=20, samples=100,
        draws=2,
    )  # fmt: skip
    monkeypatch.setattr(section.Setup, "of", classmethod(lambda cls, ctx: tiny))
    ctx = Context(preset="quick", seed=0, dir=tmp_path / "generative")
    ctx.dir.mkdir()
    claims = section.run(ctx)
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids)) == 15
    assert all(np.isfinite(c.measured) for c in claims), [c.id for c in claims]
    assert json.dumps([c.to_json() for c in claims])  # claims.json can hold them
    for figure in {c.figure for c in claims if c.figure}:
        assert (ctx.dir / figure).is_file(), figure
    # the claims that are exact computations hold even on two epochs of generated images
    exact = {c.id: c for c in claims}
    assert exact["generative.gap-is-kl-to-posterior"].passed
    assert exact["generative.elbo-equals-iwae-1"].passed
