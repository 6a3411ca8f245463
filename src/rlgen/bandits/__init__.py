"""The k-armed bandit testbed and its agents (Sutton & Barto, chapter 2), vectorised over runs.

- :mod:`~rlgen.bandits.testbed`: the testbed (true values, rewards, the nonstationary random walk)
  for every run at once, and :class:`Result`, what an agent did on it;
- :mod:`~rlgen.bandits.action_values`: estimates Q(a), N(a) and their incremental update, the
  greedy choice with ties broken at random;
- :mod:`~rlgen.bandits.epsilon_greedy`, :mod:`~rlgen.bandits.ucb`,
  :mod:`~rlgen.bandits.gradient`: one module per kind of agent, each read top to bottom (their
  functions are not re-exported here, where they would hide the modules of the same name);
- :mod:`~rlgen.bandits.agents`: :class:`Agent` (a kind and its checked parameters) and
  :func:`simulate`;
- :mod:`~rlgen.bandits.command`: ``rlgen bandit`` (:class:`BanditConfig`, :func:`experiment`,
  :func:`run`, :func:`plot`).

    from rlgen.bandits import BanditConfig, experiment, run
"""

from rlgen.bandits.action_values import MAX_ARMS, ActionValues, argmax_random_ties
from rlgen.bandits.agents import KINDS, PARAMS, Agent, simulate, simulate_loop
from rlgen.bandits.command import BanditConfig, describe, experiment, parse_agent, plot, run, save
from rlgen.bandits.epsilon_greedy import epsilon_greedy_loop
from rlgen.bandits.gradient import softmax
from rlgen.bandits.testbed import Result, Testbed, standard_error, true_values
from rlgen.bandits.ucb import ucb_values

__all__ = [
    "KINDS",
    "MAX_ARMS",
    "PARAMS",
    "ActionValues",
    "Agent",
    "BanditConfig",
    "Result",
    "Testbed",
    "argmax_random_ties",
    "describe",
    "epsilon_greedy_loop",
    "experiment",
    "parse_agent",
    "plot",
    "run",
    "save",
    "simulate",
    "simulate_loop",
    "softmax",
    "standard_error",
    "true_values",
    "ucb_values",
]
