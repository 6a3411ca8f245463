"""Rollouts, returns and the space checks, against hand computation."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from rlgen.errors import UserError
from rlgen.pg.estimators import discounted_returns
from rlgen.pg.evaluate import EVAL_MAX_STEPS, evaluate, play
from rlgen.pg.rollouts import (
    Rollout,
    action_offset,
    finished_episodes,
    make_env,
    raw_observation_space,
    registered_spec,
)

from . import envs

envs.register()  # the rlgen-test/... ids


def test_discounted_returns_by_hand_with_truncation_mid_batch():
    # Two streams, gamma = 0.5. Stream 0: episode of 3 steps terminated at t=2, then a new one
    # truncated at t=3 after one step, then an unfinished one. Stream 1: truncated at t=1.
    rewards = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 1.0], [8.0, 1.0], [16.0, 1.0]])
    terminated = np.array([[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]], dtype=bool)
    truncated = np.array([[0, 0], [0, 1], [0, 0], [1, 0], [0, 0]], dtype=bool)
    g = discounted_returns(rewards, terminated, truncated, 0.5)
    expected_0 = [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4, 8, 16]
    expected_1 = [2 + 0.5 * 4, 4, 1 + 0.5 * 1 + 0.25 * 1, 1 + 0.5 * 1, 1]
    np.testing.assert_allclose(g[:, 0], expected_0)
    np.testing.assert_allclose(g[:, 1], expected_1)


def test_bootstrap_only_at_truncation():
    rewards = np.ones((3, 1))
    terminated = np.array([[0], [0], [1]], dtype=bool)
    truncated = np.array([[0], [1], [0]], dtype=bool)
    bootstrap = np.full((3, 1), 10.0)
    g = discounted_returns(rewards, terminated, truncated, 0.9, bootstrap=bootstrap)
    # step 1 is cut by a time limit: G_1 = 1 + 0.9 * 10; step 2 terminates: no bootstrap.
    np.testing.assert_allclose(g[:, 0], [1 + 0.9 * (1 + 9.0), 1 + 9.0, 1.0])


def test_undiscounted_returns_count_the_remaining_steps():
    end = np.zeros((4, 1), dtype=bool)
    end[3] = True
    g = discounted_returns(np.ones((4, 1)), end, np.zeros_like(end), 1.0)
    np.testing.assert_allclose(g[:, 0], [4, 3, 2, 1])


def random_policy(rng):
    return lambda obs: rng.integers(0, 2, size=obs.shape[0])


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_rollout_returns_whole_episodes(mode):
    env = gym.make_vec(
        "CartPole-v1", num_envs=3, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}
    )
    rollout = Rollout(make_env(env), gamma=1.0)
    rollout.restart(seed=0)
    rng = np.random.default_rng(0)
    total_steps = 0
    for _ in range(3):
        batch = rollout.collect(random_policy(rng), episodes=5)
        assert batch.episodes >= 5
        assert batch.episode_lengths.sum() == batch.steps
        starts = np.flatnonzero(np.diff(batch.episode, prepend=-1))
        # each episode starts from CartPole's reset distribution (no reset step leaked in) ...
        assert np.all(np.abs(batch.obs[starts]) <= 0.05)
        # ... and its first return (gamma = 1) is its length, counting down to 1
        np.testing.assert_allclose(batch.returns[starts], batch.episode_lengths)
        ends = np.r_[starts[1:], batch.steps] - 1
        np.testing.assert_allclose(batch.returns[ends], 1.0)
        total_steps += batch.steps
    assert rollout.steps >= total_steps  # unfinished episodes are counted, not yet handed over
    env.close()


def test_episode_statistics_helper_matches_rollout():
    env = make_env("CartPole-v1", 4)
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    seen = []
    for _ in range(200):
        _, _, _, _, info = env.step(rng.integers(0, 2, size=4))
        returns, lengths = finished_episodes(info)
        np.testing.assert_allclose(returns, lengths)  # CartPole: +1 per step
        seen += lengths.tolist()
    assert seen and all(1 <= n <= 500 for n in seen)
    env.close()


class DictEnv(gym.Env):
    observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,))})
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"x": np.zeros(2, dtype=np.float32)}, {}

    def step(self, action):
        return {"x": np.zeros(2, dtype=np.float32)}, 0.0, True, False, {}


class SequenceEnv(DictEnv):
    observation_space = gym.spaces.Sequence(gym.spaces.Discrete(3))  # of any length


class ShiftedActions(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2, start=1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


def test_unsupported_environments_are_user_errors():
    with pytest.raises(UserError, match="discrete action space"):
        make_env("Pendulum-v1")
    with pytest.raises(UserError, match="must flatten to a vector of numbers"):
        make_env(SequenceEnv())
    with pytest.raises(UserError, match="--env NoSuchEnv-v0"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(UserError, match="discrete action space"):
        make_env("MountainCarContinuous-v0")


def test_actions_numbered_from_elsewhere_than_0_reach_the_environment_shifted():
    sent = []

    class Recording(ShiftedActions):  # Discrete(2, start=1)
        def step(self, action):
            sent.append(int(action))
            return super().step(action)

    env = make_env(Recording())
    assert env.single_action_space == gym.spaces.Discrete(2)  # the policy's indices 0, 1
    assert action_offset(env) == 1
    rollout = Rollout(env, 1.0)
    rollout.restart(0)
    batch = rollout.collect(lambda obs: np.array([1]), episodes=3)
    assert batch.actions.tolist() == [1, 1, 1]  # indices, as the estimators take them
    assert sent == [2, 2, 2]  # start + index, as the environment takes them
    env.close()


def test_an_id_given_as_module_and_id_is_made_and_looked_up():
    # gymnasium.make imports "module:" first (which registers the id); gymnasium.spec does not
    env = make_env("tests.pg.envs:rlgen-test/OneStep-v0")
    env.close()
    assert registered_spec("tests.pg.envs:rlgen-test/OneStep-v0").id == "rlgen-test/OneStep-v0"
    with pytest.raises(UserError, match="nosuchmodule"):
        make_env("nosuchmodule:Foo-v0")
    with pytest.raises(gym.error.Error, match="nosuchmodule"):
        registered_spec("nosuchmodule:Foo-v0")


def test_evaluation_episodes_still_running_at_the_cap_are_cut_with_their_return_so_far():
    # CartPole's own vectorised environment (every copy stepped at once)
    played = play(lambda obs: np.zeros(len(obs), np.int64), "CartPole-v1", 3, max_steps=4)
    assert played.max_steps == 4 and played.cut == 3  # none falls within 4 steps
    np.testing.assert_array_equal(played.returns, [4.0, 4.0, 4.0])
    # a SyncVectorEnv (copies stepped one by one): a greedy policy never ends a Switch episode
    greedy = play(lambda obs: np.zeros(len(obs), np.int64), "rlgen-test/Switch-v0", 2)
    assert greedy.max_steps == EVAL_MAX_STEPS and greedy.cut == 2
    np.testing.assert_array_equal(greedy.returns, [-EVAL_MAX_STEPS] * 2)
    rng = np.random.default_rng(0)
    sampled = play(lambda obs: rng.integers(2, size=len(obs)), "rlgen-test/Switch-v0", 5)
    assert sampled.cut == 0 and (sampled.returns <= -2).all()  # ended by a change of action
    with pytest.raises(UserError, match="2 of 2 evaluation episodes did not end within 10000"):
        evaluate(lambda obs: np.zeros(len(obs), np.int64), "rlgen-test/Switch-v0", 2)


def test_an_id_without_its_version_is_refused_naming_the_versioned_one():
    # gymnasium would make CartPole-v1, but the id has no spec (threshold, time limit) of its own
    with pytest.raises(UserError) as e:
        make_env("CartPole")
    assert str(e.value) == "--env CartPole: give the id with its version, CartPole-v1"
    # an id given as module:Id is named with its module (without it, a new process lacks the id)
    with pytest.raises(UserError) as e:
        make_env("tests.pg.envs:rlgen-test/Switch")
    assert str(e.value) == (
        "--env tests.pg.envs:rlgen-test/Switch: give the id with its version, "
        "tests.pg.envs:rlgen-test/Switch-v0"
    )


def test_a_refused_id_is_one_error_without_gymnasiums_warning_before_it():
    # gymnasium warns that Taxi-v3 is out of date, then refuses it: the warning would be a
    # second, coloured stderr line before rlgen's error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UserError, match=r"--env Taxi-v3: .*Taxi-v4"):
            make_env("Taxi-v3")
    assert caught == []


def reference_returns(rewards, terminated, truncated, gamma, bootstrap):
    """Per stream, per episode, the definition: G_t = sum_k gamma^k r_{t+k} (+ bootstrap)."""
    T, N = rewards.shape
    out = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            g, k = 0.0, t
            while True:
                g += gamma ** (k - t) * rewards[k, n]
                if terminated[k, n]:
                    break
                if truncated[k, n]:
                    g += gamma ** (k - t + 1) * bootstrap[k, n]
                    break
                if k == T - 1:
                    break
                k += 1
            out[t, n] = g
    return out


@pytest.mark.parametrize("gamma", [1.0, 0.9, 0.0])
def test_returns_match_the_definition_on_random_streams(gamma):
    rng = np.random.default_rng(int(gamma * 10))
    for _ in range(20):
        T, N = rng.integers(1, 30), rng.integers(1, 4)
        rewards = rng.normal(size=(T, N))
        terminated = rng.random((T, N)) < 0.15
        truncated = ~terminated & (rng.random((T, N)) < 0.1)
        bootstrap = rng.normal(size=(T, N))
        got = discounted_returns(rewards, terminated, truncated, gamma, bootstrap=bootstrap)
        want = reference_returns(rewards, terminated, truncated, gamma, bootstrap)
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_batch_statistics_agree_with_the_steps():
    rollout = Rollout(make_env("CartPole-v1", 4), gamma=1.0)
    rollout.restart(seed=2)
    rng = np.random.default_rng(2)
    for _ in range(4):
        batch = rollout.collect(random_policy(rng), episodes=6)
        np.testing.assert_array_equal(
            batch.episode_lengths, np.bincount(batch.episode, minlength=batch.episodes)
        )
        np.testing.assert_allclose(
            batch.episode_returns, np.bincount(batch.episode, weights=batch.rewards)
        )


def time_limited_cartpoles(limits, mode):
    """CartPoles cut by different time limits (so they end at different steps)."""
    makers = [lambda k=k: gym.make("CartPole-v1", max_episode_steps=k) for k in limits]
    return gym.vector.SyncVectorEnv(makers, autoreset_mode=mode)


def test_truncation_final_observation_is_the_same_in_both_autoreset_modes():
    # Sub-environments cut at 3 and 5 steps: in SAME_STEP mode only one of them ends at a time,
    # so info["final_obs"] holds None for the other.
    batches = {}
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        rollout = Rollout(make_env(time_limited_cartpoles((3, 5), mode)), gamma=1.0)
        rollout.restart(seed=0)
        batches[mode] = rollout.collect(lambda obs: np.zeros(len(obs), np.int64), episodes=2)
    a, b = batches[AutoresetMode.NEXT_STEP], batches[AutoresetMode.SAME_STEP]
    np.testing.assert_array_equal(a.episode_lengths, [3, 5])
    np.testing.assert_array_equal(a.truncated, [0, 0, 1, 0, 0, 0, 0, 1])
    for name in ("obs", "actions", "returns", "truncated", "final_obs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert np.all(a.final_obs[a.truncated] != 0)


class FallsAtTheTimeLimit(gym.Env):
    """Terminates at its third step, which is also where its time limit cuts it."""

    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(2, self.t / 3, dtype=np.float32), 1.0, self.t == 3, False, {}


def test_termination_at_the_time_limit_is_not_a_truncation():
    # TimeLimit reports truncated=True at its last step even when the episode also terminated
    # there; the episode ended in the MDP, so there is nothing after it to bootstrap from.
    env = gym.wrappers.TimeLimit(FallsAtTheTimeLimit(), max_episode_steps=3)
    rollout = Rollout(make_env(env), gamma=1.0)
    rollout.restart(seed=0)
    batch = rollout.collect(lambda obs: np.zeros(len(obs), np.int64), episodes=2)
    np.testing.assert_array_equal(batch.episode_lengths, [3, 3])
    assert not batch.truncated.any()
    assert not batch.final_obs.any()


def test_disabled_autoreset_is_a_user_error():
    # gymnasium's RecordEpisodeStatistics counts the step after an episode end as a reset step
    # and clears every sub-environment's statistics on a masked reset: wrong without autoreset.
    with pytest.raises(UserError, match="autoreset"):
        make_env(time_limited_cartpoles((3, 5), AutoresetMode.DISABLED))


def test_a_policy_that_reuses_its_action_array_is_still_replayed_exactly():
    rng = np.random.default_rng(0)
    out = np.zeros(3, np.int64)

    def act(obs):  # writes into one array and returns it every time
        out[:] = rng.integers(0, 2, size=obs.shape[0])
        return out

    rollout = Rollout(make_env("CartPole-v1", 3), gamma=1.0)
    rollout.restart(seed=0)
    rollout.collect(act, episodes=4)
    state = rollout.state_dict()
    again = Rollout(make_env("CartPole-v1", 3), gamma=1.0)
    again.load_state_dict(state)  # replays the actions taken, not the last ones repeated
    np.testing.assert_array_equal(again.state_dict()["actions"], state["actions"])


def test_lunar_lander_without_box2d_names_the_extra(monkeypatch):
    import sys

    # As on a machine without the extra: importing Box2D fails, and gymnasium's LunarLander
    # module (cached once imported) has to be imported again.
    monkeypatch.setitem(sys.modules, "Box2D", None)
    for name in [m for m in sys.modules if m.startswith("gymnasium.envs.box2d")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(UserError) as e:
        make_env("LunarLander-v3")
    message = str(e.value)
    assert message == "--env LunarLander-v3 needs Box2D, which is not installed: " + (
        "install the box2d extra: pip install -e '.[box2d]' in the rlgen checkout"
    )
    assert "\n" not in message and "swig" not in message
    # other environments are not affected
    make_env("CartPole-v1").close()


def test_discrete_and_composite_observations_are_flattened_by_gymnasium():
    env = make_env("FrozenLake-v1", 3)  # Discrete(16) states: one-hot vectors
    assert env.single_observation_space.shape == (16,)
    assert raw_observation_space(env) == gym.spaces.Discrete(16)
    rollout = Rollout(env, 1.0)
    rollout.restart(0)
    batch = rollout.collect(lambda obs: np.zeros(len(obs), dtype=np.int64), episodes=3)
    assert batch.obs.shape[1] == 16 and np.all(batch.obs.sum(axis=1) == 1)
    states = set(batch.obs.argmax(axis=1).tolist())  # where an action was taken: never in a
    assert 0 in states and not states & {5, 7, 11, 12, 15}  # hole or at the goal (terminal)
    env.close()
    mixed = make_env(DictEnv())  # a Dict of a Box: its one entry, as a vector
    assert mixed.single_observation_space.shape == (2,)
    assert raw_observation_space(mixed) == DictEnv.observation_space
    mixed.close()
    blackjack = make_env("Blackjack-v1")  # Tuple(Discrete(32), Discrete(11), Discrete(2))
    assert blackjack.single_observation_space.shape == (45,)
    blackjack.close()


def time_limited_lakes(limits, mode):
    """FrozenLakes without slipping cut by different time limits (Discrete states)."""
    makers = [
        lambda k=k: gym.make("FrozenLake-v1", is_slippery=False, max_episode_steps=k)
        for k in limits
    ]
    return gym.vector.SyncVectorEnv(makers, autoreset_mode=mode)


def test_discrete_states_in_same_step_mode_are_flattened_final_observations_included():
    # gymnasium 1.4's vector observation wrappers refuse SAME_STEP environments; the final
    # observation of a truncated episode (info["final_obs"]) must be one-hot like the others
    batches = {}
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        env = make_env(time_limited_lakes((2, 3), mode))
        assert env.single_observation_space.shape == (16,)
        assert raw_observation_space(env) == gym.spaces.Discrete(16)
        rollout = Rollout(env, gamma=1.0)
        rollout.restart(seed=0)
        # right: 0 -> 1 -> 2 -> 3 along the top row, no hole
        batches[mode] = rollout.collect(lambda obs: np.full(len(obs), 2, np.int64), episodes=2)
        env.close()
    a, b = batches[AutoresetMode.NEXT_STEP], batches[AutoresetMode.SAME_STEP]
    np.testing.assert_array_equal(a.episode_lengths, [2, 3])
    for name in ("obs", "actions", "returns", "truncated", "final_obs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(b.final_obs[b.truncated], np.eye(16)[[2, 3]])
