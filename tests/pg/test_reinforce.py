"""REINFORCE: the loss against the formula, baseline handling, save/load, determinism, learning."""

from __future__ import annotations

import copy
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlgen.errors import UserError
from rlgen.pg import NonFiniteLoss, Reinforce, ReinforceConfig, StopTraining
from rlgen.pg.estimators import advantages, reinforce_loss
from rlgen.pg.evaluate import evaluate, record_gif
from rlgen.pg.rollouts import Batch, make_env

from . import envs
from .envs import Observations, ZeroEnv

envs.register()  # the rlgen-test/... ids

SMALL = ReinforceConfig(hidden=(8,), num_envs=2, episodes_per_update=2)


def test_loss_gradient_is_the_reinforce_formula():
    # Linear softmax policy pi(a|s) = softmax(W s): grad_W log pi(a|s) = (onehot(a) - pi(.|s)) s^T
    torch.manual_seed(0)
    W = torch.randn(3, 2, requires_grad=True)
    s = torch.tensor([[1.0, 0.0], [0.5, -1.0], [2.0, 1.0], [0.0, 1.0]])  # 4 steps
    a = torch.tensor([0, 2, 1, 1])
    G = torch.tensor([3.0, 2.0, 1.0, 5.0])  # returns
    episodes = 2  # steps 0-2 form one episode, step 3 another
    log_prob = torch.log_softmax(s @ W.T, dim=1)[torch.arange(4), a]
    reinforce_loss(log_prob, G, episodes).backward()

    pi = torch.softmax(s @ W.T, dim=1).detach()
    expected = torch.zeros(3, 2)
    for t in range(4):
        onehot = torch.nn.functional.one_hot(a[t], 3).float()
        expected += G[t] * torch.outer(onehot - pi[t], s[t])
    expected /= episodes
    # the loss is minimised, so its gradient is minus the ascent direction
    torch.testing.assert_close(W.grad, -expected)


def test_policy_weights_baseline_and_normalisation():
    G = torch.tensor([10.0, 20.0, 30.0, 40.0])
    v = torch.tensor([12.0, 18.0, 30.0, 35.0], requires_grad=True)
    torch.testing.assert_close(advantages(G, None, normalize=False), G)
    w = advantages(G, v, normalize=False)
    torch.testing.assert_close(w, torch.tensor([-2.0, 2.0, 0.0, 5.0]))
    assert not w.requires_grad  # the baseline is not trained through the policy loss
    n = advantages(G, v, normalize=True)
    assert abs(float(n.mean())) < 1e-6 and abs(float(n.std()) - 1) < 1e-5


def test_value_network_fits_the_returns():
    model = Reinforce("CartPole-v1", ReinforceConfig(baseline=True, hidden=(16,), lr=1e-9), seed=0)
    assert model.value is not None
    model.restart_envs()
    batch = model.rollout.collect(model._act, 8)
    obs = torch.as_tensor(batch.obs)
    returns = torch.as_tensor(batch.returns, dtype=torch.float32)

    def error():
        with torch.no_grad():
            return float(((model.value(obs) - returns) ** 2).mean())

    before = error()
    for _ in range(60):
        model.update(batch)
    # the baseline's scale follows the returns at once; the network then explains part of the
    # rest: better than the batch mean alone
    assert abs(float(model.value.mean) - float(returns.mean())) < 1e-3
    assert error() < 0.5 * float(returns.var()) < before
    model.close()


def test_bootstrap_adds_discounted_value_at_truncation():
    model = Reinforce(
        "CartPole-v1",
        ReinforceConfig(baseline=True, bootstrap_truncated=True, gamma=0.5, hidden=(4,)),
        seed=0,
    )
    assert model.value is not None
    with torch.no_grad():
        for p in model.value.parameters():
            p.zero_()
        model.value.mean.fill_(8.0)  # v(s) = 8 + 1 * 0 everywhere
    batch = Batch(
        obs=np.zeros((3, 4), np.float32),
        actions=np.zeros(3, np.int64),
        rewards=np.ones(3),
        returns=np.array([1.75, 1.5, 1.0]),
        episode=np.zeros(3, np.int64),
        time=np.arange(3),
        truncated=np.array([False, False, True]),
        final_obs=np.zeros((3, 4), np.float32),
        episode_returns=np.array([3.0]),
        episode_lengths=np.array([3]),
    )
    np.testing.assert_allclose(model._bootstrap(batch).numpy(), [0.125 * 8, 0.25 * 8, 0.5 * 8])
    model.close()


def test_bootstrap_needs_baseline():
    with pytest.raises(UserError, match="--bootstrap-truncated needs --baseline"):
        ReinforceConfig(bootstrap_truncated=True)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"gamma": 1.5}, "--gamma"),
        ({"lr": 0.0}, "--lr"),
        ({"num_envs": 0}, "--num-envs"),
        ({"hidden": ()}, "--hidden"),
        ({"ent_coef": -1.0}, "--ent-coef"),
    ],
)
def test_bad_config_names_the_option(kwargs, option):
    with pytest.raises(UserError, match=option):
        ReinforceConfig(**kwargs)


def test_save_load_round_trip_gives_identical_actions(tmp_path):
    model = Reinforce("CartPole-v1", SMALL, seed=3).learn(1500)
    model.save(tmp_path / "m.pt")
    loaded = Reinforce.load(tmp_path / "m.pt")
    obs = np.random.default_rng(0).normal(0, 0.5, (64, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs), loaded.predict(obs))
    a = model.predict(obs, deterministic=False, rng=np.random.default_rng(1))
    b = loaded.predict(obs, deterministic=False, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert isinstance(model.predict(obs[0]), int)
    assert loaded.counters.env_steps == model.counters.env_steps
    # a model loaded mid-episode (its environments replayed from their seed and the actions
    # since) continues exactly as the uninterrupted model does
    model.learn(3000)
    loaded.learn(3000)
    for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    model.close()
    loaded.close()


def test_saving_changes_nothing_in_the_run(tmp_path):
    """How often a model is saved cannot change what it learns (no reseeding at a save)."""
    straight = Reinforce("CartPole-v1", SMALL, seed=5).learn(4000)
    saved = Reinforce("CartPole-v1", SMALL, seed=5)
    for steps in (700, 1500, 2600):
        saved.learn(steps)
        saved.save(tmp_path / f"m{steps}.pt")
    saved.learn(4000)
    torch.testing.assert_close(params(straight), params(saved), rtol=0, atol=0)
    assert straight.counters == saved.counters or (
        straight.counters.env_steps == saved.counters.env_steps
    )
    resumed = Reinforce.load(tmp_path / "m1500.pt").learn(4000)
    torch.testing.assert_close(params(straight), params(resumed), rtol=0, atol=0)
    for m in (straight, saved, resumed):
        m.close()


@pytest.mark.parametrize("seed", [6, 7])
def test_learning_under_several_budgets_is_learning_under_the_last(seed):
    """A budget that runs out mid-batch hands over nothing: no extra update on a partial batch."""
    once = Reinforce("CartPole-v1", SMALL, seed=seed).learn(4000)
    pieces = Reinforce("CartPole-v1", SMALL, seed=seed)
    for steps in (700, 1500, 2600, 4000):
        pieces.learn(steps)
    torch.testing.assert_close(params(once), params(pieces), rtol=0, atol=0)
    assert once.counters.updates == pieces.counters.updates
    once.close()
    pieces.close()


def test_a_replay_that_does_not_reproduce_the_environment_is_refused(tmp_path):
    model = Reinforce("CartPole-v1", SMALL, seed=2).learn(600)
    state = model.state_dict()
    state["rollout"]["obs"] = state["rollout"]["obs"] + 1.0  # not what the replay gives
    with pytest.raises(UserError, match="cannot be resumed exactly"):
        Reinforce.from_state(state)
    model.close()


def test_loading_onto_environments_of_another_count_is_a_user_error(tmp_path):
    model = Reinforce("CartPole-v1", SMALL, seed=2).learn(600)
    model.save(tmp_path / "m.pt")
    model.close()
    for env in (gym.make_vec("CartPole-v1", num_envs=3), gym.make("CartPole-v1")):
        with pytest.raises(UserError, match=r"2 sub-environments .* cannot be replayed here"):
            Reinforce.load(tmp_path / "m.pt", env=env)


def test_a_damaged_model_state_is_a_user_error():
    model = Reinforce("CartPole-v1", SMALL, seed=2)
    state = copy.deepcopy(model.state_dict())
    model.close()
    del state["obs_size"]
    with pytest.raises(UserError, match="do not fit"):
        Reinforce.from_state(state)


def test_a_state_saved_before_the_first_restart_loads_into_a_used_model():
    fresh = Reinforce("CartPole-v1", SMALL, seed=4)
    state = copy.deepcopy(fresh.state_dict())
    used = Reinforce("CartPole-v1", SMALL, seed=4).learn(500)
    used.load_state_dict(state)
    fresh.learn(1500)
    used.learn(1500)  # restarts its environments as the fresh model does
    torch.testing.assert_close(params(fresh), params(used), rtol=0, atol=0)
    assert (fresh.counters.env_steps, fresh.counters.updates) == (
        used.counters.env_steps,
        used.counters.updates,
    )
    fresh.close()
    used.close()


def test_load_rejects_other_files(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a REINFORCE model"):
        Reinforce.load(tmp_path / "other.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        Reinforce.load(tmp_path / "broken.pt")


def params(model):
    return torch.cat([p.detach().flatten() for p in model.policy.parameters()])


def test_same_seed_same_result():
    config = ReinforceConfig(baseline=True, hidden=(8,), num_envs=4, episodes_per_update=4)
    a = Reinforce("CartPole-v1", config, seed=7).learn(3000)
    b = Reinforce("CartPole-v1", config, seed=7).learn(3000)
    c = Reinforce("CartPole-v1", config, seed=8).learn(3000)
    torch.testing.assert_close(params(a), params(b), rtol=0, atol=0)
    assert a.counters.env_steps == b.counters.env_steps
    assert not torch.equal(params(a), params(c))


def test_callback_stops_training():
    seen = []

    def stop_after_three(model, info):
        seen.append(info.update)
        return info.update < 3

    model = Reinforce("CartPole-v1", SMALL, seed=0).learn(100_000, callback=stop_after_three)
    assert seen == [1, 2, 3] and model.counters.updates == 3


def test_non_finite_loss_stops_with_a_clear_message():
    def poison(model, info):
        with torch.no_grad():
            next(model.policy.parameters()).fill_(float("nan"))

    model = Reinforce("CartPole-v1", SMALL, seed=0)
    with pytest.raises(NonFiniteLoss, match="not finite at update 2"):
        model.learn(100_000, callback=poison)


def test_works_with_an_environment_object():
    env = gym.make("CartPole-v1")
    model = Reinforce(env, ReinforceConfig(num_envs=1, episodes_per_update=2), seed=0)
    model.learn(300)
    assert model.counters.env_steps >= 300


def test_learns_a_discrete_state_environment_and_acts_on_its_states():
    # FrozenLake's states are numbers: the policy sees them one-hot and predict() takes them as
    # the environment gives them (3 of 3 seeds reach the goal every time after 20,000 steps)
    config = ReinforceConfig(baseline=True, gamma=0.99)
    model = Reinforce(gym.make_vec("FrozenLake-v1", 8, is_slippery=False), config, seed=0)
    model.learn(20_000)
    env = make_env(gym.make_vec("FrozenLake-v1", 10, is_slippery=False))
    assert evaluate(model.act_fn(True), "FrozenLake-v1", 10, 0, env=env).mean() == 1.0
    path = {0: 1, 4: 1, 8: 2, 9: 1, 13: 2, 14: 2}  # the one shortest path around the holes
    assert model.predict(0) == 1 and isinstance(model.predict(0), int)
    actions = model.predict(np.array(list(path)))
    assert actions.tolist() == list(path.values())
    assert model.predict(np.int64(8)) == 2


def test_predict_takes_a_tuple_observation_and_a_list_of_them():
    model = Reinforce("Blackjack-v1", SMALL, seed=0)
    one, other = (14, 10, 0), (20, 3, 1)
    assert model.predict([one, other]).tolist() == [model.predict(one), model.predict(other)]
    first = model.fast_policy.act(model.env.reset(seed=1)[0][:1].astype(np.float32), None, True)
    hand = model.env.unwrapped.envs[0].unwrapped  # the hand the sub-environment holds
    assert model.predict(hand._get_obs()) == int(first[0])


def test_learns_cartpole_in_seconds():
    torch.set_num_threads(1)
    model = Reinforce("CartPole-v1", ReinforceConfig(baseline=True), seed=0)
    before = evaluate(model.act_fn(True), "CartPole-v1", 20, seed=123).mean()
    model.learn(60_000, callback=StopTraining(threshold=200, window=16))
    after = evaluate(model.act_fn(True), "CartPole-v1", 20, seed=123).mean()
    assert before < 50
    assert after >= 150, (before, after, model.counters.env_steps)


def test_baseline_is_the_value_before_it_is_fitted_to_the_batch():
    # b(s_t) must not depend on a_t. Fitted to this batch's returns first, v(s_t) would absorb
    # part of G_t, which depends on a_t, and bias the gradient (markedly with many value epochs).
    import copy

    config = ReinforceConfig(
        baseline=True, normalize=False, value_epochs=20, max_grad_norm=0.0, hidden=(8,)
    )
    model = Reinforce("CartPole-v1", config, seed=0).learn(2000)
    assert model.value is not None
    batch = model.rollout.collect(model._act, 8)
    obs = torch.as_tensor(batch.obs)
    returns = torch.as_tensor(batch.returns, dtype=torch.float32)
    with torch.no_grad():
        baseline = model.value(obs)
    policy = copy.deepcopy(model.policy)
    model.update(batch)
    log_prob = policy.log_probs(obs).gather(1, torch.as_tensor(batch.actions)[:, None]).squeeze(1)
    loss = reinforce_loss(log_prob, returns - baseline, batch.episodes)
    expected = torch.autograd.grad(loss, list(policy.parameters()))
    for p, g in zip(model.policy.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, g)
    model.close()


class Endless(ZeroEnv):
    """Episodes that never end, and no time limit."""

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, False, False, {}


def test_the_step_budget_bounds_an_environment_whose_episodes_never_end():
    model = Reinforce(Endless(), SMALL, seed=0).learn(500)
    assert model.counters.env_steps == 500 and model.counters.updates == 0
    model.close()


def test_non_finite_rewards_name_the_environment_not_the_learning_rate():
    class Spiky(Endless):
        def step(self, action):
            return np.zeros(2, np.float32), float("nan"), True, False, {}

    model = Reinforce(Spiky(), SMALL, seed=0)
    with pytest.raises(NonFiniteLoss, match="non-finite reward") as info:
        model.learn(100)
    assert "--lr" not in str(info.value)
    assert "the environment Spiky returned" in str(info.value)
    model.close()


def test_evaluation_of_a_never_ending_environment_is_a_user_error():
    gym.register("rlgen-test/Endless-v0", entry_point=Endless)
    with pytest.raises(UserError, match="did not end within 50 steps"):
        evaluate(lambda obs: np.zeros(len(obs), np.int64), "rlgen-test/Endless-v0", 2, max_steps=50)


def test_networks_only_loads_a_policy_onto_any_number_of_environments(tmp_path):
    model = Reinforce("CartPole-v1", SMALL, seed=4).learn(1200)
    model.save(tmp_path / "m.pt")
    single = gym.make("CartPole-v1")  # one environment, not the two it was trained with
    loaded = Reinforce.load(tmp_path / "m.pt", single, networks_only=True)
    obs = np.random.default_rng(0).normal(0, 0.5, (16, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs), loaded.predict(obs))
    assert loaded.counters.env_steps == model.counters.env_steps
    model.close()
    loaded.close()


class BeyondItsBounds(gym.Env):
    """A Dict observation whose Box part lies outside the bounds its space declares (as many
    environments' observations do at times), in float64 where the space says float32."""

    observation_space = gym.spaces.Dict(
        {"x": gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "d": gym.spaces.Discrete(3)}
    )
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"x": np.array([2.0, -3.0]), "d": 1}, {}

    def step(self, action):
        return {"x": np.array([0.5, 4.0]), "d": 2}, 1.0, True, False, {}


def test_predict_reads_the_environments_observations_outside_their_declared_bounds():
    model = Reinforce(BeyondItsBounds(), SMALL, seed=0)
    obs, _ = BeyondItsBounds().reset(seed=0)
    flat = np.array([[0.0, 1.0, 0.0, 2.0, -3.0]], np.float32)  # d one-hot, then x
    assert model.predict(obs) == int(model.fast_policy.act(flat, None, True)[0])
    other = {"x": np.array([0.5, 4.0]), "d": 2}
    assert model.predict([obs, other]).tolist() == [model.predict(obs), model.predict(other)]
    model.close()


def test_predict_takes_a_vector_environments_batched_observations():
    # gymnasium's vector form of a Tuple space: a tuple of batches (one array per part), of a
    # Dict space: a dict of batches; predicted one by one, the same actions
    model = Reinforce("Blackjack-v1", SMALL, seed=0)
    vec = gym.make_vec("Blackjack-v1", 3)
    obs, _ = vec.reset(seed=4)
    assert isinstance(obs, tuple) and obs[0].shape == (3,)
    one_by_one = [model.predict(tuple(int(part[i]) for part in obs)) for i in range(3)]
    assert model.predict(obs).tolist() == one_by_one
    vec.close()
    model.close()
    dicts = Reinforce(BeyondItsBounds(), SMALL, seed=0)
    batched = {"x": np.array([[2.0, -3.0], [0.5, 4.0]]), "d": np.array([1, 2])}
    singles = [{"x": batched["x"][i], "d": int(batched["d"][i])} for i in range(2)]
    assert dicts.predict(batched).tolist() == [dicts.predict(o) for o in singles]
    dicts.close()


def test_a_model_trained_under_a_time_limit_it_set_loads_onto_an_environment_object(tmp_path):
    # --max-episode-steps applies to an id; an environment object brings its own time limit
    config = ReinforceConfig(hidden=(8,), num_envs=1, episodes_per_update=2, max_episode_steps=20)
    model = Reinforce("CliffWalking-v1", config, seed=0)
    model.learn(200)
    model.save(tmp_path / "m.pt")
    acting = Reinforce.load(tmp_path / "m.pt", env=gym.make("CliffWalking-v1"), networks_only=True)
    assert [acting.predict(s) for s in range(48)] == [model.predict(s) for s in range(48)]
    acting.close()
    # training continues exactly on an object under the same limit
    same = Reinforce.load(tmp_path / "m.pt", env=gym.make("CliffWalking-v1", max_episode_steps=20))
    same.learn(400)
    model.learn(400)
    assert torch.equal(same.policy.net[0].weight, model.policy.net[0].weight)
    same.close()
    again = Reinforce.load(tmp_path / "m.pt")  # by its id: under the limit it was trained with
    assert again.env.spec.max_episode_steps == 20
    again.close()
    with pytest.raises(UserError, match="max_episode_steps applies to an environment id"):
        Reinforce(gym.make("CliffWalking-v1"), config)


def test_actions_numbered_from_minus_1_in_training_evaluation_predict_gif_and_save_load(
    tmp_path,
):
    # Shifted: Discrete(3, start=-1) (left, stay, right) on positions 0..4; it asserts that every
    # action it gets is one of -1, 0, 1, so an index sent unshifted (2) fails loudly
    env_id = "rlgen-test/Shifted-v0"
    config = ReinforceConfig(hidden=(16,), num_envs=4, episodes_per_update=4, max_episode_steps=20)
    model = Reinforce(env_id, config, seed=0).learn(3000)
    assert model.actions == 3
    assert model.predict(0) == 1  # right, the environment's own number
    assert set(np.asarray(model.predict(np.arange(5), deterministic=False)).tolist()) <= {-1, 0, 1}
    returns = evaluate(model.act_fn(True), env_id, 5, max_episode_steps=20)
    np.testing.assert_array_equal(returns, np.ones(5))  # reaches 4 every time
    total, frames = record_gif(model.act_fn(True), env_id, tmp_path / "e.gif", max_episode_steps=20)
    assert total == 1.0 and frames == 5  # the start and 4 steps right
    model.save(tmp_path / "m.pt")
    loaded = Reinforce.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.predict(np.arange(5)), model.predict(np.arange(5)))
    model.learn(4000)  # training continues on both, the saved environments replayed
    loaded.learn(4000)
    for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    model.close()
    loaded.close()


@pytest.mark.parametrize(
    "env_id",
    ["IntObs", "BoolObs", "Float64Obs", "HugeObs", "InfObs", "ZeroReward", "OneStep"],
)
def test_observations_of_any_dtype_and_bounds_and_degenerate_episodes_train(env_id):
    model = Reinforce(f"rlgen-test/{env_id}-v0", SMALL, seed=0).learn(200)
    assert model.counters.updates > 0
    assert model.predict(np.ones(3)) in (0, 1)
    returns = evaluate(model.act_fn(True), f"rlgen-test/{env_id}-v0", 2)
    assert np.isfinite(returns).all()
    model.close()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the one message, no NumPy warning first
@pytest.mark.parametrize("value", [1e300, np.inf, np.nan])
def test_observations_that_are_no_finite_float32_name_the_environment(value):
    # 1e300 fits a float64 Box but not the float32 the networks read
    env = Observations(low=-np.inf, high=np.inf, dtype=np.float64, value=value)
    model = Reinforce(env, ReinforceConfig(baseline=True, num_envs=2), seed=0)
    with pytest.raises(NonFiniteLoss, match="returned an observation that is not a finite"):
        model.learn(200)
    model.close()


def test_a_non_finite_loss_from_a_huge_entropy_bonus_names_it():
    model = Reinforce("CartPole-v1", ReinforceConfig(ent_coef=1e300, num_envs=2), seed=0)
    with pytest.raises(NonFiniteLoss, match="--ent-coef"):
        model.learn(500)
    model.close()


def test_a_time_limit_beyond_any_practical_run_is_refused():
    with pytest.raises(UserError, match=r"--max-episode-steps must be in \[1, 1000000\]"):
        ReinforceConfig(max_episode_steps=2**70)


def test_a_gif_of_an_environment_that_cannot_render_is_one_error(tmp_path):
    def act(obs):
        return np.zeros(len(obs), np.int64)

    with pytest.raises(UserError, match="--gif: rlgen-test/Switch-v0 cannot render"):
        record_gif(act, "rlgen-test/Switch-v0", tmp_path / "e.gif")  # no render modes

    class Frames(Observations):
        metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}  # no frame rate

        def render(self):
            return self.frame

    gym.register("rlgen-test/FloatFrames-v0", entry_point=Frames)
    Frames.frame = np.zeros((4, 4, 3))  # float64: not an image
    with pytest.raises(UserError, match="renders frames of shape"):
        record_gif(act, "rlgen-test/FloatFrames-v0", tmp_path / "e.gif")
    Frames.frame = None
    with pytest.raises(UserError, match="rendered no frames"):
        record_gif(act, "rlgen-test/FloatFrames-v0", tmp_path / "e.gif")
    Frames.frame = np.zeros((4, 4, 3), np.uint8)  # without a frame rate: 30 fps
    assert record_gif(act, "rlgen-test/FloatFrames-v0", tmp_path / "e.gif") == (5.0, 6)
