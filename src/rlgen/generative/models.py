"""Autoencoders and the variational autoencoder: configs, networks, training, saving.

Images are flat float tensors (B, P) with pixels in [0, 1] (P = 784 for 28 x 28); the
convolutional networks reshape them themselves. Both models train through the shared loop
(:func:`rlgen.training.fit`) and save / load their weights with ``weights_only`` loading::

    model = VAE(VAEConfig(latent=2))
    model.fit(train_images, LoopConfig(epochs=10), lr=1e-3, seed=0)
    scores = model.evaluate(test_images, iwae_k=100)      # ELBO, reconstruction, KL, IWAE NLL
    samples = model.sample(64, generator=torch.Generator().manual_seed(0))
    model.save("vae.pt"); model = VAE.load("vae.pt")

The autoencoders (``AEConfig.kind``):

- ``compressive``: an encoder to ``latent`` < P units and a decoder back, trained to reconstruct
  its input (binary cross-entropy on the decoder's logits, as the VAE's Bernoulli term);
- ``linear``: one linear layer each way, trained on squared error: its optimum spans the top-m
  principal subspace of the data (Baldi & Hornik 1989), though not with the principal
  components as columns;
- ``denoising``: the compressive one fed a corrupted image (Gaussian noise, clipped to [0, 1], or
  masking noise that zeroes pixels) and trained to reconstruct the clean one (Vincent et al. 2008).

Numerical guards: the encoder's log standard deviation is clamped to [-10, 10] (std between
4.5e-5 and 2.2e4: ``exp(2 log_std)`` in the KL and ``exp(log_std)`` in the sample never overflow
float32, and log q(z | x) stays finite); likelihoods are computed from logits, never from
probabilities, so all-zero and all-one images give finite losses; the IWAE's log-mean-exp is
shifted by its maximum. A learning rate large enough to make the loss non-finite anyway stops
training with :class:`rlgen.training.NonFiniteLoss`, whose message names ``--lr``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlgen.checkpoints import load_checkpoint, save_checkpoint
from rlgen.configs import config_from_dict
from rlgen.errors import UserError, check_choice, check_config_types, check_memory, check_range
from rlgen.files import to_jsonable
from rlgen.generative import likelihoods
from rlgen.generative.bounds import (
    ElboTerms,
    gaussian_kl,
    iwae_bound,
    log_normal,
    reparameterize,
)
from rlgen.generative.likelihoods import LIKELIHOODS, Likelihood
from rlgen.training import History, LoopConfig, fit

ARCHITECTURES = ("mlp", "conv")
AE_KINDS = ("compressive", "linear", "denoising")
NOISES = ("gaussian", "masking")
LOG_STD_MIN, LOG_STD_MAX = -10.0, 10.0
IMAGE_SIDE = 28
CONV_CHANNELS = (32, 64)
"""channels of the two stride-2 convolutions (28 -> 14 -> 7) of the convolutional networks"""

Architecture = Literal["mlp", "conv"]


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


PARAMETER_BYTES = 16
"""bytes per parameter while training: float32 weights, gradients and Adam's two moments"""


def _check_widths(hidden: tuple[int, ...]) -> None:
    for width in hidden:
        check_range("hidden", width, 1)


def _check_size(
    architecture: str,
    hidden: tuple[int, ...],
    code: int,
    latent: int,
    *,
    latent_option: str = "latent",
) -> None:
    """Refuse a model whose fully connected layers would not fit in memory (a traceback from
    torch's allocator otherwise): an encoder to ``code`` outputs and a decoder from ``latent``,
    on 28x28 images; the message names --hidden or ``latent_option``, whichever is wider."""
    outer = IMAGE_SIDE**2 if architecture == "mlp" else CONV_CHANNELS[1] * 49
    parameters = sum(
        a * b + b
        for sizes in ([outer, *hidden, code], [latent, *reversed(hidden), outer])
        for a, b in itertools.pairwise(sizes)
    )
    option = "hidden" if max(hidden, default=0) >= latent else latent_option
    check_memory(option, PARAMETER_BYTES * parameters, f"a model of {parameters:,} parameters")


def check_vae_size(
    architecture: str, hidden: tuple[int, ...], latent: int, *, option: str = "latent"
) -> None:
    """Refuse a VAE (:class:`VAEConfig`'s fields) beyond memory; the message names --hidden or
    ``option`` (a sweep's ``latents``), whichever is wider."""
    _check_size(architecture, hidden, 2 * latent, latent, latent_option=option)


IWAE_BYTES = 16
"""bytes per importance weight while IWAE_k is computed: the k float32 log-weights of each image
of a batch, their concatenation and the two temporaries of their log-sum-exp"""

BETA_MAX = 1e30
"""the largest --beta: the training loss adds beta * KL in float32 (at most 3.4e38), so with a
larger beta a KL of 3.4e8 nats (a log-std at its clamp) overflows it, and the message of the
non-finite loss would blame --lr"""


ACTIVATION_BYTES = 16
"""bytes per unit and example in a training step: float32 layer outputs kept for the backward
pass, their gradients and the ReLU / likelihood temporaries (about four copies)"""


def layer_units(config: VAEConfig | AEConfig, pixels: int) -> list[int]:
    """The widths of every layer output of ``config``'s networks for one image of ``pixels``
    (the input, the encoder's, the code, the decoder's), convolutional feature maps included."""
    if isinstance(config, VAEConfig):
        hidden, code = config.hidden, [2 * config.latent, config.latent]
    else:
        hidden = () if config.kind == "linear" else config.hidden
        code = [config.latent]
    conv = [CONV_CHANNELS[0] * 196, CONV_CHANNELS[1] * 49] if config.architecture == "conv" else []
    return [pixels, *conv, *hidden, *code, *hidden, *conv, pixels]


def check_batch_size(config: VAEConfig | AEConfig, pixels: int, batch: int) -> None:
    """Refuse a training batch whose activations would not fit in memory (the model's own size
    is checked by its config); the message names --batch-size."""
    units = sum(layer_units(config, pixels))
    check_memory(
        "batch_size",
        ACTIVATION_BYTES * batch * units,
        f"a batch of {batch:,} images through {units:,} units",
    )


def check_iwae_size(k: int, images: int, *, option: str = "iwae_k") -> None:
    """Refuse an IWAE_k whose log-weights (``k`` for each of ``images`` images at once) would not
    fit in memory, before any sample is drawn."""
    check_memory(
        option,
        IWAE_BYTES * k * images,
        f"the importance weights of {images:,} image{'s' if images > 1 else ''} at k = {k:,}",
    )


@dataclass(frozen=True)
class VAEConfig:
    """The variational autoencoder: its networks, likelihood and loss weight."""

    latent: int = 20
    """latent dimensions m (prior N(0, I_m))"""
    hidden: tuple[int, ...] = (400,)
    """hidden layer widths of the encoder (the decoder mirrors them); with --architecture conv,
    the fully connected layers between the convolutions and the latent code"""
    architecture: Architecture = "mlp"
    """mlp: fully connected ReLU networks; conv: two stride-2 convolutions each way"""
    likelihood: Likelihood = "bernoulli"
    """decoder p(x | z): bernoulli (a likelihood for binarised images; on grey levels, the
    cross-entropy loss of the PyTorch examples, not a normalised density) or
    continuous-bernoulli (a normalised density on [0, 1], for grey levels)"""
    beta: float = 1.0
    """weight of the KL term in the training loss (1: the ELBO; larger: closer to the prior,
    smaller: closer to a plain autoencoder), at most 1e30"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("latent", self.latent, 1)
        _check_widths(self.hidden)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_range("beta", self.beta, 0, BETA_MAX)
        check_vae_size(self.architecture, self.hidden, self.latent)


@dataclass(frozen=True)
class AEConfig:
    """A deterministic autoencoder: compressive, linear or denoising."""

    kind: Literal["compressive", "linear", "denoising"] = "compressive"
    """compressive: a nonlinear encoder and decoder; linear: one linear layer each way, squared
    error (finds the PCA subspace); denoising: compressive, trained to undo --noise"""
    latent: int = 20
    """code dimensions (compressive, linear: fewer than the pixels of an image)"""
    hidden: tuple[int, ...] = (400,)
    """hidden layer widths of the encoder (the decoder mirrors them); not used by --kind linear"""
    architecture: Architecture = "mlp"
    """mlp or conv (not for --kind linear)"""
    noise: Literal["gaussian", "masking"] = "gaussian"
    """denoising: gaussian (add N(0, level^2), clip to [0, 1]) or masking (zero each pixel with
    probability level)"""
    noise_level: float = 0.5
    """denoising: the noise's standard deviation (gaussian) or masking probability"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("kind", self.kind, AE_KINDS)
        check_range("latent", self.latent, 1)
        _check_widths(self.hidden)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("noise", self.noise, NOISES)
        if self.noise == "masking":
            check_range("noise_level", self.noise_level, 0, 1, high_open=True)
        else:
            check_range("noise_level", self.noise_level, 0)
        if self.kind == "linear" and self.architecture != "mlp":
            raise UserError("--kind linear is one linear layer each way; leave out --architecture")
        hidden = () if self.kind == "linear" else self.hidden
        _check_size(self.architecture, hidden, self.latent, self.latent)


# ---------------------------------------------------------------------------------------------
# Networks: flat images (B, P) in, codes out, and back to logits (B, P)
# ---------------------------------------------------------------------------------------------


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def encoder(architecture: str, pixels: int, hidden: tuple[int, ...], out: int) -> nn.Sequential:
    """(B, P) images -> (B, out)."""
    if architecture == "mlp":
        return mlp([pixels, *hidden, out])
    c1, c2 = CONV_CHANNELS
    return nn.Sequential(
        nn.Unflatten(1, (1, IMAGE_SIDE, IMAGE_SIDE)),
        nn.Conv2d(1, c1, 4, 2, 1),  # (B, c1, 14, 14)
        nn.ReLU(),
        nn.Conv2d(c1, c2, 4, 2, 1),  # (B, c2, 7, 7)
        nn.ReLU(),
        nn.Flatten(),  # (B, c2 * 49)
        *mlp([c2 * 49, *hidden, out]),
    )


def decoder(architecture: str, latent: int, hidden: tuple[int, ...], pixels: int) -> nn.Sequential:
    """(B, latent) codes -> (B, P) logits."""
    if architecture == "mlp":
        return mlp([latent, *reversed(hidden), pixels])
    c1, c2 = CONV_CHANNELS
    return nn.Sequential(
        *mlp([latent, *reversed(hidden), c2 * 49]),
        nn.ReLU(),
        nn.Unflatten(1, (c2, 7, 7)),
        nn.ConvTranspose2d(c2, c1, 4, 2, 1),  # (B, c1, 14, 14)
        nn.ReLU(),
        nn.ConvTranspose2d(c1, 1, 4, 2, 1),  # (B, 1, 28, 28)
        nn.Flatten(),
    )


def _check_pixels(architecture: str, pixels: int) -> None:
    if architecture == "conv" and pixels != IMAGE_SIDE**2:
        raise UserError(
            f"--architecture conv needs {IMAGE_SIDE}x{IMAGE_SIDE} images, got {pixels} pixels"
        )


# ---------------------------------------------------------------------------------------------
# What both models share: training through rlgen.training, saving and loading
# ---------------------------------------------------------------------------------------------

Transform = Callable[[tuple[Tensor, ...], torch.Generator], tuple[Tensor, ...]]


class _Model(nn.Module):
    """Save / load (weights only) and training through :func:`rlgen.training.fit`."""

    FORMAT = ""
    config: Any
    pixels: int
    decoder: nn.Module

    def loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def fit(
        self,
        images: Tensor,
        loop: LoopConfig | None = None,
        *,
        lr: float = 1e-3,
        seed: int = 0,
        device: torch.device | str = "cpu",
        transform: Transform | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        **kwargs: Any,
    ) -> History:
        """Train on ``images`` (N, P) with Adam; other keywords go to :func:`rlgen.training.fit`
        (``evaluate``, ``metrics``, ``checkpoint``, ``resume``, ``quiet``, ...).

        ``transform`` rewrites the data tuple at the start of each epoch (dynamic binarisation);
        the denoising autoencoder's corruption is added after it.
        """
        self.to(device)
        optimizer = optimizer or make_optimizer(self, lr)
        data: tuple[Tensor, ...] = (images,)
        transform = self.epoch_transform(transform)
        kwargs.setdefault("quiet", True)
        return fit(
            self,
            optimizer,
            _loss_fn,
            data,
            loop or LoopConfig(),
            seed=seed,
            device=device,
            transform=transform,
            **kwargs,
        )

    def epoch_transform(self, transform: Transform | None) -> Transform | None:
        """The per-epoch transform of :meth:`fit` (the denoising autoencoder adds its noise)."""
        return transform

    def init_output_bias(self, images: Tensor) -> None:
        """Start the decoder at the mean training image: its output bias set to the logit of
        each pixel's mean (the mean itself for the linear autoencoder; one value, the logit of
        the overall mean, for the convolutional decoder's single channel).

        Before training, every code then decodes to the mean image instead of a grey blur, which
        saves the first few hundred steps (about 1 nat of test loss after 4 epochs of the
        default VAE). Call it on a fresh model only: it overwrites a trained bias.
        """
        last = [m for m in self.decoder.modules() if isinstance(m, nn.Linear | nn.ConvTranspose2d)]
        layer = last[-1]
        assert layer.bias is not None
        with torch.no_grad():
            mean = images.mean(0).to(layer.bias.device)  # (P,)
            if layer.bias.shape[0] != mean.shape[0]:
                mean = mean.mean().expand(layer.bias.shape)
            if isinstance(self, Autoencoder) and self.linear:
                layer.bias.copy_(mean)
            else:
                p = mean.clamp(1e-3, 1 - 1e-3)
                layer.bias.copy_(torch.log(p) - torch.log1p(-p))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def save(self, path: str | Path) -> None:
        """Write config and weights to ``path`` (atomically; load with :meth:`load`)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        save_checkpoint(
            path,
            {
                "format": self.FORMAT,
                "config": to_jsonable(self.config),
                "pixels": self.pixels,
                "state": state,
            },
        )

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> Any:
        """The model saved at ``path`` by :meth:`save` (``torch.load(weights_only=True)``)."""
        saved = load_checkpoint(path)
        if not isinstance(saved, dict) or saved.get("format") != cls.FORMAT:
            raise UserError(f"{path}: not a saved {cls.__name__} ({cls.FORMAT})")
        return cls.from_state(saved["config"], saved["state"], saved["pixels"], where=str(path))

    @classmethod
    def from_state(
        cls, config: Mapping[str, Any], state: Mapping[str, Tensor], pixels: int, *, where: str
    ) -> Any:
        config_cls = VAEConfig if cls is VAE else AEConfig
        model = cls(config_from_dict(config_cls, config, where=where), pixels=pixels)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise UserError(f"{where}: the saved weights do not fit the config ({first})") from None
        return model


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam on all parameters, with torch's fused kernel where it has one (CUDA, and CPU since
    torch 2.4): one kernel per step instead of several per parameter tensor, a quarter of the
    step time of the small networks here on CPU."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused Adam for this device / version
        return torch.optim.Adam(model.parameters(), lr=lr)


def _loss_fn(model: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
    assert isinstance(model, _Model)
    return model.loss(batch)


def batched(
    fn: Callable[[Tensor], Mapping[str, Tensor]], images: Tensor, batch_size: int
) -> dict[str, Tensor]:
    """``fn`` over slices of ``images``, its per-example outputs (B,) concatenated, no grad."""
    parts: dict[str, list[Tensor]] = {}
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            for name, value in fn(images[start : start + batch_size]).items():
                parts.setdefault(name, []).append(value)
    return {name: torch.cat(values) for name, values in parts.items()}


# ---------------------------------------------------------------------------------------------
# The variational autoencoder
# ---------------------------------------------------------------------------------------------


class VAE(_Model):
    """Gaussian encoder q(z | x) = N(mean, diag(std^2)), prior N(0, I), decoder p(x | z).

    Args:
        config: networks, likelihood, beta.
        pixels: P, the flattened image size (784 for 28 x 28).
    """

    FORMAT = "rlgen.vae/1"

    def __init__(self, config: VAEConfig | None = None, *, pixels: int = IMAGE_SIDE**2) -> None:
        super().__init__()
        self.config = config = config or VAEConfig()
        _check_pixels(config.architecture, pixels)
        self.pixels = pixels
        self.encoder = encoder(config.architecture, pixels, config.hidden, 2 * config.latent)
        self.decoder = decoder(config.architecture, config.latent, config.hidden, pixels)

    # ENCODER, DECODER

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): mean and log standard deviation, each (B, m); log_std clamped (see above)."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def decode(self, z: Tensor) -> Tensor:
        """The decoder's logits for codes z (..., m): (..., P)."""
        if z.dim() == 2:
            return self.decoder(z)
        return self.decoder(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], self.pixels)

    def log_likelihood(self, logits: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) summed over pixels; logits (..., B, P), x (B, P) -> (..., B)."""
        return likelihoods.log_prob(self.config.likelihood, logits, x)

    def mean_image(self, logits: Tensor) -> Tensor:
        """E[x | z] from the decoder's logits."""
        return likelihoods.mean(self.config.likelihood, logits)

    # THE BOUNDS

    def elbo_terms(self, x: Tensor, *, generator: torch.Generator | None = None) -> ElboTerms:
        """The single-sample ELBO's terms, per example: log p(x | z) at one reparameterized
        z ~ q(z | x), and the analytic KL(q(z | x) || p(z))."""
        mean, log_std = self.encode(x)
        z = reparameterize(mean, log_std, generator=generator)  # (B, m)
        return ElboTerms(self.log_likelihood(self.decode(z), x), gaussian_kl(mean, log_std))

    def loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        """The training loss: the batch mean of -log p(x | z) + beta * KL (nats per image)."""
        terms = self.elbo_terms(batch[0])
        reconstruction, kl = -terms.log_likelihood.mean(), terms.kl.mean()
        loss = reconstruction + self.config.beta * kl
        return loss, {"reconstruction": reconstruction.detach(), "kl": kl.detach()}

    def iwae(
        self,
        x: Tensor,
        k: int,
        *,
        generator: torch.Generator | None = None,
        max_elements: int = 1 << 23,
    ) -> Tensor:
        """The importance-weighted bound IWAE_k on log p(x) per example, (B,) nats.

        The k samples are decoded in chunks of at most ``max_elements`` outputs of the widest
        layer (the logits, unless a hidden layer or the code is wider than the image), so
        k = 5000 fits in memory; the k log-weights of each example are combined by a stable
        log-mean-exp.
        """
        if k < 1:
            raise UserError(f"--iwae-k must be >= 1, got {k}")
        check_iwae_size(k, x.shape[0])
        mean, log_std = self.encode(x)  # (B, m)
        chunk = max(1, max_elements // (x.shape[0] * max(layer_units(self.config, self.pixels))))
        log_weights = []
        for start in range(0, k, chunk):
            z = reparameterize(mean, log_std, min(chunk, k - start), generator=generator)
            log_px = self.log_likelihood(self.decode(z), x)  # (c, B)
            log_weights.append(log_px + log_normal(z) - log_normal(z, mean, log_std))
        return iwae_bound(torch.cat(log_weights))

    # USING THE MODEL

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """n images from the model: z ~ N(0, I), then E[x | z], (n, P)."""
        z = torch.randn(n, self.config.latent, generator=generator, device=self.device)
        with torch.no_grad():
            return self.mean_image(self.decode(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        """E[x | z] at the posterior mean z = E[z | x], (B, P)."""
        with torch.no_grad():
            return self.mean_image(self.decode(self.encode(x)[0]))

    def evaluate(
        self,
        images: Tensor,
        *,
        iwae_k: int = 0,
        batch_size: int = 500,
        seed: int = 0,
    ) -> dict[str, float]:
        """Mean ELBO terms (and IWAE_k when ``iwae_k`` > 0) over ``images``, in nats.

        Returns:
            ``elbo``, ``reconstruction`` (-log p(x | z)), ``kl``, ``loss`` (-log p(x | z) +
            beta KL), ``active_units``; with ``iwae_k``: ``iwae`` (the bound, nats) and
            ``iwae_nll`` (its negative), ``iwae_se`` (standard error over the images).
        """
        generator = torch.Generator(device=self.device).manual_seed(seed)
        was_training = self.training
        self.eval()

        def scores(x: Tensor) -> dict[str, Tensor]:
            terms = self.elbo_terms(x, generator=generator)
            out = {"log_px_z": terms.log_likelihood, "kl": terms.kl, "mean": self.encode(x)[0]}
            if iwae_k:
                out["iwae"] = self.iwae(x, iwae_k, generator=generator)
            return out

        try:
            values = batched(scores, images.to(self.device), batch_size)
        finally:
            self.train(was_training)
        log_px_z, kl = values["log_px_z"].double(), values["kl"].double()
        result = {
            "elbo": float((log_px_z - kl).mean()),
            "reconstruction": float(-log_px_z.mean()),
            "kl": float(kl.mean()),
            "loss": float((-log_px_z + self.config.beta * kl).mean()),
            "active_units": active_units(values["mean"]),
        }
        if iwae_k:
            iwae = values["iwae"].double()
            se = float(iwae.std() / math.sqrt(iwae.numel())) if iwae.numel() > 1 else math.nan
            result |= {"iwae": float(iwae.mean()), "iwae_nll": float(-iwae.mean()), "iwae_se": se}
        return result


def active_units(means: Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose encoder mean varies across the data: Cov_x(E_q[z_j]) > 0.01
    (Burda et al. 2016). ``means`` (N, m)."""
    if means.shape[0] < 2:
        return 0
    return int((means.double().var(0) > threshold).sum())


# ---------------------------------------------------------------------------------------------
# The deterministic autoencoders
# ---------------------------------------------------------------------------------------------


class Autoencoder(_Model):
    """x -> code z (B, m) -> reconstruction; compressive, linear or denoising (see the module)."""

    FORMAT = "rlgen.autoencoder/1"

    def __init__(self, config: AEConfig | None = None, *, pixels: int = IMAGE_SIDE**2) -> None:
        super().__init__()
        self.config = config = config or AEConfig()
        _check_pixels(config.architecture, pixels)
        if config.kind != "denoising" and config.latent >= pixels:
            # a code as wide as the image can copy it: nothing learnt, PCA's subspace is all
            raise UserError(
                f"--latent {config.latent}: --kind {config.kind} compresses an image, so it "
                f"needs fewer code units than its {pixels} pixels (--kind denoising may have more)"
            )
        self.pixels = pixels
        if config.kind == "linear":
            self.encoder: nn.Module = nn.Linear(pixels, config.latent)
            self.decoder: nn.Module = nn.Linear(config.latent, pixels)
        else:
            self.encoder = encoder(config.architecture, pixels, config.hidden, config.latent)
            self.decoder = decoder(config.architecture, config.latent, config.hidden, pixels)

    @property
    def linear(self) -> bool:
        return self.config.kind == "linear"

    def encode(self, x: Tensor) -> Tensor:
        """The code of x, (B, m)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction in pixel space for codes z (B, m): sigmoid of the decoder's
        logits, or (linear) the decoder's affine output itself."""
        out = self.decoder(z)
        return out if self.linear else torch.sigmoid(out)

    def reconstruct(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.decode(self.encode(x))

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The denoising autoencoder's input: x with --noise of --noise-level."""
        level = self.config.noise_level
        if self.config.noise == "masking":
            keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return x * (keep >= level)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + level * noise).clamp(0.0, 1.0)

    def epoch_transform(self, transform: Transform | None) -> Transform | None:
        """Denoising: each epoch, a fresh corruption of every image becomes the input (the
        clean image stays the target), drawn from the loop's seeded generator."""
        if self.config.kind != "denoising":
            return transform

        def corrupt(tensors: tuple[Tensor, ...], generator: torch.Generator) -> tuple[Tensor, ...]:
            if transform is not None:
                tensors = transform(tensors, generator)
            return (self.corrupt(tensors[0], generator), *tensors)

        return corrupt

    def reconstruction_loss(self, x_in: Tensor, target: Tensor) -> Tensor:
        """Per example (B,): squared error (linear) or binary cross-entropy on the logits."""
        out = self.decoder(self.encode(x_in))
        if self.linear:
            return (out - target).square().sum(-1)
        return F.binary_cross_entropy_with_logits(out, target, reduction="none").sum(-1)

    def loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        """Batch mean of the reconstruction loss; a denoising batch is (noisy, clean, ...)."""
        x_in, target = (batch[0], batch[1]) if self.config.kind == "denoising" else batch[:1] * 2
        return self.reconstruction_loss(x_in, target).mean(), {}

    def evaluate(self, images: Tensor, *, batch_size: int = 500, seed: int = 0) -> dict[str, float]:
        """Mean reconstruction errors over ``images``: ``loss`` (the training loss, per image),
        ``mse`` (per pixel); a denoising autoencoder also gets ``noisy_mse`` (corrupted input
        against clean) and ``denoised_mse`` (its reconstruction of the corrupted input)."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        was_training = self.training
        self.eval()

        def scores(x: Tensor) -> dict[str, Tensor]:
            out = {
                "loss": self.reconstruction_loss(x, x),
                "mse": (self.decode(self.encode(x)) - x).square().mean(-1),
            }
            if self.config.kind == "denoising":
                noisy = self.corrupt(x, generator)
                out["noisy_mse"] = (noisy - x).square().mean(-1)
                out["denoised_mse"] = (self.decode(self.encode(noisy)) - x).square().mean(-1)
            return out

        try:
            values = batched(scores, images.to(self.device), batch_size)
        finally:
            self.train(was_training)
        return {name: float(v.double().mean()) for name, v in values.items()}
