"""``rlgen mdp solve`` / ``rlgen mdp pg-check``: smoke runs, run directories redrawn from their
files, one-line errors for bad input (non-finite numbers, never-ending tasks, sizes beyond memory),
FrozenLake's 8x8 map."""

from __future__ import annotations

import json
import math
import typing
from dataclasses import fields

import numpy as np
import pytest

import rlgen.errors
from rlgen.cli import main
from rlgen.errors import UserError
from rlgen.mdp.command import PGCheckConfig, SolveConfig

SOLVE_KEYS = {
    "example",
    "name",
    "method",
    "gamma",
    "horizon",
    "states",
    "actions",
    "action_names",
    "terminal_states",
    "optimal",
    "iterations",
    "seconds",
    "values",
    "values_grid",
    "start_value",
    "greedy_actions",
    "states_with_ties",
    "q",
}


def _summary(path):
    return json.loads((path / "summary.json").read_text())


@pytest.mark.parametrize(
    ("example", "method"),
    [
        ("gridworld-3.5", "value-iteration"),
        ("gridworld-3.5", "evaluate-random"),
        ("gridworld-4.1", "policy-iteration"),
        ("frozenlake", "backward-induction"),
        ("cliffwalking", "value-iteration"),
        ("taxi", "policy-iteration"),
        ("random", "value-iteration"),
    ],
)
def test_solve_writes_the_run_directory(tmp_path, capsys, example, method):
    out = tmp_path / "run"
    args = ["mdp", "solve", "--example", example, "--method", method, "--out", str(out), "--quiet"]
    assert main([*args, "--q"]) == 0
    assert "rlgen mdp solve: results in" in capsys.readouterr().out
    for name in ("config.json", "metrics.csv", "summary.json", "values.png"):
        assert (out / name).is_file(), name
    s = _summary(out)
    assert set(s) >= SOLVE_KEYS
    assert len(s["values"]) == s["states"] and len(s["greedy_actions"]) == s["states"]
    assert len(s["q"]) == s["states"] and len(s["q"][0]) == s["actions"]
    assert s["optimal"] == (method != "evaluate-random")
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["example"] == example


def test_a_discount_just_below_one_is_printed_as_it_is(tmp_path, capsys):
    # "γ = 1" (format :g) for 0.999999999999999, where 1 and below 1 are different tasks
    out = tmp_path / "run"
    args = ["mdp", "solve", "--example", "gridworld-4.1", "--gamma", "0.999999999999999"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert "(γ = 0.999999999999999)" in capsys.readouterr().out
    assert main(["mdp", "solve", "--out", str(tmp_path / "book"), "--quiet"]) == 0
    assert "(γ = 0.9)" in capsys.readouterr().out


def test_solve_gridworld_3_5_summary_values(tmp_path):
    out = tmp_path / "run"
    assert main(["mdp", "solve", "--out", str(out), "--quiet"]) == 0
    s = _summary(out)
    assert s["values_grid"][0][1] == pytest.approx(24.419, abs=1e-3)  # v*(A), Figure 3.5
    assert sorted(s["greedy_actions"][1]) == ["down", "left", "right", "up"]  # A: all tie
    assert s["states_with_ties"] == 16
    assert (out / "sweeps.png").is_file()
    assert s["iterations"] == len((out / "metrics.csv").read_text().splitlines()) - 1


def test_pg_check_writes_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["mdp", "pg-check", "--episodes", "2000", "--states", "5", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert "cosine 1.0000000" in capsys.readouterr().out
    s = _summary(out)
    assert set(s["policies"]) == {"tabular", "neural"}
    for p in s["policies"].values():
        assert p["cosine"] == pytest.approx(1.0, abs=1e-9)
        assert p["ratio_relative_error"] < 1e-9
        assert p["baseline_change"] < 1e-12
        assert set(p["reinforce"]) == {"rel_error", "max_abs_z", "z_bound", "unbiased", "variance"}
    assert (out / "pg_check.png").is_file()
    assert "tabular/error" in (out / "metrics.csv").read_text().splitlines()[0]


def test_pg_check_with_too_few_episodes_still_prints_its_summary(tmp_path, capsys):
    # 4 episodes leave a state unvisited: its parameters never vary yet have a nonzero exact
    # gradient, so max |z| is infinite (null in summary.json) and the check fails
    out = tmp_path / "run"
    args = ["mdp", "pg-check", "--episodes", "4", "--policy", "neural", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "could not be printed" not in captured.err
    assert "max |z| inf" in captured.out
    reinforce = _summary(out)["policies"]["neural"]["reinforce"]
    assert reinforce["max_abs_z"] is None and reinforce["unbiased"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mdp", "solve", "--gamma", "1.5"], "rlgen: error: --gamma must be in [0, 1], got 1.5"),
        (["mdp", "solve", "--horizon", "0"], "rlgen: error: --horizon must be >= 1, got 0"),
        (
            ["mdp", "solve", "--example", "random", "--terminals", "0", "--gamma", "1"],
            "rlgen: error: --gamma 1 with --terminals 0",
        ),
        (
            ["mdp", "solve", "--example", "gridworld-4.1", "--gamma", "1", "--max-sweeps", "2"],
            "rlgen: error: value iteration did not converge",
        ),
        (["mdp", "solve", "--example", "mars"], "rlgen: error: --example: invalid choice 'mars'"),
        (
            ["mdp", "solve", "--method", "policy-iteration", "--gamma", "0.999999999999999"],
            "rlgen: error: gamma = 0.999999999999999 (1 - 9.99e-16) barely discounts",
        ),
        (["mdp", "pg-check", "--policy", "tree"], "rlgen: error: --policy: invalid choice"),
        (["mdp", "pg-check", "--episodes", "3"], "rlgen: error: --episodes must be >= 4, got 3"),
        (["mdp", "pg-check", "--terminals", "0"], "rlgen: error: --terminals must be in [1, 7]"),
    ],
)
def test_bad_input_is_one_error_line_with_status_2(tmp_path, capsys, args, message):
    status = None
    try:
        status = main([*args, "--out", str(tmp_path / "run"), "--quiet"])
    except SystemExit as e:  # parse errors leave through tyro with status 2
        status = e.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message), err[-1]
    assert "Traceback" not in "\n".join(err)


def test_config_validation_names_the_option():
    with pytest.raises(UserError, match="--end-prob must be in \\(0, 1\\]"):
        SolveConfig(end_prob=0.0)
    with pytest.raises(UserError, match="--method: unknown value 'guess'"):
        SolveConfig(method="guess")  # type: ignore[arg-type]


def test_mdp_group_help_lists_both_commands(capsys):
    assert main(["mdp", "--help"]) == 0
    out = capsys.readouterr().out
    assert "mdp solve" in out and "mdp pg-check" in out


@pytest.mark.parametrize("example", ["gridworld-3.5", "random"])
def test_backward_induction_solves_an_undiscounted_continuing_task(tmp_path, example):
    # The horizon makes every return a finite sum, so gamma = 1 is fine on a continuing task.
    out = tmp_path / "run"
    args = ["mdp", "solve", "--example", example, "--method", "backward-induction"]
    args += ["--gamma", "1", "--horizon", "3", "--out", str(out), "--quiet"]
    if example == "random":
        args += ["--terminals", "0"]  # continuing, as gridworld-3.5 is
    assert main(args) == 0
    s = _summary(out)
    assert s["gamma"] == 1.0 and s["horizon"] == 3 and s["iterations"] == 3
    if example == "gridworld-3.5":  # from A: jump to A' (+10), then at best 0 and 0 (or B: +5)
        assert s["values_grid"][0][1] == pytest.approx(10.0)


def _fails(tmp_path, capsys, args):
    """Run ``rlgen <args>``; return its last stderr line after checking the one-line contract."""
    out = tmp_path / "run"
    try:
        status = main([*args, "--out", str(out), "--quiet"])
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert not out.exists()  # nothing half-made left behind
    return err.strip().splitlines()[-1]


# ---- every numeric option is finite and in range -------------------------------------------


def _numeric_fields(cls):
    hints = typing.get_type_hints(cls)
    return [
        f.name
        for f in fields(cls)
        if hints[f.name] in (int, float, float | None, int | None) and f.name != "q"
    ]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize(
    ("cls", "field"),
    [(SolveConfig, f) for f in _numeric_fields(SolveConfig)]
    + [(PGCheckConfig, f) for f in _numeric_fields(PGCheckConfig)],
)
def test_every_numeric_option_refuses_non_finite_values(cls, field, value):
    # e.g. an infinite --tol made value iteration stop after one sweep and report its values as
    # optimal; a config loaded from config.json can hold any number, even for an int field
    # (an int field names the whole number it needs: --horizon must be a whole number, got inf)
    option = f"--{field.replace('_', '-')}"
    with pytest.raises(UserError, match=f"{option} must be a (finite|whole) number"):
        cls(**{field: value})


def test_the_numeric_fields_are_the_ones_expected():
    # the parametrisation above covers every number a user can give
    assert set(_numeric_fields(SolveConfig)) == {
        "gamma", "horizon", "tol", "max_sweeps", "states", "actions", "successors",
        "terminals", "end_prob", "seed",
    }  # fmt: skip
    assert set(_numeric_fields(PGCheckConfig)) == {
        "states", "actions", "successors", "terminals", "end_prob", "reward_mean", "gamma",
        "hidden", "scale", "episodes", "max_steps", "seed",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mdp", "solve", "--tol", "inf"], "--tol must be a finite number, got inf"),
        (["mdp", "solve", "--end-prob", "nan"], "--end-prob must be a finite number, got nan"),
        (["mdp", "pg-check", "--scale", "inf"], "--scale must be a finite number, got inf"),
        (["mdp", "pg-check", "--scale", "1e300"], "--scale must be in (0, 10], got 1e+300"),
        (["mdp", "pg-check", "--end-prob", "inf"], "--end-prob must be a finite number"),
        (["mdp", "pg-check", "--reward-mean", "inf"], "--reward-mean must be a finite number"),
        (["mdp", "pg-check", "--reward-mean", "1e308"], "--reward-mean must be in [-1e+06, 1e+06]"),
        (["mdp", "pg-check", "--actions", "1"], "--actions must be >= 2, got 1"),
        (
            ["mdp", "solve", "--example", "random", "--seed", "-1"],
            "--seed must be in [0, 9223372036854775807], got -1",
        ),
        (["mdp", "pg-check", "--seed", "-3"], "--seed must be in [0, 9223372036854775807], got -3"),
        (["mdp", "pg-check", "--seed", str(2**64)], "--seed must be in [0, 9223372036854775807]"),
    ],
)
def test_bad_numbers_name_their_option(tmp_path, capsys, args, message):
    assert _fails(tmp_path, capsys, args).startswith(f"rlgen: error: {message}")


# ---- tasks that practically never end --------------------------------------------------------


@pytest.mark.parametrize("method", ["value-iteration", "policy-iteration", "evaluate-random"])
def test_a_random_mdp_that_practically_never_ends_is_refused(tmp_path, capsys, method):
    # end probability 1e-17: 1 - 1e-17 rounds to 1, so with gamma = 1 the linear system is
    # singular; policy iteration and evaluation used to report values of about 1e14 as exact
    args = ["mdp", "solve", "--example", "random", "--end-prob", "1e-17", "--method", method]
    line = _fails(tmp_path, capsys, args)
    assert line.startswith("rlgen: error: --end-prob 1e-17 with gamma = 1: episodes would last")
    assert "practically never terminates" in line


def test_pg_check_refuses_a_random_mdp_that_practically_never_ends(tmp_path, capsys):
    # used to end in torch's "the input matrix is singular" traceback
    line = _fails(tmp_path, capsys, ["mdp", "pg-check", "--end-prob", "1e-17"])
    assert line.startswith("rlgen: error: --end-prob 1e-17 with gamma = 1")


@pytest.mark.parametrize(
    "extra",
    [["--gamma", "0.9"], ["--method", "backward-induction"], ["--end-prob", "2e-10", "--q"]],
)
def test_rare_endings_are_fine_where_the_values_exist(tmp_path, extra):
    args = ["mdp", "solve", "--example", "random", "--end-prob", "1e-17", *extra]
    if "2e-10" in extra:  # the smallest accepted: episodes of at most 1e10 steps
        args = ["mdp", "solve", "--example", "random", *extra, "--method", "evaluate-random"]
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    values = np.array(_summary(tmp_path / "run")["values"])
    assert np.isfinite(values).all()


# ---- sizes beyond memory ---------------------------------------------------------------------


@pytest.fixture
def eight_gb(monkeypatch):
    """A machine with 8 GB of memory, so the refusals do not depend on the test machine."""
    monkeypatch.setattr(rlgen.errors, "total_memory", lambda: 8 * 10**9)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["mdp", "solve", "--example", "random", "--states", "100000000000"], "--states"),
        (["mdp", "solve", "--example", "random", "--states", "100", "--actions", "10000000"],
         "--actions"),
        (["mdp", "solve", "--example", "random", "--successors", "1000000000"], "--successors"),
        (["mdp", "solve", "--example", "random", "--states", "100000", "--method",
          "evaluate-random"], "--states"),
        (["mdp", "solve", "--method", "backward-induction", "--horizon", "1000000000"],
         "--horizon"),
        (["mdp", "pg-check", "--states", "100000"], "--states"),
        (["mdp", "pg-check", "--hidden", "1000000000"], "--hidden"),
        (["mdp", "pg-check", "--episodes", "1000000000"], "--episodes"),
    ],
)  # fmt: skip
def test_sizes_beyond_memory_are_refused_with_the_memory_needed(
    tmp_path, capsys, eight_gb, args, option
):
    # these used to fail inside NumPy ("Unable to allocate 2.18 TiB") or torch, with a traceback
    line = _fails(tmp_path, capsys, args)
    assert line.startswith(f"rlgen: error: {option}: ")
    assert "would need about" in line and "of memory; this machine has 8.0 GB" in line


def test_default_and_report_sizes_fit_in_a_small_machine(monkeypatch):
    monkeypatch.setattr(rlgen.errors, "total_memory", lambda: 10**9)  # 1 GB
    for method in ("evaluate-random", "value-iteration", "policy-iteration", "backward-induction"):
        for example in ("gridworld-3.5", "taxi", "random"):
            SolveConfig(example=example, method=method, q=True)  # type: ignore[arg-type]
    for example in ("random", "gridworld-4.1", "gridworld-3.5"):
        PGCheckConfig(example=example, states=10)  # type: ignore[arg-type]
    # the full report samples 100,000 episodes per check (measured peak: 0.77 GB)
    monkeypatch.setattr(rlgen.errors, "total_memory", lambda: 4 * 10**9)
    PGCheckConfig(states=10, episodes=100_000)


def test_memory_estimate_grows_with_each_size():
    base = SolveConfig(example="random", method="backward-induction").memory_bytes()
    for change in ({"states": 40}, {"actions": 6}, {"successors": 6}, {"horizon": 20}):
        bigger = SolveConfig(example="random", method="backward-induction", **change)
        assert bigger.memory_bytes() > base, change


def test_sampling_beyond_memory_is_refused_once_the_episode_length_is_known(monkeypatch):
    from rlgen.mdp.examples import random_mdp
    from rlgen.mdp.policy_gradient import check_theorem

    monkeypatch.setattr(rlgen.errors, "total_memory", lambda: 10**6)  # 1 MB
    m = random_mdp(5, 2, 2, np.random.default_rng(0), end_prob=0.01)  # episodes ~100 steps
    with pytest.raises(UserError, match="--episodes: sampling 2,000 episodes of about"):
        check_theorem(m, "tabular", seed=0, episodes=2000)
    check_theorem(m, "tabular", seed=0)  # the exact part alone still runs


# ---- figures from the run directory alone ----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["mdp", "solve"],
        ["mdp", "solve", "--example", "taxi", "--method", "policy-iteration"],
        ["mdp", "solve", "--method", "evaluate-random"],
        ["mdp", "pg-check", "--episodes", "500", "--states", "5"],
    ],
)
def test_plot_redraws_every_figure_from_the_run_directory(tmp_path, args):
    from rlgen.mdp.command import plot

    out = tmp_path / "run"
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    figures = sorted(out.glob("*.png"))
    assert figures
    drawn = {f.name: f.read_bytes() for f in figures}
    for f in figures:
        f.unlink()
    plot(out)
    # the same pictures, byte for byte: nothing came from the run's memory
    assert {f.name: f.read_bytes() for f in sorted(out.glob("*.png"))} == drawn


def test_pg_check_summary_holds_both_sides_of_the_theorem(tmp_path):
    out = tmp_path / "run"
    assert main(["mdp", "pg-check", "--episodes", "0", "--out", str(out), "--quiet"]) == 0
    for kind, p in _summary(out)["policies"].items():
        grad, rhs = np.array(p["grad"]), np.array(p["rhs"])
        assert grad.size == p["parameters"] == rhs.size, kind
        np.testing.assert_allclose(grad, p["expected_length"] * rhs, rtol=1e-9, atol=1e-12)


def test_plot_refuses_another_commands_directory(tmp_path):
    from rlgen.mdp.command import plot

    (tmp_path / "config.json").write_text(json.dumps({"command": "bandit"}))
    with pytest.raises(UserError, match="not an 'mdp solve' or 'mdp pg-check' run directory"):
        plot(tmp_path)


# ---- FrozenLake's 8x8 map --------------------------------------------------------------------


def test_frozenlake_8x8_matches_gymnasiums_table(tmp_path):
    import gymnasium

    out = tmp_path / "run"
    args = ["mdp", "solve", "--example", "frozenlake", "--map", "8x8", "--q"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    s = _summary(out)
    assert s["name"] == "frozenlake-8x8" and s["states"] == 64
    assert len(s["values_grid"]) == 8 and len(s["values_grid"][0]) == 8

    env = gymnasium.make("FrozenLake-v1", map_name="8x8").unwrapped
    P, desc = env.P, env.desc.ravel()
    terminal = np.isin(desc, [b"H", b"G"])
    assert s["terminal_states"] == np.flatnonzero(terminal).tolist()
    mdp = SolveConfig(example="frozenlake", map="8x8").build()
    ours = mdp.gym_P()
    for state in np.flatnonzero(~terminal):
        for action in range(4):
            theirs = [(float(p), int(s2), float(r), bool(t)) for p, s2, r, t in P[state][action]]
            assert ours[state][action] == theirs, (state, action)

    # v* by the book's loop over gymnasium's own table (terminal states worth 0)
    v = np.zeros(64)
    for _ in range(2000):
        v = np.array(
            [
                0.0
                if terminal[state]
                else max(
                    sum(p * (r + 0.9 * (0.0 if t else v[s2])) for p, s2, r, t in P[state][a])
                    for a in range(4)
                )
                for state in range(64)
            ]
        )
    np.testing.assert_allclose(s["values"], v, atol=1e-10)


def test_frozenlake_4x4_is_unchanged_by_the_map_option(tmp_path):
    a = SolveConfig(example="frozenlake").build()
    b = SolveConfig(example="frozenlake", map="4x4").build()
    assert a.name == b.name == "frozenlake" and a.n_states == b.n_states == 16
    np.testing.assert_array_equal(a.prob, b.prob)
    np.testing.assert_array_equal(a.next_state, b.next_state)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["mdp", "solve", "--example", "taxi", "--map", "8x8"],
            "rlgen: error: --map chooses FrozenLake's map: it needs --example frozenlake, not taxi",
        ),
        (["mdp", "solve", "--map", "4x4"], "rlgen: error: --map chooses FrozenLake's map"),
        (["mdp", "solve", "--example", "frozenlake", "--map", "5x5"], "rlgen: error: --map"),
    ],
)
def test_map_is_frozenlakes_only(tmp_path, capsys, args, message):
    assert _fails(tmp_path, capsys, args).startswith(message)


# ---- options the chosen method ignores ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mdp", "solve", "--horizon", "5"],
         "--horizon is for --method backward-induction only: --method value-iteration would "
         "ignore it; leave it out"),
        (["mdp", "solve", "--horizon", "10"], "--horizon is for"),  # typed at its default
        (["mdp", "solve", "--method", "policy-iteration", "--tol", "1e-6"],
         "--tol is for --method value-iteration only: --method policy-iteration"),
        (["mdp", "solve", "--method", "backward-induction", "--tol=1e-12"], "--tol is for"),
        (["mdp", "solve", "--method", "evaluate-random", "--max-sweeps", "10"],
         "--max-sweeps is for --method value-iteration or policy-iteration: --method "
         "evaluate-random"),
        (["mdp", "solve", "--method", "backward-induction", "--max_sweeps", "100000"],
         "--max-sweeps is for"),
        (["mdp", "pg-check", "--policy", "tabular", "--hidden", "16"],
         "--hidden sizes the neural policy: --policy tabular would ignore it"),
        (["mdp", "pg-check", "--episodes", "0", "--max-steps", "1000"],
         "--max-steps truncates REINFORCE's sampled episodes: --episodes 0 samples none"),
        (["mdp", "solve", "--states", "50"],
         "--states is for --example random only: --example gridworld-3.5 would ignore it"),
        (["mdp", "solve", "--example", "taxi", "--seed", "0"], "--seed is for --example random"),
        (["mdp", "solve", "--example", "frozenlake", "--end-prob", "0.5"], "--end-prob is for"),
        (["mdp", "pg-check", "--example", "gridworld-4.1", "--gamma", "1"],
         "--gamma is for --example random only: --example gridworld-4.1"),
        (["mdp", "pg-check", "--example", "gridworld-3.5", "--reward-mean", "0"],
         "--reward-mean is for"),
    ],
)  # fmt: skip
def test_an_option_the_method_ignores_is_refused(tmp_path, capsys, args, message):
    # --horizon beside value iteration used to be dropped silently
    assert _fails(tmp_path, capsys, args).startswith(f"rlgen: error: {message}")


@pytest.mark.parametrize(
    "args",
    [
        ["mdp", "solve", "--method", "backward-induction", "--horizon", "10"],
        ["mdp", "solve", "--tol", "1e-10", "--max-sweeps", "1000"],
        ["mdp", "solve", "--method", "policy-iteration", "--max-sweeps", "50"],
        ["mdp", "pg-check", "--policy", "neural", "--hidden", "4", "--episodes", "0"],
        ["mdp", "pg-check", "--episodes", "4", "--max-steps", "50", "--policy", "tabular"],
        ["mdp", "solve", "--example", "random", "--states", "5", "--seed", "1", "--terminals", "2"],
        ["mdp", "pg-check", "--example", "gridworld-4.1", "--seed", "3", "--episodes", "0"],
    ],
)
def test_an_option_the_method_uses_is_accepted(tmp_path, args):
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 0


def test_from_python_an_ignored_option_is_refused_only_away_from_its_default(tmp_path):
    from rlgen.mdp.command import run_pg_check, run_solve

    with pytest.raises(UserError, match="--horizon is for --method backward-induction only"):
        run_solve(SolveConfig(horizon=5), tmp_path / "a", quiet=True)
    with pytest.raises(UserError, match="--hidden sizes the neural policy"):
        run_pg_check(PGCheckConfig(policy=("tabular",), hidden=8), tmp_path / "b", quiet=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # at their defaults the options say nothing: a config built in Python spells every field
    config = SolveConfig(method="evaluate-random", horizon=10, tol=1e-12, max_sweeps=100_000)
    assert run_solve(config, tmp_path / "c", quiet=True)["horizon"] is None


@pytest.mark.parametrize("method", ["value-iteration", "evaluate-random", "backward-induction"])
def test_solve_an_mdp_from_a_file_as_the_example_it_was_written_from(tmp_path, method):
    from rlgen.mdp.examples import example
    from rlgen.mdp.files import write_mdp

    write_mdp(example("gridworld-4.1"), tmp_path / "mine.json")
    ran = {}
    for name, args in (
        ("example", ["--example", "gridworld-4.1"]),
        ("file", ["--example", "file", "--file", str(tmp_path / "mine.json")]),
    ):
        out = tmp_path / name
        assert main(["mdp", "solve", *args, "--method", method, "--out", str(out), "--quiet"]) == 0
        ran[name] = _summary(out)
    for key in ("values", "values_grid", "greedy_actions", "gamma", "terminal_states"):
        assert ran["file"][key] == ran["example"][key], key
    assert ran["file"]["example"] == "file"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--example", "file"], "--example file needs --file PATH"),
        (["--file", "x.json"], "--file is for --example file only"),
        (["--example", "file", "--file", "missing.json"], "missing.json: no such file"),
        (["--example", "file", "--file", "bad.json"], "bad.json: unknown key(s) 'terminals'"),
        (["--example", "file", "--file", "nogamma.json"], 'no discount: give "gamma"'),
        # each of these was a traceback: IsADirectoryError, RecursionError, OverflowError
        (["--example", "file", "--file", "adir"], "adir: is a directory"),
        (["--example", "file", "--file", "deep.json"], "nested too deeply"),
        (["--example", "file", "--file", "huge.json"], "an integer beyond float64"),
        # rewards of 1e308: inf and nan values with RuntimeWarnings, or "did not converge"
        (["--example", "file", "--file", "overflow.json"], "is beyond +-1e+100"),
        # a file's horizon beside a stationary method: the message named Python functions
        (
            ["--example", "file", "--file", "horizon.json"],
            'truncated after "horizon" 3 steps, so its values depend on the steps left: solve '
            "it with --method backward-induction",
        ),
    ],
)
def test_a_bad_mdp_file_is_one_error_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    chain = {"states": 2, "actions": 1, "outcomes": [[0, 0, 1.0, 1, -1.0]], "terminal": [1]}
    (tmp_path / "bad.json").write_text(json.dumps({**chain, "gamma": 1, "terminals": [1]}))
    (tmp_path / "nogamma.json").write_text(json.dumps(chain))
    (tmp_path / "adir").mkdir()
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "huge.json").write_text(json.dumps({**chain, "gamma": 10**400}))
    overflow = {**chain, "outcomes": [[0, 0, 1.0, 1, 1e308]], "gamma": 1}
    (tmp_path / "overflow.json").write_text(json.dumps(overflow))
    (tmp_path / "horizon.json").write_text(json.dumps({**chain, "gamma": 1, "horizon": 3}))
    assert main(["mdp", "solve", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_backward_induction_takes_a_files_horizon_unless_horizon_is_given(tmp_path):
    # a 1-state continuing task, reward 1 a step, gamma = 1: v = H. The file's "horizon" 3 was
    # replaced by --horizon's default 10 in silence.
    mine = tmp_path / "mine.json"
    loop = {"states": 1, "actions": 1, "outcomes": [[0, 0, 1.0, 0, 1.0]], "gamma": 1}
    for horizon, args, expected in (
        (3, [], 3),
        (3, ["--horizon", "10"], 10),  # typed at its default: it replaces the file's
        (3, ["--horizon", "5"], 5),
        (None, [], 10),  # no horizon in the file: --horizon's default
    ):
        mine.write_text(json.dumps({**loop, "horizon": horizon}))
        out = tmp_path / f"run-{horizon}-{len(args)}-{expected}"
        args = ["--example", "file", "--file", str(mine), "--method", "backward-induction", *args]
        assert main(["mdp", "solve", *args, "--out", str(out), "--quiet"]) == 0
        s = _summary(out)
        assert (s["horizon"], s["iterations"], s["values"]) == (expected, expected, [expected])


def test_pg_check_on_a_file_is_the_check_on_the_example_it_was_written_from(tmp_path):
    from rlgen.mdp.examples import example
    from rlgen.mdp.files import write_mdp

    write_mdp(example("gridworld-4.1"), tmp_path / "g.json")
    ran = {}
    for name, args in (
        ("example", ["--example", "gridworld-4.1"]),
        ("file", ["--example", "file", "--file", str(tmp_path / "g.json")]),
    ):
        out = tmp_path / name
        argv = ["mdp", "pg-check", *args, "--episodes", "200", "--out", str(out), "--quiet"]
        assert main(argv) == 0
        ran[name] = _summary(out)["policies"]
    for kind in ("tabular", "neural"):
        for key in ("J", "grad", "rhs", "cosine", "expected_length"):
            assert ran["file"][kind][key] == ran["example"][kind][key], (kind, key)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"horizon": 5}, '"horizon" 5: pg-check checks the theorem on the untruncated task'),
        ({"actions": 1}, "one action: a policy over it has nothing to choose"),
        ({"gamma": None}, 'no discount: give "gamma" in the file'),
    ],
)
def test_pg_check_refuses_a_file_it_cannot_check(tmp_path, capsys, changes, message):
    chain = {"states": 2, "actions": 2, "terminal": [1], "gamma": 1}
    chain["outcomes"] = [[0, a, 1.0, 1, -1.0] for a in range(changes.get("actions", 2))]
    (tmp_path / "m.json").write_text(json.dumps({**chain, **changes}))
    argv = ["mdp", "pg-check", "--example", "file", "--file", str(tmp_path / "m.json")]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert "--gamma" not in err[0]  # pg-check has no --gamma for a file


def test_a_files_horizon_beyond_memory_names_the_file_not_horizon(tmp_path, capsys):
    chain = {"states": 2, "actions": 1, "outcomes": [[0, 0, 1.0, 1, -1.0]], "terminal": [1]}
    (tmp_path / "m.json").write_text(json.dumps({**chain, "gamma": 1, "horizon": 10**12}))
    argv = ["mdp", "solve", "--example", "file", "--file", str(tmp_path / "m.json")]
    argv += ["--method", "backward-induction", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("rlgen: error: --file: backward-induction on 2")
    assert main([*argv, "--horizon", str(10**12)]) == 2  # typed: then it is --horizon's
    assert capsys.readouterr().err.startswith("rlgen: error: --horizon: backward-induction")
    # --horizon typed at its default value replaces the file's too, in the memory check as well
    assert main([*argv, "--horizon", "10", "--overwrite"]) == 0
    assert _summary(tmp_path / "run")["horizon"] == 10
