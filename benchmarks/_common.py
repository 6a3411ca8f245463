"""What the REINFORCE benchmark scripts share (imported by them as ``_common``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rlgen.pg.evaluate import Evaluator


def sb3_stop(evaluator: Evaluator, solved: Callable[[int, float], bool]) -> Any:
    """A Stable-Baselines3 callback that stops training once ``solved(env_steps,
    train_seconds)`` says so, asked on ``evaluator``'s schedule; the time it takes is measured
    (``.excluded``) so that the caller subtracts it, as for every method."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Stop(BaseCallback):
        """Evaluates on the same schedule and protocol; its own time is subtracted."""

        def __init__(self) -> None:
            super().__init__()
            self.start = 0.0
            self.excluded = 0.0

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            steps = self.num_timesteps
            if not evaluator.due(steps):
                return True
            t0 = time.perf_counter()
            done = solved(steps, t0 - self.start - self.excluded)
            self.excluded += time.perf_counter() - t0
            return not done

    return Stop()


def solve_result(evaluator: Evaluator, env_steps: int, train_seconds: float) -> dict[str, Any]:
    """A run's outcome, the first keys of its JSON: when ``evaluator`` first found the policy
    solved (steps, training seconds, episodes when known), what the run spent in all."""
    solve = evaluator.solved_at
    return {
        "solved": solve is not None,
        "steps_to_solve": solve["env_steps"] if solve else None,
        "seconds_to_solve": solve["train_seconds"] if solve else None,
        "episodes_to_solve": solve["episodes"] if solve and solve["episodes"] >= 0 else None,
        "env_steps": env_steps,
        "train_seconds": train_seconds,
        "eval_seconds": evaluator.seconds,
    }
