"""The shared PyTorch epoch loop: in-memory batches on one device, evaluation, exact resume.

Every network rlgen trains on a dataset (the autoencoders and the VAE, architecture search's
child networks) goes through :func:`fit`::

    config = LoopConfig(epochs=20, batch_size=128)
    history = fit(model, optimizer, loss_fn, (images,), config, seed=0, device=device,
                  evaluate=validation_elbo, metrics=run.metrics,
                  checkpoint=run.path / "checkpoint.pt", resume=resuming, lr_option="--lr")

The data is a tuple of tensors with the same first dimension (images, labels, ...), moved to the
device once and never copied back. Each epoch draws, from the loop's own seeded
``torch.Generator`` on that device, first a permutation of the examples, then whatever the
optional ``transform`` draws (the VAE's dynamic binarisation: a fresh Bernoulli sample of every
image); batches are slices of the permutation, gathered on the device. No DataLoader, no Python
per example, and no host synchronisation per step: the batch-size-weighted sums of the loss and
metrics stay on the device and are read once per epoch.

After each epoch (1-based) the loop may evaluate (every ``eval_every`` epochs and always after
the last), logs one row (``epoch``; ``train/...``, ``eval/...``, ``time/...``) to the
:class:`~rlgen.metrics.MetricsWriter` and to the returned :class:`History`, and writes the
checkpoint (every ``checkpoint_every`` epochs and at the end). The checkpoint holds the model, the
optimiser, the scheduler, the loop's generator, torch's global RNG (dropout, ``randn_like``) and
the history, so a run killed at any moment (``kill -9``) and resumed from it ends with the same
parameters and the same metric rows, bit for bit on CPU, as a run never interrupted.

Run directory, metrics writer and checkpoint are all optional: a NAS worker process trains a child
with none of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rlgen.checkpoints import Checkpoint, GlobalRNG, Stateful
from rlgen.errors import UserError, check_config_types, check_range
from rlgen.metrics import MetricsWriter
from rlgen.runs import progress

CHECKPOINT_KIND = "rlgen.training"
"""the ``kind`` of the checkpoints :func:`fit` writes unless its caller names its own"""

Batch = tuple[Tensor, ...]
LossFn = Callable[[nn.Module, Batch], tuple[Tensor, Mapping[str, Tensor]]]
"""``loss_fn(model, batch) -> (loss, metrics)``: a scalar loss to minimise (the mean over the
batch) and 0-d tensors to average over the epoch as ``train/<name>`` (may be empty)"""
Transform = Callable[[Batch, torch.Generator], Batch]
"""``transform(tensors, generator) -> tensors``: the epoch's version of the whole dataset"""
Evaluate = Callable[[nn.Module], Mapping[str, float]]
"""``evaluate(model) -> {name: value}``, logged as ``eval/<name>``"""
OnEpoch = Callable[[Mapping[str, float]], bool | None]
"""``on_epoch(row)``: sees each epoch's row; returning False stops training"""


class NonFiniteLoss(UserError):
    """The training loss became NaN or infinite: training stops, the last good checkpoint stays."""


class DivergedLoss(NonFiniteLoss):
    """The training loss stayed finite but rose far above where it started (see
    :data:`DIVERGENCE_FACTOR`): the learning rate is too large. Caught like a non-finite loss."""


DIVERGENCE_FACTOR = 1000.0
"""An epoch whose mean training loss exceeds the first batch's loss (the initial model's) by more
than this many times ``max(|first loss|, 1)`` has diverged. A learning rate too large for Adam
drives weights to 1e6 and beyond while clamped likelihoods keep the loss finite (a VAE from a
first batch at 387 nats: 4e8 in its first epoch at ``--lr 1``, 8e6 at ``--lr 0.02``, i.e. 2e4
times). A run that learns stays far below the bound: its loss falls, except with a large KL
weight, where the first epoch's mean is 5-10 times the first batch's (``--beta`` 1e3 to 1e6: the
KL, near 0 at initialisation, grows for a few Adam steps before it collapses; up to 64 times on
256 images in batches of 32), hence 1000 rather than 100."""


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopConfig:
    """The training loop's options; a topic embeds it in its own config."""

    epochs: int = 10
    """passes over the training data"""
    batch_size: int = 128
    """examples per optimiser step"""
    drop_last: bool = False
    """skip each epoch's last batch when it is smaller than --batch-size"""
    eval_every: int = 1
    """evaluate every this many epochs (0: only at the end); the last epoch is always evaluated"""
    checkpoint_every: int = 1
    """write the checkpoint every this many epochs (0: only at the end)"""
    max_steps: int | None = None
    """stop after this many optimiser steps, mid-epoch if need be; None: no step budget"""
    clip_grad_norm: float | None = None
    """rescale gradients to at most this global L2 norm before each step; None: no clipping"""
    compile: bool = False
    """compile the loss and its gradient with torch.compile (on CUDA replayed as CUDA graphs,
    without per-kernel launch costs); the first steps pay the compilation (seconds)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("epochs", self.epochs, 1)
        check_range("batch_size", self.batch_size, 1)
        check_range("eval_every", self.eval_every, 0)
        check_range("checkpoint_every", self.checkpoint_every, 0)
        if self.max_steps is not None:
            check_range("max_steps", self.max_steps, 1)
        if self.clip_grad_norm is not None:
            check_range("clip_grad_norm", self.clip_grad_norm, 0, low_open=True)

    def steps_per_epoch(self, examples: int) -> int:
        """Optimiser steps in one full epoch over ``examples`` examples."""
        if self.drop_last:
            return examples // self.batch_size
        return math.ceil(examples / self.batch_size)


# ---------------------------------------------------------------------------------------------
# What the loop keeps: history and generator, both checkpoint parts
# ---------------------------------------------------------------------------------------------


@dataclass
class History:
    """What :func:`fit` has done; returned by it and saved in every checkpoint."""

    rows: list[dict[str, float]] = field(default_factory=list)
    """one row per epoch, as logged: ``epoch`` and the ``train/``, ``eval/``, ``time/`` values"""
    epoch: int = 0
    """epochs finished (an epoch cut short by the step budget counts)"""
    step: int = 0
    """optimiser steps taken"""
    stopped: Literal["epochs", "max_steps", "callback"] | None = None
    """why training ended, or None while it has not"""
    train_seconds: float = 0.0
    """time spent training (evaluation and checkpoints excluded), over all sessions of the run"""
    eval_seconds: float = 0.0
    """time spent evaluating, over all sessions of the run"""
    first_loss: float | None = None
    """the loss of the run's first batch, before its first step (the divergence check's scale)"""

    def column(self, name: str) -> list[float | None]:
        """The values of metric ``name``, one per epoch (None where it was not logged)."""
        return [row.get(name) for row in self.rows]

    @property
    def final_eval(self) -> dict[str, float]:
        """The last evaluation's values, without the ``eval/`` prefix ({} if none ran)."""
        for row in reversed(self.rows):
            found = {k.removeprefix("eval/"): v for k, v in row.items() if k.startswith("eval/")}
            if found:
                return found
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "rows": [dict(row) for row in self.rows],
            "epoch": self.epoch,
            "step": self.step,
            "stopped": self.stopped,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "first_loss": self.first_loss,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rows = [dict(row) for row in state["rows"]]
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.stopped = state["stopped"]
        self.train_seconds = float(state["train_seconds"])
        self.eval_seconds = float(state["eval_seconds"])
        self.first_loss = state.get("first_loss")  # older checkpoints lack it


class TorchRNG:
    """A :class:`torch.Generator` (CPU or CUDA) as a checkpoint part."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        self.generator.set_state(state["state"])


# ---------------------------------------------------------------------------------------------
# One step, one epoch, one evaluation
# ---------------------------------------------------------------------------------------------


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    batch: Batch,
    clip_grad_norm: float | None = None,
) -> tuple[Tensor, tuple[str, ...]]:
    """One optimiser step on one batch, without reading anything back to the host.

    Kept small and free of loop state; ``loss_fn`` may be its :func:`compiled_loss` form.

    Returns:
        ``(stats, names)``: stats (1 + M,) detached, the loss then the M metrics of ``loss_fn``,
        whose names are ``names``.
    """
    # Gradients are dropped before the forward pass: with a compiled loss replayed as a CUDA
    # graph, the last step's gradients live in the graph's memory, which the replay reuses.
    optimizer.zero_grad(set_to_none=True)
    loss, metrics = loss_fn(model, batch)
    loss.backward()
    if clip_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    stats = torch.stack([loss.detach(), *(value.detach() for value in metrics.values())])
    return stats, tuple(metrics)


def compiled_loss(loss_fn: LossFn, device: torch.device) -> LossFn:
    """``loss_fn`` compiled with ``torch.compile`` for ``device`` (forward and backward).

    On CUDA the mode is ``reduce-overhead``: the forward and the backward pass are each captured
    once as a CUDA graph and replayed, a few launches instead of hundreds. The optimiser step
    stays outside (rlgen's Adam is fused: one kernel), so a learning-rate schedule changes
    nothing compiled. Shapes are static (``dynamic=False``): an epoch's smaller last batch
    compiles a second version, once. The loop reads each step's outputs (adds them to the
    epoch's sums) before the next step replaces them, as replayed graphs require.
    """
    mode = "reduce-overhead" if device.type == "cuda" else None

    def own(model: nn.Module, batch: Batch) -> tuple[Tensor, Mapping[str, Tensor]]:
        return loss_fn(model, batch)

    # A code object of its own: torch.compile keeps the versions it compiles per code object,
    # up to its recompile limit (8); shared by every fit of the same loss_fn in a process (a
    # sweep's models of other shapes in one worker), a fit past the limit silently ran eager.
    own.__code__ = own.__code__.replace()
    compiled = torch.compile(own, mode=mode, dynamic=False)

    def call(model: nn.Module, batch: Batch) -> tuple[Tensor, Mapping[str, Tensor]]:
        try:
            return compiled(model, batch)
        except torch._dynamo.exc.BackendCompilerFailed as e:  # e.g. no C++ compiler on CPU
            cause = getattr(e, "inner_exception", e)
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise UserError(
                f"--compile: torch.compile failed ({first}); leave out --compile"
            ) from None

    return call


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    tensors: Batch,
    config: LoopConfig,
    generator: torch.Generator,
    *,
    steps: int,
    transform: Transform | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> tuple[dict[str, float], float]:
    """Up to ``steps`` optimiser steps over one shuffled pass of ``tensors``.

    Args:
        tensors: the dataset, each (N, ...) on the generator's device.
        steps: how many batches of this epoch to train on (fewer than a full epoch when the step
            budget runs out).
        scheduler: stepped after every optimiser step (per-epoch schedulers are stepped by
            :func:`fit`).

    Returns:
        ``(means, first)``: ``train/loss`` and ``train/<metric>``, means over the epoch's
        examples (each batch weighted by its size), and the loss of the epoch's first batch
        (computed before its step), all read from the device once.
    """
    examples = tensors[0].shape[0]
    order = torch.randperm(examples, generator=generator, device=generator.device)  # (N,)
    if transform is not None:
        tensors = transform(tensors, generator)
    model.train()
    sums: Tensor | None = None  # (1 + M,) on the device, float64 whatever the loss's dtype
    first: Tensor | None = None  # (1,) the first batch's loss
    names: tuple[str, ...] = ()
    seen = 0
    for i in range(steps):
        size = min(config.batch_size, examples - i * config.batch_size)
        index = order[i * config.batch_size : i * config.batch_size + size]  # (B,)
        stats, step_names = train_step(
            model, optimizer, loss_fn, tuple(t[index] for t in tensors), config.clip_grad_norm
        )
        if sums is None:
            sums = torch.zeros(stats.shape, dtype=torch.float64, device=stats.device)
            first = stats[:1].double()
            names = step_names
        elif step_names != names:
            raise ValueError(f"loss_fn returned metrics {step_names}, earlier {names}")
        sums.add_(stats, alpha=size)
        seen += size
        if scheduler is not None:
            scheduler.step()
    assert sums is not None and first is not None, "an epoch takes at least one step"
    taken = {"loss", "lr", "steps"} & set(names)
    if taken:
        raise ValueError(f"loss_fn metrics may not be named {sorted(taken)}: the loop logs those")
    first_loss, loss, *means = torch.cat([first, sums / seen]).tolist()  # one synchronisation
    row = {"train/loss": loss} | {f"train/{n}": v for n, v in zip(names, means, strict=True)}
    return row, first_loss


def run_evaluation(model: nn.Module, evaluate: Evaluate) -> dict[str, float]:
    """``evaluate(model)`` under ``torch.no_grad()`` and ``model.eval()``, as ``eval/<name>``."""
    model.eval()
    try:
        with torch.no_grad():
            values = evaluate(model)
    finally:
        model.train()
    return {f"eval/{name}": float(value) for name, value in values.items()}


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    data: Sequence[Tensor],
    config: LoopConfig,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: Literal["epoch", "step"] = "epoch",
    transform: Transform | None = None,
    evaluate: Evaluate | None = None,
    on_epoch: OnEpoch | None = None,
    metrics: MetricsWriter | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_parts: Mapping[str, Stateful] | None = None,
    checkpoint_kind: str = CHECKPOINT_KIND,
    resume: bool = False,
    lr_option: str = "--lr",
    quiet: bool = False,
    desc: str = "train",
) -> History:
    """Train ``model`` on in-memory ``data`` for ``config.epochs`` epochs (or its step budget).

    Args:
        model: the network; moved to ``device`` (build the optimiser on its parameters first or
            after, either works).
        optimizer: steps ``model``'s parameters.
        loss_fn: ``loss_fn(model, batch) -> (loss, metrics)``; ``batch`` holds one (B, ...) slice
            of each tensor of ``data``; ``loss`` is the batch mean, ``metrics`` 0-d tensors.
        data: tensors with the same first dimension N, e.g. images (N, 1, 28, 28) and labels (N,).
        config: epochs, batch size, evaluation / checkpoint cadence, step budget, clipping.
        seed: seeds the loop's generator (shuffling and ``transform``). torch's global RNG (model
            initialisation, dropout) is the caller's to seed.
        device: where the data lives and the model trains (``runs.resolve_device`` gives it).
        scheduler: a learning-rate scheduler whose ``step()`` takes no argument.
        scheduler_interval: step the scheduler after every ``"epoch"`` or every ``"step"``.
        transform: ``transform(tensors, generator) -> tensors``, called at the start of every
            epoch on the original tensors; its draws from ``generator`` are saved and resumed.
        evaluate: ``evaluate(model) -> {name: value}``, every ``config.eval_every`` epochs and
            after the last, under ``torch.no_grad()`` with ``model.eval()``.
        on_epoch: called with each epoch's row before it is logged; returning False stops
            training (that epoch is then evaluated, if it was not already). Whatever state it
            keeps must go in ``checkpoint_parts`` for an exact resume.
        metrics: the run's writer (index ``epoch``), or None.
        checkpoint: the checkpoint file, or None for none.
        checkpoint_parts: more parts to save with the loop's (``model``, ``optimizer``,
            ``scheduler``, ``generator``, ``rng``, ``loop``).
        checkpoint_kind: stored in the checkpoint and checked when it is loaded.
        resume: continue from ``checkpoint`` if it exists (else start afresh); rows of
            ``metrics`` after the checkpoint's epoch are dropped.
        lr_option: the option the non-finite-loss message tells the user to lower.
        quiet: no progress bar.
        desc: the progress bar's label.

    Returns:
        The :class:`History`: one row per epoch, counters, why training stopped.

    Raises:
        NonFiniteLoss: an epoch's mean loss, or a parameter after the epoch, was NaN or
            infinite (the checkpoint on disk is the last one written before it, untouched).
        DivergedLoss: (a NonFiniteLoss) an epoch's mean loss rose beyond
            :data:`DIVERGENCE_FACTOR` times the first batch's; the checkpoint is kept the same way.
        UserError: ``drop_last`` with fewer examples than one batch.
    """
    device = torch.device(device)
    tensors = _on_device(data, device)
    steps_per_epoch = _steps_per_epoch(config, tensors[0].shape[0])
    budget = config.epochs * steps_per_epoch  # optimiser steps in all
    if config.max_steps is not None:
        budget = min(budget, config.max_steps)
    if metrics is not None and metrics.index != "epoch":
        raise ValueError("fit logs one row per epoch: give a MetricsWriter with index 'epoch'")
    model.to(device)
    if config.compile:
        loss_fn = compiled_loss(loss_fn, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    history = History()
    saver = None
    if checkpoint is not None:
        parts: dict[str, Stateful] = {"model": model, "optimizer": optimizer}
        parts |= {"scheduler": scheduler} if scheduler is not None else {}
        parts |= {"generator": TorchRNG(generator), "rng": GlobalRNG(), "loop": history}
        parts |= checkpoint_parts or {}
        saver = _open_checkpoint(Checkpoint(checkpoint, parts, kind=checkpoint_kind), resume)
    if metrics is not None and resume:
        metrics.truncate_after(history.epoch)
    saved_epoch = history.epoch

    by_steps = config.max_steps is not None
    unit = "step" if by_steps else "epoch"
    with progress(
        total=budget if by_steps else config.epochs, desc=desc, quiet=quiet, unit=unit
    ) as bar:
        bar.update(history.step if by_steps else history.epoch)  # resumed: what is done
        while history.stopped is None:
            # TRAIN: one epoch, or what is left of the step budget
            epoch, steps = history.epoch + 1, min(steps_per_epoch, budget - history.step)
            group = optimizer.param_groups[0]
            lr = float(group["lr"])  # this epoch's, logged
            given_lr = float(group.get("initial_lr", lr))  # as given (a schedule keeps it)
            start = time.perf_counter()
            train, first_loss = train_epoch(
                model,
                optimizer,
                loss_fn,
                tensors,
                config,
                generator,
                steps=steps,
                transform=transform,
                scheduler=scheduler if scheduler_interval == "step" else None,
            )
            seconds = time.perf_counter() - start
            finite_loss = math.isfinite(train["train/loss"])
            if not finite_loss or not _finite_parameters(model):  # never checkpoint NaN weights
                message = _non_finite_message(
                    epoch, train, given_lr, lr_option, saver, saved_epoch, finite_loss=finite_loss
                )
                raise NonFiniteLoss(message)
            if history.first_loss is None:
                history.first_loss = first_loss
            if _diverged(train["train/loss"], history.first_loss):
                message = _diverged_message(
                    epoch, train, history.first_loss, given_lr, lr_option, saver, saved_epoch
                )
                raise DivergedLoss(message)
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            _advance(history, config, steps=steps, seconds=seconds, budget=budget)
            row: dict[str, float] = {"epoch": epoch, **train, "train/lr": lr}
            row |= {"train/steps": history.step, "time/epoch_seconds": seconds}
            row |= {"time/train_seconds": history.train_seconds}

            # EVALUATE: on schedule, and after the last epoch (also one the callback makes last)
            evaluated = _due(epoch, config.eval_every) or history.stopped is not None
            if evaluate is not None and evaluated:
                row |= _timed_evaluation(model, evaluate, history)
            if on_epoch is not None and on_epoch(row) is False and history.stopped is None:
                history.stopped = "callback"
                if evaluate is not None and not evaluated:
                    row |= _timed_evaluation(model, evaluate, history)

            # LOG AND SAVE: the row first, so that a checkpoint never runs ahead of the metrics
            history.rows.append(row)
            if metrics is not None:
                metrics.log(epoch, {k: v for k, v in row.items() if k != "epoch"})
            if saver is not None and (
                _due(epoch, config.checkpoint_every) or history.stopped is not None
            ):
                saver.save()
                saved_epoch = epoch
            bar.update(steps if by_steps else 1)
            bar.set_postfix(loss=f"{train['train/loss']:.4g}", refresh=False)
    return history


def load_model(
    path: str | Path, model: nn.Module, *, kind: str = CHECKPOINT_KIND
) -> dict[str, Any]:
    """Load the model saved in a checkpoint written by :func:`fit` into ``model`` (weights only).

    Returns:
        The checkpoint's other parts' raw states, by name (``loop`` holds the history).
    """
    saved = Checkpoint(path, {"model": model}, kind=kind)
    state = saved.read()
    saved.load()
    return {name: part for name, part in state["parts"].items() if name != "model"}


# ---------------------------------------------------------------------------------------------
# Small helpers of fit
# ---------------------------------------------------------------------------------------------


def _on_device(data: Sequence[Tensor], device: torch.device) -> Batch:
    """The data tensors on ``device`` (copied once, if they are not there already)."""
    tensors = tuple(data)
    if not tensors:
        raise ValueError("fit needs at least one data tensor")
    sizes = {t.shape[0] if t.dim() else None for t in tensors}
    if len(sizes) != 1 or None in sizes or 0 in sizes:
        raise ValueError(f"data tensors need one non-zero first dimension, got {sizes}")
    return tuple(t.to(device) for t in tensors)


def _steps_per_epoch(config: LoopConfig, examples: int) -> int:
    steps = config.steps_per_epoch(examples)
    if steps == 0:
        raise UserError(
            f"--batch-size {config.batch_size} is more than the {examples} training examples "
            "and --drop-last leaves no batch; lower --batch-size"
        )
    return steps


def _open_checkpoint(saver: Checkpoint, resume: bool) -> Checkpoint:
    """Restore every part from ``saver`` when resuming from it, else write it at epoch 0.

    The epoch-0 checkpoint makes a run killed before its first scheduled checkpoint resume from
    the state it started in (its initialisation included), not from a new one.
    """
    if resume and saver.exists():
        saver.load()
    else:
        saver.save()
    return saver


def _advance(
    history: History, config: LoopConfig, *, steps: int, seconds: float, budget: int
) -> None:
    """Count a finished epoch of ``steps`` steps in ``history``; say if it was the last."""
    history.epoch += 1
    history.step += steps
    history.train_seconds += seconds
    if history.epoch == config.epochs:
        history.stopped = "epochs"
    elif history.step >= budget:
        history.stopped = "max_steps"


def _due(epoch: int, every: int) -> bool:
    """Whether an every-``every``-epochs event falls on ``epoch`` (``every`` 0: never)."""
    return every > 0 and epoch % every == 0


def _timed_evaluation(model: nn.Module, evaluate: Evaluate, history: History) -> dict[str, float]:
    start = time.perf_counter()
    values = run_evaluation(model, evaluate)
    seconds = time.perf_counter() - start
    history.eval_seconds += seconds
    return values | {"time/eval_seconds": seconds}


def _finite_parameters(model: nn.Module) -> bool:
    """Whether every parameter of ``model`` is finite (one host synchronisation).

    A step whose loss is finite can still leave NaN weights (a NaN or infinite gradient, e.g.
    of ``sqrt`` at 0, in the epoch's last step); the epoch's mean loss does not show it.
    """
    flags = [p.detach().isfinite().all() for p in model.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


def _diverged(loss: float, first_loss: float) -> bool:
    """Whether an epoch's mean ``loss`` is beyond the divergence bound set by ``first_loss``."""
    return loss > first_loss + DIVERGENCE_FACTOR * max(abs(first_loss), 1.0)


def _diverged_message(
    epoch: int,
    train: Mapping[str, float],
    first_loss: float,
    lr: float,
    lr_option: str,
    saver: Checkpoint | None,
    saved_epoch: int,
) -> str:
    kept = f"; {saver.path} still holds epoch {saved_epoch}" if saver is not None else ""
    return (
        f"training diverged: the loss rose from {first_loss:.4g} (first batch) to "
        f"{train['train/loss']:.4g} in epoch {epoch}: lower {lr_option} (it is {lr:g}){kept}"
    )


def _non_finite_message(
    epoch: int,
    train: Mapping[str, float],
    lr: float,
    lr_option: str,
    saver: Checkpoint | None,
    saved_epoch: int,
    *,
    finite_loss: bool = False,
) -> str:
    kept = f"; {saver.path} still holds epoch {saved_epoch}" if saver is not None else ""
    what = (
        f"the model's parameters became NaN or infinite in epoch {epoch} (the loss was "
        f"finite, a gradient was not)"
        if finite_loss
        else f"the training loss became {train['train/loss']} in epoch {epoch}"
    )
    return f"{what}: lower {lr_option} (it is {lr:g}){kept}"
