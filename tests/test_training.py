"""The shared epoch loop (rlgen.training) on tiny models and generated data."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from rlgen.checkpoints import Checkpoint
from rlgen.configs import config_from_dict
from rlgen.errors import UserError
from rlgen.files import to_jsonable
from rlgen.metrics import MetricsWriter, read_metrics
from rlgen.runs import Run
from rlgen.training import (
    CHECKPOINT_KIND,
    DIVERGENCE_FACTOR,
    DivergedLoss,
    History,
    LoopConfig,
    NonFiniteLoss,
    fit,
    load_model,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
NOISE = 0.1  # standard deviation of the regression noise


def regression_data(n: int = 512, d: int = 5, seed: int = 1234):
    """x (n, d), y (n, 1) = x w + b + noise, and the true w (d, 1), b."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, 1, generator=g)
    b = 0.5
    y = x @ w + b + NOISE * torch.randn(n, 1, generator=g)
    return x, y, w, b


def mse_loss(model, batch):
    x, y = batch
    error = model(x) - y
    return error.square().mean(), {"mae": error.abs().mean()}


def make_linear(d: int = 5, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(d, 1)


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def without_times(rows):
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in rows]


# ---------------------------------------------------------------------------------------------
# Learning, determinism, batches
# ---------------------------------------------------------------------------------------------


def test_linear_regression_learns_down_to_the_noise():
    x, y, w, b = regression_data()
    model = make_linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def evaluate(m):
        return {"weight_error": (m.weight.T - w).abs().max().item()}

    history = fit(
        model,
        optimizer,
        mse_loss,
        (x, y),
        LoopConfig(epochs=20, batch_size=32),
        seed=0,
        evaluate=evaluate,
        quiet=True,
    )
    losses = history.column("train/loss")
    assert len(losses) == 20 and losses[0] > 10 * losses[-1]
    # The least-squares fit leaves NOISE**2 (1 - 6/512) of variance; SGD's jitter adds a little.
    assert NOISE**2 * 0.8 < losses[-1] < NOISE**2 * 1.25
    assert history.final_eval["weight_error"] < 0.05
    assert abs(model.bias.item() - b) < 0.05
    assert history.stopped == "epochs" and history.step == 20 * 16


@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_run_other_seed_other_run(device):
    x, y, _, _ = regression_data()

    def train(seed):
        model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))
        torch.manual_seed(0)  # initialisation and dropout: the caller's global RNG
        model.apply(lambda m: m.reset_parameters() if isinstance(m, nn.Linear) else None)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        config = LoopConfig(epochs=3, batch_size=50)
        history = fit(
            model, optimizer, mse_loss, (x, y), config, seed=seed, device=device, quiet=True
        )
        return params(model), without_times(history.rows)

    first, again, other = train(0), train(0), train(1)
    assert first[1] == again[1]
    assert all(torch.equal(first[0][k], again[0][k]) for k in first[0])
    assert not torch.equal(first[0]["0.weight"], other[0]["0.weight"])


def record_batches(n: int, config: LoopConfig, seed: int = 0, **kwargs):
    """Run fit on data (arange(n),) and return the index batches each step saw."""
    seen: list[torch.Tensor] = []
    model = make_linear(1)

    def loss_fn(m, batch):
        seen.append(batch[0].clone())
        return m.weight.square().sum(), {}

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(
        model, optimizer, loss_fn, (torch.arange(n),), config, seed=seed, quiet=True, **kwargs
    )
    return seen, history


def test_each_epoch_is_a_fresh_permutation_in_batches():
    seen, _ = record_batches(10, LoopConfig(epochs=3, batch_size=4))
    assert [len(b) for b in seen] == [4, 4, 2] * 3
    epochs = [torch.cat(seen[i : i + 3]) for i in (0, 3, 6)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1]) and not torch.equal(epochs[1], epochs[2])
    assert not torch.equal(epochs[0], torch.arange(10))
    again, _ = record_batches(10, LoopConfig(epochs=3, batch_size=4))
    assert all(torch.equal(a, b) for a, b in zip(seen, again, strict=True))


def test_drop_last_skips_the_short_batch():
    seen, history = record_batches(10, LoopConfig(epochs=2, batch_size=4, drop_last=True))
    assert [len(b) for b in seen] == [4, 4, 4, 4]
    assert len(set(torch.cat(seen[:2]).tolist())) == 8
    assert history.step == 4


def test_drop_last_with_too_few_examples_is_a_user_error():
    with pytest.raises(UserError, match="--batch-size 16"):
        record_batches(10, LoopConfig(batch_size=16, drop_last=True))


def test_data_tensors_must_share_their_first_dimension():
    with pytest.raises(ValueError, match="first dimension"):
        fit(
            make_linear(),
            torch.optim.SGD(make_linear().parameters(), lr=0.1),
            mse_loss,
            (torch.zeros(10, 5), torch.zeros(9, 1)),
            LoopConfig(epochs=1),
            seed=0,
            quiet=True,
        )


def test_metrics_are_means_over_examples_weighted_by_batch_size():
    # Each step's "loss" is the mean of its batch's values: the epoch mean must be the mean over
    # all 10 examples, not the mean of the 3 batch means (4, 4 and 2 examples).
    values = torch.arange(10.0) ** 2
    model = make_linear(1)

    def loss_fn(m, batch):
        return m.weight.sum() * 0 + batch[0].mean(), {"max": batch[0].max()}

    history = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.0),
        loss_fn,
        (values,),
        LoopConfig(epochs=2, batch_size=4),
        seed=0,
        quiet=True,
    )
    assert history.column("train/loss") == pytest.approx([values.mean().item()] * 2)
    assert "train/max" in history.rows[0]


def test_metric_names_the_loop_logs_itself_are_refused():
    model = make_linear(1)
    with pytest.raises(ValueError, match="'lr'"):
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.0),
            lambda m, b: (m.weight.sum(), {"lr": m.weight.sum()}),
            (torch.zeros(4),),
            LoopConfig(epochs=1),
            seed=0,
            quiet=True,
        )


# ---------------------------------------------------------------------------------------------
# Hooks: transform, evaluation, step budget, callback, scheduler, clipping
# ---------------------------------------------------------------------------------------------


def test_transform_draws_from_the_loop_generator_reproducibly():
    images = torch.full((6, 4), 0.5)  # grey levels; each epoch binarises them afresh

    def run():
        draws: list[torch.Tensor] = []

        def binarise(tensors, generator):
            assert isinstance(generator, torch.Generator)
            sample = torch.bernoulli(tensors[0], generator=generator)
            draws.append(sample)
            return (sample,)

        batches, _ = [], None
        model = make_linear(4)

        def loss_fn(m, batch):
            batches.append(batch[0].clone())
            return m(batch[0]).mean(), {}

        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.0),
            loss_fn,
            (images,),
            LoopConfig(epochs=3, batch_size=6),
            seed=7,
            transform=binarise,
            quiet=True,
        )
        return draws, batches

    draws, batches = run()
    assert len(draws) == 3
    assert all(set(d.unique().tolist()) <= {0.0, 1.0} for d in draws)
    assert not torch.equal(draws[0], draws[1])
    # The batches are the transformed data (shuffled), not the grey levels.
    assert all(set(b.unique().tolist()) <= {0.0, 1.0} for b in batches)
    assert all(b.sum() == d.sum() for b, d in zip(batches, draws, strict=True))
    again, _ = run()
    assert all(torch.equal(a, b) for a, b in zip(draws, again, strict=True))


@pytest.mark.parametrize(("every", "expected"), [(3, [3, 6, 7]), (0, [7]), (1, list(range(1, 8)))])
def test_evaluation_cadence_and_mode(every, expected):
    x, y, _, _ = regression_data(64)
    model = make_linear()
    calls: list[tuple[bool, bool]] = []

    def evaluate(m):
        calls.append((m.training, torch.is_grad_enabled()))
        return {"mse": mse_loss(m, (x, y))[0]}

    def loss_fn(m, batch):
        assert m.training
        return mse_loss(m, batch)

    history = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        loss_fn,
        (x, y),
        LoopConfig(epochs=7, batch_size=16, eval_every=every),
        seed=0,
        evaluate=evaluate,
        quiet=True,
    )
    assert [r["epoch"] for r in history.rows if "eval/mse" in r] == expected
    assert calls == [(False, False)] * len(expected)
    assert model.training
    assert history.eval_seconds > 0


def test_max_steps_stops_mid_epoch_and_evaluates():
    seen, history = record_batches(
        100, LoopConfig(epochs=10, batch_size=10, max_steps=25), evaluate=lambda m: {"x": 1.0}
    )
    assert len(seen) == 25 and history.step == 25
    assert history.epoch == 3 and history.stopped == "max_steps"
    assert [r["train/steps"] for r in history.rows] == [10, 20, 25]
    assert "eval/x" in history.rows[-1] and "eval/x" in history.rows[0]


def test_callback_stops_training_and_the_stopping_epoch_is_evaluated():
    rows = []

    def on_epoch(row):
        rows.append(dict(row))
        return row["epoch"] < 2

    _, history = record_batches(
        20,
        LoopConfig(epochs=9, batch_size=10, eval_every=5),
        evaluate=lambda m: {"x": 1.0},
        on_epoch=on_epoch,
    )
    assert [r["epoch"] for r in rows] == [1, 2]
    assert history.stopped == "callback" and history.epoch == 2
    assert "eval/x" in history.rows[-1] and "eval/x" not in history.rows[0]


def test_scheduler_steps_per_epoch_or_per_step():
    x, y, _, _ = regression_data(40)
    for interval, expected in [("epoch", [1.0, 0.5, 0.25]), ("step", [1.0, 0.25, 0.0625])]:
        model = make_linear()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        history = fit(
            model,
            optimizer,
            lambda m, b: (m(b[0]).mean() * 0, {}),
            (x, y),
            LoopConfig(epochs=3, batch_size=20),
            seed=0,
            scheduler=scheduler,
            scheduler_interval=interval,
            quiet=True,
        )
        assert history.column("train/lr") == pytest.approx(expected)


def test_gradient_clipping_bounds_the_step():
    w = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(w.weight)
    loss_fn = lambda m, b: (1000.0 * m.weight.sum() * b[0].mean(), {})  # noqa: E731
    config = LoopConfig(epochs=1, batch_size=4, clip_grad_norm=0.5)
    fit(w, torch.optim.SGD(w.parameters(), lr=1.0), loss_fn, (torch.ones(4),), config, seed=0)
    assert w.weight.item() == pytest.approx(-0.5, rel=1e-4)


def test_a_huge_learning_rate_stops_with_a_clear_error(tmp_path):
    x, y, _, _ = regression_data()
    model = make_linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e6)
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(NonFiniteLoss, match=r"in epoch 1: lower --child\.lr \(it is 1e\+06\)"):
        fit(
            model,
            optimizer,
            mse_loss,
            (x, y),
            LoopConfig(epochs=5, batch_size=32),
            seed=0,
            checkpoint=path,
            lr_option="--child.lr",
            quiet=True,
        )
    assert issubclass(NonFiniteLoss, UserError)
    state = Checkpoint(path, {}, kind=CHECKPOINT_KIND).read()
    assert state["parts"]["loop"]["epoch"] == 0  # the last good checkpoint is kept
    assert all(p.isfinite().all() for p in state["parts"]["model"].values())


def test_the_error_names_the_learning_rate_as_given_not_as_scheduled():
    # the schedule raises the rate 1e9-fold after the first epoch's 16 steps: the loss blows
    # up in epoch 2, whose scheduled rate is 1e6; the option the user gave was 1e-3
    x, y, _, _ = regression_data()
    model = make_linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 if step < 16 else 1e9)
    with pytest.raises(NonFiniteLoss, match=r"in epoch 2: lower --lr \(it is 0\.001\)"):
        fit(model, optimizer, mse_loss, (x, y), LoopConfig(epochs=5, batch_size=32), seed=0,
            scheduler=schedule, scheduler_interval="step", quiet=True)  # fmt: skip


def test_a_finite_loss_far_above_the_first_batch_is_divergence(tmp_path):
    # softplus(w) + softplus(-w) ~ |w| saturates like a clamped likelihood: however far a huge
    # step throws w, the loss stays finite (w jumps across 0 by about the rate every step)
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    x = torch.ones(64, 1)

    def loss_fn(m, batch):
        wx = m(batch[0])
        return (nn.functional.softplus(wx) + nn.functional.softplus(-wx)).mean(), {}

    path = tmp_path / "checkpoint.pt"
    optimizer = torch.optim.SGD(model.parameters(), lr=1e4)  # w jumps by about 1e4 a step
    with pytest.raises(
        DivergedLoss,
        match=r"the loss rose from 1\.627 \(first batch\) to .* in "
        r"epoch 1: lower --lr \(it is 10000\)",
    ) as raised:
        fit(model, optimizer, loss_fn, (x,), LoopConfig(epochs=3, batch_size=8), seed=0,
            checkpoint=path, quiet=True)  # fmt: skip
    assert isinstance(raised.value, NonFiniteLoss)  # callers that catch one catch both
    state = Checkpoint(path, {}, kind=CHECKPOINT_KIND).read()["parts"]
    assert state["loop"]["epoch"] == 0 and state["loop"]["first_loss"] is None


def test_a_loss_that_falls_or_rises_a_little_is_not_divergence():
    # the bound is DIVERGENCE_FACTOR times max(|first|, 1) above the first batch's loss
    x, y, _, _ = regression_data()
    history = fit(make_linear(), torch.optim.SGD(make_linear().parameters(), lr=0.0), mse_loss,
                  (x, y), LoopConfig(epochs=2, batch_size=32), seed=0, quiet=True)  # fmt: skip
    assert history.first_loss is not None and history.first_loss > 0
    assert len(history.rows) == 2  # lr 0 on another model: the loss stays where it started
    from rlgen.training import _diverged

    assert not _diverged(0.5 + DIVERGENCE_FACTOR * 1.0 - 1e-9, 0.5)  # |first| < 1: scale 1
    assert _diverged(0.5 + DIVERGENCE_FACTOR * 1.0 + 1e-6, 0.5)
    assert not _diverged(-2000.0 + DIVERGENCE_FACTOR * 2000.0, -2000.0)  # a negative loss
    assert _diverged(-2000.0 + DIVERGENCE_FACTOR * 2000.0 + 1.0, -2000.0)


def test_the_first_batch_loss_survives_resume_and_older_checkpoints_lack_it(tmp_path):
    x, y, _, _ = regression_data()
    path = tmp_path / "checkpoint.pt"

    def run(resume: bool, crash: int | None = None) -> History:
        def on_epoch(row):
            if row["epoch"] == crash:  # before the epoch's checkpoint: it holds epoch crash - 1
                raise RuntimeError("killed")

        model = make_linear()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        return fit(model, optimizer, mse_loss, (x, y), LoopConfig(epochs=3, batch_size=32),
                   seed=0, checkpoint=path, resume=resume, on_epoch=on_epoch,
                   quiet=True)  # fmt: skip

    whole = run(resume=False)
    assert whole.first_loss is not None
    with pytest.raises(RuntimeError, match="killed"):
        run(resume=False, crash=2)
    assert torch.load(path, weights_only=True)["parts"]["loop"]["first_loss"] == whole.first_loss
    resumed = run(resume=True)
    assert resumed.first_loss == whole.first_loss
    assert resumed.column("train/loss") == whole.column("train/loss")
    # a checkpoint written before the divergence check: resumed, the scale is the first batch
    # of the resumed epoch (a lower loss here: a tighter bound, not a looser one)
    with pytest.raises(RuntimeError, match="killed"):
        run(resume=False, crash=2)
    state = torch.load(path, weights_only=True)
    del state["parts"]["loop"]["first_loss"]
    torch.save(state, path)
    old = run(resume=True)
    assert old.epoch == 3 and old.first_loss is not None and old.first_loss < whole.first_loss


def test_weights_made_nan_by_a_finite_loss_stop_training_before_they_are_saved(tmp_path):
    # d sqrt(w^2) / dw at w = 0 is 0/0: the loss (1.0) is finite, the gradient is NaN. The
    # epoch's mean loss looks fine; the weights it leaves must not become "the last good
    # checkpoint".
    model = make_linear(1)
    with torch.no_grad():
        model.weight.zero_()
    path = tmp_path / "checkpoint.pt"

    def loss_fn(m, batch):
        return m.weight.square().sum().sqrt() + 1.0, {}

    with pytest.raises(NonFiniteLoss, match=r"parameters became NaN or infinite in epoch 1"):
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn,
            (torch.zeros(4),),
            LoopConfig(epochs=3, batch_size=4),
            seed=0,
            checkpoint=path,
            quiet=True,
        )
    state = Checkpoint(path, {}, kind=CHECKPOINT_KIND).read()["parts"]
    assert state["loop"]["epoch"] == 0
    assert all(p.isfinite().all() for p in state["model"].values())


# ---------------------------------------------------------------------------------------------
# Run directory: metrics.csv, none at all, the config
# ---------------------------------------------------------------------------------------------


def test_metrics_csv_has_one_row_per_epoch_with_an_integer_epoch(run_dir):
    x, y, _, _ = regression_data(64)
    config = LoopConfig(epochs=4, batch_size=16, eval_every=2)
    model = make_linear()
    with Run("test", config, run_dir, metrics_index="epoch", tensorboard=False) as run:
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.05),
            mse_loss,
            (x, y),
            config,
            seed=0,
            evaluate=lambda m: {"mse": mse_loss(m, (x, y))[0].item()},
            metrics=run.metrics,
            checkpoint=run.path / "checkpoint.pt",
        )
        run.finish({})
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert {"train/loss", "train/mae", "train/lr", "eval/mse", "time/epoch_seconds"} <= set(rows[0])
    assert [r["eval/mse"] != "" for r in rows] == [False, True, False, True]
    loaded = make_linear(seed=99)
    loop = load_model(run_dir / "checkpoint.pt", loaded)
    assert torch.equal(loaded.weight, model.weight)
    assert loop["loop"]["epoch"] == 4


def test_no_run_directory_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y, _, _ = regression_data(64)
    model = make_linear()
    history = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        mse_loss,
        (x, y),
        LoopConfig(epochs=2, batch_size=16),
        seed=0,
        evaluate=lambda m: {"mse": 0.0},
    )
    assert isinstance(history, History) and len(history.rows) == 2
    assert list(tmp_path.iterdir()) == []


def test_loop_config_checks_its_options_and_loads_back():
    for bad, option in [
        ({"epochs": 0}, "--epochs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"eval_every": -1}, "--eval-every"),
        ({"max_steps": 0}, "--max-steps"),
        ({"clip_grad_norm": 0.0}, "--clip-grad-norm"),
        ({"clip_grad_norm": float("nan")}, "--clip-grad-norm"),
    ]:
        with pytest.raises(UserError, match=option):
            LoopConfig(**bad)
    config = LoopConfig(epochs=3, max_steps=100, clip_grad_norm=1.0)
    assert config_from_dict(LoopConfig, to_jsonable(config)) == config
    assert LoopConfig(batch_size=4).steps_per_epoch(10) == 3
    assert LoopConfig(batch_size=4, drop_last=True).steps_per_epoch(10) == 2


# ---------------------------------------------------------------------------------------------
# Exact resume
# ---------------------------------------------------------------------------------------------


def train_tiny(run_dir: Path, *, resume: bool, epochs: int = 6, n: int = 256, crash_at=None):
    """A dropout MLP with Adam, a step scheduler, a noisy transform and a random evaluation.

    Every source of randomness the loop must restore is used: the loop's generator (shuffling,
    the transform), torch's global RNG (dropout in training, a draw in evaluation), the
    optimiser's moments and the scheduler. ``crash_at``: raise at this (0-based) step.
    """
    torch.set_num_threads(1)
    x, y, _, _ = regression_data(n, d=8)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    steps = [0]

    def loss_fn(m, batch):
        if steps[0] == crash_at:
            raise RuntimeError("crash")
        steps[0] += 1
        return mse_loss(m, batch)

    def jitter(tensors, generator):
        x, y = tensors
        return x + 0.05 * torch.randn(x.shape, generator=generator), y

    def evaluate(m):
        return {"mse": mse_loss(m, (x, y))[0].item(), "draw": torch.rand(()).item()}

    writer = MetricsWriter(run_dir, index="epoch", tensorboard=False, append=resume)
    try:
        return fit(
            model,
            optimizer,
            loss_fn,
            (x, y),
            LoopConfig(epochs=epochs, batch_size=16, eval_every=3, checkpoint_every=1),
            seed=3,
            scheduler=scheduler,
            transform=jitter,
            evaluate=evaluate,
            metrics=writer,
            checkpoint=run_dir / "checkpoint.pt",
            resume=resume,
            quiet=True,
        )
    finally:
        writer.close()


def assert_same_run(a: Path, b: Path) -> None:
    """Same final parameters, optimiser and generator states (bit for bit) and metric rows."""
    first = Checkpoint(a / "checkpoint.pt", {}, kind=CHECKPOINT_KIND).read()["parts"]
    second = Checkpoint(b / "checkpoint.pt", {}, kind=CHECKPOINT_KIND).read()["parts"]
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    for index, state in first["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, second["optimizer"]["state"][index][key])
    assert torch.equal(first["generator"]["state"], second["generator"]["state"])
    assert torch.equal(first["rng"]["torch"], second["rng"]["torch"])
    assert without_times(first["loop"]["rows"]) == without_times(second["loop"]["rows"])
    assert without_times(read_metrics(a)) == without_times(read_metrics(b))
    assert metrics_text(a) == metrics_text(b)  # the same file, not only the same numbers


def metrics_text(run_dir: Path) -> list[list[str]]:
    """metrics.csv as written (text), without the timing columns."""
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    keep = [i for i, name in enumerate(rows[0]) if not name.startswith("time/")]
    return [[row[i] for i in keep] for row in rows]


def test_resume_after_a_crash_gives_the_uninterrupted_run(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    whole.mkdir(), broken.mkdir()
    train_tiny(whole, resume=False)
    with pytest.raises(RuntimeError, match="crash"):
        train_tiny(broken, resume=False, crash_at=16 * 3 + 5)  # in epoch 4
    # As if killed after logging epoch 4 but before its checkpoint: resume drops the row.
    writer = MetricsWriter(broken, index="epoch", tensorboard=False, append=True)
    writer.log(4, {"train/loss": 123.0})
    writer.close()
    history = train_tiny(broken, resume=True)
    assert history.epoch == 6 and [r["epoch"] for r in history.rows] == list(range(1, 7))
    assert_same_run(whole, broken)
    # Resuming a finished run changes nothing.
    again = train_tiny(broken, resume=True)
    assert again.rows == history.rows


# ---------------------------------------------------------------------------------------------
# Compiled loss (LoopConfig.compile)
# ---------------------------------------------------------------------------------------------


def train_mlp(compile: bool, epochs: int = 3, dropout: float = 0.0, **kwargs):
    """A small MLP fitted to the regression data (500 examples: batches of 64 and a last of 52)."""
    x, y, _, _ = regression_data(n=500)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Dropout(dropout), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    config = LoopConfig(epochs=epochs, batch_size=64, compile=compile)
    history = fit(model, optimizer, mse_loss, (x, y), config, seed=0, quiet=True, **kwargs)
    return model, history


def test_a_compiled_loss_trains_like_the_eager_one():
    eager_model, eager = train_mlp(compile=False)
    compiled_model, compiled = train_mlp(compile=True)
    eager_rows, compiled_rows = without_times(eager.rows), without_times(compiled.rows)
    assert [r["train/steps"] for r in compiled_rows] == [8, 16, 24]
    for a, b in zip(eager_rows, compiled_rows, strict=True):
        assert b["train/loss"] == pytest.approx(a["train/loss"], rel=1e-5)
        assert b["train/mae"] == pytest.approx(a["train/mae"], rel=1e-5)
    for name, value in params(eager_model).items():
        torch.testing.assert_close(params(compiled_model)[name], value, rtol=1e-4, atol=1e-5)
    assert compiled_rows[-1]["train/loss"] < 0.5 * compiled_rows[0]["train/loss"]


def test_each_fit_compiles_its_own_loss_whatever_fits_ran_before():
    """torch.compile keeps (up to its recompile limit, 8) the versions of a function per code
    object: fits of the same loss_fn in one process (a sweep's models, of other shapes, in one
    worker) shared them, and past the limit a fit silently ran eager. Here with a limit of 1."""
    from torch._dynamo.utils import counters

    x, y, _, _ = regression_data(n=64)
    for hidden in (3, 4):  # another shape of parameters: a version of its own
        model = nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        compiled = counters["stats"]["unique_graphs"]
        config = LoopConfig(epochs=2, batch_size=64, compile=True)
        with torch._dynamo.config.patch(recompile_limit=1):
            fit(model, optimizer, mse_loss, (x, y), config, seed=0, quiet=True)
        assert counters["stats"]["unique_graphs"] == compiled + 1, hidden  # once, not eager


def test_a_compiler_failure_is_a_one_line_error_naming_the_option(monkeypatch):
    def failing_compile(fn, **kwargs):
        def call(*args):
            inner = RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
            raise torch._dynamo.exc.BackendCompilerFailed(fn, inner, None)

        return call

    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.raises(
        UserError,
        match=r"^--compile: torch.compile failed .*C\+\+ compiler.*"
        r"leave out --compile$",
    ):
        train_mlp(compile=True)


def test_a_compiled_run_with_dropout_resumes_exactly(tmp_path):
    """Dropout's draws inside the compiled graph come from torch's global RNG, which the
    checkpoint saves: a run of 2 epochs equals one that crashed in epoch 2 and was resumed."""
    epochs_started = 0

    def crash_in_epoch_2(tensors, generator):
        nonlocal epochs_started
        epochs_started += 1
        if epochs_started == 2:
            raise RuntimeError("crash")
        return tensors

    whole, _ = train_mlp(True, epochs=2, dropout=0.3, checkpoint=tmp_path / "a.pt")
    with pytest.raises(RuntimeError, match="crash"):
        train_mlp(
            True, epochs=2, dropout=0.3, checkpoint=tmp_path / "b.pt", transform=crash_in_epoch_2
        )
    # train_mlp seeds torch afresh: the resumed epoch's dropout must draw from the saved state
    resumed, history = train_mlp(
        True, epochs=2, dropout=0.3, checkpoint=tmp_path / "b.pt", resume=True
    )
    assert [row["epoch"] for row in history.rows] == [1, 2]
    for name, value in params(whole).items():
        assert torch.equal(params(resumed)[name], value), name


def worker(run_dir: str, mode: str) -> None:
    """Entry point of the SIGKILL test's subprocesses (``python test_training.py DIR MODE``)."""
    train_tiny(Path(run_dir), resume=mode == "resume", epochs=20, n=2048)


def metric_rows(run_dir: Path) -> int:
    try:
        return (run_dir / "metrics.csv").read_text().count("\n") - 1
    except FileNotFoundError:
        return 0


def start_worker(run_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, str(run_dir), mode])


def kill_after(process: subprocess.Popen, run_dir: Path, rows: int) -> None:
    """SIGKILL ``process`` once ``run_dir/metrics.csv`` holds ``rows`` epochs."""
    deadline = time.monotonic() + 120
    while metric_rows(run_dir) < rows:
        assert process.poll() is None, "the worker ended before it could be killed"
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_gives_the_uninterrupted_run(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    reference = start_worker(whole, "fresh")
    kill_after(start_worker(killed, "fresh"), killed, 4)
    kill_after(start_worker(killed, "resume"), killed, 12)
    assert start_worker(killed, "resume").wait() == 0
    assert reference.wait() == 0
    assert len(read_metrics(killed)) == 20
    assert_same_run(whole, killed)


if __name__ == "__main__":
    worker(*sys.argv[1:])
