"""Per-environment defaults of ``rlgen reinforce``, kept as data with the measurement behind each.

Like rl-baselines3-zoo's hyperparameter files, but every value says why it is there. A
hyperparameter (``ReinforceConfig``) or run option (``TrainConfig``: ``total_steps``,
``eval_every``, ``eval_screen``) left unset (None) takes the environment's value from
``ENVIRONMENTS``, else the general one from ``GENERAL``; a value the user gives always wins, and
a run directory's ``config.json`` holds the resolved values, so ``--resume`` keeps them even if
this table changes. ``eval_every`` without either is ``EVAL_EPISODES_WORTH`` episodes' worth of
steps (the environment's ``max_episode_steps``).

Every entry was measured with ``benchmarks/reinforce_envs.py`` (solved = the greedy policy's mean
return over 100 evaluation episodes reaches the environment's reward threshold); the reasons
quote the numbers. The algorithm stays REINFORCE: whole-episode Monte Carlo returns, a learned
baseline only subtracted, no bootstrapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tuned:
    """One default: its value and the measured reason for it."""

    value: Any
    reason: str


GENERAL: dict[str, Tuned] = {
    # the algorithm (ReinforceConfig)
    "gamma": Tuned(1.0, "the lecture's undiscounted episodic return"),
    "hidden": Tuned((32,), "one tanh layer of 32 solves CartPole-v1; wider was not faster"),
    "lr": Tuned(0.02, "CartPole-v1 solved in a median 12,489 steps (benchmarks/cartpole.py)"),
    "lr_value": Tuned(0.02, "as --lr; the value network predicts standardised returns"),
    "num_envs": Tuned(8, "8 sub-environments stepped together amortise the policy's NumPy call"),
    "episodes_per_update": Tuned(8, "one episode per sub-environment per update"),
    "normalize": Tuned(
        True, "standardised weights make --lr 0.02 safe on CartPole's 10-500 returns"
    ),
    "ent_coef": Tuned(0.0, "the lecture's REINFORCE has no entropy bonus"),
    "max_grad_norm": Tuned(1.0, "guards the first updates, when returns and gradients jump"),
    "value_epochs": Tuned(1, "one value step per update keeps pace with CartPole's returns"),
    "baseline_time": Tuned(False, "CartPole's baseline sees the observation only (as before)"),
    "weight_by_gamma_t": Tuned(True, "Sutton & Barto's REINFORCE (the same thing when gamma = 1)"),
    # the run (TrainConfig)
    "total_steps": Tuned(200_000, "CartPole-v1 solves within 16,000 steps in 10 of 10 seeds"),
    "eval_screen": Tuned(
        10,
        "10 episodes cost a twentieth of a full evaluation (2 x 100 episodes) and tell a policy "
        "far from the threshold apart",
    ),
}
"""The defaults of every environment without its own value (they solve CartPole-v1)."""

EVAL_EPISODES_WORTH = 20
"""``eval_every`` default: this many episodes of the environment's ``max_episode_steps``."""

ENVIRONMENTS: dict[str, dict[str, Tuned]] = {
    "CartPole-v1": {
        "eval_every": Tuned(
            2_000,
            "the schedule CartPole's results were measured with (kept, so they stay identical); "
            "CartPole's NumPy-vectorised environment plays 100 evaluation episodes in 0.06 s",
        ),
        "eval_screen": Tuned(0, "every evaluation is the full one, as before (results identical)"),
    },
}
"""Each environment's own defaults, by gymnasium id."""


def default(env_id: str | None, name: str) -> Any:
    """The default of option ``name`` on ``env_id``: its own, else the general one (or None)."""
    own = ENVIRONMENTS.get(env_id or "", {})
    if name in own:
        return own[name].value
    return GENERAL[name].value if name in GENERAL else None


def reasons(env_id: str | None) -> dict[str, str]:
    """Why each default applies on ``env_id``: the environment's reasons over the general ones."""
    out = {name: t.reason for name, t in GENERAL.items()}
    out.update({name: t.reason for name, t in ENVIRONMENTS.get(env_id or "", {}).items()})
    return out


def eval_every(env_id: str) -> int:
    """The default ``eval_every`` of ``env_id``: its own, else ``EVAL_EPISODES_WORTH`` episodes'
    worth of its ``max_episode_steps`` (1,000 when it has no time limit)."""
    own = ENVIRONMENTS.get(env_id, {}).get("eval_every")
    if own is not None:
        return int(own.value)
    import gymnasium as gym

    try:
        length = gym.spec(env_id).max_episode_steps
    except gym.error.Error:
        length = None
    return EVAL_EPISODES_WORTH * (length or 1_000)
