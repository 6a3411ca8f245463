"""The policy pi(a | s; theta) and the state-value baseline v(s; w): small MLPs.

The policy outputs the logits of a categorical distribution over the discrete actions. Rollouts
step many environments one time step at a time, where torch's per-call overhead (tens of
microseconds) would dominate a forward pass through a 4-64-2 network; :class:`NumpyPolicy` runs the
same network in NumPy on views of the torch parameters (no copy on CPU), so sampling costs a few
microseconds per step. Gradients are always computed by torch, over a whole batch at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class PolicyNet(nn.Module):
    """pi(a | s; theta): observation (B, obs_size) -> action logits (B, actions)."""

    def __init__(self, obs_size: int, actions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp([obs_size, *hidden, actions])
        # A small last layer starts the policy near uniform (every action explored).
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.normal_(last.weight, std=0.01)
        nn.init.zeros_(last.bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def log_probs(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_size) -> (B, actions) log pi(. | s), normalised in a numerically stable way."""
        return torch.log_softmax(self.net(obs), dim=-1)


class ValueNet(nn.Module):
    """v(s; w): observation (B, obs_size) -> state value (B,).

    Returns grow from ~20 to 500 on CartPole while Adam moves each weight by about the learning
    rate per step, so a network that had to output returns directly would lag far behind them.
    The network instead predicts standardised returns: v(s) = mean + std * f(s; w), where mean
    and std are moving averages of the batches' return statistics (buffers, saved with the
    weights) and f is fitted by mean squared error in standardised units.
    """

    mean: torch.Tensor
    std: torch.Tensor
    initialised: torch.Tensor

    def __init__(self, obs_size: int, hidden: tuple[int, ...], momentum: float = 0.3) -> None:
        super().__init__()
        self.net = mlp([obs_size, *hidden, 1])
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def normalised(self, obs: torch.Tensor) -> torch.Tensor:
        """f(s; w), the value in standardised units, (B,)."""
        return self.net(obs).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mean + self.std * self.normalised(obs)

    @torch.no_grad()
    def update_scale(self, returns: torch.Tensor) -> None:
        """Move mean and std towards the statistics of a batch of returns (the first sets them)."""
        mean = returns.mean()
        std = returns.std() if returns.numel() > 1 else torch.ones(())
        std = torch.clamp(std, min=1e-3)
        m = 1.0 if not bool(self.initialised) else self.momentum
        self.mean.lerp_(mean, m)
        self.std.lerp_(std, m)
        self.initialised.fill_(True)

    def loss(self, obs: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
        """Mean squared error between f(s) and the standardised returns."""
        target = (returns - self.mean) / self.std
        return torch.nn.functional.mse_loss(self.normalised(obs), target)


class NumpyPolicy:
    """The policy network evaluated in NumPy, for fast per-step sampling.

    On CPU the arrays are views of the torch parameters, so they follow every optimiser step; on
    another device call :meth:`sync` after each update.
    """

    def __init__(self, policy: PolicyNet) -> None:
        self.policy = policy
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        self.sync()

    def sync(self) -> None:
        self.layers = [
            (m.weight.detach().cpu().numpy().T, m.bias.detach().cpu().numpy())
            for m in self.policy.net
            if isinstance(m, nn.Linear)
        ]

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """(B, obs_size) -> (B, actions) logits, float32."""
        x = np.asarray(obs, dtype=np.float32)
        # a non-finite observation gives NaN logits quietly: the batch is refused, with the
        # environment named, before any update (Reinforce.learn), not as a NumPy warning here
        with np.errstate(invalid="ignore", over="ignore"):
            for i, (w, b) in enumerate(self.layers):
                x = x @ w + b
                if i < len(self.layers) - 1:
                    np.tanh(x, out=x)
        return x

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """(B, obs_size) -> (B, actions) action probabilities."""
        z = self.logits(obs)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def act(
        self, obs: np.ndarray, rng: np.random.Generator | None, deterministic: bool
    ) -> np.ndarray:
        """Greedy (argmax) or sampled actions, (B,) int64; sampling by inverting the CDF."""
        if deterministic:
            return self.logits(obs).argmax(axis=1)
        assert rng is not None
        cdf = np.cumsum(self.probabilities(obs), axis=1)
        u = rng.random((cdf.shape[0], 1)) * cdf[:, -1:]
        actions = (cdf < u).sum(axis=1)
        return np.minimum(actions, cdf.shape[1] - 1)
