"""Trial functions for tests that need them in spawned worker processes (importable there)."""

from __future__ import annotations

import os

from rlgen.nas.search import TrialJob, run_trial


def dies_on_trial_2(job: TrialJob) -> dict:
    """The worker process holding trial 2 dies (as under the OOM killer)."""
    if job.trial == 2:
        os._exit(9)
    return run_trial(job)
