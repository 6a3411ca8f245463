"""The agents of a comparison: their kinds, their parameters and checks, and one run of each.

Kinds (``--agent``):

- ``greedy`` / ``eps-greedy``: :func:`~rlgen.bandits.epsilon_greedy.epsilon_greedy`
  (greedy is ε = 0);
- ``ucb``: :func:`~rlgen.bandits.ucb.ucb`;
- ``gradient``: :func:`~rlgen.bandits.gradient.gradient_bandit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlgen.bandits.epsilon_greedy import epsilon_greedy, epsilon_greedy_loop
from rlgen.bandits.gradient import gradient_bandit
from rlgen.bandits.testbed import CHUNK, Result, Testbed
from rlgen.bandits.ucb import ucb
from rlgen.errors import UserError, check_config_types, check_finite, check_range

KINDS = ("greedy", "eps-greedy", "ucb", "gradient")
# Which parameters each agent kind reads; anything else given to it is an error.
PARAMS: dict[str, tuple[str, ...]] = {
    "greedy": ("alpha", "initial"),
    "eps-greedy": ("epsilon", "alpha", "initial"),
    "ucb": ("c", "alpha", "initial"),
    "gradient": ("alpha", "baseline"),
}
GRADIENT_DEFAULT_ALPHA = 0.1


def check_kind(kind: str) -> None:
    """Raise :class:`UserError` unless ``kind`` is one of :data:`KINDS`."""
    if kind not in KINDS:
        raise UserError(f"--agent: unknown agent {kind!r}; choose from {', '.join(KINDS)}")


def check_parameter(name: str, value: Any) -> None:
    """The one check of an agent parameter, however it is given (``--epsilon 0.1`` or
    ``eps-greedy:epsilon=0.1``); the message names the option (``--epsilon``)."""
    if name == "epsilon":
        check_range(name, value, 0, 1)
    elif name == "alpha":
        if value is not None:  # None: sample averages
            check_range(name, value, 0, 1, low_open=True)
    elif name == "initial":
        check_finite(name, value)
    elif name == "c":
        check_range(name, value, 0)
    elif name == "baseline":
        if not isinstance(value, bool):
            raise UserError(f"--baseline must be true or false, got {value!r}")
    else:
        raise ValueError(f"no agent parameter {name!r}")


@dataclass(frozen=True)
class Agent:
    """One agent of the comparison; ``alpha=None`` means sample averages."""

    kind: str
    epsilon: float = 0.0
    alpha: float | None = None
    initial: float = 0.0
    c: float = 2.0
    baseline: bool = True

    def __post_init__(self) -> None:
        check_config_types(self)
        check_kind(self.kind)
        for name in ("epsilon", "alpha", "initial", "c", "baseline"):
            check_parameter(name, getattr(self, name))
        if self.kind == "gradient" and self.alpha is None:
            raise UserError("--alpha: the gradient bandit needs a step size")

    @property
    def params(self) -> dict[str, Any]:
        """The parameters its kind reads, e.g. ``{"c": 2.0, "alpha": None, "initial": 0.0}``."""
        return {p: getattr(self, p) for p in PARAMS[self.kind]}

    @property
    def name(self) -> str:
        """A stable, readable name, e.g. ``eps-greedy(epsilon=0.1)`` or ``ucb(c=2)``."""
        parts = []
        for p, value in self.params.items():
            if (p == "alpha" and value is None) or (p == "initial" and value == 0.0):
                continue
            parts.append(f"{p}={value:g}" if isinstance(value, float) else f"{p}={value}")
        return f"{self.kind}({', '.join(parts)})" if parts else self.kind


def simulate(
    agent: Agent,
    q_star: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    *,
    walk_std: float = 0.0,
    chunk: int = CHUNK,
    on_progress: Callable[[int], Any] | None = None,
) -> Result:
    """Run ``agent`` on every task of the testbed for ``steps`` steps.

    Args:
        agent: the agent.
        q_star: (runs, k) true action values at step 1; not modified.
        steps: number of steps.
        rng: the generator for actions, rewards and (nonstationary) random walks.
        walk_std: standard deviation of the per-step random walk of q*; 0 is stationary.
        chunk: steps whose random numbers are drawn in one call (speed only; results depend on it,
            so it is fixed for reproducibility).
        on_progress: called with the number of steps done after each chunk (a progress bar).

    Returns:
        The per-step averages and per-run summaries of :class:`Result`.
    """
    bandit = Testbed(q_star, steps, walk_std=walk_std, chunk=chunk, on_progress=on_progress)
    if agent.kind == "gradient":
        assert agent.alpha is not None  # Agent refuses a gradient bandit without a step size
        final = gradient_bandit(bandit, rng, alpha=agent.alpha, baseline=agent.baseline)
    elif agent.kind == "ucb":
        final = ucb(bandit, rng, c=agent.c, alpha=agent.alpha, initial=agent.initial)
    else:
        epsilon = agent.epsilon if agent.kind == "eps-greedy" else 0.0
        final = epsilon_greedy(
            bandit, rng, epsilon=epsilon, alpha=agent.alpha, initial=agent.initial
        )
    return bandit.result(agent, final)


def simulate_loop(
    agent: Agent, q_star: np.ndarray, steps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A greedy / ε-greedy agent one run and one step at a time (the reference loop,
    :func:`~rlgen.bandits.epsilon_greedy.epsilon_greedy_loop`).

    Returns:
        (steps,) mean reward and (steps,) fraction of optimal actions per step.
    """
    if agent.kind not in ("greedy", "eps-greedy"):
        raise ValueError("the loop reference covers greedy and eps-greedy agents only")
    epsilon = agent.epsilon if agent.kind == "eps-greedy" else 0.0
    return epsilon_greedy_loop(
        q_star, steps, rng, epsilon=epsilon, alpha=agent.alpha, initial=agent.initial
    )
