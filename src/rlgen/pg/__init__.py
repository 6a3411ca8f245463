"""Policy gradients: REINFORCE and REINFORCE with a learned baseline on gymnasium environments.

Library API::

    from rlgen.pg import Reinforce, ReinforceConfig
    model = Reinforce("CartPole-v1", ReinforceConfig(baseline=True), seed=0).learn(50_000)
    action = model.predict(obs, deterministic=True)

The command ``rlgen reinforce`` (:mod:`rlgen.pg.train`) adds the stop criterion, run directories,
checkpoints and multi-seed sweeps; :mod:`rlgen.pg.evaluate` the evaluation protocol.
"""

from rlgen.pg.reinforce import (
    Callback,
    FunctionCallback,
    NonFiniteLoss,
    Reinforce,
    ReinforceConfig,
    StopTraining,
    UpdateInfo,
)

__all__ = [
    "Callback",
    "FunctionCallback",
    "NonFiniteLoss",
    "Reinforce",
    "ReinforceConfig",
    "StopTraining",
    "UpdateInfo",
]
