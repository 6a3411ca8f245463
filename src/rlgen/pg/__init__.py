"""Policy gradients: REINFORCE and REINFORCE with a learned baseline.

- :mod:`rlgen.pg.estimators`: returns, advantages, gamma^t, the REINFORCE loss (no gymnasium:
  the architecture-search controller uses it too);
- :mod:`rlgen.pg.networks`: the policy and value networks;
- :mod:`rlgen.pg.rollouts`: gymnasium vector environments and whole-episode batches;
- :mod:`rlgen.pg.reinforce`: the agent (``Reinforce``: learn, predict, save, load);
- :mod:`rlgen.pg.evaluate`: the evaluation protocol and GIFs;
- :mod:`rlgen.pg.command`: ``rlgen reinforce`` (configs, one seed or a sweep of seeds);
  :mod:`rlgen.pg.seed_run`: one seed's run; :mod:`rlgen.pg.sweep`: the sweep of seeds;
  :mod:`rlgen.pg.plots`: its figures;
- :mod:`rlgen.pg.evaluate_command`: ``rlgen reinforce evaluate``.

Library API::

    from rlgen.pg import Reinforce, ReinforceConfig
    model = Reinforce("CartPole-v1", ReinforceConfig(baseline=True), seed=0).learn(50_000)
    action = model.predict(obs, deterministic=True)

The names below load on first use, so ``import rlgen.pg.estimators`` does not import gymnasium.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Callback",
    "FunctionCallback",
    "NonFiniteLoss",
    "Reinforce",
    "ReinforceConfig",
    "StopTraining",
    "UpdateInfo",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("rlgen.pg.reinforce"), name)
    raise AttributeError(f"module 'rlgen.pg' has no attribute {name!r}")
