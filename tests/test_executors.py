"""Independent jobs through the executor: order kept, errors surface, Ray is optional."""

from __future__ import annotations

import math

import pytest

from rlgen.errors import UserError
from rlgen.executors import ExecutorOptions, map_jobs


def test_in_process_and_local_processes_give_the_same_results_in_job_order():
    jobs = [5, 3, 9, 1]
    assert map_jobs(math.factorial, jobs, ExecutorOptions(workers=1)) == [120, 6, 362880, 1]
    assert map_jobs(math.factorial, jobs, ExecutorOptions(workers=2)) == [120, 6, 362880, 1]


def test_a_failing_job_raises_its_error():
    with pytest.raises(ValueError):
        map_jobs(math.sqrt, [4.0, -1.0], ExecutorOptions(workers=2))


def test_no_jobs_no_work():
    assert map_jobs(math.sqrt, [], ExecutorOptions(executor="ray")) == []


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="--workers must be >= 1"):
        ExecutorOptions(workers=0)
    with pytest.raises(UserError, match="--executor: unknown value 'dask'"):
        ExecutorOptions(executor="dask")  # type: ignore[arg-type]


def test_ray_runs_the_jobs_or_says_how_to_install_it():
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"pip install 'rlgen\[ray\]'"):
            map_jobs(math.sqrt, [1.0], ExecutorOptions(executor="ray"))
    else:
        assert map_jobs(math.sqrt, [4.0, 9.0], ExecutorOptions(executor="ray")) == [2.0, 3.0]
