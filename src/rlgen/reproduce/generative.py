"""Autoencoders and the variational autoencoder on Fashion-MNIST: the lecture's claims, rerun.

One set of models is trained as independent jobs (``rlgen vae`` / ``rlgen ae`` run directories
under this section's directory, through the executor), then measured:

- a linear autoencoder (8 units, cosine learning-rate decay) against PCA;
- a plain and a denoising autoencoder (20 units), on noisy test images;
- VAEs with latent sizes 2, 5, 10, 20 and 50 (beta = 1), and two more with 20 latents and a very
  small and a very large KL weight beta;
- a small classifier (cached) whose features give a Fréchet distance (the FID recipe).

The quick preset trains every model for a few epochs on 20,000 training images and scores on
2,000 test images, so the section runs in minutes on 2 CPU cores; the full preset uses every
image and more epochs. Statistical tolerances come from per-image (paired) standard errors or
from repeated independent draws of samples.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlgen.executors import ExecutorOptions, map_jobs
from rlgen.generative import fid
from rlgen.generative.bounds import LinearGaussian, reparameterize
from rlgen.generative.command import AETrainConfig, VAETrainConfig, train_ae, train_vae
from rlgen.generative.evaluate import load_ae, load_vae
from rlgen.generative.figures import save_image_rows
from rlgen.generative.images import DataConfig, Images, load_images
from rlgen.generative.measures import (
    column_cosines,
    knn_accuracy,
    mean_pairwise_distance,
    nearest_distances,
    nearest_other_distances,
    pca_basis,
    principal_angles,
)
from rlgen.generative.models import VAE, AEConfig, Autoencoder, VAEConfig
from rlgen.reproduce.claims import Claim, Context
from rlgen.training import LoopConfig, NonFiniteLoss

TITLE = "Autoencoders and the variational autoencoder (Fashion-MNIST)"
Z = 3.0
"""standard errors a statistical claim's margin must exceed"""
LATENTS = (2, 5, 10, 20, 50)
BETA_SMALL, BETA_LARGE = 0.01, 100.0
LINEAR_UNITS = 8
NOISE = 0.5


@dataclass(frozen=True)
class Setup:
    """The preset's sizes."""

    train_size: int | None
    test_size: int | None
    epochs: int
    linear_epochs: int
    bound_images: int
    """test images the IWAE bounds are computed on (k up to 1000 each)"""
    samples: int
    """generated images per Fréchet distance"""
    draws: int
    """independent sample sets per Fréchet distance (their spread gives its standard error)"""

    @classmethod
    def of(cls, ctx: Context) -> Setup:
        return cls(
            train_size=ctx.pick(20_000, None),
            test_size=ctx.pick(2_000, None),
            epochs=ctx.pick(8, 30),
            linear_epochs=ctx.pick(20, 30),
            bound_images=ctx.pick(200, 1_000),
            samples=ctx.pick(1_000, 5_000),
            draws=ctx.pick(4, 8),
        )

    @property
    def data(self) -> DataConfig:
        return DataConfig(validation=0, train_size=self.train_size, test_size=self.test_size)


def run(ctx: Context) -> list[Claim]:
    setup = Setup.of(ctx)
    images = load_images(setup.data)
    ctx.notes.append(
        f"Fashion-MNIST grey levels, {len(images.train):,} training and {len(images.test):,} test "
        f"images; every model trained for {setup.epochs} epochs (the linear autoencoder "
        f"{setup.linear_epochs}) with Adam 3e-3 decayed along a cosine, batch 64 (the linear "
        f"one: batch 32), seed {ctx.seed}. VAEs: 784-400-m-400-784, "
        "Bernoulli cross-entropy on grey levels (the lecture's and the PyTorch examples' loss; its "
        "'nats' compare models, they are not a normalised likelihood)."
    )
    dirs = train_models(ctx, setup)
    vae20, _, _ = load_vae(dirs["vae-z20"])
    claims = [
        *linear_autoencoder_claims(dirs["linear-ae"], images, setup),
        *denoising_claims(dirs["dae"], dirs["ae"], images, ctx.seed),
        *bound_claims(vae20, images.test[: setup.bound_images], ctx.seed),
        gap_identity_claim(ctx.seed),
        latent_2d_claim(dirs["vae-z2"], images, ctx),
    ]
    classifier, accuracy = _classifier(images, ctx.seed)
    claims.append(sampling_claim(vae20, dirs["ae"], images, classifier, accuracy, setup, ctx))
    claims += beta_claims(dirs, images, classifier, setup, ctx)
    claims += latent_size_claims(dirs, images, ctx)
    return claims


# ---------------------------------------------------------------------------------------------
# Training: one job per model
# ---------------------------------------------------------------------------------------------


def model_configs(setup: Setup, seed: int) -> dict[str, VAETrainConfig | AETrainConfig]:
    loop = LoopConfig(epochs=setup.epochs, batch_size=64, eval_every=0, checkpoint_every=0)
    vae = VAETrainConfig(
        seed=seed, lr=3e-3, lr_schedule="cosine", iwae_k=0, device="cpu", data=setup.data, loop=loop
    )
    ae = AETrainConfig(
        seed=seed, lr=3e-3, lr_schedule="cosine", device="cpu", data=setup.data, loop=loop
    )
    configs: dict[str, VAETrainConfig | AETrainConfig] = {
        f"vae-z{m}": dataclasses.replace(vae, model=VAEConfig(latent=m)) for m in LATENTS
    }
    for name, beta in (("vae-beta-small", BETA_SMALL), ("vae-beta-large", BETA_LARGE)):
        configs[name] = dataclasses.replace(vae, model=VAEConfig(latent=20, beta=beta))
    configs["ae"] = dataclasses.replace(ae, model=AEConfig(latent=20))
    configs["dae"] = dataclasses.replace(
        ae, model=AEConfig(kind="denoising", latent=20, noise_level=NOISE)
    )
    configs["linear-ae"] = dataclasses.replace(
        ae,
        model=AEConfig(kind="linear", latent=LINEAR_UNITS),
        lr=3e-3,
        lr_schedule="cosine",
        loop=dataclasses.replace(loop, epochs=setup.linear_epochs, batch_size=32),
    )
    return configs


def train_job(job: tuple[VAETrainConfig | AETrainConfig, str]) -> dict[str, Any]:
    """One model into its run directory; its summary (a diverged one's says so)."""
    import multiprocessing

    from rlgen.files import read_json

    config, run_dir = job
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)  # one job per core
    train = train_vae if isinstance(config, VAETrainConfig) else train_ae
    try:
        return train(config, run_dir, quiet=True)  # type: ignore[arg-type]
    except NonFiniteLoss:
        return read_json(Path(run_dir) / "summary.json")


def train_models(ctx: Context, setup: Setup) -> dict[str, Path]:
    configs = model_configs(setup, ctx.seed)
    dirs = {name: ctx.dir / name for name in configs}
    jobs = [(config, str(dirs[name])) for name, config in configs.items()]
    summaries = map_jobs(train_job, jobs, ExecutorOptions(), desc="generative", quiet=ctx.quiet)
    failed = [n for n, s in zip(configs, summaries, strict=True) if s["status"] != "finished"]
    if failed:
        raise RuntimeError(f"training diverged: {', '.join(failed)}")
    return dirs


def _classifier(images: Images, seed: int) -> tuple[fid.Classifier, float]:
    model = fid.cached_classifier(images.train, images.train_labels, seed=seed)
    return model, fid.accuracy(model, images.test, images.test_labels)


def _se(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


# ---------------------------------------------------------------------------------------------
# The linear autoencoder finds the PCA subspace, not the components
# ---------------------------------------------------------------------------------------------


def linear_measures(model: Autoencoder, train: torch.Tensor) -> dict[str, Any]:
    """Principal angles (degrees) between the decoder's columns and the top-m PCA subspace;
    the largest |cos| between two decoder columns; each column's angle to its nearest
    principal component."""
    weight = model.decoder.weight
    assert isinstance(weight, torch.Tensor)
    w = weight.detach().double().cpu().numpy()  # (P, m)
    m = w.shape[1]
    basis = pca_basis(train.cpu().numpy(), m)
    angles = np.degrees(principal_angles(w, basis))
    unit = w / np.linalg.norm(w, axis=0)
    to_components = np.degrees(np.arccos(np.clip(np.abs(unit.T @ basis).max(1), 0, 1)))
    return {
        "angles_degrees": angles.tolist(),
        "max_angle_degrees": float(angles.max()),
        "max_column_cosine": float(column_cosines(w).max()),
        "column_to_nearest_component_degrees": to_components.tolist(),
    }


def linear_autoencoder_claims(run_dir: Path, images: Images, setup: Setup) -> list[Claim]:
    model, config, _ = load_ae(run_dir)
    m = linear_measures(model, images.train)
    figure = "linear-ae/reconstructions.png"
    return [
        Claim(
            "generative.linear-ae-pca-subspace",
            "A linear autoencoder trained on squared error spans the top-m PCA subspace.",
            measured=m["max_angle_degrees"],
            expected=0.0,
            tolerance=2.0,
            comparison="at_most",
            how=f"m = {LINEAR_UNITS}; largest principal angle (degrees) between the decoder's "
            f"column span and the top-{LINEAR_UNITS} principal directions of the "
            f"{len(images.train):,} training images, after {setup.linear_epochs} epochs of Adam "
            "(lr 3e-3, batch 32, cosine decay to 0). A subspace missing one direction would be "
            "90 degrees off. Tolerance 2 degrees: runs with half the steps (10,000 images, seeds "
            "0 and 1) ended at 1.4 and 1.8 degrees, the optimiser's remaining error in the "
            "weakest direction (the smallest eigenvalue gap to the next); the other angles "
            "are in details",
            figure=figure,
            details=m | {"epochs": config.loop.epochs},
        ),
        Claim(
            "generative.linear-ae-not-components",
            "It finds the subspace, not the components: the decoder's columns are not orthogonal.",
            measured=m["max_column_cosine"],
            expected=0.05,
            tolerance=0.0,
            comparison="at_least",
            how="largest |cos| between two decoder columns (principal components: exactly 0); "
            "0.05 (87 degrees) is far above float rounding (1e-7) and above what the "
            "training's remaining error could explain; the angle of each column to its nearest "
            "principal component is in details",
            figure=figure,
            details=m,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# The denoising autoencoder
# ---------------------------------------------------------------------------------------------


def denoising_measures(
    dae: Autoencoder, ae: Autoencoder, test: torch.Tensor, seed: int
) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Per test image, squared error per pixel against the clean image of: the noisy input,
    the denoising autoencoder's and the plain autoencoder's reconstructions of it; and the
    noisy images."""
    noisy = dae.corrupt(test, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return {
            "noisy": (noisy - test).square().mean(1).double().numpy(),
            "denoised": (dae.reconstruct(noisy) - test).square().mean(1).double().numpy(),
            "plain": (ae.reconstruct(noisy) - test).square().mean(1).double().numpy(),
        }, noisy


def denoising_claims(dae_dir: Path, ae_dir: Path, images: Images, seed: int) -> list[Claim]:
    dae, _, _ = load_ae(dae_dir)
    ae, _, _ = load_ae(ae_dir)
    errors, noisy = denoising_measures(dae, ae, images.test, seed)
    figure = "denoising.png"
    shown = images.test[:12]
    save_image_rows(
        dae_dir.parent / figure,
        [
            ("clean", shown.numpy()),
            (f"noisy (σ = {NOISE:g})", noisy[:12].numpy()),
            ("denoising AE", dae.reconstruct(noisy[:12]).numpy()),
            ("plain AE", ae.reconstruct(noisy[:12]).numpy()),
        ],
        images.side,
    )
    n = len(errors["noisy"])
    claims = []
    for other, what in (("noisy", "the noisy input itself"), ("plain", "a plain autoencoder")):
        diff = errors[other] - errors["denoised"]
        se = _se(diff)
        claims.append(
            Claim.gap_beyond(
                f"generative.denoising-beats-{other}",
                f"A denoising autoencoder's reconstruction of a noisy image is closer to the "
                f"clean image than {what} is.",
                gap=float(diff.mean()),
                margin=Z * se,
                how=f"Gaussian noise σ = {NOISE:g} clipped to [0, 1] on {n:,} test images; "
                f"squared error per pixel against the clean image, {other} minus denoising, "
                f"paired per image; it must exceed 3 standard errors ({se:.2g})",
                figure=figure,
                details={k: float(v.mean()) for k, v in errors.items()} | {"se": se},
            )
        )
    return claims


# ---------------------------------------------------------------------------------------------
# The bounds: ELBO = IWAE_1 <= IWAE_k, rising with k; the gap identity
# ---------------------------------------------------------------------------------------------

KS = (1, 10, 100, 1000)


def bound_measures(
    model: VAE, x: torch.Tensor, seed: int, ks: tuple[int, ...] = KS, elbo_samples: int = 100
) -> dict[str, np.ndarray]:
    """Per image: the ELBO (analytic KL; E_q[log p(x | z)] averaged over ``elbo_samples``
    draws, so it is nearly exact) and IWAE_k for each k."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, np.ndarray] = {}
    model.eval()
    with torch.no_grad():
        draws = [model.elbo_terms(x, generator=g).elbo() for _ in range(elbo_samples)]
        out["elbo"] = torch.stack(draws).double().mean(0).numpy()
        for k in ks:
            rows = [model.iwae(x[i : i + 20], k, generator=g) for i in range(0, len(x), 20)]
            out[f"iwae_{k}"] = torch.cat(rows).double().numpy()
    return out


def bound_claims(model: VAE, x: torch.Tensor, seed: int) -> list[Claim]:
    b = bound_measures(model, x, seed)
    n = len(x)
    gap1 = b["iwae_1"] - b["elbo"]
    se1 = _se(gap1)
    means = {k: float(v.mean()) for k, v in b.items()}
    rises = []
    for lo, hi in itertools.pairwise(KS):
        d = b[f"iwae_{hi}"] - b[f"iwae_{lo}"]
        rises.append({"from": lo, "to": hi, "gain": float(d.mean()), "se": _se(d)})
    weakest = min(rises, key=lambda r: r["gain"] / r["se"])
    elbo_gap = b["iwae_1000"] - b["elbo"]
    return [
        Claim(
            "generative.elbo-equals-iwae-1",
            "The ELBO is IWAE_1 in expectation.",
            measured=float(gap1.mean()),
            expected=0.0,
            tolerance=Z * se1,
            how=f"IWAE_1 (one sample, Monte Carlo KL) minus the ELBO (analytic KL, 100 samples of "
            f"log p(x | z)) on {n} test images, paired; nats per image; tolerance 3 standard "
            f"errors ({se1:.2g})",
            details=means,
        ),
        Claim.gap_beyond(
            "generative.iwae-rises-with-k",
            "ELBO ≤ IWAE_k, and IWAE_k rises with k (k = 1, 10, 100, 1000) towards log p(x).",
            gap=weakest["gain"],
            margin=Z * weakest["se"],
            how=f"the smallest rise, paired over {n} test images, in standard errors, is "
            f"IWAE_{weakest['to']} - IWAE_{weakest['from']} (nats); it must exceed 3 of its "
            f"standard errors ({weakest['se']:.2g}); every rise and IWAE_1000 - ELBO "
            f"({elbo_gap.mean():.2f} ± {_se(elbo_gap):.2f}) are in details",
            details={"means": means, "rises": rises},
        ),
    ]


def gap_identity(seed: int, cases: int = 1000, d: int = 20, m: int = 4) -> dict[str, float]:
    """max |log p(x) - ELBO(q) - KL(q || p(z | x))| over random linear-Gaussian models, data
    and Gaussian q, in float64."""
    g = torch.Generator().manual_seed(seed)
    worst, gaps = 0.0, []
    for _ in range(cases // 100):
        model = LinearGaussian(
            torch.randn(d, m, generator=g, dtype=torch.float64),
            torch.randn(d, generator=g, dtype=torch.float64),
            sigma=float(torch.rand((), generator=g, dtype=torch.float64)) + 0.3,
        )
        x = torch.randn(100, d, generator=g, dtype=torch.float64) * 2
        mean = torch.randn(100, m, generator=g, dtype=torch.float64) * 2
        log_std = torch.randn(100, m, generator=g, dtype=torch.float64)
        gap = model.log_marginal(x) - model.elbo(x, mean, log_std)
        kl = model.gap_kl(x, mean, log_std)
        worst = max(worst, float((gap - kl).abs().max()))
        gaps.append(gap)
    all_gaps = torch.cat(gaps)
    return {
        "max_error": worst,
        "gap_min": float(all_gaps.min()),
        "gap_median": float(all_gaps.median()),
        "gap_max": float(all_gaps.max()),
    }


def gap_identity_claim(seed: int) -> Claim:
    r = gap_identity(seed)
    return Claim(
        "generative.gap-is-kl-to-posterior",
        "log p(x) - ELBO = KL(q(z | x) || p(z | x)), for any q.",
        measured=r["max_error"],
        expected=0.0,
        tolerance=1e-9,
        how="linear-Gaussian latent model p(z) = N(0, I_4), p(x | z) = N(Wz + b, σ² I_20) "
        "(posterior and log p(x) in closed form); 1,000 random (W, b, σ, x, q) in float64; "
        "largest |log p(x) - ELBO - KL| (the KL from torch.distributions); the gaps range "
        f"from {r['gap_min']:.3g} to {r['gap_max']:.3g} nats, so 1e-9 is rounding error",
        details=r,
    )


# ---------------------------------------------------------------------------------------------
# The 2-D latent space is organised by class
# ---------------------------------------------------------------------------------------------


def latent_2d_claim(run_dir: Path, images: Images, ctx: Context) -> Claim:
    model, _, _ = load_vae(run_dir)
    with torch.no_grad():
        train_codes = model.encode(images.train)[0].numpy()
        test_codes = model.encode(images.test)[0].numpy()
    y_train, y_test = images.train_labels.numpy(), images.test_labels.numpy()
    accuracy = knn_accuracy(train_codes, y_train, test_codes, y_test, k=10)
    n = len(test_codes)
    se = math.sqrt(accuracy * (1 - accuracy) / n)
    chance = float(np.bincount(y_test).max() / n)
    ctx.figures += ["vae-z2/manifold.png"]
    return Claim(
        "generative.latent-2d-organised",
        "A VAE's 2-D latent space is organised: the classes form regions.",
        measured=accuracy,
        expected=5 * chance,
        tolerance=Z * se,
        comparison="at_least",
        how="10-nearest-neighbour accuracy on the 2-D codes (posterior means): "
        f"{len(train_codes):,} encoded training images vote for each of {n:,} encoded test "
        f"images. Chance (the largest class) is {100 * chance:.1f}%; 'far above chance' "
        "read as at least five times chance; tolerance 3 binomial standard errors "
        f"({100 * se:.2f} points)",
        unit="%",
        figure="vae-z2/latent.png",
        details={"chance": chance, "times_chance": accuracy / chance},
    )


# ---------------------------------------------------------------------------------------------
# Sampling: a plain autoencoder's latent space against the VAE's prior
# ---------------------------------------------------------------------------------------------


def fid_draws(
    sampler: Any, classifier: fid.Classifier, real: np.ndarray, n: int, draws: int, seed: int
) -> np.ndarray:
    """Fréchet distances of ``draws`` independent sets of ``n`` generated images to ``real``
    features; ``sampler(n, generator) -> images``."""
    out = []
    for i in range(draws):
        images = sampler(n, torch.Generator().manual_seed(seed * 1000 + i))
        out.append(fid.frechet_distance(fid.features(classifier, images), real))
    return np.array(out)


def vae_sampler(model: VAE) -> Any:
    return lambda n, g: model.sample(n, generator=g)


def ae_sampler(model: Autoencoder, train: torch.Tensor | None = None, *, full: bool = False) -> Any:
    """Decoded random codes of a plain autoencoder: z ~ N(0, I), the VAE's prior (``train``
    None); or from a Gaussian fitted to the codes of ``train`` (diagonal, or ``full``
    covariance)."""
    if train is None:
        mean, root = torch.zeros(model.config.latent), torch.eye(model.config.latent)
    else:
        with torch.no_grad():
            codes = model.encode(train).double()
        mean = codes.mean(0).float()
        cov = torch.cov(codes.T) if full else torch.diag(codes.var(0))
        root = torch.linalg.cholesky(cov).float()

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return model.decode(mean + torch.randn(n, len(mean), generator=g) @ root.T)

    return sample


def sampling_claim(
    vae: VAE,
    ae_dir: Path,
    images: Images,
    classifier: fid.Classifier,
    accuracy: float,
    setup: Setup,
    ctx: Context,
) -> Claim:
    ae, _, _ = load_ae(ae_dir)
    real = fid.features(classifier, images.test)
    n = min(setup.samples, len(images.test))

    def distances(sampler: Any) -> np.ndarray:
        return fid_draws(sampler, classifier, real, n, setup.draws, ctx.seed)

    d_vae, d_ae = distances(vae_sampler(vae)), distances(ae_sampler(ae))
    d_diag = distances(ae_sampler(ae, images.train))
    d_full = distances(ae_sampler(ae, images.train, full=True))
    floor = fid.frechet_distance(fid.features(classifier, images.train[:n]), real)
    ratio = float(d_ae.mean() / d_vae.mean())
    # delta method: the ratio's standard error from the draws' spread
    se = ratio * math.sqrt((_se(d_ae) / d_ae.mean()) ** 2 + (_se(d_vae) / d_vae.mean()) ** 2)
    g = torch.Generator().manual_seed(ctx.seed)
    figure = "sampling.png"
    save_image_rows(
        ctx.dir / figure,
        [
            ("VAE:\nz ~ N(0, I)", vae.sample(16, generator=g).numpy()),
            ("autoencoder:\nz ~ N(0, I)", ae_sampler(ae)(16, g).numpy()),
            ("autoencoder: z ~\nfitted Gaussian", ae_sampler(ae, images.train)(16, g).numpy()),
        ],
        images.side,
    )
    return Claim(
        "generative.ae-sampling-fails",
        "Sampling a plain autoencoder's latent space gives poor images; sampling the VAE's "
        "prior does not.",
        measured=ratio,
        expected=2.0,
        tolerance=Z * se,
        comparison="at_least",
        how=f"Fréchet distance (the FID recipe, with the features of a small Fashion-MNIST "
        f"classifier, {100 * accuracy:.1f}% test accuracy) of {n:,} generated images to the "
        f"test images, 20-D latents, codes z ~ N(0, I) for both (the autoencoder has no prior: "
        f"this is what sampling its latent space means); ratio autoencoder / VAE over "
        f"{setup.draws} independent draws each; 'far worse' read as at least twice; tolerance "
        f"3 standard errors of the ratio ({se:.2g}). Means: VAE {d_vae.mean():.1f}, "
        f"autoencoder {d_ae.mean():.1f}; real training images {floor:.2f}. Codes drawn from a "
        f"Gaussian fitted to the autoencoder's own training codes score {d_diag.mean():.1f} "
        f"(diagonal) and {d_full.mean():.1f} (full covariance): what fails is the missing "
        "prior, and a density fitted after training repairs much of it (Ghosh et al. 2020)",
        figure=figure,
        details={
            "fid_vae": d_vae.tolist(),
            "fid_ae_prior": d_ae.tolist(),
            "fid_ae_fitted_diagonal": d_diag.tolist(),
            "fid_ae_fitted_full": d_full.tolist(),
            "fid_train_images": floor,
            "classifier_accuracy": accuracy,
        },
    )


# ---------------------------------------------------------------------------------------------
# The KL weight beta
# ---------------------------------------------------------------------------------------------


def beta_measures(
    model: VAE,
    images: Images,
    classifier: fid.Classifier,
    real: np.ndarray,
    setup: Setup,
    seed: int,
) -> dict[str, Any]:
    """Sample diversity (mean pairwise distance of 1,000 prior samples, pixels); holes; Fréchet
    distances.

    Holes, in latent space: each training image encoded as one z ~ q(z | x) (a sample of the
    aggregate posterior, which should fill the prior); then the distance from 1,000 prior
    samples z ~ N(0, I) to their nearest encoded image, against the distance from 1,000 encoded
    images to their nearest other one. The hole ratio (of the medians) is about 1 when the
    encodings fill the prior and grows where the prior has regions no image maps to.
    """
    n = min(setup.samples, len(images.test))
    g = torch.Generator().manual_seed(seed)
    samples = model.sample(min(n, 1000), generator=g).double().numpy()
    with torch.no_grad():
        mean, log_std = model.encode(images.train)
        encoded = reparameterize(mean, log_std, generator=g).double().numpy()
    z = torch.randn(1000, encoded.shape[1], generator=g, dtype=torch.float64).numpy()
    to_prior = nearest_distances(z, encoded)
    to_codes = nearest_other_distances(encoded, 1000)
    fids = fid_draws(vae_sampler(model), classifier, real, n, setup.draws, seed)
    return {
        "diversity": mean_pairwise_distance(samples),
        "hole_ratio": float(np.median(to_prior) / np.median(to_codes)),
        "to_prior": to_prior,
        "to_codes": to_codes,
        "fid": fids.tolist(),
        "fid_mean": float(fids.mean()),
        "fid_se": _se(fids),
    }


def bootstrap_ratio_gap(a: dict[str, Any], b: dict[str, Any], seed: int, n: int = 500) -> float:
    """Standard error of hole_ratio(a) - hole_ratio(b), resampling the four sets of distances."""
    rng = np.random.default_rng(seed)

    def ratio(m: dict[str, Any]) -> float:
        p, c = m["to_prior"], m["to_codes"]
        return float(np.median(rng.choice(p, len(p))) / np.median(rng.choice(c, len(c))))

    return float(np.std([ratio(a) - ratio(b) for _ in range(n)], ddof=1))


def beta_claims(
    dirs: dict[str, Path],
    images: Images,
    classifier: fid.Classifier,
    setup: Setup,
    ctx: Context,
) -> list[Claim]:
    real = fid.features(classifier, images.test)
    names = {BETA_SMALL: "vae-beta-small", 1.0: "vae-z20", BETA_LARGE: "vae-beta-large"}
    models = {beta: load_vae(dirs[name])[0] for beta, name in names.items()}
    m = {b: beta_measures(v, images, classifier, real, setup, ctx.seed) for b, v in models.items()}
    data_diversity = mean_pairwise_distance(images.test[:1000].double().numpy())
    figure = "beta.png"
    g = torch.Generator().manual_seed(ctx.seed)
    save_image_rows(
        ctx.dir / figure,
        [(f"β = {b:g}", v.sample(16, generator=g).numpy()) for b, v in models.items()],
        images.side,
        title="samples from the prior",
    )
    small, one, large = m[BETA_SMALL], m[1.0], m[BETA_LARGE]
    fid_gap = small["fid_mean"] - one["fid_mean"]
    fid_se = math.sqrt(small["fid_se"] ** 2 + one["fid_se"] ** 2)
    hole_gap = small["hole_ratio"] - one["hole_ratio"]
    hole_se = bootstrap_ratio_gap(small, one, ctx.seed)
    shown = {
        b: {k: x for k, x in v.items() if k not in ("to_prior", "to_codes")} for b, v in m.items()
    }
    details = {"beta": {f"{b:g}": v for b, v in shown.items()}, "data_diversity": data_diversity}
    return [
        Claim(
            "generative.beta-large-collapses",
            "With a very large KL weight every sample is the average image: sample diversity "
            "near 0.",
            measured=large["diversity"] / data_diversity,
            expected=0.0,
            tolerance=0.1,
            comparison="at_most",
            how=f"β = {BETA_LARGE:g}: mean pairwise Euclidean distance between 1,000 prior "
            f"samples, as a fraction of that between 1,000 test images ({data_diversity:.2f}); "
            f"'near 0' read as below a tenth. β = 1 gives "
            f"{one['diversity'] / data_diversity:.2f}, β = {BETA_SMALL:g} "
            f"{small['diversity'] / data_diversity:.2f}",
            unit="%",
            figure=figure,
            details=details,
        ),
        Claim.gap_beyond(
            "generative.beta-small-holes",
            "With a very small KL weight the latent space has holes: prior samples land far "
            "from every encoded training image.",
            gap=hole_gap,
            margin=Z * hole_se,
            how=f"hole ratio (median distance from 1,000 prior samples to the nearest of the "
            f"{len(images.train):,} training images encoded as z ~ q(z | x), over the median "
            f"distance from an encoded image to its nearest other one; about 1 when the "
            f"encodings fill the prior): β = {BETA_SMALL:g} {small['hole_ratio']:.2f} minus β = 1 "
            f"{one['hole_ratio']:.2f}; it must exceed 3 bootstrap standard errors "
            f"({hole_se:.2g}). β = {BETA_LARGE:g}: {large['hole_ratio']:.2f}",
            figure=figure,
            details=details,
        ),
        Claim.gap_beyond(
            "generative.beta-small-worse-samples",
            "With a very small KL weight the prior samples are worse ('alien') than with β = 1.",
            gap=fid_gap,
            margin=Z * fid_se,
            how=f"Fréchet distance to the test images (classifier features) of "
            f"{min(setup.samples, len(images.test)):,} prior samples, β = {BETA_SMALL:g} minus "
            f"β = 1, {setup.draws} independent draws each; it must exceed 3 standard errors "
            f"({fid_se:.2g}). Means: β = {BETA_SMALL:g} {small['fid_mean']:.2f}, β = 1 "
            f"{one['fid_mean']:.2f}, β = {BETA_LARGE:g} {large['fid_mean']:.2f}",
            figure=figure,
            details=details,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Latent size
# ---------------------------------------------------------------------------------------------


def latent_measures(model: VAE, test: torch.Tensor, seed: int) -> dict[str, Any]:
    """Per test image ELBO (analytic KL, 10 samples of log p(x | z)) and the summary terms."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.no_grad():
        terms = [model.elbo_terms(test, generator=g) for _ in range(10)]
        log_px_z = torch.stack([t.log_likelihood for t in terms]).double().mean(0)
        kl = terms[0].kl.double()
        means = model.encode(test)[0]
    from rlgen.generative.models import active_units

    return {
        "elbo": (log_px_z - kl).numpy(),
        "reconstruction": float(-log_px_z.mean()),
        "kl": float(kl.mean()),
        "active_units": active_units(means),
    }


def latent_size_claims(dirs: dict[str, Path], images: Images, ctx: Context) -> list[Claim]:
    m = {z: latent_measures(load_vae(dirs[f"vae-z{z}"])[0], images.test, ctx.seed) for z in LATENTS}
    elbo = {z: float(v["elbo"].mean()) for z, v in m.items()}
    first, last = LATENTS[0], LATENTS[-1]
    gain = m[20]["elbo"] - m[first]["elbo"]
    se = _se(gain)
    per_unit = [
        {"from": a, "to": b, "gain_per_unit": (elbo[b] - elbo[a]) / (b - a)}
        for a, b in itertools.pairwise(LATENTS)
    ]
    details = {
        "latent": {
            str(z): {k: v for k, v in r.items() if k != "elbo"} | {"elbo": elbo[z]}
            for z, r in m.items()
        },
        "gain_per_unit": per_unit,
    }
    figure = "latent-size.png"
    shown = images.test[:12]
    rows = [("input", shown.numpy())]
    for z in LATENTS:
        rows.append((f"m = {z}", load_vae(dirs[f"vae-z{z}"])[0].reconstruct(shown).numpy()))
    save_image_rows(ctx.dir / figure, rows, images.side, title="reconstructions")
    active = {z: m[z]["active_units"] for z in LATENTS}
    return [
        Claim.gap_beyond(
            "generative.latent-larger-better-bound",
            "A larger latent space gives a better bound and sharper reconstructions.",
            gap=float(gain.mean()),
            margin=Z * se,
            how=f"test ELBO (nats per image), 20 latents minus {first}, paired over "
            f"{len(images.test):,} test images; it must exceed 3 standard errors ({se:.2g}). "
            "ELBO, reconstruction term and KL of every size are in details",
            figure=figure,
            details=details,
        ),
        Claim(
            "generative.latent-diminishing-returns",
            "The gains diminish as the latent grows.",
            measured=per_unit[-1]["gain_per_unit"] / per_unit[0]["gain_per_unit"],
            expected=0.1,
            tolerance=0.0,
            comparison="at_most",
            how=f"ELBO gain per added latent unit from {LATENTS[-2]} to {last} over that from "
            f"{first} to {LATENTS[1]}; 'diminishing' read as at most a tenth",
            figure=figure,
            details=details,
        ),
        Claim(
            "generative.active-units-saturate",
            "Active units stop growing with the latent size: the extra units go unused.",
            measured=active[last] / last,
            expected=0.8,
            tolerance=0.0,
            comparison="at_most",
            how=f"active units (variance of the encoder mean over the test images > 0.01, Burda "
            f"et al.) of the {last}-unit model, as a share of its units; at most 80%. Active "
            f"units by size: " + ", ".join(f"{z}: {a}" for z, a in active.items()),
            unit="%",
            figure=figure,
            details=details,
        ),
    ]
