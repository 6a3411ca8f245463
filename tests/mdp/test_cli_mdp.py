"""``rlgen mdp solve`` / ``rlgen mdp pg-check``: smoke runs, run directories, one-line errors;
the report section."""

from __future__ import annotations

import json

import pytest

from rlgen.cli import main
from rlgen.errors import UserError
from rlgen.mdp.solve import SolveConfig

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


@pytest.mark.slow
def test_reproduce_mdp_section_quick(tmp_path):
    from rlgen.reproduce import ReproduceConfig
    from rlgen.reproduce import run as reproduce

    summary = reproduce(ReproduceConfig(sections=("mdp",)), tmp_path / "rep", quiet=True)
    assert summary["errors"] == []
    assert summary["failed"] == []
    assert summary["claims"] >= 12
    claims = json.loads((tmp_path / "rep" / "claims.json").read_text())["claims"]
    ids = {c["id"] for c in claims}
    assert {
        "mdp.figure-3.2",
        "mdp.figure-3.5",
        "mdp.figure-4.1-limit",
        "mdp.vi-equals-pi",
        "mdp.pg-theorem-cosine",
        "mdp.baseline-variance",
    } <= ids
    assert all(c["how"] for c in claims)


@pytest.mark.parametrize("example", ["gridworld-3.5", "random"])
def test_backward_induction_solves_an_undiscounted_continuing_task(tmp_path, example):
    # The horizon makes every return a finite sum, so gamma = 1 is fine on a continuing task.
    out = tmp_path / "run"
    args = ["mdp", "solve", "--example", example, "--method", "backward-induction"]
    args += ["--gamma", "1", "--horizon", "3", "--terminals", "0", "--out", str(out), "--quiet"]
    assert main(args) == 0
    s = _summary(out)
    assert s["gamma"] == 1.0 and s["horizon"] == 3 and s["iterations"] == 3
    if example == "gridworld-3.5":  # from A: jump to A' (+10), then at best 0 and 0 (or B: +5)
        assert s["values_grid"][0][1] == pytest.approx(10.0)
