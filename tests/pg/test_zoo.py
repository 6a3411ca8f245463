"""Per-environment defaults (rlgen.pg.zoo), the evaluation schedule and screens, Box2D."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlgen.errors import UserError
from rlgen.pg import command as train
from rlgen.pg import zoo
from rlgen.pg.command import TrainConfig
from rlgen.pg.evaluate import Evaluator
from rlgen.pg.reinforce import Hyperparameters, Reinforce, ReinforceConfig
from rlgen.pg.seed_run import train_one

from .envs import ZeroEnv

# CartPole's defaults before per-environment defaults existed: its results must not change
CARTPOLE = {
    "gamma": 1.0,
    "hidden": (32,),
    "lr": 0.02,
    "lr_value": 0.02,
    "num_envs": 8,
    "episodes_per_update": 8,
    "normalize": True,
    "ent_coef": 0.0,
    "max_grad_norm": 1.0,
    "value_epochs": 1,
    "baseline_time": False,
    "weight_by_gamma_t": True,
}


def test_cartpole_keeps_its_defaults_and_schedule():
    config = TrainConfig().resolved()
    assert (config.total_steps, config.eval_every, config.eval_episodes) == (200_000, 2_000, 100)
    assert config.eval_screen == 0 and config.eval_both  # every evaluation as before
    agent = dataclasses.asdict(config.agent)
    assert {k: agent[k] for k in CARTPOLE} == CARTPOLE
    assert ReinforceConfig().resolved("CartPole-v1") == Hyperparameters(
        baseline=False, bootstrap_truncated=False, device="cpu", **CARTPOLE
    )


@pytest.mark.parametrize("env", sorted(zoo.ENVIRONMENTS))
def test_every_default_has_a_reason_and_a_valid_value(env):
    for name, tuned in {**zoo.GENERAL, **zoo.ENVIRONMENTS[env]}.items():
        assert tuned.reason.strip(), (env, name)
    config = TrainConfig(env=env, agent=ReinforceConfig(baseline=True)).resolved()  # validated
    for name, tuned in zoo.ENVIRONMENTS[env].items():
        where = config.agent if hasattr(config.agent, name) else config
        assert getattr(where, name) == tuned.value, (env, name)
    assert set(zoo.reasons(env)) >= set(zoo.ENVIRONMENTS[env])


@pytest.mark.parametrize("env", sorted(set(zoo.ENVIRONMENTS) - {"CartPole-v1"}))
def test_an_option_given_always_wins(env):
    given = ReinforceConfig(lr=0.123, gamma=0.5, normalize=True, hidden=(3,))
    resolved = given.resolved(env)
    assert (resolved.lr, resolved.gamma, resolved.normalize, resolved.hidden) == (
        0.123,
        0.5,
        True,
        (3,),
    )
    config = TrainConfig(env=env, total_steps=77, eval_every=5, eval_screen=3).resolved()
    assert (config.total_steps, config.eval_every, config.eval_screen) == (77, 5, 3)


def test_unset_options_take_the_environments_values(monkeypatch):
    monkeypatch.setitem(
        zoo.ENVIRONMENTS,
        "Acrobot-v1",
        {"lr": zoo.Tuned(0.004, "test"), "normalize": zoo.Tuned(False, "test")},
    )
    resolved = ReinforceConfig(baseline=True).resolved("Acrobot-v1")
    assert (resolved.lr, resolved.normalize, resolved.baseline) == (0.004, False, True)
    assert resolved.lr_value == zoo.GENERAL["lr_value"].value  # not in the entry: general
    model = Reinforce(gym.make("Acrobot-v1"), ReinforceConfig())  # found by the spec's id
    assert model.config.lr == 0.004
    model.close()


def test_eval_every_scales_with_the_episode_length():
    assert zoo.eval_every(SHORT) == zoo.EVAL_EPISODES_WORTH * 7
    assert zoo.eval_every("CartPole-v1") == 2_000  # its own entry
    acrobot = gym.spec("Acrobot-v1").max_episode_steps
    own = zoo.ENVIRONMENTS.get("Acrobot-v1", {}).get("eval_every")
    expected = own.value if own else zoo.EVAL_EPISODES_WORTH * acrobot
    assert TrainConfig(env="Acrobot-v1").resolved().eval_every == expected
    # a screen is at most half of the full evaluation
    assert TrainConfig(env=SHORT, eval_episodes=6).resolved().eval_screen == 3


class Short(ZeroEnv):
    """Observations of zeros; every action ends nothing; the time limit ends episodes."""

    def step(self, action):
        return np.zeros(2, np.float32), float(action), False, False, {}


SHORT = "rlgen-test/Short-v0"
gym.register(SHORT, entry_point=Short, max_episode_steps=7)


# ---------------------------------------------------------------------------------------------
# Screens
# ---------------------------------------------------------------------------------------------


def constant(action: int):
    return lambda obs: np.full(obs.shape[0], action)


def test_a_screen_far_below_the_threshold_stops_after_one_chunk():
    evaluator = Evaluator("CartPole-v1", episodes=20, seed=0, threshold=475, screen=5)
    assert not evaluator.screen(greedy=constant(0), env_steps=100)  # about 9 steps per episode
    [screen] = evaluator.screens
    assert screen["env_steps"] == 100 and screen["episodes"] == 5 and not screen["passed"]
    assert screen["mean"] < 20 and evaluator.seconds > 0 and evaluator.history == []


def pump(obs):  # Acrobot: torque along the second joint's velocity solves most episodes
    return np.where(obs[:, 5] > 0, 2, 0)


def test_a_screen_played_to_the_end_is_the_full_evaluation():
    # Acrobot is a SyncVectorEnv: chunk j's copies are seeded as copies 4j.. of one vector
    kwargs = {"episodes": 12, "seed": 1, "threshold": -150.0}
    screened = Evaluator("Acrobot-v1", screen=4, **kwargs)
    plain = Evaluator("Acrobot-v1", **kwargs)
    calls = []

    def counted(obs):
        calls.append(obs.shape[0])
        return pump(obs)

    assert screened.screen(greedy=counted, env_steps=50)
    assert screened.screens[0]["episodes"] == 12 and screened.screens[0]["passed"]
    played = len(calls)
    records = [
        e.evaluate(greedy=g, sampled=constant(1), env_steps=50, episodes=3, train_seconds=0)
        for e, g in ((screened, counted), (plain, pump))
    ]
    assert len(calls) == played  # the evaluation used the screen's episodes
    for r in records:
        r.pop("seconds")
    assert records[0] == records[1] and records[0]["solved"]
    screened.close()
    plain.close()


def test_the_stopping_rule():
    from rlgen.pg.evaluate import cannot_reach

    returns = np.array([9.0, 10.0, 11.0, 12.0])  # n = 4 of N = 20
    bound = returns.mean() + 3 * returns.std(ddof=1) * np.sqrt(16 / 80)
    assert cannot_reach(returns, 20, bound + 1e-9)
    assert not cannot_reach(returns, 20, bound - 1e-9)
    assert cannot_reach(np.full(5, -500.0), 100, -100.0)  # identical failures: no doubt


def test_a_screen_stops_at_the_chunk_that_rules_the_threshold_out(monkeypatch):
    import rlgen.pg.evaluate as ev

    # 11 +- 1.4 after 2 of 10 may still reach 13; 9.5 +- 1.9 after 4 no longer
    chunks = iter([np.array([10.0, 12.0]), np.array([8.0, 8.0]), np.array([20.0, 20.0])])
    monkeypatch.setattr(
        ev, "play", lambda *a, **k: ev.Episodes(next(chunks), np.zeros(2, bool), 500)
    )
    evaluator = Evaluator("CartPole-v1", episodes=10, seed=2, threshold=13.0, screen=2)
    assert not evaluator.screen(greedy=constant(0), env_steps=1)
    assert evaluator.screens[0]["episodes"] == 4  # the first chunk alone did not rule it out


def test_an_evaluation_with_episodes_cut_at_the_cap_never_solves():
    # Switch pays -1 a step and has no time limit: the greedy (constant) policy never ends an
    # episode, so they are cut at 10,000 steps with -10,000 so far, above a threshold of
    # -20,000; their true return is unbounded below, and the run is not solved
    kwargs = {"episodes": 2, "seed": 0, "threshold": -20_000.0}
    evaluator = Evaluator("rlgen-test/Switch-v0", **kwargs)
    rng = np.random.default_rng(0)

    def sampled(obs):
        return rng.integers(2, size=len(obs))

    record = evaluator.evaluate(greedy=constant(0), sampled=sampled, env_steps=1, episodes=1,
                                train_seconds=0)  # fmt: skip
    assert record["return_greedy"] == -10_000 and record["truncated_greedy"] == 2
    assert not record["solved"] and not evaluator.solved
    evaluator.close()
    note = train.truncation_note({"eval_truncated": 2, "eval_max_steps": 10_000,
                                  "eval_episodes": 2, "final_truncated_greedy": 2,
                                  "threshold": -20_000.0, "criterion": "greedy"})  # fmt: skip
    assert "a cut greedy episode never counts as solved" in note
    # the criterion's episodes decide: sampled ones end (a change of action), greedy ones cut
    evaluator = Evaluator("rlgen-test/Switch-v0", criterion="sampled", **kwargs)
    record = evaluator.evaluate(greedy=constant(0), sampled=sampled, env_steps=1, episodes=1,
                                train_seconds=0)  # fmt: skip
    assert record["truncated_sampled"] == 0 and record["truncated_greedy"] == 2
    assert record["solved"] and evaluator.solved
    evaluator.close()


def test_screens_are_logged_and_checkpointed(tmp_path):
    config = TrainConfig(
        env=SHORT, threshold=100.0, total_steps=400, eval_every=100, eval_episodes=6
    )
    summary = train_one(config, tmp_path / "r", quiet=True)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert saved["eval_screen"] == 3 and saved["eval_every"] == 100  # the resolved values
    assert summary["screens"] >= 3 and not summary["solved"]
    assert summary["evaluations"] == 1  # only the final one: no screen came near 100
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["parts"]
    assert [s["episodes"] for s in state["evaluator"]["screens"]] == [3] * summary["screens"]
    text = (tmp_path / "r" / "metrics.csv").read_text()
    assert "eval/screen_return" in text.splitlines()[0]


# ---------------------------------------------------------------------------------------------
# Run directories keep their resolved values
# ---------------------------------------------------------------------------------------------


def test_config_json_holds_the_resolved_values_and_resume_keeps_them(tmp_path, monkeypatch):
    env = SHORT
    monkeypatch.setitem(zoo.ENVIRONMENTS, env, {"lr": zoo.Tuned(0.007, "test")})
    config = TrainConfig(
        env=env, threshold=100, total_steps=300, eval_every=150, agent=ReinforceConfig(ent_coef=0.1)
    )
    train.run(config, tmp_path / "r", quiet=True)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert saved["agent"]["lr"] == 0.007 and saved["agent"]["ent_coef"] == 0.1
    assert saved["total_steps"] == 300 and saved["agent"]["hidden"] == [32]

    # the table changes; a resumed run keeps what its config.json says
    monkeypatch.setitem(zoo.ENVIRONMENTS, env, {"lr": zoo.Tuned(0.5, "changed")})
    built = []
    original = Reinforce.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self.config)

    monkeypatch.setattr(Reinforce, "__init__", spy)
    (tmp_path / "r" / "summary.json").unlink()
    train.run(TrainConfig(resume=tmp_path / "r"), None, quiet=True)
    assert built and all(c.lr == 0.007 and c.ent_coef == 0.1 for c in built)


def test_a_run_saved_before_an_option_existed_resumes_without_it(tmp_path, monkeypatch):
    config = TrainConfig(
        total_steps=1200,
        eval_every=1000,
        eval_episodes=5,
        stop=False,
        agent=ReinforceConfig(baseline=True),
    )
    train_one(config, tmp_path / "r", quiet=True)
    path = tmp_path / "r" / "config.json"
    saved = json.loads(path.read_text())
    del saved["config"]["eval_screen"]  # as written before screens and --baseline-time
    del saved["config"]["agent"]["baseline_time"]
    saved["config"]["total_steps"] = 2400
    path.write_text(json.dumps(saved))
    (tmp_path / "r" / "summary.json").unlink()
    # today's defaults would turn both on; the run continues as it was started
    monkeypatch.setitem(
        zoo.ENVIRONMENTS,
        "CartPole-v1",
        {"eval_screen": zoo.Tuned(2, "test"), "baseline_time": zoo.Tuned(True, "test")},
    )
    summary = train.run(TrainConfig(resume=tmp_path / "r"), None, quiet=True)
    assert summary["screens"] == 0 and summary["env_steps"] >= 2400
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["parts"]["model"]
    del state["config"]["baseline_time"]  # a model saved before the option existed
    loaded = Reinforce.from_state(state)
    assert loaded.config.baseline_time is False
    loaded.close()


# ---------------------------------------------------------------------------------------------
# Box2D: LunarLander with its defaults (the box2d extra; make test installs it)
# ---------------------------------------------------------------------------------------------


def import_box2d():
    try:
        import Box2D  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Box2D is not importable: make test installs the box2d extra")
        pytest.skip(f"Box2D is not installed ({sys.executable} -m pip install -e '.[box2d]')")


def test_lunar_lander_trains_with_its_defaults():
    import_box2d()
    model = Reinforce("LunarLander-v3", ReinforceConfig(baseline=True), seed=0)
    for name, tuned in zoo.ENVIRONMENTS.get("LunarLander-v3", {}).items():
        if hasattr(model.config, name):
            assert getattr(model.config, name) == tuned.value
    model.learn(12_000)  # a few updates of 32 episodes
    assert model.counters.updates >= 2 and model.counters.episodes >= 64
    model.close()


def test_a_baseline_that_sees_the_time_fits_returns_that_depend_on_it():
    # Short: zero observations, reward = action, a time limit of 7 steps: G_t depends on t only
    errors = {}
    for with_time in (False, True):
        config = ReinforceConfig(
            baseline=True, baseline_time=with_time, value_epochs=50, lr=1e-9, hidden=(16,)
        )
        model = Reinforce(SHORT, config, seed=0)
        assert model.time_scale == 7
        model.restart_envs()
        batch = model.rollout.collect(model._act, 64)
        for _ in range(4):
            model.update(batch)
        obs = torch.as_tensor(batch.obs)
        with torch.no_grad():
            values = model.value(model._value_input(obs, batch.time))
        errors[with_time] = float(((values - torch.as_tensor(batch.returns)) ** 2).mean())
        model.close()
    # G_t ~ Binomial(7 - t, 1/2) under the near-uniform policy: the best error knowing t is
    # E[(7 - t) / 4] = 1, not knowing it 1 + Var((7 - t) / 2) = 2
    assert errors[True] < 1.3 and errors[False] > 1.8


def test_baseline_time_needs_the_baseline(monkeypatch):
    with pytest.raises(UserError, match="--baseline-time needs --baseline"):
        ReinforceConfig(baseline_time=True)
    # an environment's default turns it on for REINFORCE with baseline only
    monkeypatch.setitem(zoo.ENVIRONMENTS, SHORT, {"baseline_time": zoo.Tuned(True, "test")})
    assert ReinforceConfig(baseline=True).resolved(SHORT).baseline_time is True
    assert ReinforceConfig().resolved(SHORT).baseline_time is False
    assert TrainConfig(env=SHORT).resolved().agent.baseline_time is False


def test_without_eval_both_the_other_policy_plays_when_solved_and_at_the_end(tmp_path):
    # CartPole with threshold 200: evaluations below it, then one that solves
    config = TrainConfig(
        threshold=200.0, eval_every=1000, eval_episodes=10, eval_both=False, total_steps=30_000
    )
    summary = train_one(config, tmp_path / "r", quiet=True)
    assert summary["solved"] and summary["final_return_sampled"] is not None
    history = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["parts"]
    records = history["evaluator"]["history"]
    assert all(r["return_greedy"] is not None for r in records)
    assert records[-1]["solved"] and records[-1]["return_sampled"] is not None
    assert all(r["return_sampled"] is None for r in records[:-1]) and len(records) > 1
    # the last evaluation was the one that solved: no second final one
    assert summary["evaluations"] == len(records)


def test_copies_stepped_one_by_one_stop_when_their_episode_ends():
    # Acrobot is a SyncVectorEnv: only the running copies step, and the returns are those of
    # stepping every copy until each has ended one episode
    from rlgen.pg.evaluate import _play_all, evaluate
    from rlgen.pg.rollouts import make_env

    calls = []

    def counted(obs):
        calls.append(obs.shape[0])
        return pump(obs)

    returns = evaluate(counted, "Acrobot-v1", 12, seed=3)
    env = make_env("Acrobot-v1", 12)
    all_returns, running = _play_all(pump, env, 3, 500)
    np.testing.assert_array_equal(returns, all_returns)
    assert not running.any()
    env.close()
    lengths = -returns  # -1 per step: a return of -k took k steps (k - 1 when it ended well)
    assert sum(calls) <= lengths.sum() + 12 and max(calls) == 12 and min(calls) >= 1


def test_an_id_given_with_its_module_takes_the_ids_defaults():
    # gymnasium.make("module:Id") imports the module first; the id is the same environment
    given = "gymnasium.envs.classic_control:Acrobot-v1"
    assert zoo.default(given, "normalize") is zoo.default("Acrobot-v1", "normalize") is False
    assert zoo.eval_every(given) == zoo.eval_every("Acrobot-v1") == 10_000
