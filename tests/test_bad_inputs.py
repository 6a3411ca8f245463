"""Hostile and mistaken command lines: each ends cleanly, as the README promises.

Cleanly means: exit status 2, exactly one line on stderr (``rlgen: error: ...`` naming what is
wrong), no traceback, and nothing left behind (no half-made run directory). The commands run
in-process through ``rlgen.cli.main`` (a subprocess per case would cost seconds each); any
exception that escapes ``main`` is a traceback a user would have seen, and fails the test.
"""

from __future__ import annotations

import pytest

from rlgen.checkpoints import save_checkpoint
from rlgen.cli import main

OUT = "out/run"  # every case that writes would write here, relative to a fresh directory

CASES: list[tuple[str, list[str], str]] = [
    # (id, argv, a piece of the one error line)
    ("unknown-command", ["banditt"], "unknown command"),
    ("unknown-flag", ["bandit", "--runz", "3"], "--runs"),
    ("not-a-number", ["reinforce", "--lr", "fast"], "--lr"),
    ("bad-choice", ["reinforce", "--criterion", "best"], "--criterion"),
    ("lr-inf", ["reinforce", "--lr", "inf"], "--lr must be a finite number"),
    ("lr-nan", ["reinforce", "--lr", "nan"], "--lr must be a finite number"),
    ("lr-huge", ["reinforce", "--lr", "1e300"], "--lr must be in (0, 1], got 1e+300"),
    ("lr-value-huge", ["reinforce", "--baseline", "--lr-value", "1e39"], "--lr-value must be in"),
    ("ent-coef-inf", ["reinforce", "--ent-coef", "inf"], "--ent-coef must be a finite number"),
    ("threshold-nan", ["reinforce", "--threshold", "nan"], "--threshold must be a finite"),
    ("negative-seed", ["reinforce", "--seed", "-3"], "--seed must be in [0, "),
    ("negative-seeds", ["reinforce", "--seeds", "-3"], "--seeds"),
    ("billion-seeds", ["reinforce", "--seeds", "0-1000000000"], "--seeds"),
    ("huge-hidden", ["reinforce", "--hidden", "100000000"], "--hidden"),
    ("huge-num-envs", ["reinforce", "--num-envs", "10000000000"], "--num-envs"),
    ("huge-eval", ["reinforce", "--eval-episodes", "1000000000"], "--eval-episodes"),
    ("gamma-above-one", ["reinforce", "--gamma", "1.5"], "--gamma must be in [0, 1]"),
    ("continuous-env", ["reinforce", "--env", "Pendulum-v1"], "--env Pendulum-v1"),
    ("unknown-env", ["reinforce", "--env", "NoSuchEnv-v0"], "--env NoSuchEnv-v0"),
    ("resume-missing", ["reinforce", "--resume", "nowhere"], "not a run directory"),
    ("resume-a-file", ["reinforce", "--resume", "file.txt"], "not a run directory"),
    ("resume-damaged", ["reinforce", "--resume", "damaged"], "config.json"),
    ("resume-not-utf8", ["reinforce", "--resume", "binary"], "config.json: not valid JSON"),
    ("resume-no-checkpoint", ["reinforce", "--resume", "nockpt"], "no checkpoint.pt"),
    (
        "resume-with-seeds",
        ["reinforce", "--resume", "nockpt", "--seeds", "0-2"],
        "leave out --seeds",
    ),
    ("resume-other-command", ["reinforce", "--resume", "other"], "not a 'reinforce' run"),
    # a hand-edited config.json with values of the wrong type: one line naming the field
    ("resume-fraction-steps", ["reinforce", "--resume", "fraction"], "total_steps"),
    ("resume-hidden-strings", ["reinforce", "--resume", "strings"], "agent.hidden[0]"),
    ("resume-gamma-string", ["reinforce", "--resume", "gammastr"], "agent.gamma"),
    ("resume-workers-fraction", ["reinforce", "--resume", "workers"], "jobs.workers"),
    ("resume-vae-fraction-epochs", ["vae", "--resume", "epochs"], "loop.epochs"),
    ("out-empty", ["reinforce", "--total-steps", "10", "--out", ""], "--out"),
    ("out-below-a-file", ["reinforce", "--out", "file.txt/run"], "--out"),
    ("out-in-proc", ["reinforce", "--out", "/proc/rlgen-run"], "--out"),
    ("out-not-empty", ["reinforce", "--out", "other"], "not empty"),
    ("evaluate-nothing", ["reinforce", "evaluate", "nowhere"], "no checkpoint.pt"),
    ("evaluate-gif-png", ["reinforce", "evaluate", "nowhere", "--gif", "a.png"], ".gif"),
    ("evaluate-gif-dir", ["reinforce", "evaluate", "nowhere", "--gif", "out.gif"], "directory"),
    ("evaluate-foreign", ["reinforce", "evaluate", "foreign"], "cannot read the checkpoint"),
    ("evaluate-no-model", ["reinforce", "evaluate", "nomodel"], "holds no model"),
    ("reproduce-section", ["reproduce", "--sections", "nope"], "--sections"),
    # seeds beyond 64 bits: torch's generators took them with an OverflowError traceback
    ("reinforce-seed-2-64", ["reinforce", "--seed", str(2**64)], "--seed must be in [0, "),
    ("reinforce-seeds-2-64", ["reinforce", "--seeds", f"0,{2**64}"], "--seeds"),
    ("evaluate-seed-2-64", ["reinforce", "evaluate", "nowhere", "--seed", str(2**64)], "--seed"),
    ("vae-seed-2-64", ["vae", "--seed", str(2**64)], "--seed must be in [0, "),
    ("ae-seed-2-64", ["ae", "--seed", str(2**64)], "--seed must be in [0, "),
    ("vae-evaluate-seed-2-64", ["vae", "evaluate", "nowhere", "--seed", str(2**64)], "--seed"),
    ("nas-seed-2-64", ["nas", "search", "--seed", str(2**64)], "--seed must be in [0, "),
    ("train-best-seed-2-64", ["nas", "train-best", "nowhere", "--seed", str(2**64)], "--seed"),
    ("reproduce-seed-negative", ["reproduce", "--seed", "-1"], "--seed must be in [0, "),
    ("reproduce-seed-huge", ["reproduce", "--seed", str(2**63)], "--seed must be in [0, "),
    # the bandit testbed
    ("bandit-inline-inf", ["bandit", "--agent", "greedy:initial=inf"], "finite"),
    ("bandit-ucb-c-inf", ["bandit", "--agent", "ucb:c=inf"], "finite"),
    ("bandit-walk-inf", ["bandit", "--nonstationary", "--walk-std", "inf"], "--walk-std"),
    ("bandit-epsilon", ["bandit", "--epsilon", "1.5"], "--epsilon"),
    ("bandit-unknown-agent", ["bandit", "--agent", "softmax"], "--agent"),
    ("bandit-unknown-key", ["bandit", "--agent", "ucb:epsilon=0.1"], "--agent"),
    ("bandit-huge-runs", ["bandit", "--runs", "100000000000"], "--runs"),
    ("bandit-negative-seed", ["bandit", "--seed", "-1"], "--seed"),
    ("bandit-huge-int", ["bandit", "--runs", "1" + "0" * 400], "--runs"),
    # finite MDPs
    ("mdp-tol-inf", ["mdp", "solve", "--tol", "inf"], "--tol"),
    ("mdp-tol-huge", ["mdp", "solve", "--tol", "1e300"], "--tol"),
    (
        "mdp-end-prob",
        ["mdp", "solve", "--example", "random", "--end-prob", "1e-17", "--gamma", "1"],
        "--end-prob",
    ),
    ("mdp-map-elsewhere", ["mdp", "solve", "--example", "taxi", "--map", "8x8"], "--map"),
    (
        "mdp-huge-states",
        ["mdp", "solve", "--example", "random", "--states", "10000000000"],
        "--states",
    ),
    ("mdp-scale-inf", ["mdp", "pg-check", "--scale", "inf"], "--scale"),
    ("mdp-negative-seed", ["mdp", "pg-check", "--seed", "-1"], "--seed"),
    ("mdp-horizon-ignored", ["mdp", "solve", "--horizon", "5"], "--horizon is for --method"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh directory with the files some cases point at."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("not a directory\n")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "config.json").write_text("{not json")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "config.json").write_bytes(b"\x80\xdd\xff not text")
    (tmp_path / "nockpt").mkdir()
    (tmp_path / "nockpt" / "config.json").write_text(
        '{"command": "reinforce", "config": {"seed": 0}}'
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"command": "bandit", "config": {}}')
    for name, config in {
        "fraction": '{"total_steps": 2.5}',
        "strings": '{"agent": {"hidden": ["64", "64"]}}',
        "gammastr": '{"agent": {"gamma": "0.9"}}',
        "workers": '{"jobs": {"workers": 1.5}}',
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(
            f'{{"command": "reinforce", "config": {config}}}'
        )
    (tmp_path / "epochs").mkdir()
    (tmp_path / "epochs" / "config.json").write_text(
        '{"command": "vae", "config": {"loop": {"epochs": 2.5}}}'
    )
    (tmp_path / "out.gif").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "checkpoint.pt").write_bytes(b"\x80\x04not a checkpoint")
    (tmp_path / "nomodel").mkdir()  # a reinforce run checkpoint without its model part
    save_checkpoint(
        tmp_path / "nomodel" / "checkpoint.pt",
        {"format": "rlgen.reinforce-run/1", "parts": {}, "extra": {}},
    )
    return tmp_path


def snapshot(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("argv", "piece"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_ends_cleanly(workdir, capsys, argv, piece):
    before = snapshot(workdir)
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("rlgen: error: "), err
    assert piece in err[0], err[0]
    assert snapshot(workdir) == before, "a failed command left files behind"
