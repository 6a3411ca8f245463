"""REINFORCE (Williams 1992) and REINFORCE with a learned state-value baseline.

Read top to bottom: the configuration, the loss, the agent (``Reinforce``: rollouts, update,
``learn``, ``predict``, save / load, checkpoints) and the callbacks that can stop training.

The policy gradient theorem gives, for episodes sampled with pi(. | .; theta)::

    grad J(theta) = E[ sum_t G_t grad log pi(a_t | s_t; theta) ]

REINFORCE estimates the expectation by the mean over a batch of whole episodes and takes a gradient
step. Any baseline b(s_t) that does not depend on the action can be subtracted from G_t without
changing the expectation; a learned state value v(s_t; w), fitted by mean squared error to the
returns, removes much of the variance (Sutton & Barto, section 13.4). With all-positive returns
(CartPole pays +1 per step) plain REINFORCE pushes up the probability of *every* sampled action,
only some more than others; subtracting v(s) centres the weights, so worse-than-expected actions
are pushed down.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Any

import gymnasium as gym
import numpy as np
import torch
import tyro
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space, iterate

from rlgen.checkpoints import GlobalRNG, load_checkpoint, save_checkpoint
from rlgen.configs import config_from_dict
from rlgen.errors import UserError, check_config_types, check_memory, check_range
from rlgen.files import to_jsonable
from rlgen.pg import zoo
from rlgen.pg.estimators import (
    advantages,
    chosen_log_prob,
    discount_weights,
    entropy,
    reinforce_loss,
)
from rlgen.pg.networks import NumpyPolicy, PolicyNet, ValueNet
from rlgen.pg.rollouts import (
    Batch,
    Rollout,
    _name,
    action_count,
    action_offset,
    flatten_observation,
    make_env,
    observation_size,
    raw_observation_space,
    time_limit,
)
from rlgen.runs import Device, resolve_device

ENV_BYTES = 4096
"""A generous estimate of one sub-environment's memory with its rollout rows (for size checks)."""

MAX_EPISODE_STEPS = 1_000_000
"""The longest time limit ``--max-episode-steps`` sets. An episode is held whole until its update,
and every evaluation episode is played to its end: under a limit of 2**70 a policy that keeps
CartPole upright never finished its first evaluation; 100 episodes of 10^6 steps are already
10^8 environment steps."""

FORMAT = "rlgen.reinforce/2"
"""The format tag of a saved model (``state_dict``); version 2 saves torch's RNG as a part."""

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def per_env(name: str, general: str | None = None) -> Any:
    """The ``--help`` hint of an option whose default depends on the environment."""
    if general is None:
        value = zoo.GENERAL[name].value
        general = " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return tyro.conf.arg(
        help_behavior_hint=f"(default: the environment's in rlgen.pg.zoo, else {general})"
    )


# A hyperparameter left at None takes the environment's default (rlgen.pg.zoo); on the command
# line it is a plain option (DisallowNone: --lr FLOAT, --normalize/--no-normalize).
Float = Annotated[float | None, tyro.conf.DisallowNone]
Int = Annotated[int | None, tyro.conf.DisallowNone]
Bool = Annotated[bool | None, tyro.conf.DisallowNone]
Sizes = Annotated[tuple[int, ...] | None, tyro.conf.DisallowNone]


@dataclass(frozen=True)
class ReinforceConfig:
    """REINFORCE's hyperparameters.

    Those left unset (None) take the environment's defaults from :mod:`rlgen.pg.zoo`, else the
    general ones there (which solve CartPole-v1 with and without baseline); a value given always
    wins. :meth:`resolved` fills them in for an environment.
    """

    baseline: bool = False
    """subtract a learned state value v(s; w) from the returns (REINFORCE with baseline)"""
    gamma: Annotated[Float, per_env("gamma")] = None
    """discount factor in [0, 1]; 1 (undiscounted episodic returns) as in the lecture"""
    hidden: Annotated[Sizes, per_env("hidden")] = None
    """hidden layer sizes of the policy and value networks (tanh)"""
    lr: Annotated[Float, per_env("lr")] = None
    """policy learning rate (Adam)"""
    lr_value: Annotated[Float, per_env("lr_value")] = None
    """value network learning rate (Adam), used with --baseline"""
    num_envs: Annotated[Int, per_env("num_envs")] = None
    """parallel environments stepped together (gymnasium.make_vec)"""
    episodes_per_update: Annotated[Int, per_env("episodes_per_update")] = None
    """whole episodes per gradient estimate (at least this many; all complete ones are used)"""
    normalize: Annotated[Bool, per_env("normalize")] = None
    """standardise the weights of grad log pi in each batch (returns, or returns minus the
    baseline) to mean 0 and standard deviation 1; without --baseline the mean acts as a constant
    baseline"""
    ent_coef: Annotated[Float, per_env("ent_coef")] = None
    """entropy bonus coefficient (>= 0) added to the objective"""
    max_grad_norm: Annotated[Float, per_env("max_grad_norm")] = None
    """clip each network's gradient to this norm; 0 turns clipping off"""
    value_epochs: Annotated[Int, per_env("value_epochs")] = None
    """gradient steps on the value loss per update"""
    baseline_time: Annotated[Bool, per_env("baseline_time")] = None
    """the baseline also sees the time step, as t / max_episode_steps: under a time limit the
    return G_t depends on the time left, which the observation does not show. A baseline that
    does not depend on the action keeps the estimate unbiased (needs --baseline)"""
    weight_by_gamma_t: Annotated[Bool, per_env("weight_by_gamma_t")] = None
    """multiply the update at step t by gamma^t, as Sutton & Barto's REINFORCE does (the
    gradient of J = E[G_0]); --no-weight-by-gamma-t drops the factor, as most deep-RL code does
    (the same thing when --gamma is 1)"""
    bootstrap_truncated: bool = False
    """at a time-limit truncation add gamma * v(s_T) to the return (needs --baseline); off:
    the episode ends there, as the task's time limit says"""
    max_episode_steps: int | None = None
    """the episodes' time limit (truncated after this many steps); None: the environment's
    registered one. Needed where it has none and a policy may never end an episode (a random
    walk in CliffWalking)"""
    device: Device = "cpu"
    """torch device: auto (CUDA when present), cpu or cuda; these small networks are fastest on
    the CPU"""

    def __post_init__(self) -> None:
        check_config_types(self)
        if self.gamma is not None:
            check_range("gamma", self.gamma, 0, 1)
        # Adam's step is computed in float32: a rate beyond it fails inside torch
        if self.lr is not None:
            check_range("lr", self.lr, 0, 1, low_open=True)
        if self.lr_value is not None:
            check_range("lr_value", self.lr_value, 0, 1, low_open=True)
        if self.num_envs is not None:
            check_range("num_envs", self.num_envs, 1)
            check_memory("num_envs", ENV_BYTES * self.num_envs, "this many environments")
        if self.episodes_per_update is not None:
            check_range("episodes_per_update", self.episodes_per_update, 1)
        if self.ent_coef is not None:
            check_range("ent_coef", self.ent_coef, 0)
        if self.max_grad_norm is not None:
            check_range("max_grad_norm", self.max_grad_norm, 0)
        if self.value_epochs is not None:
            check_range("value_epochs", self.value_epochs, 1)
        if self.hidden is not None:
            if not self.hidden or any(h < 1 for h in self.hidden):
                raise UserError(f"--hidden: give one or more layer sizes >= 1, got {self.hidden}")
            widths = [*self.hidden, 1]
            weights = sum(a * b for a, b in itertools.pairwise(widths)) + 64 * widths[0]
            # float32 weights of two networks, their gradients and Adam's two moments
            check_memory("hidden", 2 * 4 * 4 * weights, "networks of these sizes")
        if self.max_episode_steps is not None:
            check_range("max_episode_steps", self.max_episode_steps, 1, MAX_EPISODE_STEPS)
        if self.bootstrap_truncated and not self.baseline:
            raise UserError("--bootstrap-truncated needs --baseline (a value network)")
        if self.baseline_time and not self.baseline:
            raise UserError("--baseline-time needs --baseline (a value network)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"--device: unknown value {self.device!r}; choose from auto, cpu, cuda")

    def resolved(self, env_id: str | None) -> Hyperparameters:
        """Every hyperparameter set: the given ones, else ``env_id``'s defaults (rlgen.pg.zoo)."""
        values = {
            f.name: zoo.default(env_id, f.name)
            if getattr(self, f.name) is None
            else getattr(self, f.name)
            for f in fields(self)
        }
        if not self.baseline:  # the environment's baseline options apply with a baseline only
            values["baseline_time"] = False
        return Hyperparameters(**values)


@dataclass(frozen=True)
class Hyperparameters:
    """A :class:`ReinforceConfig` with every value set (:meth:`ReinforceConfig.resolved`)."""

    baseline: bool
    gamma: float
    hidden: tuple[int, ...]
    lr: float
    lr_value: float
    num_envs: int
    episodes_per_update: int
    normalize: bool
    ent_coef: float
    max_grad_norm: float
    value_epochs: int
    baseline_time: bool
    weight_by_gamma_t: bool
    bootstrap_truncated: bool
    device: str
    max_episode_steps: int | None = None  # the environment's own unless given

    def options(self) -> ReinforceConfig:
        """The same values as a :class:`ReinforceConfig` (checked, and nothing left unset)."""
        return ReinforceConfig(**asdict(self))


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------


@dataclass
class UpdateInfo:
    """What one update did; callbacks and loggers read it."""

    update: int
    env_steps: int
    episodes: int
    train_seconds: float
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    loss: float
    policy_loss: float
    value_loss: float
    entropy: float
    grad_norm: float

    def metrics(self) -> dict[str, float]:
        """The row of ``metrics.csv`` for this update."""
        return {
            "train/episode_return": float(self.episode_returns.mean()),
            "train/episode_return_min": float(self.episode_returns.min()),
            "train/episode_return_max": float(self.episode_returns.max()),
            "train/episode_length": float(self.episode_lengths.mean()),
            "train/episodes": float(self.episodes),
            "train/loss": self.loss,
            "train/policy_loss": self.policy_loss,
            "train/value_loss": self.value_loss,
            "train/entropy": self.entropy,
            "train/grad_norm": self.grad_norm,
            "time/train_seconds": self.train_seconds,
        }


class Callback:
    """Called after every update; :meth:`on_update` returns False to stop training (as in SB3)."""

    def on_start(self, model: Reinforce) -> None:
        """Before the first update of a ``learn`` call."""

    def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
        return True

    def on_end(self, model: Reinforce) -> None:
        """After the last update of a ``learn`` call (also when stopped)."""


class FunctionCallback(Callback):
    """A plain function ``f(model, info) -> bool | None`` as a callback (None means continue)."""

    def __init__(self, fn: Callable[[Reinforce, UpdateInfo], bool | None]) -> None:
        self.fn = fn

    def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
        result = self.fn(model, info)
        return True if result is None else bool(result)


class StopTraining(Callback):
    """Stop once the mean return of the last ``window`` training episodes reaches ``threshold``."""

    def __init__(self, threshold: float, window: int = 20) -> None:
        self.threshold = threshold
        self.window = window
        self._recent: list[float] = []

    def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
        self._recent = (self._recent + info.episode_returns.tolist())[-self.window :]
        return not (len(self._recent) >= self.window and np.mean(self._recent) >= self.threshold)


class NonFiniteLoss(UserError):
    """The loss became NaN or infinite: training stops, the last good checkpoint stays."""


# ---------------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------------


@dataclass
class Counters:
    """Training progress, saved in checkpoints."""

    updates: int = 0
    env_steps: int = 0
    episodes: int = 0
    train_seconds: float = 0.0


class Reinforce:
    """REINFORCE on a gymnasium environment with discrete actions and observations that flatten
    to a vector (:func:`~rlgen.pg.rollouts.make_env`).

    Example::

        model = Reinforce("CartPole-v1", ReinforceConfig(baseline=True), seed=0)
        model.learn(100_000, callback=StopTraining(threshold=475))
        action = model.predict(obs, deterministic=True)
        model.save("policy.pt"); model = Reinforce.load("policy.pt")

    Args:
        env: a gymnasium id (``config.num_envs`` copies through ``gymnasium.make_vec``), a
            vector environment, or a single environment (a vector environment of one).
        config: hyperparameters; those it leaves unset take the environment's defaults
            (:mod:`rlgen.pg.zoo`, looked up by the id, or by the environment's spec id).
        seed: seeds the network initialisation, the action sampling and the environments.
    """

    def __init__(
        self,
        env: str | gym.Env | VectorEnv,
        config: ReinforceConfig | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self.env_id = env if isinstance(env, str) else None
        self.env_name = env if isinstance(env, str) else _name(env)  # for messages
        # the options left unset take this environment's defaults (rlgen.pg.zoo)
        self.config = (config or ReinforceConfig()).resolved(self.env_name)
        self.seed = seed
        self.device = torch.device(resolve_device(self.config.device))
        self.env = make_env(
            env, self.config.num_envs, max_episode_steps=self.config.max_episode_steps
        )
        self.obs_size = observation_size(self.env)
        self.actions = action_count(self.env)
        self.rollout = Rollout(self.env, self.config.gamma)
        self.time_scale = time_limit(self.env) or 1000  # t / this is the baseline's time input

        torch.manual_seed(seed)  # the networks' initial weights
        self.policy = PolicyNet(self.obs_size, self.actions, self.config.hidden).to(self.device)
        self.value = (
            ValueNet(self.obs_size + self.config.baseline_time, self.config.hidden).to(self.device)
            if self.config.baseline
            else None
        )
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        self.value_optimizer = (
            torch.optim.Adam(self.value.parameters(), lr=self.config.lr_value)
            if self.value is not None
            else None
        )
        self.fast_policy = NumpyPolicy(self.policy)
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))  # action sampling
        self.predict_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        self.counters = Counters()

    # --- acting -------------------------------------------------------------------------------

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return self.fast_policy.act(obs, self.rng, deterministic=False)

    def predict(
        self, obs: np.ndarray, deterministic: bool = True, rng: np.random.Generator | None = None
    ) -> np.ndarray | int:
        """Actions for one observation (an int) or a batch (B, ...) -> (B,).

        Observations are given as the environment gives them: a Discrete state as its number (a
        batch: an array of numbers), a Tuple's as a tuple (a batch: a list of tuples, or a tuple
        of arrays as a vector environment gives them), a Dict's as a dict (a batch: a list of
        dicts, or a dict of arrays).
        ``deterministic``: the most probable action (greedy); else a sample from pi(. | s), drawn
        with ``rng`` (default: a generator seeded from this model's seed). Actions are the
        environment's (``Discrete(3, start=-1)``: -1, 0, 1), ready for ``env.step``.
        """
        space = raw_observation_space(self.env)
        if isinstance(space, gym.spaces.Box):
            obs = np.asarray(obs, dtype=np.float32)
            single = obs.ndim == len(space.shape or ())
            batch = obs.reshape(-1, self.obs_size)
        else:  # flattened here as make_env's wrapper flattens what the rollouts see
            single = _is_one(space, obs)
            if single:
                observations = [obs]
            elif _is_batched(space, obs):  # a vector environment's: a tuple / dict of arrays
                # gymnasium's own unbatching; the batch size plays no part in it
                observations = list(iterate(batch_space(space, 1), obs))
            else:
                observations = list(obs)
            batch = np.stack([flatten_observation(space, o) for o in observations])
        if not deterministic and rng is None:
            rng = self.predict_rng
        # the environment's own action numbers (a Discrete space may start elsewhere than 0)
        actions = self.fast_policy.act(batch, rng, deterministic) + action_offset(self.env)
        return int(actions[0]) if single else actions

    def act_fn(self, deterministic: bool, rng: np.random.Generator | None = None) -> Callable:
        """A batch policy ``obs (N, obs_size) -> actions (N,)`` for rollouts and evaluation:
        flattened observations, action indices 0..n-1 (the environments of :func:`make_env`
        add a Discrete space's ``start``)."""

        def act(obs: np.ndarray) -> np.ndarray:
            return self.fast_policy.act(obs, rng, deterministic)

        return act

    # --- ALGO LOGIC: one update from a batch of whole episodes --------------------------------

    def update(self, batch: Batch) -> dict[str, float]:
        """One REINFORCE step on the policy (and MSE steps on the value); returns the losses."""
        obs = torch.as_tensor(batch.obs, device=self.device)  # (M, obs_size)
        actions = torch.as_tensor(batch.actions, device=self.device)  # (M,)
        returns = torch.as_tensor(batch.returns, dtype=torch.float32, device=self.device)  # (M,)

        if self.value is not None and self.config.bootstrap_truncated and batch.truncated.any():
            returns = returns + self._bootstrap(batch)

        values = None
        value_loss = torch.zeros(())
        if self.value is not None:
            assert self.value_optimizer is not None
            # The baseline before the value network sees this batch (Sutton & Barto 13.4 compute
            # delta with the current w): fitted first, v(s_t) would absorb part of G_t, which
            # depends on a_t, and the estimate would no longer be unbiased.
            value_input = self._value_input(obs, batch.time)
            with torch.no_grad():
                values = self.value(value_input)
            self.value.update_scale(returns)
            for _ in range(self.config.value_epochs):  # fit v(s; w) to the returns (MSE)
                value_loss = self.value.loss(value_input, returns)
                self._check_finite(value_loss, "value")
                self.value_optimizer.zero_grad(set_to_none=True)
                value_loss.backward()
                if self.config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(
                        self.value.parameters(), self.config.max_grad_norm
                    )
                self.value_optimizer.step()
        weights = advantages(returns, values, normalize=self.config.normalize)
        discount = (
            discount_weights(batch.time, self.config.gamma).to(self.device)
            if self.config.weight_by_gamma_t and self.config.gamma != 1.0
            else None
        )

        log_pi = self.policy.log_probs(obs)  # (M, actions)
        log_prob = chosen_log_prob(log_pi, actions)  # (M,) log pi(a_t | s_t)
        policy_entropy = entropy(log_pi)
        policy_loss = reinforce_loss(log_prob, weights, batch.episodes, discount)
        loss = policy_loss - self.config.ent_coef * policy_entropy
        self._check_finite(loss, "policy")
        self.policy_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(
                self.policy.parameters(), self.config.max_grad_norm
            )
        else:
            grad_norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.policy.parameters() if p.grad is not None])
            )
        if not torch.isfinite(grad_norm):
            self._raise_non_finite("policy gradient")
        self.policy_optimizer.step()
        if self.device.type != "cpu":
            self.fast_policy.sync()
        return {
            "loss": float(loss.detach()) + float(value_loss.detach()),
            "policy_loss": float(policy_loss.detach()),
            "value_loss": float(value_loss.detach()),
            "entropy": float(policy_entropy.detach()),
            "grad_norm": float(grad_norm),
        }

    def _value_input(self, obs: torch.Tensor, time: np.ndarray) -> torch.Tensor:
        """(M, obs_size) observations, with t / time_scale appended for --baseline-time."""
        if not self.config.baseline_time:
            return obs
        t = torch.as_tensor(time, dtype=torch.float32, device=self.device) / self.time_scale
        return torch.cat([obs, t[:, None]], dim=1)

    def _bootstrap(self, batch: Batch) -> torch.Tensor:
        """gamma^(k+1) v(s_T) added to G_t for the steps of episodes cut by a time limit."""
        assert self.value is not None
        final_obs = torch.as_tensor(batch.final_obs, device=self.device)
        with torch.no_grad():  # s_T comes one step after the last step's time
            final_values = self.value(self._value_input(final_obs, batch.time + 1))
        extra = np.zeros(batch.steps)
        tail = batch.truncated.nonzero()[0]  # last step of each truncated episode
        fv = final_values.cpu().numpy()
        for last in tail:
            ep = batch.episode[last]
            first = np.searchsorted(batch.episode, ep)  # episodes are contiguous and ordered
            k = np.arange(last - first, -1, -1)  # steps from t to the cut
            extra[first : last + 1] = self.config.gamma ** (k + 1) * fv[last]
        return torch.as_tensor(extra, dtype=torch.float32, device=self.device)

    def _check_finite(self, loss: torch.Tensor, which: str) -> None:
        if not torch.isfinite(loss):
            self._raise_non_finite(f"{which} loss")

    def _raise_non_finite(self, what: str) -> None:
        ent_coef = " or --ent-coef" if self.config.ent_coef > 0 else ""
        raise NonFiniteLoss(
            f"training stopped: the {what} is not finite at update {self.counters.updates + 1} "
            f"(env step {self.counters.env_steps}); the last good checkpoint is kept. "
            f"Try a smaller --lr / --lr-value{ent_coef} or gradient clipping (--max-grad-norm)"
        )

    # --- the training loop ----------------------------------------------------------------------

    def restart_envs(self) -> None:
        """Reset the environments with a seed drawn from this model's generator (see Rollout)."""
        self.rollout.restart(int(self.rng.integers(2**31)))

    def learn(
        self,
        total_steps: int,
        callback: Callback | Sequence[Callback] | Callable | None = None,
        *,
        progress: Any = None,
    ) -> Reinforce:
        """Train until ``total_steps`` environment steps (in all) or until a callback says stop.

        ``train_seconds`` counts rollouts and updates only, not the time spent in callbacks
        (evaluation, checkpoints). ``progress`` is an optional bar updated in env steps.
        """
        callbacks = _callbacks(callback)
        if not self.rollout.started:
            self.restart_envs()
        for cb in callbacks:
            cb.on_start(self)
        c = self.counters
        try:
            while c.env_steps < total_steps:
                start = time.perf_counter()
                steps_before = self.rollout.steps
                batch = self.rollout.collect(
                    self._act, self.config.episodes_per_update, total_steps - c.env_steps
                )
                new_steps = self.rollout.steps - steps_before
                c.env_steps += new_steps
                if batch.episodes == 0:  # the budget ran out before a whole batch
                    c.train_seconds += time.perf_counter() - start
                    if progress is not None:
                        progress.update(new_steps)
                    break
                if not np.isfinite(batch.rewards).all():
                    raise NonFiniteLoss(
                        f"training stopped: the environment {self.env_name} returned a "
                        f"non-finite reward (env step {c.env_steps}); the last good checkpoint "
                        "is kept"
                    )
                if not np.isfinite(batch.obs).all():  # the networks read float32
                    raise NonFiniteLoss(
                        f"training stopped: the environment {self.env_name} returned an "
                        "observation that is not a finite float32 (NaN, infinite, or beyond "
                        f"3.4e38) (env step {c.env_steps}); the last good checkpoint is kept. "
                        "Scale or clip its observations (gymnasium's wrappers)"
                    )
                losses = self.update(batch)
                c.updates += 1
                c.episodes += batch.episodes
                c.train_seconds += time.perf_counter() - start
                info = UpdateInfo(
                    update=c.updates,
                    env_steps=c.env_steps,
                    episodes=c.episodes,
                    train_seconds=c.train_seconds,
                    episode_returns=batch.episode_returns,
                    episode_lengths=batch.episode_lengths,
                    **losses,
                )
                if progress is not None:
                    progress.update(new_steps)
                keep_going = True
                for cb in callbacks:
                    keep_going = cb.on_update(self, info) and keep_going
                if not keep_going:
                    break
        finally:
            for cb in callbacks:
                cb.on_end(self)
        return self

    # --- saving -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: networks, optimisers, RNGs, counters.

        Also what :meth:`from_state` needs to rebuild the model (config, environment id, sizes),
        so a run's checkpoint and a saved model are the same thing.
        """
        return {
            "format": FORMAT,
            "config": asdict(self.config),
            "env_id": self.env_id,
            "seed": self.seed,
            "obs_size": self.obs_size,
            "actions": self.actions,
            "policy": self.policy.state_dict(),
            "value": self.value.state_dict() if self.value is not None else None,
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "value_optimizer": (
                self.value_optimizer.state_dict() if self.value_optimizer is not None else None
            ),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": GlobalRNG().state_dict(),
            "rollout": self.rollout.state_dict(),
            "counters": asdict(self.counters),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a model built with the same config and sizes."""
        self._check_fits(state, "the saved model")
        self.policy.load_state_dict(state["policy"])
        self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        if self.value is not None:
            assert self.value_optimizer is not None
            self.value.load_state_dict(state["value"])
            self.value_optimizer.load_state_dict(state["value_optimizer"])
        self.fast_policy.sync()
        self.rng.bit_generator.state = state["numpy_rng"]
        GlobalRNG().load_state_dict(state["torch_rng"])
        self.counters = Counters(**state["counters"])
        self.rollout.load_state_dict(state["rollout"])

    def load_networks(self, state: dict[str, Any]) -> None:
        """Only the policy (and value) networks and the counters of a :meth:`state_dict`."""
        self._check_fits(state, "the saved model")
        self.policy.load_state_dict(state["policy"])
        if self.value is not None:
            self.value.load_state_dict(state["value"])
        self.fast_policy.sync()
        self.counters = Counters(**state["counters"])

    def _check_fits(self, state: dict[str, Any], what: str) -> None:
        if (self.obs_size, self.actions) != (state["obs_size"], state["actions"]):
            raise UserError(
                f"{what} has {state['obs_size']} observations and {state['actions']} actions, "
                f"but the environment has {self.obs_size} and {self.actions}"
            )

    def save(self, path: str | Path) -> None:
        """Save the model (and its training state) atomically; :meth:`load` reads it back."""
        save_checkpoint(path, self.state_dict())

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: str | gym.Env | VectorEnv | None = None,
        *,
        device: Device | None = None,
        networks_only: bool = False,
    ) -> Reinforce:
        """A model from :meth:`save` (``torch.load(weights_only=True)``).

        ``env`` defaults to the saved environment id (under the saved ``max_episode_steps``; an
        environment object keeps its own time limit). Training continues where it stopped, with
        the saved environments replayed (:class:`~rlgen.pg.rollouts.Rollout`);
        ``networks_only`` loads just the networks, to act or evaluate (no replay, and any
        environment of the same spaces and any number of copies will do).
        """
        return cls.from_state(
            load_checkpoint(path), env, device=device, where=str(path), networks_only=networks_only
        )

    @classmethod
    def from_state(
        cls,
        state: Any,
        env: str | gym.Env | VectorEnv | None = None,
        *,
        device: Device | None = None,
        where: str = "the saved model",
        networks_only: bool = False,
    ) -> Reinforce:
        """A model rebuilt from a :meth:`state_dict` (a saved model or a run's checkpoint).

        ``networks_only``: the networks and counters, without the optimisers, RNGs and
        environments a continued training needs (see :meth:`load`).
        """
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{where}: not a REINFORCE model")
        # asdict() keeps tuples (--hidden) and torch.save keeps them; config_from_dict reads the
        # JSON form, where they are lists
        saved = to_jsonable(state["config"])
        if isinstance(saved, dict):  # saved before the option existed: the baseline saw no time
            saved.setdefault("baseline_time", False)
        config = config_from_dict(ReinforceConfig, saved, where=f"{where}: config")
        if device is not None:
            config = replace(config, device=device)
        env = env if env is not None else state["env_id"]
        if env is None:
            raise UserError(f"{where}: the model was trained on an environment object; pass env=")
        if not isinstance(env, str):  # --max-episode-steps applies to an id; an object has its own
            config = replace(config, max_episode_steps=None)
        model = cls(env, config, seed=int(state["seed"]))
        try:
            model._check_fits(state, where)
            if networks_only:
                model.load_networks(state)
            else:
                model.load_state_dict(state)
        except UserError:  # other sizes, or environments that cannot be replayed
            model.close()
            raise
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            model.close()
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"{where}: the saved networks do not fit ({first})") from None
        return model

    def close(self) -> None:
        self.env.close()


def _callbacks(callback: Callback | Sequence[Callback] | Callable | None) -> list[Callback]:
    if callback is None:
        return []
    if isinstance(callback, Callback):
        return [callback]
    if callable(callback):
        return [FunctionCallback(callback)]
    return [c if isinstance(c, Callback) else FunctionCallback(c) for c in callback]


_ARRAYS = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def _is_one(space: gym.Space, obs: Any) -> bool:
    """Whether ``obs`` has the structure of one observation of ``space`` (not a batch of them).

    By shape, not ``space.contains``: an environment's observation may lie outside the bounds or
    the dtype its Box declares, and is still one observation.
    """
    if isinstance(space, gym.spaces.Tuple):
        return (
            isinstance(obs, tuple | list | np.ndarray)
            and len(obs) == len(space.spaces)
            and all(_is_one(s, o) for s, o in zip(space.spaces, obs, strict=True))
        )
    if isinstance(space, gym.spaces.Dict):
        return isinstance(obs, Mapping) and all(
            k in obs and _is_one(s, obs[k]) for k, s in space.spaces.items()
        )
    if isinstance(space, _ARRAYS):
        return np.ndim(obs) == len(space.shape or ())
    try:
        return bool(space.contains(obs))
    except Exception:  # a batch that the space's check cannot even read as one
        return False


def _is_batched(space: gym.Space, obs: Any) -> bool:
    """Whether ``obs`` is a batch in a vector environment's form: a Tuple's as a tuple of
    batches, a Dict's as a dict of batches, an array with one more (leading) dimension."""
    if isinstance(space, gym.spaces.Tuple):
        return (
            isinstance(obs, tuple)
            and len(obs) == len(space.spaces)
            and all(_is_batched(s, o) for s, o in zip(space.spaces, obs, strict=True))
        )
    if isinstance(space, gym.spaces.Dict):
        return isinstance(obs, Mapping) and all(
            k in obs and _is_batched(s, obs[k]) for k, s in space.spaces.items()
        )
    return (
        isinstance(space, _ARRAYS)
        and isinstance(obs, np.ndarray)
        and obs.ndim == len(space.shape or ()) + 1
    )
