"""The models: shapes, bounds on a tiny model, PCA, guards, save / load, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlgen.errors import UserError
from rlgen.generative import VAE, AEConfig, Autoencoder, VAEConfig, models
from rlgen.generative.measures import column_cosines, pca_basis, principal_angles
from rlgen.training import LoopConfig, NonFiniteLoss

TINY = VAEConfig(latent=3, hidden=(32,))


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous-bernoulli"])
def test_vae_shapes(architecture, likelihood):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent=4, hidden=(16,), architecture=architecture, likelihood=likelihood))
    x = torch.rand(5, 784)
    mean, log_std = model.encode(x)
    assert mean.shape == log_std.shape == (5, 4)
    assert model.decode(mean).shape == (5, 784)
    assert model.decode(torch.zeros(3, 5, 4)).shape == (3, 5, 784)
    assert model.iwae(x, 7).shape == (5,)
    samples = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 784) and ((samples >= 0) & (samples <= 1)).all()
    assert model.reconstruct(x).shape == (5, 784)


@pytest.mark.parametrize(
    ("make", "option"),
    [
        (lambda: VAEConfig(hidden=(10**9,)), "--hidden"),
        (lambda: VAEConfig(latent=10**11), "--latent"),
        (lambda: VAEConfig(architecture="conv", hidden=(10**9,)), "--hidden"),
        (lambda: AEConfig(hidden=(400, 10**9)), "--hidden"),
        (lambda: AEConfig(kind="linear", latent=10**11), "--latent"),
    ],
)
def test_a_model_beyond_memory_is_refused_before_torch_allocates_it(make, option):
    # torch's allocator failed with a RuntimeError traceback, after the run directory was made
    with pytest.raises(UserError) as e:
        make()
    message = str(e.value)
    assert message.startswith(f"{option}: a model of ") and "parameters would need" in message


@pytest.mark.parametrize(
    ("config", "model"),
    [
        (VAEConfig(), VAE),
        (VAEConfig(architecture="conv", hidden=(256,)), VAE),
        (AEConfig(kind="linear"), Autoencoder),
        (AEConfig(hidden=(300, 100)), Autoencoder),
    ],
)
def test_the_model_size_estimate_is_the_parameter_count(monkeypatch, config, model):
    from rlgen.generative import models

    estimates = []
    monkeypatch.setattr(
        models, "check_memory", lambda option, needed, what: estimates.append(needed)
    )
    type(config)(**{f: getattr(config, f) for f in config.__dataclass_fields__})
    counted = sum(p.numel() for p in model(config, pixels=784).parameters())
    fully_connected = estimates[0] // models.PARAMETER_BYTES
    assert 0 <= counted - fully_connected <= 100_000  # the conv layers' few weights


@pytest.mark.parametrize("kind", ["compressive", "linear", "denoising"])
def test_autoencoder_shapes(kind):
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(kind=kind, latent=4, hidden=(16,)))
    x = torch.rand(5, 784)
    assert model.encode(x).shape == (5, 4)
    assert model.reconstruct(x).shape == (5, 784)
    assert set(model.evaluate(x)) >= {"loss", "mse"}


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_a_compiled_vae_trains_on_each_device(images, device):
    """--compile: the VAE's loss (reparameterised draws, metrics dict) compiles and learns; on
    CUDA it is replayed as CUDA graphs, its outputs read before the next step replaces them."""
    torch.manual_seed(0)
    model = VAE(TINY)
    loop = LoopConfig(epochs=3, batch_size=48, compile=True)  # 320 images: a last batch of 32
    history = model.fit(images[0], loop, lr=3e-3, seed=0, device=device)
    losses = history.column("train/loss")
    assert all(math.isfinite(v) for v in losses) and losses[-1] < 0.9 * losses[0]
    row = history.rows[-1]
    assert row["train/reconstruction"] + row["train/kl"] == pytest.approx(losses[-1])


@pytest.fixture(scope="module")
def tiny_vae(images):
    torch.manual_seed(0)
    model = VAE(TINY)
    model.fit(images[0], LoopConfig(epochs=3, batch_size=32), lr=3e-3, seed=0)
    return model


def test_training_lowers_the_loss(images):
    torch.manual_seed(0)
    model = VAE(TINY)
    history = model.fit(images[0], LoopConfig(epochs=4, batch_size=32), lr=3e-3, seed=0)
    losses = history.column("train/loss")
    assert losses[-1] < 0.8 * losses[0]
    assert history.rows[-1]["train/reconstruction"] + history.rows[-1]["train/kl"] == (
        pytest.approx(losses[-1])
    )


def test_elbo_is_below_iwae_and_iwae_rises_with_k(tiny_vae, images):
    x = images[0][:40]
    g = torch.Generator().manual_seed(0)
    elbo = tiny_vae.evaluate(x, seed=1)["elbo"]
    with torch.no_grad():
        bounds = {k: tiny_vae.iwae(x, k, generator=g) for k in (1, 10, 100, 1000)}
    means = {k: b.mean().item() for k, b in bounds.items()}
    # the analytic-KL ELBO and IWAE_1 estimate the same number: within 4 standard errors
    se_1 = bounds[1].std().item() / math.sqrt(40)
    assert abs(means[1] - elbo) < 4 * se_1 + 0.5
    assert elbo < means[10] < means[100] < means[1000]


def test_iwae_is_at_least_the_mean_of_its_own_log_weights(tiny_vae, images):
    # Jensen on the same samples: log mean exp(w) >= mean(w), exactly, for any k
    from rlgen.generative.bounds import log_normal, reparameterize

    x = images[0][:10]
    with torch.no_grad():
        mean, log_std = tiny_vae.encode(x)
        z = reparameterize(mean, log_std, 50, generator=torch.Generator().manual_seed(2))
        w = tiny_vae.log_likelihood(tiny_vae.decode(z), x) + log_normal(z)
        w = w - log_normal(z, mean, log_std)
    assert (torch.logsumexp(w, 0) - math.log(50) >= w.mean(0)).all()


def test_iwae_in_chunks_estimates_the_same_bound(tiny_vae, images):
    # chunks draw different noise, so the two agree to the IWAE_512's own spread, not exactly
    x = images[0][:4]
    with torch.no_grad():
        whole = tiny_vae.iwae(x, 512, generator=torch.Generator().manual_seed(3))
        chunked = tiny_vae.iwae(
            x, 512, generator=torch.Generator().manual_seed(4), max_elements=50 * 4 * 784
        )
    torch.testing.assert_close(whole, chunked, rtol=2e-3, atol=0)


@pytest.mark.parametrize("max_elements", [1 << 40, 4 * 784 * 5, 4 * 784])
def test_iwae_is_the_log_mean_exp_of_its_log_weights_in_float64(max_elements):
    # brute force on the same draws (one chunk of c samples after another): log p(x | z) from
    # torch.distributions, the log-mean-exp by scipy
    from scipy.special import logsumexp
    from torch.distributions import Bernoulli, Independent, Normal

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent=3, hidden=(8,))).double().eval()
    x = torch.bernoulli(torch.rand(4, 784, dtype=torch.float64) * 0.6)
    k = 37
    with torch.no_grad():
        got = model.iwae(
            x, k, generator=torch.Generator().manual_seed(5), max_elements=max_elements
        )
        mean, log_std = model.encode(x)
        g = torch.Generator().manual_seed(5)
        chunk = max(1, max_elements // (4 * 784))
        eps = torch.cat(
            [
                torch.randn((min(chunk, k - s), 4, 3), generator=g, dtype=torch.float64)
                for s in range(0, k, chunk)
            ]
        )
        z = mean + log_std.exp() * eps  # (k, 4, 3)
        q = Independent(Normal(mean, log_std.exp()), 1)
        prior = Independent(Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1)
        log_w = torch.stack(
            [
                Independent(Bernoulli(logits=model.decoder(z_i)), 1).log_prob(x)
                + prior.log_prob(z_i)
                - q.log_prob(z_i)
                for z_i in z
            ]
        ).numpy()
    expected = logsumexp(log_w, axis=0) - math.log(k)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


def test_iwae_chunks_are_sized_by_the_widest_layer(monkeypatch):
    # with a hidden layer wider than the image, chunks sized by the pixels alone held
    # max_elements * width / pixels activations at once
    model = VAE(VAEConfig(latent=2, hidden=(7840,)))
    shapes = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda z: shapes.append(z.shape) or decode(z))
    with torch.no_grad():
        model.iwae(torch.rand(3, 784), 100, max_elements=3 * 7840 * 10)
    assert sum(s[0] for s in shapes) == 100
    assert max(s[0] * s[1] for s in shapes) * 7840 <= 3 * 7840 * 10


def test_evaluate_reports_the_summary_terms(tiny_vae, images):
    out = tiny_vae.evaluate(images[0][:50], iwae_k=20)
    assert out["elbo"] == pytest.approx(-(out["reconstruction"] + out["kl"]))
    assert out["iwae_nll"] == -out["iwae"] and out["iwae_se"] > 0
    assert 0 <= out["active_units"] <= TINY.latent
    assert out["iwae"] > out["elbo"] - 4 * out["iwae_se"]


def test_same_seed_same_model(images):
    def train():
        torch.manual_seed(0)
        model = VAE(TINY)
        model.fit(images[0][:64], LoopConfig(epochs=2, batch_size=16), seed=4)
        return model

    a, b = train(), train()
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_save_load_round_trip(tiny_vae, images, tmp_path):
    tiny_vae.save(tmp_path / "vae.pt")
    loaded = VAE.load(tmp_path / "vae.pt")
    assert loaded.config == TINY
    x = images[0][:8]
    torch.testing.assert_close(loaded.reconstruct(x), tiny_vae.reconstruct(x), rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(loaded.sample(4, generator=g1), tiny_vae.sample(4, generator=g2))
    ae = Autoencoder(AEConfig(kind="denoising", latent=2, hidden=(8,), noise="masking"))
    ae.save(tmp_path / "ae.pt")
    back = Autoencoder.load(tmp_path / "ae.pt")
    assert back.config == ae.config
    torch.testing.assert_close(back.reconstruct(x), ae.reconstruct(x), rtol=0, atol=0)


def test_load_refuses_foreign_and_corrupt_files(tiny_vae, tmp_path):
    tiny_vae.save(tmp_path / "vae.pt")
    with pytest.raises(UserError, match="not a saved Autoencoder"):
        Autoencoder.load(tmp_path / "vae.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read the checkpoint"):
        VAE.load(tmp_path / "bad.pt")
    with pytest.raises(UserError, match="no checkpoint"):
        VAE.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------------
# Numerical guards
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous-bernoulli"])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_vae_is_finite_on_all_zero_and_all_one_images(architecture, likelihood, value):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent=2, hidden=(8,), architecture=architecture, likelihood=likelihood))
    x = torch.full((64, 784), value)
    history = model.fit(x, LoopConfig(epochs=3, batch_size=16), lr=1e-2, seed=0)
    assert all(math.isfinite(v) for v in history.column("train/loss"))
    scores = model.evaluate(x[:4], iwae_k=10)
    assert all(math.isfinite(v) for v in scores.values())


def test_extreme_encoder_outputs_are_clamped_and_finite():
    model = VAE(VAEConfig(latent=2, hidden=(4,)))
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.fill_(1e3)
    x = torch.ones(3, 784)
    _mean, log_std = model.encode(x)
    assert log_std.max() == 10.0
    loss, _ = model.loss((x,))
    assert torch.isfinite(loss)
    assert torch.isfinite(model.iwae(x, 5)).all()


@pytest.mark.parametrize("kind", ["compressive", "denoising"])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_autoencoder_is_finite_on_all_zero_and_all_one_images(kind, value):
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(kind=kind, latent=2, hidden=(8,)))
    history = model.fit(torch.full((32, 784), value), LoopConfig(epochs=2, batch_size=16), seed=0)
    assert all(math.isfinite(v) for v in history.column("train/loss"))


def test_a_huge_learning_rate_stops_with_an_error_naming_the_option(images):
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(kind="linear", latent=3))
    with pytest.raises(NonFiniteLoss, match="lower --lr"):
        model.fit(images[0], LoopConfig(epochs=2, batch_size=32), lr=1e10, seed=0)


# ---------------------------------------------------------------------------------------------
# The autoencoders
# ---------------------------------------------------------------------------------------------


def test_linear_autoencoder_finds_the_pca_subspace_not_the_components():
    # 400 points near a 3-dimensional subspace of R^12, with well separated variances
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(12, 3)))[0]
    x = rng.normal(size=(400, 3)) * [3.0, 2.0, 1.0] @ basis.T + 0.05 * rng.normal(size=(400, 12))
    data = torch.tensor(x + 0.5, dtype=torch.float32)
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(kind="linear", latent=3), pixels=12)
    model.fit(data, LoopConfig(epochs=150, batch_size=50), lr=1e-2, seed=0)
    w = model.decoder.weight.detach().double().numpy()  # (12, 3)
    angles = principal_angles(w, pca_basis(x, 3))
    assert angles.max() < 0.02  # radians
    assert column_cosines(w).max() > 0.05  # not orthogonal: the subspace, not the components


def test_denoising_corruptions():
    model = Autoencoder(AEConfig(kind="denoising", noise="masking", noise_level=0.3))
    x = torch.full((100, 784), 0.8)
    noisy = model.corrupt(x, torch.Generator().manual_seed(0))
    assert ((noisy == 0) | (noisy == 0.8)).all()
    assert (noisy == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    gaussian = Autoencoder(AEConfig(kind="denoising", noise_level=0.5))
    noisy = gaussian.corrupt(x, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and (noisy != x).float().mean() > 0.9


def test_denoising_autoencoder_trains_on_fresh_noise_against_the_clean_target(images):
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(kind="denoising", latent=8, hidden=(64,)))
    model.fit(images[0], LoopConfig(epochs=8, batch_size=32), lr=3e-3, seed=0)
    scores = model.evaluate(images[0][:100])
    assert scores["denoised_mse"] < scores["noisy_mse"]


# ---------------------------------------------------------------------------------------------
# Validation: one-line errors naming the option
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: VAEConfig(latent=0), "--latent must be >= 1, got 0"),
        (lambda: VAEConfig(beta=-0.5), r"--beta must be in \[0, 1e\+30\], got -0.5"),
        (lambda: VAEConfig(beta=float("nan")), "--beta must be a finite number"),
        (lambda: VAEConfig(hidden=(0,)), "--hidden must be >= 1"),
        (lambda: VAEConfig(likelihood="gaussian"), "--likelihood: unknown value 'gaussian'"),
        (lambda: AEConfig(kind="sparse"), "--kind: unknown value 'sparse'"),
        (lambda: AEConfig(latent=0), "--latent must be >= 1"),
        (lambda: AEConfig(noise="masking", noise_level=1.0), r"--noise-level must be in \[0, 1\)"),
        (lambda: AEConfig(kind="linear", architecture="conv"), "--kind linear"),
    ],
)
def test_bad_configs_are_user_errors(make, message):
    with pytest.raises(UserError, match=message):
        make()


@pytest.mark.parametrize("kind", ["linear", "compressive"])
def test_an_undercomplete_autoencoder_needs_a_code_narrower_than_the_image(kind):
    # a code as wide as the image can copy it: a linear one at --latent 5000 "found" PCA's
    # subspace exactly (pca_max_angle 0)
    for latent in (12, 5000):
        with pytest.raises(
            UserError,
            match=f"--latent {latent}: --kind {kind} compresses an image, so it needs fewer code "
            "units than its 12 pixels",
        ):
            Autoencoder(AEConfig(kind=kind, latent=latent, hidden=(4,)), pixels=12)
    assert Autoencoder(AEConfig(kind=kind, latent=11, hidden=(4,)), pixels=12).pixels == 12
    overcomplete = Autoencoder(AEConfig(kind="denoising", latent=20, hidden=(4,)), pixels=12)
    assert overcomplete.encode(torch.rand(3, 12)).shape == (3, 20)


def test_bad_iwae_k_and_conv_image_size(monkeypatch):
    model = VAE(TINY)
    with pytest.raises(UserError, match="--iwae-k must be >= 1"):
        model.iwae(torch.rand(2, 784), 0)

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before refusing --iwae-k")

    # refused at once: it sampled (and kept every log-weight) until memory ran out
    monkeypatch.setattr(models, "reparameterize", no_sampling)
    with pytest.raises(UserError, match="--iwae-k: the importance weights of 2 images"):
        model.iwae(torch.rand(2, 784), 10**30)
    with pytest.raises(UserError, match="28x28"):
        VAE(VAEConfig(architecture="conv"), pixels=100)


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_output_bias_starts_the_decoder_at_the_mean_image(images, architecture):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent=2, hidden=(8,), architecture=architecture))
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.zero_()  # only the bias speaks
    model.init_output_bias(images[0])
    decoded = model.mean_image(model.decode(torch.zeros(1, 2)))[0]
    target = images[0].mean(0).clamp(1e-3, 1 - 1e-3)
    if architecture == "conv":  # one channel: one bias, the overall mean
        target = target.mean().expand_as(target)
    torch.testing.assert_close(decoded, target, rtol=1e-5, atol=1e-6)
    linear = Autoencoder(AEConfig(kind="linear", latent=2))
    linear.init_output_bias(images[0])
    torch.testing.assert_close(linear.decoder.bias, images[0].mean(0))
