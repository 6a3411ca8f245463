"""Run independent jobs in local processes or on Ray; results stream back as each job finishes.

Independent jobs are the seeds of a sweep or the child trainings of an architecture search. They
share nothing, so the same code runs them in this process (``workers=1``, handy for debugging),
in a pool of local processes (the default), or as Ray tasks on a cluster. :func:`stream_jobs`
yields a :class:`JobResult` as each job finishes, so the caller can store it at once; a job that
raises, or whose worker process dies (``os._exit``, a segfault, the OOM killer), comes back as a
failure while the other jobs go on::

    options = ExecutorOptions(workers=4)  # or executor="ray", gpus_per_job=0.25
    check_available(options)  # Ray missing or unreachable: UserError, before any work starts
    for trial in stream_jobs(train_child, architectures, options, desc="trials"):
        if trial.ok:
            store.add(trial.job, trial.result, seconds=trial.finished - trial.started)
        else:
            store.add_failure(trial.job, str(trial.error), trial.error.traceback)

:func:`map_jobs` is the simple form on top: ``[fn(job) for job in jobs]`` in job order, raising the
first failure.

``fn`` and each job must be picklable (a module-level function and plain data) unless the jobs run
in this process. Local workers are fresh ``spawn`` processes (a forked child of a process that
already runs torch threads can deadlock), each holding one job at a time, so a dead worker names
the job it held; it is replaced and the pool goes on. A job learns its device from
:func:`job_device` (``--worker-devices`` locally, the GPU Ray gave it with ``--gpus-per-job``).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from rlgen.errors import UserError, check_choice, check_config_types, check_range, option_name

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnContext, SpawnProcess

J = TypeVar("J")
R = TypeVar("R")

ExecutorName = Literal["local", "ray"]

DEVICE_VARIABLE = "RLGEN_JOB_DEVICE"
"""The environment variable through which a worker tells its jobs their device."""

RAY_INSTALL = "install the ray extra: pip install -e '.[ray]' in the rlgen checkout"


@dataclass(frozen=True)
class ExecutorOptions:
    """Where independent jobs run and what each may use; topics that run many jobs take these."""

    executor: ExecutorName = "local"
    """local: a pool of processes on this machine; ray: tasks on a Ray cluster"""
    workers: int | None = None
    """local processes at once; None: the CPU cores divided by --cpus-per-job, at most one per
    job; 1 runs the jobs one after another in this process"""
    ray_address: str | None = None
    """address of a running Ray cluster (auto, HOST:PORT or ray://HOST:PORT); None starts a local
    one"""
    cpus_per_job: float = 1.0
    """CPU cores one job uses: each Ray task reserves this many (fractions allowed); local: sets
    the default --workers"""
    gpus_per_job: float = 0.0
    """GPUs each Ray task reserves; a fraction shares one GPU (0.25: four jobs per GPU).
    Ray only; local workers take --worker-devices"""
    worker_devices: str | None = None
    """local workers: comma-separated devices dealt out in turn to the worker processes (e.g.
    cuda:0,cuda:1); a job reads its worker's with rlgen.executors.job_device()"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("executor", self.executor, ("local", "ray"))
        if self.workers is not None:
            check_range("workers", self.workers, 1)
        check_range("cpus_per_job", self.cpus_per_job, 0, low_open=True)
        check_range("gpus_per_job", self.gpus_per_job, 0)
        if self.executor == "local":
            if self.gpus_per_job > 0:
                raise UserError(
                    "--gpus-per-job is for --executor ray; local workers take --worker-devices"
                )
            if self.ray_address is not None:
                raise UserError("--ray-address needs --executor ray")
        else:
            if self.workers is not None:
                raise UserError(
                    "--workers is for local workers; Ray runs as many jobs at once as the "
                    "cluster has room for at --cpus-per-job / --gpus-per-job each"
                )
            if self.worker_devices is not None:
                raise UserError(
                    "--worker-devices is for local workers; Ray gives GPUs with --gpus-per-job"
                )
            if self.ray_address is not None:
                _ray_host_port(self.ray_address)
        if self.worker_devices is not None and not all(self.devices):
            raise UserError(
                f"--worker-devices: expected devices separated by commas, e.g. cuda:0,cuda:1, "
                f"got {self.worker_devices!r}"
            )
        if self.devices:
            import torch  # only here: the executors themselves need no torch

            for device in self.devices:
                try:
                    torch.device(device)
                except (RuntimeError, ValueError):
                    raise UserError(
                        f"--worker-devices: {device!r} is not a torch device (cpu, cuda, cuda:N)"
                    ) from None

    @staticmethod
    def saved_form(data: Mapping[str, Any]) -> Mapping[str, Any]:
        """A saved ExecutorOptions as this version accepts it (for
        :func:`rlgen.configs.config_from_dict`): a config.json from before --workers was refused
        beside --executor ray may hold both; Ray ignored --workers, so it is dropped and the run
        resumes as it ran."""
        if data.get("executor") == "ray" and data.get("workers") is not None:
            return {**data, "workers": None}
        return data

    @property
    def devices(self) -> tuple[str, ...]:
        """``--worker-devices`` as a tuple (empty when not given)."""
        if self.worker_devices is None:
            return ()
        return tuple(d.strip() for d in self.worker_devices.split(","))

    def local_workers(self, jobs: int) -> int:
        """How many local workers run ``jobs`` jobs: ``--workers``, or the CPU cores divided by
        ``--cpus-per-job``; never more than the jobs, never fewer than one."""
        workers = self.workers or int((os.cpu_count() or 1) / self.cpus_per_job)
        return max(1, min(workers, jobs))


# ---------------------------------------------------------------------------------------------
# What comes back
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobError:
    """Why a job failed: what it raised, or how its worker died."""

    type: str
    """the exception's class name (``ValueError``), or ``WorkerDied`` when its process died"""
    message: str
    """the exception's message, or ``worker died, exit code N``"""
    traceback: str
    """the traceback text from where the job raised (empty when the worker died)"""
    exit_code: int | None = None
    """a dead local worker's exit status; negative: killed by that signal (-9: SIGKILL)"""
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """the exception itself, when it could be brought back from the worker"""

    @property
    def worker_died(self) -> bool:
        return self.type == "WorkerDied"

    def __str__(self) -> str:
        return self.message if self.worker_died else f"{self.type}: {self.message}"


class JobFailed(RuntimeError):
    """A failed job with no exception to re-raise: its worker died, or its error could not be
    brought back. ``error`` holds the details."""

    def __init__(self, index: int, error: JobError) -> None:
        super().__init__(f"job {index} failed: {error}")
        self.index = index
        self.error = error


@dataclass(frozen=True)
class JobResult(Generic[J, R]):
    """One finished job: which it was, its result or its failure, where and when it ran.

    Times are ``time.time()`` seconds (comparable across the machines of a cluster whose clocks
    agree): ``started - queued`` is the wait, ``finished - started`` the work.
    """

    index: int
    """the job's position in the sequence given"""
    job: J
    """the job itself"""
    result: R | None
    """what ``fn(job)`` returned (None when it failed)"""
    error: JobError | None
    """why it failed (None when it succeeded)"""
    pid: int | None
    """the worker process (None when a Ray worker died before saying)"""
    node: str | None
    """the Ray node id (None for local workers)"""
    queued: float
    """when the job was submitted"""
    started: float
    """when its worker started it"""
    finished: float
    """when it finished (or when its worker was found dead)"""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def worker(self) -> str:
        """Where it ran, for messages: ``pid 1234`` or ``node 0bc03ed4 pid 1234``."""
        where = f"pid {self.pid}" if self.pid is not None else "unknown pid"
        return where if self.node is None else f"node {self.node[:8]} {where}"

    def unwrap(self) -> R:
        """The result, or raise the job's exception (:class:`JobFailed` if there is none)."""
        if self.error is not None:
            raise _exception(self)
        return self.result  # type: ignore[return-value]


def _exception(item: JobResult[Any, Any]) -> BaseException:
    assert item.error is not None
    error = item.error.exception
    if error is None:
        return JobFailed(item.index, item.error)
    note = f"job {item.index} ({item.worker}) raised it at:\n{item.error.traceback}"
    if error.__traceback__ is None and note not in getattr(error, "__notes__", ()):
        # Raised in another process: keep its traceback text with the exception.
        error.add_note(note)
    return error


def job_device(default: str | None = None) -> str | None:
    """The device this job's executor gave it, else ``default``.

    Local workers give the devices of ``--worker-devices`` in turn; a Ray task with
    ``--gpus-per-job`` gets ``cuda`` (Ray makes only its GPUs visible, so ``cuda`` is its share).
    """
    return os.environ.get(DEVICE_VARIABLE, default)


@contextmanager
def _device_env(device: str | None) -> Iterator[None]:
    if device is None:
        yield
        return
    before = os.environ.get(DEVICE_VARIABLE)
    os.environ[DEVICE_VARIABLE] = device
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DEVICE_VARIABLE, None)
        else:
            os.environ[DEVICE_VARIABLE] = before


# ---------------------------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------------------------


def check_available(options: ExecutorOptions) -> None:
    """Raise :class:`UserError` now if ``options`` cannot work here, before anything is created:
    ``--executor ray`` without Ray installed, or a ``--ray-address`` that does not answer."""
    if options.executor != "ray":
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(f"--executor ray: Ray is not installed; {RAY_INSTALL}") from None
    if options.ray_address is None:
        return
    host_port = _ray_host_port(options.ray_address)
    if host_port is None:
        return
    try:
        socket.create_connection(host_port, timeout=5).close()
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise UserError(f"--ray-address {options.ray_address}: cannot connect ({reason})") from None


def stream_jobs(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    options: ExecutorOptions | None = None,
    *,
    desc: str = "jobs",
    quiet: bool = False,
    pool: LocalPool | None = None,
) -> Generator[JobResult[J, R], None, None]:
    """``fn(job)`` for each job, run as ``options`` say; yields each :class:`JobResult` as it
    finishes, failures included, with a progress bar of done / failed jobs.

    ``pool``: local workers kept across calls (a :class:`LocalPool` of the same options); the
    jobs run on its processes, which stay up afterwards. Ignored with ``--executor ray``.

    Jobs start in order as workers free up. One worker (``workers=1``, or a single job) runs
    them here, in this process: a job that raises is still reported, but one that crashes takes
    the caller with it. Closing the iterator (leaving a ``for`` loop, an
    exception, Ctrl-C) stops everything at once: local workers are terminated, Ray tasks
    cancelled, and no further job starts. A ``KeyboardInterrupt`` reaches the caller once; the
    workers ignore SIGINT, so Ctrl-C prints no tracebacks of theirs.

    Raises:
        UserError: at the call (not at the first ``next``): Ray was asked for but is not
            installed, cannot connect, or lacks the resources asked per job.
    """
    options = options or ExecutorOptions()
    check_available(options)
    stream: Iterator[JobResult[J, R]]
    if not jobs:
        stream = iter(())
    elif options.executor == "ray":
        _ray_connect(options)
        stream = _stream_ray(fn, jobs, options)
    elif pool is not None and pool.size > 1:
        stream = _stream_local(fn, jobs, options, pool.size, keep=pool)
    elif options.local_workers(len(jobs)) == 1:
        stream = _stream_in_process(fn, jobs, options)
    else:
        stream = _stream_local(fn, jobs, options, options.local_workers(len(jobs)))
    return _with_progress(stream, len(jobs), desc=desc, quiet=quiet)


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
        Exception: the first failure: the exception a job raised (its traceback text from the
            worker added as a note), or :class:`JobFailed` when a worker died. No further job
            starts, and the jobs still running are stopped.
    """
    results: dict[int, R] = {}
    with closing(stream_jobs(fn, jobs, options, desc=desc, quiet=quiet)) as stream:
        for item in stream:
            results[item.index] = item.unwrap()  # the first failure raises
    return [results[i] for i in range(len(jobs))]


def _with_progress(
    stream: Iterator[JobResult[J, R]], total: int, *, desc: str, quiet: bool
) -> Generator[JobResult[J, R], None, None]:
    from rlgen.runs import progress

    failed = 0
    try:
        with progress(total=total, desc=desc, quiet=quiet, unit="job") as bar:
            bar.set_postfix(failed=0)
            for item in stream:
                if not item.ok:
                    failed += 1
                    bar.set_postfix(failed=failed)
                bar.update(1)
                yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------------------------
# Running one job (the same in this process, a local worker and a Ray task)
# ---------------------------------------------------------------------------------------------

# ("ok", result, started, finished) or ("error", (type, message, traceback, pickled exception),
# started, finished)
Outcome = tuple[str, Any, float, float]


def _describe(error: BaseException, context: str = "") -> tuple[str, str, str, bytes | None]:
    try:
        pickled: bytes | None = pickle.dumps(error)
    except Exception:
        pickled = None
    message = f"{context}: {error}" if context else str(error)
    return (type(error).__name__, message, "".join(traceback.format_exception(error)), pickled)


def _run_one(fn: Callable[[Any], Any], job: Any) -> Outcome:
    started = time.time()
    try:
        return ("ok", fn(job), started, time.time())
    except Exception as e:
        return ("error", _describe(e), started, time.time())


def _job_error(described: tuple[str, str, str, bytes | None]) -> JobError:
    kind, message, text, pickled = described
    exception: BaseException | None = None
    if pickled is not None:
        try:
            exception = pickle.loads(pickled)
        except Exception:  # e.g. an exception class whose __init__ takes other arguments
            exception = None
    return JobError(kind, message, text, exception=exception)


def _died(exit_code: int | None, detail: str = "") -> JobError:
    message = "worker died" if exit_code is None else f"worker died, exit code {exit_code}"
    if exit_code is not None and exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        hint = "; the OOM killer sends it" if exit_code == -signal.SIGKILL else ""
        message += f" (killed by {name}{hint})"
    if detail:
        message += f": {detail}"
    return JobError("WorkerDied", message, "", exit_code=exit_code)


def _from_outcome(
    index: int, job: Any, outcome: Outcome, queued: float, pid: int | None, node: str | None
) -> JobResult[Any, Any]:
    kind, value, started, finished = outcome
    if kind == "ok":
        return JobResult(index, job, value, None, pid, node, queued, started, finished)
    return JobResult(index, job, None, _job_error(value), pid, node, queued, started, finished)


def _failed(
    index: int, job: Any, error: JobError, pid: int | None, queued: float, started: float
) -> JobResult[Any, Any]:
    """A job that failed outside ``fn``: its worker died, or it could not be sent there."""
    return JobResult(index, job, None, error, pid, None, queued, started, time.time())


def _stream_in_process(
    fn: Callable[[J], R], jobs: Sequence[J], options: ExecutorOptions
) -> Iterator[JobResult[J, R]]:
    device = options.devices[0] if options.devices else None
    queued, pid = time.time(), os.getpid()
    for index, job in enumerate(jobs):
        started = time.time()
        with _device_env(device):
            try:
                result = fn(job)
            except Exception as e:
                # The exception object itself is kept, with its real traceback.
                text = "".join(traceback.format_exception(e))
                error = JobError(type(e).__name__, str(e), text, exception=e)
                item: JobResult[J, R] = _failed(index, job, error, pid, queued, started)
            else:
                item = JobResult(index, job, result, None, pid, None, queued, started, time.time())
        yield item


# ---------------------------------------------------------------------------------------------
# Local worker processes
# ---------------------------------------------------------------------------------------------


def _worker_main(conn: Connection, device: str | None) -> None:
    """A worker: run ``(fn, job)`` messages one at a time until ``None`` or the pipe closes."""
    # Ctrl-C reaches every process of the terminal's foreground group; the parent stops us.
    # SIGINT was blocked while this process started (see _Worker), so none is lost in between.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if device is not None:
        os.environ[DEVICE_VARIABLE] = device
    _exit_with_parent()
    from multiprocessing.reduction import ForkingPickler

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        except Exception as e:  # fn or the job could not be unpickled here
            now = time.time()
            outcome: Outcome = ("error", _describe(e, "could not load the job"), now, now)
        else:
            if message is None:
                return
            outcome = _run_one(*message)
        try:
            payload = ForkingPickler.dumps(outcome)
        except Exception as e:
            error = _describe(e, "could not send the result back")
            payload = ForkingPickler.dumps(("error", error, outcome[2], outcome[3]))
        try:
            conn.send_bytes(payload)
        except OSError:  # the parent is gone
            return


def _exit_with_parent() -> None:
    """End this worker when its parent dies (killed with SIGKILL, say), even mid-job."""
    import multiprocessing
    import threading

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="rlgen-parent-watch", daemon=True).start()


class _Worker:
    """One spawn process and the pipe to it; it holds at most one job, ``index``."""

    def __init__(self, context: SpawnContext, device: str | None) -> None:
        self.context, self.device = context, device
        self.conn, child = context.Pipe()
        self.process: SpawnProcess = context.Process(
            target=_worker_main, args=(child, device), name="rlgen-worker"
        )
        # The child inherits the blocked signal mask through fork and exec, and unblocks SIGINT
        # only once it ignores it: a Ctrl-C during its start-up prints nothing.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        child.close()
        self.index: int | None = None
        self.sent = 0.0

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def give(self, index: int, fn: Callable[[Any], Any], job: Any) -> JobError | None:
        """Send a job; a job that cannot be pickled, or a worker already dead, is its failure."""
        self.sent = time.time()
        try:
            self.conn.send((fn, job))
        except (BrokenPipeError, ConnectionResetError):
            return self.death()
        except Exception as e:
            return _job_error(_describe(e, "could not send the job to a worker"))
        self.index = index
        return None

    def collect(self, jobs: Sequence[Any], queued: float) -> JobResult[Any, Any]:
        """The result of the job it holds (which has finished, or whose worker has died)."""
        index, pid = self.index, self.process.pid
        assert index is not None
        self.index = None
        try:
            if self.conn.poll():
                outcome: Outcome = self.conn.recv()
                return _from_outcome(index, jobs[index], outcome, queued, pid, None)
        except (EOFError, OSError):
            pass
        except Exception as e:  # the result could not be unpickled here
            error = _job_error(_describe(e, "could not load the result"))
            return _failed(index, jobs[index], error, pid, queued, self.sent)
        return _failed(index, jobs[index], self.death(), pid, queued, self.sent)

    def death(self) -> JobError:
        self.process.join(timeout=5)
        return _died(self.process.exitcode)

    def replace(self) -> _Worker:
        """A fresh worker with the same device, for this dead one."""
        self.close()
        return _Worker(self.context, self.device)

    def stop(self) -> None:
        """Ask an idle worker to exit; terminate a busy one (SIGTERM: no traceback)."""
        if self.index is None and self.alive:
            try:
                self.conn.send(None)
            except OSError:
                self.process.terminate()
        else:
            self.process.terminate()

    def halt(self) -> None:
        """Wait for a worker told to stop (SIGKILL after 2 s); its job, if any, is abandoned."""
        self.process.join(timeout=2)
        if self.alive:
            self.process.kill()
            self.process.join()
        self.index = None

    def close(self) -> None:
        self.halt()
        self.conn.close()
        self.process.close()


class LocalPool:
    """Local worker processes kept up across several :func:`stream_jobs` calls.

    A search that trains its children batch by batch would otherwise start a fresh pool for
    every batch: spawning a worker, importing torch and loading the data cost about 3 s of each
    worker's time per batch on a 2-core machine. Workers start at the first call that uses the
    pool; a dead one is replaced; a call that is abandoned (an exception, Ctrl-C) terminates the
    workers still busy and replaces them. ::

        with LocalPool(options, size=options.local_workers(batch)) as pool:
            for batch in batches:
                for result in stream_jobs(fn, batch, options, pool=pool): ...
    """

    def __init__(self, options: ExecutorOptions, size: int) -> None:
        check_range("size", size, 1)
        self.options, self.size = options, size
        self.workers: list[_Worker] = []

    def start(self) -> list[_Worker]:
        """The workers, started now if they are not yet (a dead one is replaced when it is next
        given a job)."""
        if not self.workers:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            devices = self.options.devices or (None,)
            for i in range(self.size):  # one by one: a failed start leaves the others closable
                self.workers.append(_Worker(context, devices[i % len(devices)]))
        return self.workers

    def close(self) -> None:
        """Stop every worker (idle ones exit, busy ones are terminated)."""
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.close()

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stream_local(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    options: ExecutorOptions,
    workers: int,
    keep: LocalPool | None = None,
) -> Iterator[JobResult[J, R]]:
    from multiprocessing.connection import wait

    # spawn, not fork: a forked child of a process that already runs torch threads can deadlock.
    own = keep or LocalPool(options, workers)
    queued = time.time()
    pool: list[_Worker] = []
    next_index = 0  # jobs start in order
    try:
        pool = own.start()  # the pool's own list: replacements below stay in it
        while True:
            for slot in range(len(pool)):
                while pool[slot].index is None and next_index < len(jobs):
                    if not pool[slot].alive:  # died while idle (a kept pool's, between calls)
                        pool[slot] = pool[slot].replace()
                    index, next_index = next_index, next_index + 1
                    worker = pool[slot]
                    error = worker.give(index, fn, jobs[index])
                    if error is not None:
                        pid = worker.process.pid  # read before replace() closes the process
                        if error.worker_died:
                            pool[slot] = worker.replace()
                        yield _failed(index, jobs[index], error, pid, queued, worker.sent)
            busy = [w for w in pool if w.index is not None]
            if not busy:
                return
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in pool:  # one that died is replaced when it is next given a job
                if worker.conn in ready or worker.process.sentinel in ready:
                    yield worker.collect(jobs, queued)
    finally:
        if keep is None:
            own.close()
        else:  # abandoned mid-way: the busy workers hold jobs nobody will collect. They are
            # stopped here and replaced when next given a job: none starts during a Ctrl-C.
            busy = [worker for worker in pool if worker.index is not None]
            for worker in busy:
                worker.process.terminate()
            for worker in busy:
                worker.halt()


# ---------------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------------


def _ray_host_port(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` or ``ray://HOST:PORT`` -> (host, port); ``auto`` / ``local`` -> None."""
    if address in ("auto", "local"):
        return None
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit():
        raise UserError(
            f"--ray-address: expected auto, HOST:PORT or ray://HOST:PORT, got {address!r}"
        )
    return host.strip("[]"), int(port)


def _ray_connect(options: ExecutorOptions) -> None:
    """Connect to ``--ray-address`` or start a local Ray, unless this process already did."""
    import ray

    if not ray.is_initialized():
        # None starts a local instance, as the option says, even where a cluster is running
        # (ray.init(address=None) would join that one)
        address = options.ray_address or "local"
        kwargs: dict[str, Any] = {"log_to_driver": False}
        if address in (None, "local"):
            kwargs["include_dashboard"] = False
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"--ray-address {address}: cannot connect ({first})") from None
        started_here = address in (None, "local")
    else:
        started_here = False
    if started_here:
        # A local instance has the resources it has: a task asking for more would wait forever.
        _check_ray_resources(options, ray.cluster_resources())


def _check_ray_resources(options: ExecutorOptions, have: dict[str, float]) -> None:
    for name, option, want in (
        ("CPU", "cpus_per_job", options.cpus_per_job),
        ("GPU", "gpus_per_job", options.gpus_per_job),
    ):
        if want > have.get(name, 0.0):
            raise UserError(
                f"{option_name(option)} {want:g}: the local Ray instance has "
                f"{have.get(name, 0.0):g} {name}s; give --ray-address of a cluster with more"
            )


def _ray_task(fn: Callable[[Any], Any], job: Any, gpus: float) -> tuple[Outcome, int, str]:
    import ray

    # Ray sets CUDA_VISIBLE_DEVICES to the task's GPUs, so "cuda" is the share it was given.
    with _device_env("cuda" if gpus > 0 else None):
        outcome = _run_one(fn, job)
    return outcome, os.getpid(), ray.get_runtime_context().get_node_id()


def _ray_failure(error: Exception) -> JobError:
    """A Ray error (the task's worker died, an argument could not be loaded) as a JobError."""
    from ray import exceptions

    died = (exceptions.WorkerCrashedError, exceptions.NodeDiedError)
    oom = getattr(exceptions, "OutOfMemoryError", None)
    if isinstance(error, died) or (oom is not None and isinstance(error, oom)):
        return _died(None, str(error).splitlines()[0] if str(error) else type(error).__name__)
    cause = getattr(error, "cause", None)
    shown = cause if isinstance(cause, BaseException) else error
    lines = str(shown).strip().splitlines()
    return JobError(type(shown).__name__, lines[-1] if lines else "", str(error))


def _stream_ray(
    fn: Callable[[J], R], jobs: Sequence[J], options: ExecutorOptions
) -> Iterator[JobResult[J, R]]:
    import ray

    # A failed job is reported, not retried: the caller decides what to run again.
    remote: Any = ray.remote(_ray_task).options(
        num_cpus=options.cpus_per_job, num_gpus=options.gpus_per_job, max_retries=0
    )
    fn_ref = ray.put(fn)  # once, not once per job
    queued = time.time()
    refs = {remote.remote(fn_ref, job, options.gpus_per_job): i for i, job in enumerate(jobs)}
    pending = list(refs)
    try:
        while pending:
            # A timeout keeps Ctrl-C responsive: Python handles signals between calls.
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in done:
                index = refs[ref]
                try:
                    outcome, pid, node = ray.get(ref)
                except Exception as e:  # its worker died, or Ray could not run it
                    yield _failed(index, jobs[index], _ray_failure(e), None, queued, time.time())
                    continue
                yield _from_outcome(index, jobs[index], outcome, queued, pid, node)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
