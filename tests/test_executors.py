"""Independent jobs through the executors: streamed as they finish, failures returned, Ray optional.

The job functions live at the top of this module: local workers are spawned processes, which
import this module by name (pytest puts tests/ on sys.path, and spawn hands sys.path on); Ray
workers get them pickled by value (see the ``ray_session`` fixture).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlgen.errors import UserError
from rlgen.executors import (
    DEVICE_VARIABLE,
    ExecutorOptions,
    JobFailed,
    JobResult,
    LocalPool,
    check_available,
    job_device,
    map_jobs,
    stream_jobs,
)

TESTS = Path(__file__).resolve().parent
WAIT_S = 30.0  # how long a job waits for the test's signal before giving up


# ---------------------------------------------------------------------------------------------
# Jobs (module level: picklable by reference for spawn)
# ---------------------------------------------------------------------------------------------


def fail_on_negative(x: float) -> float:
    if x < 0:
        raise ValueError(f"negative job {x}")
    return x * x


def die_on_negative(x: int) -> int:
    """-3: the worker exits with status 3 mid-job; -9: it is killed with SIGKILL (as by the
    OOM killer)."""
    if x == -9:
        os.kill(os.getpid(), signal.SIGKILL)
    if x < 0:
        os._exit(-x)
    return x * x


def lock_on_negative(x: int) -> object:
    """A result that cannot be pickled back for negative jobs."""
    return threading.Lock() if x < 0 else x


def wait_for_file(job: tuple[str, str | None]) -> str:
    """("go", None) returns at once; ("wait", path) returns once ``path`` exists."""
    name, path = job
    deadline = time.time() + WAIT_S
    while path is not None and not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)
    return name


def record_then_fail_or_wait(job: tuple[int, str]) -> int:
    """Job 0 fails at once; the others note their pid and wait (they should be stopped before
    they write ``finished-<index>``)."""
    index, directory = job
    Path(directory, f"started-{index}").write_text(str(os.getpid()))
    if index == 0:
        raise ValueError("job 0 fails")
    time.sleep(WAIT_S)
    Path(directory, f"finished-{index}").touch()
    return index


def pid_and_device(_: object) -> tuple[int, str | None]:
    return os.getpid(), job_device()


def ray_resources(_: object) -> tuple[dict[str, float], str | None]:
    import ray

    return ray.get_runtime_context().get_assigned_resources(), job_device()


def ignores_sigint(_: object) -> bool:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def sleep_forever(job: tuple[str, int]) -> None:
    """For the Ctrl-C test: note this worker's pid, then sleep."""
    directory, index = job
    Path(directory, f"worker-{index}").write_text(str(os.getpid()))
    time.sleep(WAIT_S)


# ---------------------------------------------------------------------------------------------
# Executors under test
# ---------------------------------------------------------------------------------------------


def import_ray():
    """Ray, or skip: but CI installs Ray (make test), so there a missing Ray fails the test."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but ray is not importable: make test installs the ray extra")
        pytest.skip(f"ray is not installed ({sys.executable} -m pip install -e '.[ray]')")
    return ray


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance shared by this module's Ray tests (a start costs seconds). It
    declares one GPU (none is needed to schedule fractions of it), so GPU requests can be
    checked on any machine."""
    ray = import_ray()
    from ray import cloudpickle

    module = sys.modules[__name__]
    # Ray workers do not have tests/ on their path: send this module's jobs by value.
    cloudpickle.register_pickle_by_value(module)
    started = not ray.is_initialized()
    if started:
        ray.init(  # a new local instance, even where another Ray cluster is running
            address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False
        )
    yield ray
    if started:
        ray.shutdown()
    cloudpickle.unregister_pickle_by_value(module)


def make_options(request: pytest.FixtureRequest, kind: str) -> ExecutorOptions:
    if kind == "ray":
        request.getfixturevalue("ray_session")
        return ExecutorOptions(executor="ray")
    return ExecutorOptions(workers=1 if kind == "in-process" else 2)


RAY = pytest.param("ray", marks=pytest.mark.slow)


@pytest.fixture(params=["in-process", "local", RAY])
def options(request: pytest.FixtureRequest) -> ExecutorOptions:
    return make_options(request, request.param)


@pytest.fixture(params=["local", RAY])
def parallel_options(request: pytest.FixtureRequest) -> ExecutorOptions:
    return make_options(request, request.param)


def by_index(items: list[JobResult]) -> list[JobResult]:
    assert sorted(item.index for item in items) == list(range(len(items)))
    return sorted(items, key=lambda item: item.index)


# ---------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------


def test_a_fast_job_is_yielded_before_a_slow_one_started_earlier(parallel_options, tmp_path):
    signal_file = tmp_path / "fast-job-seen"
    jobs = [("slow", str(signal_file)), ("fast", None)]
    stream = stream_jobs(wait_for_file, jobs, parallel_options, quiet=True)
    first = next(stream)
    # The slow job is still running: it ends only once we have seen the fast one.
    assert (first.index, first.job, first.result) == (1, ("fast", None), "fast")
    signal_file.touch()
    second = next(stream)
    assert (second.index, second.result) == (0, "slow")
    assert list(stream) == []


def test_in_process_jobs_start_only_as_the_caller_asks(tmp_path):
    signal_file = tmp_path / "first-job-seen"
    jobs = [("first", None), ("second", str(signal_file))]
    stream = stream_jobs(wait_for_file, jobs, ExecutorOptions(workers=1), quiet=True)
    assert next(stream).result == "first"
    signal_file.touch()  # job 1 has not started: it would have timed out waiting for this
    assert next(stream).result == "second"


def test_a_job_that_raises_is_a_failure_and_the_others_complete(options):
    items = by_index(list(stream_jobs(fail_on_negative, [1.0, -2.0, 3.0, 4.0], options)))
    assert [item.result for item in items] == [1.0, None, 9.0, 16.0]
    assert [item.ok for item in items] == [True, False, True, True]
    error = items[1].error
    assert error is not None and items[1].job == -2.0
    assert (error.type, error.message) == ("ValueError", "negative job -2.0")
    assert "in fail_on_negative" in error.traceback and "ValueError" in error.traceback
    assert isinstance(error.exception, ValueError) and not error.worker_died
    for item in items:
        assert item.queued <= item.started <= item.finished
        assert item.pid is not None
        if options.executor == "ray":
            assert item.node is not None and item.worker.startswith("node ")
        elif options.workers == 1:
            assert item.pid == os.getpid()
        else:
            assert item.pid != os.getpid() and item.node is None
    with pytest.raises(ValueError, match="negative job"):
        items[1].unwrap()
    assert items[2].unwrap() == 9.0


def test_a_local_worker_that_dies_mid_job_is_a_failure_and_the_pool_goes_on():
    jobs = [1, -3, 2, -9, 3, 4, 5]
    items = by_index(list(stream_jobs(die_on_negative, jobs, ExecutorOptions(workers=2))))
    assert [item.result for item in items] == [1, None, 4, None, 9, 16, 25]
    exited, killed = items[1].error, items[3].error
    assert exited is not None and killed is not None
    assert exited.worker_died and exited.exit_code == 3
    assert exited.message == "worker died, exit code 3"
    assert killed.worker_died and killed.exit_code == -signal.SIGKILL
    assert killed.message.startswith("worker died, exit code -9 (killed by SIGKILL")
    assert str(exited) == "worker died, exit code 3" and exited.exception is None
    with pytest.raises(JobFailed, match="job 1 failed: worker died, exit code 3"):
        items[1].unwrap()
    # The dead workers were replaced: later jobs ran in processes other than theirs.
    dead = {items[1].pid, items[3].pid}
    assert {item.pid for item in items[4:]}.isdisjoint(dead)


@pytest.mark.slow
def test_a_ray_task_whose_worker_dies_is_a_failure_and_the_others_complete(ray_session):
    items = by_index(
        list(stream_jobs(die_on_negative, [1, -3, 2], ExecutorOptions(executor="ray")))
    )
    assert [item.result for item in items] == [1, None, 4]
    error = items[1].error
    assert error is not None and error.worker_died and error.message.startswith("worker died")


def test_a_job_or_result_that_cannot_be_pickled_is_a_failure_of_that_job():
    jobs = [1, -1, threading.Lock(), 2]
    items = by_index(list(stream_jobs(lock_on_negative, jobs, ExecutorOptions(workers=2))))
    assert [item.ok for item in items] == [True, False, False, True]
    assert [items[0].result, items[3].result] == [1, 2]
    assert items[1].error is not None and items[2].error is not None
    assert "could not send the result back" in items[1].error.message
    assert "could not send the job to a worker" in items[2].error.message


def test_closing_the_stream_stops_the_running_jobs(tmp_path):
    jobs = [(i, str(tmp_path)) for i in range(6)]
    stream = stream_jobs(record_then_fail_or_wait, jobs, ExecutorOptions(workers=2), quiet=True)
    first = next(stream)
    assert first.index == 0 and not first.ok
    stream.close()
    assert not (tmp_path / "started-2").exists()  # no further job started
    assert not list(tmp_path.glob("finished-*"))  # job 1 was stopped, not awaited
    for marker in tmp_path.glob("started-*"):
        assert not pid_alive(int(marker.read_text()))


def test_a_local_pool_keeps_its_workers_across_calls():
    options = ExecutorOptions(workers=2)
    with LocalPool(options, size=2) as pool:
        first = {
            item.result[0] for item in stream_jobs(pid_and_device, range(6), options, pool=pool)
        }
        second = {
            item.result[0] for item in stream_jobs(pid_and_device, range(3), options, pool=pool)
        }
        assert first == second == {w.process.pid for w in pool.workers} and len(first) == 2
        assert os.getpid() not in first
        # a worker that dies is replaced in the pool: the next call runs on two live workers
        died = by_index(list(stream_jobs(die_on_negative, [-3, 2], options, pool=pool)))
        assert died[0].error is not None and died[0].error.worker_died and died[1].result == 4
        after = {
            item.result[0] for item in stream_jobs(pid_and_device, range(4), options, pool=pool)
        }
        assert len(after) == 2 and died[0].pid not in after
        pids = {w.process.pid for w in pool.workers}
    assert pool.workers == [] and not any(pid_alive(p) for p in pids)  # closed with the block


def test_an_abandoned_call_on_a_pool_stops_its_busy_workers_and_the_pool_goes_on(tmp_path):
    options = ExecutorOptions(workers=2)
    jobs = [(i, str(tmp_path)) for i in range(4)]
    with LocalPool(options, size=2) as pool:
        stream = stream_jobs(record_then_fail_or_wait, jobs, options, quiet=True, pool=pool)
        first = next(stream)
        assert first.index == 0 and not first.ok
        [stopped] = [w.process.pid for w in pool.workers if w.index is not None]  # job 1's
        stream.close()
        assert not pid_alive(stopped) and not list(tmp_path.glob("finished-*"))
        items = list(stream_jobs(fail_on_negative, [1.0, 2.0, 3.0], options, pool=pool))
        assert sorted(item.result for item in items) == [1.0, 4.0, 9.0]
        assert stopped not in {item.pid for item in items}


def test_a_pool_worker_that_dies_while_idle_is_replaced_before_it_is_given_a_job():
    # the OOM killer picks idle workers too (they keep their data loaded between calls): the
    # next call must not lose a job to that death, nor crash on it
    options = ExecutorOptions(workers=2, worker_devices="cpu:0,cpu:1")
    with LocalPool(options, size=2) as pool:
        list(stream_jobs(pid_and_device, range(2), options, pool=pool))
        victim = pool.workers[0]
        dead, device = victim.process.pid, victim.device
        os.kill(dead, signal.SIGKILL)
        victim.process.join()
        items = list(stream_jobs(pid_and_device, range(4), options, pool=pool))
        assert all(item.ok for item in items) and len(items) == 4
        assert dead not in {item.pid for item in items}
        assert {item.result[1] for item in items} == {"cpu:0", "cpu:1"}  # type: ignore[index]
        assert sorted(w.device for w in pool.workers) == ["cpu:0", "cpu:1"]
        assert device in {"cpu:0", "cpu:1"} and all(w.alive for w in pool.workers)


def test_a_worker_found_dead_when_given_a_job_fails_that_job_and_the_call_goes_on(monkeypatch):
    # a worker that died between the check and the send: its job is reported as failed, with
    # the dead worker's pid, and the other jobs run on a fresh worker
    from rlgen import executors

    give = executors._Worker.give
    killed: list[int] = []

    def die_first(worker: executors._Worker, index: int, fn: object, job: object) -> object:
        if not killed:
            killed.append(worker.process.pid)
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join()
        return give(worker, index, fn, job)  # type: ignore[arg-type]

    monkeypatch.setattr(executors._Worker, "give", die_first)
    options = ExecutorOptions(workers=2)
    items = by_index(list(stream_jobs(fail_on_negative, [1.0, 2.0, 3.0], options)))
    assert items[0].error is not None and items[0].error.worker_died
    assert items[0].pid == killed[0]
    assert [item.result for item in items[1:]] == [4.0, 9.0]


def test_workers_started_before_a_failed_start_are_stopped(monkeypatch):
    # spawning the second worker fails (out of processes, a Ctrl-C between two spawns): the
    # first must not be left running
    from rlgen import executors

    started: list[int] = []
    real = executors._Worker

    def second_fails(*args: object) -> executors._Worker:
        if started:
            raise OSError("cannot spawn")
        worker = real(*args)  # type: ignore[arg-type]
        started.append(worker.process.pid)
        return worker

    monkeypatch.setattr(executors, "_Worker", second_fails)
    try:
        with pytest.raises(OSError, match="cannot spawn"):
            list(stream_jobs(pid_and_device, range(4), ExecutorOptions(workers=2)))
        assert len(started) == 1 and not pid_alive(started[0])
        started.clear()
        options = ExecutorOptions(workers=2)
        with pytest.raises(OSError, match="cannot spawn"), LocalPool(options, size=2) as pool:
            list(stream_jobs(pid_and_device, range(4), options, pool=pool))
        assert len(started) == 1 and not pid_alive(started[0]) and pool.workers == []
    finally:
        for pid in started:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# map_jobs, the simple form
# ---------------------------------------------------------------------------------------------


def test_map_jobs_gives_the_results_in_job_order(options):
    jobs = [5, 3, 9, 1]
    assert map_jobs(math.factorial, jobs, options) == [120, 6, 362880, 1]


def test_map_jobs_raises_the_first_failure(options):
    with pytest.raises(ValueError, match="math domain error"):
        map_jobs(math.sqrt, [4.0, -1.0], options)


@pytest.mark.parametrize("workers", [1, 2])
def test_map_jobs_starts_no_job_after_the_first_failure(tmp_path, workers):
    jobs = [(i, str(tmp_path)) for i in range(6)]
    with pytest.raises(ValueError, match="job 0 fails") as caught:
        map_jobs(record_then_fail_or_wait, jobs, ExecutorOptions(workers=workers))
    assert not (tmp_path / "started-2").exists()
    assert not list(tmp_path.glob("finished-*"))  # job 1 was stopped, not awaited
    if workers == 2:
        # Raised in a worker: the exception carries the worker's traceback text.
        assert any("record_then_fail_or_wait" in note for note in caught.value.__notes__)


def test_no_jobs_no_work():
    assert map_jobs(math.sqrt, [], ExecutorOptions(workers=2)) == []
    assert list(stream_jobs(math.sqrt, [], ExecutorOptions())) == []


# ---------------------------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------------------------


def test_local_workers_hand_their_device_to_their_jobs():
    options = ExecutorOptions(workers=2, worker_devices="cpu:0, cpu:1")
    assert options.devices == ("cpu:0", "cpu:1")
    seen = map_jobs(pid_and_device, range(8), options)
    devices_of: dict[int, set[str | None]] = {}
    for pid, device in seen:
        devices_of.setdefault(pid, set()).add(device)
    assert all(len(devices) == 1 for devices in devices_of.values())  # one device per worker
    assert set().union(*devices_of.values()) <= {"cpu:0", "cpu:1"}
    # In this process the device is set for the jobs only.
    assert map_jobs(pid_and_device, [0], ExecutorOptions(workers=1, worker_devices="meta")) == [
        (os.getpid(), "meta")
    ]
    assert DEVICE_VARIABLE not in os.environ
    assert map_jobs(pid_and_device, [0, 1], ExecutorOptions(workers=2))[0][1] is None
    assert job_device("cpu") == "cpu"


def test_the_default_local_worker_count_follows_cpus_per_job(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert ExecutorOptions().local_workers(100) == 8
    assert ExecutorOptions(cpus_per_job=2).local_workers(100) == 4
    assert ExecutorOptions(cpus_per_job=0.5).local_workers(100) == 16
    assert ExecutorOptions(cpus_per_job=16).local_workers(100) == 1
    assert ExecutorOptions().local_workers(3) == 3
    assert ExecutorOptions(workers=5).local_workers(100) == 5


@pytest.mark.slow
def test_ray_tasks_get_the_cpus_and_gpus_asked_per_job(ray_session):
    options = ExecutorOptions(executor="ray", cpus_per_job=0.5, gpus_per_job=0.25)
    for resources, device in map_jobs(ray_resources, range(3), options):
        assert resources == {"CPU": 0.5, "GPU": 0.25}
        assert device == "cuda"
    resources, device = map_jobs(ray_resources, [0], ExecutorOptions(executor="ray"))[0]
    assert resources == {"CPU": 1.0} and device is None


def test_a_local_ray_instance_refuses_more_resources_per_job_than_it_has():
    from rlgen.executors import _check_ray_resources

    have = {"CPU": 2.0}
    _check_ray_resources(ExecutorOptions(executor="ray", cpus_per_job=2), have)
    with pytest.raises(UserError, match=r"--gpus-per-job 0.5: the local Ray instance has 0 GPUs"):
        _check_ray_resources(ExecutorOptions(executor="ray", gpus_per_job=0.5), have)
    with pytest.raises(UserError, match=r"--cpus-per-job 4: the local Ray instance has 2 CPUs"):
        _check_ray_resources(ExecutorOptions(executor="ray", cpus_per_job=4), have)


# ---------------------------------------------------------------------------------------------
# Options and availability
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "--workers must be >= 1, got 0"),
        ({"workers": 1.5}, "--workers must be a whole number, got 1.5"),
        ({"executor": "dask"}, "--executor: unknown value 'dask'"),
        ({"cpus_per_job": 0}, "--cpus-per-job must be > 0, got 0"),
        ({"cpus_per_job": math.inf}, "--cpus-per-job must be a finite number"),
        ({"executor": "ray", "gpus_per_job": -1}, "--gpus-per-job must be >= 0, got -1"),
        ({"executor": "ray", "gpus_per_job": math.nan}, "--gpus-per-job must be a finite"),
        ({"gpus_per_job": 1}, "--gpus-per-job is for --executor ray"),
        ({"executor": "ray", "worker_devices": "cuda:0"}, "--worker-devices is for local"),
        ({"executor": "ray", "workers": 2}, "--workers is for local workers"),
        ({"worker_devices": "cuda:0,,cuda:1"}, "--worker-devices: expected devices separated"),
        # a job given it failed in its worker, long after the start
        ({"worker_devices": "cuda:0,banana"}, "--worker-devices: 'banana' is not a torch device"),
        ({"worker_devices": "cuda:x"}, "--worker-devices: 'cuda:x' is not a torch device"),
        ({"ray_address": "auto"}, "--ray-address needs --executor ray"),
        ({"executor": "ray", "ray_address": "somewhere"}, "--ray-address: expected auto, HOST"),
    ],
)
def test_bad_options_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(")):
        ExecutorOptions(**kwargs)


def test_ray_not_installed_is_one_line_naming_the_extra_before_anything_starts(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    options = ExecutorOptions(executor="ray")
    with pytest.raises(UserError, match=r"pip install -e '\.\[ray\]'") as caught:
        check_available(options)
    assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match=r"pip install -e '\.\[ray\]'"):
        stream_jobs(math.sqrt, [1.0], options)  # at the call, not at the first next()
    with pytest.raises(UserError, match=r"pip install -e '\.\[ray\]'"):
        map_jobs(math.sqrt, [], options)
    check_available(ExecutorOptions())  # local needs nothing


def test_an_unreachable_ray_address_is_a_user_error_naming_the_option():
    import_ray()
    with socket.socket() as s:  # a port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        options = ExecutorOptions(executor="ray", ray_address=address)
        with pytest.raises(UserError, match=f"^--ray-address {address}: cannot connect"):
            check_available(options)
        with pytest.raises(UserError, match="--ray-address"):
            map_jobs(math.sqrt, [1.0], options)


# ---------------------------------------------------------------------------------------------
# Progress and Ctrl-C
# ---------------------------------------------------------------------------------------------


class FakeBar:
    def __init__(self, **kwargs: object) -> None:
        self.kwargs, self.done, self.postfix = kwargs, 0, {}

    def __enter__(self) -> FakeBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.done += n

    def set_postfix(self, **postfix: object) -> None:
        self.postfix = postfix


def test_the_progress_bar_counts_done_and_failed_jobs(monkeypatch):
    import rlgen.runs

    bars: list[FakeBar] = []
    monkeypatch.setattr(rlgen.runs, "progress", lambda **kw: bars.append(FakeBar(**kw)) or bars[-1])
    items = list(stream_jobs(fail_on_negative, [1, -1, -2, 3], ExecutorOptions(workers=1)))
    assert len(items) == 4
    (bar,) = bars
    assert bar.kwargs["total"] == 4 and bar.kwargs["desc"] == "jobs"
    assert (bar.done, bar.postfix) == (4, {"failed": 2})


def test_local_workers_ignore_ctrl_c_and_leave_it_to_the_parent():
    before = signal.getsignal(signal.SIGINT)
    assert map_jobs(ignores_sigint, [0, 1], ExecutorOptions(workers=2)) == [True, True]
    assert signal.getsignal(signal.SIGINT) == before  # this process's Ctrl-C is untouched


def sigint_as_at_a_terminal() -> None:
    """For the Ctrl-C tests' child: SIGINT's default action, even where this test process was
    started with SIGINT ignored (a background job of a non-interactive shell), so that Python
    installs its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c_once_the_workers_run(script: str, tmp_path: Path) -> int:
    """Run ``script`` (its jobs write ``worker-*`` in ``tmp_path``) in a session of its own, so
    that SIGINT to its group is a terminal's Ctrl-C; press Ctrl-C once two workers run; check
    that it ends by SIGINT with one traceback, a KeyboardInterrupt. Returns its pid (= session)."""
    path = tmp_path / "script.py"
    path.write_text(script)
    process = subprocess.Popen(
        [sys.executable, str(path)],
        start_new_session=True,
        preexec_fn=sigint_as_at_a_terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2:
            assert process.poll() is None, process.communicate()
            assert time.time() < deadline, "the workers never started"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGINT, stderr
    assert stderr.count("Traceback") == 1 and stderr.count("KeyboardInterrupt") == 1, stderr
    return process.pid


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_ctrl_c_stops_the_workers_quietly_and_raises_keyboard_interrupt_once(tmp_path):
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from rlgen.executors import ExecutorOptions, map_jobs\n"
        "from test_executors import sleep_forever\n"
        "if __name__ == '__main__':\n"
        f"    map_jobs(sleep_forever, [({str(tmp_path)!r}, i) for i in range(4)],"
        " ExecutorOptions(workers=2))\n"
    )
    ctrl_c_once_the_workers_run(script, tmp_path)
    workers = [int(p.read_text()) for p in tmp_path.glob("worker-*")]
    assert len(workers) == 2 and not any(pid_alive(w) for w in workers)


def session_processes(session: int) -> list[int]:
    """The live processes of a session (Linux /proc), zombies aside."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_ctrl_c_during_a_call_on_a_pool_raises_once_and_leaves_no_process(tmp_path):
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from rlgen.executors import ExecutorOptions, LocalPool, stream_jobs\n"
        "from test_executors import pid_and_device, sleep_forever\n"
        "if __name__ == '__main__':\n"
        "    options = ExecutorOptions(workers=2)\n"
        "    with LocalPool(options, size=2) as pool:\n"
        "        list(stream_jobs(pid_and_device, range(2), options, pool=pool))\n"
        f"        jobs = [({str(tmp_path)!r}, i) for i in range(4)]\n"
        "        for _ in stream_jobs(sleep_forever, jobs, options, pool=pool): pass\n"
    )
    pid = ctrl_c_once_the_workers_run(script, tmp_path)
    deadline = time.time() + 10  # multiprocessing's resource tracker leaves on its own
    while session_processes(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert session_processes(pid) == []


def test_a_saved_config_with_workers_beside_ray_still_loads():
    """config.json of a run from before --workers was refused with --executor ray may hold both;
    Ray ignored --workers, so loading it (for --resume) drops it instead of refusing the run
    with a message about an option nobody typed."""
    import dataclasses

    from rlgen.configs import config_from_dict

    saved = {"executor": "ray", "workers": 2, "cpus_per_job": 2.0}
    assert config_from_dict(ExecutorOptions, saved) == ExecutorOptions("ray", cpus_per_job=2.0)
    local = {"executor": "local", "workers": 2}  # kept where it counts
    assert config_from_dict(ExecutorOptions, local) == ExecutorOptions(workers=2)

    @dataclasses.dataclass(frozen=True)
    class Sweep:  # as the sweeps nest it
        jobs: ExecutorOptions = dataclasses.field(default_factory=ExecutorOptions)

    assert config_from_dict(Sweep, {"jobs": saved}).jobs.workers is None
    with pytest.raises(UserError, match=r"^--workers is for local workers"):
        ExecutorOptions("ray", workers=2)  # given now, it is refused
