"""``rlgen vae`` (+ evaluate, sweeps) and ``rlgen ae``: smoke runs on generated images, resume,
save / load, bad input as one error line."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rlgen.checkpoints import Checkpoint
from rlgen.cli import main
from rlgen.errors import UserError
from rlgen.generative import command
from rlgen.generative.command import VAETrainConfig
from rlgen.generative.evaluate import load_vae
from rlgen.generative.images import DataConfig
from rlgen.generative.models import VAEConfig
from rlgen.metrics import read_metrics
from rlgen.training import LoopConfig

TIMES = ("seconds", "time/")


def small(data_dir: Path, *extra: str) -> list[str]:
    """Options for a run of a few seconds on the generated images."""
    return [
        "--data-dir", str(data_dir), "--validation", "40", "--epochs", "2", "--batch-size", "64",
        "--hidden", "32", "--device", "cpu", "--quiet", *extra,
    ]  # fmt: skip


def without_hidden(args: list[str]) -> list[str]:
    """``args`` without --hidden and its value (an autoencoder of --kind linear has none)."""
    i = args.index("--hidden")
    return args[:i] + args[i + 2 :]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def without_times(d: dict) -> dict:
    return {k: v for k, v in d.items() if not any(t in k for t in TIMES)}


def metric_rows(run_dir: Path) -> list[dict]:
    """Rows of metrics.csv as floats, timings left out."""
    return [without_times(r) for r in read_metrics(run_dir)]


def last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error line"
    return err[-1]


# ---------------------------------------------------------------------------------------------
# Smoke runs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vae_run(synthetic_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    args = small(synthetic_dir, "--latent", "2", "--iwae-k", "8", "--out", str(out))
    assert main(["vae", *args]) == 0
    return out


def test_vae_writes_its_run_directory(vae_run, capsys):
    for name in (
        "config.json", "metrics.csv", "summary.json", "checkpoint.pt", "images.npz",
        "learning_curve.png", "reconstructions.png", "samples.png", "manifold.png", "latent.png",
    ):  # fmt: skip
        assert (vae_run / name).is_file(), name
    s = summary(vae_run)
    assert s["status"] == "finished" and s["epochs"] == 2 and s["latent"] == 2
    assert s["train_examples"] == 280 and s["validation_examples"] == 40
    assert s["test_examples"] == 160 and s["iwae_examples"] == 160 and s["iwae_k"] == 8
    assert s["test_elbo"] == pytest.approx(-(s["test_reconstruction"] + s["test_kl"]))
    assert s["test_loss"] == pytest.approx(-s["test_elbo"])  # beta = 1
    assert s["iwae_nll"] < -s["test_elbo"] + 4 * s["iwae_se"]
    assert 0 <= s["active_units"] <= 2
    assert s["likelihood_normalized"] is False
    for key in ("train_seconds", "eval_seconds", "seconds_per_epoch", "wall_seconds"):
        assert s[key] > 0, key
    rows = metric_rows(vae_run)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train/loss", "train/reconstruction", "train/kl", "eval/elbo"} <= set(rows[0])


def test_plot_redraws_every_figure_from_the_files(vae_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(vae_run, copy)
    for png in copy.glob("*.png"):
        png.unlink()
    written = command.plot(copy)
    assert {p.name for p in written} == {
        "learning_curve.png", "reconstructions.png", "samples.png", "manifold.png", "latent.png"
    }  # fmt: skip


def test_evaluate_rescores_the_saved_model(vae_run, capsys):
    assert main(["vae", "evaluate", str(vae_run), "--iwae-k", "16", "--examples", "20"]) == 0
    result = json.loads((vae_run / "evaluation.json").read_text())
    assert result["iwae_k"] == 16 and result["examples"] == 20
    assert result["iwae_nll"] > 0 and result["iwae_se"] > 0
    assert "IWAE negative log-likelihood" in capsys.readouterr().out


def test_load_vae_gives_the_trained_model(vae_run):
    model, config, images = load_vae(vae_run)
    assert config.model.latent == 2
    again = model.evaluate(images.test, seed=config.seed)
    assert again["elbo"] == pytest.approx(summary(vae_run)["test_elbo"], rel=1e-6)


@pytest.mark.parametrize("kind", ["compressive", "linear", "denoising"])
def test_ae_kinds(kind, synthetic_dir, tmp_path, capsys):
    out = tmp_path / kind
    args = small(synthetic_dir, "--latent", "3")
    if kind == "linear":
        args = without_hidden(args)
    assert main(["ae", "--kind", kind, *args, "--out", str(out)]) == 0
    s = summary(out)
    assert s["kind"] == kind and s["status"] == "finished" and s["test_mse"] > 0
    for name in ("reconstructions.png", "random_codes.png", "learning_curve.png"):
        assert (out / name).is_file(), name
    assert (s["test_denoised_mse"] is not None) == (kind == "denoising")
    if kind == "linear":
        assert len(s["pca_angles"]) == 3 and 0 <= s["pca_max_angle"] <= 1.5708
    else:
        assert s["pca_angles"] is None


def test_beta_sweep_runs_each_value_as_a_job(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    args = small(synthetic_dir, "--iwae-k", "0", "--workers", "1", "--epochs", "1")
    assert main(["vae", "beta-sweep", "--betas", "0.5", "2", *args, "--out", str(out)]) == 0
    s = summary(out)
    assert [m["value"] for m in s["members"]] == [0.5, 2.0]
    assert summary(out / "beta-2")["beta"] == 2.0
    assert all(m["sample_diversity"] > 0 for m in s["members"])
    for name in ("samples.png", "reconstructions.png", "sweep.png"):
        assert (out / name).is_file(), name
    # resuming a finished sweep reads its members back
    assert main(["vae", "beta-sweep", "--resume", str(out), "--quiet"]) == 0
    assert [m["test_elbo"] for m in summary(out)["members"]] == [
        m["test_elbo"] for m in s["members"]
    ]


def test_latent_sweep(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    args = small(synthetic_dir, "--iwae-k", "0", "--workers", "1", "--epochs", "1")
    assert main(["vae", "latent-sweep", "--latents", "1", "3", *args, "--out", str(out)]) == 0
    s = summary(out)
    assert [summary(out / m["dir"])["latent"] for m in s["members"]] == [1, 3]
    assert (out / "sweep.png").is_file()
    assert "active" in capsys.readouterr().out


def test_from_python_a_sweep_refuses_the_option_it_replaces(tmp_path):
    from rlgen.generative.sweeps import LatentSweepConfig, run_latent_sweep

    nowhere = DataConfig(data_dir=tmp_path / "no-data")
    config = LatentSweepConfig(train=VAETrainConfig(data=nowhere, model=VAEConfig(latent=5)))
    with pytest.raises(UserError, match="--latent: the sweep replaces it by each of --latents"):
        run_latent_sweep(config, tmp_path / "sweep", quiet=True)
    assert not (tmp_path / "sweep").exists()


def test_dynamic_binarization_scores_binary_test_images(synthetic_dir, tmp_path):
    config = VAETrainConfig(
        model=VAEConfig(latent=2, hidden=(16,)),
        data=DataConfig(data_dir=synthetic_dir, validation=40, binarize="dynamic"),
        loop=LoopConfig(epochs=1, batch_size=64),
        iwae_k=4,
        device="cpu",
    )
    s = command.run_vae(config, tmp_path / "run", quiet=True)
    assert s["likelihood_normalized"] is True and s["binarize"] == "dynamic"
    _, _, images = load_vae(tmp_path / "run")
    assert set(images.test.unique().tolist()) <= {0.0, 1.0}
    assert not set(images.train.unique().tolist()) <= {0.0, 1.0}  # grey; sampled each epoch


# ---------------------------------------------------------------------------------------------
# Resume
# ---------------------------------------------------------------------------------------------


def assert_same_run(a: Path, b: Path, kind: str = command.VAE_KIND) -> None:
    first = Checkpoint(a / "checkpoint.pt", {}, kind=kind).read()["parts"]
    second = Checkpoint(b / "checkpoint.pt", {}, kind=kind).read()["parts"]
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    assert torch.equal(first["generator"]["state"], second["generator"]["state"])
    assert metric_rows(a) == metric_rows(b)
    assert without_times(summary(a)) == without_times(summary(b))


def test_resume_a_finished_run_changes_nothing(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["ae", *small(synthetic_dir), "--out", str(out)]) == 0
    before = summary(out)
    assert main(["ae", "--resume", str(out), "--quiet"]) == 0
    assert without_times(summary(out)) == without_times(before)


def test_resume_after_an_exception_gives_the_uninterrupted_run(
    synthetic_dir, tmp_path, monkeypatch
):
    config = VAETrainConfig(
        model=VAEConfig(latent=2, hidden=(16,)),
        data=DataConfig(data_dir=synthetic_dir, validation=40),
        loop=LoopConfig(epochs=4, batch_size=64),
        iwae_k=4,
        device="cpu",
    )
    command.run_vae(config, tmp_path / "whole", quiet=True)
    original = command.VAE.loss
    calls = {"n": 0}

    def crash_in_epoch_3(self, batch):
        calls["n"] += 1
        if calls["n"] == 2 * 5 + 3:  # 5 batches per epoch
            raise RuntimeError("crash")
        return original(self, batch)

    monkeypatch.setattr(command.VAE, "loss", crash_in_epoch_3)
    with pytest.raises(RuntimeError, match="crash"):
        command.run_vae(config, tmp_path / "broken", quiet=True)
    monkeypatch.setattr(command.VAE, "loss", original)
    assert not (tmp_path / "broken" / "summary.json").exists()
    resumed = VAETrainConfig(resume=tmp_path / "broken")
    command.run_vae(resumed, quiet=True)
    assert_same_run(tmp_path / "whole", tmp_path / "broken")


def rlgen(*args: str, **kwargs) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rlgen", *args], env=env, **kwargs)


def rows_written(run_dir: Path) -> int:
    try:
        return (run_dir / "metrics.csv").read_text().count("\n") - 1
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_run(synthetic_dir, tmp_path):
    args = small(synthetic_dir, "--epochs", "30", "--batch-size", "16", "--iwae-k", "4")
    whole = rlgen("vae", *args, "--out", str(tmp_path / "whole"))
    killed = tmp_path / "killed"
    worker = rlgen("vae", *args, "--out", str(killed), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while rows_written(killed) < 4:
        assert worker.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL
    assert not (killed / "summary.json").exists()
    assert rlgen("vae", "--resume", str(killed), "--quiet", stdout=subprocess.DEVNULL).wait() == 0
    assert whole.wait() == 0
    assert_same_run(tmp_path / "whole", killed)


def test_resume_refuses_options_and_other_directories(vae_run, tmp_path, capsys):
    assert main(["vae", "--resume", str(vae_run), "--epochs", "7"]) == 2
    assert "leave out --epochs" in last_error(capsys)
    assert main(["vae", "--resume", str(vae_run), "--out", str(tmp_path / "x")]) == 2
    assert "--resume continues the run in its own directory" in last_error(capsys)
    assert main(["ae", "--resume", str(vae_run)]) == 2
    assert "not a 'ae' run directory" in last_error(capsys)


# ---------------------------------------------------------------------------------------------
# Bad input: one line, exit status 2
# ---------------------------------------------------------------------------------------------

NO_DATA = ("--data-dir", "/nonexistent", "--out", "/nonexistent/run")
"""an option refused before the data is looked for; without the check these fail on the data"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vae", "--latent", "0"], "--latent must be >= 1, got 0"),
        (["vae", "--beta", "-1"], "--beta must be in [0, 1e+30], got -1"),
        (["vae", "--lr", "0"], "--lr must be > 0"),
        (["vae", "--iwae-k", "-1"], "--iwae-k must be >= 0"),
        (["vae", "--likelihood", "gaussian"], "--likelihood"),
        (["vae", "--binarize", "sometimes"], "--binarize"),
        (["ae", "--kind", "sparse"], "--kind"),
        (["ae", "--kind", "linear", "--architecture", "conv"], "--kind linear"),
        (["vae", "beta-sweep", "--betas", "1", "-2"], "--betas must be in [0, 1e+30], got -2"),
        (["vae", "latent-sweep", "--latents", "0"], "--latents must be >= 1"),
        # named --latent, which the sweep replaces: its own option instead
        (["vae", "latent-sweep", "--latents", "2", str(10**11)], "--latents: a model of "),
        # the option each sweep replaces by its values, even typed at its default (refused
        # before the data is looked for: without the check these would train on it)
        (
            ["vae", "latent-sweep", "--latent", "20", "--data-dir", "/nonexistent"],
            "--latent: the sweep replaces it by each of --latents; leave it out",
        ),
        (
            ["vae", "beta-sweep", "--beta=1", "--data-dir", "/nonexistent"],
            "--beta: the sweep replaces it by each of --betas",
        ),
        # k importance weights per image, held at once: --iwae-k 1e30 ran until memory ran out
        (["vae", "--iwae-k", str(10**30), *NO_DATA], "--iwae-k: the importance weights of "),
        (["vae", "evaluate", "/nonexistent", "--iwae-k", str(10**30)], "--iwae-k: the importance"),
        # every epoch's row of metrics is kept: a run of 10**30 epochs trained practically for ever
        (["ae", "--epochs", str(10**30), *NO_DATA], "--epochs: the history of 1,000,000,"),
        (["vae", "latent-sweep", "--epochs", str(10**30), *NO_DATA], "--epochs: the history"),
        (
            ["vae", "--epochs", str(10**30), "--max-steps", str(10**20), *NO_DATA],
            "--max-steps: the history of up to 100,000,000,000,000,000,000 epochs (one step each)",
        ),
        # beta * KL overflowed float32: a non-finite loss whose message blamed --lr
        (["vae", "--beta", "1e300", *NO_DATA], "--beta must be in [0, 1e+30], got 1e+300"),
        (["vae", "beta-sweep", "--betas", "1", "1e31", *NO_DATA], "--betas must be in [0, 1e+30]"),
        # two members in one directory beta-1: the second failed after the first had trained
        (
            ["vae", "beta-sweep", "--betas", "1", "1.0000001", *NO_DATA],
            "--betas: 1 and 1.0000001 would share the directory beta-1",
        ),
    ],
)
def test_bad_options_are_one_error_line(args, message, capsys):
    assert main(args) == 2
    line = last_error(capsys)
    assert line.startswith("rlgen: error: ") and message in line, line


def test_epochs_are_bounded_by_the_memory_of_their_history(monkeypatch):
    from rlgen import errors
    from rlgen.generative.command import HISTORY_EPOCH_BYTES, AETrainConfig
    from rlgen.training import LoopConfig

    most = 100_000  # epochs whose history takes half the memory (the share that may be asked for)
    monkeypatch.setattr(errors, "total_memory", lambda: 2 * HISTORY_EPOCH_BYTES * most)
    AETrainConfig(loop=LoopConfig(epochs=most))
    with pytest.raises(UserError, match=r"^--epochs: the history of 100,001 epochs would need"):
        AETrainConfig(loop=LoopConfig(epochs=most + 1))
    # --max-steps ends the run within as many epochs, whatever --epochs says
    VAETrainConfig(loop=LoopConfig(epochs=10**30, max_steps=most))
    with pytest.raises(UserError, match=r"^--max-steps: the history of up to 100,001 epochs"):
        VAETrainConfig(loop=LoopConfig(epochs=10**30, max_steps=most + 1))


def test_evaluate_refuses_k_below_one_and_non_run_directories(vae_run, tmp_path, capsys):
    assert main(["vae", "evaluate", str(vae_run), "--iwae-k", "0"]) == 2
    assert "--iwae-k must be >= 1" in last_error(capsys)
    assert main(["vae", "evaluate", str(tmp_path)]) == 2
    assert last_error(capsys).startswith("rlgen: error: ")


def test_missing_data_is_one_error_line(tmp_path, capsys):
    args = ["vae", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]
    assert main(args) == 2
    line = last_error(capsys)
    assert line.startswith("rlgen: error: fashion-mnist: data not found in"), line
    assert not (tmp_path / "r").exists()  # a run that failed on its input leaves nothing


def test_corrupt_data_is_one_error_line(synthetic_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(synthetic_dir, broken)
    path = broken / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
        content = f.read()
    with gzip.open(path, "wb") as f:
        f.write(content[: len(content) // 2])
    assert main(["vae", *small(broken), "--out", str(tmp_path / "r")]) == 2
    assert "corrupt IDX file" in last_error(capsys)


def test_validation_larger_than_the_training_set(synthetic_dir, tmp_path, capsys):
    args = ["vae", "--data-dir", str(synthetic_dir), "--validation", "320", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    assert "--validation 320 leaves no training images" in last_error(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ae", "--kind", "linear", "--hidden", "400"], "--hidden: --kind linear has no hidden"),
        (["ae", "--noise-level", "0.3"], "--noise-level is for --kind denoising only"),
        (["ae", "--kind", "linear", "--noise", "masking"], "--noise is for --kind denoising"),
        (["vae", "--iwae-k", "0", "--iwae-examples", "5"], "--iwae-examples: --iwae-k 0 skips"),
        # a sweep refuses what each of its members would ignore
        (
            ["vae", "beta-sweep", "--iwae-k", "0", "--iwae-examples", "5"],
            "--iwae-examples: --iwae-k 0 skips",
        ),
        # with no validation images nothing is evaluated along the way: --eval-every was dropped
        (["vae", "--validation", "0", "--eval-every", "2"], "--eval-every: --validation 0 holds"),
        (["ae", "--validation", "0", "--eval-every", "1"], "--eval-every: --validation 0 holds"),
        (
            ["vae", "latent-sweep", "--validation", "0", "--eval-every", "3"],
            "--eval-every: --validation 0 holds",
        ),
    ],
)
def test_an_option_the_run_ignores_is_one_error_line(args, message, tmp_path, capsys):
    # they were silently dropped: the run trained without them
    out = tmp_path / "r"
    assert main([*args, "--data-dir", str(tmp_path / "none"), "--out", str(out)]) == 2
    line = last_error(capsys)
    assert line.startswith(f"rlgen: error: {message}") and line.endswith("; leave it out"), line
    assert not out.exists()


def test_options_at_their_defaults_from_python_are_not_refused_as_ignored():
    from rlgen.generative.command import AETrainConfig, refuse_ignored
    from rlgen.generative.models import AEConfig

    refuse_ignored(AETrainConfig(model=AEConfig(kind="linear")))
    refuse_ignored(VAETrainConfig(iwae_k=0))
    # --validation 0 --eval-every 0 (the README's likelihood setting, reproduce's runs) says the
    # same thing twice: not refused
    no_eval = {"data": DataConfig(validation=0), "loop": LoopConfig(epochs=4, eval_every=0)}
    refuse_ignored(VAETrainConfig(**no_eval))
    refuse_ignored(AETrainConfig(**no_eval))
    refuse_ignored(VAETrainConfig(data=DataConfig(validation=0)))
    with pytest.raises(UserError, match="--hidden"):
        refuse_ignored(AETrainConfig(model=AEConfig(kind="linear", hidden=(10,))))


@pytest.mark.parametrize("name", ["vae", "ae"])
def test_a_batch_beyond_memory_is_refused_before_training(name, tmp_path, monkeypatch, capsys):
    # the model fits, a batch of its activations does not: --batch-size 60000 --hidden 20000
    # needed about 36 GB on Fashion-MNIST, and torch's allocator failed (or the system killed it)
    from rlgen import errors
    from rlgen.data import make_synthetic

    data = make_synthetic(tmp_path / "data", train=2000, test=20)
    monkeypatch.setattr(errors, "total_memory", lambda: 400 * 10**6)  # 200 MB may be asked for
    out = tmp_path / "r"
    args = [name, "--data-dir", str(data), "--validation", "0", "--hidden", "4000", "--quiet"]
    assert main([*args, "--batch-size", "100000", "--device", "cpu", "--out", str(out)]) == 2
    line = last_error(capsys)
    assert line.startswith("rlgen: error: --batch-size: a batch of 2,000 images through "), line
    assert not (out / "checkpoint.pt").exists()
    assert (
        main(
            [
                *args,
                "--batch-size",
                "64",
                "--epochs",
                "1",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )


def test_a_linear_autoencoder_wider_than_the_image_is_refused(synthetic_dir, tmp_path, capsys):
    # it was accepted, and its pca_max_angle was trivially 0
    out = tmp_path / "r"
    args = without_hidden(small(synthetic_dir, "--kind", "linear", "--latent", "5000"))
    args += ["--out", str(out)]
    assert main(["ae", *args]) == 2
    assert last_error(capsys).startswith(
        "rlgen: error: --latent 5000: --kind linear compresses an image, so it needs fewer code "
        "units than its 784 pixels"
    )
    assert not out.exists()


def test_split_sizes_beyond_the_data_are_refused_alike(synthetic_dir, tmp_path, capsys):
    # --test-size beyond the test set was silently clipped, while --train-size was refused
    from rlgen.generative.images import load_images

    out = tmp_path / "r"
    args = ["vae", "--data-dir", str(synthetic_dir), "--validation", "40", "--device", "cpu"]
    assert main([*args, "--test-size", "161", "--out", str(out)]) == 2
    assert last_error(capsys) == (
        "rlgen: error: --test-size 161: the test set of fashion-mnist has only 160 images"
    )
    assert main([*args, "--train-size", "281", "--out", str(out)]) == 2
    assert last_error(capsys) == (
        "rlgen: error: --train-size 281: only 280 training images are left after --validation 40"
    )
    assert not out.exists()
    data = DataConfig(data_dir=synthetic_dir, validation=40, train_size=280, test_size=160)
    images = load_images(data)  # every image of each split is fine
    assert len(images.train) == 280 and len(images.test) == 160


@pytest.mark.parametrize("lr", ["1e6", "1"])
def test_a_huge_learning_rate_is_one_error_line_naming_lr(lr, synthetic_dir, tmp_path, capsys):
    # Adam at these rates drives the weights to 1e6 and beyond while the clamped likelihood
    # keeps the loss finite: without the divergence check the run "trained" to 1e33 nats
    args = small(synthetic_dir, "--lr", lr, "--lr-schedule", "constant", "--iwae-k", "10")
    assert main(["vae", *args, "--out", str(tmp_path / "r")]) == 2
    line = last_error(capsys)
    assert line.startswith("rlgen: error: training diverged: the loss rose from "), line
    assert f"lower --lr (it is {float(lr):g})" in line, line
    written = summary(tmp_path / "r")
    assert written["status"] == "diverged" and written["test_elbo"] is None


def test_cosine_schedule_decays_the_learning_rate(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = small(synthetic_dir, "--epochs", "3", "--lr", "0.01", "--lr-schedule", "cosine")
    assert main(["ae", *args, "--out", str(out)]) == 0
    lrs = [r["train/lr"] for r in read_metrics(out)]  # the rate at the start of each epoch
    assert lrs[0] == 0.01 and lrs[0] > lrs[1] > lrs[2] > 0
    constant = tmp_path / "constant"
    args = small(synthetic_dir, "--epochs", "2", "--lr-schedule", "constant")
    assert main(["ae", *args, "--out", str(constant)]) == 0
    assert [r["train/lr"] for r in read_metrics(constant)] == [0.003, 0.003]


def test_a_sweep_member_trains_on_its_workers_device(synthetic_dir, tmp_path):
    """--worker-devices deals devices out to the sweep's jobs, over the members' --device (here
    cuda, which this machine need not have, gives way to the worker's cpu)."""
    out = tmp_path / "sweep"
    args = small(synthetic_dir, "--iwae-k", "0", "--workers", "1", "--epochs", "1")
    devices = ["--device", "cuda", "--worker-devices", "cpu"]
    assert main(["vae", "beta-sweep", "--betas", "1", *args, *devices, "--out", str(out)]) == 0
    assert summary(out / "beta-1")["device"] == "cpu"
