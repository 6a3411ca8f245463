"""The search loop: propose a batch, train the children as independent jobs, learn, repeat.

The lecture's picture: the controller (the agent) samples architectures (actions); training
each child and measuring it on held-out validation images is the environment; the reward trains
the controller. One iteration of :func:`run_search`, for batch k::

    archs = search.propose(m)                 # sample m architectures
    store.propose(k, archs, search.state)     # committed before any child trains
    for result in stream_jobs(run_trial, ...):  # local processes (kept), or Ray tasks
        store.finish(...) or store.fail(...)  # committed as each child finishes
    search.update(finished archs, rewards)    # one REINFORCE step
    store.complete_batch(k, search.state)     # committed with the update

A child is trained by :func:`train_child`: ``--child.steps`` steps of SGD (Nesterov momentum,
cosine schedule) on ``--child.train-images`` images through the shared loop
(:func:`rlgen.training.fit`), then scored on ``--child.val-images`` images held out of
Fashion-MNIST's training set (one fixed split, the same for every trial and seed; the test set
is never touched). A trial that raises (a non-finite loss, out of memory) or whose worker dies is
stored as failed with its error; the search goes on, and the controller learns from the batch's
other trials.

``--task synthetic`` replaces the child by a known reward: the share of decisions agreeing with
a hidden target architecture (drawn from the seed), plus Gaussian noise. It checks the
controller's mechanics in seconds.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlgen.errors import UserError, check_config_types, check_range
from rlgen.executors import ExecutorOptions, JobResult, LocalPool, job_device, stream_jobs
from rlgen.nas.controller import Search, UpdateInfo
from rlgen.nas.rewards import RewardConfig, agreement
from rlgen.nas.spaces import Architecture, SearchSpace
from rlgen.nas.store import Trial, TrialStore

SPLIT_SEED = 20_240_610
"""Seeds the one train / validation split of Fashion-MNIST's training set used by every trial."""

DATASET = "fashion-mnist"


@dataclass(frozen=True)
class ChildConfig:
    """How each child is built and trained: the proxy task a search scores architectures on."""

    filters: int = 8
    """nasnet: C, filters of the first stage (doubled at each reduction); mnas: the stem's
    filters (the base table is scaled by filters / 16)"""
    cells: int = 1
    """nasnet: N, normal cells per stage"""
    train_images: int = 2000
    """training images (a fixed subset of Fashion-MNIST's training set)"""
    val_images: int = 1000
    """validation images, held out of the training set (never the test set)"""
    steps: int = 60
    """SGD steps per child (the proxy budget)"""
    batch_size: int = 64
    """images per SGD step"""
    lr: float = 0.05
    """initial learning rate (Nesterov momentum 0.9, cosine decay to 0 over --child.steps)"""
    weight_decay: float = 3e-4
    """L2 weight decay"""
    recalibration_images: int = 500
    """training images whose batch statistics replace batch norm's running averages before
    validation (0: keep the running averages)"""

    def __post_init__(self) -> None:
        check_config_types(self, "child.")
        check_range("child.filters", self.filters, 1, 1024)
        check_range("child.cells", self.cells, 1, 16)
        check_range("child.train_images", self.train_images, 1)
        check_range("child.val_images", self.val_images, 1)
        check_range("child.steps", self.steps, 1)
        check_range("child.batch_size", self.batch_size, 1)
        check_range("child.lr", self.lr, 0, low_open=True)
        check_range("child.weight_decay", self.weight_decay, 0)
        check_range("child.recalibration_images", self.recalibration_images, 0)


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to evaluate one architecture (plain, picklable data)."""

    trial: int
    seed: int
    """the search's seed; the child's own seed is derived from it and the trial number"""
    space: dict[str, Any]
    """the space's spec (:attr:`SearchSpace.spec`)"""
    architecture: Architecture
    task: str
    """fashion-mnist, or synthetic"""
    child: ChildConfig
    data_dir: str | None
    device: str
    """auto, cpu or cuda (a device the executor gives the job wins)"""
    threads: int = 1
    """torch threads for the job"""
    target: Architecture | None = None
    """synthetic: the hidden target architecture"""
    noise: float = 0.05
    """synthetic: standard deviation of the reward noise"""
    latency: bool = True
    """measure the forward latency of one image"""
    test: bool = False
    """also score the trained child on the test set (train-best only; a search never does)"""

    @property
    def child_seed(self) -> int:
        return int(np.random.SeedSequence([self.seed, self.trial]).generate_state(1)[0])


# ---------------------------------------------------------------------------------------------
# One trial (runs in a worker)
# ---------------------------------------------------------------------------------------------


def run_trial(job: TrialJob) -> dict[str, Any]:
    """Evaluate one architecture; returns its ``accuracy`` and metrics (cost, timings, device)."""
    if job.task == "synthetic":
        return synthetic_trial(job)
    return train_child(job)


def synthetic_trial(job: TrialJob) -> dict[str, Any]:
    """Agreement with the hidden target plus N(0, noise^2): a reward with a known optimum."""
    assert job.target is not None
    rng = np.random.default_rng([job.seed, job.trial, 7])
    value = agreement(job.architecture, job.target) + job.noise * rng.standard_normal()
    return {"accuracy": float(value), "agreement": agreement(job.architecture, job.target)}


@dataclass(frozen=True)
class ProxyData:
    """The fixed split: training subset and held-out validation images, normalised."""

    x: Any
    """(train_images, 1, 28, 28) float32"""
    y: Any
    """(train_images,) int64"""
    x_val: Any
    y_val: Any
    mean: float
    """pixel mean and standard deviation of the training subset (used to normalise)"""
    std: float


@functools.lru_cache(maxsize=2)
def child_data(data_dir: str | None, train_images: int, val_images: int) -> ProxyData:
    """The fixed train / validation split of Fashion-MNIST's training set, as CPU tensors.

    Validation is the last ``val_images`` of one fixed permutation (:data:`SPLIT_SEED`), training
    its first ``train_images``: disjoint, and the same for every trial and every seed. Cached per
    process: a worker loads the data once for all the trials it runs.
    """
    import torch

    from rlgen.data import load

    images, labels = load(DATASET, "train", data_dir=data_dir)
    n = len(images)
    if train_images + val_images > n:
        raise UserError(
            f"--child.train-images {train_images} + --child.val-images {val_images} is more than "
            f"the {n} training images of {DATASET}"
        )
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    train, val = order[:train_images], order[n - val_images :]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    mean, std = float(x[train].mean()), float(x[train].std())
    x = (x - mean) / std
    return ProxyData(x[train], y[train], x[val], y[val], mean, std)


def load_test_split(data_dir: str | None, mean: float, std: float) -> tuple[Any, Any]:
    """Fashion-MNIST's test set, normalised like the training subset (train-best only)."""
    import torch

    from rlgen.data import load

    images, labels = load(DATASET, "test", data_dir=data_dir)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - mean) / std, torch.from_numpy(labels.astype(np.int64))


def accuracy(model: Any, x: Any, y: Any, batch: int = 256) -> float:
    """Share of ``x`` (N, 1, 28, 28) that ``model`` classifies as ``y`` (N,), in eval mode.

    Batches of 256: on CPU twice as fast as 1,000 (the activations stay in cache).
    """
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i : i + batch]).argmax(dim=1) == y[i : i + batch]).sum())
    return correct / len(x)


def recalibrate_batch_norm(model: Any, x: Any, batch: int = 256) -> None:
    """Recompute every batch norm's running statistics on ``x`` with the final weights.

    After a short proxy training the running averages (momentum 0.1) still remember the early,
    quickly changing weights, and the network scores near chance in eval mode; averaging the
    batch statistics of a pass over training images fixes that (the usual remedy of proxy and
    one-shot architecture search).
    """
    import torch
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [(m, m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the pass
        m.train()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch):
                model(x[i : i + batch])
    finally:
        for m, momentum, training in saved:
            m.momentum = momentum
            m.train(training)


def train_child(job: TrialJob) -> dict[str, Any]:
    """Build the child, count its cost, train it on the proxy task, score it on validation."""
    import torch
    import torch.nn.functional as F

    from rlgen.nas.children import ChildShape, build_child
    from rlgen.nas.rewards import count_flops, latency_ms
    from rlgen.runs import resolve_device
    from rlgen.training import LoopConfig, fit

    # at most the cores of the machine the job runs on (a Ray node's: the job's own count was
    # checked against this machine's only for local workers)
    torch.set_num_threads(max(1, min(job.threads, os.cpu_count() or 1)))
    device = job_device() or resolve_device(job.device)
    c = job.child
    data = child_data(job.data_dir, c.train_images, c.val_images)
    x, y = data.x, data.y
    torch.manual_seed(job.child_seed)
    space = SearchSpace.from_spec(job.space)
    model = build_child(space, job.architecture, ChildShape(c.filters, c.cells)).to(device)
    cost = count_flops(model)
    # channels-last: 1.5x faster training of these small-channel children on CPU (pooling and
    # convolutions); images have one channel, so the data needs no conversion
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(
        model.parameters(), lr=c.lr, momentum=0.9, nesterov=True, weight_decay=c.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.steps)
    per_epoch = math.ceil(c.train_images / c.batch_size)
    loop = LoopConfig(
        epochs=math.ceil(c.steps / per_epoch),
        batch_size=c.batch_size,
        eval_every=0,
        checkpoint_every=0,
        max_steps=c.steps,
    )
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)

    def evaluate(net: torch.nn.Module) -> float:
        if c.recalibration_images > 0:
            recalibrate_batch_norm(net, x[: c.recalibration_images].to(device))
        return accuracy(net, x_val, y_val)

    def loss_fn(net: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[Any, dict]:
        images, labels = batch
        return F.cross_entropy(net(images), labels), {}

    history = fit(
        model,
        optimizer,
        loss_fn,
        (x, y),
        loop,
        seed=job.child_seed,
        device=device,
        scheduler=scheduler,
        scheduler_interval="step",
        evaluate=lambda net: {"accuracy": evaluate(net)},
        quiet=True,
        lr_option="--child.lr",
    )
    last = history.rows[-1]
    scores: dict[str, Any] = {}
    if job.test:
        x_test, y_test = load_test_split(job.data_dir, data.mean, data.std)
        model.eval()
        with torch.no_grad():
            scores["test_accuracy"] = accuracy(model, x_test.to(device), y_test.to(device))
    return scores | {
        "accuracy": float(history.final_eval["accuracy"]),
        "macs": cost.macs,
        "flops": cost.flops,
        "params": cost.params,
        "latency_ms": latency_ms(model) if job.latency else None,
        "train_loss": float(last["train/loss"]),
        "steps": history.step,
        "train_seconds": history.train_seconds,
        "eval_seconds": history.eval_seconds,
        "device": str(device),
    }


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The fixed settings of a search's loop."""

    trials: int
    batch: int
    reward: RewardConfig
    options: ExecutorOptions

    @property
    def batches(self) -> int:
        return math.ceil(self.trials / self.batch)

    def batch_size(self, k: int) -> int:
        return min(self.batch, self.trials - k * self.batch)


OnTrial = Callable[[Trial], None]
OnBatch = Callable[[int, UpdateInfo | None], None]


def run_search(
    search: Search,
    store: TrialStore,
    plan: Plan,
    make_job: Callable[[int, Architecture], TrialJob],
    *,
    trial_fn: Callable[[TrialJob], dict[str, Any]] = run_trial,
    on_trial: OnTrial | None = None,
    on_batch: OnBatch | None = None,
) -> None:
    """Run (or continue) the search stored in ``store`` until ``plan.trials`` are done.

    Continues from the stored controller state and reruns only the trials of the current batch
    that are not done (a resumed search).
    """
    state = store.controller_state()
    if state is not None:
        search.load_state_dict(state)
    # local workers stay up from batch to batch (no new processes, imports, data loads)
    workers = plan.options.local_workers(plan.batch)
    with LocalPool(plan.options, size=workers) as pool:
        for k in range(store.batches_done(), plan.batches):
            # PROPOSE: sample the batch (unless a resumed search already stored it)
            if not store.trials(batch=k):
                archs = search.propose(plan.batch_size(k))
                store.propose(k, archs, search.state_dict())
            todo = [t for t in store.trials(batch=k) if not t.done]

            # EVALUATE: each child an independent job, each result committed as it comes
            if todo:
                store.start([t.id for t in todo])
                jobs = [make_job(t.id, t.architecture) for t in todo]
                stream = stream_jobs(
                    trial_fn, jobs, plan.options, desc="trials", quiet=True, pool=pool
                )
                try:
                    for result in stream:
                        trial = _record(store, plan.reward, result)
                        if on_trial is not None:
                            on_trial(trial)
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()

            # LEARN: one controller update from the batch's finished trials
            finished = store.trials(batch=k, status="finished")
            rewards = [float(t.reward or 0) for t in finished]
            info = search.update([t.architecture for t in finished], rewards)
            store.complete_batch(k, search.state_dict(), info.metrics() if info else {})
            if on_batch is not None:
                on_batch(k, info)


def _record(store: TrialStore, reward: RewardConfig, result: JobResult[TrialJob, Any]) -> Trial:
    """Store one job's result as a finished or failed trial; returns the stored trial."""
    job = result.job
    if result.ok:
        metrics = dict(result.result or {})
        try:
            value = reward(float(metrics["accuracy"]), metrics.get("macs"))
            if not math.isfinite(value):
                raise ValueError(f"the reward is {value}")
        except (KeyError, ValueError, TypeError, ArithmeticError) as e:
            store.fail(
                job.trial,
                error=f"no reward: {e}",
                traceback="",
                worker=result.worker,
                started=result.started,
                finished=result.finished,
                metrics=metrics,
            )
        else:
            store.finish(
                job.trial,
                reward=value,
                accuracy=float(metrics["accuracy"]),
                metrics=metrics,
                worker=result.worker,
                started=result.started,
                finished=result.finished,
            )
    else:
        assert result.error is not None
        store.fail(
            job.trial,
            error=str(result.error),
            traceback=result.error.traceback,
            worker=result.worker,
            started=result.started,
            finished=result.finished,
        )
    return store.trial(job.trial)


def last_quarter_mean(rewards: Sequence[float]) -> float:
    """Mean reward of the last quarter of the trials (at least one)."""
    if not rewards:
        return math.nan
    q = max(1, len(rewards) // 4)
    return float(np.mean(rewards[-q:]))
