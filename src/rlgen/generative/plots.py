"""The figures of the generative run directories, drawn from their files alone.

- :func:`plot_model`: a ``rlgen vae`` / ``rlgen ae`` run directory: the learning curve from
  ``metrics.csv``; from ``images.npz`` the test images over their reconstructions (for the
  denoising kind: clean, noisy, denoised), the prior samples and, with two latents, the manifold
  and the encoded test set (VAE), or decoded random codes (autoencoder);
- :func:`plot_sweep`: a sweep directory: every member's samples and reconstructions as one grid,
  and the bound, its terms and the active units or sample diversity against the swept value.

Which figures a directory gets is decided by :func:`rlgen.generative.command.plot`, from the
command its ``config.json`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.files import read_json
from rlgen.generative import figures
from rlgen.generative.scoring import IMAGES, MANIFOLD


def plot_model(run_dir: Path, config: Mapping[str, Any], *, vae: bool) -> list[Path]:
    """The figures of a ``vae`` (``vae=True``) or ``ae`` run directory with saved ``config``."""
    written = []
    curve = figures.save_learning_curve(
        run_dir / "learning_curve.png", run_dir, ylabel="loss (nats per image)"
    )
    if curve is not None:
        written.append(curve)
    if not (run_dir / IMAGES).is_file():
        return written
    with np.load(run_dir / IMAGES) as f:
        arrays = {k: f[k] for k in f.files}
    side = int(arrays["side"])
    rows = [("input", arrays["inputs"]), ("reconstruction", arrays["reconstructions"])]
    if "noisy" in arrays:
        rows = [
            ("clean", arrays["inputs"]),
            ("noisy input", arrays["noisy"]),
            ("denoised", arrays["denoised"]),
            ("clean input\nreconstructed", arrays["reconstructions"]),
        ]
    written.append(figures.save_image_rows(run_dir / "reconstructions.png", rows, side))
    if vae:
        written.append(
            figures.save_image_grid(
                run_dir / "samples.png",
                arrays["samples"],
                side,
                cols=8,
                title="samples from the prior: E[x | z], z ~ N(0, I)",
            )
        )
        if "manifold" in arrays:
            written.append(
                figures.save_image_grid(
                    run_dir / "manifold.png",
                    arrays["manifold"],
                    side,
                    cols=MANIFOLD,
                    title="the 2-D latent manifold (grid through the inverse normal CDF)",
                )
            )
            from rlgen.data import DATASETS

            classes = DATASETS[config["data"]["dataset"]].classes
            written.append(
                figures.save_latent_scatter(
                    run_dir / "latent.png",
                    arrays["codes"],
                    arrays["labels"],
                    classes,
                    title="test images encoded (posterior means)",
                )
            )
    else:
        rows = [("z ~ N(0, I)", arrays["random_codes"][:16])]
        if "fitted_codes" in arrays:
            rows.append(("z ~ Gaussian fitted\nto the codes", arrays["fitted_codes"][:16]))
        written.append(
            figures.save_image_rows(
                run_dir / "random_codes.png", rows, side, title="decoded random codes"
            )
        )
    return written


def plot_sweep(
    run_dir: Path, values: Sequence[float], label: Callable[[float], str], name: str
) -> list[Path]:
    """The figures of a sweep directory: member ``label(value)`` per value, swept ``name``."""
    samples, recons, inputs, side = [], [], None, 28
    for value in values:
        path = run_dir / label(value) / IMAGES
        if not path.is_file():
            continue
        with np.load(path) as f:
            side = int(f["side"])
            samples.append((f"{name} = {value:g}", f["samples"][:16]))
            recons.append((f"{name} = {value:g}", f["reconstructions"]))
            inputs = f["inputs"]
    written = []
    if samples:
        written.append(
            figures.save_image_rows(
                run_dir / "samples.png", samples, side, title="samples from the prior"
            )
        )
    if recons and inputs is not None:
        written.append(
            figures.save_image_rows(
                run_dir / "reconstructions.png",
                [("input", inputs), *recons],
                side,
                title="test images and their reconstructions",
            )
        )
    if (run_dir / "summary.json").is_file():
        written.append(_plot_sweep_curves(run_dir, read_json(run_dir / "summary.json"), name))
    return written


def _plot_sweep_curves(run_dir: Path, summary: Mapping[str, Any], name: str) -> Path:
    from rlgen.figures import pyplot, save_figure

    plt = pyplot()
    members = [m for m in summary["members"] if m["status"] == "finished"]
    x = [m["value"] for m in members]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    axes[0].plot(x, [-m["test_elbo"] for m in members], "o-", label="−ELBO")
    if all(m["iwae_nll"] is not None for m in members):
        axes[0].plot(x, [m["iwae_nll"] for m in members], "s--", label="IWAE NLL")
    axes[0].set_ylabel("nats per test image")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].plot(x, [m["test_reconstruction"] for m in members], "o-", label="reconstruction")
    axes[1].plot(x, [m["test_kl"] for m in members], "s--", label="KL")
    axes[1].set_ylabel("nats per test image")
    axes[1].legend(frameon=False, fontsize=8)
    if name == "latent":
        axes[2].plot(x, [m["active_units"] for m in members], "o-")
        axes[2].plot(x, x, ":", color="grey", lw=0.8, label="all units")
        axes[2].set_ylabel("active units")
        axes[2].legend(frameon=False, fontsize=8)
    else:
        axes[2].plot(x, [m["sample_diversity"] for m in members], "o-")
        axes[2].set_ylabel("sample diversity\n(mean pairwise distance)")
    for ax in axes:
        ax.set_xlabel(name)
        ax.set_xscale("log")
    return save_figure(fig, run_dir / "sweep.png", dpi=110)
