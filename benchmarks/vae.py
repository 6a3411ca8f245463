"""The VAE: the PyTorch examples baseline against rlgen's default VAE, and a likelihood run.

1. Speed, side by side in one process on the same data (Fashion-MNIST grey levels, all 60,000
   training images, the 10,000 test images):

   - baseline: ``pytorch/examples`` ``vae/main.py`` as users run it: 784-400-20-400-784 (ReLU,
     sigmoid output), binary cross-entropy summed over pixels on grey levels plus the analytic
     KL, Adam 1e-3, batch 128, a ``torch.utils.data.DataLoader`` over in-memory tensors
     (shuffled), ``loss.item()`` every step;
   - rlgen: the default ``rlgen vae`` (``VAETrainConfig()``: model, learning rate and its
     schedule, batch size) trained through :func:`rlgen.training.fit`, with ``--validation 0``
     so that it sees the same 60,000 images.

   Both report, per epoch, the training seconds (test evaluation excluded, timed apart) and the
   test loss (-ELBO with one sample, nats per image: the baseline's own ``test()``; for rlgen
   ``VAE.evaluate``). From these: seconds per epoch, the wall-clock each needs to reach the
   baseline's 10-epoch test loss, and each one's test loss at equal training time. Runs
   alternate between the two (seed by seed), and medians over ``--repeats`` are reported.

2. Loop (``--parts loop``): seconds per epoch of rlgen's loop at ``--loop-batch`` (128, the
   batch of the GPU target) eager and with ``--compile`` (``LoopConfig.compile``: on CUDA the
   loss and gradient replayed as CUDA graphs), beside the baseline's at the same batch, in one
   process, alternated over ``--repeats``. The first epoch of each run (compilation, cudnn and
   allocator warm-up) is left out of the medians. The same for the 2 x 500-unit model of part 3.

3. Likelihood: a 2 x 500-unit MLP VAE with 50 latents on dynamically binarised Fashion-MNIST
   (``rlgen vae --hidden 500 500 --latent 50 --binarize dynamic``, validation 0), trained for
   ``--likelihood-epochs``; its IWAE negative log-likelihood (k = ``--iwae-k``, 5000 by default)
   on the first ``--iwae-examples`` test images, and the training time it took.

::

    python benchmarks/vae.py                          # everything; JSON to benchmarks/results/
    python benchmarks/vae.py --parts speed --repeats 3
    python benchmarks/vae.py --parts loop --device cuda   # the GPU target: batch 128
    python benchmarks/vae.py --parts likelihood --likelihood-epochs 30 --likelihood-lr 2e-3
    rlgen vae evaluate runs/benchmark-vae-likelihood --iwae-k 5000   # the whole test set
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rlgen.files import write_json
from rlgen.generative.command import VAETrainConfig, optimizer_and_schedule
from rlgen.generative.images import DataConfig, load_images
from rlgen.generative.models import VAE, VAEConfig
from rlgen.runs import resolve_device
from rlgen.training import LoopConfig

# ---------------------------------------------------------------------------------------------
# The baseline: pytorch/examples vae/main.py (model, loss, train, test), data already in memory
# ---------------------------------------------------------------------------------------------


class ExamplesVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def examples_loss(
    recon_x: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    # see Appendix B from VAE paper: Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def baseline_run(
    train: torch.Tensor, test: torch.Tensor, epochs: int, seed: int, device: str
) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = ExamplesVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = DataLoader(TensorDataset(train), batch_size=128, shuffle=True)
    test_loader = DataLoader(TensorDataset(test), batch_size=128, shuffle=False)
    seconds, test_losses, train_losses = [], [], []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        train_loss = 0.0
        for (data,) in train_loader:
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = examples_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        train_losses.append(train_loss / len(train))
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for (data,) in test_loader:
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += examples_loss(recon_batch, data, mu, logvar).item()
        test_losses.append(test_loss / len(test))
    return {"epoch_seconds": seconds, "test_loss": test_losses, "train_loss": train_losses}


# ---------------------------------------------------------------------------------------------
# rlgen: the default VAE of rlgen vae, through rlgen.training
# ---------------------------------------------------------------------------------------------


def rlgen_run(
    train: torch.Tensor,
    test: torch.Tensor,
    epochs: int,
    seed: int,
    device: str,
    config: VAETrainConfig,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    config = VAETrainConfig(
        seed=seed,
        lr=config.lr,
        lr_schedule=config.lr_schedule,
        model=config.model,
        loop=LoopConfig(epochs=epochs, batch_size=config.loop.batch_size, checkpoint_every=0),
    )
    model = VAE(config.model).to(device)
    model.init_output_bias(train)  # as rlgen vae does
    optimizer, scheduler = optimizer_and_schedule(model, config, len(train))
    history = model.fit(
        train,
        config.loop,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        seed=seed,
        device=device,
        evaluate=lambda m: {"loss": m.evaluate(test, seed=seed)["loss"]},
    )
    return {
        "epoch_seconds": history.column("time/epoch_seconds"),
        "test_loss": history.column("eval/loss"),
        "train_loss": history.column("train/loss"),
    }


def loop_epochs(
    train: torch.Tensor,
    model_config: VAEConfig,
    batch: int,
    epochs: int,
    seed: int,
    device: str,
    *,
    compile: bool,
) -> list[float]:
    """Training seconds of each epoch of rlgen's loop (Adam 1e-3, constant, no evaluation)."""
    torch.manual_seed(seed)
    model = VAE(model_config).to(device)
    model.init_output_bias(train)
    loop = LoopConfig(
        epochs=epochs, batch_size=batch, checkpoint_every=0, eval_every=0, compile=compile
    )
    history = model.fit(train, loop, lr=1e-3, seed=seed, device=device)
    return [float(s) for s in history.column("time/epoch_seconds") if s is not None]


def loop_speed(args: argparse.Namespace, device: str) -> dict[str, Any]:
    images = load_images(DataConfig(validation=0), device)
    train, test = images.train, images.test
    models = {"default": VAEConfig(), "500x2-latent50": VAEConfig(latent=50, hidden=(500, 500))}
    result: dict[str, Any] = {"batch_size": args.loop_batch, "epochs": args.loop_epochs}
    if args.loop_batch != 128:
        raise SystemExit("--loop-batch: the baseline (pytorch/examples) runs at 128 only")
    for name, model_config in models.items():
        runs: dict[str, list[float]] = {"eager": [], "compiled": []}
        for seed in range(args.repeats):
            for mode in runs:
                seconds = loop_epochs(
                    train,
                    model_config,
                    args.loop_batch,
                    args.loop_epochs,
                    seed,
                    device,
                    compile=mode == "compiled",
                )
                runs[mode].extend(seconds[1:])  # the first epoch compiles and warms up
                print(f"{name} {mode} seed {seed}: {[round(s, 3) for s in seconds]}", flush=True)
        result[name] = {
            f"{mode}_seconds_per_epoch": statistics.median(values) for mode, values in runs.items()
        } | {"runs": runs}
    baseline = [
        baseline_run(train.cpu(), test.cpu(), 2, seed, device) for seed in range(args.repeats)
    ]
    result["baseline_seconds_per_epoch"] = statistics.median(
        s for b in baseline for s in b["epoch_seconds"]
    )
    return result


def time_to(curve: dict[str, Any], target: float) -> float | None:
    """Training seconds until the end of the first epoch whose test loss is at most ``target``."""
    elapsed = np.cumsum(curve["epoch_seconds"])
    for seconds, loss in zip(elapsed, curve["test_loss"], strict=True):
        if loss <= target:
            return float(seconds)
    return None


def loss_at(curve: dict[str, Any], seconds: float) -> float | None:
    """The test loss of the last epoch finished within ``seconds`` of training."""
    elapsed = np.cumsum(curve["epoch_seconds"])
    done = [loss for t, loss in zip(elapsed, curve["test_loss"], strict=True) if t <= seconds]
    return done[-1] if done else None


def speed(args: argparse.Namespace, device: str) -> dict[str, Any]:
    images = load_images(DataConfig(validation=0), device)
    train, test = images.train, images.test
    default = VAETrainConfig()
    baselines, rlgens = [], []
    for seed in range(args.repeats):
        # the baseline keeps its tensors on the CPU and moves each batch, as users do
        baselines.append(baseline_run(train.cpu(), test.cpu(), args.epochs, seed, device))
        rlgen_epochs = args.rlgen_epochs or default.loop.epochs
        rlgens.append(rlgen_run(train, test, rlgen_epochs, seed, device, default))
        print(
            f"seed {seed}: baseline {np.median(baselines[-1]['epoch_seconds']):.2f} s/epoch, "
            f"final test loss {baselines[-1]['test_loss'][-1]:.2f}; rlgen "
            f"{np.median(rlgens[-1]['epoch_seconds']):.2f} s/epoch, "
            f"{rlgens[-1]['test_loss'][-1]:.2f}",
            flush=True,
        )
    target = statistics.median(b["test_loss"][-1] for b in baselines)
    base_time = [time_to(b, target) for b in baselines]
    rl_time = [time_to(r, target) for r in rlgens]

    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if len(known) == len(values) else None

    rl_to_target = med(rl_time)
    # by definition the baseline needs its whole run; each run's own time to the median is kept
    base_to_target = statistics.median(float(np.sum(b["epoch_seconds"])) for b in baselines)
    return {
        "baseline_epochs": args.epochs,
        "rlgen_epochs": args.rlgen_epochs or default.loop.epochs,
        "repeats": args.repeats,
        "train_images": len(train),
        "test_images": len(test),
        "rlgen_config": {
            "model": VAEConfig().__dict__,
            "lr": default.lr,
            "lr_schedule": default.lr_schedule,
            "batch_size": default.loop.batch_size,
        },
        "baseline_seconds_per_epoch": statistics.median(
            s for b in baselines for s in b["epoch_seconds"]
        ),
        "rlgen_seconds_per_epoch": statistics.median(s for r in rlgens for s in r["epoch_seconds"]),
        "target_test_loss": target,
        "baseline_seconds_to_target": base_to_target,
        "baseline_runs_seconds_to_target": base_time,
        "rlgen_runs_seconds_to_target": rl_time,
        "rlgen_seconds_to_target": rl_to_target,
        "time_ratio": rl_to_target / base_to_target if rl_to_target and base_to_target else None,
        "rlgen_epochs_to_target": [
            next((i + 1 for i, v in enumerate(r["test_loss"]) if v <= target), None) for r in rlgens
        ],
        "baseline_loss_at_rlgen_time": (
            [loss_at(b, rl_to_target) for b in baselines] if rl_to_target else None
        ),
        "baseline_final_test_loss": [b["test_loss"][-1] for b in baselines],
        "rlgen_final_test_loss": [r["test_loss"][-1] for r in rlgens],
        "baseline_runs": baselines,
        "rlgen_runs": rlgens,
    }


# ---------------------------------------------------------------------------------------------
# Likelihood: 2 x 500 units, 50 latents, dynamically binarised
# ---------------------------------------------------------------------------------------------


def likelihood(args: argparse.Namespace, device: str) -> dict[str, Any]:
    from rlgen.generative.command import train_vae

    config = VAETrainConfig(
        seed=0,
        lr=args.likelihood_lr,
        lr_schedule="cosine",
        iwae_k=args.iwae_k,
        iwae_examples=args.iwae_examples,
        device=device,
        model=VAEConfig(latent=50, hidden=(500, 500)),
        data=DataConfig(binarize="dynamic", validation=0),
        loop=LoopConfig(
            epochs=args.likelihood_epochs, batch_size=args.likelihood_batch, eval_every=0
        ),
    )
    summary = train_vae(config, args.likelihood_dir, quiet=False, overwrite=True)
    keys = (
        "iwae_nll", "iwae_se", "iwae_k", "iwae_examples", "test_elbo", "active_units",
        "epochs", "train_seconds", "seconds_per_epoch", "iwae_seconds",
    )  # fmt: skip
    return {
        "config": {
            "hidden": [500, 500],
            "latent": 50,
            "binarize": "dynamic",
            "lr": args.likelihood_lr,
            "lr_schedule": "cosine",
            "batch_size": args.likelihood_batch,
        },
        "run_dir": str(args.likelihood_dir),
    } | {k: summary[k] for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="speed,likelihood")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the baseline")
    parser.add_argument(
        "--rlgen-epochs", type=int, default=None, help="epochs of rlgen (default: its default)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="seeds per method (speed)")
    parser.add_argument("--loop-batch", type=int, default=128, help="batch size (loop)")
    parser.add_argument("--loop-epochs", type=int, default=4, help="epochs per run (loop)")
    parser.add_argument("--likelihood-epochs", type=int, default=100)
    parser.add_argument("--likelihood-lr", type=float, default=1e-3)
    parser.add_argument("--likelihood-batch", type=int, default=128)
    parser.add_argument("--iwae-k", type=int, default=5000)
    parser.add_argument("--iwae-examples", type=int, default=1000)
    parser.add_argument(
        "--likelihood-dir", type=Path, default=Path("runs/benchmark-vae-likelihood")
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/vae.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": device,
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
            "load_average_at_start": os.getloadavg(),
        }
    }
    if args.out.is_file():  # keep the other part's results when only one part runs
        import json

        previous = json.loads(args.out.read_text())
        out |= {k: v for k, v in previous.items() if k in ("speed", "loop", "likelihood")}
    parts = args.parts.split(",")
    if "speed" in parts:
        out["speed"] = speed(args, device)
        s = out["speed"]
        print(
            f"seconds per epoch: baseline {s['baseline_seconds_per_epoch']:.2f}, rlgen "
            f"{s['rlgen_seconds_per_epoch']:.2f}; to test loss {s['target_test_loss']:.2f}: "
            f"baseline {s['baseline_seconds_to_target']} s, rlgen {s['rlgen_seconds_to_target']} s "
            f"(ratio {s['time_ratio']})"
        )
        write_json(args.out, out)
    if "loop" in parts:
        out["loop"] = loop_speed(args, device)
        print({k: v for k, v in out["loop"].items() if k != "runs"})
        write_json(args.out, out)
    if "likelihood" in parts:
        out["likelihood"] = likelihood(args, device)
        print(out["likelihood"])
        write_json(args.out, out)


if __name__ == "__main__":
    main()
