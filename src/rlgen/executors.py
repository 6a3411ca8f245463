"""Map a function over independent jobs: local processes (default) or a Ray cluster.

Independent jobs are the seeds of a sweep or the child trainings of an architecture search. They
share nothing, so the same code runs them in this process (``workers=1``, handy for debugging and
tests), in a pool of local processes, or as Ray tasks on a cluster::

    results = map_jobs(train_one_seed, seeds, executor="ray", ray_address="auto")

``fn`` and each job must be picklable (a module-level function and plain data). Results come back
in job order whatever order the jobs finish in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from rlgen.errors import UserError, check_choice
from rlgen.runs import progress

J = TypeVar("J")
R = TypeVar("R")

ExecutorName = Literal["local", "ray"]


@dataclass(frozen=True)
class ExecutorOptions:
    """Where independent jobs run; topics that run many jobs take these options."""

    executor: ExecutorName = "local"
    """local: a pool of processes on this machine; ray: tasks on a Ray cluster"""
    workers: int | None = None
    """local processes at once (default: one per CPU core, at most one per job); 1 runs the jobs
    one after another in this process"""
    ray_address: str | None = None
    """address of a running Ray cluster (e.g. auto or ray://host:10001); None starts a local one"""

    def __post_init__(self) -> None:
        check_choice("executor", self.executor, ("local", "ray"))
        if self.workers is not None and self.workers < 1:
            raise UserError(f"--workers must be >= 1, got {self.workers}")


def map_jobs(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    options: ExecutorOptions | None = None,
    *,
    desc: str = "jobs",
    quiet: bool = False,
) -> list[R]:
    """``[fn(job) for job in jobs]``, run as the options say, with a progress bar.

    Raises:
        UserError: Ray was asked for but is not installed or cannot connect.
        Exception: the first exception a job raised (the others are cancelled where possible).
    """
    options = options or ExecutorOptions()
    if not jobs:
        return []
    if options.executor == "ray":
        return _map_ray(fn, jobs, options, desc=desc, quiet=quiet)
    workers = options.workers or min(len(jobs), os.cpu_count() or 1)
    if workers == 1:
        return [fn(job) for job in progress(jobs, desc=desc, quiet=quiet, total=len(jobs))]
    return _map_local(fn, jobs, workers, desc=desc, quiet=quiet)


def _map_local(
    fn: Callable[[J], R], jobs: Sequence[J], workers: int, *, desc: str, quiet: bool
) -> list[R]:
    import multiprocessing

    # spawn, not fork: a forked child of a process that already runs torch threads can deadlock.
    context = multiprocessing.get_context("spawn")
    results: dict[int, R] = {}
    with (
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        progress(total=len(jobs), desc=desc, quiet=quiet) as bar,
    ):
        pending: dict[Future[R], int] = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                results[index] = future.result()
                bar.update(1)
    return [results[i] for i in range(len(jobs))]


def _call(fn: Callable[[J], R], job: J) -> R:
    return fn(job)


def _map_ray(
    fn: Callable[[J], R], jobs: Sequence[J], options: ExecutorOptions, *, desc: str, quiet: bool
) -> list[R]:
    try:
        import ray
    except ImportError:
        raise UserError(
            "--executor ray: Ray is not installed; install it with pip install 'rlgen[ray]'"
        ) from None
    if not ray.is_initialized():
        try:
            ray.init(
                address=options.ray_address,
                ignore_reinit_error=True,
                log_to_driver=False,
                include_dashboard=False,
            )
        except ConnectionError as e:
            raise UserError(f"--ray-address {options.ray_address}: cannot connect ({e})") from None
    remote: Any = ray.remote(_call)  # a plain function: ray.remote refuses builtins like math.sqrt
    refs = [remote.remote(fn, job) for job in jobs]
    index = {ref: i for i, ref in enumerate(refs)}
    results: dict[int, R] = {}
    waiting = list(refs)
    with progress(total=len(jobs), desc=desc, quiet=quiet) as bar:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                results[index[ref]] = ray.get(ref)
                bar.update(1)
    return [results[i] for i in range(len(jobs))]
