"""An MDP of one's own in a JSON file: written and read back exactly; every bad file is an
MDPError naming the file and what is wrong, never a traceback or a silent guess."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlgen.errors import UserError
from rlgen.mdp import dp, examples
from rlgen.mdp.files import mdp_dict, read_mdp, write_mdp
from rlgen.mdp.model import MDPError

ARRAYS = ("row_start", "next_state", "reward", "prob", "initial", "terminal")


@pytest.mark.parametrize("name", ["gridworld-3.5", "gridworld-4.1", "frozenlake", "random"])
def test_write_then_read_is_the_same_mdp(tmp_path, name):
    mdp = (
        examples.random_mdp(30, 4, 3, np.random.default_rng(2), gamma=0.9)
        if name == "random"
        else examples.example(name)
    )
    write_mdp(mdp, tmp_path / "m.json")
    back = read_mdp(tmp_path / "m.json")
    for key in ARRAYS:
        assert np.array_equal(getattr(mdp, key), getattr(back, key)), key
    assert (back.gamma, back.horizon, back.grid, back.action_names, back.name) == (
        mdp.gamma,
        mdp.horizon,
        mdp.grid,
        mdp.action_names,
        mdp.name,
    )
    assert np.array_equal(dp.value_iteration(mdp).v, dp.value_iteration(back).v)


def small(**changes):
    """A 3-state chain: 'go' moves right with reward -1, 'stay' stays; state 2 is terminal."""
    data = {
        "states": 3,
        "actions": ["stay", "go"],
        "outcomes": [
            [0, 0, 1.0, 0, 0.0],
            [0, 1, 1.0, 1, -1.0],
            [1, 0, 1.0, 1, 0.0],
            [1, 1, 0.5, 2, -1.0],
            [1, 1, 0.5, 0, -1.0],
        ],
        "terminal": [2],
        "gamma": 0.5,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def test_a_hand_written_file_solves_as_computed_by_hand(tmp_path):
    (tmp_path / "chain.json").write_text(json.dumps(small(gamma=1.0)))
    mdp = read_mdp(tmp_path / "chain.json")
    assert mdp.name == "chain" and mdp.action_names == ("stay", "go")
    # "always go" by hand, gamma = 1: v1 = -1 + 0.5 v0, v0 = -1 + v1, so v1 = -3, v0 = -4
    policy = np.zeros((3, 2))
    policy[:, 1] = 1.0
    v = dp.evaluate_linear(mdp, policy)
    assert v[:2] == pytest.approx([-4.0, -3.0], abs=1e-12)
    assert v[2] == 0.0


def test_gamma_and_horizon_given_replace_the_files(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(small(gamma=...)))
    with pytest.raises(MDPError, match="no discount"):
        read_mdp(tmp_path / "m.json")
    mdp = read_mdp(tmp_path / "m.json", gamma=0.25, horizon=3)
    assert (mdp.gamma, mdp.horizon) == (0.25, 3)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"terminals": [2]}, "unknown key.*'terminals'"),
        ({"outcomes": ...}, "missing key.*'outcomes'"),
        ({"states": 0}, '"states" must be a whole number >= 1'),
        ({"states": 2.5}, '"states" must be a whole number'),
        ({"states": True}, '"states" must be a whole number'),
        ({"states": 10**30}, "cannot cover"),
        ({"actions": []}, '"actions": a count, or a non-empty list'),
        ({"actions": ["a", "a"]}, "must differ"),
        ({"outcomes": [[0, 0, 1.0, 0]]}, "row 0: expected"),
        ({"outcomes": "none"}, '"outcomes" must be a list'),
        (
            {"outcomes": [[0, 0, 1.0, 3, 0.0]] * 4},
            "next_state: expected a whole number in 0..2",
        ),
        ({"outcomes": [[0, 0, 1.5, 0, 0.0]] * 4}, "sum to"),
        ({"outcomes": [[0, 0.5, 1.0, 0, 0.0]] * 4}, "row 0, action"),
        ({"outcomes": [[0, 0, float("nan"), 0, 0.0]] * 4}, "probability: expected a finite"),
        ({"terminal": [1.0]}, '"terminal" entry 0'),
        ({"terminal": 2}, '"terminal" must be a list'),
        ({"initial": [1.0, 0.0]}, "3 probabilities"),
        ({"initial": [0.5, 0.6, 0.0]}, "initial distribution"),
        ({"gamma": 1.5}, "gamma must be in"),
        ({"gamma": "0.9"}, '"gamma": expected a finite number'),
        ({"horizon": 0}, '"horizon" must be a whole number >= 1'),
        ({"grid": [2, 2]}, "does not hold 3 states"),
        ({"name": 3}, '"name" must be a string'),
    ],
)
def test_a_bad_file_is_an_error_naming_the_file(tmp_path, changes, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(small(**changes)))
    with pytest.raises(MDPError, match=message) as e:
        read_mdp(path)
    assert str(e.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "text, message", [("[1, 2]", "expected a JSON object"), ("{", "not valid JSON")]
)
def test_not_an_mdp_file(tmp_path, text, message):
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(Exception, match=message):
        read_mdp(tmp_path / "m.json")


def test_dict_is_plain_json(tmp_path):
    json.dumps(mdp_dict(examples.example("gridworld-4.1")), allow_nan=False)


@pytest.mark.parametrize(
    "changes, message",
    [
        # an integer beyond float64 was an OverflowError traceback
        ({"gamma": 10**400}, '"gamma": expected a finite number'),
        ({"outcomes": [[0, 0, 1.0, 0, -(10**400)]] * 4}, "reward: expected a finite number"),
        ({"initial": [10**400, 0, 0]}, '"initial" entry 0: expected a finite number'),
        # rewards whose values overflow float64 (1e308 twice is inf) were solved into inf / nan
        # with RuntimeWarnings, or "value iteration did not converge"
        ({"outcomes": [[0, 0, 1.0, 0, 1e308]] * 4}, r"reward: 1e\+308 is beyond"),
        ({"outcomes": [[0, 0, 1.0, 0, -1e101]] * 4}, r"reward: -1e\+101 is beyond"),
    ],
)
def test_numbers_beyond_float64s_reach_are_refused(tmp_path, changes, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(small(**changes)))
    with pytest.raises(MDPError, match=message) as e:
        read_mdp(path)
    assert str(e.value).startswith(f"{path}: ")


def test_the_largest_rewards_allowed_give_finite_values(tmp_path):
    # rewards of 1e100 over an episode of 1e9 expected steps: values of 1e109, still finite
    from rlgen.mdp.files import MAX_REWARD

    (tmp_path / "m.json").write_text(
        json.dumps(
            {
                "states": 2,
                "actions": 2,
                "outcomes": [
                    [0, 0, 1.0, 1, MAX_REWARD],
                    [0, 1, 1 - 1e-9, 0, MAX_REWARD],
                    [0, 1, 1e-9, 1, MAX_REWARD],
                ],
                "terminal": [1],
                "gamma": 1.0,
            }
        )
    )
    mdp = read_mdp(tmp_path / "m.json")
    v = dp.policy_iteration(mdp).v
    assert v[0] == pytest.approx(1e9 * MAX_REWARD, rel=1e-5) and v[1] == 0.0


@pytest.mark.parametrize(
    "kind, message",
    [
        ("directory", "is a directory"),  # was an IsADirectoryError traceback
        ("deep", "nested too deeply"),  # was a RecursionError traceback
    ],
)
def test_a_path_that_is_no_json_file_is_an_error(tmp_path, kind, message):
    path = tmp_path / "m.json"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text('{"states": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(MDPError, match=message) as e:
        read_mdp(path)
    assert str(e.value).startswith(f"{path}: ")


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"states": 2, "states": 3, "actions": 1, "outcomes": []}')
    with pytest.raises(UserError, match="the key 'states' appears twice in one object"):
        read_mdp(path)


def test_a_file_too_large_to_read_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import rlgen.errors

    path = tmp_path / "m.json"
    write_mdp(examples.example("gridworld-3.5"), path)
    size = path.stat().st_size
    monkeypatch.setattr(rlgen.errors, "total_memory", lambda: 4 * size)  # 10x would not fit
    with pytest.raises(UserError, match=r"--file: reading .*m\.json would need"):
        read_mdp(path)
    monkeypatch.setattr(rlgen.errors, "total_memory", lambda: 100 * size)
    assert read_mdp(path).n_states == 25


def test_a_device_or_fifo_is_refused_not_read_without_end(tmp_path):
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(MDPError, match="not a regular file"):
            read_mdp(path)


def test_a_long_key_given_twice_is_named_shortened(tmp_path):
    path = tmp_path / "m.json"
    key = "k" * 10_000
    path.write_text(f'{{"{key}": 1, "{key}": 2}}')
    with pytest.raises(UserError, match=r"the key 'k{40}\.\.\.' appears twice") as e:
        read_mdp(path)
    assert len(str(e.value)) < 200 + len(str(path))
