"""The command line: help, dispatch, user errors as one line with exit status 2."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from rlgen.cli import COMMANDS, main


def rlgen(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rlgen`` as a user would (no terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "rlgen", *args], capture_output=True, text=True, timeout=300
    )


def test_the_command_list_wraps_to_the_terminal():
    out = subprocess.run(
        [sys.executable, "-m", "rlgen", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "60"},
    ).stdout
    assert max(len(line) for line in out.splitlines()) <= 60
    for command in COMMANDS:  # each name still on a line of its own, first
        assert any(line.startswith(f"  {command.name} ") for line in out.splitlines())


def test_the_command_list_never_breaks_a_word_at_its_hyphen(monkeypatch):
    # 'Fashion-MNIST', 'CartPole-v1', 'ε-greedy', '--iwae-k' stay whole: a name or an option
    # split over two lines cannot be copied (Fashion- / MNIST at 55 to 62 columns before)
    from rlgen.cli import _overview

    for columns in range(40, 180):
        monkeypatch.setenv("COLUMNS", str(columns))
        for prefix in {c.path[:1] for c in COMMANDS if len(c.path) > 1} | {()}:
            for line in _overview(prefix).splitlines():
                assert not line.endswith("-"), (columns, prefix, line)


def test_help_lists_every_command():
    out = rlgen("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert command.name in out.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_documents_its_options_with_defaults(command):
    out = rlgen(*command.path, "--help")
    assert out.returncode == 0, out.stderr
    assert "(default:" in out.stdout
    if command.load().writes_run_dir:
        assert "--out" in out.stdout and "--quiet" in out.stdout


def test_unknown_command_is_one_line_error(capsys):
    assert main(["banditt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rlgen: error: unknown command 'banditt'")


@pytest.mark.parametrize(
    ("args", "start", "names"),
    [
        (("bandit", "--runz", "3"), "unrecognized arguments: --runz 3", "--runs"),
        (("reinforce", "--lr", "abc"), "--lr:", "'abc'"),
        (("reinforce", "--criterion", "best"), "--criterion: invalid choice", "greedy, sampled"),
        (("mdp", "solve", "--method", "x"), "--method: invalid choice", "value-iteration"),
    ],
)
def test_a_bad_command_line_is_exactly_one_line(args, start, names):
    """tyro's explanatory box is not printed: one line names the option and what was meant."""
    out = rlgen(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"rlgen: error: {start}") and names in lines[0]


def test_bad_value_type_names_the_option():
    out = rlgen("bandit", "--runs", "many")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("rlgen: error: --runs")


def test_version():
    out = rlgen("--version")
    assert out.returncode == 0 and out.stdout.startswith("rlgen ")


def test_bandit_smoke(tmp_path):
    out = rlgen("bandit", "--runs", "20", "--steps", "50", "--out", str(tmp_path / "b"))
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert [a["name"] for a in summary["agents"]] == [
        "eps-greedy(epsilon=0)",
        "eps-greedy(epsilon=0.01)",
        "eps-greedy(epsilon=0.1)",
    ]
    for name in ("config.json", "metrics.csv", "summary.json", "bandit.png"):
        assert (tmp_path / "b" / name).is_file()
    assert list((tmp_path / "b").glob("events.out.tfevents.*"))


def test_a_closed_pipe_is_not_a_traceback():
    """``rlgen reinforce --help | head -1``: the reader has left before rlgen writes."""
    code = (
        "import sys, time; time.sleep(1); from rlgen.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "reinforce", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # before the child writes anything
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode == 141


def test_a_failing_summary_printout_after_the_results_is_a_note(tmp_path, monkeypatch, capsys):
    import dataclasses

    from rlgen.bandits import command as bandit_command

    def broken(summary):
        raise KeyError("agents")

    monkeypatch.setattr(
        bandit_command, "COMMAND", dataclasses.replace(bandit_command.COMMAND, describe=broken)
    )
    out = tmp_path / "b"
    assert main(["bandit", "--runs", "5", "--steps", "5", "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "summary could not be printed" in err
    assert (out / "summary.json").is_file()


def test_resume_refuses_an_option_typed_at_its_default_value(tmp_path, capsys):
    from rlgen.generative.command import VAETrainConfig

    epochs = VAETrainConfig().loop.epochs  # the run may have been saved with other epochs
    for typed in (["--epochs", str(epochs)], [f"--epochs={epochs}"], ["--lr_schedule", "cosine"]):
        assert main(["vae", "--resume", str(tmp_path), *typed]) == 2
        err = capsys.readouterr().err
        assert f"leave out {option(typed)}" in err, err
    assert main(["vae", "beta-sweep", "--resume", str(tmp_path), "--betas", "0.1", "1", "10"]) == 2
    assert "leave out --betas" in capsys.readouterr().err  # a sweep's own options too
    assert main(["vae", "--resume", str(tmp_path), "--quiet"]) == 2  # not a config option
    assert "leave out" not in capsys.readouterr().err


def option(typed: list[str]) -> str:
    return typed[0].partition("=")[0].replace("_", "-")


def test_help_keeps_each_option_description_one_paragraph():
    """A field docstring over several source lines is one paragraph of --help: its lines break
    only where the next word would not fit (tyro alone turns each indented continuation line of
    the source into a hard break)."""
    for command in COMMANDS:
        out = subprocess.run(
            [sys.executable, "-m", "rlgen", *command.path, "--help"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "120"},  # one column of option groups
        ).stdout
        lines = out.splitlines()

        def column(line: str) -> int:  # where the text starts, after the boxes' borders
            return len(line) - len(line.lstrip(" │"))

        early = []
        for above, below in itertools.pairwise(lines):
            at = column(above)
            if at < 10 or column(below) != at or not below.strip(" │"):
                continue  # not two lines of one description
            text, word = above[at:].rstrip(" │"), below[at:].split()[0]
            room = len(above) - at - 2  # the box's width, less the border and its padding
            if len(text) + 1 + len(word) <= room:
                early.append((text, word))
        assert not early, (command.name, early[:3])


def test_help_keeps_paragraphs_and_bullet_lines_of_a_field_docstring(capsys, monkeypatch):
    """Continuation lines join into one paragraph (also those starting with a non-letter: a flag,
    a parenthesis, a digit); a blank line still separates paragraphs, and a line that starts a
    bullet ('- ', '* ') keeps its own line (it was joined into the line above it)."""
    import dataclasses

    import tyro

    from rlgen.cli import _dedent_field_docs

    @dataclasses.dataclass(frozen=True)
    class Toy:
        kind: str = "one"
        """the kind, one of
        - one: the first,
        * two: the second

        a second paragraph after a blank line"""
        steps: int = 2
        """steps per episode
        (475 on CartPole) capped by
        --max-steps and
        10 more words"""

    monkeypatch.setenv("COLUMNS", "200")
    _dedent_field_docs()
    with pytest.raises(SystemExit):
        tyro.cli(Toy, args=["--help"])
    lines = [line.strip(" │") for line in capsys.readouterr().out.splitlines()]
    text = [line.split("  ")[-1].strip() for line in lines]
    at = text.index("the kind, one of")
    assert text[at : at + 3] == ["the kind, one of", "- one: the first,", "* two: the second"]
    assert "a second paragraph after a blank line (default: one)" in text[at + 3 :]
    assert (
        "steps per episode (475 on CartPole) capped by --max-steps and 10 more words (default: 2)"
        in text
    )
