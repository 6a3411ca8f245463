"""The agent of architecture search: an LSTM controller trained with REINFORCE, and random search.

The controller (Zoph & Le 2017) is a policy over architectures. It is an LSTM that emits one
decision per step: at step t its output goes through decision t's own softmax classifier, an
option is sampled, and that option's embedding is the next step's input (the first step reads a
learned start vector). An architecture is the episode, the child's validation reward the return,
received once at the end, so for a batch of m sampled architectures the REINFORCE estimate of the
gradient of J = E[R] is (Zoph & Le 2017, equation 2)::

    (1/m) sum_k (R_k - b) grad log P(a_k; theta),  log P(a_k) = sum_t log pi(a_{k,t} | a_{k,<t})

with b an exponential moving average of earlier rewards (:class:`MovingAverageBaseline` of
:mod:`rlgen.pg.estimators`, which also provides the loss). An entropy bonus keeps the controller
exploring. As in ENAS (Pham et al. 2018), logits are divided by a temperature and squashed with
``c * tanh(.)``, which bounds how sure the controller can become.

NASNet and MnasNet themselves trained their controllers with PPO (Zoph et al. 2018, section 4;
Tan et al. 2019, section 5); this is the plain REINFORCE of Zoph & Le 2017, the lecture's
algorithm.

:class:`RandomSearch` has the same interface (``propose`` / ``update`` / state) and samples every
decision uniformly: the baseline every search is measured against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rlgen.errors import UserError, check_config_types, check_range
from rlgen.nas.spaces import Architecture, SearchSpace
from rlgen.pg.estimators import MovingAverageBaseline, advantages, reinforce_loss


@dataclass(frozen=True)
class ControllerConfig:
    """The REINFORCE controller's hyperparameters (ENAS's defaults where it has them)."""

    hidden: int = 64
    """LSTM size (and the size of the option embeddings)"""
    temperature: float = 5.0
    """logits are divided by this before the tanh squashing"""
    tanh_constant: float = 2.5
    """c in c * tanh(logits): bounds the logits to [-c, c] (0: no squashing)"""
    lr: float = 0.01
    """Adam learning rate of the controller"""
    entropy_weight: float = 1e-3
    """weight of the mean per-decision entropy bonus in the controller's loss"""
    baseline_decay: float = 0.9
    """decay of the exponential moving average of rewards used as the baseline"""

    def __post_init__(self) -> None:
        check_config_types(self, "reinforce.")
        check_range("reinforce.hidden", self.hidden, 1, 4096)
        check_range("reinforce.temperature", self.temperature, 0, low_open=True)
        # the logits c * tanh(.) are float32: a c beyond its range made them infinite (NaN
        # probabilities, blamed on the learning rate)
        check_range("reinforce.tanh_constant", self.tanh_constant, 0, 1e38)
        # Adam's step is computed in float32: a rate beyond it fails inside torch
        check_range("reinforce.lr", self.lr, 0, 1, low_open=True)
        check_range("reinforce.entropy_weight", self.entropy_weight, 0)
        check_range("reinforce.baseline_decay", self.baseline_decay, 0, 1, high_open=True)


# ---------------------------------------------------------------------------------------------
# The policy: an LSTM over decisions
# ---------------------------------------------------------------------------------------------


class Controller(nn.Module):
    """pi(a_t | a_<t): an LSTM cell, one embedding table and one classifier per decision."""

    def __init__(self, sizes: Sequence[int], config: ControllerConfig) -> None:
        super().__init__()
        self.sizes = tuple(sizes)
        self.config = config
        h = config.hidden
        self.start = nn.Parameter(torch.zeros(h))
        self.lstm = nn.LSTMCell(h, h)
        self.heads = nn.ModuleList(nn.Linear(h, n) for n in self.sizes)
        self.embeddings = nn.ModuleList(nn.Embedding(n, h) for n in self.sizes)
        for p in self.parameters():  # ENAS: small uniform initialisation, nearly uniform policy
            nn.init.uniform_(p, -0.1, 0.1)

    def logits(self, t: int, out: Tensor) -> Tensor:
        """Decision t's logits (B, n_t) from the LSTM output (B, hidden)."""
        z = self.heads[t](out) / self.config.temperature
        c = self.config.tanh_constant
        return c * torch.tanh(z) if c > 0 else z

    def forward(
        self,
        n: int,
        *,
        choices: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Sample ``n`` architectures (or score the given ``choices``) decision by decision.

        Args:
            n: how many architectures.
            choices: (n, D) option indices to score instead of sampling.
            generator: the sampling generator.

        Returns:
            ``(choices, log_prob, entropy)``: (n, D) int64 options; (n,) log P(a) summed over
            the decisions; (n,) entropies of the D distributions, summed.
        """
        h = self.start.expand(n, -1)
        state = (torch.zeros_like(h), torch.zeros_like(h))
        x = h
        picked, log_prob, entropy = [], torch.zeros(n), torch.zeros(n)
        for t in range(len(self.sizes)):
            state = self.lstm(x, state)
            log_pi = torch.log_softmax(self.logits(t, state[0]), dim=1)  # (n, n_t)
            if not torch.isfinite(log_pi).all():
                raise UserError(
                    "the controller's probabilities became NaN or infinite: lower "
                    "--reinforce.lr or --reinforce.entropy-weight, or raise --reinforce.temperature"
                )
            if choices is None:
                a = torch.multinomial(log_pi.exp(), 1, generator=generator).squeeze(1)
            else:
                a = choices[:, t]
            picked.append(a)
            log_prob = log_prob + log_pi.gather(1, a[:, None]).squeeze(1)
            entropy = entropy - (log_pi.exp() * log_pi).sum(dim=1)
            x = self.embeddings[t](a)
        return torch.stack(picked, dim=1), log_prob, entropy


# ---------------------------------------------------------------------------------------------
# ALGO LOGIC: REINFORCE with a moving-average baseline
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateInfo:
    """One controller update, for the metrics."""

    loss: float
    entropy: float
    """mean per-decision entropy of the batch's distributions (nats)"""
    baseline: float
    """the baseline the batch was measured against"""
    mean_reward: float
    architectures: int
    """how many architectures the update used (the batch's successful trials)"""

    def metrics(self) -> dict[str, float]:
        return {
            "controller/loss": self.loss,
            "controller/entropy": self.entropy,
            "controller/baseline": self.baseline,
            "controller/mean_reward": self.mean_reward,
            "controller/architectures": float(self.architectures),
        }


class ReinforceSearch:
    """Propose architectures with the controller; learn from their rewards by REINFORCE.

    ``propose(m)`` samples m architectures (no gradient); ``update(archs, rewards)`` scores them
    again with gradient, under the same parameters, and takes one Adam step. The state (the
    controller, Adam, the baseline, the sampling generator) is one ``state_dict``, so a search
    can be stored between any two calls and continued exactly.
    """

    name = "reinforce"

    def __init__(self, space: SearchSpace, config: ControllerConfig, seed: int) -> None:
        self.space = space
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.controller = Controller(space.sizes, config)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=config.lr)
        self.baseline = MovingAverageBaseline(config.baseline_decay)
        self.generator = torch.Generator().manual_seed(seed)
        self.updates = 0

    def propose(self, m: int) -> list[Architecture]:
        """m architectures sampled from the controller."""
        with torch.no_grad():
            choices, _, _ = self.controller(m, generator=self.generator)
        return [tuple(int(c) for c in row) for row in choices.tolist()]

    def probabilities(self, arch: Sequence[int]) -> float:
        """P(arch) under the current controller."""
        with torch.no_grad():
            _, log_prob, _ = self.controller(1, choices=torch.tensor([list(arch)]))
        return float(log_prob.exp())

    def update(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> UpdateInfo | None:
        """One REINFORCE step on a batch of architectures and their rewards (None if empty)."""
        if not archs:
            return None
        R = torch.tensor(rewards, dtype=torch.float32)  # (m,)
        if not torch.isfinite(R).all():
            raise UserError(
                f"rewards beyond float32 reach the controller (largest |reward| "
                f"{max(abs(r) for r in rewards):g}); with --task synthetic, lower --noise"
            )
        # b: the moving average of earlier batches' mean rewards (this batch's for the first)
        b = self.baseline.value if self.baseline.value is not None else float(R.mean())
        choices = torch.tensor([list(a) for a in archs], dtype=torch.int64)  # (m, D)
        _, log_prob, entropy = self.controller(len(archs), choices=choices)
        weights = advantages(R, torch.full_like(R, b))
        mean_entropy = entropy.mean() / len(self.space.sizes)  # per decision
        loss = reinforce_loss(log_prob, weights, len(archs))
        loss = loss - self.config.entropy_weight * mean_entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.baseline.update(float(np.mean(rewards)))  # once per batch: order-free
        self.updates += 1
        return UpdateInfo(
            loss=float(loss.detach()),
            entropy=float(mean_entropy.detach()),
            baseline=b,
            mean_reward=float(R.mean()),
            architectures=len(archs),
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline.load_state_dict(state["baseline"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])


class RandomSearch:
    """Every decision uniformly at random; learns nothing. The same interface as REINFORCE."""

    name = "random"

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def propose(self, m: int) -> list[Architecture]:
        return [self.space.sample(self.rng) for _ in range(m)]

    def update(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> UpdateInfo | None:
        self.updates += 1
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": _rng_state(self.rng), "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = _rng_state_back(state["rng"])
        self.updates = int(state["updates"])


Search = ReinforceSearch | RandomSearch


def make_search(kind: str, space: SearchSpace, config: ControllerConfig, seed: int) -> Search:
    """``reinforce`` or ``random`` search over ``space``."""
    if kind == "reinforce":
        return ReinforceSearch(space, config, seed)
    if kind == "random":
        return RandomSearch(space, seed)
    raise ValueError(f"unknown controller {kind!r}")


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A PCG64 state with its 128-bit integers as strings (a safe, weights-only payload)."""
    state = rng.bit_generator.state
    inner = {k: str(v) for k, v in state["state"].items()}
    return {
        "bit_generator": state["bit_generator"],
        "state": inner,
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def _rng_state_back(saved: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "bit_generator": saved["bit_generator"],
        "state": {k: int(v) for k, v in saved["state"].items()},
        "has_uint32": int(saved["has_uint32"]),
        "uinteger": int(saved["uinteger"]),
    }
