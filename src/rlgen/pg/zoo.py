"""Per-environment defaults of ``rlgen reinforce``, kept as data with the measurement behind each.

Like rl-baselines3-zoo's hyperparameter files, but every value says why it is there. A
hyperparameter (``ReinforceConfig``) or run option (``TrainConfig``: ``total_steps``,
``eval_every``, ``eval_screen``, ``eval_both``) left unset (None) takes the environment's value
from ``ENVIRONMENTS``, else the general one from ``GENERAL``; a value the user gives always wins,
and a run directory's ``config.json`` holds the resolved values, so ``--resume`` keeps them even
if this table changes. ``eval_every`` without either is ``EVAL_EPISODES_WORTH`` episodes' worth
of steps (the environment's ``max_episode_steps``).

Every environment's entry was measured on fixed seeds with REINFORCE with baseline (solved = the
greedy policy's mean return over 100 evaluation episodes reaches the environment's reward
threshold), against the alternatives its reason quotes; the resulting defaults are measured
again, beside SB3 PPO, by ``benchmarks/reinforce_envs.py``. The general defaults are those
CartPole-v1's results (``benchmarks/cartpole.py``) were measured with. The algorithm stays
REINFORCE: whole-episode Monte Carlo returns, a learned baseline only subtracted, no
bootstrapping.
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
    "hidden": Tuned((32,), "one tanh layer of 32: CartPole-v1 solved in 10 of 10 seeds"),
    "lr": Tuned(0.02, "CartPole-v1 solved in a median 12,489 steps (benchmarks/cartpole.py)"),
    "lr_value": Tuned(0.02, "as --lr; the value network predicts standardised returns"),
    "num_envs": Tuned(8, "CartPole's NumPy implementation steps its 8 copies in one call"),
    "episodes_per_update": Tuned(8, "one episode per copy per update; CartPole as measured"),
    "normalize": Tuned(
        True, "standardised weights keep --lr 0.02 on CartPole's returns of 10 to 500"
    ),
    "ent_coef": Tuned(0.0, "the lecture's REINFORCE has no entropy bonus"),
    "max_grad_norm": Tuned(1.0, "CartPole as measured (on Acrobot it hurts: see there)"),
    "value_epochs": Tuned(1, "CartPole as measured"),
    "baseline_time": Tuned(False, "the lecture's baseline v(s); CartPole as measured"),
    "weight_by_gamma_t": Tuned(True, "Sutton & Barto's REINFORCE (the same thing when gamma = 1)"),
    # the run (TrainConfig)
    "total_steps": Tuned(200_000, "CartPole-v1 solves within 16,000 steps in 10 of 10 seeds"),
    "eval_screen": Tuned(
        10,
        "chunks of 10 of the 100 evaluation episodes: a policy far from the threshold is told "
        "apart after 10, one just below it after a few chunks",
    ),
    "eval_both": Tuned(
        False,
        "the stop criterion needs one policy; the other one's 100 episodes would double the "
        "cost of every evaluation (it is evaluated at the end and when solved)",
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
        "eval_both": Tuned(True, "both policies at every evaluation, as before"),
    },
    # Acrobot: -1 per step until the tip swings above the bar, 500 steps at most. A uniformly
    # random policy reaches it in 1% of its episodes, so for a while every episode scores -500.
    # Measured with REINFORCE with baseline, seeds 0-9, 500,000 steps: the general defaults
    # solved 3 of the first 4 seeds; with these 10 of 10, median 45,500 steps.
    "Acrobot-v1": {
        "normalize": Tuned(
            False,
            "standardising each batch scales a batch without a single success (its weights "
            "are noise) up to the size of one with a success; off: 9 of 10 seeds solved "
            "(entropy bonus 0.05 instead: 8 of 10, 0.01: 2 of 4)",
        ),
        "baseline_time": Tuned(
            True,
            "an episode that fails returns G_t = -(500 - t), known from t, not from the "
            "observation: with t the baseline takes it out of the weights (policy gradient norm "
            "4,100 -> 50 in 5 updates while nothing succeeds), so the policy stays put until "
            "something succeeds instead of drifting away",
        ),
        "value_epochs": Tuned(
            20,
            "the baseline has to fit -(500 - t) within a few updates: value loss 1.0 -> 0.005 "
            "in 2 updates with 20 steps, 0.71 after 6 with 1",
        ),
        "max_grad_norm": Tuned(
            0.0,
            "clipping to norm 1 makes every update the same length whether its batch holds a "
            "success or only noise (norms 10 to 5,000), and Adam then follows the noise: seed 5 "
            "collapsed to entropy 0 with clipping, solved at 300,000 steps without "
            "(10 of 10 seeds against 9 of 10)",
        ),
        "total_steps": Tuned(500_000, "10 of 10 seeds solve within 300,000 steps"),
    },
    # LunarLander: shaped rewards, +100 for landing, -100 for a crash, 1,000 steps at most. The
    # policy that samples passes 200 long before the greedy one does (argmax of a policy with
    # entropy 0.7 hovers until the time limit): the criterion needs a sharper policy. Measured
    # with REINFORCE with baseline, 2,000,000 steps, seeds 0-3: with these 4 of 4 solved
    # (0.95M-1.45M steps); the general defaults: 0 of 2 within 1M (returns fell back to -440).
    # On seeds 0-9 (benchmarks/reinforce_envs.py): 8 of 10 within 2M, median 1.16M steps.
    "LunarLander-v3": {
        "gamma": Tuned(
            0.99,
            "a 1,000-step episode's undiscounted return sums rewards hundreds of steps after the "
            "action; 0.999 (with --lr 0.003) was no better: 1 of 2 seeds solved within 2M",
        ),
        "weight_by_gamma_t": Tuned(
            False,
            "gamma^t is 0.05 at step 300, so the landing at an episode's end hardly moves the "
            "policy: with the factor 0 of 2 seeds solved within 2M steps (training returns "
            "about 30), without it 2 of 2 on the same seeds",
        ),
        "lr": Tuned(
            0.01,
            "with 0.003 (8 episodes per update) the sampled policy passed 200 by 1M steps but "
            "the greedy one stayed below 0 (entropy 0.7): 2 of 4 seeds solved within 1.5-2M; "
            "0.01 with 32 episodes per update: 4 of 4 (0.02 with 64: 2 of 2)",
        ),
        "episodes_per_update": Tuned(
            32, "averages the large variance of 1,000-step returns enough for --lr 0.01"
        ),
        "hidden": Tuned(
            (64,), "32 units with --lr 0.005 and 16 episodes: 0 of 1 seed within 1.5M steps"
        ),
        "total_steps": Tuned(
            2_000_000,
            "8 of seeds 0-9 solve within 1,460,711 steps; the other two did not within 2M",
        ),
    },
}
"""Each environment's own defaults, by gymnasium id."""


def _entry(env_id: str | None) -> dict[str, Tuned]:
    """``env_id``'s own defaults; an id given as ``module:Id`` (gymnasium imports the module
    first) is looked up by ``Id``."""
    return ENVIRONMENTS.get((env_id or "").rpartition(":")[2], {})


def default(env_id: str | None, name: str) -> Any:
    """The default of option ``name`` on ``env_id``: its own, else the general one (or None)."""
    own = _entry(env_id)
    if name in own:
        return own[name].value
    return GENERAL[name].value if name in GENERAL else None


def reasons(env_id: str | None) -> dict[str, str]:
    """Why each default applies on ``env_id``: the environment's reasons over the general ones."""
    out = {name: t.reason for name, t in GENERAL.items()}
    out.update({name: t.reason for name, t in _entry(env_id).items()})
    return out


def eval_every(env_id: str, max_episode_steps: int | None = None) -> int:
    """The default ``eval_every`` of ``env_id``: its own, else ``EVAL_EPISODES_WORTH`` episodes'
    worth of ``max_episode_steps`` (default: its registered time limit; 1,000 when it has
    none)."""
    own = _entry(env_id).get("eval_every")
    if own is not None:
        return int(own.value)
    import gymnasium as gym

    from rlgen.pg.rollouts import registered_spec

    length = max_episode_steps
    try:
        length = length or registered_spec(env_id).max_episode_steps
    except gym.error.Error:
        length = None
    return EVAL_EPISODES_WORTH * (length or 1_000)
